//! The git side: the only module that touches git2.
//!
//! Resolves revisions, finds the output subtree of a commit, lists it, diffs two subtrees (tree to tree, exact
//! renames, typechanges) and reads blob bytes by id. Everything it returns is copied into owned plain types
//! ([`Change`], [`FileEntry`], hex ids as `String`) so that the planner and executor never see git2.
//! It never reads the working tree's files, except to warn that uncommitted output will not be published.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};

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

    /// Changes from `old_tree` (None = nothing deployed) to `new_tree` (of `commit`, for messages), sorted by
    /// path. A rename is the old path deleted and the new one added (the planner copies the blob server-side).
    /// A new or changed entry that is not a regular file (symbolic link, submodule) or whose name is not UTF-8
    /// is an error, as in [`Repo::listing`]: unchanged ones were checked when they were published.
    ///
    /// Subtrees with the same id on both sides are skipped without being read, so the cost follows the
    /// change, not the site. This walks the raw tree objects itself rather than through libgit2's diff,
    /// which took 600 ms for a 10-file change on the benchmark's 100,000-file site (a directory of 70,000
    /// posts): it builds a path and an iterator frame for every entry of every changed directory and then
    /// looks for renames, which the planner does not need. Reading the objects is left to libgit2; the two
    /// sides of a big directory are read at the same time (see [`PARALLEL_TREE_READ`]).
    pub fn diff(
        &self,
        old_tree: Option<&str>,
        new_tree: &str,
        commit: &str,
    ) -> Result<Vec<Change>> {
        self.diff_reading_in_parallel_from(old_tree, new_tree, commit, PARALLEL_TREE_READ)
    }

    fn diff_reading_in_parallel_from(
        &self,
        old_tree: Option<&str>,
        new_tree: &str,
        commit: &str,
        parallel_read: usize,
    ) -> Result<Vec<Change>> {
        let odb = self.repo.odb()?;
        let mut walk = TreeDiff {
            odb: &odb,
            git_dir: self.repo.path().to_path_buf(),
            commit,
            parallel_read,
            out: Vec::new(),
        };
        let new = walk.read(Oid::from_str(new_tree)?)?;
        let old = match old_tree {
            Some(t) => Some(walk.read(Oid::from_str(t)?)?),
            None => None,
        };
        walk.trees("", old.as_ref(), Some(&new))?;
        let mut out = walk.out;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Changes to bring a target to `new_tree` when any of `bases` may be what it holds (the deployed tree plus
    /// the tree of an interrupted publish). A path is uploaded if it differs from any base, deleted if it is
    /// absent from the new tree but present in any base.
    pub fn merged_diff(
        &self,
        bases: &[Option<String>],
        new_tree: &str,
        commit: &str,
    ) -> Result<Vec<Change>> {
        let mut merged: BTreeMap<String, Change> = BTreeMap::new();
        for base in bases {
            for c in self.diff(base.as_deref(), new_tree, commit)? {
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

    /// Start counting the uncommitted changes (including untracked files) under `dir` in the working tree,
    /// beside whatever the caller does next: it reads every file's metadata, which takes seconds on a
    /// 100,000-file site, while planning a small change takes milliseconds. It runs `git status`, which is
    /// faster than libgit2's and honours the repository's `core.untrackedCache` and `core.fsmonitor`, and
    /// takes no lock (`--no-optional-locks`): a `git commit` meanwhile is not disturbed. `None` in a bare
    /// repository.
    pub fn start_uncommitted_count(&self, dir: &str) -> Option<UncommittedCount> {
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
        .arg(if dir.is_empty() {
            ":(top)".to_string()
        } else {
            format!(":(top,literal){dir}")
        })
        .current_dir(self.root())
        .stdin(Stdio::null())
        .stderr(Stdio::null());
        Some(UncommittedCount(std::thread::spawn(move || {
            let out = cmd.output().ok().filter(|o| o.status.success())?;
            Some(count_porcelain_z(&out.stdout))
        })))
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
        Ok(BlobReader {
            repo: Mutex::new(self.reopen()?.repo),
            git_dir: self.repo.path().to_path_buf(),
        })
    }
}

/// The state of [`Repo::diff`]'s walk over two trees.
struct TreeDiff<'r> {
    odb: &'r git2::Odb<'r>,
    git_dir: PathBuf,
    commit: &'r str,
    /// Trees at least this big on both sides are read at the same time.
    parallel_read: usize,
    out: Vec<Change>,
}

/// What a tree entry is, by its mode; only regular files (and the trees holding them) are published.
#[derive(Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    Tree,
    File,
    Link,
    Submodule,
    Other,
}

impl EntryKind {
    fn of_mode(mode: i32) -> EntryKind {
        match mode {
            0o040000 => EntryKind::Tree,
            0o100644 | 0o100755 | 0o100664 => EntryKind::File,
            0o120000 => EntryKind::Link,
            0o160000 => EntryKind::Submodule,
            _ => EntryKind::Other,
        }
    }

    /// What to call an entry that can't be published, for [`Error::UnsupportedEntry`].
    fn unsupported(self) -> Option<&'static str> {
        match self {
            EntryKind::Tree | EntryKind::File => None,
            EntryKind::Link => Some("symbolic link"),
            EntryKind::Submodule => Some("submodule"),
            EntryKind::Other => Some("special entry"),
        }
    }
}

/// One entry of a tree object as git stores it: `<octal mode> <name>\0<20-byte id>`.
struct Entry<'a> {
    kind: EntryKind,
    mode: &'a [u8],
    name: &'a [u8],
    id: Oid,
}

/// The entries of a raw tree object, in git's order; `None` for a malformed one.
fn entries(mut data: &[u8]) -> Option<Vec<Entry<'_>>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let sp = data.iter().position(|b| *b == b' ')?;
        let nul = sp + 1 + data[sp + 1..].iter().position(|b| *b == 0)?;
        let id = Oid::from_bytes(data.get(nul + 1..nul + 21)?).ok()?;
        let mode = &data[..sp];
        out.push(Entry {
            kind: EntryKind::of_mode(i32::from_str_radix(std::str::from_utf8(mode).ok()?, 8).ok()?),
            mode,
            name: &data[sp + 1..nul],
            id,
        });
        data = &data[nul + 21..];
    }
    Some(out)
}

/// Git's order of tree entries: by name, a tree's name compared as if it ended in `/`.
fn git_order(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    fn key<'a>(e: &Entry<'a>) -> impl Iterator<Item = u8> + 'a {
        let slash: &'static [u8] = if e.kind == EntryKind::Tree { b"/" } else { b"" };
        e.name.iter().chain(slash).copied()
    }
    match a.name.cmp(b.name) {
        // Equal names, or one a prefix of the other: the slash decides.
        _ if a.name.starts_with(b.name) || b.name.starts_with(a.name) => key(a).cmp(key(b)),
        o => o,
    }
}

/// A tree object's bytes, as libgit2 read them here or in a helper thread.
enum Raw<'r> {
    Odb(git2::OdbObject<'r>),
    Owned(Vec<u8>),
}

impl Raw<'_> {
    fn data(&self) -> &[u8] {
        match self {
            Raw::Odb(o) => o.data(),
            Raw::Owned(v) => v,
        }
    }
}

/// Trees at least this big on both sides are read at the same time (a directory of 70,000 posts is a
/// 4.6 MB tree object, and inflating it is most of the diff of a small change).
const PARALLEL_TREE_READ: usize = 256 << 10;

impl<'r> TreeDiff<'r> {
    fn path(&self, prefix: &str, e: &Entry) -> Result<String> {
        match std::str::from_utf8(e.name) {
            Ok(name) => Ok(format!("{prefix}{name}")),
            Err(_) => Err(Error::NonUtf8Path {
                path: format!("{prefix}{}", String::from_utf8_lossy(e.name)),
                commit: short(self.commit),
            }),
        }
    }

    fn read(&self, id: Oid) -> Result<Raw<'r>> {
        let o = self.odb.read(id)?;
        if o.kind() != ObjectType::Tree {
            return Err(Error::Git(format!("{id} is not a tree")));
        }
        Ok(Raw::Odb(o))
    }

    /// Two trees; big ones at the same time, the old one by a helper thread with its own handle.
    fn read_pair(&self, old: Oid, new: Oid) -> Result<(Raw<'r>, Raw<'r>)> {
        let big = |id| {
            self.odb
                .read_header(id)
                .is_ok_and(|(size, _)| size >= self.parallel_read)
        };
        if !(big(old) && big(new)) {
            return Ok((self.read(old)?, self.read(new)?));
        }
        let git_dir = self.git_dir.clone();
        std::thread::scope(|scope| {
            let helper = scope.spawn(move || -> Result<Vec<u8>> {
                let repo = Repository::open(&git_dir)?;
                let odb = repo.odb()?;
                let o = odb.read(old)?;
                if o.kind() != ObjectType::Tree {
                    return Err(Error::Git(format!("{old} is not a tree")));
                }
                Ok(o.data().to_vec())
            });
            let n = self.read(new)?;
            let o = helper
                .join()
                .map_err(|_| Error::Git("reading a tree: the thread panicked".into()))??;
            Ok((Raw::Owned(o), n))
        })
    }

    fn parse<'a>(&self, raw: &'a Raw) -> Result<Vec<Entry<'a>>> {
        entries(raw.data())
            .ok_or_else(|| Error::Git(format!("a malformed tree object in {}", short(self.commit))))
    }

    /// Both sides of one directory (`prefix` ends in `/` unless it is the root).
    fn trees(&mut self, prefix: &str, old: Option<&Raw>, new: Option<&Raw>) -> Result<()> {
        let a = match old {
            Some(r) => self.parse(r)?,
            None => Vec::new(),
        };
        let b = match new {
            Some(r) => self.parse(r)?,
            None => Vec::new(),
        };
        let (mut a, mut b) = (a.iter().peekable(), b.iter().peekable());
        loop {
            let order = match (a.peek(), b.peek()) {
                (None, None) => return Ok(()),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(x), Some(y)) => git_order(x, y),
            };
            match order {
                std::cmp::Ordering::Less => {
                    let x = a.next().expect("peeked");
                    self.gone(prefix, x)?;
                }
                std::cmp::Ordering::Greater => {
                    let y = b.next().expect("peeked");
                    self.came(prefix, y, None)?;
                }
                std::cmp::Ordering::Equal => {
                    let (x, y) = (a.next().expect("peeked"), b.next().expect("peeked"));
                    if x.id == y.id && x.mode == y.mode {
                        continue;
                    }
                    if x.kind == EntryKind::Tree {
                        // Same name and both trees (git's order keeps trees apart from files).
                        let path = self.path(prefix, y)?;
                        let (ox, oy) = self.read_pair(x.id, y.id)?;
                        self.trees(&format!("{path}/"), Some(&ox), Some(&oy))?;
                    } else if x.id == y.id && x.kind == EntryKind::File && y.kind == EntryKind::File
                    {
                        // Same blob, other mode (executable bit): S3 has nothing to change.
                    } else if x.kind == EntryKind::File {
                        self.came(prefix, y, Some(x.id))?;
                    } else {
                        // Was a link or submodule, never published: the new entry is new.
                        self.came(prefix, y, None)?;
                    }
                }
            }
        }
    }

    /// An entry of the old tree that the new one lacks (for a tree: every file in it).
    fn gone(&mut self, prefix: &str, e: &Entry) -> Result<()> {
        let path = self.path(prefix, e)?;
        match e.kind {
            EntryKind::Tree => {
                let t = self.read(e.id)?;
                self.trees(&format!("{path}/"), Some(&t), None)
            }
            EntryKind::File => {
                self.out.push(Change {
                    path,
                    kind: ChangeKind::Deleted,
                    blob: None,
                    size: 0,
                    old_blob: Some(e.id.to_string()),
                });
                Ok(())
            }
            // Never published.
            _ => Ok(()),
        }
    }

    /// An entry of the new tree that is new, or replaces the file `old` at the same path.
    fn came(&mut self, prefix: &str, e: &Entry, old: Option<Oid>) -> Result<()> {
        let path = self.path(prefix, e)?;
        if let Some(what) = e.kind.unsupported() {
            return Err(Error::UnsupportedEntry {
                path,
                what,
                commit: short(self.commit),
            });
        }
        if e.kind == EntryKind::Tree {
            let t = self.read(e.id)?;
            return self.trees(&format!("{path}/"), None, Some(&t));
        }
        self.out.push(Change {
            path,
            kind: if old.is_some() {
                ChangeKind::Modified
            } else {
                ChangeKind::Added
            },
            blob: Some(e.id.to_string()),
            size: self.odb.read_header(e.id)?.0 as u64,
            old_blob: old.map(|o| o.to_string()),
        });
        Ok(())
    }
}

/// Process-wide libgit2 settings. Call once, before any other thread exists.
///
/// - libgit2 re-hashes (SHA-1 with collision detection) every object it reads, by default; git does not. That
///   was a third of planning a small change on a 100,000-file site (two 4.6 MB trees). zlib's checksum still
///   catches a corrupt object.
/// - libgit2 maps pack files in windows of up to 1 GiB, 8 GiB in all, and keeps what it touched mapped: a
///   first publish of 20,000 files (a 382 MB pack) peaked at 191 MB RSS, 148 MB of it mapped pack pages.
///   Smaller windows and a cap on what is mapped at once bound that.
///
/// # Safety
/// Writes libgit2's globals without synchronisation: no other thread may be running.
pub unsafe fn configure_libgit2() {
    git2::opts::strict_hash_verification(false);
    // SAFETY: the caller guarantees that no other thread exists yet.
    unsafe {
        let _ = git2::opts::set_mwindow_size(8 << 20);
        let _ = git2::opts::set_mwindow_mapped_limit(32 << 20);
    }
}

/// A working-tree check started by [`Repo::start_uncommitted_count`].
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

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    fn write(dir: &Path, path: &str, body: &str) {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }

    /// The tree of a new commit of everything in `dir`.
    fn commit(dir: &Path) -> String {
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "--allow-empty", "-m", "c"]);
        git(dir, &["rev-parse", "HEAD^{tree}"]).trim().to_string()
    }

    /// `git diff-tree -r --no-renames` as changes (mode-only changes left out, as S3 has nothing to do).
    fn git_diff(
        dir: &Path,
        a: &str,
        b: &str,
    ) -> Vec<(String, ChangeKind, Option<String>, Option<String>)> {
        let raw = git(dir, &["diff-tree", "-r", "--no-renames", "-z", a, b]);
        let mut f = raw.split('\0').filter(|s| !s.is_empty());
        let mut out = Vec::new();
        while let (Some(meta), Some(path)) = (f.next(), f.next()) {
            let m: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
            let (old, new, status) = (m[2].to_string(), m[3].to_string(), m[4]);
            match status {
                "A" => out.push((path.into(), ChangeKind::Added, Some(new), None)),
                "D" => out.push((path.into(), ChangeKind::Deleted, None, Some(old))),
                "M" if old != new => {
                    out.push((path.into(), ChangeKind::Modified, Some(new), Some(old)))
                }
                _ => {}
            }
        }
        out.sort();
        out
    }

    #[test]
    fn diff_matches_git_diff_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        git(d, &["init", "-q"]);
        for (p, b) in [
            ("a", "file a"),
            ("a.b", "a.b"),
            ("a-b/x", "dir a-b"),
            ("b/c/d", "deep"),
            ("b/c/e", "deep 2"),
            ("b/keep", "kept"),
            ("e.sh", "exec"),
            ("f", "f v1"),
            ("g", "renamed"),
            ("same/1", "one"),
            ("z/y", "dir z"),
        ] {
            write(d, p, b);
        }
        let t1 = commit(d);
        std::fs::remove_file(d.join("a")).unwrap();
        write(d, "a/x", "a is a directory now");
        std::fs::remove_dir_all(d.join("b/c")).unwrap();
        git(d, &["update-index", "--chmod=+x", "e.sh"]);
        write(d, "f", "f v2");
        std::fs::rename(d.join("g"), d.join("h")).unwrap();
        write(d, "n/m/o", "new deep");
        std::fs::remove_dir_all(d.join("z")).unwrap();
        write(d, "z", "z is a file now");
        let t2 = commit(d);

        let repo = Repo::open(d).unwrap();
        for ((a, b), parallel) in [(&t1, &t2), (&t2, &t1)].into_iter().zip([0, usize::MAX]) {
            let mut ours: Vec<_> = repo
                .diff_reading_in_parallel_from(Some(a), b, "HEAD", parallel)
                .unwrap()
                .into_iter()
                .map(|c| (c.path, c.kind, c.blob, c.old_blob))
                .collect();
            ours.sort();
            assert_eq!(ours, git_diff(d, a, b), "{a} -> {b}");
        }
        // Nothing deployed: every file is new.
        let all = repo.diff(None, &t2, "HEAD").unwrap();
        assert_eq!(all.len(), git(d, &["ls-tree", "-r", &t2]).lines().count());
        assert!(all
            .iter()
            .all(|c| c.kind == ChangeKind::Added && c.size > 0));
        assert!(repo.diff(Some(&t2), &t2, "HEAD").unwrap().is_empty());
    }

    #[test]
    fn diff_refuses_new_links_and_submodules_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        git(d, &["init", "-q"]);
        write(d, "index.html", "hi");
        let t1 = commit(d);
        crate::os::symlink("index.html".as_ref(), &d.join("link.html")).unwrap();
        let t2 = commit(d);
        let repo = Repo::open(d).unwrap();
        let e = repo.diff(Some(&t1), &t2, "HEAD").unwrap_err();
        assert!(
            matches!(&e, Error::UnsupportedEntry { path, what: "symbolic link", .. } if path == "link.html"),
            "{e}"
        );
    }
}
