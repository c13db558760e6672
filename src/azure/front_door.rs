//! [`Cdn`] on Azure Front Door (Standard and Premium): purging an endpoint's cache (`arm.rs`), with the
//! profile the planner plans by ([`PROFILE`]).
//!
//! - **What the planner is told** ([`PROFILE`]): URL paths (`/posts/a/`, every URL form that serves a file),
//!   a wildcard only as `/dir/*`, 100 paths a request
//!   (<https://learn.microsoft.com/en-us/azure/frontdoor/cache-purge>), no monthly allowance (purges are not
//!   charged by the path), so no budget applies.
//! - **100 a request**: the planner counts exact paths and wildcards apart; a batch is sent in requests of
//!   at most 100 paths in all, and the batch's id names every operation.
//! - **Domains**: the target's `domain` when it has one (else every domain of the endpoint).
//! - **Status**: the long-running operation's (`Succeeded`, else in progress); a purge takes minutes.

use async_trait::async_trait;

use super::arm::Arm;
use crate::exec::{Batch, Cdn, CdnError, InvalidationStatus};
use crate::plan::invalidate::{Addresses, CdnProfile, Wildcard};

/// Paths a purge request may name.
pub const PATHS_PER_REQUEST: usize = 100;

/// What the planner plans a Front Door purge by.
pub const PROFILE: CdnProfile = CdnProfile {
    wildcard: Wildcard::TrailingSlashStar,
    addresses: Addresses::Paths,
    max_per_request: PATHS_PER_REQUEST,
    max_wildcards_per_request: PATHS_PER_REQUEST,
    max_in_flight: 1,
    free_paths_a_month: None,
};

/// One endpoint's cache, as the executor's [`Cdn`].
pub struct FrontDoor {
    arm: Arm,
    domains: Vec<String>,
}

impl FrontDoor {
    /// The endpoint reached through `arm`; purges limited to `domains` when not empty.
    pub fn new(arm: Arm, domains: Vec<String>) -> FrontDoor {
        FrontDoor { arm, domains }
    }

    pub fn arm(&self) -> &Arm {
        &self.arm
    }
}

#[async_trait]
impl Cdn for FrontDoor {
    fn describe(&self) -> String {
        self.arm.what()
    }

    async fn invalidate(&self, batch: Batch<'_>) -> Result<String, CdnError> {
        let what = self.arm.what();
        let mut on_wait = |d: std::time::Duration| {
            tracing::info!(
                "{what}: purge rate limit; trying again in {} s",
                d.as_secs()
            )
        };
        let mut polls = Vec::new();
        for paths in batch.addresses.chunks(PATHS_PER_REQUEST) {
            polls.push(self.arm.purge(paths, &self.domains, &mut on_wait).await?);
        }
        Ok(polls.join(" "))
    }

    async fn check_access(&self) -> Option<Result<String, CdnError>> {
        let read = self.arm.read_endpoint().await;
        Some(read.map(|()| format!("{}: readable with this token", self.arm.what())))
    }

    async fn status(&self, id: &str) -> Result<InvalidationStatus, CdnError> {
        for poll in id.split_whitespace() {
            if !self.arm.purge_done(poll).await? {
                return Ok(InvalidationStatus::InProgress);
            }
        }
        Ok(InvalidationStatus::Completed)
    }
}
