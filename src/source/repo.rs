//! [`Repo`]: open, revisions, refs, config values, the listing of a tree (see the parent module's table).

use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};

use crate::error::{Error, Result};
use crate::plan::FileEntry;

impl From<git2::Error> for Error {
    fn from(e: git2::Error) -> Self {
        Error::Git(e.message().to_string())
    }
}

/// Git's empty tree, for "nothing deployed yet".
pub const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

pub struct Repo {
    pub(super) repo: Repository,
}

impl Repo {
    /// Open the repository the way git would for a command run here: from `GIT_DIR` and friends when set
    /// (inside hooks, linked worktrees), else by discovery from `cwd`. Relative `GIT_DIR` and
    /// `GIT_WORK_TREE` are relative to `cwd`, as git takes them (libgit2 would take the work tree relative to
    /// the git dir).
    pub fn open(cwd: &Path) -> Result<Repo> {
        let env_path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let (git_dir, work_tree) = (env_path("GIT_DIR"), env_path("GIT_WORK_TREE"));
        let relative = [&git_dir, &work_tree]
            .into_iter()
            .flatten()
            .any(|p| p.is_relative());
        let err = |e: git2::Error| Error::NotARepo(format!("{}: {}", cwd.display(), e.message()));
        let repo = match &git_dir {
            Some(dir) if relative => Repository::open_ext(
                cwd.join(dir),
                git2::RepositoryOpenFlags::NO_SEARCH,
                std::iter::empty::<&std::ffi::OsStr>(),
            ),
            Some(_) => Repository::open_from_env(),
            None => Repository::discover(cwd),
        }
        .map_err(err)?;
        if let Some(tree) = work_tree.filter(|_| relative || git_dir.is_none()) {
            repo.set_workdir(&cwd.join(tree), false).map_err(err)?;
        }
        Ok(Repo { repo })
    }

    /// Another handle on the same repository, for another thread.
    pub fn reopen(&self) -> Result<Repo> {
        Ok(Repo {
            repo: Repository::open(self.repo.path())?,
        })
    }

    /// Top of the working tree (or the git dir of a bare repository): where site.toml lives.
    pub fn root(&self) -> PathBuf {
        self.repo
            .workdir()
            .unwrap_or_else(|| self.repo.path())
            .to_path_buf()
    }

    pub fn git_dir(&self) -> PathBuf {
        self.repo.path().to_path_buf()
    }

    /// The directory shared by every worktree of the repository (`git rev-parse --git-common-dir`).
    pub fn common_dir(&self) -> PathBuf {
        self.repo.commondir().to_path_buf()
    }

    /// The fetch refspecs of remote `name`, or `None` when there is no such remote (e.g. a URL).
    pub fn remote_fetch_refspecs(&self, name: &str) -> Option<Vec<String>> {
        let remote = self.repo.find_remote(name).ok()?;
        let specs = remote.fetch_refspecs().ok()?;
        Some(specs.iter().flatten().map(str::to_string).collect())
    }

    /// A string value of the repository's git config (all scopes), e.g. `branch.main.remote`.
    pub fn config_string(&self, key: &str) -> Option<String> {
        self.repo.config().ok()?.get_string(key).ok()
    }

    /// A boolean of the repository's git config (all scopes), e.g. `git-publish.previews`.
    pub fn config_bool(&self, key: &str) -> Option<bool> {
        self.repo.config().ok()?.get_bool(key).ok()
    }

    /// Set a boolean in the repository's own config (`.git/config`), or, with `false`, remove it (nothing to
    /// do when it is not there).
    pub fn set_local_flag(&self, key: &str, on: bool) -> Result<()> {
        let ctx =
            |e: git2::Error| Error::Git(format!("setting {key} in the repository's config: {e}"));
        let mut local = (self.repo.config())
            .and_then(|c| c.open_level(git2::ConfigLevel::Local))
            .map_err(ctx)?;
        match on {
            true => local.set_bool(key, true).map_err(ctx),
            false => match local.remove(key) {
                Err(e) if e.code() != git2::ErrorCode::NotFound => Err(ctx(e)),
                _ => Ok(()),
            },
        }
    }

    /// Whether .gitignore (or info/exclude) ignores `path` (relative to the root), e.g. Hexo's `public/`.
    pub fn is_ignored(&self, path: &str) -> bool {
        self.repo.is_path_ignored(path).unwrap_or(false)
    }

    /// What a symbolic ref points at (`refs/remotes/origin/HEAD` → `refs/remotes/origin/main`).
    pub fn symbolic_target(&self, name: &str) -> Option<String> {
        let r = self.repo.find_reference(name).ok()?;
        r.symbolic_target().map(str::to_string)
    }

    /// The branches of `remote` as it has them now (`git ls-remote --heads`, which knows the remote's
    /// credentials), short names.
    pub fn remote_branches(&self, remote: &str) -> Result<Vec<String>> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(self.root())
            .args(["ls-remote", "--heads", remote])
            .env_remove("GIT_DIR")
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| Error::io("running `git ls-remote` (is git on PATH?)", e))?;
        if !out.status.success() {
            return Err(Error::Git(format!(
                "`git ls-remote --heads {remote}` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split('\t').nth(1))
            .filter_map(|r| r.strip_prefix("refs/heads/"))
            .map(str::to_string)
            .collect())
    }

    /// Short name of the checked-out branch, if any.
    pub fn current_branch(&self) -> Option<String> {
        let head = self.repo.head().ok()?;
        head.is_branch()
            .then(|| head.shorthand().map(str::to_string))
            .flatten()
    }

    /// Full hex id of the commit `rev` names.
    pub fn resolve_commit(&self, rev: &str) -> Result<String> {
        let not_found = || Error::RevNotFound {
            rev: rev.to_string(),
            repo: self.root().display().to_string(),
        };
        let obj = self.repo.revparse_single(rev).map_err(|_| not_found())?;
        let commit = obj.peel_to_commit().map_err(|_| not_found())?;
        Ok(commit.id().to_string())
    }

    pub fn has_commit(&self, id: &str) -> bool {
        Oid::from_str(id)
            .ok()
            .and_then(|oid| self.repo.find_commit(oid).ok())
            .is_some()
    }

    pub fn has_tree(&self, id: &str) -> bool {
        Oid::from_str(id)
            .ok()
            .and_then(|oid| self.repo.find_tree(oid).ok())
            .is_some()
    }

    /// One-line summary of a commit, for messages: its short id and its subject, quoted as
    /// [`quote_path`](crate::quote::quote_path) shows a name when it holds characters that don't print. The id
    /// may come from a record (anything): never cut inside a character.
    pub fn describe(&self, id: &str) -> String {
        let q = crate::quote::quote_path;
        let end = id.char_indices().nth(7).map_or(id.len(), |(i, _)| i);
        let short = q(&id[..end]);
        match Oid::from_str(id)
            .ok()
            .and_then(|o| self.repo.find_commit(o).ok())
        {
            Some(c) => format!(
                "{short} {}",
                q(&String::from_utf8_lossy(c.summary_bytes().unwrap_or(b"")))
            ),
            None => short.into_owned(),
        }
    }

    /// Tree id of `dir` inside `commit` ("" = the commit's root tree).
    pub fn output_tree(&self, commit: &str, dir: &str) -> Result<String> {
        let c = self.repo.find_commit(Oid::from_str(commit)?)?;
        let root = c.tree()?;
        if dir.is_empty() {
            return Ok(root.id().to_string());
        }
        let missing = || Error::OutputDirMissing {
            dir: dir.to_string(),
            commit: short(commit),
        };
        let entry = root.get_path(Path::new(dir)).map_err(|_| missing())?;
        if entry.kind() != Some(ObjectType::Tree) {
            return Err(missing());
        }
        Ok(entry.id().to_string())
    }

    /// Every file of a tree. Symlinks, submodules and non-UTF-8 names are errors naming the path.
    pub fn listing(&self, tree: &str, commit: &str) -> Result<Vec<FileEntry>> {
        let tree = self.repo.find_tree(Oid::from_str(tree)?)?;
        let mut out = Vec::new();
        let mut err = None;
        let walked = tree.walk(TreeWalkMode::PreOrder, |root, entry| {
            let name = match std::str::from_utf8(entry.name_bytes()) {
                Ok(n) => n,
                Err(_) => {
                    let lossy = String::from_utf8_lossy(entry.name_bytes());
                    err = Some(Error::NonUtf8Path {
                        path: format!("{root}{lossy}"),
                        commit: short(commit),
                    });
                    return TreeWalkResult::Abort;
                }
            };
            let path = format!("{root}{name}");
            let kind = EntryKind::of_mode(entry.filemode());
            if let Some(what) = kind.unsupported() {
                err = Some(Error::UnsupportedEntry {
                    path,
                    what,
                    commit: short(commit),
                });
                return TreeWalkResult::Abort;
            }
            if kind == EntryKind::File {
                out.push(FileEntry {
                    path,
                    blob: entry.id().to_string(),
                    executable: entry.filemode() == 0o100755,
                });
            }
            TreeWalkResult::Ok
        });
        if let Some(e) = err {
            return Err(e);
        }
        walked?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
    /// Files and bytes of a tree (object headers only, no blob is read).
    pub fn tree_size(&self, tree: &str) -> Result<(usize, u64)> {
        let files = self.listing(tree, "")?;
        let odb = self.repo.odb()?;
        let mut bytes = 0u64;
        for f in &files {
            let (size, _) = odb.read_header(Oid::from_str(&f.blob)?)?;
            bytes += size as u64;
        }
        Ok((files.len(), bytes))
    }

    /// (ahead, behind): commits in `tip` not in `base`, and the reverse.
    pub fn ahead_behind(&self, tip: &str, base: &str) -> Option<(usize, usize)> {
        self.repo
            .graph_ahead_behind(Oid::from_str(tip).ok()?, Oid::from_str(base).ok()?)
            .ok()
    }

    pub fn read_ref(&self, name: &str) -> Option<String> {
        self.repo.refname_to_id(name).ok().map(|o| o.to_string())
    }

    /// Point `name` at `commit` (the local mirror of a target's state).
    pub fn update_ref(&self, name: &str, commit: &str, message: &str) -> Result<()> {
        self.repo
            .reference(name, Oid::from_str(commit)?, true, message)?;
        Ok(())
    }
}

/// What a tree entry is, by its mode; only regular files (and the trees holding them) are published.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum EntryKind {
    Tree,
    File,
    Link,
    Submodule,
    Other,
}

impl EntryKind {
    pub(super) fn of_mode(mode: i32) -> EntryKind {
        match mode {
            0o040000 => EntryKind::Tree,
            0o100644 | 0o100755 | 0o100664 => EntryKind::File,
            0o120000 => EntryKind::Link,
            0o160000 => EntryKind::Submodule,
            _ => EntryKind::Other,
        }
    }

    /// What to call an entry that can't be published, for [`Error::UnsupportedEntry`].
    pub(super) fn unsupported(self) -> Option<&'static str> {
        match self {
            EntryKind::Tree | EntryKind::File => None,
            EntryKind::Link => Some("symbolic link"),
            EntryKind::Submodule => Some("submodule"),
            EntryKind::Other => Some("special entry"),
        }
    }
}

/// Process-wide libgit2 settings. Call once, before any other thread exists.
///
/// - libgit2 re-hashes (SHA-1 with collision detection) every object it reads, by default; git does not. That
///   was a third of planning a small change on a 100,000-file site (two 4.6 MB trees). zlib's checksum still
///   catches a corrupt object.
/// - libgit2 maps pack files in windows of up to 1 GiB, 8 GiB in all, and keeps what it touched mapped: a
///   first publish of 20,000 files (a 382 MB pack) peaked at 191 MB RSS, 148 MB of it mapped pack pages.
///   Smaller windows and a cap on what is mapped at once bound that (16 MiB: with 32 MiB the mapped pages
///   still grew by ~15 MB over the pages of that publish; 8 MiB in 4 MiB windows gave back another ~5.5 MiB
///   of the 20,000-file publish's peak, with no loss of time).
///
/// # Safety
/// Writes libgit2's globals without synchronisation: no other thread may be running.
pub unsafe fn configure_libgit2() {
    git2::opts::strict_hash_verification(false);
    // SAFETY: the caller guarantees that no other thread exists yet.
    unsafe {
        let _ = git2::opts::set_mwindow_size(4 << 20);
        let _ = git2::opts::set_mwindow_mapped_limit(8 << 20);
    }
}

pub(super) fn short(id: &str) -> String {
    id[..id.len().min(12)].to_string()
}
