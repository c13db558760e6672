//! Reads beyond the diff that sharpen a plan: which deployed files the plan may copy server-side instead
//! of uploading ([`copy_sources`]), and which replaced files differ only in timestamps or build ids
//! ([`churn`]). Both read git through `source::Repo` and stay within a byte budget; neither decides
//! anything (the planner does) nor touches the target.

use crate::plan::{self, Plan};
use crate::source::Repo;

use super::session::Session;

/// Smallest new file worth looking through the whole deployed tree for (a duplicate whose bytes are already
/// stored, to copy server-side). A copy and an upload are one request each, so a copy only saves sending
/// bytes; listing a 100,000-file tree costs about as long as sending a few MB.
const COPY_SEARCH_MIN: u64 = 1 << 20;

/// Files of the deployed tree (`base_tree`, of `base_commit`) that the plan may copy from: the deleted
/// ones, which finds renames at no cost, and the whole tree when a new file is big enough to be worth a
/// search for an identical file already stored.
pub fn copy_sources(
    s: &Session,
    base_tree: &str,
    base_commit: Option<&str>,
    changes: &[plan::Change],
) -> Option<Vec<plan::FileEntry>> {
    use plan::ChangeKind::*;
    let sends = |c: &&plan::Change| c.kind != Deleted;
    if !changes.iter().any(|c| sends(&c)) {
        return None;
    }
    let deleted: Vec<plan::FileEntry> = changes
        .iter()
        .filter(|c| c.kind == Deleted)
        .filter_map(|c| {
            Some(plan::FileEntry {
                path: c.path.clone(),
                blob: c.old_blob.clone()?,
                executable: false,
            })
        })
        .collect();
    let renamed: std::collections::HashSet<&str> =
        deleted.iter().map(|f| f.blob.as_str()).collect();
    // Only a new path can be a duplicate worth looking for; a changed file at the same path is sent.
    let worth_a_search = changes.iter().any(|c| {
        c.kind == Added
            && c.size >= COPY_SEARCH_MIN
            && c.blob.as_deref().is_some_and(|b| !renamed.contains(b))
    });
    if worth_a_search {
        if let Ok(all) = s.repo.listing(base_tree, base_commit.unwrap_or("")) {
            return Some(all);
        }
    }
    Some(deleted)
}

/// Most bytes read per file, and in total, to look for churn (old and new versions of replaced text files).
const CHURN_FILE_CAP: u64 = 1 << 20;
const CHURN_TOTAL_CAP: u64 = 64 << 20;

/// Keys of replaced text files whose only differences from the deployed version are timestamps or build ids.
pub fn churn(repo: &Repo, changes: &[plan::Change], plan: &Plan) -> Vec<String> {
    let old_blobs: std::collections::HashMap<&str, &str> = changes
        .iter()
        .filter_map(|c| Some((c.path.as_str(), c.old_blob.as_deref()?)))
        .collect();
    let mut budget = CHURN_TOTAL_CAP;
    let mut out = Vec::new();
    for u in &plan.uploads {
        let texty = u.headers.content_type.starts_with("text/")
            || ["xml", "json", "javascript"]
                .iter()
                .any(|t| u.headers.content_type.contains(t));
        if u.kind != plan::UploadKind::Replace || !texty || u.size > CHURN_FILE_CAP {
            continue;
        }
        let Some(&old) = old_blobs.get(u.path.as_str()) else {
            continue;
        };
        if old == u.blob {
            continue;
        }
        let (Some(o), Some(n)) = (
            repo.read_blob_capped(old, CHURN_FILE_CAP),
            repo.read_blob_capped(&u.blob, CHURN_FILE_CAP),
        ) else {
            continue;
        };
        let cost = (o.len() + n.len()) as u64;
        if cost > budget {
            break;
        }
        budget -= cost;
        if plan::churn::is_churn(&o, &n) {
            out.push(u.key.clone());
        }
    }
    out.sort();
    out
}
