//! Publishing a commit that a push sent, shared by the hook entry points, `git publish push` and `retry`:
//! which options a pushed commit is published with, forgetting a recorded failure that a publish covers,
//! and reporting (and recording) a publish that failed after its push succeeded. It reads no hook input and
//! runs no git command; the callers decide when to publish.

use crate::error::{Error, Result};
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
