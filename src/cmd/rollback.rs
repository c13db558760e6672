//! `git publish rollback`: publish entry N of a target's deploy history again (1 = the deploy before the live
//! one). It checks the entry exists here before anything else, then runs an ordinary publish of it (with
//! `rollback` set through `settings::publish_opts`).

use crate::cli::RollbackArgs;
use crate::error::{Error, ExitCode, Result};
use crate::publish::{publish, Report, Session};
use crate::settings::{publish_opts, Invocation};

pub async fn run(s: &Session, args: &RollbackArgs) -> Result<ExitCode> {
    let report = rollback(s, args).await?;
    if s.ui.json {
        s.ui.json(&report);
    }
    Ok(ExitCode::Success)
}

/// Publish entry `steps` of the target's history again (1 = the deploy before the live one).
pub async fn rollback(s: &Session, args: &RollbackArgs) -> Result<Report> {
    let steps = args.steps;
    if steps == 0 {
        return Err(Error::Usage(
            "--steps must be at least 1 (entry 0 of `git publish log` is what is live)".into(),
        ));
    }
    let log = super::log::log(s, args.target.as_deref()).await?;
    let Some(entry) = log.entries.get(steps) else {
        return Err(Error::RollbackOutOfRange {
            target: log.target,
            steps,
            available: log.entries.len().saturating_sub(1),
        });
    };
    if !s.repo.has_commit(&entry.commit) {
        return Err(Error::Usage(format!(
            "{} (entry {steps} of `git publish log --target {}`) is not in this repository: fetch it first \
             (for snapshot builds, fetch the snapshot ref, e.g. `git fetch origin site-builds:site-builds`)",
            entry.commit, log.target
        )));
    }
    let opts = publish_opts(Invocation::Rollback {
        args,
        target: log.target.clone(),
        rev: entry.commit.clone(),
    });
    publish(s, &opts).await
}
