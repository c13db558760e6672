//! The publish pipeline, as three steps that each read on one screen:
//!
//! 1. [`prepare`] (`prepare.rs`): choose the commit, start from the target's state (`record.rs`: read, or
//!    this clone's own copy when it wrote it last), work out the base (and an interrupted publish to
//!    resume), diff, plan, and build the report skeleton. It changes nothing in the target; a dry run ends
//!    there.
//! 2. [`apply`] (`apply.rs`): claim the target (`claim.rs`, with what need not wait for the claim beside
//!    it), carry out the plan (Ctrl-C releases the claim and keeps the record that the publish is
//!    incomplete), write the final state while the invalidation is created, then the
//!    `refs/publish/<target>` mirror. A claim on a copy of the record that is not the target's any more
//!    plans again on the record read ([`prepare_again`]), once.
//! 3. [`wait`] (`wait.rs`): `--wait` for the CloudFront invalidations.
//!
//! This module only orchestrates: git is read through `source`, decisions are the planner's (`plan`), the
//! transfers the executor's (`exec`), the record `state`'s, and all output goes through `ui`. It knows
//! nothing of the command line (see `settings`) or of the hooks, which call [`publish`].

mod apply;
mod claim;
mod commit;
mod lookups;
mod prepare;
mod preview;
pub mod previews;
mod record;
mod session;
mod wait;

#[cfg(test)]
mod tests;

use crate::error::Result;
use crate::ui::Ui;

pub use crate::settings::{PreviewOpts, PublishOpts};
pub use apply::{apply, Applied};
pub use commit::{output_of, resolve_rev};
pub use prepare::{prepare, prepare_again, Prepared};
pub use session::{Report, Session};
pub use wait::wait;

/// Publish: prepare, then (unless a dry run) apply and wait. The entry point of `git publish`, `rollback`,
/// `retry` and the hooks.
pub async fn publish(s: &Session, opts: &PublishOpts) -> Result<Report> {
    publish_then(s, opts, |_| {}).await
}

/// [`publish`], calling `ready` once the plan is out, before anything is written (a preview prints its URL
/// there).
pub async fn publish_then(
    s: &Session,
    opts: &PublishOpts,
    ready: impl FnOnce(&Prepared),
) -> Result<Report> {
    let prepared = prepare(s, opts).await?;
    ready(&prepared);
    let dirty_check = DirtyCheck::start(s, opts, &prepared.commit);
    if opts.dry_run {
        dirty_check.report(&s.ui);
        return Ok(prepared.into_report("planned", None));
    }
    let mut prepared = prepared;
    let mut again = 0;
    let outcome = loop {
        match apply(s, opts, &prepared).await? {
            Applied::Done(Some(outcome)) => break outcome,
            Applied::Done(None) => {
                dirty_check.report(&s.ui);
                return Ok(prepared.into_report("nothing-to-do", None));
            }
            // Only a publish that did not read the record (or kept CloudFront's answer) plans again, and
            // planning again reads both: this happens once.
            Applied::Replan if again == 0 => {
                again += 1;
                prepared = prepare_again(s, opts, prepared).await?;
            }
            // Not expected (a plan made on the record read never asks to plan again): stop, nothing written.
            Applied::Replan => {
                return Err(crate::error::Error::LostRace {
                    target: prepared.target.name.clone(),
                })
            }
        }
    };
    wait(s, opts, &prepared.backends.cdns, &outcome).await?;
    dirty_check.report(&s.ui);
    Ok(prepared.into_report("published", Some(outcome)))
}

/// The working-tree check of a publish of HEAD, reported at the end (it takes longer than planning on a
/// big site).
struct DirtyCheck {
    check: Option<crate::source::UncommittedCount>,
    dir: String,
}

impl DirtyCheck {
    /// Publishing HEAD: say so if the working tree holds more than the commit. This reads every file's
    /// metadata (seconds on a 100,000-file site), so it starts once the plan is out and runs beside the
    /// uploads; started earlier, it slowed the planning down by competing for the disk and the CPU.
    fn start(s: &Session, opts: &PublishOpts, commit: &str) -> DirtyCheck {
        let dir = &s.config.source.dir;
        let publishes_head = opts.rev.is_none()
            && s.config.source.snapshot.is_none()
            && s.repo.resolve_commit("HEAD").ok().as_deref() == Some(commit);
        DirtyCheck {
            check: publishes_head
                .then(|| s.repo.start_uncommitted_count(dir))
                .flatten(),
            dir: dir.clone(),
        }
    }

    fn report(self, ui: &Ui) {
        let Some(check) = self.check else {
            return;
        };
        let shown = if self.dir.is_empty() {
            "the working tree"
        } else {
            self.dir.as_str()
        };
        match check.wait() {
            Some(0) => {}
            Some(dirty) => ui.warn(&format!(
                "{} in {shown} {} not published (git-publish publishes commits; commit them first)",
                crate::ui::count(dirty as u64, "uncommitted change", "uncommitted changes"),
                if dirty == 1 { "is" } else { "are" }
            )),
            // Without `git` on PATH (or when it fails) the check can't be made: say so rather than nothing.
            None => ui.warn(&format!(
                "could not check {shown} for uncommitted changes (`git status` did not run: is git on PATH?); \
                 only what is committed is published"
            )),
        }
    }
}
