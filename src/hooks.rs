//! Publish on push: `git-publish install`/`uninstall`, the entry points of the hook shims, and `git publish push`.
//!
//! Git has no post-push hook. In the default mode two tiny shell shims (in `hooks/`, embedded here) stand in
//! for one: `pre-push` records what a `git push` is about to send to the site branch, keyed by that `git push`
//! process (the shims' parent); `reference-transaction`, in state `committed`, sees the remote-tracking ref of
//! the site branch move and, when the same `git push` left a record for that very commit, publishes it. Fetches,
//! dry runs, rejected and up-to-date pushes leave no matching pair, so they publish nothing. The shims decide in
//! shell, without starting this binary, for every ref update that can't be a push of the site branch.
//!
//! Git starts `reference-transaction` for every ref update, a few times per commit, and starting any hook costs
//! git about as much as a small commit. So, unless a user's `reference-transaction` hook is chained through ours,
//! the shim is kept disarmed as `reference-transaction.git-publish`: pre-push copies it into place ([`arm`]) for a
//! push of the site branch, and it is removed again once no push is in flight ([`disarm`], and the shim itself
//! after a rejected or dry-run push). Git looks a hook up each time it runs it, so the `git push` whose pre-push
//! armed it runs it for its own remote-tracking ref update (checked with git 2.39 and 2.47).
//!
//! This module edits only files it owns (marked with [`MARKER`]); a user's hook is moved aside next to ours and
//! run first with the same arguments and input. It never runs git in another repository, and hook output goes
//! to stderr (a hook's stdout is git's stdout).

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::cli::{HookArgs, HookMode, InstallArgs};
use crate::error::{exit, Error, Result};
use crate::os;
use crate::publish::{self, PublishOpts, Report, Session};
use crate::records::{clear_failure_if_covered, read_failure, records_dir, write_failure, Failure};
use crate::settings::{publish_opts, Invocation};
use crate::source::Repo;
use crate::state;
use crate::ui::Ui;

/// Marks the files git-publish wrote, so that reinstall and uninstall touch only those.
pub const MARKER: &str = "# git-publish: managed hook";
/// Suffix of a user's hook moved aside by `install` (and put back by `uninstall`).
pub const ORIG_SUFFIX: &str = ".git-publish-orig";

const PRE_PUSH: &str = include_str!("../hooks/pre-push");
const REFERENCE_TRANSACTION: &str = include_str!("../hooks/reference-transaction");

/// Suffix of the copy of the `reference-transaction` shim that pre-push arms it from (see [`arm`]).
pub const ARMED_FROM_SUFFIX: &str = ".git-publish";

/// Set by `git publish push` for its `git push`: the hooks then leave publishing to it.
const SKIP_ENV: &str = "GIT_PUBLISH_SKIP_HOOKS";

// ---- install / uninstall --------------------------------------------------------------------------------

struct Shim {
    name: &'static str,
    template: &'static str,
}

const SHIMS: [Shim; 2] = [
    Shim {
        name: "pre-push",
        template: PRE_PUSH,
    },
    Shim {
        name: "reference-transaction",
        template: REFERENCE_TRANSACTION,
    },
];

/// What the shims are told at install time.
struct Settings {
    bin: PathBuf,
    mode: HookMode,
    remote: String,
    branch: String,
    background: bool,
    config: Option<PathBuf>,
}

impl Settings {
    fn render(&self, template: &str) -> String {
        let mode = match self.mode {
            HookMode::PostPush => "post-push",
            HookMode::PrePush => "pre-push",
        };
        template
            .replace("@BIN@", &sh_quote(&os::shell_path(&self.bin)))
            .replace("@MODE@", mode)
            .replace("@REMOTE@", &sh_quote(&self.remote))
            .replace("@BRANCH@", &sh_quote(&self.branch))
            .replace("@BACKGROUND@", if self.background { "1" } else { "0" })
            .replace(
                "@CONFIG@",
                &sh_quote(
                    &self
                        .config
                        .as_ref()
                        .map(|p| os::shell_path(p))
                        .unwrap_or_default(),
                ),
            )
    }

    fn needs(&self, hook: &str) -> bool {
        hook == "pre-push" || self.mode == HookMode::PostPush
    }
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `git rev-parse --path-format=absolute --git-path hooks`: honours core.hooksPath, shared by linked worktrees.
pub fn hooks_dir(cwd: &Path) -> Result<PathBuf> {
    let out = Command::new("git")
        .args(["rev-parse", "--path-format=absolute", "--git-path", "hooks"])
        .current_dir(cwd)
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| Error::io("running `git rev-parse` (is git on PATH?)", e))?;
    if !out.status.success() {
        return Err(Error::Git(format!(
            "git rev-parse --git-path hooks: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// `core.hooksPath` and the scope that sets it (`git config --show-scope`), if set.
fn hooks_path_setting(cwd: &Path) -> Option<(String, String)> {
    let out = Command::new("git")
        .args(["config", "--show-scope", "--get", "core.hooksPath"])
        .current_dir(cwd)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (scope, value) = text.trim_end().split_once('\t')?;
    Some((scope.to_string(), value.to_string()))
}

fn is_ours(path: &Path) -> bool {
    let mut head = [0u8; 512];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    String::from_utf8_lossy(&head[..n]).contains(MARKER)
}

fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Who else manages these hooks, if anyone: a global `core.hooksPath`, husky, lefthook or pre-commit.
fn hooks_owner(cwd: &Path, root: &Path, dir: &Path) -> Option<String> {
    if let Some((scope, value)) = hooks_path_setting(cwd) {
        if scope != "local" && scope != "worktree" {
            return Some(format!(
                "core.hooksPath = {value} is set in your {scope} git config, so every repository shares it"
            ));
        }
        if value.contains(".husky") {
            return Some(format!("husky (core.hooksPath = {value})"));
        }
    }
    for shim in &SHIMS {
        let p = dir.join(shim.name);
        if exists(&p) && !is_ours(&p) {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            for (needle, tool) in [
                ("husky", "husky"),
                ("lefthook", "lefthook"),
                ("pre-commit.com", "pre-commit"),
                ("File generated by pre-commit", "pre-commit"),
            ] {
                if text.contains(needle) {
                    return Some(format!("{tool} (it generated {})", p.display()));
                }
            }
        }
    }
    for (file, tool) in [
        ("lefthook.yml", "lefthook"),
        (".lefthook.yml", "lefthook"),
        ("lefthook.yaml", "lefthook"),
    ] {
        if root.join(file).exists() {
            return Some(format!("{tool} ({file} in the repository)"));
        }
    }
    None
}

pub fn install(s: &Session, cwd: &Path, config: Option<PathBuf>, a: &InstallArgs) -> Result<i32> {
    let dir = hooks_dir(cwd)?;
    let root = s.repo.root();
    let branch = match a
        .branch
        .clone()
        .or_else(|| s.config.source.branch.clone())
        .or_else(|| s.repo.current_branch())
    {
        Some(b) => b,
        None => {
            return Err(Error::Usage(
                "no site branch: HEAD is detached and site.toml has no source.branch; pass `--branch NAME`".into(),
            ))
        }
    };
    let remote = a
        .remote
        .clone()
        .or_else(|| s.repo.config_string(&format!("branch.{branch}.remote")))
        .unwrap_or_else(|| "origin".into());
    let Some(specs) = s.repo.remote_fetch_refspecs(&remote) else {
        return Err(Error::Usage(format!(
            "no remote `{remote}` in this repository: add it (`git remote add {remote} URL`) or pass `--remote NAME`"
        )));
    };
    if a.mode == HookMode::PostPush && !maps_to_tracking(&specs, &remote, &branch) {
        s.ui.warn(&format!(
            "remote {remote} has no fetch refspec for refs/heads/{branch} → refs/remotes/{remote}/{branch}, so a push can't be confirmed and the hooks won't publish; use `git publish push`, or `--mode pre-push`"
        ));
    }
    let bin = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| Error::io("finding the path of the git-publish binary", e))?;
    let config = config.map(|p| if p.is_absolute() { p } else { cwd.join(p) });
    let settings = Settings {
        bin,
        mode: a.mode,
        remote: remote.clone(),
        branch: branch.clone(),
        background: a.background,
        config,
    };

    if let Some(owner) = hooks_owner(cwd, &root, &dir) {
        if !a.force {
            return Err(owned_hooks_error(s, &dir, &owner, &settings));
        }
        s.ui.warn(&format!(
            "installing into {} although it is managed by {owner} (--force)",
            dir.display()
        ));
    }

    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    // Check every file first, then change.
    for shim in &SHIMS {
        let path = dir.join(shim.name);
        let orig = orig_path(&path);
        if settings.needs(shim.name) && exists(&path) && !is_ours(&path) && exists(&orig) {
            return Err(Error::Usage(format!(
                "{} exists and so does {}: git-publish won't overwrite either; move one of them away and install again",
                path.display(),
                orig.display()
            )));
        }
    }
    // Arming needs a hooks directory that only this repository (and its worktrees, which share the records)
    // uses: in a shared one (a global core.hooksPath), a ref update in another repository, which has no
    // record of our push, would disarm it. There the shim stays in place and exits early instead.
    let private = [s.repo.common_dir(), root.clone()]
        .iter()
        .filter_map(|p| p.canonicalize().ok())
        .any(|p| dir.canonicalize().is_ok_and(|d| d.starts_with(p)));
    let mut done = Vec::new();
    for shim in &SHIMS {
        let path = dir.join(shim.name);
        let orig = orig_path(&path);
        let armed_from = armed_from_path(&path);
        if settings.needs(shim.name) {
            if exists(&path) && !is_ours(&path) {
                rename(&path, &orig)?;
                s.ui.note(&format!(
                    "your {} hook now runs first from {}",
                    shim.name,
                    orig.display()
                ));
            }
            let text = settings.render(shim.template);
            if shim.name == "reference-transaction" && !exists(&orig) && private {
                // Git starts this hook for every ref update (several per commit): it is only armed while a
                // push of the site branch is in flight.
                write_executable(&armed_from, &text)?;
                if exists(&path) {
                    std::fs::remove_file(&path)
                        .map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
                }
            } else {
                write_executable(&path, &text)?;
                remove_armed_from(&armed_from)?;
            }
            done.push(shim.name);
        } else {
            remove_ours(&s.ui, &path)?;
            remove_armed_from(&armed_from)?;
        }
    }
    s.ui.note(&format!(
        "installed {} in {}: a push of {branch} to {remote} publishes it to {} ({}{})",
        done.join(" and "),
        dir.display(),
        s.config
            .target(None)
            .map(|t| t.name.clone())
            .unwrap_or_else(|_| "the default target".into()),
        match a.mode {
            HookMode::PostPush => "after the push succeeded",
            HookMode::PrePush => "before the push proceeds; a failed publish aborts it",
        },
        if a.background {
            ", in the background"
        } else {
            ""
        }
    ));
    Ok(exit::OK)
}

fn owned_hooks_error(s: &Session, dir: &Path, owner: &str, settings: &Settings) -> Error {
    // Hooks run through another tool's wrapper can't rely on being git push's child, so the line uses pre-push
    // mode, which needs no pairing.
    let line = format!(
        "{} hook pre-push --mode pre-push --remote {} --branch {} -- \"$@\"",
        sh_quote(&settings.bin.to_string_lossy()),
        sh_quote(&settings.remote),
        sh_quote(&settings.branch)
    );
    s.ui.note(&format!(
        "would install for pushes of {} to {}",
        settings.branch, settings.remote
    ));
    Error::ConfigInvalid {
        path: dir.to_path_buf(),
        message: format!("these hooks are managed by {owner}; git-publish did not change them"),
        hint: format!(
            "add this line to the pre-push hook you manage there (husky: .husky/pre-push; lefthook: a pre-push command with `use_stdin: true`):\n    {line}\n  it publishes before the push proceeds. Or publish with `git publish push` instead of `git push`, or install here anyway with `git-publish install --force`"
        ),
    }
}

fn maps_to_tracking(specs: &[String], remote: &str, branch: &str) -> bool {
    specs.iter().any(|spec| {
        let spec = spec.trim_start_matches('+');
        spec == format!("refs/heads/*:refs/remotes/{remote}/*")
            || spec == format!("refs/heads/{branch}:refs/remotes/{remote}/{branch}")
    })
}

fn orig_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(ORIG_SUFFIX);
    PathBuf::from(s)
}

fn armed_from_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(ARMED_FROM_SUFFIX);
    PathBuf::from(s)
}

fn remove_armed_from(path: &Path) -> Result<bool> {
    if !exists(path) || !is_ours(path) {
        return Ok(false);
    }
    std::fs::remove_file(path).map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
    Ok(true)
}

/// Put the `reference-transaction` shim in place for a push that pre-push just recorded. A no-op where it
/// stays in place anyway (a hook of the user's is chained through it, or an older install).
fn arm(ui: &Ui, dir: &Path) -> Result<()> {
    let hook = dir.join("reference-transaction");
    let from = armed_from_path(&hook);
    if exists(&orig_path(&hook)) || !exists(&from) {
        return Ok(());
    }
    if exists(&hook) && !is_ours(&hook) {
        ui.warn(&format!(
            "{} is not git-publish's, so this push can't be confirmed and won't be published; run `git-publish install` again to chain it, and `git publish` to publish now",
            hook.display()
        ));
        return Ok(());
    }
    // A fresh copy renamed over the hook even when it is there: a concurrent disarm that removed it first
    // then sees this push's record and arms it again (see hooks/reference-transaction).
    let tmp = dir.join(format!(
        "reference-transaction.git-publish-{}",
        std::process::id()
    ));
    std::fs::copy(&from, &tmp).map_err(|e| {
        Error::io(
            format!("copying {} to {}", from.display(), tmp.display()),
            e,
        )
    })?;
    rename(&tmp, &hook)
}

/// After a push was published: remove the armed `reference-transaction` unless another push is in flight.
fn disarm(ui: &Ui, repo: &Repo, dir: &Path) {
    let hook = dir.join("reference-transaction");
    if exists(&orig_path(&hook)) || !exists(&armed_from_path(&hook)) || !is_ours(&hook) {
        return;
    }
    remove_stale_records(repo);
    if has_records(repo) {
        return;
    }
    let _ = std::fs::remove_file(&hook);
    // A pre-push that recorded a push since the check above armed the hook before or after this removal;
    // in the first case, arm it again.
    if has_records(repo) {
        let _ = arm(ui, dir);
    }
}

fn has_records(repo: &Repo) -> bool {
    std::fs::read_dir(records_dir(repo)).is_ok_and(|mut it| {
        it.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("push-")))
    })
}

/// The directory the shim ran from, or where git says hooks are.
fn shim_dir(cwd: &Path, a: &HookArgs) -> Result<PathBuf> {
    match &a.hooks_dir {
        Some(d) => Ok(cwd.join(d)),
        None => hooks_dir(cwd),
    }
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to)
        .map_err(|e| Error::io(format!("moving {} to {}", from.display(), to.display()), e))
}

fn write_executable(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("git-publish-tmp");
    let ctx = || format!("writing {}", path.display());
    std::fs::write(&tmp, text).map_err(|e| Error::io(ctx(), e))?;
    os::make_executable(&tmp).map_err(|e| Error::io(ctx(), e))?;
    rename(&tmp, path)
}

/// Remove our hook at `path` (if it is ours) and put back the one it replaced.
fn remove_ours(ui: &Ui, path: &Path) -> Result<bool> {
    let orig = orig_path(path);
    if exists(path) && !is_ours(path) {
        if exists(&orig) {
            ui.warn(&format!(
                "{} was replaced by someone else; left it and {} alone",
                path.display(),
                orig.display()
            ));
        }
        return Ok(false);
    }
    let mut changed = false;
    if exists(path) {
        std::fs::remove_file(path)
            .map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
        changed = true;
    }
    if exists(&orig) {
        rename(&orig, path)?;
        ui.note(&format!("restored your {}", path.display()));
        changed = true;
    }
    Ok(changed)
}

pub fn uninstall(cwd: &Path, ui: &Ui) -> Result<i32> {
    let repo = Repo::open(cwd)?;
    let dir = hooks_dir(cwd)?;
    let mut removed = 0;
    for shim in &SHIMS {
        let path = dir.join(shim.name);
        if remove_ours(ui, &path)? | remove_armed_from(&armed_from_path(&path))? {
            removed += 1;
        }
    }
    // Records of pushes in flight are meaningless without the hooks.
    let records = records_dir(&repo);
    if let Ok(entries) = std::fs::read_dir(&records) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("push-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(&records);
    if removed == 0 {
        ui.note(&format!(
            "no git-publish hooks in {}: nothing to do",
            dir.display()
        ));
    } else {
        ui.note(&format!(
            "removed git-publish's hooks from {}",
            dir.display()
        ));
    }
    Ok(exit::OK)
}

// ---- records --------------------------------------------------------------------------------------------

/// `git push --dry-run` / `-n`, judged from the arguments after `push`.
fn is_dry_run(args: &[String]) -> bool {
    args.iter().skip_while(|a| *a != "push").skip(1).any(|a| {
        a == "--dry-run" || (a.starts_with('-') && !a.starts_with("--") && a[1..].contains('n'))
    })
}

/// Why pre-push mode must not publish the `git push` with pid `pid`: a dry run, or arguments the OS can't show
/// (or that don't say `push`, as with an alias), where a dry run can't be told apart: the safe choice.
fn not_publishing_because(pid: u32) -> Option<&'static str> {
    match os::process_args(pid) {
        Some(args) if is_dry_run(&args) => Some("dry run: not publishing"),
        Some(args) if args.iter().any(|a| a == "push") => None,
        _ => Some(
            "can't see this git push's arguments, so can't tell whether it is a dry run: not publishing; use `git publish push`, or the default post-push mode",
        ),
    }
}

/// What pre-push recorded for one `git push`.
#[derive(Debug, Serialize, Deserialize)]
struct PushRecord {
    /// Start time of the `git push` process (`None` where the OS can't tell).
    start: Option<String>,
    remote: String,
    branch: String,
    commit: String,
}

fn record_path(repo: &Repo, pid: u32) -> PathBuf {
    records_dir(repo).join(format!("push-{pid}"))
}

/// Remove records of `git push` processes that are gone (rejected or failed pushes leave theirs behind).
fn remove_stale_records(repo: &Repo) {
    let Ok(entries) = std::fs::read_dir(records_dir(repo)) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("push-")
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let rec: Option<PushRecord> = std::fs::read(e.path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let alive = rec.is_some_and(|r| r.start.is_some() && r.start == os::process_start(pid));
        if !alive {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn covered(s: &Session, r: &Report) {
    clear_failure_if_covered(&s.repo, &r.target, &r.commit, r.dry_run);
}

// ---- hook entry points ----------------------------------------------------------------------------------

/// `git-publish hook NAME …`, run by the shims.
pub async fn hook(cwd: &Path, ui: Ui, a: HookArgs) -> Result<i32> {
    // A hook's stdout is git's stdout: everything we print goes to stderr.
    os::stdout_to_stderr();
    match a.hook.as_str() {
        "pre-push" => pre_push(cwd, ui, &a).await,
        "reference-transaction" => reference_transaction(cwd, ui, &a).await,
        "publish" => {
            let commit = a.args.first().cloned().unwrap_or_default();
            Ok(publish_after_push(cwd, ui, &a, &commit).await)
        }
        other => Err(Error::Usage(format!(
            "unknown hook `{other}` (the shims call pre-push, reference-transaction or publish)"
        ))),
    }
}

fn site_config(a: &HookArgs) -> Option<PathBuf> {
    (!a.site_config.is_empty()).then(|| PathBuf::from(&a.site_config))
}

/// One line of pre-push's input: `<local ref> <local sha> <remote ref> <remote sha>`.
struct PushLine {
    local_sha: String,
    remote_ref: String,
}

fn is_zero(sha: &str) -> bool {
    sha.bytes().all(|b| b == b'0')
}

async fn pre_push(cwd: &Path, ui: Ui, a: &HookArgs) -> Result<i32> {
    let mut lines = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| Error::io("reading pre-push's input", e))?;
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 4 {
            lines.push(PushLine {
                local_sha: f[1].to_string(),
                remote_ref: f[2].to_string(),
            });
        }
    }
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
        let what = if specs.is_none() {
            "to a URL".to_string()
        } else {
            format!(
                "to remote {remote_name} (the hooks publish pushes to {})",
                a.remote
            )
        };
        ui.note(&format!(
            "this push of {} goes {what}: it is not published; to push and publish use `git publish push {} ...`",
            a.branch,
            a.args.get(1).map(String::as_str).unwrap_or(remote_name)
        ));
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
            let pid = a.pid.unwrap_or_else(os::parent_pid);
            remove_stale_records(&repo);
            let rec = PushRecord {
                start: os::process_start(pid),
                remote: a.remote.clone(),
                branch: a.branch.clone(),
                commit: line.local_sha.clone(),
            };
            let dir = records_dir(&repo);
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
            let path = record_path(&repo, pid);
            std::fs::write(&path, serde_json::to_vec(&rec).unwrap_or_default())
                .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
            arm(&ui, &shim_dir(cwd, a)?)?;
            Ok(exit::OK)
        }
        HookMode::PrePush => {
            let pid = a.pid.unwrap_or_else(os::parent_pid);
            if let Some(why) = not_publishing_because(pid) {
                ui.note(why);
                return Ok(exit::OK);
            }
            let s = Session::open(cwd, site_config(a), ui)?;
            let opts = hook_opts(&s, &line.local_sha);
            match publish::publish(&s, &opts).await {
                Ok(report) => {
                    covered(&s, &report);
                    Ok(exit::OK)
                }
                Err(e) => {
                    let code = crate::error::report(&e);
                    eprintln!(
                        "git-publish: the push is aborted because publishing {} failed; fix it and push again, or push without publishing: git push --no-verify",
                        state::short(&line.local_sha)
                    );
                    Ok(code)
                }
            }
        }
    }
}

async fn reference_transaction(cwd: &Path, ui: Ui, a: &HookArgs) -> Result<i32> {
    let Some(new) = a.args.first() else {
        return Ok(exit::OK);
    };
    let pid = a.pid.unwrap_or_else(os::parent_pid);
    let repo = Repo::open(cwd)?;
    let path = record_path(&repo, pid);
    let rec: Option<PushRecord> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let Some(rec) = rec else {
        return Ok(exit::OK);
    };
    if rec.start != os::process_start(pid) || rec.remote != a.remote || rec.branch != a.branch {
        // A record left by an earlier process with the same pid.
        let _ = std::fs::remove_file(&path);
        return Ok(exit::OK);
    }
    if &rec.commit != new {
        return Ok(exit::OK);
    }
    // Consume it: this push publishes once.
    let _ = std::fs::remove_file(&path);
    if let Ok(dir) = shim_dir(cwd, a) {
        disarm(&ui, &repo, &dir);
    }
    if a.background == "1" {
        return spawn_background(&repo, a, new, &ui);
    }
    Ok(publish_after_push(cwd, ui, a, new).await)
}

/// What a hook publishes for the pushed `commit`. With snapshot builds, a pushed source commit that has no
/// snapshot yet is built, as `git publish` would, when it is what is checked out; otherwise publish names the
/// snapshot to fetch or build.
fn hook_opts(s: &Session, commit: &str) -> PublishOpts {
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

/// Start `git-publish hook publish` detached (own session, all three descriptors away from git push's pipes).
fn spawn_background(repo: &Repo, a: &HookArgs, commit: &str, ui: &Ui) -> Result<i32> {
    let dir = records_dir(repo);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let log_path = dir.join("publish.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| Error::io(format!("opening {}", log_path.display()), e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| Error::io(format!("opening {}", log_path.display()), e))?;
    let exe =
        std::env::current_exe().map_err(|e| Error::io("finding git-publish's own path", e))?;
    let mut cmd = Command::new(exe);
    cmd.args([
        "hook",
        "publish",
        "--remote",
        &a.remote,
        "--branch",
        &a.branch,
        "--site-config",
        &a.site_config,
        "--",
        commit,
    ])
    .stdin(Stdio::null())
    .stdout(log)
    .stderr(log2);
    os::detach(&mut cmd);
    cmd.spawn()
        .map_err(|e| Error::io("starting the background publish", e))?;
    ui.note(&format!(
        "publishing {} in the background; log: {}",
        state::short(commit),
        log_path.display()
    ));
    Ok(exit::OK)
}

/// Publish `commit` after its push succeeded. A failure can't fail the push any more: say so, record it for
/// `git publish status`, and name the command that finishes the job.
async fn publish_after_push(cwd: &Path, ui: Ui, a: &HookArgs, commit: &str) -> i32 {
    let failed = |repo: Option<&Repo>, target: Option<String>, e: &Error| {
        eprintln!(
            "git-publish: the push succeeded, but publishing {} failed:",
            state::short(commit)
        );
        let code = crate::error::report(e);
        if let Some(repo) = repo {
            write_failure(
                repo,
                &Failure {
                    target,
                    commit: commit.to_string(),
                    error: e.to_string(),
                    // The session may not have opened (that may be the failure): read the clock directly.
                    at: crate::clock::Clock::from_env()
                        .unwrap_or_default()
                        .rfc3339(),
                },
            );
        }
        eprintln!(
            "git-publish: the site is NOT up to date; `git publish status` shows it, `git publish retry` finishes it"
        );
        code
    };
    let s = match Session::open(cwd, site_config(a), ui) {
        Ok(s) => s,
        Err(e) => return failed(Repo::open(cwd).ok().as_ref(), None, &e),
    };
    let target = s.config.target(None).ok().map(|t| t.name.clone());
    let opts = hook_opts(&s, commit);
    match publish::publish(&s, &opts).await {
        Ok(report) => {
            covered(&s, &report);
            exit::OK
        }
        Err(e) => failed(Some(&s.repo), target, &e),
    }
}

// ---- git publish retry ----------------------------------------------------------------------------------

pub async fn retry(s: &Session) -> Result<i32> {
    let Some(f) = read_failure(&s.repo) else {
        s.ui.note("no failed publish is recorded: nothing to retry (`git publish` publishes the site branch)");
        return Ok(exit::OK);
    };
    s.ui.note(&format!(
        "retrying the publish of {} that failed at {} ({})",
        state::short(&f.commit),
        f.at,
        f.error
    ));
    let opts = publish_opts(Invocation::Retry {
        target: f.target.clone(),
        commit: f.commit.clone(),
    });
    let report = publish::publish(s, &opts).await?;
    covered(s, &report);
    Ok(exit::OK)
}

// ---- git publish push -----------------------------------------------------------------------------------

/// One ref of `git push --porcelain`: `<flag>\t<from>:<to>\t<summary>`.
#[derive(Debug, PartialEq, Eq)]
pub struct PushedRef {
    pub flag: char,
    pub from: String,
    pub to: String,
}

impl PushedRef {
    /// Fast-forward, forced or new: the remote ref now points at `from`'s commit.
    pub fn updated(&self) -> bool {
        matches!(self.flag, ' ' | '+' | '*')
    }
}

pub fn parse_porcelain(out: &str) -> Vec<PushedRef> {
    out.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let flag = f.next()?.chars().next()?;
            let (from, to) = f.next()?.split_once(':')?;
            Some(PushedRef {
                flag,
                from: from.to_string(),
                to: to.to_string(),
            })
        })
        .collect()
}

pub async fn push(s: &Session, args: &[String]) -> Result<i32> {
    let branch = s
        .config
        .source
        .branch
        .clone()
        .or_else(|| s.repo.current_branch())
        .ok_or_else(|| {
            Error::Usage(
                "no site branch: HEAD is detached and site.toml has no source.branch; set source.branch".into(),
            )
        })?;
    let target = s.config.target(None)?.name.clone();
    let dry_run = is_dry_run(
        &["push".to_string()]
            .into_iter()
            .chain(args.iter().cloned())
            .collect::<Vec<_>>(),
    );
    let mut child = Command::new("git")
        .arg("push")
        .arg("--porcelain")
        .args(args)
        .current_dir(s.repo.root())
        .env(SKIP_ENV, "1")
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::io("running `git push` (is git on PATH?)", e))?;
    let mut out = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    let status = child
        .wait()
        .map_err(|e| Error::io("waiting for `git push`", e))?;
    // Show git's report (stdout is kept for --json and results).
    {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(out.as_bytes());
    }
    let push_code = status.code().unwrap_or(exit::RUNTIME);
    let site_ref = format!("refs/heads/{branch}");
    let mut code = if status.success() {
        exit::OK
    } else {
        push_code.max(1)
    };
    let updated: Vec<PushedRef> = parse_porcelain(&out)
        .into_iter()
        .filter(|r| r.to == site_ref && r.updated())
        .collect();
    if updated.is_empty() {
        s.ui.note(&format!(
            "the push did not update {branch}: nothing to publish"
        ));
        return Ok(code);
    }
    for r in updated {
        let commit = s.repo.resolve_commit(&r.from)?;
        if dry_run {
            s.ui.note(&format!(
                "dry run: a real push would publish {} to {target}",
                state::short(&commit)
            ));
            continue;
        }
        let opts = hook_opts(s, &commit);
        match publish::publish(s, &opts).await {
            Ok(report) => covered(s, &report),
            Err(e) => {
                eprintln!(
                    "git-publish: the push succeeded, but publishing {} failed:",
                    state::short(&commit)
                );
                let c = crate::error::report(&e);
                write_failure(
                    &s.repo,
                    &Failure {
                        target: Some(target.clone()),
                        commit: commit.clone(),
                        error: e.to_string(),
                        at: s.clock.rfc3339(),
                    },
                );
                eprintln!(
                    "git-publish: `git publish status` shows it, `git publish retry` finishes it"
                );
                if code == exit::OK {
                    code = c;
                }
            }
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porcelain_lines() {
        let out = "To ../remote.git\n*\trefs/heads/main:refs/heads/main\t[new branch]\n\
                   !\trefs/heads/x:refs/heads/x\t[rejected] (fetch first)\n\
                   =\trefs/heads/y:refs/heads/y\t[up to date]\n\
                   +\tHEAD:refs/heads/z\tabc...def (forced update)\n\
                   -\t:refs/heads/old\t[deleted]\nDone\n";
        let refs = parse_porcelain(out);
        let got: Vec<(char, &str, &str, bool)> = refs
            .iter()
            .map(|r| (r.flag, r.from.as_str(), r.to.as_str(), r.updated()))
            .collect();
        assert_eq!(
            got,
            [
                ('*', "refs/heads/main", "refs/heads/main", true),
                ('!', "refs/heads/x", "refs/heads/x", false),
                ('=', "refs/heads/y", "refs/heads/y", false),
                ('+', "HEAD", "refs/heads/z", true),
                ('-', "", "refs/heads/old", false),
            ]
        );
    }

    #[test]
    fn dry_run_flags() {
        let v = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        assert!(is_dry_run(&v("git push --dry-run origin main")));
        assert!(is_dry_run(&v("git push -n")));
        assert!(is_dry_run(&v("git -c a=b push -fn origin")));
        assert!(!is_dry_run(&v("git push origin main")));
        assert!(!is_dry_run(&v("git push --no-verify origin")));
        assert!(!is_dry_run(&v("git -n push origin")));
    }

    #[test]
    fn tracking_refspecs() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(maps_to_tracking(
            &s(&["+refs/heads/*:refs/remotes/origin/*"]),
            "origin",
            "main"
        ));
        assert!(maps_to_tracking(
            &s(&["refs/heads/main:refs/remotes/origin/main"]),
            "origin",
            "main"
        ));
        assert!(!maps_to_tracking(&s(&[]), "origin", "main"));
        assert!(!maps_to_tracking(
            &s(&["+refs/heads/*:refs/remotes/up/*"]),
            "origin",
            "main"
        ));
    }

    #[test]
    fn shim_settings_are_quoted() {
        let s = Settings {
            bin: PathBuf::from("/opt/it's/git-publish"),
            mode: HookMode::PostPush,
            remote: "origin".into(),
            branch: "main".into(),
            background: false,
            config: None,
        };
        let text = s.render(PRE_PUSH);
        assert!(text.contains("bin='/opt/it'\\''s/git-publish'\n"), "{text}");
        assert!(text.contains("mode=post-push\n"));
        assert!(text.contains("config=''\n"));
        assert!(text.contains(MARKER));
        assert!(s.render(REFERENCE_TRANSACTION).contains(MARKER));
    }
}
