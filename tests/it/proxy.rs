//! A fault-injecting HTTP proxy between git-publish and moto, for failures a server can't be made to produce:
//! 500/503/SlowDown answers, connection resets, delays, failures *after* the server applied a request
//! (ambiguous outcomes), CloudFront throttling, and a SIGKILL of the client at an exact request.
//!
//! One connection per request (`Connection: close` both ways), so requests are easy to frame and attribute.
//! Every request gets two ticks of one clock shared by all proxies: when it arrived, and when its answer was
//! about to be written back. A request sent because of an answer arrives after that answer's tick, so the log
//! pins the order at the store (see `order.rs`).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 500 InternalError without forwarding.
    Internal,
    /// 503 SlowDown without forwarding.
    SlowDown,
    /// Close the connection with a TCP reset without forwarding.
    Reset,
    /// Forward (the server applies it), then answer 500: the client can't know it worked.
    InternalAfter,
    /// Forward, then reset.
    ResetAfter,
    /// Wait 1.5 s, then forward.
    Delay,
}

pub const ALL_FAULTS: [Fault; 6] = [
    Fault::Internal,
    Fault::SlowDown,
    Fault::Reset,
    Fault::InternalAfter,
    Fault::ResetAfter,
    Fault::Delay,
];

/// A stand-in answer: the request → the whole HTTP response, or `None` to forward.
pub type Answer = fn(&Asked) -> Option<Vec<u8>>;

/// Which requests a targeted setting applies to.
pub type Matches = fn(&Asked) -> bool;

/// A fault for the first `times` requests that match `when` (counted across the proxy's connections).
#[derive(Debug, Clone, Copy)]
pub struct Targeted {
    pub when: Matches,
    pub fault: Fault,
    pub times: usize,
}

/// The clock of [`Logged::arrived`] and [`Logged::answered`], shared by every proxy of the process.
static TICK: AtomicU64 = AtomicU64::new(1);

fn tick() -> u64 {
    TICK.fetch_add(1, Ordering::SeqCst)
}

/// A request as a stand-in [`Answer`] sees it.
pub struct Asked<'a> {
    pub method: &'a str,
    /// With the query string.
    pub path: &'a str,
    /// The request line and headers, as sent.
    pub head: &'a str,
    pub body: &'a [u8],
}

impl Asked<'_> {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Added to every request before forwarding.
    pub delay: Duration,
    /// Probability (0..=1) that a request gets one of `faults`.
    pub fault_rate: f64,
    pub faults: Vec<Fault>,
    pub seed: u64,
    /// The first N CreateInvalidation requests get `TooManyInvalidationsInProgress`.
    pub throttle_invalidations: usize,
    /// SIGKILL `victim` at request number N (1-based); `true` = after the server applied it.
    pub kill_at: Option<(usize, bool)>,
    /// SIGKILL `victim` at the first request that matches; `true` = after the server applied it.
    pub kill_on: Option<(Matches, bool)>,
    /// SIGKILL `victim` at the Nth request (1-based) that matches; `true` = after the server applied it. For a
    /// phase whose request number varies (requests sent at the same time arrive in any order).
    pub kill_when: Option<(Matches, usize, bool)>,
    /// Hold the first request until every proxy sharing this barrier has received its first request
    /// (makes two publishers read the state before either claims it).
    pub gate: Option<Arc<std::sync::Barrier>>,
    /// Answers a request itself instead of forwarding it, when it returns a response: a stand-in for what the
    /// server lacks (moto 5.2.5 has no KeyValueStore data plane), for answers it can't be made to give (an AWS
    /// limit reached), or to act just before forwarding (a console edit between a read and a write).
    pub answer: Option<Answer>,
    /// Faults for chosen requests (the first `times` that match), checked before `faults`.
    pub targeted: Vec<Targeted>,
    /// Requests that match are held, neither forwarded nor answered, until [`Proxy::release`].
    pub hold: Option<Matches>,
    /// Requests that match are answered 200 with a body of this many bytes, written in 64 KiB pieces for as long
    /// as the client reads ([`Logged::sent`] counts what it took): a body too large to be read whole.
    pub endless: Option<(Matches, u64)>,
}

#[derive(Debug, Clone)]
pub struct Logged {
    pub n: usize,
    pub method: String,
    pub path: String,
    /// What the client saw (0 = reset / killed).
    pub status: u16,
    pub fault: Option<String>,
    /// Whether the request reached the server.
    pub forwarded: bool,
    /// The request body as sent (for asserting on what the client asked for).
    pub body: Vec<u8>,
    /// Whether it carried If-Match or If-None-Match.
    pub conditional: bool,
    /// The request line and headers, as sent.
    pub head: String,
    /// [`tick`] when the request had been read whole.
    pub arrived: u64,
    /// [`tick`] just before its answer was written back (0: never answered).
    pub answered: u64,
    /// Bytes of the answer the client took (what the sockets buffer included), for forwarded and `endless`
    /// answers.
    pub sent: u64,
}

pub struct Proxy {
    pub endpoint: String,
    pub log: Arc<Mutex<Vec<Logged>>>,
    pub victim: Arc<AtomicU32>,
    config: Arc<Mutex<Config>>,
    shared: Arc<Shared>,
}

/// What the connections of one proxy count and wait on together.
#[derive(Default)]
struct Shared {
    throttled: AtomicUsize,
    /// How many times each of `Config::targeted` fired.
    fired: Mutex<Vec<usize>>,
    /// Requests that have been read whole, before they are handled: (number, method, path).
    arrivals: Mutex<Vec<(usize, String, String)>>,
    released: Mutex<bool>,
    release: std::sync::Condvar,
    /// Whether `Config::kill_on` has fired.
    killed: std::sync::atomic::AtomicBool,
    /// Requests that matched `Config::kill_when` so far.
    matched: AtomicUsize,
    /// Requests read so far (each one's number).
    count: AtomicUsize,
}

impl Proxy {
    pub fn start(upstream: &str, config: Config) -> Proxy {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", l.local_addr().unwrap());
        let p = Proxy {
            endpoint,
            log: Arc::new(Mutex::new(Vec::new())),
            victim: Arc::new(AtomicU32::new(0)),
            config: Arc::new(Mutex::new(config)),
            shared: Arc::new(Shared::default()),
        };
        let (log, victim, config) = (p.log.clone(), p.victim.clone(), p.config.clone());
        let shared = p.shared.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(conn) = conn else { continue };
                let (log, victim, config, upstream) = (
                    log.clone(),
                    victim.clone(),
                    config.clone(),
                    upstream.clone(),
                );
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let cfg = config.lock().unwrap().clone();
                    if let Some(entry) = handle(conn, &upstream, &cfg, &victim, &shared) {
                        log.lock().unwrap().push(entry);
                    }
                });
            }
        });
        p
    }

    pub fn set(&self, f: impl FnOnce(&mut Config)) {
        f(&mut self.config.lock().unwrap());
    }

    pub fn requests(&self) -> Vec<Logged> {
        let mut v = self.log.lock().unwrap().clone();
        v.sort_by_key(|l| l.n);
        v
    }

    /// Requests read whole so far, answered or not, in the order they arrived: (number, method, path).
    pub fn arrivals(&self) -> Vec<(usize, String, String)> {
        let mut v = self.shared.arrivals.lock().unwrap().clone();
        v.sort();
        v
    }

    /// Let the requests `Config::hold` holds (and every later one) go on to the server.
    pub fn release(&self) {
        *self.shared.released.lock().unwrap() = true;
        self.shared.release.notify_all();
    }

    pub fn faults_injected(&self) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.fault.is_some())
            .count()
    }
}

/// Deterministic per (seed, request number).
fn roll(seed: u64, n: usize) -> (f64, usize) {
    let mut x = seed ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    (
        (x >> 11) as f64 / (1u64 << 53) as f64,
        (x & 0xffff) as usize,
    )
}

struct Request {
    /// Carries If-Match / If-None-Match.
    conditional: bool,
    head: Vec<u8>,
    body: Vec<u8>,
    method: String,
    path: String,
}

fn read_request(conn: &mut TcpStream) -> Option<Request> {
    conn.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let mut r = BufReader::new(conn.try_clone().ok()?);
    let mut head = Vec::new();
    let mut content_length = 0usize;
    let mut chunked = false;
    let mut conditional = false;
    let mut first = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if first.is_empty() {
            first = line.clone();
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            content_length = v.trim().parse().ok()?;
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
        if lower.starts_with("if-match:") || lower.starts_with("if-none-match:") {
            conditional = true;
        }
        if lower.starts_with("connection:") {
            continue; // replaced below
        }
        if line == "\r\n" {
            head.extend_from_slice(b"Connection: close\r\n\r\n");
            break;
        }
        head.extend_from_slice(line.as_bytes());
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size_line = String::new();
            r.read_line(&mut size_line).ok()?;
            body.extend_from_slice(size_line.as_bytes());
            let size = usize::from_str_radix(size_line.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk).ok()?;
            body.extend_from_slice(&chunk);
            if size == 0 {
                break;
            }
        }
    } else {
        body.resize(content_length, 0);
        r.read_exact(&mut body).ok()?;
    }
    let mut parts = first.split(' ');
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    Some(Request {
        conditional,
        head,
        body,
        method,
        path,
    })
}

/// moto checks a conditional PUT's precondition and stores the object in two steps, so two simultaneous
/// conditional writes can both succeed there (seen under load in the racing-publishers test); S3 makes them
/// atomic. Conditional writes are serialized here, across all proxies, to give moto S3's guarantee.
static CONDITIONAL: Mutex<()> = Mutex::new(());

fn forward(upstream: &str, req: &Request) -> Option<Vec<u8>> {
    let _atomic = req
        .conditional
        .then(|| CONDITIONAL.lock().unwrap_or_else(|e| e.into_inner()));
    let mut up = TcpStream::connect(upstream).ok()?;
    up.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    up.write_all(&req.head).ok()?;
    up.write_all(&req.body).ok()?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp).ok()?;
    Some(resp)
}

fn with_connection_close(resp: Vec<u8>) -> Vec<u8> {
    let Some(split) = resp.windows(4).position(|w| w == b"\r\n\r\n") else {
        return resp;
    };
    let head = String::from_utf8_lossy(&resp[..split]);
    let mut out: String = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect::<Vec<_>>()
        .join("\r\n");
    out.push_str("\r\nConnection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&resp[split + 4..]);
    bytes
}

fn status_of(resp: &[u8]) -> u16 {
    String::from_utf8_lossy(&resp[..resp.len().min(20)])
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn canned(status: &str, code: &str, cloudfront: bool) -> Vec<u8> {
    let body = if cloudfront {
        format!(
            "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>injected</Message></Error><RequestId>proxy</RequestId></ErrorResponse>"
        )
    } else {
        format!("<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>injected by the test proxy</Message><RequestId>proxy</RequestId></Error>")
    };
    format!("HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
        .into_bytes()
}

fn reset(conn: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setting SO_LINGER on a socket we own; closing it then sends RST.
    unsafe {
        libc::setsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(conn);
}

fn kill(victim: &AtomicU32) {
    let pid = victim.load(Ordering::SeqCst);
    if pid != 0 {
        // SAFETY: sending a signal to the child process under test.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    }
}

fn handle(
    mut conn: TcpStream,
    upstream: &str,
    cfg: &Config,
    victim: &AtomicU32,
    shared: &Shared,
) -> Option<Logged> {
    let req = read_request(&mut conn)?;
    // Numbered as requests arrive, not as connections do: a client may open connections ahead of the requests
    // that use them (git-publish does, see `aws::connect`), and one it never uses carries no request.
    let n = shared.count.fetch_add(1, Ordering::SeqCst) + 1;
    let head = String::from_utf8_lossy(&req.head).into_owned();
    let mut entry = Logged {
        n,
        method: req.method.clone(),
        path: req.path.clone(),
        status: 0,
        fault: None,
        forwarded: false,
        body: req.body.clone(),
        conditional: req.conditional,
        head: head.clone(),
        arrived: tick(),
        answered: 0,
        sent: 0,
    };
    (shared.arrivals.lock().unwrap()).push((n, req.method.clone(), req.path.clone()));
    std::thread::sleep(cfg.delay);
    if let (1, Some(gate)) = (n, &cfg.gate) {
        gate.wait();
    }

    let asked = Asked {
        method: &req.method,
        path: &req.path,
        head: &head,
        body: &req.body,
    };
    let kill_here = match (cfg.kill_at, cfg.kill_on) {
        (Some((at, after)), _) if n == at => Some(after),
        (_, Some((f, after))) if f(&asked) && !shared.killed.swap(true, Ordering::SeqCst) => {
            Some(after)
        }
        _ => match cfg.kill_when {
            Some((f, nth, after))
                if f(&asked) && shared.matched.fetch_add(1, Ordering::SeqCst) + 1 == nth =>
            {
                Some(after)
            }
            _ => None,
        },
    };
    if let Some(after) = kill_here {
        entry.fault = Some(if after {
            "kill-after".into()
        } else {
            "kill-before".into()
        });
        if after {
            entry.forwarded = forward(upstream, &req).is_some();
        }
        kill(victim);
        drop(conn);
        return Some(entry);
    }
    if cfg.hold.is_some_and(|f| f(&asked)) {
        let mut released = shared.released.lock().unwrap();
        while !*released {
            released = shared.release.wait(released).unwrap();
        }
    }
    if let Some((_, size)) = cfg.endless.filter(|(f, _)| f(&asked)) {
        entry.status = 200;
        entry.answered = tick();
        entry.sent = write_endless(&mut conn, size);
        return Some(entry);
    }
    if let Some(resp) = cfg.answer.and_then(|f| f(&asked)) {
        entry.status = status_of(&resp);
        entry.answered = tick();
        let _ = conn.write_all(&resp);
        return Some(entry);
    }
    let is_invalidation = req.method == "POST" && req.path.contains("/invalidation");
    if is_invalidation
        && cfg.throttle_invalidations > 0
        && shared.throttled.fetch_add(1, Ordering::SeqCst) < cfg.throttle_invalidations
    {
        entry.fault = Some("throttle".into());
        entry.status = 400;
        entry.answered = tick();
        let _ = conn.write_all(&canned(
            "400 Bad Request",
            "TooManyInvalidationsInProgress",
            true,
        ));
        return Some(entry);
    }
    let fault = targeted(cfg, shared, &asked).or_else(|| {
        let (p, pick) = roll(cfg.seed, n);
        (!cfg.faults.is_empty() && p < cfg.fault_rate).then(|| cfg.faults[pick % cfg.faults.len()])
    });
    entry.fault = fault.map(|f| format!("{f:?}"));
    let cloudfront = req.path.starts_with("/2020-05-31/");
    let answer = |entry: &mut Logged, conn: &mut TcpStream, resp: &[u8]| {
        entry.status = status_of(resp);
        entry.answered = tick();
        entry.sent = write_counting(conn, resp);
    };
    match fault {
        Some(Fault::Internal) => answer(
            &mut entry,
            &mut conn,
            &canned("500 Internal Server Error", "InternalError", cloudfront),
        ),
        Some(Fault::SlowDown) => answer(
            &mut entry,
            &mut conn,
            &canned("503 Slow Down", "SlowDown", cloudfront),
        ),
        Some(Fault::Reset) => reset(conn),
        Some(Fault::InternalAfter) => {
            entry.forwarded = forward(upstream, &req).is_some();
            answer(
                &mut entry,
                &mut conn,
                &canned("500 Internal Server Error", "InternalError", cloudfront),
            );
        }
        Some(Fault::ResetAfter) => {
            entry.forwarded = forward(upstream, &req).is_some();
            reset(conn);
        }
        Some(Fault::Delay) | None => {
            if fault == Some(Fault::Delay) {
                std::thread::sleep(Duration::from_millis(1500));
            }
            match forward(upstream, &req) {
                Some(resp) => {
                    entry.forwarded = true;
                    answer(&mut entry, &mut conn, &with_connection_close(resp));
                }
                None => reset(conn),
            }
        }
    }
    Some(entry)
}

/// The first of `cfg.targeted` that matches the request and has fired fewer than its `times`.
fn targeted(cfg: &Config, shared: &Shared, asked: &Asked) -> Option<Fault> {
    let mut fired = shared.fired.lock().unwrap();
    fired.resize(cfg.targeted.len(), 0);
    for (t, count) in cfg.targeted.iter().zip(fired.iter_mut()) {
        if *count < t.times && (t.when)(asked) {
            *count += 1;
            return Some(t.fault);
        }
    }
    None
}

/// Write `resp` in 64 KiB pieces for as long as the client takes them. Returns the bytes taken.
fn write_counting(conn: &mut TcpStream, resp: &[u8]) -> u64 {
    let mut sent = 0u64;
    for piece in resp.chunks(64 << 10) {
        if conn.write_all(piece).is_err() {
            break;
        }
        sent += piece.len() as u64;
    }
    sent
}

/// Answer 200 with a `size`-byte body (spaces), for as long as the client takes it. Returns the bytes taken.
fn write_endless(conn: &mut TcpStream, size: u64) -> u64 {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: \"endless\"\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    );
    if conn.write_all(head.as_bytes()).is_err() {
        return 0;
    }
    let piece = vec![b' '; 64 << 10];
    let mut sent = 0u64;
    while sent < size {
        let n = piece.len().min((size - sent) as usize);
        if conn.write_all(&piece[..n]).is_err() {
            break;
        }
        sent += n as u64;
    }
    sent
}
