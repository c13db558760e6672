//! `git publish [publish]`: publish a commit to a target (see `crate::publish` for the pipeline), then forget a
//! recorded failure this publish covers, and print the `--json` report when asked. Options are built by
//! `settings::publish_opts`, nowhere here.

use crate::cli::PublishArgs;
use crate::error::{ExitCode, Result};
use crate::publish::{self, Session};
use crate::settings::{publish_opts, Invocation};

pub async fn run(s: &Session, args: &PublishArgs) -> Result<ExitCode> {
    let opts = publish_opts(Invocation::Cli(args));
    let report = publish::publish(s, &opts).await?;
    crate::records::clear_failure_if_covered(
        &s.repo,
        &report.target,
        &report.commit,
        report.dry_run,
    );
    if s.ui.json {
        s.ui.json(&report);
    }
    Ok(ExitCode::Success)
}
