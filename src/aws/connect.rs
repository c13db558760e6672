//! The AWS SDK's HTTP client, with connections that can be opened before the requests that need them.
//!
//! Over a long link a new connection costs a round trip before its request can leave (two with TLS): a wave of
//! uploads that finds too few idle connections waits for handshakes. A publish knows, once it has planned, how
//! many requests its waves send at once, and it claims the target before any of them: [`open`] starts that many
//! connections to the store (and to CloudFront) while the claim is in flight, and the SDK's requests take them
//! up as they need new connections. Nothing is sent on a connection opened ahead until a request uses it.
//!
//! The client is hyper 1 (hyper-util's pooled client, hyper-rustls with aws-lc-rs and the system's root
//! certificates), as the SDK's own default is, with the same connect and read timeouts and the same mapping
//! of failures to the SDK's retry classes. It is used only where the SDK's default would connect directly:
//! with a proxy set in the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`), or when the system's
//! root certificates can't be loaded, the SDK's default client is kept (and nothing is opened ahead).
//!
//! It decides nothing about how many connections to open (the caller sizes them from the plan) and knows
//! nothing of S3 or CloudFront.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use hyper::Uri;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::sync::oneshot;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Stream = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;

/// A connection opened ahead is handed out only while it is this young: idle connections are closed by
/// servers after a while (S3 after some seconds), and a request on a closed one would fail.
const FRESH_FOR: Duration = Duration::from_secs(8);

/// The SDK client to use, or None to keep the SDK's default (see the module comment).
pub fn sdk_client(connect_timeout: Duration) -> Option<SharedHttpClient> {
    shared(connect_timeout).map(|pool| SharedHttpClient::new(SdkClient { pool }))
}

/// Start `n` connections to the origin (scheme, host and port) of `url`, for the requests about to need
/// them. Does nothing without the client of this module, for a URL it can't read, or for `n` = 0.
pub fn open(url: &str, n: usize) {
    let (Some(pool), Ok(uri)) = (SHARED.get().cloned().flatten(), url.parse::<Uri>()) else {
        return;
    };
    if n == 0 || uri.host().is_none() {
        return;
    }
    tracing::debug!("opening {n} connection(s) to {} ahead", origin(&uri));
    pool.open(&uri, n);
}

/// One pool of connections opened ahead per process: every SDK client of the process shares it.
static SHARED: OnceLock<Option<Arc<Pool>>> = OnceLock::new();

fn shared(connect_timeout: Duration) -> Option<Arc<Pool>> {
    SHARED
        .get_or_init(|| Pool::new(connect_timeout).map(Arc::new))
        .clone()
}

/// Whether the environment names a proxy, which the SDK's default client honours and this one does not.
fn proxy_in_env() -> bool {
    ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"]
        .iter()
        .flat_map(|v| [v.to_string(), v.to_ascii_lowercase()])
        .any(|v| std::env::var(v).is_ok_and(|s| !s.trim().is_empty()))
}

/// `scheme://host:port`: what a connection can serve.
fn origin(uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("https");
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "http" { 80 } else { 443 });
    let host = uri.host().unwrap_or_default().to_ascii_lowercase();
    format!("{scheme}://{host}:{port}")
}

struct Pool {
    dial: Dial,
    /// Connections opened ahead (or being opened), by origin, oldest first.
    ahead: Mutex<HashMap<String, VecDeque<Opened>>>,
    /// One hyper client per pair of timeouts the SDK asks for (as the SDK's own client keeps them).
    clients: Mutex<HashMap<Timeouts, Client<Dialer, SdkBody>>>,
}

/// The connect and read timeouts of an SDK client.
type Timeouts = (Option<Duration>, Option<Duration>);

struct Opened {
    at: Instant,
    conn: oneshot::Receiver<Result<Stream, BoxError>>,
}

impl Pool {
    fn new(connect_timeout: Duration) -> Option<Pool> {
        if proxy_in_env() {
            return None;
        }
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .inspect_err(|e| tracing::debug!("no root certificates ({e}): the SDK's own client"))
            .ok()?
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        Some(Pool {
            dial: Dial {
                https,
                timeout: connect_timeout,
            },
            ahead: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
        })
    }

    /// Start `n` connections to `uri`'s origin, for [`Dialer`] to hand out.
    fn open(&self, uri: &Uri, n: usize) {
        let mut ahead = self.ahead.lock().expect("ahead lock");
        let queue = ahead.entry(origin(uri)).or_default();
        for _ in 0..n {
            let (tx, rx) = oneshot::channel();
            let (dial, uri) = (self.dial.clone(), uri.clone());
            tokio::spawn(async move {
                let _ = tx.send(dial.connect(uri).await);
            });
            queue.push_back(Opened {
                at: Instant::now(),
                conn: rx,
            });
        }
    }

    /// A connection opened ahead for `uri`'s origin, if one is young enough: the oldest first.
    fn take_ahead(&self, uri: &Uri) -> Option<oneshot::Receiver<Result<Stream, BoxError>>> {
        let mut ahead = self.ahead.lock().expect("ahead lock");
        let queue = ahead.get_mut(&origin(uri))?;
        while let Some(o) = queue.pop_front() {
            if o.at.elapsed() < FRESH_FOR {
                return Some(o.conn);
            }
        }
        None
    }
}

/// Opens one connection (TCP, and TLS for https) within the connect timeout.
#[derive(Clone)]
struct Dial {
    https: HttpsConnector<TcpConnector>,
    timeout: Duration,
}

impl Dial {
    async fn connect(&self, uri: Uri) -> Result<Stream, BoxError> {
        use tower_service::Service;
        let mut https = self.https.clone();
        futures::future::poll_fn(|cx| https.poll_ready(cx)).await?;
        match tokio::time::timeout(self.timeout, https.call(uri)).await {
            Ok(conn) => conn,
            Err(_) => Err(Box::new(ConnectTimedOut(self.timeout))),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("no connection within {0:?}")]
struct ConnectTimedOut(Duration);

/// hyper's connector: a connection opened ahead when there is one, else a new one.
#[derive(Clone)]
struct Dialer {
    pool: Arc<Pool>,
}

impl tower_service::Service<Uri> for Dialer {
    type Response = Stream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let pool = self.pool.clone();
        Box::pin(async move {
            if let Some(opened) = pool.take_ahead(&uri) {
                match opened.await {
                    Ok(Ok(conn)) => return Ok(conn),
                    Ok(Err(e)) => {
                        tracing::debug!("a connection opened ahead failed ({e}): dialing")
                    }
                    Err(_) => {}
                }
            }
            pool.dial.connect(uri).await
        })
    }
}

/// The SDK's [`HttpClient`]: hands out connectors over the shared pool.
struct SdkClient {
    pool: Arc<Pool>,
}

impl std::fmt::Debug for SdkClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SdkClient (hyper 1, connections opened ahead)")
    }
}

impl HttpClient for SdkClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let client = {
            let mut clients = self.pool.clients.lock().expect("clients lock");
            let pool = self.pool.clone();
            (clients.entry(key))
                .or_insert_with(|| {
                    Client::builder(TokioExecutor::new())
                        .pool_timer(TokioTimer::new())
                        .build(Dialer { pool })
                })
                .clone()
        };
        SharedHttpConnector::new(Connector {
            client,
            read_timeout: settings.read_timeout(),
        })
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper", Some(Cow::Borrowed("1.x"))))
    }
}

/// One SDK request over the hyper client, within the read timeout (from the request to its answer's head,
/// as the SDK's own client counts it).
struct Connector {
    client: Client<Dialer, SdkBody>,
    read_timeout: Option<Duration>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("read_timeout", &self.read_timeout)
            .finish()
    }
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(r) => r,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let answer = self.client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let answer = match read_timeout {
                None => answer.await,
                Some(t) => match tokio::time::timeout(t, answer).await {
                    Ok(a) => a,
                    Err(_) => {
                        let e = format!("no answer within {t:?}");
                        return Err(ConnectorError::timeout(e.into()));
                    }
                },
            };
            let response = answer.map_err(connector_error)?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// hyper's failures in the SDK's retry classes, as the SDK's own client maps them: no connection and broken
/// connections are I/O (retried), timeouts are timeouts, a message cut short is transient.
fn connector_error(e: hyper_util::client::legacy::Error) -> ConnectorError {
    if find::<ConnectTimedOut>(&e).is_some() {
        return ConnectorError::timeout(e.into());
    }
    if e.is_connect() {
        return ConnectorError::io(e.into());
    }
    if let Some(h) = find::<hyper::Error>(&e) {
        if h.is_timeout() {
            return ConnectorError::timeout(e.into());
        }
        if h.is_user() {
            return ConnectorError::user(e.into());
        }
        if h.is_closed() || h.is_canceled() || find::<std::io::Error>(h).is_some() {
            return ConnectorError::io(e.into());
        }
        if h.is_incomplete_message() {
            return ConnectorError::other(e.into(), Some(ErrorKind::TransientError));
        }
    }
    if find::<std::io::Error>(&e).is_some() {
        return ConnectorError::io(e.into());
    }
    ConnectorError::other(e.into(), None)
}

fn find<'a, E: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The local address of a plain connection.
    fn local(conn: &Stream) -> std::net::SocketAddr {
        match conn {
            MaybeHttpsStream::Http(io) => io.inner().local_addr().unwrap(),
            MaybeHttpsStream::Https(_) => panic!("plain http expected"),
        }
    }

    /// hyper asks for two connections after two were opened ahead: it gets those two (the server accepted
    /// them before any was asked for), then a new one for a third.
    #[tokio::test]
    async fn connections_opened_ahead_are_the_ones_handed_out() {
        use tower_service::Service;
        let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri: Uri = format!("http://{}/bucket/key", server.local_addr().unwrap())
            .parse()
            .unwrap();
        let pool = Arc::new(Pool::new(Duration::from_secs(5)).expect("root certificates"));
        pool.open(&uri, 2);
        let mut accepted = Vec::new();
        for _ in 0..2 {
            accepted.push(server.accept().await.unwrap().1);
        }
        let mut dialer = Dialer { pool: pool.clone() };
        for _ in 0..2 {
            let conn = dialer.call(uri.clone()).await.unwrap();
            assert!(
                accepted.contains(&local(&conn)),
                "a connection opened ahead"
            );
        }
        let third = tokio::spawn(async move { dialer.call(uri).await.map(|c| local(&c)) });
        let (_, peer) = server.accept().await.unwrap();
        assert_eq!(
            third.await.unwrap().unwrap(),
            peer,
            "dialed when none is left"
        );
        assert!(!accepted.contains(&peer));
    }

    #[test]
    fn origins_name_scheme_host_and_port() {
        let o = |u: &str| origin(&u.parse::<Uri>().unwrap());
        assert_eq!(
            o("https://B.s3.amazonaws.com/key"),
            "https://b.s3.amazonaws.com:443"
        );
        assert_eq!(o("http://127.0.0.1:9000/bucket"), "http://127.0.0.1:9000");
        assert_eq!(o("http://localhost"), "http://localhost:80");
    }
}
