//! The background publish (`install --background`): start `git-publish hook publish` detached from the
//! `git push` that ran the hook, in its own session, with stdin from /dev/null and stdout and stderr appended
//! to `<records dir>/publish.log`, so that nothing it holds keeps git push's (or its caller's) pipes open.
//! A failed start (a missing binary, a failed `setsid`) is an error here, not a silent success. What differs
//! between operating systems (sessions, descriptors) is `os::detach`'s; this module publishes nothing itself.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::after_push::Job;
use crate::cli::HookArgs;
use crate::error::{exit, Error, Result};
use crate::records::records_dir;
use crate::source::Repo;
use crate::ui::Ui;

/// Start `git-publish hook publish … [--preview BRANCH] -- <commit>` for `job` in the background and say
/// where it logs.
pub fn spawn_background(repo: &Repo, a: &HookArgs, job: &Job, ui: &Ui) -> Result<i32> {
    let (log_path, log) = open_log(repo)?;
    let exe =
        std::env::current_exe().map_err(|e| Error::io("finding git-publish's own path", e))?;
    let mut args = vec![
        "hook",
        "publish",
        "--remote",
        &a.remote,
        "--branch",
        &a.branch,
        "--site-config",
        &a.site_config,
    ];
    if let Some(branch) = job.preview() {
        args.extend(["--preview", branch]);
    }
    args.extend(["--", job.commit()]);
    spawn_detached(&exe, &args, &log)
        .map_err(|e| Error::io("starting the background publish", e))?;
    ui.note(&format!(
        "{} in the background; log: {}",
        job.describe(),
        log_path.display()
    ));
    Ok(exit::OK)
}

/// `<records dir>/publish.log`, opened for appending (created with its directory if need be).
fn open_log(repo: &Repo) -> Result<(PathBuf, File)> {
    let dir = records_dir(repo);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let path = dir.join("publish.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    Ok((path, log))
}

/// Start `program args` detached ([`crate::os::detach`]: its own session, no descriptor of ours but the
/// three given), stdin from /dev/null, stdout and stderr appended to `log`. An error if the program could not
/// be started (std reports a failed exec, and a failed `setsid` through it).
fn spawn_detached(program: &Path, args: &[&str], log: &File) -> io::Result<Child> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?);
    crate::os::detach(&mut cmd)?;
    cmd.spawn()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_file(dir: &Path) -> (PathBuf, File) {
        let path = dir.join("publish.log");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        (path, f)
    }

    #[test]
    fn a_program_that_cannot_be_started_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (_, log) = log_file(dir.path());
        let missing = dir.path().join("no-such-git-publish");
        let err = spawn_detached(&missing, &["hook", "publish"], &log).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    }

    /// (That the child leads its own session and inherits no stray descriptor is `os`'s test.)
    #[test]
    fn the_child_logs_and_reads_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (path, log) = log_file(dir.path());
        let script = "echo out; echo err >&2; cat; exit 0";
        let mut child = spawn_detached(Path::new("/bin/sh"), &["-c", script], &log).unwrap();
        assert!(child.wait().unwrap().success());
        assert_eq!(std::fs::read_to_string(path).unwrap(), "out\nerr\n");
    }
}
