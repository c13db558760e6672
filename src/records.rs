//! Everything this clone records locally about publishes, outside the target: the failure record that
//! `status` and `retry` read, the `refs/publish/<target>` mirror of each target's deployed commit, and the
//! push records that the pre-push hook leaves for the reference-transaction hook of the same `git push`.
//! Publish and the hooks both use this module; it uses neither, and it decides nothing: it reads, writes and
//! removes records. Other processes are looked at only through `os` (the small group at the end).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::source::Repo;

/// `<git common dir>/git-publish/`: push records, the failure record, the background log.
pub fn records_dir(repo: &Repo) -> PathBuf {
    repo.common_dir().join("git-publish")
}

/// The local mirror of what `target` has deployed, for offline `status` and the speculative diff.
pub fn mirror_ref(target: &str) -> String {
    format!("refs/publish/{target}")
}

/// The commit `target` had deployed the last time this clone published to it or read it.
pub fn read_mirror(repo: &Repo, target: &str) -> Option<String> {
    repo.read_ref(&mirror_ref(target))
}

/// Point `refs/publish/<target>` at `commit` (after a publish wrote the target's state).
pub fn update_mirror(repo: &Repo, target: &str, commit: &str) -> crate::error::Result<()> {
    repo.update_ref(&mirror_ref(target), commit, "git-publish: deployed")
}

/// The target's record as this clone last wrote it: its key, its ETag and its bytes, kept beside
/// `refs/publish/<target>` (and used only while that ref still names the same commit). A publish that knows
/// the record claims the target with `If-Match` on that ETag directly, without reading it first: a 412 says
/// the record changed since (someone else published), and the publish then reads it and plans again.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KnownRecord {
    /// The deployed commit the record names (what `refs/publish/<target>` was set to with it).
    pub commit: String,
    /// Where the record is: its store (`ObjectStore::describe`) and key. Used only for the same place.
    #[serde(default)]
    pub store: String,
    pub key: String,
    pub etag: String,
    /// The record's bytes as stored (the ETag is theirs).
    pub body: String,
    /// Invalidations the record lists as requested that CloudFront then answered: (reference, id).
    #[serde(default)]
    pub confirmed: Vec<(String, String)>,
}

fn known_path(repo: &Repo, target: &str) -> PathBuf {
    // Target names are `[A-Za-z0-9_-]` plus `@` for previews; anything else is spelled out.
    let name: String = (target.bytes())
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'@' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    records_dir(repo)
        .join("records")
        .join(format!("{name}.json"))
}

/// The record of `target` as this clone last wrote it, if `refs/publish/<target>` still names its commit.
pub fn read_known(repo: &Repo, target: &str) -> Option<KnownRecord> {
    let known: KnownRecord =
        serde_json::from_slice(&std::fs::read(known_path(repo, target)).ok()?).ok()?;
    (read_mirror(repo, target).as_deref() == Some(known.commit.as_str())).then_some(known)
}

/// Keep `known` as `target`'s record (written to a temporary file and renamed over the old one, so that a
/// killed process leaves the old record or the new one). Losing it costs the next publish a read, nothing more.
pub fn write_known(repo: &Repo, target: &str, known: &KnownRecord) {
    let path = known_path(repo, target);
    let tmp = path.with_extension("json.tmp");
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&tmp, serde_json::to_vec(known).unwrap_or_default()))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        tracing::debug!(
            "could not keep the record of {target} in {}: {e}",
            path.display()
        );
        forget_known(repo, target);
    }
}

/// Forget `target`'s record: the next publish reads it.
pub fn forget_known(repo: &Repo, target: &str) {
    let _ = std::fs::remove_file(known_path(repo, target));
}

/// A publish that failed after its push succeeded, kept until a publish covers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    pub target: Option<String>,
    pub commit: String,
    pub error: String,
    pub at: String,
    /// The branch whose preview this was (`install --previews`): its publish, or its removal when `commit`
    /// is the zero id (the branch was deleted on the remote). Kept in a file of its own per preview, so that
    /// it never replaces a failure of production's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
}

impl Failure {
    /// A preview's removal (its branch was deleted on the remote), not a publish.
    pub fn is_removal(&self) -> bool {
        self.preview.is_some() && self.commit.bytes().all(|b| b == b'0')
    }
}

const PREVIEW_FAILURE_PREFIX: &str = "failed-preview-";

fn failure_path(repo: &Repo) -> PathBuf {
    records_dir(repo).join("failed.json")
}

/// Where the failure of branch `branch`'s preview is kept (by the preview's name: a DNS label).
fn preview_failure_path(repo: &Repo, branch: &str) -> PathBuf {
    records_dir(repo).join(format!(
        "{PREVIEW_FAILURE_PREFIX}{}.json",
        crate::preview::name_for(branch)
    ))
}

/// The failure of production's publish after a push, if one is recorded.
pub fn read_failure(repo: &Repo) -> Option<Failure> {
    serde_json::from_slice(&std::fs::read(failure_path(repo)).ok()?).ok()
}

/// The failures of previews' publishes (or removals) after their pushes, by preview name.
pub fn read_preview_failures(repo: &Repo) -> Vec<Failure> {
    let mut out: Vec<(String, Failure)> = std::fs::read_dir(records_dir(repo))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(PREVIEW_FAILURE_PREFIX)
        })
        .filter_map(|e| {
            let f: Failure = serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok()?;
            Some((e.file_name().to_string_lossy().into_owned(), f))
        })
        .filter(|(_, f)| f.preview.is_some())
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.into_iter().map(|(_, f)| f).collect()
}

/// Record `f` (production's failure, or a preview's: see [`Failure::preview`]).
pub fn write_failure(repo: &Repo, f: &Failure) {
    let path = match &f.preview {
        Some(branch) => preview_failure_path(repo, branch),
        None => failure_path(repo),
    };
    let _ = std::fs::create_dir_all(records_dir(repo));
    if let Err(e) = std::fs::write(&path, serde_json::to_vec_pretty(f).unwrap_or_default()) {
        crate::ui::stderr_line(&format!(
            "git-publish: could not record the failure in {}: {e}",
            path.display()
        ));
    }
}

/// After a successful publish of `commit` to `target` (not a dry run): forget a recorded failure that it
/// covers (same target, same commit or a descendant of it).
pub fn clear_failure_if_covered(repo: &Repo, target: &str, commit: &str, dry_run: bool) {
    let Some(f) = read_failure(repo) else {
        return;
    };
    if dry_run || f.target.as_deref().is_some_and(|t| t != target) {
        return;
    }
    let covered = f.commit == commit
        || repo
            .ahead_behind(&f.commit, commit)
            .is_some_and(|(ahead, _)| ahead == 0);
    if covered {
        let _ = std::fs::remove_file(failure_path(repo));
    }
}

/// After branch `branch`'s preview was published at `commit` (`None`: removed): forget a recorded failure of
/// that preview that it covers (a removal covers any; a publish, one of the same commit or an ancestor).
pub fn clear_preview_failure_if_covered(repo: &Repo, branch: &str, commit: Option<&str>) {
    let path = preview_failure_path(repo, branch);
    let Some(f) = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Failure>(&b).ok())
    else {
        return;
    };
    if f.preview.as_deref() != Some(branch) {
        return;
    }
    let covered = match commit {
        None => true,
        Some(c) => {
            !f.is_removal()
                && (f.commit == c
                    || repo
                        .ahead_behind(&f.commit, c)
                        .is_some_and(|(ahead, _)| ahead == 0))
        }
    };
    if covered {
        let _ = std::fs::remove_file(path);
    }
}

// ---- push records: what a `git push` is about to send, keyed by that process ---------------------------

/// What pre-push recorded for one `git push`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PushRecord {
    /// Start time of the `git push` process (`None` where the OS can't tell).
    start: Option<String>,
    pub remote: String,
    /// The site branch, and the commit this push sends to it (`None`: it sends none).
    pub branch: String,
    pub commit: Option<String>,
    /// With `install --previews`: the other branches this push sends, each with its commit, or the zero id
    /// for a deletion. Each is taken once, when its remote-tracking ref moves there.
    #[serde(default)]
    pub previews: Vec<BranchPush>,
}

/// A branch other than the site branch in a push, and what it sends (the zero id: a deletion).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchPush {
    pub branch: String,
    pub commit: String,
}

impl PushRecord {
    /// A record for `git push` process `pid`, which is about to send `commit` to `branch` on `remote` (and,
    /// with previews, `previews`).
    pub fn new(
        pid: u32,
        remote: &str,
        branch: &str,
        commit: Option<&str>,
        previews: Vec<BranchPush>,
    ) -> PushRecord {
        PushRecord {
            start: process_start(pid),
            remote: remote.to_string(),
            branch: branch.to_string(),
            commit: commit.map(str::to_string),
            previews,
        }
    }

    /// Whether nothing of this push is left to take.
    pub fn is_empty(&self) -> bool {
        self.commit.is_none() && self.previews.is_empty()
    }

    /// Whether process `pid` is the one this record was written for, not a later reuse of its pid (also true
    /// where the OS can't tell on both sides).
    pub fn written_by(&self, pid: u32) -> bool {
        self.start == process_start(pid)
    }
}

const PUSH_PREFIX: &str = "push-";

fn record_path(repo: &Repo, pid: u32) -> PathBuf {
    records_dir(repo).join(format!("{PUSH_PREFIX}{pid}"))
}

/// Record that `git push` process `pid` is about to send `rec`.
pub fn write_push_record(repo: &Repo, pid: u32, rec: &PushRecord) -> Result<()> {
    let dir = records_dir(repo);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let path = record_path(repo, pid);
    std::fs::write(&path, serde_json::to_vec(rec).unwrap_or_default())
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// What `git push` process `pid` recorded (or an earlier process with the same pid: see
/// [`PushRecord::written_by`]).
pub fn read_push_record(repo: &Repo, pid: u32) -> Option<PushRecord> {
    read_push_record_at(&record_path(repo, pid))
}

fn read_push_record_at(path: &Path) -> Option<PushRecord> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

pub fn remove_push_record(repo: &Repo, pid: u32) {
    let _ = std::fs::remove_file(record_path(repo, pid));
}

/// The push record files (`push-*`), as (name, path).
fn push_record_files(repo: &Repo) -> impl Iterator<Item = (String, PathBuf)> {
    std::fs::read_dir(records_dir(repo))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(name, _)| name.starts_with(PUSH_PREFIX))
}

/// Whether any push is recorded (in flight, or left behind by one that is gone).
pub fn has_push_records(repo: &Repo) -> bool {
    push_record_files(repo).next().is_some()
}

/// Remove records of `git push` processes that are gone (rejected or failed pushes leave theirs behind).
pub fn remove_stale_push_records(repo: &Repo) {
    for (name, path) in push_record_files(repo) {
        let Some(pid) = name
            .strip_prefix(PUSH_PREFIX)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let alive =
            read_push_record_at(&path).is_some_and(|r| r.start.is_some() && r.written_by(pid));
        if !alive {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Remove every push record, and the records directory if that leaves it empty (uninstall: records of
/// pushes in flight are meaningless without the hooks).
pub fn remove_push_records(repo: &Repo) {
    for (_, path) in push_record_files(repo) {
        let _ = std::fs::remove_file(path);
    }
    let _ = std::fs::remove_dir(records_dir(repo));
}

// ---- the processes records are keyed by (asked of the OS through `os`) -----------------------------------

/// When a process started, to tell a pid apart from a later reuse of it.
fn process_start(pid: u32) -> Option<String> {
    crate::os::process_start(pid)
}

/// The parent of process `pid`, to find the `git push` above a hook that another tool runs.
pub fn process_parent(pid: u32) -> Option<u32> {
    crate::os::process_parent(pid)
}

/// The arguments of process `pid`, to see whether a `git push` is a dry run (`None` where the OS can't tell).
pub fn process_args(pid: u32) -> Option<Vec<String>> {
    crate::os::process_args(pid)
}
