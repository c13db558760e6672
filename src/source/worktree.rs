//! The one dirty check of the working tree: how many uncommitted changes (untracked files included, ignored
//! ones not) a part of it holds.
//!
//! Two callers, one implementation:
//! - a publish of HEAD warns about changes **inside** the output directory ([`Repo::start_uncommitted_count`],
//!   started in the background while the plan is made);
//! - a snapshot build records whether the sources **outside** the build directory were dirty
//!   (`Repo::dirty_outside`).
//!
//! Both run `git status`, which is faster than libgit2's status and honours the repository's
//! `core.untrackedCache` and `core.fsmonitor`, and takes no lock (`--no-optional-locks`): a `git commit`
//! meanwhile is not disturbed. This module only counts; it never reads file contents for publishing, and
//! saying what a count means is the caller's job.

use std::process::{Command, Stdio};

use super::repo::Repo;

/// The part of the working tree a check looks at, relative to the repository root ("" = all of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope<'a> {
    Inside(&'a str),
    Outside(&'a str),
}

impl Scope<'_> {
    /// The pathspecs that select this part, for `git status -- <pathspecs>`.
    fn pathspecs(self) -> Vec<String> {
        match self {
            Scope::Inside("") => vec![":(top)".into()],
            Scope::Inside(dir) => vec![format!(":(top,literal){dir}")],
            Scope::Outside(dir) => vec![":(top)".into(), format!(":(top,exclude,literal){dir}")],
        }
    }
}

impl Repo {
    /// Start counting the uncommitted changes under `dir`, beside whatever the caller does next: it reads
    /// every file's metadata, which takes seconds on a 100,000-file site, while planning a small change takes
    /// milliseconds. `None` in a bare repository.
    pub fn start_uncommitted_count(&self, dir: &str) -> Option<UncommittedCount> {
        self.start_status(Scope::Inside(dir))
    }

    /// Whether the working tree has uncommitted changes outside `build_dir` (false when `git status` can't
    /// run, and in a bare repository).
    pub(super) fn dirty_outside(&self, build_dir: &str) -> bool {
        self.start_status(Scope::Outside(build_dir))
            .and_then(UncommittedCount::wait)
            .is_some_and(|n| n > 0)
    }

    fn start_status(&self, scope: Scope) -> Option<UncommittedCount> {
        if self.repo.is_bare() {
            return None;
        }
        let mut cmd = Command::new("git");
        cmd.args([
            "--no-optional-locks",
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--",
        ])
        .args(scope.pathspecs())
        .current_dir(self.root())
        .stdin(Stdio::null())
        .stderr(Stdio::null());
        Some(UncommittedCount(std::thread::spawn(move || {
            let out = cmd.output().ok().filter(|o| o.status.success())?;
            Some(count_porcelain_z(&out.stdout))
        })))
    }
}

/// A working-tree check started by [`Repo::start_uncommitted_count`] (or `Repo::dirty_outside`).
pub struct UncommittedCount(std::thread::JoinHandle<Option<usize>>);

impl UncommittedCount {
    /// The number of uncommitted changes; `None` if `git status` could not run.
    pub fn wait(self) -> Option<usize> {
        self.0.join().ok().flatten()
    }
}

/// Entries in `git status --porcelain=v1 -z` output: `XY path\0`, and a rename or copy carries its source
/// as one more field.
fn count_porcelain_z(out: &[u8]) -> usize {
    let mut fields = out.split(|b| *b == 0).filter(|f| !f.is_empty());
    let mut n = 0;
    while let Some(f) = fields.next() {
        n += 1;
        if f.iter().take(2).any(|c| matches!(c, b'R' | b'C')) {
            fields.next();
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::super::test_repo::{commit, new_repo, write};
    use super::*;

    #[test]
    fn counts_inside_and_outside_a_directory() {
        let tmp = new_repo();
        let d = tmp.path();
        write(d, ".gitignore", "ignored/\n");
        write(d, "public/a/x", "1");
        write(d, "src/y", "2");
        write(d, "publicity", "3");
        commit(d);
        let repo = Repo::open(d).unwrap();
        let count = |dir| repo.start_uncommitted_count(dir).unwrap().wait();
        assert_eq!((count("public"), count("")), (Some(0), Some(0)));
        assert!(!repo.dirty_outside("public"));

        write(d, "public/a/x", "changed");
        write(d, "public/new", "untracked");
        write(d, "ignored/z", "ignored");
        assert_eq!((count("public"), count("")), (Some(2), Some(2)));
        assert!(!repo.dirty_outside("public"), "changes inside don't count");

        write(d, "publicity", "a sibling whose name starts the same");
        assert_eq!(count("public"), Some(2));
        assert!(repo.dirty_outside("public"));
    }

    #[test]
    fn a_rename_is_one_change() {
        assert_eq!(count_porcelain_z(b"R  new\0old\0?? u\0 M m\0"), 3);
        assert_eq!(count_porcelain_z(b""), 0);
    }
}
