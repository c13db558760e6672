//! `git-publish install` and `uninstall`: decide which shims a mode needs, check every file before changing
//! any, move a user's hook aside (and back), keep a shim of ours that someone edited as `<hook>.edited`
//! instead of overwriting or removing it, and refuse hooks directories that another tool manages
//! (husky, lefthook, pre-commit, a global `core.hooksPath`) unless `--force`. It edits only files marked as
//! ours and never runs git in another repository; what the shims say is `shim`'s business.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::shim::{
    self, armed_from_path, edited_path, exists, hooks_dir, is_edited, is_ours, orig_path, Shim,
    ShimSettings, SHIMS,
};
use crate::cli::{HookMode, InstallArgs};
use crate::error::{exit, Error, Result};
use crate::publish::Session;
use crate::records::remove_push_records;
use crate::source::Repo;
use crate::ui::Ui;

pub fn install(s: &Session, cwd: &Path, config: Option<PathBuf>, a: &InstallArgs) -> Result<i32> {
    let dir = hooks_dir(cwd)?;
    let root = s.repo.root();
    let settings = settings(s, cwd, config, a)?;
    check_owner(s, cwd, &root, &dir, &settings, a.force)?;
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    // Check every file first, then change.
    check_no_clobber(&dir, &settings)?;
    let private = is_private(&s.repo, &root, &dir);
    let mut done = Vec::new();
    for shim in &SHIMS {
        let path = dir.join(shim.name);
        if settings.needs(shim) {
            install_shim(&s.ui, shim, &path, &settings, private)?;
            done.push(shim.name);
        } else {
            remove_ours(&s.ui, &path)?;
            remove_armed_from(&s.ui, &armed_from_path(&path))?;
        }
    }
    // `git publish push` reads it to do what the hooks do.
    s.repo.set_local_flag(PREVIEWS_KEY, settings.previews)?;
    announce(s, &dir, &settings, &done);
    Ok(exit::OK)
}

/// Set by `install --previews` in the repository's config (removed by `install` without it and by
/// `uninstall`): `git publish push` then publishes the previews of the other branches it pushes, as the
/// hooks do.
pub const PREVIEWS_KEY: &str = "git-publish.previews";

/// Resolve the branch, remote, binary and config that the shims are told (warning when the remote can't
/// confirm a push in post-push mode).
fn settings(
    s: &Session,
    cwd: &Path,
    config: Option<PathBuf>,
    a: &InstallArgs,
) -> Result<ShimSettings> {
    let (remote, branch) = remote_and_branch(s, a)?;
    let bin = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| Error::io("finding the path of the git-publish binary", e))?;
    Ok(ShimSettings {
        bin,
        mode: a.mode,
        remote,
        branch,
        background: a.background,
        config: config.map(|p| if p.is_absolute() { p } else { cwd.join(p) }),
        previews: a.previews,
    })
}

/// The site branch (flag, source.branch, current branch) and the remote whose pushes of it publish (flag,
/// the branch's upstream remote, origin), which must exist.
fn remote_and_branch(s: &Session, a: &InstallArgs) -> Result<(String, String)> {
    let branch = a
        .branch
        .clone()
        .or_else(|| s.config.source.branch.clone())
        .or_else(|| s.repo.current_branch())
        .ok_or_else(|| {
            Error::Usage(
                "no site branch: HEAD is detached and site.toml has no source.branch; pass `--branch NAME`".into(),
            )
        })?;
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
    if a.previews && a.mode == HookMode::PostPush && !maps_to_tracking(&specs, &remote, "*") {
        s.ui.warn(&format!(
            "remote {remote} has no fetch refspec refs/heads/* → refs/remotes/{remote}/*, so only the pushes of branches it maps can be confirmed and given a preview; use `git publish push` for the others, or `--mode pre-push`"
        ));
    }
    Ok((remote, branch))
}

/// Whether the remote-tracking ref of `branch` follows a push of it: a fetch refspec maps
/// `refs/heads/<branch>` to `refs/remotes/<remote>/<branch>`.
pub fn maps_to_tracking(specs: &[String], remote: &str, branch: &str) -> bool {
    specs.iter().any(|spec| {
        let spec = spec.trim_start_matches('+');
        spec == format!("refs/heads/*:refs/remotes/{remote}/*")
            || spec == format!("refs/heads/{branch}:refs/remotes/{remote}/{branch}")
    })
}

/// Refuse (or, with `force`, warn about) a hooks directory that someone else manages.
fn check_owner(
    s: &Session,
    cwd: &Path,
    root: &Path,
    dir: &Path,
    settings: &ShimSettings,
    force: bool,
) -> Result<()> {
    let Some(owner) = hooks_owner(cwd, root, dir) else {
        return Ok(());
    };
    if !force {
        return Err(owned_hooks_error(s, dir, &owner, settings));
    }
    s.ui.warn(&format!(
        "installing into {} although it is managed by {owner} (--force)",
        dir.display()
    ));
    Ok(())
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
    SHIMS
        .iter()
        .find_map(|shim| generated_by_tool(&dir.join(shim.name)))
        .or_else(|| lefthook_config(root))
}

/// The tool that generated the hook at `p`, if one did (husky, lefthook, pre-commit).
fn generated_by_tool(p: &Path) -> Option<String> {
    if !exists(p) || is_ours(p) {
        return None;
    }
    let text = std::fs::read_to_string(p).unwrap_or_default();
    [
        ("husky", "husky"),
        ("lefthook", "lefthook"),
        ("pre-commit.com", "pre-commit"),
        ("File generated by pre-commit", "pre-commit"),
    ]
    .into_iter()
    .find(|(needle, _)| text.contains(needle))
    .map(|(_, tool)| format!("{tool} (it generated {})", p.display()))
}

fn lefthook_config(root: &Path) -> Option<String> {
    ["lefthook.yml", ".lefthook.yml", "lefthook.yaml"]
        .into_iter()
        .find(|file| root.join(file).exists())
        .map(|file| format!("lefthook ({file} in the repository)"))
}

fn owned_hooks_error(s: &Session, dir: &Path, owner: &str, settings: &ShimSettings) -> Error {
    s.ui.note(&format!(
        "would install for pushes of {} to {}",
        settings.branch, settings.remote
    ));
    Error::ConfigInvalid {
        path: dir.to_path_buf(),
        message: format!("these hooks are managed by {owner}; git-publish did not change them"),
        hint: format!(
            "add this line to the pre-push hook you manage there (husky: .husky/pre-push; lefthook: a pre-push command with `use_stdin: true`):\n    {}\n  it publishes before the push proceeds. Or publish with `git publish push` instead of `git push`, or install here anyway with `git-publish install --force`",
            settings.manual_line()
        ),
    }
}

/// A user's hook can be moved aside only where nothing is in the way.
fn check_no_clobber(dir: &Path, settings: &ShimSettings) -> Result<()> {
    for shim in &SHIMS {
        let path = dir.join(shim.name);
        let orig = orig_path(&path);
        if settings.needs(shim) && exists(&path) && !is_ours(&path) && exists(&orig) {
            return Err(Error::Usage(format!(
                "{} exists and so does {}: git-publish won't overwrite either; move one of them away and install again",
                path.display(),
                orig.display()
            )));
        }
    }
    Ok(())
}

/// Arming needs a hooks directory that only this repository (and its worktrees, which share the records)
/// uses: in a shared one (a global core.hooksPath), a ref update in another repository, which has no record
/// of our push, would disarm it. There the shim stays in place and exits early instead.
fn is_private(repo: &Repo, root: &Path, dir: &Path) -> bool {
    [repo.common_dir(), root.to_path_buf()]
        .iter()
        .filter_map(|p| p.canonicalize().ok())
        .any(|p| dir.canonicalize().is_ok_and(|d| d.starts_with(p)))
}

/// Write `shim` at `path`, moving a user's hook there aside first. The reference-transaction shim is
/// written disarmed (beside its place) where it can be: git starts that hook for every ref update (several
/// per commit), so it is only armed while a push of the site branch is in flight.
fn install_shim(
    ui: &Ui,
    shim: &Shim,
    path: &Path,
    settings: &ShimSettings,
    private: bool,
) -> Result<()> {
    let orig = orig_path(path);
    let armed_from = armed_from_path(path);
    if exists(path) && !is_ours(path) {
        shim::rename(path, &orig)?;
        ui.note(&format!(
            "your {} hook now runs first from {}",
            shim.name,
            orig.display()
        ));
    }
    let text = settings.render(shim);
    keep_if_edited(ui, path)?;
    keep_if_edited(ui, &armed_from)?;
    if shim.name == shim::REFERENCE_TRANSACTION_NAME && !exists(&orig) && private {
        shim::write_executable(&armed_from, text.as_bytes())?;
        if exists(path) {
            shim::remove(path)?;
        }
    } else {
        shim::write_executable(path, text.as_bytes())?;
        remove_armed_from(ui, &armed_from)?;
    }
    Ok(())
}

/// A shim of ours at `path` that someone edited is moved aside to `<path>.edited` (or `.edited-N`), and
/// said so, before it is rewritten or removed: the edits are kept, and git no longer runs them.
fn keep_if_edited(ui: &Ui, path: &Path) -> Result<bool> {
    if !exists(path) || !is_ours(path) || !is_edited(path) {
        return Ok(false);
    }
    let kept = edited_path(path);
    shim::rename(path, &kept)?;
    ui.warn(&format!(
        "{} was edited since git-publish wrote it: your version is kept as {} (git does not run it there)",
        path.display(),
        kept.display()
    ));
    Ok(true)
}

fn announce(s: &Session, dir: &Path, settings: &ShimSettings, done: &[&str]) {
    s.ui.note(&format!(
        "installed {} in {}: a push of {} to {} publishes it to {}{} ({}{})",
        done.join(" and "),
        dir.display(),
        settings.branch,
        settings.remote,
        s.config
            .target(None)
            .map(|t| t.name.clone())
            .unwrap_or_else(|_| "the default target".into()),
        if settings.previews {
            "; a push of any other branch publishes its preview, and deleting it on the remote removes that"
        } else {
            ""
        },
        match settings.mode {
            HookMode::PostPush => "after the push succeeded",
            HookMode::PrePush => "before the push proceeds; a failed publish aborts it",
        },
        if settings.background {
            ", in the background"
        } else {
            ""
        }
    ));
}

fn remove_armed_from(ui: &Ui, path: &Path) -> Result<bool> {
    if !exists(path) || !is_ours(path) {
        return Ok(false);
    }
    if !keep_if_edited(ui, path)? {
        shim::remove(path)?;
    }
    Ok(true)
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
        if !keep_if_edited(ui, path)? {
            shim::remove(path)?;
        }
        changed = true;
    }
    if exists(&orig) {
        shim::rename(&orig, path)?;
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
        if remove_ours(ui, &path)? | remove_armed_from(ui, &armed_from_path(&path))? {
            removed += 1;
        }
    }
    remove_push_records(&repo);
    repo.set_local_flag(PREVIEWS_KEY, false)?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
