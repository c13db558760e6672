//! The production client settings, which every other test switches off by setting an endpoint: S3 addressed
//! virtual-hosted (`https://BUCKET.s3.amazonaws.com/KEY`), the SDK's default checksums on every upload
//! (whole, streamed in parts, the record) and their validation on reads, CloudFront at
//! `https://cloudfront.amazonaws.com`, all over TLS.
//!
//! git-publish runs with no endpoint at all, as it does against AWS. The SDK's HTTPS client honours
//! `HTTPS_PROXY` (CONNECT) and `SSL_CERT_FILE`: [`TlsFront`] is that proxy, which answers the CONNECT
//! itself, ends TLS with a certificate for the AWS hosts signed by a test CA (tests/it/tls, made by
//! `scripts/test-tls-certs`), and forwards each request, Host header and all, to moto, which tells S3 and
//! CloudFront and the bucket apart by the host as AWS does.
//!
//! moto stores the checksums it is sent without checking them: the test checks each against the bytes.
//!
//! What this leaves untested: AWS's own servers (what S3 does with part checksums of a multipart upload
//! created without a checksum algorithm, as git-publish creates them, is moto's answer here, not S3's), DNS
//! and the real certificates, and regions other than us-east-1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::util::*;

/// One request as it reached the proxy, inside TLS.
#[derive(Debug, Clone)]
struct Seen {
    /// The CONNECT target (`host:port`).
    tunnel: String,
    method: String,
    path: String,
    /// The request line and headers.
    head: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

fn tls_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/tls")
}

/// An HTTPS proxy (CONNECT) that ends TLS itself and forwards every request to moto.
struct TlsFront {
    /// `http://127.0.0.1:PORT`, for `HTTPS_PROXY`.
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl TlsFront {
    fn start() -> TlsFront {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(tls_dir().join("leaf.pem"))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_file(tls_dir().join("leaf.key")).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let config = Arc::new(config);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let upstream = moto().endpoint.trim_start_matches("http://").to_string();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(conn) = conn else { continue };
                let (config, log, upstream) = (config.clone(), log.clone(), upstream.clone());
                std::thread::spawn(move || {
                    let _ = tunnel(conn, config, &log, &upstream);
                });
            }
        });
        TlsFront { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Answer one CONNECT, end TLS, and forward the request(s) inside to moto, one at a time.
fn tunnel(
    conn: TcpStream,
    config: Arc<rustls::ServerConfig>,
    log: &Mutex<Vec<Seen>>,
    upstream: &str,
) -> Option<()> {
    conn.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .ok()?;
    let mut plain = BufReader::new(conn.try_clone().ok()?);
    let connect = read_head(&mut plain)?;
    let target = connect.split(' ').nth(1)?.to_string();
    (&conn)
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .ok()?;
    let tls = rustls::ServerConnection::new(config).ok()?;
    let mut stream = BufReader::new(rustls::StreamOwned::new(tls, conn));
    loop {
        let head = read_head(&mut stream)?;
        let body = read_body(&mut stream, &head)?;
        let mut parts = head.split(' ');
        log.lock().unwrap().push(Seen {
            tunnel: target.clone(),
            method: parts.next()?.to_string(),
            path: parts.next()?.to_string(),
            head: head.clone(),
        });
        // One request per connection to moto; the client may keep its tunnel open for the next.
        let mut up = TcpStream::connect(upstream).ok()?;
        let forwarded: String = (head.lines())
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:") && !l.is_empty())
            .map(|l| format!("{l}\r\n"))
            .collect();
        up.write_all(forwarded.as_bytes()).ok()?;
        up.write_all(b"Connection: close\r\n\r\n").ok()?;
        up.write_all(&body).ok()?;
        let mut resp = Vec::new();
        up.read_to_end(&mut resp).ok()?;
        let s = stream.get_mut();
        s.write_all(&resp).ok()?;
        s.flush().ok()?;
        if String::from_utf8_lossy(&resp[..resp.len().min(4096)])
            .to_ascii_lowercase()
            .contains("\r\nconnection: close")
        {
            s.conn.send_close_notify();
            let _ = s.flush();
            return Some(());
        }
    }
}

/// The request line and headers, up to the blank line (which is not included).
fn read_head(r: &mut impl BufRead) -> Option<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            return Some(head);
        }
        head.push_str(&line);
    }
}

/// The body as sent (chunked bodies are passed on with their framing).
fn read_body(r: &mut impl BufRead, head: &str) -> Option<Vec<u8>> {
    let lower = head.to_ascii_lowercase();
    let mut body = Vec::new();
    if lower.contains("transfer-encoding: chunked") {
        loop {
            let mut size_line = String::new();
            r.read_line(&mut size_line).ok()?;
            body.extend_from_slice(size_line.as_bytes());
            let size = usize::from_str_radix(size_line.trim().split(';').next()?, 16).ok()?;
            if size == 0 {
                // trailers, then the blank line
                loop {
                    let mut t = String::new();
                    r.read_line(&mut t).ok()?;
                    body.extend_from_slice(t.as_bytes());
                    if t == "\r\n" || t.is_empty() {
                        return Some(body);
                    }
                }
            }
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk).ok()?;
            body.extend_from_slice(&chunk);
        }
    }
    let len = (lower.lines())
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap_or(0));
    body.resize(len, 0);
    r.read_exact(&mut body).ok()?;
    Some(body)
}

/// Run git-publish with the production settings: no endpoint anywhere, through `front`.
fn run_in_production(site: &Site, front: &TlsFront, args: &[&str]) -> Run {
    let mut cmd = Command::new(bin());
    site.env(&mut cmd);
    let out = cmd
        .env_remove("AWS_ENDPOINT_URL")
        .env("HTTPS_PROXY", &front.url)
        .env("SSL_CERT_FILE", tls_dir().join("ca.pem"))
        .args(args)
        .current_dir(&site.dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run::from(out)
}

/// The site's files (under public/) by key.
fn tree_files(site: &Site) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(
        dir: &std::path::Path,
        base: &std::path::Path,
        out: &mut std::collections::BTreeMap<String, Vec<u8>>,
    ) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, base, out);
            } else {
                let key = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                out.insert(key, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = Default::default();
    walk(&site.path("public"), &site.path("public"), &mut out);
    out
}

/// The `x-amz-checksum-crc32` header for `bytes`: CRC-32 (IEEE), big-endian, base64.
fn crc32_header(bytes: &[u8]) -> String {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    aws_smithy_types::base64::encode((!crc).to_be_bytes())
}

#[test]
fn production_settings_publish_virtual_hosted_with_default_checksums_over_tls() {
    let b = bucket("prod");
    let dist = distribution(&b);
    let front = TlsFront::start();
    let site = Site::new();
    small_blog(&site);
    // Over the 16 MiB streaming threshold: sent as a multipart upload, in parts.
    let big = noise(17 << 20, 7);
    site.write("public/video.bin", &big);
    site.config(&format!(
        "[source]\ndir = \"public\"\n[targets.production]\nurl = \"s3://{b}\"\ndistribution = \"{dist}\"\n"
    ));
    let c1 = site.commit("v1");
    let v1 = tree_files(&site);
    run_in_production(&site, &front, &[]).ok();

    let objs = site_objects(&b);
    assert_eq!(objs.len(), 7, "{:?}", objs.keys());
    assert_eq!(objs["video.bin"].body, big);
    assert_eq!(objs["index.html"].content_type, "text/html; charset=utf-8");
    assert_eq!(state_json(&b, "")["deployed"]["commit"], c1.as_str());

    // Second publish: an edit, a rename (server-side copy), a delete, an invalidation; then status.
    site.write("public/index.html", "<h1>Home 2</h1>");
    std::fs::rename(site.path("public/feed.xml"), site.path("public/rss.xml")).unwrap();
    site.remove("public/css/site.css");
    let c2 = site.commit("v2");
    let v2 = tree_files(&site);
    run_in_production(&site, &front, &[]).ok();
    let s = run_in_production(&site, &front, &["status"]).ok();
    assert!(s.stdout.contains("up to date"), "{}", s.stdout);
    let keys: Vec<String> = site_objects(&b).into_keys().collect();
    assert_eq!(
        keys,
        [
            "img/logo.png",
            "index.html",
            "posts/a/index.html",
            "posts/b/index.html",
            "rss.xml",
            "video.bin"
        ]
    );
    assert_eq!(state_json(&b, "")["deployed"]["commit"], c2.as_str());
    assert_eq!(invalidations(&dist).len(), 1);

    let seen = front.seen();
    let s3: Vec<&Seen> = (seen.iter())
        .filter(|r| !r.tunnel.starts_with("cloudfront."))
        .collect();
    // Virtual-hosted: the bucket is in the host, never in the path.
    let host = |r: &Seen| r.header("host").unwrap_or("").to_string();
    assert!(
        (s3.iter()).all(|r| host(r).starts_with(&format!("{b}.s3."))
            && r.tunnel.starts_with(&format!("{b}.s3."))
            && r.tunnel.ends_with(".amazonaws.com:443")
            && !r.path.starts_with(&format!("/{b}"))),
        "{:?}",
        s3.iter()
            .map(|r| (&r.tunnel, &r.method, &r.path))
            .collect::<Vec<_>>()
    );
    // The SDK's default checksums on every upload: each whole PutObject (site files, the record), each part
    // of the streamed file.
    let uploads: Vec<&&Seen> = (s3.iter())
        .filter(|r| r.method == "PUT" && r.header("x-amz-copy-source").is_none())
        .collect();
    let parts: Vec<&&Seen> = (uploads.iter().copied())
        .filter(|r| r.path.contains("partNumber="))
        .collect();
    assert_eq!(parts.len(), 3, "17 MiB in 8 MiB parts: {parts:?}");
    let unchecked: Vec<&str> = (uploads.iter())
        .filter(|r| {
            r.header("x-amz-checksum-crc32").is_none() && r.header("x-amz-trailer").is_none()
        })
        .map(|r| r.path.as_str())
        .collect();
    assert!(
        unchecked.is_empty(),
        "uploads without a checksum: {unchecked:?}"
    );
    // moto stores the checksum without checking it (AWS does): check it here, for the site's files, against
    // the bytes of either version and of each 8 MiB part. (The record's is checked by the SDK when it reads
    // the record back: moto returns the stored checksum, and reads validate it.)
    let mut expected: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (key, bytes) in v1.iter().chain(&v2) {
        expected
            .entry(key.clone())
            .or_default()
            .push(crc32_header(bytes));
    }
    let in_parts: Vec<String> = big.chunks(8 << 20).map(crc32_header).collect();
    for r in &uploads {
        let key = r.path.split('?').next().unwrap().trim_start_matches('/');
        if key.starts_with(".git-publish/") {
            continue;
        }
        let sent = r.header("x-amz-checksum-crc32").unwrap_or("").to_string();
        let want = if r.path.contains("partNumber=") {
            &in_parts
        } else {
            &expected[key]
        };
        assert!(
            want.contains(&sent),
            "{key}: CRC32 {sent}, the bytes' is one of {want:?}"
        );
    }
    assert!(
        (uploads.iter()).any(|r| r.path.contains("/.git-publish/state.json")),
        "the record went through the front too"
    );
    // Reads ask for the checksum, to validate it. (Status's LIST of the previews' records is no object read.)
    let reads: Vec<&&Seen> = (s3.iter())
        .filter(|r| r.method == "GET" && !r.path.contains("list-type=2"))
        .collect();
    assert!(
        !reads.is_empty()
            && reads
                .iter()
                .all(|r| r.header("x-amz-checksum-mode") == Some("ENABLED")),
        "{reads:?}"
    );
    let hosts: std::collections::BTreeSet<String> = s3.iter().map(|r| host(r)).collect();
    let algorithms: std::collections::BTreeSet<&str> = (uploads.iter())
        .filter_map(|r| r.header("x-amz-sdk-checksum-algorithm"))
        .collect();
    eprintln!(
        "production settings: {} S3 requests to {hosts:?} over TLS; {} uploads ({} parts) all with a checksum \
         ({algorithms:?}); {} reads with x-amz-checksum-mode: ENABLED; {} CloudFront requests",
        s3.len(),
        uploads.len(),
        parts.len(),
        reads.len(),
        seen.len() - s3.len()
    );
    // CloudFront at its global host.
    assert!(
        (seen.iter()).any(|r| r.tunnel == "cloudfront.amazonaws.com:443"
            && r.method == "POST"
            && r.path.ends_with("/invalidation")),
        "{:?}",
        seen.iter()
            .map(|r| (&r.tunnel, &r.method, &r.path))
            .collect::<Vec<_>>()
    );
}
