//! Cloud CDN's calls on the Compute Engine API v1, over [`crate::exec::api`]: `urlMaps.invalidateCache`
//! (one path a request), `globalOperations.get` (an invalidation's status) and `urlMaps.get` (`doctor`'s
//! read-only look), with the token from the environment ([`Token`]).
//!
//! - **Requests**: `POST {base}projects/{project}/global/urlMaps/{urlMap}/invalidateCache` with
//!   `{"path": "/a/b"}` (or `"/dir/*"`) and `"host"` when the target names one; the answer is a global
//!   Operation (<https://cloud.google.com/compute/docs/reference/rest/v1/urlMaps/invalidateCache>).
//! - **Rate limit**: invalidations are rate limited (500 requests a minute,
//!   <https://cloud.google.com/cdn/docs/cache-invalidation-overview>); Google answers 429, or 403 with the
//!   reason `rateLimitExceeded` / `userRateLimitExceeded`: waited out (`Retry-After`, else 1, 2, 4 … s) and
//!   sent again, never given up before [`Limits::max_total_wait`].
//! - **Errors** name the project, the URL map, the HTTP status, Google's reason and message, and the fix.
//! - **Token**: `CLOUDSDK_AUTH_ACCESS_TOKEN` (gcloud reads it too) when set, else Application Default
//!   Credentials through `gcp_auth` (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's
//!   `application_default_credentials.json`, the metadata server). The base is
//!   `CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE` (gcloud's own override) when set, so tests use a stand-in
//!   (`tests/gcp/cloud_cdn.py`); plain http only to a loopback address.

use std::sync::Arc;
use std::time::Duration;

use hyper::Method;

use crate::exec::api::{base_from_env, join, Client, Limits, Reply, Service};
use crate::exec::CdnError;

/// The token's variable (gcloud's).
pub const TOKEN_VAR: &str = "CLOUDSDK_AUTH_ACCESS_TOKEN";
/// The API base's variable (gcloud's override of the compute API's endpoint).
pub const BASE_VAR: &str = "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE";
/// The Compute Engine API v1.
pub const DEFAULT_BASE: &str = "https://compute.googleapis.com/compute/v1/";
/// The OAuth scope the calls need.
const SCOPE: &str = "https://www.googleapis.com/auth/compute";

/// The fix for a missing or refused token.
pub const TOKEN_FIX: &str =
    "run `gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS \
    to a service account's key, or CLOUDSDK_AUTH_ACCESS_TOKEN to a token) for an account with \
    compute.urlMaps.invalidateCache on the project";

/// Where the token comes from.
#[derive(Clone)]
pub enum Token {
    /// `CLOUDSDK_AUTH_ACCESS_TOKEN`, or a test's.
    Fixed(String),
    /// Application Default Credentials (tokens cached and renewed by `gcp_auth`).
    Adc(Arc<dyn gcp_auth::TokenProvider>),
}

impl Token {
    /// `CLOUDSDK_AUTH_ACCESS_TOKEN`, else Application Default Credentials, with one token fetched now so that
    /// a publish without credentials stops before it writes anything.
    pub async fn from_env() -> Result<Token, CdnError> {
        if let Some(t) = std::env::var(TOKEN_VAR)
            .ok()
            .filter(|t| !t.trim().is_empty())
        {
            return Ok(Token::Fixed(t.trim().to_string()));
        }
        let denied = |e: gcp_auth::Error| {
            CdnError::Denied {
            message: format!(
                "no Google credentials ({TOKEN_VAR} is not set, and Application Default Credentials: {})",
                crate::exec::http::chain(&e)
            ),
            hint: TOKEN_FIX.into(),
        }
        };
        let provider = gcp_auth::provider().await.map_err(denied)?;
        provider.token(&[SCOPE]).await.map_err(denied)?;
        Ok(Token::Adc(provider))
    }

    async fn get(&self) -> Result<String, CdnError> {
        match self {
            Token::Fixed(t) => Ok(t.clone()),
            Token::Adc(p) => match p.token(&[SCOPE]).await {
                Ok(t) => Ok(t.as_str().to_string()),
                Err(e) => Err(CdnError::Denied {
                    message: format!(
                        "renewing the Google token: {}",
                        crate::exec::http::chain(&e)
                    ),
                    hint: TOKEN_FIX.into(),
                }),
            },
        }
    }
}

/// One URL map's calls.
pub struct Compute {
    project: String,
    url_map: String,
    base: url::Url,
    client: Client,
    token: Token,
    limits: Limits,
}

impl Compute {
    /// The calls on `project`'s `url_map` at the API `base`.
    pub fn new(
        project: &str,
        url_map: &str,
        base: url::Url,
        token: Token,
        limits: Limits,
    ) -> Result<Compute, CdnError> {
        let client = Client::for_url(&base).map_err(|e| {
            CdnError::failed(
                e,
                "install the system's CA certificates (the ca-certificates package)",
            )
        })?;
        Ok(Compute {
            project: project.to_string(),
            url_map: url_map.to_string(),
            base,
            client,
            token,
            limits,
        })
    }

    /// The base from [`BASE_VAR`] (checked as site.toml's `endpoint` is, with `allow_http`), else Google's.
    pub fn base_from_env(allow_http: bool) -> Result<url::Url, CdnError> {
        base_from_env(BASE_VAR, DEFAULT_BASE, allow_http).map_err(|e| {
            CdnError::failed(
                e,
                format!("set {BASE_VAR} to the compute API (e.g. {DEFAULT_BASE}), or unset it"),
            )
        })
    }

    /// `project/url_map`, as messages name it.
    pub fn what(&self) -> String {
        format!("Cloud CDN URL map {}/{}", self.project, self.url_map)
    }

    fn url(&self, tail: &str) -> Result<url::Url, CdnError> {
        let path = format!("projects/{}/global/{tail}", self.project);
        join(&self.base, &path).map_err(|e| CdnError::failed(format!("{}: {e}", self.what()), ""))
    }

    /// Invalidate `path` (`/a/b`, or `/dir/*`) on `host` (all hosts when None). Returns the Operation's name.
    pub async fn invalidate(
        &self,
        path: &str,
        host: Option<&str>,
        on_wait: &mut (dyn FnMut(Duration) + Send),
    ) -> Result<String, CdnError> {
        let url = self.url(&format!("urlMaps/{}/invalidateCache", self.url_map))?;
        let mut body = serde_json::json!({ "path": path });
        if let Some(h) = host {
            body["host"] = h.into();
        }
        let body = serde_json::to_vec(&body).expect("JSON");
        let reply = self.call(Method::POST, &url, Some(&body), on_wait).await?;
        let op = reply.json();
        match op["name"].as_str() {
            Some(name) if !name.is_empty() => Ok(name.to_string()),
            _ => Err(self.refused(&reply)),
        }
    }

    /// Whether the Operation `name` is done (`globalOperations.get`); an error when it failed.
    pub async fn operation_done(&self, name: &str) -> Result<bool, CdnError> {
        let url = self.url(&format!("operations/{name}"))?;
        let reply = self.call(Method::GET, &url, None, &mut |_| {}).await?;
        let op = reply.json();
        if op["status"] != "DONE" {
            return Ok(false);
        }
        match op.get("error") {
            Some(e) if !e.is_null() => Err(CdnError::failed(
                format!("{}: invalidation {name} failed: {e}", self.what()),
                "publish again (the same paths are invalidated again)",
            )),
            _ => Ok(true),
        }
    }

    /// `urlMaps.get`: whether the token may read the URL map (`doctor`'s check; needs `compute.urlMaps.get`).
    pub async fn read_url_map(&self) -> Result<(), CdnError> {
        let url = self.url(&format!("urlMaps/{}", self.url_map))?;
        self.call(Method::GET, &url, None, &mut |_| {}).await?;
        Ok(())
    }

    /// Send until answered (rate limits waited out); a 2xx answer, or the error it means.
    async fn call(
        &self,
        method: Method,
        url: &url::Url,
        body: Option<&[u8]>,
        on_wait: &mut (dyn FnMut(Duration) + Send),
    ) -> Result<Reply, CdnError> {
        let token = self.token.get().await?;
        let what = self.what();
        let service = Service {
            what: &what,
            throttled: &throttled,
            describe,
            rate_advice: "Cloud CDN takes 500 invalidations a minute per project: publish again in a few minutes",
            unavailable_fix: "try again later; Google Cloud's status is at https://status.cloud.google.com",
        };
        let sent = service.call(
            &self.client,
            method,
            url,
            &token,
            body,
            &self.limits,
            on_wait,
        );
        sent.await
            .map_err(|e| e.map_or_else(|e| e, |r| self.refused(&r)))
    }

    /// The error for an answer that is not a success.
    fn refused(&self, r: &Reply) -> CdnError {
        let message = format!("{}: {}", self.what(), describe(r));
        match r.status {
            401 => CdnError::Denied {
                message,
                hint: TOKEN_FIX.into(),
            },
            403 => CdnError::Denied {
                message,
                hint: format!(
                    "grant the account compute.urlMaps.invalidateCache (and compute.urlMaps.get for \
                     doctor) on project {}, e.g. the role roles/compute.loadBalancerAdmin or a custom role",
                    self.project
                ),
            },
            404 => CdnError::failed(
                message,
                "check `project` and `url_map` under [targets.NAME.cloud_cdn] (`gcloud compute url-maps list \
                 --global` lists the URL maps)",
            ),
            _ => CdnError::failed(
                message,
                "Google's message says what it refused; the request is described at \
                 https://cloud.google.com/compute/docs/reference/rest/v1/urlMaps/invalidateCache",
            ),
        }
    }
}

/// Google's rate limit: 429, or 403 whose reason says so.
fn throttled(r: &Reply) -> bool {
    let rate = |x: &String| x == "rateLimitExceeded" || x == "userRateLimitExceeded";
    r.status == 429 || (r.status == 403 && reasons(r).iter().any(rate))
}

/// The reasons of Google's error body (`{"error": {"errors": [{"reason"}]}}`).
fn reasons(r: &Reply) -> Vec<String> {
    let body = r.json();
    (body["error"]["errors"].as_array().into_iter().flatten())
        .filter_map(|e| e["reason"].as_str().map(str::to_string))
        .collect()
}

/// "HTTP 404, notFound: The resource … was not found", or the body's start.
fn describe(r: &Reply) -> String {
    let body = r.json();
    let message = body["error"]["message"].as_str().unwrap_or_default();
    let reasons = reasons(r).join(", ");
    match (message.is_empty(), reasons.is_empty()) {
        (true, _) if body.is_null() => format!("HTTP {}: {:?}", r.status, r.head()),
        (true, true) => format!("HTTP {}", r.status),
        (false, true) => format!("HTTP {}, {message}", r.status),
        (_, false) => format!("HTTP {}, {reasons}: {message}", r.status),
    }
}
