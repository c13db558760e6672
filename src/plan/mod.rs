//! The planner: a pure function from "what changed in git" to "what to do to the target".
//!
//! Owns the plan's types ([`Input`], [`Settings`], [`Plan`], [`Outcome`], [`Phase`]), keys ([`key_for`],
//! [`served_path`]) and [`build`], which reads as the list of its steps. Inputs are plain owned values: the
//! changes between the deployed tree and the new one, the listing of the new tree when it is needed, and the
//! target's settings. The output is a [`Plan`] value that the executor carries out phase by phase and that
//! `--dry-run` prints. Same input, same plan: everything is sorted. Must not do IO, async, or touch git2 or
//! AWS types; errors are [`PlanError`], and "needs the listing" is [`Outcome::NeedsListing`], not an error.
//!
//! Where things live:
//! - the steps of [`build`] (changes, deferred deletes, rule-driven updates, server-side copies, limits and
//!   ordering, CDN paths): `steps.rs`
//! - invalidation rules (what is stale, URL forms, wildcard cover, batches): [`invalidate`]
//! - content types: [`headers`]; the `[[rules]]` (headers, encodings, exclude, keep): [`rules`]
//! - files that differ only in timestamps/build ids: [`churn`]
//! - moved pages: the redirect table (config, renames, the state's record) and what a publish changes in it:
//!   [`redirects`]; the CloudFront Function that serves it behind a REST origin: [`cdn_function`]
//! - errors: [`PlanError`]; the whole planner's freshness model (tests only): `freshness.rs`

pub mod cdn_function;
pub mod churn;
mod error;
#[cfg(test)]
mod freshness;
pub mod headers;
pub mod invalidate;
pub mod paths;
pub mod redirects;
pub mod rules;
mod steps;

use serde::Serialize;

pub use error::PlanError;
pub use rules::{Encoding, Headers, Rules};

/// Where git-publish keeps its own record in a target, relative to the target's prefix.
/// Never uploaded, deleted or invalidated as site content.
pub const STATE_DIR: &str = ".git-publish";
/// The top-level directory of a target that holds its branch previews (`crate::preview`): production never
/// writes there.
pub const PREVIEWS_DIR: &str = "_previews";
/// The longest preview name: a DNS label (`crate::preview::name_for` makes them).
pub const PREVIEW_NAME_MAX: usize = 63;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One path whose content differs between the deployed tree and the new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Path relative to the output directory, `/`-separated, UTF-8.
    pub path: String,
    pub kind: ChangeKind,
    /// New blob id (hex) for Added/Modified.
    pub blob: Option<String>,
    /// New size in bytes for Added/Modified.
    pub size: u64,
    /// Old blob id (hex) for Modified/Deleted, when the diff had one base.
    pub old_blob: Option<String>,
    /// The new file is executable (git mode 100755): a local directory keeps the bit.
    pub executable: bool,
}

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

/// The prefix of the temporary files a directory target writes beside each file and renames into place
/// (`exec::local`); left over after a crash, they are removed, so a site file can't be named so.
pub const TEMP_PREFIX: &str = ".git-publish-tmp-";

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

/// A viewer-request function a target manages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Function {
    pub name: String,
    /// The site it serves: its comment (and its KeyValueStore's) carries the site's mark, and an existing
    /// function, store or distribution is changed only when it is this site's (`crate::identity`).
    #[serde(skip)]
    pub site: crate::identity::Site,
    pub code: String,
    /// The KeyValueStore it reads the redirect table from, when the table is too large for the code (or a
    /// preview password needs it).
    pub kvs: Option<cdn_function::Kvs>,
    /// The viewer-response function beside it (`[targets.NAME.previews]`: previews marked `noindex`); None:
    /// the distribution runs none of this site's.
    pub response: Option<ResponseFunction>,
    /// What it serves, as the state records it ([`cdn_function::fingerprint`]).
    pub fingerprint: String,
}

/// The viewer-response function of a managed site (`cdn_function::previews::response_code`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResponseFunction {
    pub name: String,
    pub code: String,
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

/// S3's limit on a key's length, in UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 1024;

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

/// Build the plan, step by step (each step is in [`steps`]). The steps that read the listing of the new tree
/// run only when it is given; without it they make the outcome [`Outcome::NeedsListing`].
pub fn build(target: &str, input: &Input, s: &Settings) -> Result<Outcome, PlanError> {
    let mut draft = steps::Draft::default();
    steps::changes(&mut draft, input, s)?;
    // A new name may take another spelling of a file of the tree (`A.html` beside `a.html`).
    if s.keys.filesystem && (input.changes.iter()).any(|c| c.kind == ChangeKind::Added) {
        let Some(listing) = input.listing else {
            return Ok(Outcome::NeedsListing);
        };
        steps::same_files(input, listing)?;
    }
    if !input.deferred.is_empty() {
        let Some(listing) = input.listing else {
            return Ok(Outcome::NeedsListing);
        };
        steps::deferred_deletes(&mut draft, input, listing, s)?;
    }
    if steps::rules_changed(input) || s.full {
        let Some(listing) = input.listing else {
            return Ok(Outcome::NeedsListing);
        };
        steps::rule_updates(&mut draft, input, listing, s)?;
    }
    if let Some(req) = input.redirects {
        if input.listing.is_none() && redirects::needs_listing(req, &s.forms) {
            return Ok(Outcome::NeedsListing);
        }
        steps::redirects(&mut draft, input, req, input.listing, s)?;
    }
    if let Some(old) = input.old_listing {
        steps::server_side_copies(&mut draft.uploads, input, old, s)?;
    }
    if let Some(e) = input.elsewhere {
        steps::copies_from_elsewhere(&mut draft.uploads, e, s)?;
    }
    steps::type_changes(&mut draft, s)?;
    steps::limit_and_order(&mut draft, target, s)?;
    let max_paths = steps::path_limit(s);
    let Some(cdn) = steps::cdn_paths(&draft, input, s, max_paths) else {
        return Ok(Outcome::NeedsListing);
    };
    Ok(Outcome::Planned(steps::assemble(draft, cdn, s, max_paths)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            prefix: String::new(),
            cdns: vec![CdnSettings {
                id: "E1".into(),
                origin_path: String::new(),
                profile: crate::aws::cloudfront::PROFILE,
            }],
            max_deletes: 500,
            max_invalidation_paths: 15,
            forms: invalidate::UrlForms::default(),
            invalidate_new_files: false,
            full: false,
            delay_deletes: false,
            monthly_budget: 1000,
            used_this_month: 0,
            within_prefix: false,
            keys: Default::default(),
        }
    }

    fn build(
        target: &str,
        changes: &[Change],
        listing: &[FileEntry],
        s: &Settings,
    ) -> Result<Plan, PlanError> {
        let none = Rules::default();
        super::build(
            target,
            &Input {
                changes,
                listing: Some(listing),
                old_listing: None,
                rules: &none,
                old_rules: &none,
                deferred: &[],
                redirects: None,
                forms_changed: false,
                elsewhere: None,
            },
            s,
        )
        .map(|o| o.planned().expect("given the listing, the planner plans"))
    }

    fn ch(path: &str, kind: ChangeKind) -> Change {
        let blob = (kind != ChangeKind::Deleted).then(|| format!("{:040x}", path.len()));
        Change {
            path: path.into(),
            kind,
            blob,
            size: 10,
            old_blob: None,
            executable: false,
        }
    }

    fn listing(paths: &[&str]) -> Vec<FileEntry> {
        paths
            .iter()
            .map(|p| FileEntry {
                path: p.to_string(),
                blob: "0".repeat(40),
                executable: false,
            })
            .collect()
    }

    #[test]
    fn keys_under_prefix() {
        let table: &[(&str, &str, Option<&str>)] = &[
            ("", "index.html", Some("index.html")),
            ("blog", "index.html", Some("blog/index.html")),
            ("a/b", "x y/ü.html", Some("a/b/x y/ü.html")),
            ("", "../etc/passwd", None),
            ("", "a/./b", None),
            ("", "a//b", None),
            ("", "/abs", None),
            ("", ".git-publish/state.json", None),
            ("", "blog/.Git-Publish/state.json", None),
            ("", ".git-publishing/x", Some(".git-publishing/x")),
            ("", "a/.GIT/config", None),
            ("", "git~1/HEAD", None),
            ("", ".gitignore", Some(".gitignore")),
        ];
        for (prefix, path, want) in table {
            assert_eq!(
                key_for(prefix, path).ok().as_deref(),
                *want,
                "{prefix:?} {path:?}"
            );
        }
    }

    fn reserved(key: &str, starts: bool, record: &str) -> Reserved {
        Reserved {
            key: key.into(),
            starts,
            record: record.into(),
        }
    }

    /// A site file at the deploy record's key, under it, or at a key beside it that the record's protocol
    /// writes (finding 4): refused at plan time, the message naming the site path and the record, for a
    /// custom `state` in the site's bucket, the default `.git-publish/` record, and a record in a directory.
    #[test]
    fn finding_4_a_site_file_at_the_record_key_is_refused() {
        let record = "s3://site/blog/meta/site.json";
        let custom = vec![
            reserved("blog/meta/site.json", false, record),
            reserved("blog/meta/site.json.probe", false, record),
            reserved("blog/meta/site.json.corrupt-", true, record),
        ];
        let default = vec![reserved(
            "blog/.git-publish",
            false,
            "s3://site/blog/.git-publish/state.json",
        )];
        let local = vec![
            reserved("meta/site.json", false, "/srv/www/meta/site.json"),
            reserved("meta/lock", false, "/srv/www/meta/site.json"),
        ];
        // (prefix, reserved keys, filesystem, site path, refused)
        #[rustfmt::skip]
        let table: &[(&str, &Vec<Reserved>, bool, &str, bool)] = &[
            ("blog", &custom, false, "meta/site.json", true),
            ("blog", &custom, false, "meta/site.json/index.html", true),
            ("blog", &custom, false, "meta/site.json.probe", true),
            ("blog", &custom, false, "meta/site.json.corrupt-20271231T235959Z", true),
            ("blog", &custom, false, "meta/site.jsonx", false),
            ("blog", &custom, false, "meta/site.html", false),
            ("blog", &custom, false, "Meta/Site.json", false),
            ("", &custom, false, "blog/meta/site.json", true),
            ("blog", &default, false, ".git-publish/state.json", true),
            ("blog", &default, false, ".git-publish", true),
            ("", &local, true, "meta/site.json", true),
            ("", &local, true, "Meta/SITE.json", true),
            ("", &local, true, "meta/lock", true),
            ("", &local, true, "meta/lock.html", false),
        ];
        for (prefix, keys, filesystem, path, refused) in table {
            let s = Settings {
                prefix: prefix.to_string(),
                keys: KeyRules {
                    reserved: (*keys).clone(),
                    filesystem: *filesystem,
                    previews: false,
                },
                ..settings()
            };
            let got = build("t", &[ch(path, ChangeKind::Added)], &listing(&[path]), &s);
            match got {
                Err(e @ PlanError::RecordPath { .. }) if *refused => {
                    let m = e.to_string();
                    assert!(m.contains(&format!("`{path}`")), "{m}");
                    assert!(m.contains(&keys[0].record), "{m}");
                }
                Ok(p) if !refused => assert_eq!(p.uploads.len(), 1, "{path}"),
                other => panic!("{prefix:?} {path:?}: {other:?}"),
            }
        }
    }

    /// A directory target (finding 6): names Windows refuses are refused on every OS, and two paths of the new
    /// tree that a case-insensitive or normalising filesystem takes for one file are a plan error (the
    /// listing is read when a name is new); S3 keys keep them all. A rename that changes only the case deletes
    /// the old key before the upload, so the delete can't remove the new file.
    #[test]
    fn finding_6_a_directory_target_refuses_windows_names_and_same_files() {
        use ChangeKind::*;
        let dir = Settings {
            keys: KeyRules {
                reserved: Vec::new(),
                filesystem: true,
                previews: false,
            },
            ..settings()
        };
        for path in [
            "..\\..\\x.html",
            "C:\\x.html",
            "w\\.git\\config",
            "nul.txt",
            "a/CON",
            "v1./x.html",
            "x.html::$DATA",
            "a/.git-publish-tmp-x",
        ] {
            let e = build("t", &[ch(path, Added)], &listing(&[path]), &dir).unwrap_err();
            assert!(
                matches!(e, PlanError::NotPortable { .. }),
                "{path:?}: {e:?}"
            );
            assert!(
                build("t", &[ch(path, Added)], &listing(&[path]), &settings()).is_ok(),
                "{path:?} on S3"
            );
        }
        for (new, old) in [("a.html", "A.html"), ("caf\u{e9}.html", "cafe\u{301}.html")] {
            let changes = [ch(new, Added)];
            let e = build("t", &changes, &listing(&[old, new]), &dir).unwrap_err();
            assert!(matches!(e, PlanError::SameFile { .. }), "{new:?}: {e:?}");
            assert!(e.to_string().contains(old), "{e}");
            assert!(build("t", &changes, &listing(&[old, new]), &settings()).is_ok());
        }
        // (Without the listing, a new name asks for it: `needs_listing_only_when_a_step_reads_it`.)
        let renamed = [ch("a.html", Deleted), ch("A.html", Added)];
        let p = build("t", &renamed, &listing(&["A.html"]), &dir).unwrap();
        assert_eq!(p.clear_first, ["a.html"]);
        let p = build("t", &renamed, &listing(&["A.html"]), &settings()).unwrap();
        assert!(p.clear_first.is_empty(), "S3: both keys can exist");
    }

    /// A plan is empty only when it sends nothing at all: any one step makes it non-empty (an empty plan
    /// writes only the record, with no claim).
    #[test]
    fn a_plan_with_any_one_step_is_not_empty() {
        assert!(Plan::default().is_empty());
        let uploads = build(
            "t",
            &[ch("a.css", ChangeKind::Added)],
            &listing(&["a.css"]),
            &settings(),
        )
        .unwrap()
        .uploads;
        let redirect = redirects::RedirectObject {
            key: "old/index.html".into(),
            path: "old/index.html".into(),
            location: "/new/".into(),
            status: 301,
        };
        let one_step = [
            Plan {
                uploads,
                ..Plan::default()
            },
            Plan {
                deletes: vec!["gone.html".into()],
                ..Plan::default()
            },
            Plan {
                invalidations: vec!["/x".into()],
                ..Plan::default()
            },
            Plan {
                redirects: redirects::Changes {
                    puts: vec![redirect],
                    ..Default::default()
                },
                ..Plan::default()
            },
            Plan {
                redirects: redirects::Changes {
                    removed: vec!["old/".into()],
                    ..Default::default()
                },
                ..Plan::default()
            },
        ];
        for plan in one_step {
            assert!(!plan.is_empty(), "{plan:?}");
        }
    }

    /// Server-side copies (renames, header updates) send no bytes: the plan's total leaves them out.
    #[test]
    fn copies_send_no_bytes() {
        let changes = [
            ch("a.css", ChangeKind::Added),
            ch("b.css", ChangeKind::Added),
        ];
        let mut plan = build("t", &changes, &listing(&["a.css", "b.css"]), &settings()).unwrap();
        let copy = Upload {
            key: "c.css".into(),
            copy_from: Some("a.css".into()),
            size: 1000,
            ..plan.uploads[0].clone()
        };
        plan.uploads.push(copy);
        let sends: Vec<bool> = plan.uploads.iter().map(Upload::sends_bytes).collect();
        assert_eq!(sends, [true, true, false]);
        assert_eq!(
            plan.upload_bytes(),
            20,
            "two files of 10 bytes; the copy's 1,000 are not sent"
        );
    }

    /// Each of the escapes `key_for` refuses, alone (cargo mutants: with one `||` made `&&`, no test failed,
    /// since every escaping path tried was caught by another clause too).
    #[test]
    fn each_escaping_path_is_refused_on_its_own() {
        for path in [
            "",
            "/a.html",
            "a//b.html",
            "a/./b.html",
            "a/../b.html",
            "a/",
            "..",
            ".",
        ] {
            assert!(
                matches!(key_for("p", path), Err(PlanError::KeyEscapes { .. })),
                "{path:?}"
            );
        }
        assert_eq!(key_for("p", "a/b.html").unwrap(), "p/a/b.html");
    }

    #[test]
    fn keys_longer_than_s3_takes_are_refused() {
        let path = "a".repeat(MAX_KEY_BYTES);
        assert!(key_for("", &path).is_ok());
        assert!(matches!(
            key_for("p", &path),
            Err(PlanError::KeyTooLong { len: 1026, .. })
        ));
    }

    /// A file replaced by a directory of the same name, or the reverse: the old key is deleted before any
    /// upload (and never deferred); other deletes still run last.
    #[test]
    fn type_changes_delete_the_old_key_first() {
        use ChangeKind::*;
        type Row<'a> = (&'a [(&'a str, ChangeKind)], &'a [&'a str]);
        let table: &[Row] = &[
            (&[("x", Deleted), ("x/index.html", Added)], &["x"]),
            (
                &[("y/index.html", Deleted), ("y", Added)],
                &["y/index.html"],
            ),
            (&[("a/b/c.css", Deleted), ("a", Added)], &["a/b/c.css"]),
            (&[("x", Deleted), ("x.html", Added), ("x-y/z", Added)], &[]),
            (&[("old.html", Deleted), ("new.html", Added)], &[]),
        ];
        for (changes, first) in table {
            let changes: Vec<Change> = changes.iter().map(|(p, k)| ch(p, *k)).collect();
            let added: Vec<&str> = (changes.iter())
                .filter(|c| c.kind != Deleted)
                .map(|c| c.path.as_str())
                .collect();
            for delay in [false, true] {
                let s = Settings {
                    delay_deletes: delay,
                    ..settings()
                };
                let plan = build("t", &changes, &listing(&added), &s).unwrap();
                assert_eq!(plan.clear_first, *first, "{changes:?} delay={delay}");
                for k in *first {
                    assert!(
                        plan.deletes.contains(&k.to_string()),
                        "{k} is still a delete"
                    );
                    assert!(
                        !plan.deferred.contains(&k.to_string()),
                        "{k} is never deferred"
                    );
                }
            }
        }
    }

    #[test]
    fn uploads_deletes_and_order() {
        use ChangeKind::*;
        let changes = vec![
            ch("posts/new/index.html", Added),
            ch("posts/new/cover.jpg", Added),
            ch("index.html", Modified),
            ch("css/site.css", Modified),
            ch("old.html", Deleted),
            ch("feed.xml", Modified),
        ];
        let l = listing(&[
            "posts/new/index.html",
            "posts/new/cover.jpg",
            "index.html",
            "css/site.css",
            "feed.xml",
            "about/index.html",
        ]);
        let mut s = settings();
        s.prefix = "blog".into();
        // the distribution's origin path is the prefix: URLs don't carry it
        s.cdns[0].origin_path = "blog".into();
        let p = build("t", &changes, &l, &s).unwrap();
        let keys: Vec<&str> = p.uploads.iter().map(|u| u.key.as_str()).collect();
        // assets first (sorted), then HTML (sorted)
        assert_eq!(
            keys,
            [
                "blog/css/site.css",
                "blog/feed.xml",
                "blog/posts/new/cover.jpg",
                "blog/index.html",
                "blog/posts/new/index.html"
            ]
        );
        assert_eq!(p.uploads[0].kind, UploadKind::Replace);
        assert_eq!(p.uploads[2].kind, UploadKind::New);
        assert_eq!(p.deletes, ["blog/old.html"]);
        // new files are not invalidated; modified and deleted are; index.html also as its directory
        assert_eq!(
            p.invalidations,
            [
                "/",
                "/css/site.css",
                "/feed.xml",
                "/index.html",
                "/old.html"
            ]
        );
    }

    #[test]
    fn content_types_and_blob_ids_flow_through() {
        let changes = vec![ch("a.css", ChangeKind::Added)];
        let p = build("t", &changes, &listing(&["a.css"]), &settings()).unwrap();
        assert_eq!(p.uploads[0].headers.content_type, "text/css; charset=utf-8");
        assert_eq!(p.uploads[0].blob, changes[0].blob.clone().unwrap());
    }

    #[test]
    fn max_deletes_refuses() {
        let changes: Vec<Change> = (0..6)
            .map(|i| ch(&format!("f{i}.html"), ChangeKind::Deleted))
            .collect();
        let mut s = settings();
        s.max_deletes = 5;
        let e = build("prod", &changes, &[], &s).unwrap_err();
        assert!(matches!(
            e,
            PlanError::TooManyDeletes {
                count: 6,
                limit: 5,
                ..
            }
        ));
        assert!(e.hint().unwrap().contains("--max-deletes"));
        s.max_deletes = 6;
        assert_eq!(build("prod", &changes, &[], &s).unwrap().deletes.len(), 6);
    }

    #[test]
    fn no_cdn_no_invalidations() {
        let mut s = settings();
        s.cdns.clear();
        let p = build(
            "t",
            &[ch("a.html", ChangeKind::Modified)],
            &listing(&["a.html"]),
            &s,
        )
        .unwrap();
        assert!(p.invalidations.is_empty());
    }

    #[test]
    fn full_uploads_unchanged_files_too() {
        let mut s = settings();
        s.full = true;
        let p = build(
            "t",
            &[ch("a.html", ChangeKind::Modified)],
            &listing(&["a.html", "b.css"]),
            &s,
        )
        .unwrap();
        assert_eq!(p.uploads.len(), 2);
        assert_eq!(p.invalidations, ["/a.html"]);
    }

    #[test]
    fn invalidate_new_files_option() {
        let mut s = settings();
        s.invalidate_new_files = true;
        let p = build(
            "t",
            &[ch("new.html", ChangeKind::Added)],
            &listing(&["new.html"]),
            &s,
        )
        .unwrap();
        assert_eq!(p.invalidations, ["/new.html"]);
    }

    #[test]
    fn bad_paths_are_errors_not_panics() {
        let e = build("t", &[ch("a/../../x", ChangeKind::Added)], &[], &settings()).unwrap_err();
        assert!(matches!(e, PlanError::KeyEscapes { .. }));
    }

    fn rules(text: &str) -> Rules {
        #[derive(serde::Deserialize)]
        struct F {
            rules: Vec<rules::RuleSpec>,
        }
        let f: F = toml::from_str(text).unwrap();
        Rules::compile(&f.rules).unwrap()
    }

    fn entry(path: &str, blob: &str) -> FileEntry {
        FileEntry {
            path: path.into(),
            blob: blob.into(),
            executable: false,
        }
    }

    struct Case<'a> {
        changes: Vec<Change>,
        listing: Vec<FileEntry>,
        old_listing: Option<Vec<FileEntry>>,
        rules: &'a str,
        old_rules: &'a str,
        deferred: Vec<String>,
    }

    impl Case<'_> {
        fn plan(&self, s: &Settings) -> Plan {
            let (r, o) = (rules(self.rules), rules(self.old_rules));
            super::build(
                "t",
                &Input {
                    changes: &self.changes,
                    listing: Some(&self.listing),
                    old_listing: self.old_listing.as_deref(),
                    rules: &r,
                    old_rules: &o,
                    deferred: &self.deferred,
                    redirects: None,
                    forms_changed: false,
                    elsewhere: None,
                },
                s,
            )
            .unwrap()
            .planned()
            .unwrap()
        }
    }

    /// (key, kind, copy_from) of every upload.
    fn steps(p: &Plan) -> Vec<(String, UploadKind, Option<String>)> {
        p.uploads
            .iter()
            .map(|u| (u.key.clone(), u.kind, u.copy_from.clone()))
            .collect()
    }

    const RULES: &str = r#"
        [[rules]]
        match = "uploads/**"
        keep = true
        [[rules]]
        match = "drafts/**"
        exclude = true
        [[rules]]
        match = "**/*.html"
        cache_control = "max-age=60"
        content_encoding = "gzip"
    "#;

    #[test]
    fn exclude_and_keep() {
        use ChangeKind::*;
        let c = Case {
            changes: vec![
                ch("drafts/x.html", Added),
                ch("drafts/old.html", Deleted),
                ch("uploads/cat.jpg", Deleted),
                ch("a.html", Modified),
            ],
            listing: listing(&["drafts/x.html", "a.html"]),
            old_listing: None,
            rules: RULES,
            old_rules: RULES,
            deferred: vec![],
        };
        let p = c.plan(&settings());
        assert_eq!(steps(&p), [("a.html".into(), UploadKind::Replace, None)]);
        assert_eq!(
            p.uploads[0].headers.cache_control.as_deref(),
            Some("max-age=60")
        );
        assert_eq!(p.uploads[0].headers.content_encoding, Some(Encoding::Gzip));
        assert!(
            p.deletes.is_empty(),
            "kept and excluded paths are never deleted"
        );
        assert_eq!(p.invalidations, ["/a.html"]);
    }

    /// Metadata follows config: a rule change between the deployed rules and the new ones, per file.
    #[test]
    fn rule_changes_update_unchanged_files() {
        let old = r#"
            [[rules]]
            match = "**/*.css"
            cache_control = "max-age=60"
            [[rules]]
            match = "secret/**"
            exclude = true
        "#;
        let new = r#"
            [[rules]]
            match = "**/*.css"
            cache_control = "max-age=31536000"
            [[rules]]
            match = "**/*.js"
            content_encoding = "br"
            [[rules]]
            match = "**/*.png"
            cache_control = "max-age=60"
            content_type = "image/png"
        "#;
        let c = Case {
            changes: vec![],
            listing: listing(&["a.css", "b.js", "c.png", "d.txt", "secret/s.txt"]),
            old_listing: None,
            rules: new,
            old_rules: old,
            deferred: vec![],
        };
        let p = c.plan(&settings());
        assert_eq!(
            steps(&p),
            [
                // headers only: copied onto itself
                ("a.css".into(), UploadKind::Headers, Some("a.css".into())),
                // encoding changed: the stored bytes change
                ("b.js".into(), UploadKind::Replace, None),
                ("c.png".into(), UploadKind::Headers, Some("c.png".into())),
                // was excluded, never published
                ("secret/s.txt".into(), UploadKind::New, None),
            ]
        );
        assert_eq!(p.upload_bytes(), 0);
        // headers changed = stale; a never-published file is new
        assert_eq!(p.invalidations, ["/a.css", "/b.js", "/c.png"]);
        // same rules: nothing to do
        let same = Case {
            old_rules: new,
            ..c
        };
        assert!(same.plan(&settings()).is_empty());
    }

    #[test]
    fn renames_and_duplicates_are_copies() {
        use ChangeKind::*;
        let blob = |p: &str| format!("{:040x}", p.len());
        let c = Case {
            // a rename (old.css -> new/site.css, same bytes), a duplicate of an unchanged file, a genuinely
            // new file, and a file whose blob sits at a key being replaced (not a safe source)
            changes: vec![
                ch("old.css", Deleted),
                Change {
                    blob: Some("b1".repeat(20)),
                    ..ch("new/site.css", Added)
                },
                Change {
                    blob: Some("b2".repeat(20)),
                    ..ch("copy-of-logo.png", Added)
                },
                ch("fresh.js", Added),
                Change {
                    blob: Some("b3".repeat(20)),
                    ..ch("x.js", Added)
                },
                ch("moving.js", Modified),
            ],
            listing: vec![
                entry("new/site.css", &"b1".repeat(20)),
                entry("copy-of-logo.png", &"b2".repeat(20)),
                entry("logo.png", &"b2".repeat(20)),
                entry("fresh.js", &blob("fresh.js")),
                entry("x.js", &"b3".repeat(20)),
                entry("moving.js", &blob("moving.js")),
            ],
            old_listing: Some(vec![
                entry("old.css", &"b1".repeat(20)),
                entry("logo.png", &"b2".repeat(20)),
                entry("moving.js", &"b3".repeat(20)),
            ]),
            rules: "",
            old_rules: "",
            deferred: vec![],
        };
        let c = Case {
            rules: "rules = []",
            old_rules: "rules = []",
            ..c
        };
        let mut s = settings();
        s.prefix = "p".into();
        let p = c.plan(&s);
        assert_eq!(
            steps(&p),
            [
                (
                    "p/copy-of-logo.png".into(),
                    UploadKind::Copy,
                    Some("p/logo.png".into())
                ),
                ("p/fresh.js".into(), UploadKind::New, None),
                ("p/moving.js".into(), UploadKind::Replace, None),
                (
                    "p/new/site.css".into(),
                    UploadKind::Copy,
                    Some("p/old.css".into())
                ),
                ("p/x.js".into(), UploadKind::New, None),
            ]
        );
        assert_eq!(
            p.deletes,
            ["p/old.css"],
            "the source is deleted after the copy"
        );
        // no old listing (resuming an interrupted publish): no copies
        let p = Case {
            old_listing: None,
            ..c
        }
        .plan(&s);
        assert_eq!(p.count(UploadKind::Copy), 0);
    }

    /// Production never writes where previews are: a site path under `_previews/` is refused (in any case on
    /// a directory target); a preview's own paths are not.
    #[test]
    fn production_refuses_site_paths_under_previews() {
        let mut s = settings();
        s.keys.previews = true;
        for path in ["_previews/x/index.html", "_previews"] {
            let e = build("t", &[ch(path, ChangeKind::Added)], &listing(&[path]), &s).unwrap_err();
            assert!(matches!(e, PlanError::PreviewPath { .. }), "{path}: {e:?}");
        }
        assert!(build(
            "t",
            &[ch("_previewsx.html", ChangeKind::Added)],
            &listing(&["_previewsx.html"]),
            &s
        )
        .is_ok());
        s.keys.filesystem = true;
        let e = build(
            "t",
            &[ch("_Previews/a.html", ChangeKind::Added)],
            &listing(&["_Previews/a.html"]),
            &s,
        );
        assert!(matches!(e, Err(PlanError::PreviewPath { .. })), "{e:?}");
        s.keys.previews = false;
        assert!(build(
            "t",
            &[ch("_previews/a.html", ChangeKind::Added)],
            &listing(&["_previews/a.html"]),
            &s
        )
        .is_ok());
    }

    /// A preview's first publish: every file is new under `_previews/<name>/`; those whose bytes production
    /// already holds (at the same path, or anywhere) are copied from production's keys, none is sent twice,
    /// and nothing under production's prefix is written or deleted. `--full` sends bytes.
    #[test]
    fn a_preview_copies_what_production_holds() {
        use ChangeKind::*;
        let with = |path: &str, blob: &str| Change {
            blob: Some(blob.repeat(20)),
            ..ch(path, Added)
        };
        let changes = vec![
            with("index.html", "a1"),
            with("posts/new/index.html", "a2"),
            with("css/site.css", "a3"),
            with("img/moved.png", "a4"),
        ];
        let production = vec![
            entry("css/site.css", &"a3".repeat(20)),
            entry("img/logo.png", &"a4".repeat(20)),
            entry("index.html", &"ff".repeat(20)),
        ];
        let none = Rules::default();
        let elsewhere = Elsewhere {
            prefix: "site",
            files: &production,
            rules: &none,
        };
        let input = Input {
            changes: &changes,
            listing: None,
            old_listing: None,
            rules: &none,
            old_rules: &none,
            deferred: &[],
            redirects: None,
            forms_changed: false,
            elsewhere: Some(&elsewhere),
        };
        let mut s = settings();
        s.prefix = "site/_previews/draft".into();
        s.within_prefix = true;
        let p = super::build("p@draft", &input, &s)
            .unwrap()
            .planned()
            .unwrap();
        let p_ = |k: &str| format!("site/_previews/draft/{k}");
        assert_eq!(
            steps(&p),
            [
                (
                    p_("css/site.css"),
                    UploadKind::Copy,
                    Some("site/css/site.css".into())
                ),
                (
                    p_("img/moved.png"),
                    UploadKind::Copy,
                    Some("site/img/logo.png".into())
                ),
                (p_("index.html"), UploadKind::New, None),
                (p_("posts/new/index.html"), UploadKind::New, None),
            ]
        );
        assert!(p.deletes.is_empty());
        assert!(p
            .uploads
            .iter()
            .all(|u| u.key.starts_with("site/_previews/draft/")));
        s.full = true;
        let all: Vec<FileEntry> = (changes.iter())
            .map(|c| entry(&c.path, c.blob.as_deref().unwrap()))
            .collect();
        let input = Input {
            listing: Some(&all),
            ..input
        };
        let p = super::build("p@draft", &input, &s)
            .unwrap()
            .planned()
            .unwrap();
        assert_eq!(p.count(UploadKind::Copy), 0);
    }

    #[test]
    fn delayed_deletes_wait_one_publish() {
        use ChangeKind::*;
        let mut s = settings();
        s.delay_deletes = true;
        let c = Case {
            changes: vec![ch("gone.css", Deleted), ch("index.html", Modified)],
            listing: listing(&["index.html", "back.css"]),
            old_listing: None,
            rules: "rules = []",
            old_rules: "rules = []",
            // the previous publish removed these two; back.css has returned since
            deferred: vec!["older.css".into(), "back.css".into()],
        };
        let p = c.plan(&s);
        assert_eq!(p.deletes, ["older.css"]);
        assert_eq!(p.deferred, ["gone.css"]);
        assert_eq!(p.invalidations, ["/", "/index.html", "/older.css"]);
    }

    /// Without the listing of the new tree, the plan asks for it exactly when a step reads it.
    #[test]
    fn needs_listing_only_when_a_step_reads_it() {
        use ChangeKind::*;
        let many: Vec<Change> = (0..20)
            .map(|i| ch(&format!("d/f{i}.css"), Modified))
            .collect();
        let none = rules("rules = []");
        let some = rules("[[rules]]\nmatch = \"*.css\"\ncache_control = \"no-cache\"");
        let full = Settings {
            full: true,
            ..settings()
        };
        type Row<'a> = (
            &'a str,
            &'a [Change],
            &'a [String],
            &'a Rules,
            &'a Settings,
            bool,
        );
        let (small, gone) = ([ch("a.html", Modified)], ["gone.css".to_string()]);
        let (added, dir) = (
            [ch("new.html", Added)],
            Settings {
                keys: KeyRules {
                    reserved: Vec::new(),
                    filesystem: true,
                    previews: false,
                },
                ..settings()
            },
        );
        #[rustfmt::skip]
        let table: &[Row] = &[
            // (why,                        changes, deferred, old rules, settings,    needs the listing)
            ("a small change",              &small,  &[],      &none,     &settings(), false),
            ("deferred deletes",            &[],     &gone,    &none,     &settings(), true),
            ("changed rules",               &[],     &[],      &some,     &settings(), true),
            ("--full",                      &[],     &[],      &none,     &full,       true),
            ("more stale URLs than paths",  &many,   &[],      &none,     &settings(), true),
            ("a new name on a directory",   &added,  &[],      &none,     &dir,        true),
            ("a new name on S3",            &added,  &[],      &none,     &settings(), false),
        ];
        for &(why, changes, deferred, old_rules, s, want) in table {
            let input = Input {
                changes,
                listing: None,
                old_listing: None,
                rules: &none,
                old_rules,
                deferred,
                redirects: None,
                forms_changed: false,
                elsewhere: None,
            };
            let needs = super::build("t", &input, s).unwrap() == Outcome::NeedsListing;
            assert_eq!(needs, want, "{why}");
        }
    }

    #[test]
    fn served_paths() {
        let table = [
            ("", "", "a/b.html", Some("a/b.html")),
            ("blog", "", "a/b.html", Some("blog/a/b.html")),
            ("blog", "blog", "a/b.html", Some("a/b.html")),
            ("s/blog", "s", "a/b.html", Some("blog/a/b.html")),
            ("blog", "other", "a/b.html", None),
            ("blogs", "blog", "a/b.html", None),
            ("", "blog", "blog/x.css", Some("x.css")),
        ];
        for (prefix, origin, path, want) in table {
            assert_eq!(
                served_path(prefix, origin, path).as_deref(),
                want,
                "{prefix:?} {origin:?} {path:?}"
            );
        }
    }

    #[test]
    fn origin_path_and_several_distributions() {
        let mut s = settings();
        s.prefix = "site".into();
        s.cdns = vec![
            CdnSettings {
                id: "E1".into(),
                origin_path: "site".into(),
                profile: crate::aws::cloudfront::PROFILE,
            },
            CdnSettings {
                id: "E2".into(),
                origin_path: String::new(),
                profile: crate::aws::cloudfront::PROFILE,
            },
        ];
        let p = build(
            "t",
            &[ch("posts/a/index.html", ChangeKind::Modified)],
            &listing(&["posts/a/index.html"]),
            &s,
        )
        .unwrap();
        assert_eq!(p.cdn.len(), 2);
        assert_eq!(p.cdn[0].paths, ["/posts/a/", "/posts/a/index.html"]);
        assert_eq!(
            p.cdn[1].paths,
            ["/site/posts/a/", "/site/posts/a/index.html"]
        );
        assert_eq!(p.invalidation.paths, 4);
    }

    #[test]
    fn monthly_budget_counts_paid_paths_and_prefers_wildcards() {
        let changes: Vec<Change> = (0..6)
            .map(|i| ch(&format!("d/f{i}.css"), ChangeKind::Modified))
            .collect();
        let l = listing(&[
            "d/f0.css", "d/f1.css", "d/f2.css", "d/f3.css", "d/f4.css", "d/f5.css", "x.css",
        ]);
        let mut s = settings();
        s.used_this_month = 990;
        let p = build("t", &changes, &l, &s).unwrap();
        assert_eq!(p.invalidations.len(), 6);
        assert_eq!(p.budget.paid, 0);
        s.used_this_month = 997;
        let p = build("t", &changes, &l, &s).unwrap();
        // 3 left: the fully changed directory becomes one wildcard
        assert_eq!(p.invalidations, ["/d/*"]);
        assert!(p.budget.tightened);
        s.used_this_month = 1200;
        let p = build("t", &changes, &l, &s).unwrap();
        assert_eq!(p.invalidations, ["/d/*"]);
        assert_eq!(p.budget.paid, 1);
    }

    /// Other URL forms than the deployed tree's (`pretty_urls` turned on or off, another index document):
    /// any URL may serve something else now, so each distribution that serves the target invalidates the
    /// whole site under its served root, one wildcard, even when no file changed.
    #[test]
    fn changed_url_forms_invalidate_the_whole_site_once() {
        let none = Rules::default();
        let cloudfront = crate::aws::cloudfront::PROFILE;
        // Cloudflare's purge by URL has no wildcard: the whole site is everything the zone cached.
        let cloudflare = crate::cloudflare::profile("blog.example.com");
        // (prefix, origin path, profile, expected paths)
        let table: [(&str, &str, &invalidate::CdnProfile, &[&str]); 5] = [
            ("", "", &cloudfront, &["/*"]),
            ("blog", "", &cloudfront, &["/blog/*"]),
            ("blog", "blog", &cloudfront, &["/*"]),
            ("blog", "shop", &cloudfront, &[]),
            ("blog", "", &cloudflare, &[invalidate::EVERYTHING]),
        ];
        for (prefix, origin, profile, want) in table {
            let s = Settings {
                prefix: prefix.into(),
                cdns: vec![CdnSettings {
                    id: "E1".into(),
                    origin_path: origin.into(),
                    profile: profile.clone(),
                }],
                ..settings()
            };
            let input = Input {
                changes: &[],
                listing: None,
                old_listing: None,
                rules: &none,
                old_rules: &none,
                deferred: &[],
                redirects: None,
                forms_changed: true,
                elsewhere: None,
            };
            let p = super::build("t", &input, &s).unwrap().planned().unwrap();
            assert_eq!(p.invalidations, want, "{prefix:?} under {origin:?}");
            assert_eq!(p.invalidation.wildcards, want.len());
            let batches: Vec<Vec<&str>> = want.iter().map(|w| vec![*w]).collect();
            assert_eq!(
                p.cdn
                    .iter()
                    .flat_map(|c| &c.batches)
                    .cloned()
                    .collect::<Vec<_>>(),
                batches
            );
            let unchanged = Input {
                forms_changed: false,
                elsewhere: None,
                ..input
            };
            let p = super::build("t", &unchanged, &s)
                .unwrap()
                .planned()
                .unwrap();
            assert!(p.is_empty());
        }
    }
}
