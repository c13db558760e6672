//! What this clone records locally about publishes, outside the target: the failure record that `status` and
//! `retry` read, the `refs/publish/<target>` mirror of each target's deployed commit, and the directory that
//! the hooks' push records live in. Publish and the hooks both use this module; it uses neither.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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

/// A publish that failed after its push succeeded, kept until a publish covers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    pub target: Option<String>,
    pub commit: String,
    pub error: String,
    pub at: String,
}

fn failure_path(repo: &Repo) -> PathBuf {
    records_dir(repo).join("failed.json")
}

pub fn read_failure(repo: &Repo) -> Option<Failure> {
    serde_json::from_slice(&std::fs::read(failure_path(repo)).ok()?).ok()
}

pub fn write_failure(repo: &Repo, f: &Failure) {
    let path = failure_path(repo);
    let _ = std::fs::create_dir_all(records_dir(repo));
    if let Err(e) = std::fs::write(&path, serde_json::to_vec_pretty(f).unwrap_or_default()) {
        eprintln!(
            "git-publish: could not record the failure in {}: {e}",
            path.display()
        );
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
