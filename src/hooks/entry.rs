//! The entry points the shims run, `git-publish hook {pre-push,reference-transaction,publish}`. Pre-push
//! either records what this `git push` sends to the site branch (and, with `--previews`, to every other
//! branch, a deletion as the zero id) and arms `reference-transaction` (post-push mode) or publishes before
//! the push proceeds (pre-push mode: not for a dry run, which it tells from the command line of the
//! `git push` above it, and when it can't tell, it aborts the push); reference-transaction publishes when a
//! remote-tracking ref moved to the very commit that the same `git push` recorded for its branch (or, for a
//! recorded deletion, went), and reports and records a publish it can't start; publish is the background
//! process. A hook's stdout is git's stdout, so everything here prints to stderr. It reads hook input and
//! records; how to publish a pushed commit is `after_push`'s, and the files are `shim`'s and `arm`'s.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::after_push::{failed_after_push, is_zero, run_job, Job};
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
    write_push_record, BranchPush, Failure, PushRecord,
};
use crate::source::Repo;
use crate::ui::Ui;

/// `git-publish hook NAME …`, run by the shims.
pub async fn hook(cwd: &Path, ui: Ui, a: HookArgs) -> Result<i32> {
    stdout_to_stderr()?;
    match a.hook {
        HookName::PrePush => pre_push(cwd, ui, &a).await,
        HookName::ReferenceTransaction => reference_transaction(cwd, ui, &a).await,
        HookName::Publish => {
            let commit = a.args.first().cloned().unwrap_or_default();
            let job = match &a.preview {
                Some(branch) => Job::Preview(BranchPush {
                    branch: branch.clone(),
                    commit,
                }),
                None => Job::Site(commit),
            };
            Ok(publish_after_push(cwd, ui, &a, &[job]).await)
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

async fn pre_push(cwd: &Path, ui: Ui, a: &HookArgs) -> Result<i32> {
    let lines = read_push_lines(std::io::stdin().lock())?;
    let site_ref = format!("refs/heads/{}", a.branch);
    let mut site = lines.iter().find(|l| l.remote_ref == site_ref);
    let previews = preview_pushes(a, &lines);
    if site.is_none() && previews.is_empty() {
        return Ok(exit::OK);
    }
    if site.is_some_and(|l| is_zero(&l.local_sha)) {
        ui.note(&format!(
            "deleting {} on the remote does not unpublish anything",
            a.branch
        ));
        site = None;
    }
    let remote_name = a.args.first().map(String::as_str).unwrap_or("");
    let repo = Repo::open(cwd)?;
    let specs = repo.remote_fetch_refspecs(remote_name);
    if remote_name != a.remote {
        // Previews follow the hooks' remote only; a push of other branches elsewhere is no news.
        if site.is_some() {
            note_other_remote(&ui, a, remote_name, specs.is_some());
        }
        return Ok(exit::OK);
    }
    let mut jobs: Vec<Job> = site
        .map(|l| Job::Site(l.local_sha.clone()))
        .into_iter()
        .collect();
    jobs.extend(previews.into_iter().map(Job::Preview));
    match a.mode {
        HookMode::PostPush => {
            let specs = specs.unwrap_or_default();
            jobs.retain(|job| confirmable(&ui, a, &specs, job));
            if jobs.is_empty() {
                return Ok(exit::OK);
            }
            record_push(a, &repo, &jobs)?;
            arm(&ui, &shim_dir(cwd, a)?)?;
            Ok(exit::OK)
        }
        HookMode::PrePush => publish_before_push(cwd, ui, a, &jobs).await,
    }
}

/// With `--previews`: the branches other than the site branch that this push sends (or deletes).
fn preview_pushes(a: &HookArgs, lines: &[PushLine]) -> Vec<BranchPush> {
    if !a.previews {
        return Vec::new();
    }
    lines
        .iter()
        .filter_map(|l| {
            let branch = l.remote_ref.strip_prefix("refs/heads/")?;
            (branch != a.branch).then(|| BranchPush {
                branch: branch.to_string(),
                commit: l.local_sha.clone(),
            })
        })
        .collect()
}

/// Post-push mode: whether the push of `job`'s branch can be confirmed (the remote-tracking ref follows it);
/// if not, say so.
fn confirmable(ui: &Ui, a: &HookArgs, specs: &[String], job: &Job) -> bool {
    let branch = job.preview().unwrap_or(&a.branch);
    if maps_to_tracking(specs, &a.remote, branch) {
        return true;
    }
    let what = match job {
        Job::Site(_) => "published".to_string(),
        Job::Preview(_) => "given a preview".to_string(),
    };
    ui.note(&format!(
        "remote {} has no remote-tracking ref for {}, so this push can't be confirmed and is not {what}; use `git publish push`",
        a.remote,
        crate::quote::quote_path(branch)
    ));
    false
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

/// Post-push mode: record what this `git push` sends (then pre-push arms reference-transaction to see it
/// land).
fn record_push(a: &HookArgs, repo: &Repo, jobs: &[Job]) -> Result<()> {
    let pid = push_pid(a);
    remove_stale_push_records(repo);
    let site = jobs.iter().find_map(|j| match j {
        Job::Site(c) => Some(c.as_str()),
        Job::Preview(_) => None,
    });
    let previews = jobs
        .iter()
        .filter_map(|j| match j {
            Job::Preview(p) => Some(p.clone()),
            Job::Site(_) => None,
        })
        .collect();
    let rec = PushRecord::new(pid, &a.remote, &a.branch, site, previews);
    write_push_record(repo, pid, &rec)
}

/// Pre-push mode: carry out `jobs` now; a failure aborts the push (the exit code is the first error's).
async fn publish_before_push(cwd: &Path, ui: Ui, a: &HookArgs, jobs: &[Job]) -> Result<i32> {
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
    for job in jobs {
        if let Err(e) = run_job(&s, job).await {
            let code = crate::error::report(&e);
            crate::ui::stderr_line(&format!(
                "git-publish: the push is aborted because {} failed; fix it and push again, or push without publishing: git push --no-verify",
                super::after_push::what_failed(&failure(job, None, &e))
            ));
            return Ok(code);
        }
    }
    Ok(exit::OK)
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
    let site_new = a.args.first().filter(|id| !is_zero(id));
    let moved = if a.previews {
        tracking_moves(a, std::io::stdin().lock())
    } else {
        Vec::new()
    };
    if site_new.is_none() && moved.is_empty() {
        return Ok(exit::OK);
    }
    // The shim found this push's record: from here on, a publish that can't run is reported as such.
    let repo = match Repo::open(cwd) {
        Ok(repo) => repo,
        Err(e) => {
            let job = Job::Site(site_new.cloned().unwrap_or_default());
            return Ok(failed_after_push(
                None,
                &failure(&job, None, &e),
                &e,
                closing(&job),
            ));
        }
    };
    let (jobs, done) = take_record(&repo, a, site_new.map(String::as_str), &moved);
    if jobs.is_empty() {
        return Ok(exit::OK);
    }
    if done {
        if let Ok(dir) = shim_dir(cwd, a) {
            disarm(&ui, &repo, &dir);
        }
    }
    if a.background {
        let mut code = exit::OK;
        for job in &jobs {
            let c = spawn_background(&repo, a, job, &ui).unwrap_or_else(|e| {
                failed_after_push(Some(&repo), &failure(job, None, &e), &e, closing(job))
            });
            code = code.max(c);
        }
        return Ok(code);
    }
    Ok(publish_after_push(cwd, ui, a, &jobs).await)
}

/// With `--previews`: the remote-tracking refs of other branches that this transaction (reference-transaction's
/// input, `<old> <new> <ref>` lines) moved or deleted, as (branch, new id).
fn tracking_moves(a: &HookArgs, input: impl BufRead) -> Vec<BranchPush> {
    let prefix = format!("refs/remotes/{}/", a.remote);
    input
        .lines()
        .map_while(std::result::Result::ok)
        .filter_map(|line| {
            let mut f = line.split(' ');
            let (_old, new, name) = (f.next()?, f.next()?, f.next()?);
            let branch = name.strip_prefix(&prefix)?;
            (branch != a.branch && branch != "HEAD").then(|| BranchPush {
                branch: branch.to_string(),
                commit: new.to_string(),
            })
        })
        .collect()
}

/// What a hook's publish of `job` says last when it failed after its push.
fn closing(job: &Job) -> &'static str {
    match job {
        Job::Site(_) => {
            "the site is NOT up to date; `git publish status` shows it, `git publish retry` finishes it"
        }
        Job::Preview(_) => {
            "the preview is NOT up to date; `git publish status` shows it, `git publish retry` finishes it"
        }
    }
}

/// The record of `job` (publishing to `target`, when known) that failed after its push with `e`.
fn failure(job: &Job, target: Option<String>, e: &Error) -> Failure {
    Failure {
        target,
        commit: job.commit().to_string(),
        error: e.to_string(),
        // The session may not have opened (that may be the failure): read the clock directly.
        at: crate::clock::Clock::from_env()
            .unwrap_or_default()
            .rfc3339(),
        preview: job.preview().map(str::to_string),
    }
}

/// What of this `git push`'s record the moved refs take: the site branch when its remote-tracking ref moved
/// to the recorded commit (`site_new`), and each other branch whose remote-tracking ref moved to its recorded
/// commit, or went for a recorded deletion. Taken entries leave the record, so that each is published once
/// (git may report a deletion twice, for a loose and a packed ref); the record goes when nothing is left, and
/// then `done` is true. A record left by an earlier process with the same pid is removed.
fn take_record(
    repo: &Repo,
    a: &HookArgs,
    site_new: Option<&str>,
    moved: &[BranchPush],
) -> (Vec<Job>, bool) {
    let pid = push_pid(a);
    let Some(mut rec) = read_push_record(repo, pid) else {
        return (Vec::new(), false);
    };
    if !rec.written_by(pid) || rec.remote != a.remote || rec.branch != a.branch {
        remove_push_record(repo, pid);
        return (Vec::new(), false);
    }
    let mut jobs = Vec::new();
    if site_new.is_some() && rec.commit.as_deref() == site_new {
        jobs.extend(rec.commit.take().map(Job::Site));
    }
    for m in moved {
        let landed = |p: &BranchPush| p.branch == m.branch && (p.commit == m.commit);
        if let Some(at) = rec.previews.iter().position(landed) {
            jobs.push(Job::Preview(rec.previews.remove(at)));
        }
    }
    if jobs.is_empty() {
        return (jobs, false);
    }
    if rec.is_empty() {
        remove_push_record(repo, pid);
        return (jobs, true);
    }
    // Best effort: if the rewrite fails, a later transaction of this push finds these again, and the
    // publish after it is a no-op for what is already live.
    let _ = write_push_record(repo, pid, &rec);
    (jobs, false)
}

/// Carry out `jobs` after their push succeeded. A failure can't fail the push any more: say so, record it
/// for `git publish status`, and name the command that finishes the job. Returns the first failure's exit
/// code.
async fn publish_after_push(cwd: &Path, ui: Ui, a: &HookArgs, jobs: &[Job]) -> i32 {
    let s = match Session::open(cwd, site_config(a), ui) {
        Ok(s) => s,
        Err(e) => {
            let repo = Repo::open(cwd).ok();
            let mut code = exit::OK;
            for job in jobs {
                let c = failed_after_push(repo.as_ref(), &failure(job, None, &e), &e, closing(job));
                code = code.max(c);
            }
            return code;
        }
    };
    let target = s.config.target(None).ok().map(|t| t.name.clone());
    let mut code = exit::OK;
    for job in jobs {
        if let Err(e) = run_job(&s, job).await {
            let f = failure(job, target.clone(), &e);
            let c = failed_after_push(Some(&s.repo), &f, &e, closing(job));
            if code == exit::OK {
                code = c;
            }
        }
    }
    code
}
