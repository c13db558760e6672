//! A cloud's JSON API over HTTP(S), for the CDN adapters that have no SDK in the binary (Cloud CDN, Front
//! Door): one request with a bearer token and its answer ([`Client::send`]), and the same request sent until
//! it is answered with something other than a rate limit, a 5xx or silence, within [`Limits`]
//! ([`Client::send_patiently`]).
//!
//! It runs on the HTTP stack already in the binary (hyper 1, hyper-util's client, hyper-rustls with the
//! system's root certificates and aws-lc-rs; see [`super::http`]). It decides nothing about what an answer
//! means beyond "the service asked us to slow down" (the caller says how its service spells that) and "no
//! answer or a 5xx" (try again): the adapter reads the rest.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as Hyper;
use hyper_util::rt::TokioExecutor;

use super::http::{chain, https, read_at_most};

/// The most of an answer's body read: the APIs' answers to a purge, an operation or an error are small.
const BODY_CAP: usize = 256 * 1024;

/// What one request answered.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub status: u16,
    /// `Retry-After` in seconds (the HTTP-date form is not read: the APIs here send seconds).
    pub retry_after: Option<Duration>,
    /// The headers a long-running operation is followed by (`Location`, `Azure-AsyncOperation`), lowercase.
    pub headers: Vec<(String, String)>,
    /// The body, at most [`BODY_CAP`] bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        (self.headers.iter())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body's start, for an answer that is not what the caller expected (a proxy's HTML page).
    pub fn head(&self) -> String {
        String::from_utf8_lossy(&self.body[..self.body.len().min(200)]).into_owned()
    }
}

/// How long a request keeps being sent.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The longest one wait after a rate limit (a longer `Retry-After` is cut to it).
    pub max_wait: Duration,
    /// The waits after rate limits one call may add up to before it gives up.
    pub max_total_wait: Duration,
    /// One request's time to answer.
    pub timeout: Duration,
    /// Tries of a request that got no answer or a 5xx.
    pub attempts: u32,
    /// The first pause before trying again (doubled each time).
    pub first_backoff: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_wait: Duration::from_secs(60),
            max_total_wait: Duration::from_secs(15 * 60),
            timeout: Duration::from_secs(30),
            attempts: 4,
            first_backoff: Duration::from_secs(1),
        }
    }
}

impl Limits {
    /// The `n`th pause (from 0) when the service gave no `Retry-After`.
    pub fn backoff(&self, n: u32) -> Duration {
        (self.first_backoff * 2u32.saturating_pow(n.min(16))).min(self.max_wait)
    }
}

/// Why [`Client::send_patiently`] gave up.
#[derive(Debug, Clone)]
pub enum GaveUp {
    /// Still rate limited after [`Limits::max_total_wait`]: the last answer, the times it came, the wait.
    RateLimited {
        last: Reply,
        times: usize,
        waited: Duration,
    },
    /// No answer, or 5xx answers, [`Limits::attempts`] times: what the last try got.
    Unavailable { last: String, tries: u32 },
}

/// A client over plain HTTP (a local stand-in) or HTTPS, keeping its connection between requests.
pub enum Client {
    Plain(Hyper<HttpConnector, Full<Bytes>>),
    Tls(Hyper<HttpsConnector<HttpConnector>, Full<Bytes>>),
}

impl Client {
    /// The client for `base`'s scheme: http (a local server), else https with the system's root certificates.
    pub fn for_url(base: &url::Url) -> Result<Client, String> {
        if base.scheme() == "http" {
            return Ok(Client::Plain(
                Hyper::builder(TokioExecutor::new()).build(HttpConnector::new()),
            ));
        }
        Ok(Client::Tls(
            Hyper::builder(TokioExecutor::new()).build(https()?),
        ))
    }

    /// Send `method` to `url` with the bearer `token` and, for a POST, the JSON `body`, within `timeout`.
    /// The error says what failed (the caller names the resource).
    pub async fn send(
        &self,
        method: hyper::Method,
        url: &url::Url,
        token: &str,
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Reply, String> {
        let mut auth = hyper::header::HeaderValue::try_from(format!("Bearer {token}"))
            .map_err(|_| "the token holds characters a header can't".to_string())?;
        auth.set_sensitive(true);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(url.as_str())
            .header(hyper::header::AUTHORIZATION, auth)
            .header(
                hyper::header::USER_AGENT,
                concat!("git-publish/", env!("CARGO_PKG_VERSION")),
            );
        if body.is_some() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let bytes = Bytes::copy_from_slice(body.unwrap_or_default());
        let req = req.body(Full::new(bytes)).map_err(|e| e.to_string())?;
        let send = async {
            let resp = match self {
                Client::Plain(c) => c.request(req).await,
                Client::Tls(c) => c.request(req).await,
            }
            .map_err(|e| chain(&e))?;
            let status = resp.status().as_u16();
            let header = |name: &str| {
                (resp.headers().get(name))
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            };
            let retry_after = (header("retry-after"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let headers = ["location", "azure-asyncoperation"]
                .into_iter()
                .filter_map(|n| header(n).map(|v| (n.to_string(), v)))
                .collect();
            let body = read_at_most(resp.into_body(), BODY_CAP).await?;
            Ok(Reply {
                status,
                retry_after,
                headers,
                body,
            })
        };
        match tokio::time::timeout(timeout, send).await {
            Ok(a) => a,
            Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
        }
    }

    /// [`Client::send`] until the answer is neither a rate limit (`throttled` says which answers are) nor a
    /// 5xx nor silence: a rate limit is waited out as `Retry-After` says (else 1, 2, 4 … s; `on_wait` hears of
    /// each wait) until the waits add up to `limits.max_total_wait`; a 5xx or no answer is tried
    /// `limits.attempts` times in all.
    #[allow(clippy::too_many_arguments)]
    pub async fn send_patiently(
        &self,
        method: hyper::Method,
        url: &url::Url,
        token: &str,
        body: Option<&[u8]>,
        limits: &Limits,
        throttled: &(dyn Fn(&Reply) -> bool + Sync),
        on_wait: &mut (dyn FnMut(Duration) + Send),
    ) -> Result<Reply, GaveUp> {
        let (mut waited, mut times, mut failures) = (Duration::ZERO, 0usize, 0u32);
        loop {
            let last = match self
                .send(method.clone(), url, token, body, limits.timeout)
                .await
            {
                Ok(r) if throttled(&r) => {
                    let pause = (r.retry_after)
                        .unwrap_or_else(|| limits.backoff(times as u32))
                        .min(limits.max_wait);
                    times += 1;
                    if waited + pause > limits.max_total_wait {
                        return Err(GaveUp::RateLimited {
                            last: r,
                            times,
                            waited,
                        });
                    }
                    on_wait(pause);
                    tokio::time::sleep(pause).await;
                    waited += pause;
                    continue;
                }
                Ok(r) if r.status >= 500 => format!("HTTP {}: {}", r.status, r.head()),
                Ok(r) => return Ok(r),
                Err(e) => format!("no answer from {url}: {e}"),
            };
            failures += 1;
            if failures >= limits.attempts.max(1) {
                return Err(GaveUp::Unavailable {
                    last,
                    tries: failures,
                });
            }
            tokio::time::sleep(limits.backoff(failures - 1)).await;
        }
    }
}

/// What an adapter says about its service, for [`Service::call`]'s errors.
pub struct Service<'a> {
    /// The resource, as messages name it ("Cloud CDN URL map p/m").
    pub what: &'a str,
    /// Which answers are the service's rate limit.
    pub throttled: &'a (dyn Fn(&Reply) -> bool + Sync),
    /// An answer's status, code and message ("HTTP 404, notFound: …").
    pub describe: fn(&Reply) -> String,
    /// The advice after giving up on the rate limit ("publish again in a few minutes").
    pub rate_advice: &'a str,
    /// The fix when the service did not answer ("try again later; the status is at …").
    pub unavailable_fix: &'a str,
}

impl Service<'_> {
    /// [`Client::send_patiently`], then: a 2xx answer, or `Err(Ok(reply))` for the adapter to read, or
    /// `Err(Err(error))` when it gave up (the rate limit: [`CdnError::Throttled`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn call(
        &self,
        client: &Client,
        method: hyper::Method,
        url: &url::Url,
        token: &str,
        body: Option<&[u8]>,
        limits: &Limits,
        on_wait: &mut (dyn FnMut(Duration) + Send),
    ) -> Result<Reply, Result<Reply, super::CdnError>> {
        let sent = client.send_patiently(method, url, token, body, limits, self.throttled, on_wait);
        match sent.await {
            Ok(r) if (200..300).contains(&r.status) => Ok(r),
            Ok(r) => Err(Ok(r)),
            Err(GaveUp::RateLimited {
                last,
                times,
                waited,
            }) => Err(Err(super::CdnError::Throttled(format!(
                "{}: {} ({times} times; gave up after waiting {} s in all); {}",
                self.what,
                (self.describe)(&last),
                waited.as_secs(),
                self.rate_advice
            )))),
            Err(GaveUp::Unavailable { last, tries }) => Err(Err(super::CdnError::failed(
                format!("{}: {last} (tried {tries} times)", self.what),
                self.unavailable_fix,
            ))),
        }
    }
}

/// `base` joined with `path`, `base` taken as a directory (a missing trailing `/` added).
pub fn join(base: &url::Url, path: &str) -> Result<url::Url, String> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(path).map_err(|e| e.to_string())
}

/// The API base from the environment variable `var`, else `default`; checked like `endpoint` in site.toml
/// (plain http only to a loopback address unless `allow_http`). The error names the variable and the fix.
pub fn base_from_env(var: &str, default: &str, allow_http: bool) -> Result<url::Url, String> {
    let raw = std::env::var(var).ok().filter(|v| !v.trim().is_empty());
    let Some(raw) = raw else {
        return url::Url::parse(default).map_err(|e| e.to_string());
    };
    let shown = crate::config::redact_userinfo(raw.trim());
    let url =
        url::Url::parse(raw.trim()).map_err(|e| format!("{var}={shown:?} is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{var}={shown:?} is not http(s)"));
    }
    crate::config::check_endpoint(raw.trim(), allow_http)
        .map_err(|why| format!("{var}={shown}: {why}"))?;
    Ok(url)
}
