//! Blob bytes by id: the executor's [`BlobReader`] and small reads for the planner's rules.
//!
//! Git is reached three ways here, and this is the one place that says which and why. Each read takes the
//! first step of this chain that applies to it:
//!
//! | step | how                          | used for                                    | why not the step before      |
//! |------|------------------------------|---------------------------------------------|------------------------------|
//! | 1    | libgit2 (`find_blob`, header)| whole blobs below the executor's streaming threshold, sizes | -               |
//! | 2    | inflate the loose object     | streaming a big blob stored loose (`objects/xx/…`, the usual state of a freshly committed file) | libgit2 reads or maps a blob whole, and its streaming readers fail on packed objects |
//! | 3    | `git cat-file blob`          | streaming a big blob that is packed or in an alternate | a pack's deltas need git's own reader; in its own process it holds a few KiB at a time |
//!
//! The executor bounds how many whole blobs are in memory at once. This module writes nothing and never
//! looks at the working tree.

use std::path::PathBuf;
use std::sync::Mutex;

use git2::{Oid, Repository};

use super::repo::Repo;
use crate::error::Result;

impl Repo {
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

/// Reads blobs by id for the executor, along the chain in the module comment.
pub struct BlobReader {
    repo: Mutex<Repository>,
    git_dir: PathBuf,
}

impl BlobReader {
    /// A whole blob (step 1).
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

    /// A streaming reader of a blob's bytes, for large files, holding a few KiB at a time: steps 2 and 3 of
    /// the chain in the module comment.
    pub fn stream(&self, id: &str) -> std::result::Result<Box<dyn std::io::Read + Send>, String> {
        if let Some(r) = self.stream_loose(id) {
            return Ok(r);
        }
        self.stream_cat_file(id)
    }

    /// Step 2: a loose object is a zlib stream of `blob <size>\0<bytes>`, inflated as it is read. `None` when
    /// the blob is not loose.
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

    /// Step 3: `git cat-file blob` in its own process, with git's variables removed so that `--git-dir` wins.
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
