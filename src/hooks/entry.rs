//! The entry points the shims run, `git-publish hook {pre-push,reference-transaction,publish}`. Pre-push
//! either records what this `git push` sends to the site branch and arms `reference-transaction`
//! (post-push mode) or publishes before the push proceeds (pre-push mode: not for a dry run, which it tells
//! from the command line of the `git push` above it, and when it can't tell, it aborts the push);
//! reference-transaction publishes when the remote-tracking ref moved to the very commit that the same
//! `git push` recorded, and reports and records a publish it can't start; publish is the background
//! process. A hook's stdout is git's stdout, so everything here prints to stderr. It reads hook input and
//! records; how to publish a pushed commit is `after_push`'s, and the files are `shim`'s and `arm`'s.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::after_push::{failed_after_push, publish_pushed};
use super::argv;
use super::arm::{arm, disarm};
use super::install::maps_to_tracking;
use super::shim::hooks_dir;
use super::spawn::spawn_background;
use crate::cli::{HookArgs, HookMode, HookName};
use crate::error::{exit, Error, Result};
use crate::publish::Session;
use crate::records::{
    process_args, process_parent, read_push_record, remove_push_record, remove_stale_push_records,
    write_push_record, Failure, PushRecord,
};
use crate::source::Repo;
use crate::state;
use crate::ui::Ui;

/// `git-publish hook NAME …`, run by the shims.
pub async fn hook(cwd: &Path, ui: Ui, a: HookArgs) -> Result<i32> {
    stdout_to_stderr()?;
    match a.hook {
        HookName::PrePush => pre_push(cwd, ui, &a).await,
        HookName::ReferenceTransaction => reference_transaction(cwd, ui, &a).await,
        HookName::Publish => {
            let commit = a.args.first().cloned().unwrap_or_default();
            Ok(publish_after_push(cwd, ui, &a, &commit).await)
        }
    }
}

/// A hook's stdout is git's stdout: point ours at stderr, so that everything we print goes there.
fn stdout_to_stderr() -> Result<()> {
    crate::os::stdout_to_stderr().map_err(|e| Error::io("sending stdout to stderr", e))
}

fn site_config(a: &HookArgs) -> Option<PathBuf> {
    (!a.site_config.is_empty()).then(|| PathBuf::from(&a.site_config))
}

/// The `git push` process the shim runs under (its parent), unless the shim said.
fn push_pid(a: &HookArgs) -> u32 {
    a.pid.unwrap_or_else(crate::os::parent_pid)
}

/// The directory the shim ran from, or where git says hooks are.
fn shim_dir(cwd: &Path, a: &HookArgs) -> Result<PathBuf> {
    match &a.hooks_dir {
        Some(d) => Ok(cwd.join(d)),
        None => hooks_dir(cwd),
    }
}

// ---- pre-push ---------------------------------------------------------------------------------------------

/// One line of pre-push's input: `<local ref> <local sha> <remote ref> <remote sha>`.
struct PushLine {
    local_sha: String,
    remote_ref: String,
}

fn read_push_lines(input: impl BufRead) -> Result<Vec<PushLine>> {
    let mut lines = Vec::new();
    for line in input.lines() {
        let line = line.map_err(|e| Error::io("reading pre-push's input", e))?;
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 4 {
            lines.push(PushLine {
                local_sha: f[1].to_string(),
                remote_ref: f[2].to_string(),
            });
        }
    }
    Ok(lines)
}

fn is_zero(sha: &str) -> bool {
    sha.bytes().all(|b| b == b'0')
}

async fn pre_push(cwd: &Path, ui: Ui, a: &HookArgs) -> Result<i32> {
    let lines = read_push_lines(std::io::stdin().lock())?;
    let site_ref = format!("refs/heads/{}", a.branch);
    let Some(line) = lines.iter().find(|l| l.remote_ref == site_ref) else {
        return Ok(exit::OK);
    };
    if is_zero(&line.local_sha) {
        ui.note(&format!(
            "deleting {} on the remote does not unpublish anything",
            a.branch
        ));
        return Ok(exit::OK);
    }
    let remote_name = a.args.first().map(String::as_str).unwrap_or("");
    let repo = Repo::open(cwd)?;
    let specs = repo.remote_fetch_refspecs(remote_name);
    if remote_name != a.remote {
        note_other_remote(&ui, a, remote_name, specs.is_some());
        return Ok(exit::OK);
    }
    match a.mode {
        HookMode::PostPush => {
            if !specs.is_some_and(|s| maps_to_tracking(&s, &a.remote, &a.branch)) {
                ui.note(&format!(
                    "remote {} has no remote-tracking ref for {}, so this push can't be confirmed and is not published; use `git publish push`",
                    a.remote, a.branch
                ));
                return Ok(exit::OK);
            }
            record_push(cwd, &ui, a, &repo, &line.local_sha)?;
            Ok(exit::OK)
        }
        HookMode::PrePush => publish_before_push(cwd, ui, a, &line.local_sha).await,
    }
}

/// A push of the site branch to another remote or to a URL is not published: say how to publish it.
fn note_other_remote(ui: &Ui, a: &HookArgs, remote_name: &str, is_remote: bool) {
    let what = if is_remote {
        format!(
            "to remote {remote_name} (the hooks publish pushes to {})",
            a.remote
        )
    } else {
        "to a URL".to_string()
    };
    ui.note(&format!(
        "this push of {} goes {what}: it is not published; to push and publish use `git publish push {} ...`",
        a.branch,
        a.args.get(1).map(String::as_str).unwrap_or(remote_name)
    ));
}

/// Post-push mode: record that this `git push` sends `commit`, and arm reference-transaction to see it land.
fn record_push(cwd: &Path, ui: &Ui, a: &HookArgs, repo: &Repo, commit: &str) -> Result<()> {
    let pid = push_pid(a);
    remove_stale_push_records(repo);
    let rec = PushRecord::new(pid, &a.remote, &a.branch, commit);
    write_push_record(repo, pid, &rec)?;
    arm(ui, &shim_dir(cwd, a)?)
}

/// Pre-push mode: publish `commit` now; a failure aborts the push (the exit code is the error's).
async fn publish_before_push(cwd: &Path, ui: Ui, a: &HookArgs, commit: &str) -> Result<i32> {
    match push_is_dry_run(cwd, push_pid(a)) {
        Ok(false) => {}
        Ok(true) => {
            ui.note("dry run: not publishing");
            return Ok(exit::OK);
        }
        Err(why) => {
            eprintln!(
                "git-publish: can't tell whether this push is a dry run ({}): not publishing, and the push is aborted; push and publish with `git publish push …`, or push without publishing: git push --no-verify",
                crate::quote::scrub(&why)
            );
            return Ok(exit::RUNTIME);
        }
    }
    let s = Session::open(cwd, site_config(a), ui)?;
    match publish_pushed(&s, commit).await {
        Ok(()) => Ok(exit::OK),
        Err(e) => {
            let code = crate::error::report(&e);
            crate::ui::stderr_line(&format!(
                "git-publish: the push is aborted because publishing {} failed; fix it and push again, or push without publishing: git push --no-verify",
                state::short(commit)
            ));
            Ok(code)
        }
    }
}

/// Whether the `git push` running this hook is a dry run, from its command line: that of `pid` (the shim's
/// parent), or of the nearest `git` above it when another tool's hook runs ours. An error when it can't be
/// told (the command line can't be read, or not as git reads it).
fn push_is_dry_run(cwd: &Path, pid: u32) -> std::result::Result<bool, String> {
    let mut pid = pid;
    for _ in 0..8 {
        let argv = process_args(pid)
            .ok_or_else(|| format!("the command line of process {pid} can't be read"))?;
        if let Some(args) = argv::push_args(&argv, |name| git_alias(cwd, name)) {
            return argv::is_dry_run(&args);
        }
        if argv
            .first()
            .is_some_and(|p| p.rsplit('/').next() == Some("git"))
        {
            return Err(format!("`{}` is not a git push", argv.join(" ")));
        }
        pid = process_parent(pid)
            .filter(|p| *p > 1)
            .ok_or("no git push runs this hook")?;
    }
    Err("no git push runs this hook".into())
}

/// `alias.<name>` as git sees it here (the hook inherits the `git -c` settings of its git push).
fn git_alias(cwd: &Path, name: &str) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["config", "--get", &format!("alias.{name}")])
        .current_dir(cwd)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .trim_end_matches('\n')
            .to_string()
    })
}

// ---- reference-transaction and the background publish -----------------------------------------------------

async fn reference_transaction(cwd: &Path, ui: Ui, a: &HookArgs) -> Result<i32> {
    let Some(new) = a.args.first() else {
        return Ok(exit::OK);
    };
    // The shim found this push's record: from here on, a publish that can't run is reported as such.
    let repo = match Repo::open(cwd) {
        Ok(repo) => repo,
        Err(e) => {
            return Ok(failed_after_push(
                None,
                &failure(new, None, &e),
                &e,
                CLOSING,
            ))
        }
    };
    if !take_record(&repo, a, new) {
        return Ok(exit::OK);
    }
    if let Ok(dir) = shim_dir(cwd, a) {
        disarm(&ui, &repo, &dir);
    }
    if a.background {
        return Ok(spawn_background(&repo, a, new, &ui).unwrap_or_else(|e| {
            failed_after_push(Some(&repo), &failure(new, None, &e), &e, CLOSING)
        }));
    }
    Ok(publish_after_push(cwd, ui, a, new).await)
}

/// What a hook's publish says last when it failed after its push.
const CLOSING: &str =
    "the site is NOT up to date; `git publish status` shows it, `git publish retry` finishes it";

/// The record of a publish of `commit` (to `target`, when known) that failed after its push with `e`.
fn failure(commit: &str, target: Option<String>, e: &Error) -> Failure {
    Failure {
        target,
        commit: commit.to_string(),
        error: e.to_string(),
        // The session may not have opened (that may be the failure): read the clock directly.
        at: crate::clock::Clock::from_env()
            .unwrap_or_default()
            .rfc3339(),
    }
}

/// Whether this `git push` recorded a push of `new` to the site branch; consumes the record, so that a
/// push publishes once. A record left by an earlier process with the same pid is removed.
fn take_record(repo: &Repo, a: &HookArgs, new: &str) -> bool {
    let pid = push_pid(a);
    let Some(rec) = read_push_record(repo, pid) else {
        return false;
    };
    if !rec.written_by(pid) || rec.remote != a.remote || rec.branch != a.branch {
        remove_push_record(repo, pid);
        return false;
    }
    if rec.commit != new {
        return false;
    }
    remove_push_record(repo, pid);
    true
}

/// Publish `commit` after its push succeeded. A failure can't fail the push any more: say so, record it for
/// `git publish status`, and name the command that finishes the job.
async fn publish_after_push(cwd: &Path, ui: Ui, a: &HookArgs, commit: &str) -> i32 {
    let s = match Session::open(cwd, site_config(a), ui) {
        Ok(s) => s,
        Err(e) => {
            let repo = Repo::open(cwd).ok();
            return failed_after_push(repo.as_ref(), &failure(commit, None, &e), &e, CLOSING);
        }
    };
    let target = s.config.target(None).ok().map(|t| t.name.clone());
    match publish_pushed(&s, commit).await {
        Ok(()) => exit::OK,
        Err(e) => failed_after_push(Some(&s.repo), &failure(commit, target, &e), &e, CLOSING),
    }
}
