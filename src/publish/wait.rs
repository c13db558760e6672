//! Step 3 of a publish: `--wait` until CloudFront has completed the invalidations it created, saying how
//! long it has waited. The publish itself has succeeded by then; a timeout is reported as such. Polling is
//! `exec::wait_invalidations`'s; this only chooses the timeout and the words.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::exec::{self, Cdn, Sent};
use crate::plan::CdnSettings;

use super::session::Session;
use crate::settings::PublishOpts;

/// With `--wait`: wait for every invalidation of `outcome`, one distribution after another.
pub async fn wait(
    s: &Session,
    opts: &PublishOpts,
    cdns: &[(CdnSettings, Box<dyn Cdn>)],
    outcome: &Sent,
) -> Result<()> {
    if !opts.wait || outcome.invalidations.is_empty() {
        return Ok(());
    }
    let timeout = opts.wait_timeout.unwrap_or(Duration::from_secs(900));
    for (dist, cdn) in cdns {
        let ids: Vec<String> = outcome
            .invalidations
            .iter()
            .filter(|(d, _)| *d == dist.id)
            .map(|(_, id)| id.clone())
            .collect();
        if !ids.is_empty() {
            wait_one(s, &dist.id, cdn.as_ref(), &ids, timeout).await?;
        }
    }
    Ok(())
}

/// Wait for the invalidations `ids` of distribution `id`.
async fn wait_one(
    s: &Session,
    id: &str,
    cdn: &dyn Cdn,
    ids: &[String],
    timeout: Duration,
) -> Result<()> {
    let ui = &s.ui;
    let done = exec::wait_invalidations(cdn, ids, timeout, Duration::from_secs(5), &|n, t| {
        ui.note(&format!(
            "waiting for {} of {id} ({}s of {}s)",
            crate::ui::count(n as u64, "invalidation", "invalidations"),
            t.as_secs(),
            timeout.as_secs()
        ))
    })
    .await
    .map_err(|e| Error::Cdn {
        cdn: cdn.describe(),
        message: format!("checking the invalidation: {e}"),
        hint: "the publish itself succeeded; check it later with `aws cloudfront get-invalidation`"
            .into(),
    })?;
    if !done {
        return Err(Error::Cdn {
            cdn: cdn.describe(),
            message: format!(
                "invalidation not completed after {}s (the publish itself succeeded)",
                timeout.as_secs()
            ),
            hint: "check it later with `aws cloudfront get-invalidation`, or raise --wait-timeout"
                .into(),
        });
    }
    s.ui.note(&format!("invalidation of {id} completed"));
    Ok(())
}
