//! The operating system, behind one small interface: process liveness, start times and command lines (for the
//! claim holder and the hooks' push records), detaching the background publisher, the hooks' stdout, executable
//! bits, file names that are not UTF-8, and the allocator's tuning.
//!
//! This is the only module that names `libc`, `rustix`, `sysinfo`, `windows-sys`, `/proc` or `std::os::*`;
//! everything else calls the functions below and stays the same on every OS. It must not know about git, sites or
//! publishing. Where an OS can't tell something, the answer says so (`None`, `false`) and the caller picks the
//! safe behaviour:
//!
//! | question                    | Linux                | macOS                 | Windows                           |
//! |-----------------------------|----------------------|-----------------------|-----------------------------------|
//! | its parent?                 | `/proc/PID/stat` #4  | sysinfo               | sysinfo                           |
//! | is process `pid` gone?      | `kill(pid, 0)`       | `kill(pid, 0)`        | not in the process list (sysinfo) |
//! | when did it start?          | `/proc/PID/stat` #22 | sysinfo (seconds)     | sysinfo (seconds)                 |
//! | its arguments?              | `/proc/PID/cmdline`  | sysinfo (`sysctl`)    | sysinfo (PEB)                     |
//! | detach a child              | `setsid`; inherited fds close-on-exec | same  | `DETACHED_PROCESS` + new group |
//! | stdout := stderr            | `dup2(2, 1)`         | `dup2(2, 1)`          | `SetStdHandle`                    |
//! | file mode 100755            | any `x` bit          | any `x` bit           | never (no such bit); no-op to set |
//! | a published file's mode     | 0666/0777 − umask    | 0666/0777 − umask     | the default                       |
//! | open without blocking       | `O_NONBLOCK`         | `O_NONBLOCK`          | plain open (no FIFOs to hang on)  |
//!
//! Under Git for Windows a hook's `$PPID` is an MSYS pid, which may be no Windows process at all: then the
//! answers are `None` and the hooks don't publish where they would need them (pre-push mode).

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

/// Whether process `pid` provably does not exist on this machine. `false` when it runs or the OS can't tell.
pub fn is_gone(pid: u32) -> bool {
    imp::is_gone(pid)
}

/// When process `pid` started, as an opaque token that differs between a process and a later one reusing its
/// pid. `None` when the process is gone or the OS can't tell.
pub fn process_start(pid: u32) -> Option<String> {
    imp::process_start(pid)
}

/// The command line of process `pid` (arguments lossily decoded). `None` when the OS can't tell.
pub fn process_args(pid: u32) -> Option<Vec<String>> {
    imp::process_args(pid)
}

/// The parent of process `pid`, to walk up from a hook to the `git push` above it. `None` when the OS can't tell.
pub fn process_parent(pid: u32) -> Option<u32> {
    imp::process_parent(pid)
}

/// Our parent process's id (0 when the OS can't tell).
pub fn parent_pid() -> u32 {
    imp::parent_pid()
}

/// Make `cmd` start detached from our session and console, holding none of our descriptors but the three it is
/// given, so that it outlives us and nothing of ours (such as `git push`'s pipes) stays open through it. Unix:
/// `setsid` in the child (checked: a failure is the spawn's error), and every descriptor this process inherited
/// without close-on-exec is marked so now (std opens its own, its exec-error pipe included, close-on-exec).
pub fn detach(cmd: &mut Command) -> std::io::Result<()> {
    imp::detach(cmd)
}

/// From now on, what this process writes to stdout goes to stderr.
pub fn stdout_to_stderr() -> std::io::Result<()> {
    imp::stdout_to_stderr()
}

/// Give files that `builder` creates the mode of a published file: 0666, or 0777 for git's executables (mode
/// 100755), which the process's umask then narrows as for any new file (0644 / 0755 under umask 022), instead
/// of tempfile's private 0600. Windows has no such bits: nothing to do.
pub fn published_file_mode(builder: &mut tempfile::Builder<'_, '_>, executable: bool) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if executable { 0o777 } else { 0o666 };
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = (builder, executable);
}

/// Open `path` for reading without blocking on it (a FIFO or a device must not hang the caller: it is
/// judged by its metadata next). Windows has no such files: a plain open.
pub fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    opts.open(path)
}

/// Whether a file counts as executable for git (mode 100755): any execute bit. Never on Windows.
pub fn is_executable(meta: &std::fs::Metadata) -> bool {
    imp::is_executable(meta)
}

/// Give `path` mode 0755 (a no-op on Windows, where git and its `sh` don't need it).
pub fn make_executable(path: &Path) -> std::io::Result<()> {
    imp::make_executable(path)
}

/// A file name as UTF-8 (git paths and S3 keys are UTF-8), or `Err` with the name lossily decoded for an error
/// message (Unix: bytes that are not UTF-8; Windows: unpaired UTF-16 surrogates).
pub fn utf8_name(name: &OsStr) -> Result<&str, String> {
    name.to_str()
        .ok_or_else(|| name.to_string_lossy().into_owned())
}

/// `path` as the hook shims' `sh` takes it. Windows: Git for Windows' `sh` (MSYS) takes `C:/dir/file`, not the
/// verbatim `\\?\C:\dir\file` that `canonicalize` returns; elsewhere the path as it is.
pub fn shell_path(path: &Path) -> String {
    let s = path.to_string_lossy();
    if cfg!(windows) {
        msys_path(&s)
    } else {
        s.into_owned()
    }
}

/// `\\?\C:\a\b` → `C:/a/b`, `\\?\UNC\host\share\a` → `//host/share/a`, `C:\a` → `C:/a`.
fn msys_path(s: &str) -> String {
    let s = match s.strip_prefix(r"\\?\UNC\") {
        Some(unc) => format!(r"\\{unc}"),
        None => s.strip_prefix(r"\\?\").unwrap_or(s).to_string(),
    };
    s.replace('\\', "/")
}

/// Process-wide allocator settings, called once at startup before any thread exists. glibc: few malloc arenas,
/// so memory stays bounded by what is in flight, not by how many threads touched the heap. Elsewhere nothing.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt is called once, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// The file `path` names, its symbolic links followed (a relative link is read from the link's directory; a
/// dangling one names the path it points at, which a write then creates). Not canonical: `..` stays, and a
/// path that is no link is returned as it is. More than 40 links in a row (a loop) is an error.
pub fn link_target(path: &Path) -> std::io::Result<std::path::PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(std::io::Error::other(format!(
        "{}: too many levels of symbolic links",
        path.display()
    )))
}

/// A file's permission bits (Unix; 0 on Windows, which has none to keep), for tests.
#[cfg(test)]
pub fn mode_of(path: &Path) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).map_or(0, |m| m.permissions().mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        0
    }
}

/// Set a file's permission bits (Unix; nothing on Windows), for tests.
#[cfg(test)]
pub fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

/// A symbolic link at `link` pointing to `target` (tests).
#[cfg(test)]
pub fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    return std::os::unix::fs::symlink(target, link);
    #[cfg(windows)]
    return std::os::windows::fs::symlink_file(target, link);
}

#[cfg(unix)]
mod imp {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    use std::path::Path;
    use std::process::Command;

    use rustix::process::{Pid, Resource};

    pub fn is_gone(pid: u32) -> bool {
        let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
            return false;
        };
        rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH)
    }

    pub fn parent_pid() -> u32 {
        std::os::unix::process::parent_id()
    }

    pub fn detach(cmd: &mut Command) -> std::io::Result<()> {
        // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe calls are
        // allowed: setsid is one (rustix calls it directly) and nothing is allocated.
        unsafe {
            cmd.pre_exec(|| rustix::process::setsid().map(|_| ()).map_err(Into::into));
        }
        close_inherited_on_exec()
    }

    /// Mark every descriptor above stderr that this process inherited without `FD_CLOEXEC` (from git push or
    /// its caller: a pipe someone waits on to close) close-on-exec, so a program we start doesn't keep it open.
    fn close_inherited_on_exec() -> std::io::Result<()> {
        let max = rustix::process::getrlimit(Resource::Nofile)
            .current
            .map_or(1024, |n| n.clamp(256, 65536) as i32);
        for fd in 3..max {
            // SAFETY: F_GETFD reads the flags of descriptor `fd`; no memory is passed.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
            if flags == -1 || flags & libc::FD_CLOEXEC != 0 {
                continue; // not open (EBADF), or already close-on-exec
            }
            // SAFETY: F_SETFD sets the flags of descriptor `fd`; no memory is passed.
            if unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } == -1 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EBADF) {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    pub fn stdout_to_stderr() -> std::io::Result<()> {
        rustix::stdio::dup2_stdout(std::io::stderr()).map_err(Into::into)
    }

    pub fn is_executable(meta: &std::fs::Metadata) -> bool {
        meta.permissions().mode() & 0o111 != 0
    }

    pub fn make_executable(path: &Path) -> std::io::Result<()> {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
    }

    #[cfg(target_os = "linux")]
    pub use super::linux::{process_args, process_parent, process_start};
    #[cfg(not(target_os = "linux"))]
    pub use super::sys::{process_args, process_parent, process_start};
}

/// Linux reads /proc: start time in clock ticks since boot, exact enough to tell reuses apart.
#[cfg(target_os = "linux")]
mod linux {
    pub fn process_start(pid: u32) -> Option<String> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Field 22; the command name (field 2) is in parentheses and may hold spaces.
        let rest = &stat[stat.rfind(')')? + 1..];
        rest.split_whitespace().nth(19).map(str::to_string)
    }

    pub fn process_parent(pid: u32) -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let rest = &stat[stat.rfind(')')? + 1..];
        rest.split_whitespace().nth(1)?.parse().ok()
    }

    pub fn process_args(pid: u32) -> Option<Vec<String>> {
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        Some(
            raw.split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
        )
    }
}

/// macOS and Windows ask sysinfo (`sysctl`/`proc_pidinfo` on macOS, the process list and PEB on Windows).
#[cfg(not(target_os = "linux"))]
mod sys {
    use sysinfo::{Pid, Process, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

    /// Look at one process, refreshing only what `kind` asks for.
    fn with_process<T>(
        pid: u32,
        kind: ProcessRefreshKind,
        f: impl FnOnce(&Process) -> T,
    ) -> Option<T> {
        let pid = Pid::from_u32(pid);
        let mut sys = System::new();
        sys.refresh_processes_specifics(ProcessesToUpdate::Some(&[pid]), true, kind);
        sys.process(pid).map(f)
    }

    pub fn process_start(pid: u32) -> Option<String> {
        with_process(pid, ProcessRefreshKind::nothing(), |p| p.start_time())
            .filter(|t| *t != 0)
            .map(|t| t.to_string())
    }

    pub fn process_parent(pid: u32) -> Option<u32> {
        with_process(pid, ProcessRefreshKind::nothing(), |p| p.parent())
            .flatten()
            .map(|p| p.as_u32())
    }

    pub fn process_args(pid: u32) -> Option<Vec<String>> {
        let kind = ProcessRefreshKind::nothing().with_cmd(UpdateKind::Always);
        with_process(pid, kind, |p| {
            p.cmd()
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        })
        .filter(|args| !args.is_empty())
    }

    #[cfg(windows)]
    pub fn is_gone(pid: u32) -> bool {
        with_process(pid, ProcessRefreshKind::nothing(), |_| ()).is_none()
    }

    #[cfg(windows)]
    pub fn parent_pid() -> u32 {
        let me = std::process::id();
        with_process(me, ProcessRefreshKind::nothing(), |p| p.parent())
            .flatten()
            .map_or(0, |p| p.as_u32())
    }
}

#[cfg(windows)]
mod imp {
    use std::os::windows::process::CommandExt;
    use std::path::Path;
    use std::process::Command;

    use windows_sys::Win32::System::Console::{
        GetStdHandle, SetStdHandle, STD_ERROR_HANDLE, STD_OUTPUT_HANDLE,
    };
    use windows_sys::Win32::System::Threading::{CREATE_NEW_PROCESS_GROUP, DETACHED_PROCESS};

    pub use super::sys::{is_gone, parent_pid, process_args, process_parent, process_start};

    pub fn detach(cmd: &mut Command) -> std::io::Result<()> {
        // Handles Rust opens are not inheritable, so only the three given to `cmd` reach the child.
        cmd.creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP);
        Ok(())
    }

    pub fn stdout_to_stderr() -> std::io::Result<()> {
        // SAFETY: plain Win32 calls on this process's standard handles; std looks the handle up on every write.
        if unsafe { SetStdHandle(STD_OUTPUT_HANDLE, GetStdHandle(STD_ERROR_HANDLE)) } == 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn is_executable(_meta: &std::fs::Metadata) -> bool {
        false
    }

    pub fn make_executable(_path: &Path) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn a_running_process_is_not_gone_and_has_a_stable_start() {
        let me = std::process::id();
        assert!(!is_gone(me));
        assert!(!is_gone(parent_pid()));
        let start = process_start(me);
        assert!(start.is_some());
        assert_eq!(start, process_start(me));
    }

    #[test]
    fn a_finished_process_is_gone() {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(is_gone(pid));
        assert_eq!(process_start(pid), None);
        assert_eq!(process_args(pid), None);
        // Pids that can't exist are not "gone": nothing can be proved about them.
        assert!(!is_gone(u32::MAX));
    }

    #[test]
    fn the_arguments_of_a_running_process() {
        let argv = ["sh", "-c", "sleep 30; :", "push", "a b"];
        let mut child = Command::new(argv[0]).args(&argv[1..]).spawn().unwrap();
        // Until the child has called exec, it shows no arguments (or ours).
        let mut args = None;
        for _ in 0..200 {
            args = process_args(child.id());
            if args.as_ref().is_some_and(|a| a.len() == argv.len()) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let start = process_start(child.id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(args.unwrap(), argv);
        assert!(start.is_some());
    }

    /// Field 6 of /proc/PID/stat: the session id.
    fn session(pid: &str) -> String {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let rest = &stat[stat.rfind(')').unwrap() + 1..];
        rest.split_whitespace().nth(3).unwrap().to_string()
    }

    #[test]
    fn a_detached_child_has_its_own_session_and_none_of_our_descriptors() {
        let null = std::fs::File::open("/dev/null").unwrap();
        // Unlike what std opens, a dup'ed descriptor is inherited across exec unless detach closes it.
        let inherited = rustix::io::dup(&null).unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&inherited);
        let script =
            format!("echo $$; [ -e /proc/$$/fd/{fd} ] && echo open || echo closed; sleep 2");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &script])
            .stdout(std::process::Stdio::piped());
        detach(&mut cmd).unwrap();
        let mut child = cmd.spawn().unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert!(!line.is_empty(), "{:?}", child.wait());
        let theirs = session(line.trim());
        line.clear();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert_ne!(theirs, session("self"));
        assert_eq!(line.trim(), "closed");
    }

    #[test]
    fn windows_paths_for_msys_sh() {
        assert_eq!(
            msys_path(r"\\?\C:\Users\a b\git-publish.exe"),
            "C:/Users/a b/git-publish.exe"
        );
        assert_eq!(
            msys_path(r"\\?\UNC\srv\share\bin\gp.exe"),
            "//srv/share/bin/gp.exe"
        );
        assert_eq!(
            msys_path(r"C:\sites\blog\site.toml"),
            "C:/sites/blog/site.toml"
        );
        assert_eq!(msys_path("C:/already/fine"), "C:/already/fine");
        assert_eq!(shell_path(Path::new("/usr/bin/a\\b")), "/usr/bin/a\\b");
    }

    #[test]
    fn the_parent_of_a_child_is_us() {
        let mut child = Command::new("sleep").arg("5").spawn().unwrap();
        let parent = process_parent(child.id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(parent, Some(std::process::id()));
    }

    #[test]
    fn published_files_follow_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        for (executable, want) in [(false, 0o666), (true, 0o777)] {
            let mut b = tempfile::Builder::new();
            published_file_mode(&mut b, executable);
            let f = b.tempfile_in(tmp.path()).unwrap();
            let mode = f.as_file().metadata().unwrap().permissions().mode() & 0o777;
            // Whatever this process's umask is, it only removes bits; 0600 would mean it was not applied.
            assert_eq!(mode & !want, 0, "{mode:o}");
            assert_eq!(mode & 0o600, 0o600, "{mode:o}");
            assert_eq!(mode & 0o100 != 0, executable, "{mode:o}");
        }
    }

    #[test]
    fn a_fifo_is_opened_without_blocking() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("fifo");
        assert!(Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let f = open_nonblocking(&fifo).unwrap();
        assert!(f.metadata().unwrap().file_type().is_fifo());
    }

    #[test]
    fn executable_bits() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("f");
        std::fs::write(&p, "x").unwrap();
        assert!(!is_executable(&std::fs::metadata(&p).unwrap()));
        make_executable(&p).unwrap();
        assert!(is_executable(&std::fs::metadata(&p).unwrap()));
    }

    #[test]
    fn names_that_are_not_utf8_are_reported_lossily() {
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(utf8_name(OsStr::new("héllo.html")), Ok("héllo.html"));
        assert_eq!(
            utf8_name(OsStr::from_bytes(b"caf\xe9.html")),
            Err("caf\u{fffd}.html".to_string())
        );
    }
}
