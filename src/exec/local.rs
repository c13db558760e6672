//! [`ObjectStore`] on a local directory (a web server's document root): each file is written to a temporary
//! file beside it and renamed into place, so a reader never sees half a file; deletes prune directories left
//! empty. The state record gets the same compare-and-swap as on S3, under an exclusive lock file.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::traits::{ObjectHeaders, ObjectStore, Precondition, StoreError, Versioned};

pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(root: &Path) -> Self {
        LocalStore {
            root: root.to_path_buf(),
        }
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        under(&self.root, key)
    }
}

/// `key` joined onto `root`, if it is a plain relative path of normal components: no empty, `.` or `..`
/// component, no root or drive prefix, and none of the names a directory can't hold on Windows (`\`, `:`,
/// device names: [`crate::plan::paths::not_portable`]). The planner refuses such keys before anything runs;
/// this refuses them again where they would be joined onto the directory, on every OS.
fn under(root: &Path, key: &str) -> Result<PathBuf, StoreError> {
    use std::path::Component;
    let plain = !key.is_empty()
        && key.split('/').all(|c| {
            let mut parts = Path::new(c).components();
            matches!((parts.next(), parts.next()), (Some(Component::Normal(n)), None) if n == c)
        })
        && crate::plan::paths::not_portable(key).is_none();
    if !plain {
        return Err(StoreError::failed(
            format!(
                "refusing to write or delete {} under {}: not a plain relative path",
                crate::quote::quote_path(key),
                root.display()
            ),
            "this is a bug in git-publish's planner (it refuses such names first): please report it",
        ));
    }
    Ok(root.join(key))
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    let hint = match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            "check the directory's permissions, or fix `url` in site.toml"
        }
        _ => "check the target directory (`url` in site.toml) and the disk",
    };
    StoreError::failed(format!("{what} {}: {e}", path.display()), hint)
}

/// The prefix of the temporary files [`write_atomic_from`] renames into place (the planner refuses site
/// files named so).
use crate::plan::TEMP_PREFIX;

/// Remove every temporary file under `dir` (left by a publish killed between writing and renaming one).
fn remove_temp_files(dir: &Path) -> Result<usize, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_err("listing", dir, e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| io_err("listing", dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| io_err("reading", &path, e))?;
        if kind.is_dir() {
            removed += remove_temp_files(&path)?;
        } else if kind.is_file() && entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            fs::remove_file(&path).map_err(|e| io_err("removing", &path, e))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Write `body` to `path` atomically: temp file in the same directory, fsync, rename.
fn write_atomic(path: &Path, body: &[u8], executable: bool) -> Result<(), StoreError> {
    write_atomic_from(path, &mut &body[..], executable)
}

/// Stream `src` into `path` the same way: temp file in the same directory, fsync, rename.
/// The file gets the mode a web server's files usually have: 0666 (0777 when `executable`, git's 100755) less
/// the umask, as any program's new files (tempfile's default, 0600, would hide them from a web server).
fn write_atomic_from(
    path: &Path,
    src: &mut dyn std::io::Read,
    executable: bool,
) -> Result<(), StoreError> {
    let dir = path.parent().expect("keys have a parent under the root");
    fs::create_dir_all(dir).map_err(|e| io_err("creating", dir, e))?;
    let mut builder = tempfile::Builder::new();
    crate::os::published_file_mode(&mut builder, executable);
    let mut tmp = builder
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(|e| io_err("creating a temporary file in", dir, e))?;
    std::io::copy(src, &mut tmp).map_err(|e| io_err("writing", path, e))?;
    tmp.as_file()
        .sync_data()
        .map_err(|e| io_err("syncing", path, e))?;
    tmp.persist(path)
        .map_err(|e| io_err("renaming into", path, e.error))?;
    Ok(())
}

fn etag(body: &[u8]) -> String {
    hex::encode(&Sha256::digest(body)[..12])
}

/// [`etag`] of a file's content, read in small pieces (a state file may be far larger than a record can be);
/// None when there is no such file.
fn file_etag(path: &Path) -> std::io::Result<Option<String>> {
    use std::io::Read;
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match f.read(&mut buf)? {
            0 => break,
            n => hash.update(&buf[..n]),
        }
    }
    Ok(Some(hex::encode(&hash.finalize()[..12])))
}

#[async_trait]
impl ObjectStore for LocalStore {
    fn describe(&self) -> String {
        format!("file://{}", self.root.display())
    }

    async fn put(
        &self,
        key: &str,
        body: bytes::Bytes,
        headers: &ObjectHeaders,
    ) -> Result<(), StoreError> {
        let path = self.path(key)?;
        let executable = headers.executable;
        tokio::task::spawn_blocking(move || write_atomic(&path, &body, executable))
            .await
            .map_err(|e| StoreError::failed(e.to_string(), ""))?
    }

    async fn put_stream(
        &self,
        key: &str,
        _size: u64,
        mut reader: Box<dyn std::io::Read + Send>,
        headers: &ObjectHeaders,
    ) -> Result<(), StoreError> {
        let path = self.path(key)?;
        let executable = headers.executable;
        tokio::task::spawn_blocking(move || write_atomic_from(&path, &mut reader, executable))
            .await
            .map_err(|e| StoreError::failed(e.to_string(), ""))?
    }

    async fn copy(&self, from: &str, to: &str, headers: &ObjectHeaders) -> Result<(), StoreError> {
        if from == to {
            return Ok(()); // headers are not stored here
        }
        let (from, to) = (self.path(from)?, self.path(to)?);
        let executable = headers.executable;
        tokio::task::spawn_blocking(move || {
            // Streamed through a temporary file and renamed into place, like every write here.
            let mut src = File::open(&from).map_err(|e| io_err("reading", &from, e))?;
            write_atomic_from(&to, &mut src, executable)
        })
        .await
        .map_err(|e| StoreError::failed(e.to_string(), ""))?
    }

    /// A delete takes any number of keys (one file each), but goes 1,000 at a time so that progress and
    /// Ctrl-C keep their pace; headers are not kept, so copying onto itself changes nothing; ETags are hashes
    /// of the record's bytes.
    fn profile(&self) -> super::traits::StoreProfile {
        super::traits::StoreProfile::DEFAULT
    }

    fn keeps_headers(&self) -> bool {
        false
    }

    async fn remove_leftovers(&self) -> Result<usize, StoreError> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || remove_temp_files(&root))
            .await
            .map_err(|e| StoreError::failed(e.to_string(), ""))?
    }

    async fn delete_batch(&self, keys: &[String]) -> Result<(), StoreError> {
        let root = self.root.clone();
        let keys = keys.to_vec();
        tokio::task::spawn_blocking(move || {
            for key in &keys {
                let path = under(&root, key)?;
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err("deleting", &path, e)),
                }
                // Prune directories left empty, up to (not including) the root.
                let mut dir = path.parent();
                while let Some(d) = dir {
                    if d == root || !d.starts_with(&root) || fs::remove_dir(d).is_err() {
                        break;
                    }
                    dir = d.parent();
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| StoreError::failed(e.to_string(), ""))?
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        // `prefix` is a key prefix: its directory part is walked, and the keys are filtered by the rest.
        let dir = match prefix.rfind('/') {
            Some(i) => &prefix[..i],
            None => "",
        };
        let mut out = Vec::new();
        let mut stack = vec![self.root.join(dir)];
        while let Some(d) = stack.pop() {
            let entries = match fs::read_dir(&d) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("listing", &d, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| io_err("listing", &d, e))?;
                let path = entry.path();
                let kind = entry.file_type().map_err(|e| io_err("listing", &path, e))?;
                if kind.is_dir() {
                    stack.push(path);
                    continue;
                }
                let Ok(rel) = path.strip_prefix(&self.root) else {
                    continue;
                };
                let key: Vec<&str> = rel.iter().filter_map(|c| c.to_str()).collect();
                let key = key.join("/");
                let temporary = entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX);
                if kind.is_file() && key.starts_with(prefix) && !temporary {
                    out.push(key);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    async fn get_versioned(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        let path = self.path(key)?;
        if let Ok(meta) = fs::metadata(&path) {
            if meta.len() > super::traits::MAX_VERSIONED_BYTES {
                let what = path.display().to_string();
                let etag = match file_etag(&path) {
                    Ok(e) => e.unwrap_or_default(),
                    Err(e) => return Err(io_err("reading", &path, e)),
                };
                return Err(super::too_large(&what, meta.len(), etag));
            }
        }
        match fs::read(&path) {
            Ok(body) => {
                let etag = etag(&body);
                Ok(Some(Versioned { body, etag }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !self.root.exists() && !self.root.parent().is_some_and(|p| p.exists()) {
                    return Err(StoreError::failed(
                        format!(
                            "target directory {} and its parent do not exist",
                            self.root.display()
                        ),
                        "create the parent directory, or fix `url` in site.toml",
                    ));
                }
                Ok(None)
            }
            Err(e) => Err(io_err("reading", &path, e)),
        }
    }

    async fn put_versioned(
        &self,
        key: &str,
        body: Vec<u8>,
        cond: Precondition,
    ) -> Result<String, StoreError> {
        let path = self.path(key)?;
        tokio::task::spawn_blocking(move || {
            let dir = path.parent().expect("state key has a parent");
            fs::create_dir_all(dir).map_err(|e| io_err("creating", dir, e))?;
            let lock_path = dir.join("lock");
            let lock = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(|e| io_err("opening", &lock_path, e))?;
            lock.lock().map_err(|e| io_err("locking", &lock_path, e))?;
            let current = file_etag(&path).map_err(|e| io_err("reading", &path, e))?;
            let ok = match (&cond, &current) {
                (Precondition::Absent, None) => true,
                (Precondition::Matches(want), Some(have)) => want == have,
                _ => false,
            };
            if !ok {
                return Err(StoreError::PreconditionFailed);
            }
            write_atomic(&path, &body, false)?;
            drop::<File>(lock);
            Ok(etag(&body))
        })
        .await
        .map_err(|e| StoreError::failed(e.to_string(), ""))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Defence in depth for finding 6: whatever the planner let through, the store joins onto its directory only
    /// plain relative paths, on every OS.
    #[test]
    fn finding_6_the_local_store_refuses_keys_that_are_not_plain_relative_paths() {
        let root = Path::new("/srv/www");
        for bad in [
            "",
            "/etc/passwd",
            "a//b",
            "a/./b",
            "a/../../b",
            "..\\..\\x.html",
            "C:\\x.html",
            "C:x.html",
            "w\\.git\\config",
            "x.html::$DATA",
            "nul.txt",
            "v1./x",
        ] {
            assert!(under(root, bad).is_err(), "{bad:?}");
        }
        for good in [
            "index.html",
            "a b/c.html",
            ".git-publish/state.json",
            "meta/site.json.corrupt-20271231T235959Z",
        ] {
            assert_eq!(under(root, good).unwrap(), root.join(good), "{good:?}");
        }
    }
}
