//! Publishing a commit that a push sent, shared by the hook entry points, `git publish push` and `retry`:
//! which options a pushed commit is published with, where it stands against what is live (a commit that
//! live already contains goes back, and `publish` records it as a rollback), forgetting a recorded failure that a
//! publish covers, and reporting (and recording) a publish that failed after its push succeeded. It reads no
//! hook input and runs no git command; the callers decide when to publish.

use crate::error::{Error, Result};
use crate::exec::backends::backends;
use crate::publish::{self, Session};
use crate::records::{clear_failure_if_covered, write_failure, Failure};
use crate::settings::{publish_opts, Invocation, PublishOpts};
use crate::source::Repo;
use crate::state;

/// What a hook publishes for the pushed `commit`. With snapshot builds, a pushed source commit that has no
/// snapshot yet is built, as `git publish` would, when it is what is checked out; otherwise publish names the
/// snapshot to fetch or build.
pub fn hook_opts(s: &Session, commit: &str) -> PublishOpts {
    let build_now = s.config.source.snapshot.as_ref().is_some_and(|cfg| {
        s.repo.snapshot_info(commit).is_none()
            && s.repo.snapshot_of(&cfg.snapshot_ref, commit).is_none()
            && s.repo
                .resolve_commit("HEAD")
                .is_ok_and(|head| head == commit)
    });
    publish_opts(Invocation::Hook {
        rev: (!build_now).then(|| commit.to_string()),
    })
}

/// Where a commit stands against what a target has live.
#[derive(Debug, PartialEq, Eq)]
pub enum Standing {
    /// Nothing is live, or live is an ancestor of the commit: publishing it goes forward.
    Forward,
    /// Live is the commit or a descendant of it: publishing it goes back (a rollback), or changes nothing.
    Contained { live: String },
    /// Live is neither (another line of history, or a commit this clone doesn't have).
    Elsewhere { live: String },
}

/// Where `commit` stands against `live`.
pub fn standing(repo: &Repo, commit: &str, live: Option<&str>) -> Standing {
    let Some(live) = live else {
        return Standing::Forward;
    };
    let live = live.to_string();
    match repo.ahead_behind(commit, &live) {
        _ if live == commit => Standing::Contained { live },
        Some((0, _)) => Standing::Contained { live },
        Some((_, 0)) => Standing::Forward,
        _ => Standing::Elsewhere { live },
    }
}

/// What `target` (None: the default) has live, read from the target: the source commit a live snapshot was
/// built from, else the deployed commit (what `git publish status` compares). An error when the target
/// can't be read.
pub async fn live_commit(s: &Session, target: Option<&str>) -> Result<Option<String>> {
    let target = s.config.target(target)?;
    let backends = backends(target, false, &|n| s.ui.say(n)).await?;
    // Where the record is kept (`state = …`), as every reader of it does.
    let (st, _) = state::read_for(&backends, target).await?;
    Ok(st.and_then(|st| st.deployed).map(|d| {
        d.source_commit
            .or_else(|| s.repo.snapshot_info(&d.commit).and_then(|i| i.source))
            .unwrap_or(d.commit)
    }))
}

/// Publish `commit`, which a push sent, to the default target. A commit that live already contains (a
/// force-push back to an ancestor) is published as a rollback: the publish decides it from the state it reads
/// anyway (`PublishOpts::pushed`), so a push costs no extra read of the target.
pub async fn publish_pushed(s: &Session, commit: &str) -> Result<()> {
    publish_and_clear(s, &hook_opts(s, commit)).await
}

/// Publish with `opts`; on success, forget a recorded failure that this publish covers.
pub async fn publish_and_clear(s: &Session, opts: &PublishOpts) -> Result<()> {
    let r = publish::publish(s, opts).await?;
    clear_failure_if_covered(&s.repo, &r.target, &r.commit, r.dry_run);
    Ok(())
}

/// A publish failed after its push succeeded, which it can't fail any more: say so, print the error, record
/// the failure (in `repo`, when there is one) for `git publish status`, and end with `closing`, which names
/// the command that finishes the job. Returns the error's exit code.
pub fn failed_after_push(repo: Option<&Repo>, failure: &Failure, e: &Error, closing: &str) -> i32 {
    crate::ui::stderr_line(&format!(
        "git-publish: the push succeeded, but publishing {} failed:",
        state::short(&failure.commit)
    ));
    let code = crate::error::report(e);
    if let Some(repo) = repo {
        write_failure(repo, failure);
    }
    crate::ui::stderr_line(&format!("git-publish: {closing}"));
    code
}
