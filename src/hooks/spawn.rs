//! The background publish (`install --background`): start `git-publish hook publish` detached from the
//! `git push` that ran the hook, in its own session, with stdin from /dev/null and stdout and stderr appended
//! to `<records dir>/publish.log`, so that nothing it holds keeps git push's (or its caller's) pipes open.
//! A failed start (a missing binary, a failed `setsid`) is an error here, not a silent success. This is the
//! only unsafe code of the hooks; it publishes nothing itself.

use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::cli::HookArgs;
use crate::error::{exit, Error, Result};
use crate::records::records_dir;
use crate::source::Repo;
use crate::state;
use crate::ui::Ui;

/// Start `git-publish hook publish … -- <commit>` in the background and say where it logs.
pub fn spawn_background(repo: &Repo, a: &HookArgs, commit: &str, ui: &Ui) -> Result<i32> {
    let (log_path, log) = open_log(repo)?;
    let exe =
        std::env::current_exe().map_err(|e| Error::io("finding git-publish's own path", e))?;
    let args = [
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
    ];
    spawn_detached(&exe, &args, &log)
        .map_err(|e| Error::io("starting the background publish", e))?;
    ui.note(&format!(
        "publishing {} in the background; log: {}",
        state::short(commit),
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

/// Start `program args` in a new session, stdin from /dev/null, stdout and stderr appended to `log`, and no
/// other descriptor: std opens its own with `O_CLOEXEC`, and [`close_inherited_on_exec`] marks the ones this
/// process inherited. An error if the program could not be started (std reports a failed exec).
fn spawn_detached(program: &Path, args: &[&str], log: &File) -> io::Result<Child> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?);
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe calls are
    // allowed: `new_session` makes one such call (setsid) and allocates nothing.
    unsafe {
        cmd.pre_exec(new_session);
    }
    close_inherited_on_exec()?;
    cmd.spawn()
}

/// In the child before exec: leave git push's session and process group (no terminal signals, no waiting).
fn new_session() -> io::Result<()> {
    // SAFETY: setsid takes no arguments and touches no memory of ours; it is async-signal-safe.
    if unsafe { libc::setsid() } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Mark every descriptor above stderr that this process inherited without `FD_CLOEXEC` (from git push or its
/// caller: a pipe someone waits on to close) as close-on-exec, so a program we start doesn't keep it open.
/// The descriptors std opens, including its exec-error pipe, are close-on-exec already.
fn close_inherited_on_exec() -> io::Result<()> {
    for fd in 3..descriptor_limit() {
        // SAFETY: F_GETFD reads the flags of descriptor `fd`; no memory is passed.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags == -1 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EBADF) {
                continue; // not open
            }
            return Err(e);
        }
        if flags & libc::FD_CLOEXEC != 0 {
            continue;
        }
        // SAFETY: F_SETFD sets the flags of descriptor `fd`; no memory is passed.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } == -1 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EBADF) {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// How many descriptors to look at: the soft limit on open files, within 256..=65536 (1024 if unknown).
fn descriptor_limit() -> i32 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into `lim`, which lives for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        (lim.rlim_cur as i64).clamp(256, 65536) as i32
    } else {
        1024
    }
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

    #[test]
    fn the_child_logs_reads_nothing_leads_its_session_and_inherits_no_other_descriptor() {
        let dir = tempfile::tempdir().unwrap();
        let (path, log) = log_file(dir.path());
        // A descriptor inherited without FD_CLOEXEC, as git push's caller may leave one.
        // SAFETY: dup of an open descriptor; the copy is closed below.
        let leaked = unsafe { libc::dup(std::os::fd::AsRawFd::as_raw_fd(&log)) };
        assert!(leaked > 2);
        let script = format!(
            "echo out; echo err >&2; cat; set -- $(cat /proc/$$/stat); \
             [ \"$6\" = \"$$\" ] && echo leader; [ -e /proc/$$/fd/{leaked} ] && echo leaked; exit 0"
        );
        let mut child = spawn_detached(Path::new("/bin/sh"), &["-c", &script], &log).unwrap();
        assert!(child.wait().unwrap().success());
        // SAFETY: `leaked` is our own descriptor from dup above.
        assert_eq!(unsafe { libc::close(leaked) }, 0);
        assert_eq!(std::fs::read_to_string(path).unwrap(), "out\nerr\nleader\n");
    }
}
