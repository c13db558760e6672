//! Cloudflare, as an adapter: the executor's `Cdn` for a zone's cache and the profile the planner plans its purges
//! by (`cdn.rs`), purging by URL (`purge.rs`) over one JSON POST of its API v4 (`api.rs`).
//!
//! Owns Cloudflare's request and answer (the envelope `{"success", "errors", "messages", "result"}`), its
//! limits (URLs a request, the rate limit's 429 and `Retry-After`) and the errors a user can act on (each names
//! the zone, the HTTP status, Cloudflare's error code and message, and the fix). It decides nothing about what
//! to purge: the URLs come from the caller. It runs on the HTTP stack already in the binary (hyper 1,
//! hyper-util's client, hyper-rustls; see `exec::http`), not on a crate of its own.
//!
//! The token comes from `CLOUDFLARE_API_TOKEN` and the API's base from `CLOUDFLARE_API_BASE_URL` when set (the
//! variables wrangler reads), so tests point it at a local stand-in (`tests/cloudflare/api.py`). Its tests
//! (`tests.rs`) run against that stand-in.

mod api;
pub mod cdn;
pub mod checks;
pub mod purge;
#[cfg(test)]
mod tests;

pub use cdn::{cdn_error, profile, Cloudflare};
pub use purge::{
    Limits, PurgeError, PurgeErrorKind, Purged, Purger, BASE_VAR, DEFAULT_BASE, TOKEN_VAR,
};
