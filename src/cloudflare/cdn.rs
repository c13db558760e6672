//! [`Cdn`] on Cloudflare's cache: a purge of absolute URLs (`purge.rs`), with the profile the planner plans by
//! ([`profile`]).
//!
//! - **What the planner is told** ([`profile`]): absolute URLs `https://<domain>/<path>` (the planner gives every
//!   URL form that serves a file), no wildcards, 100 a request, one request in flight, no monthly allowance
//!   (so no budget applies).
//! - **30 a request**: a zone that refuses 100 is sent 30 from then on (`purge.rs` reads the answer).
//! - **Purge everything when it is cheaper**: Cloudflare's purge limit is a token bucket per account whose
//!   burst on the Free plan is 25 requests, refilled at 5 a minute. A publish whose exact purge needs more than
//!   [`EVERYTHING_AFTER`] requests (over 2,500 URLs at 100 a request) would wait minutes on 429s for the rest;
//!   one `purge_everything` request covers them at once. So the 26th request of a publish is a
//!   `purge_everything`, and the batches after it are already covered (no request). What it costs instead:
//!   every cached URL of the zone is fetched again from R2 once (R2 has no egress fees).
//! - **A whole site** (other URL forms, a preview removed): the planner's
//!   [`crate::plan::invalidate::EVERYTHING`], since purge by URL has no wildcards: one `purge_everything`.
//! - **Status**: a purge is done when Cloudflare answers it (instant purge): `--wait` has nothing to wait for.

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;

use super::purge::{PurgeError, PurgeErrorKind, Purger, FILES_PER_REQUEST};
use crate::exec::{Batch, Cdn, CdnError};
use crate::plan::invalidate::{Addresses, CdnProfile, Wildcard, EVERYTHING};

/// Purge requests a publish sends URL by URL before it purges everything instead: the Free plan's burst.
pub const EVERYTHING_AFTER: usize = 25;

/// What the planner plans a Cloudflare purge by: absolute URLs on `host`, no wildcards, 100 a request.
pub fn profile(host: &str) -> CdnProfile {
    CdnProfile {
        wildcard: Wildcard::None,
        addresses: Addresses::AbsoluteUrls {
            host: Cow::Owned(host.to_string()),
        },
        max_per_request: FILES_PER_REQUEST,
        max_wildcards_per_request: 0,
        max_in_flight: 1,
        free_paths_a_month: None,
    }
}

/// One zone's cache, as the executor's [`Cdn`].
pub struct Cloudflare {
    purger: Purger,
    /// Purge requests of URLs sent by this process.
    sent: AtomicUsize,
    /// The id of the `purge_everything` that covers every later batch, once sent.
    everything: Mutex<Option<String>>,
}

impl Cloudflare {
    pub fn new(purger: Purger) -> Cloudflare {
        Cloudflare {
            purger,
            sent: AtomicUsize::new(0),
            everything: Mutex::new(None),
        }
    }

    pub fn zone(&self) -> &str {
        self.purger.zone()
    }
}

/// A purge's error as the executor's: a refused or missing token is a denial, the rest a failure; each keeps
/// its message (the status, Cloudflare's code and message: the zone is named by [`Cdn::describe`]) and its fix.
pub fn cdn_error(e: PurgeError) -> CdnError {
    let message = e.message;
    match e.kind {
        PurgeErrorKind::Token => CdnError::Denied {
            message,
            hint: e.hint,
        },
        _ => CdnError::Failed {
            message,
            hint: e.hint,
        },
    }
}

#[async_trait]
impl Cdn for Cloudflare {
    fn describe(&self) -> String {
        format!("Cloudflare zone {}", self.purger.zone())
    }

    async fn invalidate(&self, batch: Batch<'_>) -> Result<String, CdnError> {
        let urls = batch.addresses;
        if let Some(id) = self.everything.lock().unwrap().clone() {
            return Ok(id);
        }
        let zone = self.purger.zone();
        let mut on_wait = |d: std::time::Duration| {
            tracing::info!(
                "Cloudflare zone {zone}: purge rate limit; trying again in {} s",
                d.as_secs()
            )
        };
        let requests = urls.len().div_ceil(self.purger.files_per_request().max(1));
        let everything = urls.iter().any(|u| u == EVERYTHING);
        let done = if everything || self.sent.load(Ordering::Relaxed) + requests > EVERYTHING_AFTER
        {
            let done = (self.purger.purge_everything(&mut on_wait).await).map_err(cdn_error)?;
            *self.everything.lock().unwrap() = done.ids.last().cloned();
            done
        } else {
            let done = (self.purger.purge_urls(urls, &mut on_wait).await).map_err(cdn_error)?;
            self.sent.fetch_add(done.requests, Ordering::Relaxed);
            done
        };
        Ok(done.ids.last().cloned().unwrap_or_default())
    }
}
