//! Snapshot builds (git only): write a build directory from disk into a commit on a snapshot ref, without
//! touching the index, the working tree or HEAD, and find snapshots again.
//!
//! Bytes go in as they are on disk through `Repository::blob` and tree builders: no CRLF or other filters
//! (which `blob_path` would apply inside the worktree) and no symlink following. What git or a bucket can't
//! hold is decided here, per kind:
//!
//! | on disk                     | snapshot                                                  |
//! |-----------------------------|-----------------------------------------------------------|
//! | regular file                | blob, mode 100644 (100755 when any execute bit is set)    |
//! | directory                   | tree; an empty one can't be stored and is reported        |
//! | symbolic link               | skipped and reported (never followed)                     |
//! | fifo, socket, device, `.git`| skipped and reported                                      |
//! | non-UTF-8 name              | error naming the path (S3 keys are UTF-8), nothing written|
//!
//! A snapshot commit's message names the source commit (HEAD) in a `Git-Publish-Source:` trailer and says
//! whether the working tree was dirty (by the one dirty check, in `worktree.rs`); that trailer is how a commit
//! is recognised as a snapshot. This module never changes the index, the working tree or HEAD.

use std::path::Path;

use git2::{Oid, Signature};
use serde::Serialize;

use super::repo::{short, Repo};
use crate::error::{Error, Result};

const SOURCE_TRAILER: &str = "Git-Publish-Source: ";
const DIRTY_TRAILER: &str = "Git-Publish-Dirty: ";
/// How far back `snapshot_of` walks the snapshot chain.
const SEARCH_LIMIT: usize = 10_000;

/// What a snapshot did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// The commit to publish: new, or the previous tip when the output is identical.
    pub commit: String,
    /// Root tree of the snapshot (= the site's output).
    pub tree: String,
    /// Whether a new commit was made (false = identical output).
    pub created: bool,
    /// Whether the snapshot ref now points at `commit` (false on a dry run).
    pub ref_updated: bool,
    pub parent: Option<String>,
    /// HEAD at the time of the build (None on an unborn branch).
    pub source: Option<String>,
    /// The working tree (outside the build directory) had uncommitted changes.
    pub dirty: bool,
    pub files: usize,
    /// Entries left out (symbolic links, special files).
    pub skipped: Vec<Skipped>,
    /// Empty directories (git stores no empty trees in a commit).
    pub empty_dirs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Path inside the build directory.
    pub path: String,
    /// What it is, e.g. "a symbolic link to ../x (not followed)".
    pub what: String,
}

/// Source commit and dirty flag of a snapshot commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub source: Option<String>,
    pub dirty: bool,
}

pub fn parse_message(message: &str) -> Option<SnapshotInfo> {
    let mut source = None;
    let mut found = false;
    let mut dirty = false;
    for line in message.lines() {
        if let Some(v) = line.strip_prefix(SOURCE_TRAILER) {
            found = true;
            let v = v.trim();
            source = (v != "none").then(|| v.to_string());
        } else if let Some(v) = line.strip_prefix(DIRTY_TRAILER) {
            dirty = v.trim() == "yes";
        }
    }
    found.then_some(SnapshotInfo { source, dirty })
}

fn message(build_dir: &str, source: Option<&str>, dirty: bool) -> String {
    let of = match source {
        Some(s) => format!("Build of {}", &s[..s.len().min(7)]),
        None => "Build (no source commit yet)".to_string(),
    };
    let dirty_note = if dirty { " (dirty)" } else { "" };
    format!(
        "{of}{dirty_note}\n\nSnapshot of `{build_dir}` written by git-publish.\n\n{SOURCE_TRAILER}{}\n{DIRTY_TRAILER}{}\n",
        source.unwrap_or("none"),
        if dirty { "yes" } else { "no" }
    )
}

/// `name` inside the build directory's subdirectory `rel` ("" = its top).
fn child_path(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_string()
    } else {
        format!("{rel}/{name}")
    }
}

fn read_error(e: std::io::Error, p: &Path) -> Error {
    Error::io(format!("reading {}", p.display()), e)
}

/// What [`Repo::write_dir`] found, beside the trees it wrote.
struct Walk {
    files: usize,
    skipped: Vec<Skipped>,
    empty_dirs: Vec<String>,
}

impl Repo {
    /// Commit the directory `abs` (shown as `build_dir`) onto `snapshot_ref`. With `update_ref` false (dry run)
    /// the objects are written but no ref moves.
    pub fn snapshot(
        &self,
        abs: &Path,
        build_dir: &str,
        snapshot_ref: &str,
        update_ref: bool,
    ) -> Result<Snapshot> {
        match std::fs::symlink_metadata(abs) {
            Ok(m) if m.is_dir() => {}
            _ => {
                return Err(Error::BuildDirMissing {
                    dir: build_dir.to_string(),
                })
            }
        }
        let parent = self.snapshot_parent(snapshot_ref)?;
        let mut walk = Walk {
            files: 0,
            skipped: Vec::new(),
            empty_dirs: Vec::new(),
        };
        let tree = match self.write_dir(abs, "", build_dir, &mut walk)? {
            Some(t) => t,
            None => self.repo.treebuilder(None)?.write()?,
        };
        let source = self
            .repo
            .head()
            .ok()
            .and_then(|h| h.peel_to_commit().ok())
            .map(|c| c.id().to_string());
        let dirty = self.dirty_outside(build_dir);
        let base = Snapshot {
            commit: String::new(),
            tree: tree.to_string(),
            created: false,
            ref_updated: false,
            parent: parent.as_ref().map(|p| p.id().to_string()),
            source,
            dirty,
            files: walk.files,
            skipped: walk.skipped,
            empty_dirs: walk.empty_dirs,
        };
        match &parent {
            Some(p) if p.tree_id() == tree => Ok(Snapshot {
                commit: p.id().to_string(),
                ..base
            }),
            _ => self.commit_snapshot(base, parent.as_ref(), build_dir, snapshot_ref, update_ref),
        }
    }

    /// The tip of `snapshot_ref` (None when it does not exist yet); an error when it is not a snapshot.
    fn snapshot_parent(&self, snapshot_ref: &str) -> Result<Option<git2::Commit<'_>>> {
        match self.repo.find_reference(snapshot_ref) {
            Ok(r) => {
                let c = r.peel_to_commit()?;
                if parse_message(c.message().unwrap_or("")).is_none() {
                    return Err(Error::SnapshotRefForeign {
                        name: snapshot_ref.to_string(),
                        commit: short(&c.id().to_string()),
                    });
                }
                Ok(Some(c))
            }
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Write the commit `snap` describes (its tree is written) on top of `parent`, and move the ref unless
    /// `update_ref` is false.
    fn commit_snapshot(
        &self,
        snap: Snapshot,
        parent: Option<&git2::Commit>,
        build_dir: &str,
        snapshot_ref: &str,
        update_ref: bool,
    ) -> Result<Snapshot> {
        let sig = self
            .repo
            .signature()
            .or_else(|_| Signature::now("git-publish", "git-publish@localhost"))?;
        let tree_obj = self.repo.find_tree(Oid::from_str(&snap.tree)?)?;
        let parents: Vec<&git2::Commit> = parent.into_iter().collect();
        let commit = self.repo.commit(
            None,
            &sig,
            &sig,
            &message(build_dir, snap.source.as_deref(), snap.dirty),
            &tree_obj,
            &parents,
        )?;
        if update_ref {
            let log = format!("git-publish: snapshot of {build_dir}");
            // Compare-and-swap, so that two concurrent snapshots can't drop each other's commit.
            match parent {
                Some(p) => {
                    self.repo
                        .reference_matching(snapshot_ref, commit, true, p.id(), &log)?;
                }
                None => {
                    self.repo.reference(snapshot_ref, commit, false, &log)?;
                }
            }
        }
        Ok(Snapshot {
            commit: commit.to_string(),
            created: true,
            ref_updated: update_ref,
            ..snap
        })
    }

    /// Tree of the directory `abs` (its path inside the build dir is `rel`); None when it holds no file.
    fn write_dir(
        &self,
        abs: &Path,
        rel: &str,
        build_dir: &str,
        walk: &mut Walk,
    ) -> Result<Option<Oid>> {
        let mut tb = self.repo.treebuilder(None)?;
        for entry in std::fs::read_dir(abs).map_err(|e| read_error(e, abs))? {
            let entry = entry.map_err(|e| read_error(e, abs))?;
            let name_os = entry.file_name();
            let name = match crate::os::utf8_name(&name_os) {
                Ok(name) => name,
                Err(lossy) => {
                    return Err(Error::BuildNonUtf8Path {
                        path: child_path(rel, &lossy),
                        dir: build_dir.to_string(),
                    })
                }
            };
            if let Some((id, mode)) = self.write_entry(&entry.path(), name, rel, build_dir, walk)? {
                tb.insert(name, id, mode)?;
            }
        }
        if tb.is_empty() {
            return Ok(None);
        }
        Ok(Some(tb.write()?))
    }

    /// One entry of a directory, by the table in the module comment: its object and mode, or None when it is
    /// left out (and recorded in `walk`).
    fn write_entry(
        &self,
        full: &Path,
        name: &str,
        rel: &str,
        build_dir: &str,
        walk: &mut Walk,
    ) -> Result<Option<(Oid, i32)>> {
        let path = child_path(rel, name);
        let meta = std::fs::symlink_metadata(full).map_err(|e| read_error(e, full))?;
        let ft = meta.file_type();
        let skip = |what: String| Skipped {
            path: path.clone(),
            what,
        };
        if name == ".git" {
            walk.skipped
                .push(skip("a nested .git (git can't store it)".into()));
        } else if ft.is_symlink() {
            let to = std::fs::read_link(full)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            walk.skipped
                .push(skip(format!("a symbolic link to {to} (not followed)")));
        } else if ft.is_dir() {
            match self.write_dir(full, &path, build_dir, walk)? {
                Some(t) => return Ok(Some((t, 0o040000))),
                None => walk.empty_dirs.push(path),
            }
        } else if ft.is_file() {
            let bytes = std::fs::read(full).map_err(|e| read_error(e, full))?;
            let blob = self.repo.blob(&bytes)?;
            let mode = if crate::os::is_executable(&meta) {
                0o100755
            } else {
                0o100644
            };
            walk.files += 1;
            return Ok(Some((blob, mode)));
        } else {
            walk.skipped
                .push(skip("a special file (fifo, socket or device)".into()));
        }
        Ok(None)
    }

    /// Source commit and dirty flag when `commit` is a snapshot.
    pub fn snapshot_info(&self, commit: &str) -> Option<SnapshotInfo> {
        let c = self.repo.find_commit(Oid::from_str(commit).ok()?).ok()?;
        parse_message(c.message().unwrap_or(""))
    }

    /// The newest snapshot on `snapshot_ref` built from `source`, preferring one built from a clean tree.
    pub fn snapshot_of(&self, snapshot_ref: &str, source: &str) -> Option<(String, bool)> {
        let tip = self.repo.refname_to_id(snapshot_ref).ok()?;
        let mut walk = self.repo.revwalk().ok()?;
        walk.push(tip).ok()?;
        walk.simplify_first_parent().ok()?;
        let mut dirty_match = None;
        for oid in walk.take(SEARCH_LIMIT).flatten() {
            let Ok(c) = self.repo.find_commit(oid) else {
                continue;
            };
            if let Some(info) = parse_message(c.message().unwrap_or("")) {
                if info.source.as_deref() == Some(source) {
                    if !info.dirty {
                        return Some((oid.to_string(), false));
                    }
                    dirty_match.get_or_insert((oid.to_string(), true));
                }
            }
        }
        dirty_match
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let id = "0123456789abcdef0123456789abcdef01234567";
        let m = message("public", Some(id), true);
        assert!(m.starts_with("Build of 0123456 (dirty)\n"), "{m}");
        assert_eq!(
            parse_message(&m),
            Some(SnapshotInfo {
                source: Some(id.into()),
                dirty: true
            })
        );
        let m = message("public", None, false);
        assert_eq!(
            parse_message(&m),
            Some(SnapshotInfo {
                source: None,
                dirty: false
            })
        );
        assert_eq!(parse_message("Add a post\n\nSigned-off-by: x"), None);
    }
}
