//! Purging a Cloudflare zone's cache: a list of absolute URLs in batches, or everything.
//!
//! - **Batches**: [`FILES_PER_REQUEST`] URLs a request (100, current plans). Older zones and older documents
//!   allow [`FILES_PER_REQUEST_OLD`] (30); Cloudflare's refusal is an HTTP 400 whose error code is not
//!   documented, so a 400 to a batch of more than 30 is read as that limit: the batch is sent again in 30s and
//!   every later batch of this [`Purger`] is 30 too. A 400 to a batch of 30 is an error as it says.
//! - **429** (the rate limit, <https://developers.cloudflare.com/fundamentals/api/reference/limits/>): wait
//!   `Retry-After` seconds (else 1, 2, 4 … s), each wait at most [`Limits::max_wait`], and send the same
//!   batch again. A 429 never fails the purge until the waits of one purge add up to
//!   [`Limits::max_total_wait`] (15 minutes): then the error names the zone and what to do.
//! - **No answer, or a 5xx**: tried again [`Limits::attempts`] times in all, 1, 2, 4 … s apart.
//! - **Errors** name the zone, the HTTP status, Cloudflare's error codes and messages, and the fix: a token
//!   refused (401, 403, or an authentication error code) or missing → [`TOKEN_FIX`]; a zone Cloudflare can't
//!   route to (7003, 404) → check the zone id.
//!
//! Batches are sent one after another on one kept-open connection: the limit is per account, and a purge of
//! a new post is one request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::api::{Answer, Transport};

/// The token's variable (wrangler's name for it).
pub const TOKEN_VAR: &str = "CLOUDFLARE_API_TOKEN";
/// The API base's variable (wrangler's name for it): tests point it at a local server.
pub const BASE_VAR: &str = "CLOUDFLARE_API_BASE_URL";
/// Cloudflare's API v4.
pub const DEFAULT_BASE: &str = "https://api.cloudflare.com/client/v4";

/// URLs a purge request may name on current plans.
pub const FILES_PER_REQUEST: usize = 100;
/// URLs a purge request may name on older zones (and in older documents).
pub const FILES_PER_REQUEST_OLD: usize = 30;

/// The fix for a missing or refused token.
pub const TOKEN_FIX: &str = "set CLOUDFLARE_API_TOKEN to a token with Zone.Cache Purge";

/// Error codes Cloudflare answers for a token it refuses (besides HTTP 401 and 403).
const AUTH_CODES: &[i64] = &[6003, 6111, 9103, 9106, 9109, 10000, 10001];
/// Error codes for a zone id Cloudflare can't route to.
const ZONE_CODES: &[i64] = &[7000, 7003];

/// How long a purge keeps trying: the cloud APIs' limits (a purge's waits after 429s, tries of a request).
pub use crate::exec::api::Limits;

/// What kind of failure, for the caller's exit code and wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeErrorKind {
    /// No token, or one Cloudflare refuses.
    Token,
    /// A zone id that is not one, or that Cloudflare can't route to.
    Zone,
    /// Still answered 429 after [`Limits::max_total_wait`] of waiting.
    RateLimited,
    /// Cloudflare refused the request for another reason (its message says which).
    Refused,
    /// No answer, or 5xx answers, after [`Limits::attempts`].
    Unavailable,
}

/// A purge that failed: the zone, what failed (HTTP status, Cloudflare's codes and messages) and the fix.
#[derive(Debug, Clone, thiserror::Error)]
#[error("Cloudflare zone {zone}: {message}")]
pub struct PurgeError {
    pub kind: PurgeErrorKind,
    pub zone: String,
    pub message: String,
    pub hint: String,
}

/// What a purge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purged {
    /// Cloudflare's id of each accepted request.
    pub ids: Vec<String>,
    /// Requests sent, those answered 429 and refused batches included.
    pub requests: usize,
    /// Requests answered 429.
    pub throttled: usize,
}

/// Purges one zone's cache.
pub struct Purger {
    zone: String,
    token: Option<String>,
    url: url::Url,
    transport: Transport,
    per_request: AtomicUsize,
    limits: Limits,
}

impl Purger {
    /// The purger of `zone` with the token and API base from the environment ([`TOKEN_VAR`], [`BASE_VAR`]).
    pub fn from_env(zone: &str) -> Result<Purger, PurgeError> {
        let token = std::env::var(TOKEN_VAR).ok();
        let base = std::env::var(BASE_VAR).ok();
        Purger::new(zone, token, base.as_deref(), Limits::default())
    }

    /// The purger of `zone`, with `token` (none: every purge fails with [`TOKEN_FIX`]) and the API's `base`
    /// (none or empty: [`DEFAULT_BASE`]).
    pub fn new(
        zone: &str,
        token: Option<String>,
        base: Option<&str>,
        limits: Limits,
    ) -> Result<Purger, PurgeError> {
        if zone.is_empty() || !zone.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(error(
                PurgeErrorKind::Zone,
                zone,
                format!("{zone:?} is not a zone id"),
                ZONE_FIX,
            ));
        }
        let base = base
            .filter(|b| !b.trim().is_empty())
            .unwrap_or(DEFAULT_BASE);
        let config_error = |message: String| {
            error(
                PurgeErrorKind::Refused,
                zone,
                message,
                format!("set {BASE_VAR} to Cloudflare's API (e.g. {DEFAULT_BASE}), or unset it"),
            )
        };
        let url = url::Url::parse(&format!(
            "{}/zones/{zone}/purge_cache",
            base.trim().trim_end_matches('/')
        ))
        .map_err(|e| config_error(format!("{BASE_VAR}={base:?} is not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(config_error(format!("{BASE_VAR}={base:?} is not http(s)")));
        }
        let transport = Transport::for_url(&url).map_err(|e| {
            error(
                PurgeErrorKind::Unavailable,
                zone,
                e,
                "install the system's CA certificates (the ca-certificates package)",
            )
        })?;
        Ok(Purger {
            zone: zone.to_string(),
            token: token.filter(|t| !t.trim().is_empty()),
            url,
            transport,
            per_request: AtomicUsize::new(FILES_PER_REQUEST),
            limits,
        })
    }

    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// URLs a request names now: [`FILES_PER_REQUEST`], or [`FILES_PER_REQUEST_OLD`] once a zone refused more.
    pub fn files_per_request(&self) -> usize {
        self.per_request.load(Ordering::Relaxed)
    }

    /// Whether there is a token: a publish checks this before it writes anything.
    pub fn check_token(&self) -> Result<(), PurgeError> {
        match self.token {
            Some(_) => Ok(()),
            None => Err(error(
                PurgeErrorKind::Token,
                &self.zone,
                format!("{TOKEN_VAR} is not set"),
                TOKEN_FIX,
            )),
        }
    }

    /// Purge `urls` (absolute, no wildcards) in batches; `on_wait` hears of each wait after a 429.
    pub async fn purge_urls(
        &self,
        urls: &[String],
        on_wait: &mut (dyn FnMut(Duration) + Send),
    ) -> Result<Purged, PurgeError> {
        let mut done = Purged::default();
        let mut waited = Duration::ZERO;
        let mut at = 0;
        while at < urls.len() {
            let n = self.files_per_request();
            let batch = &urls[at..(at + n).min(urls.len())];
            let body = serde_json::to_vec(&serde_json::json!({ "files": batch }))
                .expect("a list of strings is JSON");
            let answer = self.send(body, &mut waited, &mut done, on_wait).await?;
            if accepted(&answer) {
                done.ids.push(result_id(&answer));
                at += batch.len();
            } else if answer.status == 400 && batch.len() > FILES_PER_REQUEST_OLD {
                // More URLs than this zone takes: the older limit, for this batch and the rest.
                self.per_request
                    .store(FILES_PER_REQUEST_OLD, Ordering::Relaxed);
            } else {
                return Err(self.refused(&answer));
            }
        }
        Ok(done)
    }

    /// Purge everything the zone has cached (one request).
    pub async fn purge_everything(
        &self,
        on_wait: &mut (dyn FnMut(Duration) + Send),
    ) -> Result<Purged, PurgeError> {
        let mut done = Purged::default();
        let mut waited = Duration::ZERO;
        let body = br#"{"purge_everything":true}"#.to_vec();
        let answer = self.send(body, &mut waited, &mut done, on_wait).await?;
        if !accepted(&answer) {
            return Err(self.refused(&answer));
        }
        done.ids.push(result_id(&answer));
        Ok(done)
    }

    /// Send one request until it is answered with something other than a 429, a 5xx or silence, within the
    /// limits.
    async fn send(
        &self,
        body: Vec<u8>,
        waited: &mut Duration,
        done: &mut Purged,
        on_wait: &mut (dyn FnMut(Duration) + Send),
    ) -> Result<Answer, PurgeError> {
        self.check_token()?;
        let token = self.token.as_deref().unwrap_or_default();
        let mut throttles = 0u32;
        let mut failures = 0u32;
        loop {
            done.requests += 1;
            let failure = match (self.transport)
                .post_json(&self.url, token, body.clone(), self.limits.timeout)
                .await
            {
                Ok(a) if a.status == 429 => {
                    done.throttled += 1;
                    let pause = (a.retry_after)
                        .unwrap_or_else(|| self.backoff(throttles))
                        .min(self.limits.max_wait);
                    throttles += 1;
                    if *waited + pause > self.limits.max_total_wait {
                        return Err(self.rate_limited(*waited, done.throttled, &a));
                    }
                    on_wait(pause);
                    tokio::time::sleep(pause).await;
                    *waited += pause;
                    continue;
                }
                Ok(a) if a.status >= 500 => describe(&a),
                Ok(a) => return Ok(a),
                Err(e) => format!("no answer from {}: {e}", self.url),
            };
            failures += 1;
            if failures >= self.limits.attempts.max(1) {
                return Err(error(
                    PurgeErrorKind::Unavailable,
                    &self.zone,
                    format!("{failure} (tried {failures} times)"),
                    "try again later; Cloudflare's status is at https://www.cloudflarestatus.com",
                ));
            }
            tokio::time::sleep(self.backoff(failures - 1)).await;
        }
    }

    /// GET `path` of the API (relative to its base: `user/tokens/verify`, `zones/<id>`), once, with the
    /// token: `doctor`'s read-only checks. No token is a [`PurgeErrorKind::Token`] error; no answer an
    /// [`PurgeErrorKind::Unavailable`] one.
    pub(super) async fn get(&self, path: &str) -> Result<Answer, PurgeError> {
        self.check_token()?;
        // The purge URL is `<base>/zones/<zone>/purge_cache`: two levels up is the base.
        let url = (self.url.join(&format!("../../{path}")))
            .map_err(|e| error(PurgeErrorKind::Refused, &self.zone, e.to_string(), ""))?;
        let token = self.token.as_deref().unwrap_or_default();
        (self
            .transport
            .get_json(&url, token, self.limits.timeout)
            .await)
            .map_err(|e| {
                error(
                    PurgeErrorKind::Unavailable,
                    &self.zone,
                    format!("no answer from {url}: {e}"),
                    "try again later; Cloudflare's status is at https://www.cloudflarestatus.com",
                )
            })
    }

    fn backoff(&self, n: u32) -> Duration {
        self.limits.backoff(n)
    }

    fn rate_limited(&self, waited: Duration, throttled: usize, a: &Answer) -> PurgeError {
        error(
            PurgeErrorKind::RateLimited,
            &self.zone,
            format!(
                "{} ({throttled} times; gave up after waiting {} s in all)",
                describe(a),
                waited.as_secs()
            ),
            "Cloudflare's purge rate limit is per account: wait a few minutes (or for other purges on the \
             account to finish) and publish again",
        )
    }

    /// The error for an answer that is not a success (a purge's, or a check's).
    pub(super) fn refused(&self, a: &Answer) -> PurgeError {
        let codes: Vec<i64> = (a.envelope.iter())
            .flat_map(|e| e.errors.iter().map(|e| e.code))
            .collect();
        let (kind, hint) =
            if a.status == 401 || a.status == 403 || codes.iter().any(|c| AUTH_CODES.contains(c)) {
                (
                    PurgeErrorKind::Token,
                    format!("{TOKEN_FIX} permission on zone {}", self.zone),
                )
            } else if a.status == 404 || codes.iter().any(|c| ZONE_CODES.contains(c)) {
                (PurgeErrorKind::Zone, ZONE_FIX.to_string())
            } else {
                (
                    PurgeErrorKind::Refused,
                    "Cloudflare's message says what it refused; the request is described at \
                 https://developers.cloudflare.com/api/resources/cache/methods/purge/"
                        .to_string(),
                )
            };
        error(kind, &self.zone, describe(a), hint)
    }
}

/// The fix for a zone id Cloudflare does not know.
pub(super) const ZONE_FIX: &str =
    "set `zone` in the target's `[cloudflare]` table to the Zone ID shown on the zone's \
                        Overview page in Cloudflare's dashboard (32 hex digits)";

fn error(
    kind: PurgeErrorKind,
    zone: &str,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> PurgeError {
    PurgeError {
        kind,
        zone: zone.to_string(),
        message: message.into(),
        hint: hint.into(),
    }
}

pub(super) fn accepted(a: &Answer) -> bool {
    (200..300).contains(&a.status) && a.envelope.as_ref().is_some_and(|e| e.success)
}

fn result_id(a: &Answer) -> String {
    (a.envelope.as_ref())
        .and_then(|e| e.result.as_ref())
        .and_then(|r| r.get("id"))
        .and_then(|id| id.as_str())
        .unwrap_or_default()
        .to_string()
}

/// "HTTP 403, Cloudflare error 10000: Authentication error" (each error), or the body's start.
pub(super) fn describe(a: &Answer) -> String {
    let errors: Vec<String> = (a.envelope.iter())
        .flat_map(|e| e.errors.iter())
        .map(|e| format!("Cloudflare error {}: {}", e.code, e.message))
        .collect();
    if !errors.is_empty() {
        format!("HTTP {}, {}", a.status, errors.join("; "))
    } else if a.envelope.is_some() {
        format!("HTTP {}", a.status)
    } else {
        format!("HTTP {}: {:?}", a.status, a.head)
    }
}
