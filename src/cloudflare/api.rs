//! One JSON request to Cloudflare's API v4 (a purge's POST, `doctor`'s GETs) and its answer: the status, `Retry-After`, and the envelope
//! (<https://developers.cloudflare.com/fundamentals/api/how-to/make-api-calls/>). It retries nothing and
//! decides nothing about what an answer means (`purge.rs` does).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use crate::exec::http::{chain, read_at_most};

/// The most of an answer's body read: Cloudflare's envelopes are small.
const BODY_CAP: usize = 256 * 1024;

/// One error of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiError {
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub message: String,
}

/// `{"success", "errors", "messages", "result"}`, as far as a purge reads it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub success: bool,
    #[serde(default)]
    pub errors: Vec<ApiError>,
    #[serde(default)]
    pub result: Option<serde_json::Value>,
}

/// What one request answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// `Retry-After` in seconds (the HTTP-date form is not read: Cloudflare sends seconds).
    pub retry_after: Option<Duration>,
    /// The envelope, when the body is one (a proxy's HTML page is not).
    pub envelope: Option<Envelope>,
    /// The body's start, for an answer that is not an envelope.
    pub head: String,
}

/// A client over plain HTTP (a local stand-in) or HTTPS (Cloudflare), keeping its connection between
/// requests.
pub enum Transport {
    Plain(Client<HttpConnector, Full<Bytes>>),
    Tls(Client<HttpsConnector<HttpConnector>, Full<Bytes>>),
}

impl Transport {
    /// The client for `base` (http for a local server, else https with the system's root certificates).
    pub fn for_url(base: &url::Url) -> Result<Transport, String> {
        if base.scheme() == "http" {
            return Ok(Transport::Plain(
                Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
            ));
        }
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| format!("loading the system's root certificates: {e}"))?
            .https_only()
            .enable_http1()
            .build();
        Ok(Transport::Tls(
            Client::builder(TokioExecutor::new()).build(https),
        ))
    }

    /// POST `body` (JSON) to `url` with the bearer `token`, within `timeout`. The error says what failed
    /// (the caller names the zone).
    pub async fn post_json(
        &self,
        url: &url::Url,
        token: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Answer, String> {
        self.send(hyper::Method::POST, url, token, body, timeout)
            .await
    }

    /// GET `url` with the bearer `token`, within `timeout` (the token's and the zone's checks).
    pub async fn get_json(
        &self,
        url: &url::Url,
        token: &str,
        timeout: Duration,
    ) -> Result<Answer, String> {
        self.send(hyper::Method::GET, url, token, Vec::new(), timeout)
            .await
    }

    async fn send(
        &self,
        method: hyper::Method,
        url: &url::Url,
        token: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Answer, String> {
        let mut auth = hyper::header::HeaderValue::try_from(format!("Bearer {token}"))
            .map_err(|_| "the token holds characters a header can't".to_string())?;
        auth.set_sensitive(true);
        let req = hyper::Request::builder()
            .method(method)
            .uri(url.as_str())
            .header(hyper::header::AUTHORIZATION, auth)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(
                hyper::header::USER_AGENT,
                concat!("git-publish/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let send = async {
            let resp = match self {
                Transport::Plain(c) => c.request(req).await,
                Transport::Tls(c) => c.request(req).await,
            }
            .map_err(|e| chain(&e))?;
            let status = resp.status().as_u16();
            let retry_after = (resp.headers().get(hyper::header::RETRY_AFTER))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let bytes = read_at_most(resp.into_body(), BODY_CAP).await?;
            let envelope = serde_json::from_slice::<Envelope>(&bytes).ok();
            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            Ok(Answer {
                status,
                retry_after,
                envelope,
                head,
            })
        };
        match tokio::time::timeout(timeout, send).await {
            Ok(a) => a,
            Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
        }
    }
}
