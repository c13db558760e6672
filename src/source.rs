//! The git side: the only module that touches git2.
//!
//! Resolves revisions, finds the output subtree of a commit, lists it, diffs two subtrees (tree to tree, exact
//! renames, typechanges) and reads blob bytes by id. Everything it returns is copied into owned plain types
//! ([`Change`], [`FileEntry`], hex ids as `String`) so that the planner and executor never see git2.
//! It never reads the working tree's files, except to warn that uncommitted output will not be published.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use git2::{
    Delta, DiffFindOptions, DiffOptions, ObjectType, Oid, Repository, StatusOptions, TreeWalkMode,
    TreeWalkResult,
};

use crate::error::{Error, Result};
use crate::plan::{Change, ChangeKind, FileEntry};

mod snapshot;
pub use snapshot::{Snapshot, SnapshotInfo};

impl From<git2::Error> for Error {
    fn from(e: git2::Error) -> Self {
        Error::Git(e.message().to_string())
    }
}

/// Git's empty tree, for "nothing deployed yet".
pub const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

pub struct Repo {
    repo: Repository,
}

impl Repo {
    /// Open the repository the way git would for a command run here: from `GIT_DIR` and friends when set
    /// (inside hooks, linked worktrees), else by discovery from `cwd`.
    pub fn open(cwd: &Path) -> Result<Repo> {
        let repo = if std::env::var_os("GIT_DIR").is_some() {
            Repository::open_from_env()
        } else {
            Repository::discover(cwd)
        }
        .map_err(|e| Error::NotARepo(format!("{}: {}", cwd.display(), e.message())))?;
        Ok(Repo { repo })
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

    /// Whether .gitignore (or info/exclude) ignores `path` (relative to the root), e.g. Hexo's `public/`.
    pub fn is_ignored(&self, path: &str) -> bool {
        self.repo.is_path_ignored(path).unwrap_or(false)
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

    /// One-line summary of a commit, for messages.
    pub fn describe(&self, id: &str) -> String {
        let short = &id[..id.len().min(7)];
        match Oid::from_str(id)
            .ok()
            .and_then(|o| self.repo.find_commit(o).ok())
        {
            Some(c) => format!("{short} {}", c.summary().unwrap_or("")),
            None => short.to_string(),
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
            match entry.filemode() {
                0o040000 => TreeWalkResult::Ok,
                0o100644 | 0o100755 | 0o100664 => {
                    out.push(FileEntry {
                        path,
                        blob: entry.id().to_string(),
                    });
                    TreeWalkResult::Ok
                }
                0o120000 => {
                    err = Some(Error::UnsupportedEntry {
                        path,
                        what: "symbolic link",
                        commit: short(commit),
                    });
                    TreeWalkResult::Abort
                }
                0o160000 => {
                    err = Some(Error::UnsupportedEntry {
                        path,
                        what: "submodule",
                        commit: short(commit),
                    });
                    TreeWalkResult::Abort
                }
                _ => {
                    err = Some(Error::UnsupportedEntry {
                        path,
                        what: "special entry",
                        commit: short(commit),
                    });
                    TreeWalkResult::Abort
                }
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        walked?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Changes from `old_tree` (None = nothing deployed) to `new_tree`. Exact renames are found (a renamed file
    /// keeps its blob id); a rename is reported as the old path deleted and the new one added.
    pub fn diff(&self, old_tree: Option<&str>, new_tree: &str) -> Result<Vec<Change>> {
        let new = self.repo.find_tree(Oid::from_str(new_tree)?)?;
        let old = match old_tree {
            Some(t) => Some(self.repo.find_tree(Oid::from_str(t)?)?),
            None => None,
        };
        let mut opts = DiffOptions::new();
        opts.include_typechange(true)
            .ignore_submodules(false)
            .skip_binary_check(true);
        let mut diff = self
            .repo
            .diff_tree_to_tree(old.as_ref(), Some(&new), Some(&mut opts))?;
        // Explicit, so the user's diff.renames config doesn't decide. Exact only: a renamed file whose bytes
        // changed must be uploaded anyway, and similarity would read every blob.
        let mut find = DiffFindOptions::new();
        find.renames(true)
            .exact_match_only(true)
            .rename_limit(1_000_000);
        diff.find_similar(Some(&mut find))?;

        let odb = self.repo.odb()?;
        let size_of = |oid: Oid| -> Result<u64> { Ok(odb.read_header(oid)?.0 as u64) };
        let path_of = |f: &git2::DiffFile| -> Result<String> {
            let bytes = f.path_bytes().unwrap_or_default();
            String::from_utf8(bytes.to_vec()).map_err(|_| Error::NonUtf8Path {
                path: String::from_utf8_lossy(bytes).into_owned(),
                commit: "the diff".into(),
            })
        };
        let mut out = Vec::new();
        for d in diff.deltas() {
            let (o, n) = (d.old_file(), d.new_file());
            match d.status() {
                Delta::Added | Delta::Copied => out.push(Change {
                    path: path_of(&n)?,
                    kind: ChangeKind::Added,
                    blob: Some(n.id().to_string()),
                    size: size_of(n.id())?,
                }),
                Delta::Deleted => out.push(Change {
                    path: path_of(&o)?,
                    kind: ChangeKind::Deleted,
                    blob: None,
                    size: 0,
                }),
                // Same blob, different mode (executable bit): S3 has nothing to change.
                Delta::Modified | Delta::Typechange
                    if o.id() != n.id() || d.status() == Delta::Typechange =>
                {
                    out.push(Change {
                        path: path_of(&n)?,
                        kind: ChangeKind::Modified,
                        blob: Some(n.id().to_string()),
                        size: size_of(n.id())?,
                    });
                }
                Delta::Renamed => {
                    out.push(Change {
                        path: path_of(&o)?,
                        kind: ChangeKind::Deleted,
                        blob: None,
                        size: 0,
                    });
                    out.push(Change {
                        path: path_of(&n)?,
                        kind: ChangeKind::Added,
                        blob: Some(n.id().to_string()),
                        size: size_of(n.id())?,
                    });
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Changes to bring a target to `new_tree` when any of `bases` may be what it holds (the deployed tree plus
    /// the tree of an interrupted publish). A path is uploaded if it differs from any base, deleted if it is
    /// absent from the new tree but present in any base.
    pub fn merged_diff(&self, bases: &[Option<String>], new_tree: &str) -> Result<Vec<Change>> {
        let mut merged: BTreeMap<String, Change> = BTreeMap::new();
        for base in bases {
            for c in self.diff(base.as_deref(), new_tree)? {
                match merged.get_mut(&c.path) {
                    None => {
                        merged.insert(c.path.clone(), c);
                    }
                    Some(prev) => {
                        if c.kind == ChangeKind::Modified {
                            prev.kind = ChangeKind::Modified;
                        }
                    }
                }
            }
        }
        Ok(merged.into_values().collect())
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

    /// Number of uncommitted changes (including untracked files) under `dir` in the working tree.
    pub fn uncommitted_in(&self, dir: &str) -> usize {
        if self.repo.is_bare() {
            return 0;
        }
        let mut opts = StatusOptions::new();
        opts.include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false);
        if !dir.is_empty() {
            opts.pathspec(format!("{dir}/"))
                .disable_pathspec_match(false);
        }
        self.repo
            .statuses(Some(&mut opts))
            .map(|s| s.len())
            .unwrap_or(0)
    }

    /// Blob id of the regular file at `path` inside `tree`, if there is one.
    pub fn blob_in_tree(&self, tree: &str, path: &str) -> Option<String> {
        let tree = self.repo.find_tree(Oid::from_str(tree).ok()?).ok()?;
        let entry = tree.get_path(Path::new(path)).ok()?;
        (entry.kind() == Some(ObjectType::Blob)).then(|| entry.id().to_string())
    }

    /// Bytes of a blob when it is at most `cap` bytes long (the size is read from the object header first).
    pub fn read_blob_capped(&self, id: &str, cap: u64) -> Option<Vec<u8>> {
        let oid = Oid::from_str(id).ok()?;
        let (size, _) = self.repo.odb().ok()?.read_header(oid).ok()?;
        if size as u64 > cap {
            return None;
        }
        Some(self.repo.find_blob(oid).ok()?.content().to_vec())
    }

    /// A thread-safe reader of blob bytes for the executor.
    pub fn blob_reader(&self) -> Result<BlobReader> {
        let repo = Repository::open(self.repo.path())?;
        Ok(BlobReader {
            repo: Mutex::new(repo),
            git_dir: self.repo.path().to_path_buf(),
        })
    }
}

/// Reads whole blobs by id. git2's streaming readers fail on packed objects, so blobs are read whole; the
/// executor bounds how many are in memory at once.
pub struct BlobReader {
    repo: Mutex<Repository>,
    git_dir: PathBuf,
}

impl BlobReader {
    pub fn read(&self, id: &str) -> std::result::Result<Vec<u8>, String> {
        let oid = Oid::from_str(id).map_err(|e| e.message().to_string())?;
        let repo = self
            .repo
            .lock()
            .map_err(|_| "blob reader poisoned".to_string())?;
        let blob = repo
            .find_blob(oid)
            .map_err(|e| format!("blob {id}: {}", e.message()))?;
        Ok(blob.content().to_vec())
    }

    /// Size of a blob from the object header (no content read).
    pub fn size(&self, id: &str) -> std::result::Result<u64, String> {
        let oid = Oid::from_str(id).map_err(|e| e.message().to_string())?;
        let repo = self
            .repo
            .lock()
            .map_err(|_| "blob reader poisoned".to_string())?;
        let odb = repo.odb().map_err(|e| e.message().to_string())?;
        let (size, _) = odb
            .read_header(oid)
            .map_err(|e| format!("blob {id}: {}", e.message()))?;
        Ok(size as u64)
    }

    /// A streaming reader of a blob's bytes, for large files, holding a few KiB at a time. A loose object
    /// (the usual state of a freshly committed file) is a zlib stream of `blob <size>\0<bytes>` under
    /// `objects/`: it is inflated as it is read (libgit2 would read or map it whole). Anything else (packed,
    /// in an alternate) goes through `git cat-file blob`, in its own process.
    pub fn stream(&self, id: &str) -> std::result::Result<Box<dyn std::io::Read + Send>, String> {
        if let Some(r) = self.stream_loose(id) {
            return Ok(r);
        }
        self.stream_cat_file(id)
    }

    fn stream_loose(&self, id: &str) -> Option<Box<dyn std::io::Read + Send>> {
        use std::io::{BufRead, BufReader};
        Oid::from_str(id).ok()?;
        let path = self.git_dir.join("objects").join(&id[..2]).join(&id[2..]);
        let file = std::fs::File::open(path).ok()?;
        let mut z = BufReader::new(flate2::read::ZlibDecoder::new(BufReader::new(file)));
        let mut header = Vec::new();
        z.read_until(0, &mut header).ok()?;
        header.starts_with(b"blob ").then_some(())?;
        Some(Box::new(z))
    }

    fn stream_cat_file(
        &self,
        id: &str,
    ) -> std::result::Result<Box<dyn std::io::Read + Send>, String> {
        Oid::from_str(id).map_err(|e| e.message().to_string())?;
        let mut cmd = std::process::Command::new("git");
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("GIT_") {
                cmd.env_remove(k);
            }
        }
        let mut child = cmd
            .arg("--git-dir")
            .arg(&self.git_dir)
            .args(["-c", "core.bigFileThreshold=16m", "cat-file", "blob", id])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("running git cat-file for blob {id}: {e}"))?;
        let stdout = child.stdout.take().expect("piped");
        Ok(Box::new(ChildReader {
            child,
            stdout,
            id: id.to_string(),
        }))
    }
}

/// Reads a child's stdout and fails (instead of returning a short read) if the child exits non-zero.
struct ChildReader {
    child: std::process::Child,
    stdout: std::process::ChildStdout,
    id: String,
}

impl std::io::Read for ChildReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.stdout.read(buf)?;
        if n == 0 && !buf.is_empty() {
            let status = self.child.wait()?;
            if !status.success() {
                return Err(std::io::Error::other(format!(
                    "git cat-file blob {} failed: {status}",
                    self.id
                )));
            }
        }
        Ok(n)
    }
}

impl Drop for ChildReader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn short(id: &str) -> String {
    id[..id.len().min(12)].to_string()
}
