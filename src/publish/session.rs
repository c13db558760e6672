//! What every step of a publish shares: the [`Session`] (the repository, the config, the output and the
//! clock) and the `--json` [`Report`] a publish ends with.

use std::path::PathBuf;

use serde::Serialize;

use crate::clock::Clock;
use crate::config::Config;
use crate::error::Result;
use crate::plan;
use crate::source::{Repo, Snapshot};
use crate::ui::Ui;

/// The `--json` document of a publish (stable: fields are only ever added).
#[derive(Debug, Serialize)]
pub struct Report {
    pub target: String,
    pub url: String,
    pub base: Option<String>,
    pub commit: String,
    pub uploads: Vec<String>,
    pub deletes: Vec<String>,
    pub invalidations: Vec<String>,
    pub dry_run: bool,
    /// "published", "nothing-to-do" or "planned" (dry run).
    pub status: &'static str,
    pub resumed: bool,
    pub uploaded_bytes: u64,
    pub invalidation_ids: Vec<String>,
    pub invalidation: plan::invalidate::Summary,
    /// Keys copied server-side (renames, duplicates) and keys whose headers were replaced in place.
    pub copies: Vec<String>,
    pub header_updates: Vec<String>,
    /// Site paths whose delete waits for the next publish (`delay_deletes`).
    pub deferred_deletes: Vec<String>,
    /// Per distribution: paths, batches and what they cost.
    pub distributions: Vec<plan::CdnPlan>,
    pub budget: plan::Budget,
    pub elapsed_ms: u128,
    /// Milliseconds from the start of the publish to the plan being ready.
    pub plan_ms: u128,
    /// Keys that differ from the deployed version only in timestamps or build ids.
    pub churn: Vec<String>,
    /// The commit that was live before, when this publish went back to an earlier deploy.
    pub rollback_from: Option<String>,
    /// What the snapshot build did (snapshot builds only).
    pub snapshot: Option<Snapshot>,
    /// Redirect objects written, redirects removed, renames only proposed, and the table after this publish.
    pub redirects: plan::redirects::Changes,
}

pub struct Session {
    pub repo: Repo,
    pub config: Config,
    pub ui: Ui,
    /// Where "now" comes from (deploy times, the claim lease, the monthly invalidation budget).
    pub clock: Clock,
}

impl Session {
    /// Open the repository from `cwd` and load the config (`--config` or `<repo root>/site.toml`).
    pub fn open(cwd: &std::path::Path, config: Option<PathBuf>, ui: Ui) -> Result<Session> {
        let repo = Repo::open(cwd)?;
        let root = repo.root();
        let path = crate::config::path_of(cwd, config, &root);
        let config = Config::load(&path, &root)?;
        let clock = Clock::from_env()?;
        Ok(Session {
            repo,
            config,
            ui,
            clock,
        })
    }
}
