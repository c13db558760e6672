//! Publishing a commit that a push sent, shared by the hook entry points, `git publish push` and `retry`:
//! which options a pushed commit is published with, where it stands against what is live (a commit that
//! live already contains goes back, and `publish` records it as a rollback), forgetting a recorded failure that a
//! publish covers, and reporting (and recording) a publish that failed after its push succeeded. It reads no
//! hook input and runs no git command; the callers decide when to publish.

use crate::backends::backends;
use crate::error::{Error, Result};
use crate::preview;
use crate::publish::{self, previews, Session};
use crate::records::{
    clear_failure_if_covered, clear_preview_failure_if_covered, write_failure, BranchPush, Failure,
};
use crate::settings::{publish_opts, Invocation, PreviewOpts, PublishOpts};
use crate::source::Repo;
use crate::state;

/// What a push asks of the default target: publish the site branch's new commit, or (with
/// `install --previews`) publish another branch's preview, or remove it when the zero id says the branch was
/// deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    Site(String),
    Preview(BranchPush),
}

impl Job {
    /// `publishing abc1234`, `publishing the preview of branch B (abc1234)`, … ([`describe`]).
    pub fn describe(&self) -> String {
        describe(self.commit(), self.preview())
    }

    pub fn commit(&self) -> &str {
        match self {
            Job::Site(c) => c,
            Job::Preview(p) => &p.commit,
        }
    }

    /// The preview's branch, for a preview's job.
    pub fn preview(&self) -> Option<&str> {
        match self {
            Job::Site(_) => None,
            Job::Preview(p) => Some(&p.branch),
        }
    }
}

/// Whether `id` is git's zero id (a deleted ref).
pub fn is_zero(id: &str) -> bool {
    id.bytes().all(|b| b == b'0')
}

/// What a hook publishes for the pushed `commit` (to `preview`'s space, for a branch's preview). With
/// snapshot builds, a pushed source commit that has no snapshot yet is built, as `git publish` would, when it
/// is what is checked out; otherwise publish names the snapshot to fetch or build.
pub fn hook_opts(s: &Session, commit: &str, preview: Option<PreviewOpts>) -> PublishOpts {
    let build_now = s.config.source.snapshot.as_ref().is_some_and(|cfg| {
        s.repo.snapshot_info(commit).is_none()
            && s.repo.snapshot_of(&cfg.snapshot_ref, commit).is_none()
            && s.repo
                .resolve_commit("HEAD")
                .is_ok_and(|head| head == commit)
    });
    publish_opts(Invocation::Hook {
        rev: (!build_now).then(|| commit.to_string()),
        preview,
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
    let (st, _) = state::read_for(backends.stores(), target).await?;
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
    publish_and_clear(s, &hook_opts(s, commit, None)).await
}

/// Carry out `job`: publish the site branch's commit ([`publish_pushed`]), or a branch's preview
/// ([`publish_preview_pushed`]).
pub async fn run_job(s: &Session, job: &Job) -> Result<()> {
    match job {
        Job::Site(commit) => publish_pushed(s, commit).await,
        Job::Preview(p) => publish_preview_pushed(s, &p.branch, &p.commit).await,
    }
}

/// Publish the preview of `branch`, which a push sent `commit` to, in the default target's preview space
/// (its URL first, as `git publish preview` prints it); or, for the zero id (the branch was deleted on the
/// remote), remove the preview, if it has one. On success, forget a recorded failure that this covers.
pub async fn publish_preview_pushed(s: &Session, branch: &str, commit: &str) -> Result<()> {
    let t = s.config.target(None)?;
    let name = preview::name_for(branch);
    if is_zero(commit) {
        if previews::remove(s, t, &name, Some(branch), false)
            .await?
            .is_none()
        {
            s.ui.note(&format!(
                "branch {} was deleted; target {} has no preview of it to remove",
                crate::quote::quote_path(branch),
                t.name
            ));
        }
        clear_preview_failure_if_covered(&s.repo, branch, None);
        return Ok(());
    }
    let opts = hook_opts(
        s,
        commit,
        Some(PreviewOpts {
            name: name.clone(),
            branch: branch.to_string(),
        }),
    );
    previews::before_publish(s, t, &name, false).await?;
    let url = previews::url_of(t, &name).await;
    let quoted = crate::quote::quote_path(branch);
    publish::publish_then(s, &opts, |_| {
        s.ui.note(&format!("preview {name} of branch {quoted}: {url}"));
    })
    .await?;
    clear_preview_failure_if_covered(&s.repo, branch, Some(commit));
    Ok(())
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
        "git-publish: the push succeeded, but {} failed:",
        what_failed(failure)
    ));
    let code = crate::error::report(e);
    if let Some(repo) = repo {
        write_failure(repo, failure);
    }
    crate::ui::stderr_line(&format!("git-publish: {closing}"));
    code
}

/// What publishing `commit` (for branch `preview`'s preview, if given) does: `publishing abc1234`,
/// `publishing the preview of branch B (abc1234)`, or, for the zero id, `removing the preview of branch B`.
pub fn describe(commit: &str, preview: Option<&str>) -> String {
    let short = state::short(commit);
    match preview {
        None => format!("publishing {short}"),
        Some(b) if is_zero(commit) => format!(
            "removing the preview of branch {}",
            crate::quote::quote_path(b)
        ),
        Some(b) => format!(
            "publishing the preview of branch {} ({short})",
            crate::quote::quote_path(b)
        ),
    }
}

/// What a recorded failure was doing ([`describe`]).
pub fn what_failed(f: &Failure) -> String {
    describe(&f.commit, f.preview.as_deref())
}
