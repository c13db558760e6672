//! The planner's types ([`Input`], [`Settings`], [`Plan`], [`Outcome`], [`Phase`]) and keys ([`key_for`],
//! [`served_path`]). The steps (`steps.rs`) and the callers read them through `plan`'s re-exports; the parts of
//! the planner that they are built from (rules, redirects, the CDN function, invalidation) never import them,
//! so the planner's files form no cycle.

use serde::Serialize;

use super::cdn_function::Function;
use super::change::Change;
use super::error::PlanError;
use super::names::{MAX_KEY_BYTES, PREVIEWS_DIR, TEMP_PREFIX};
use super::rules::{Headers, Rules};
use super::{invalidate, paths, redirects};

/// One file of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub path: String,
    pub blob: String,
    /// Git mode 100755.
    pub executable: bool,
}

/// One CDN distribution in front of the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdnSettings {
    pub id: String,
    /// The origin path of the bucket's origin, without slashes at either end ("" = bucket root).
    pub origin_path: String,
    /// What this CDN accepts in an invalidation (from its adapter).
    pub profile: invalidate::CdnProfile,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Key prefix, without slashes at either end ("" = bucket root).
    pub prefix: String,
    /// Distributions to invalidate (none: no CDN).
    pub cdns: Vec<CdnSettings>,
    pub max_deletes: usize,
    pub max_invalidation_paths: usize,
    pub forms: invalidate::UrlForms,
    pub invalidate_new_files: bool,
    /// Upload every file of the new tree, not only changed ones (`--full`).
    pub full: bool,
    /// Delete removed files one publish later (`delay_deletes`).
    pub delay_deletes: bool,
    /// Invalidation paths a month this target may send before they are paid (`invalidation_budget`).
    pub monthly_budget: usize,
    /// Paths already sent this month (from the state).
    pub used_this_month: usize,
    /// Wildcards stay within the target's own prefix as served (`/_previews/<name>/*` for a preview, never
    /// `/*`, which would evict production). Otherwise a site may collapse to `/*` as a last resort (a prefix's
    /// bare root URL, `/blog`, is outside `/blog/*`).
    pub within_prefix: bool,
    /// What this target refuses beyond the names every target refuses (see [`KeyRules`]).
    pub keys: KeyRules,
}

/// What a target refuses beyond what [`key_for`] refuses everywhere, given as data by the caller (which knows
/// where the deploy record lives and what kind of store the target is): the planner stays pure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRules {
    /// Keys the deploy record and the files beside it take in this target's store.
    pub reserved: Vec<Reserved>,
    /// The target is a directory on a filesystem (`file://`): names Windows refuses ([`paths::not_portable`])
    /// and git-publish's temporary files are refused, and two paths that name one file on a case-insensitive
    /// or normalising filesystem ([`paths::same_file`]) are an error. Decided per target kind, not per
    /// machine: a plan is the same on Linux, macOS and Windows, and a directory on Linux may be a Samba
    /// share, a FAT or exFAT disk, or an ext4 directory with casefolding.
    pub filesystem: bool,
    /// The target's branch previews live under `<prefix>/_previews/` (`crate::preview`): a site path there is
    /// refused, so that production never writes or deletes a preview's key. False for a preview itself.
    pub previews: bool,
}

/// Keys the deploy record takes: `key` itself and every key under it (`key/…`), and with `starts`, every key
/// that begins with `key` (`<record>.corrupt-<time>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reserved {
    /// A key of the target's store (with the target's prefix, as [`key_for`] makes them).
    pub key: String,
    pub starts: bool,
    /// Where the record is, as the user knows it (`s3://bucket/meta/site.json`), for the message.
    pub record: String,
}

impl Reserved {
    fn holds(&self, key: &str) -> bool {
        key.strip_prefix(self.key.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || self.starts)
    }
}

impl Settings {
    /// The key of site path `path` on this target: [`key_for`], then what this target refuses ([`KeyRules`]):
    /// a key the deploy record takes (named with the record), and on a filesystem a name Windows refuses or
    /// git-publish's temporary files use.
    pub fn key(&self, path: &str) -> Result<String, PlanError> {
        let raw = if self.prefix.is_empty() {
            path.to_string()
        } else {
            format!("{}/{path}", self.prefix)
        };
        let fold = |k: &str| {
            if self.keys.filesystem {
                paths::folded_path(k)
            } else {
                k.to_string()
            }
        };
        let folded = fold(&raw);
        if self.keys.previews {
            let first = path.split('/').next().unwrap_or_default();
            if fold(first) == fold(PREVIEWS_DIR) {
                return Err(PlanError::PreviewPath {
                    path: path.to_string(),
                });
            }
        }
        for r in &self.keys.reserved {
            let r_folded = Reserved {
                key: fold(&r.key),
                ..r.clone()
            };
            if r_folded.holds(&folded) {
                return Err(PlanError::RecordPath {
                    path: path.to_string(),
                    key: r.key.clone(),
                    record: r.record.clone(),
                });
            }
        }
        let key = key_for(&self.prefix, path)?;
        if self.keys.filesystem {
            if let Some((component, why)) = paths::not_portable(path) {
                return Err(PlanError::NotPortable {
                    path: path.to_string(),
                    component: component.to_string(),
                    why,
                });
            }
            if let Some(c) = path.split('/').find(|c| c.starts_with(TEMP_PREFIX)) {
                return Err(PlanError::NotPortable {
                    path: path.to_string(),
                    component: c.to_string(),
                    why: "starts like git-publish's temporary files on a directory target, which it removes",
                });
            }
        }
        Ok(key)
    }
}

/// What the planner reads. `changes` is the diff deployed → new (already merged over every base that may be
/// live).
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub changes: &'a [Change],
    /// Every file of the new tree, or `None` when the caller has not listed it: listing a 100,000-file tree
    /// costs far more than planning a small change, and most plans never look at it. A plan that does
    /// (changed rules, `--full`, deferred deletes, more stale URLs than `max_invalidation_paths`, which may
    /// need wildcards) makes the outcome [`Outcome::NeedsListing`]; the caller lists the tree and builds
    /// again. Given the listing, [`build`] always plans. Table of cases:
    /// `tests::needs_listing_only_when_a_step_reads_it`.
    pub listing: Option<&'a [FileEntry]>,
    /// Files of the deployed tree whose blobs may be copied server-side instead of uploaded (when the target
    /// holds exactly that tree: no interrupted publish to resume). The caller may pass only some of them
    /// (the deleted ones, which catches renames) and the whole listing only when a copy is worth it.
    pub old_listing: Option<&'a [FileEntry]>,
    pub rules: &'a Rules,
    /// The rules the deployed tree was published with (recorded in the state).
    pub old_rules: &'a Rules,
    /// Site paths whose delete the previous publish deferred (`delay_deletes`).
    pub deferred: &'a [String],
    /// Redirects from config, the state and renames (`None`: none of them, e.g. in tests of other steps).
    pub redirects: Option<&'a redirects::Request<'a>>,
    /// The URL forms (`index_document`, `directory_urls`, `pretty_urls`) differ from those the deployed tree
    /// was published with (recorded in the state): any URL of the site may now serve something else (a page,
    /// a 404, the function's rewrite), so each distribution invalidates the whole site, one wildcard.
    pub forms_changed: bool,
    /// Files stored under another prefix of the same bucket that uploads may be copied from (a preview's
    /// first publish copies what production already holds: no bytes sent).
    pub elsewhere: Option<&'a Elsewhere<'a>>,
}

/// Files of another prefix of the same bucket, as they are stored there: the prefix, its files (sorted by
/// path) and the rules they were published with.
#[derive(Debug, Clone, Copy)]
pub struct Elsewhere<'a> {
    pub prefix: &'a str,
    pub files: &'a [FileEntry],
    pub rules: &'a Rules,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadKind {
    /// The key did not exist in the deployed tree.
    New,
    /// The key existed with other content (or `--full` re-sends it, or its encoding changed).
    Replace,
    /// Server-side copy of the same bytes from another key of the deployed tree (a rename, a duplicate).
    Copy,
    /// Same bytes, new headers: copied onto itself with the headers replaced.
    Headers,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Upload {
    pub key: String,
    /// Path inside the output directory.
    pub path: String,
    pub blob: String,
    pub size: u64,
    pub kind: UploadKind,
    pub headers: Headers,
    /// For `Copy` and `Headers`: the key whose bytes are copied (no bytes are sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_from: Option<String>,
    /// Git mode 100755: a local directory writes the file executable (S3 has no such bit).
    pub executable: bool,
}

/// The parts of a plan in the order the executor runs them: the declaration order is the execution order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Uploads of everything but HTML: assets exist before pages link to them.
    Assets,
    /// Uploads of HTML pages.
    Pages,
    /// [`Plan::deletes`], after every upload.
    Deletes,
    /// [`Plan::cdn`], after uploads and deletes.
    Invalidation,
}

impl Upload {
    pub fn is_html(&self) -> bool {
        self.headers.content_type.starts_with("text/html")
    }
    /// [`Phase::Pages`] for HTML, else [`Phase::Assets`].
    pub fn phase(&self) -> Phase {
        if self.is_html() {
            Phase::Pages
        } else {
            Phase::Assets
        }
    }
    /// Whether bytes are sent (not a server-side copy).
    pub fn sends_bytes(&self) -> bool {
        self.copy_from.is_none()
    }
}

/// The invalidation of one distribution.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CdnPlan {
    pub distribution: String,
    /// URL-encoded paths, sorted.
    pub paths: Vec<String>,
    /// `paths` split to fit CloudFront's in-progress limits: one invalidation each.
    pub batches: Vec<Vec<String>>,
    pub summary: invalidate::Summary,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Budget {
    pub monthly: usize,
    /// Paths sent this month before this publish.
    pub used: usize,
    /// Paths of this publish beyond the monthly budget.
    pub paid: usize,
    /// Whether the budget made the cover use fewer paths than `max_invalidation_paths`.
    pub tightened: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The keys of `deletes` that run before any upload, sorted: a file that became a directory or the
    /// reverse (see `steps::type_changes`).
    pub clear_first: Vec<String>,
    /// In execution order: by [`Phase`] (assets, then pages), then by key.
    pub uploads: Vec<Upload>,
    /// Keys to delete, sorted; run after every upload (but those in `clear_first`, which run before).
    pub deletes: Vec<String>,
    /// Site paths removed now whose delete waits for the next publish (`delay_deletes`), sorted.
    pub deferred: Vec<String>,
    /// CloudFront paths of every distribution (URL-encoded, sorted, deduplicated); sent after uploads and deletes.
    pub invalidations: Vec<String>,
    /// Totals over every distribution.
    pub invalidation: invalidate::Summary,
    pub cdn: Vec<CdnPlan>,
    pub budget: Budget,
    /// Keys of replaced files whose only differences are timestamps or build ids (see [`churn`]); filled in
    /// by the caller, which can read the old and new bytes.
    pub churn: Vec<String>,
    /// Redirect objects to write (after the pages), the table to record, and renames only proposed.
    pub redirects: redirects::Changes,
    /// The CloudFront function to publish before the invalidation (`cdn_function = "manage"`), set by the
    /// caller from [`cdn_function::function`] when its fingerprint differs from the recorded one (None: it
    /// serves what it served). The executor still sends its code only if the live code differs.
    pub function: Option<Function>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.uploads.is_empty()
            && self.deletes.is_empty()
            && self.invalidations.is_empty()
            && self.redirects.puts.is_empty()
            && self.redirects.removed.is_empty()
    }
    /// Bytes sent (server-side copies send none).
    pub fn upload_bytes(&self) -> u64 {
        self.uploads
            .iter()
            .filter(|u| u.sends_bytes())
            .map(|u| u.size)
            .sum()
    }
    pub fn count(&self, kind: UploadKind) -> usize {
        self.uploads.iter().filter(|u| u.kind == kind).count()
    }
}

/// Key of a site path under the target prefix. Rejects paths that would land outside it, names git treats
/// as `.git` and git-publish's reserved `.git-publish` (at any depth: see [`paths`]), and keys S3 would refuse.
pub fn key_for(prefix: &str, path: &str) -> Result<String, PlanError> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        let key = if prefix.is_empty() {
            path.to_string()
        } else {
            format!("{prefix}/{path}")
        };
        return Err(PlanError::KeyEscapes {
            path: path.to_string(),
            key,
        });
    }
    match paths::refused(path) {
        Some((component, paths::Refused::GitDir)) => {
            return Err(PlanError::GitPath {
                path: path.to_string(),
                component: component.to_string(),
            })
        }
        Some((_, paths::Refused::Reserved)) => {
            return Err(PlanError::ReservedPath {
                path: path.to_string(),
            })
        }
        None => {}
    }
    let key = if prefix.is_empty() {
        path.to_string()
    } else {
        format!("{prefix}/{path}")
    };
    if key.len() > MAX_KEY_BYTES {
        return Err(PlanError::KeyTooLong {
            path: path.to_string(),
            len: key.len(),
        });
    }
    Ok(key)
}

/// The path a distribution serves a key under (without the leading `/`), given the origin path of its bucket
/// origin: the key with the origin path removed. `None` when the key lies outside the origin path (that
/// distribution never serves it).
///
/// | prefix   | origin path | site path    | served path         |
/// |----------|-------------|--------------|---------------------|
/// | ""       | ""          | `a/b.html`   | `a/b.html`          |
/// | `blog`   | ""          | `a/b.html`   | `blog/a/b.html`     |
/// | `blog`   | `blog`      | `a/b.html`   | `a/b.html`          |
/// | `s/blog` | `s`         | `a/b.html`   | `blog/a/b.html`     |
/// | `blog`   | `other`     | `a/b.html`   | none                |
pub fn served_path(prefix: &str, origin_path: &str, path: &str) -> Option<String> {
    let key = if prefix.is_empty() {
        path.to_string()
    } else {
        format!("{prefix}/{path}")
    };
    if origin_path.is_empty() {
        return Some(key);
    }
    key.strip_prefix(origin_path)
        .and_then(|r| r.strip_prefix('/'))
        .filter(|r| !r.is_empty())
        .map(str::to_string)
}

/// The directory a distribution serves the target's prefix under (`/`, `/blog/`, unencoded, with both
/// slashes): [`served_path`] of a file at the prefix's top, without the file. `None` when the distribution
/// never serves the prefix.
pub fn served_root(prefix: &str, origin_path: &str) -> Option<String> {
    let file = served_path(prefix, origin_path, "x")?;
    Some(format!("/{}", file.strip_suffix('x').unwrap_or_default()))
}

/// What [`build`] returns when nothing is wrong with the input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
#[allow(clippy::large_enum_variant)] // one per publish, moved once: boxing buys nothing
pub enum Outcome {
    Planned(Plan),
    /// The plan depends on the listing of the new tree, and `Input::listing` was `None`: list the tree and
    /// build again. Never returned when `Input::listing` is `Some`.
    NeedsListing,
}

impl Outcome {
    /// The plan, or `None` if the listing is needed.
    pub fn planned(self) -> Option<Plan> {
        match self {
            Outcome::Planned(p) => Some(p),
            Outcome::NeedsListing => None,
        }
    }
}
