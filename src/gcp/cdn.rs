//! [`Cdn`] on Google Cloud CDN: invalidating a URL map's cache one path a request (`compute.rs`), with the
//! profile the planner plans by ([`PROFILE`]).
//!
//! - **What the planner is told** ([`PROFILE`]): URL paths (`/posts/a/`, every URL form that serves a file),
//!   a wildcard only as a trailing `/*` after a directory, one path a request
//!   (<https://cloud.google.com/cdn/docs/cache-invalidation-overview>: "`*` only as the final character
//!   following a `/`"; `?` and `#` are encoded by the planner), and no monthly allowance: invalidation is
//!   free on Cloud CDN (its pricing charges cache egress, cache fill and lookups, not invalidations), so no
//!   budget applies.
//! - **One path a request**: the planner counts exact paths and wildcards apart, so a batch may hold one
//!   of each; each address of a batch is its own request, and the batch's id names every Operation.
//! - **Rate limit**: 500 invalidation requests a minute; 429 (or 403 `rateLimitExceeded`) is waited out.
//! - **Status**: `globalOperations.get` of each Operation (`DONE`, else in progress); an invalidation takes
//!   effect in about 10 seconds.

use async_trait::async_trait;

use super::compute::Compute;
use crate::exec::{Batch, Cdn, CdnError, InvalidationStatus};
use crate::plan::invalidate::{Addresses, CdnProfile, Wildcard};

/// What the planner plans a Cloud CDN invalidation by.
pub const PROFILE: CdnProfile = CdnProfile {
    wildcard: Wildcard::TrailingSlashStar,
    addresses: Addresses::Paths,
    max_per_request: 1,
    max_wildcards_per_request: 1,
    // The documented limit is a rate (500 requests a minute), not a count in progress; each takes about 10 s.
    max_in_flight: 500,
    free_paths_a_month: None,
};

/// One URL map's cache, as the executor's [`Cdn`].
pub struct CloudCdn {
    compute: Compute,
    host: Option<String>,
}

impl CloudCdn {
    /// The URL map reached through `compute`; invalidations limited to `host` when set.
    pub fn new(compute: Compute, host: Option<String>) -> CloudCdn {
        CloudCdn { compute, host }
    }

    pub fn compute(&self) -> &Compute {
        &self.compute
    }
}

#[async_trait]
impl Cdn for CloudCdn {
    fn describe(&self) -> String {
        self.compute.what()
    }

    async fn invalidate(&self, batch: Batch<'_>) -> Result<String, CdnError> {
        let what = self.compute.what();
        let mut on_wait = |d: std::time::Duration| {
            tracing::info!(
                "{what}: invalidation rate limit; trying again in {} s",
                d.as_secs()
            )
        };
        let mut names = Vec::new();
        for path in batch.addresses {
            let host = self.host.as_deref();
            names.push(self.compute.invalidate(path, host, &mut on_wait).await?);
        }
        Ok(names.join(" "))
    }

    async fn check_access(&self) -> Option<Result<String, CdnError>> {
        let read = self.compute.read_url_map().await;
        Some(read.map(|()| format!("{}: readable with these credentials", self.compute.what())))
    }

    async fn status(&self, id: &str) -> Result<InvalidationStatus, CdnError> {
        for name in id.split_whitespace() {
            if !self.compute.operation_done(name).await? {
                return Ok(InvalidationStatus::InProgress);
            }
        }
        Ok(InvalidationStatus::Completed)
    }
}
