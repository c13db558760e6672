//! The steps of [`super::build`], in the order it runs them: changes, deferred deletes, rule-driven updates,
//! server-side copies, the delete limit and ordering, then CDN paths.
//!
//! Owns the decisions of each step: which change becomes which upload or delete, and which site paths
//! have stale or new URLs (through [`invalidate::cached`]). Each step adds to a [`Draft`]; none of them
//! decides whether the listing of the new tree is needed (`build` does, before calling a step that reads
//! it). Pure, like the rest of `plan/`: no IO.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::change::ChangeKind;
use super::error::PlanError;
use super::invalidate::{self, Cached, Edit};
use super::model::{
    served_path, Budget, CdnPlan, CdnSettings, FileEntry, Input, Plan, Settings, Upload, UploadKind,
};
use super::redirects;

/// The plan while its steps build it.
#[derive(Debug, Default)]
pub(super) struct Draft {
    pub uploads: Vec<Upload>,
    pub deletes: Vec<String>,
    pub deferred: Vec<String>,
    /// How many of `deletes` carry out deletes that the previous publish deferred (and counted then).
    pub carried: usize,
    /// Site paths whose cached URLs are stale (see [`invalidate::cached`]).
    pub stale: Vec<String>,
    /// Site paths that are new to the cache.
    pub added: Vec<String>,
    /// Keys deleted before any upload (see [`type_changes`]).
    pub clear_first: Vec<String>,
    pub redirects: redirects::Changes,
}

impl Draft {
    /// `path`'s URLs are stale whatever the edit said (a redirect was added or removed there).
    fn mark_stale(&mut self, path: &str) {
        self.added.retain(|p| p != path);
        if !self.stale.iter().any(|p| p == path) {
            self.stale.push(path.to_string());
        }
    }
    /// Record what `edit` does to the cached URLs of `path`.
    fn touch(&mut self, path: &str, edit: Edit, s: &Settings) {
        match invalidate::cached(edit, s.invalidate_new_files) {
            Cached::Stale => self.stale.push(path.to_string()),
            Cached::New => self.added.push(path.to_string()),
            Cached::Fresh => {}
        }
    }
}

/// Changes: every change of the diff becomes an upload, a delete, or a delete deferred one publish
/// (`delay_deletes`). Excluded paths are skipped, kept paths never deleted.
pub(super) fn changes(d: &mut Draft, input: &Input, s: &Settings) -> Result<(), PlanError> {
    let rules = input.rules;
    for c in input.changes {
        if rules.excluded(&c.path) {
            continue;
        }
        let key = s.key(&c.path)?;
        let (kind, edit) = match c.kind {
            ChangeKind::Added => (UploadKind::New, Edit::Added),
            ChangeKind::Modified => (UploadKind::Replace, Edit::Modified),
            ChangeKind::Deleted if rules.kept(&c.path) => continue,
            ChangeKind::Deleted if s.delay_deletes => {
                d.deferred.push(c.path.clone());
                continue;
            }
            ChangeKind::Deleted => {
                d.deletes.push(key);
                d.touch(&c.path, Edit::Deleted, s);
                continue;
            }
        };
        d.uploads.push(Upload {
            key,
            path: c.path.clone(),
            blob: c.blob.clone().unwrap_or_default(),
            size: c.size,
            kind,
            headers: rules.headers(&c.path),
            copy_from: None,
            executable: c.executable,
        });
        d.touch(&c.path, edit, s);
    }
    Ok(())
}

/// Deferred deletes: the deletes the previous publish deferred run now, unless the path is back in the new
/// tree (`listing`), or kept or excluded by now.
pub(super) fn deferred_deletes(
    d: &mut Draft,
    input: &Input,
    listing: &[FileEntry],
    s: &Settings,
) -> Result<(), PlanError> {
    let in_new: HashSet<&str> = listing.iter().map(|f| f.path.as_str()).collect();
    for path in input.deferred {
        if in_new.contains(path.as_str()) || input.rules.kept(path) || input.rules.excluded(path) {
            continue;
        }
        let key = s.key(path)?;
        if !d.deletes.contains(&key) {
            d.deletes.push(key);
            d.carried += 1;
            d.touch(path, Edit::Deleted, s);
        }
        d.deferred.retain(|x| x != path);
    }
    Ok(())
}

/// Whether the rules changed since the deployed tree was published (then metadata follows config).
pub(super) fn rules_changed(input: &Input) -> bool {
    input.old_rules.specs() != input.rules.specs()
}

/// Rule-driven updates: unchanged files of the new tree (`listing`) whose headers or publication changed
/// with the rules, or every file with `--full`.
pub(super) fn rule_updates(
    d: &mut Draft,
    input: &Input,
    listing: &[FileEntry],
    s: &Settings,
) -> Result<(), PlanError> {
    let rules_changed = rules_changed(input);
    let changed: HashSet<&str> = input.changes.iter().map(|c| c.path.as_str()).collect();
    for f in listing {
        if changed.contains(f.path.as_str()) || input.rules.excluded(&f.path) {
            continue;
        }
        let key = s.key(&f.path)?;
        let headers = input.rules.headers(&f.path);
        let Some((kind, edit)) = rule_update(input, &f.path, &headers, rules_changed, s.full)
        else {
            continue;
        };
        d.uploads.push(Upload {
            copy_from: (kind == UploadKind::Headers).then(|| key.clone()),
            key,
            path: f.path.clone(),
            blob: f.blob.clone(),
            size: 0,
            kind,
            headers,
            executable: f.executable,
        });
        d.touch(&f.path, edit, s);
    }
    Ok(())
}

/// What one unchanged file needs, given its new headers: nothing (`None`), or an upload of that kind.
fn rule_update(
    input: &Input,
    path: &str,
    new: &super::rules::Headers,
    rules_changed: bool,
    full: bool,
) -> Option<(UploadKind, Edit)> {
    if rules_changed && input.old_rules.excluded(path) {
        // Never published before.
        return Some((UploadKind::New, Edit::Unexcluded));
    }
    let old = if rules_changed {
        input.old_rules.headers(path)
    } else {
        new.clone()
    };
    if old.content_encoding != new.content_encoding || full {
        // Other bytes (or `--full`): send them. Same bytes and headers are not stale.
        let headers_changed = old != *new;
        Some((UploadKind::Replace, Edit::Resent { headers_changed }))
    } else if old != *new {
        Some((UploadKind::Headers, Edit::Reheadered))
    } else {
        None
    }
}

/// Redirects: the table after this publish (see [`redirects::table`]) against the recorded one. A new or
/// changed redirect puts its object at the moved page's key (instead of deleting it) and makes its URLs
/// stale; a removed one deletes its object, unless a page is published there again (then its URLs, cached
/// as redirects, are stale too). Without `listing`, "published" is judged from the changes (enough unless
/// [`redirects::needs_listing`]).
pub(super) fn redirects(
    d: &mut Draft,
    input: &Input,
    req: &redirects::Request,
    listing: Option<&[FileEntry]>,
    s: &Settings,
) -> Result<(), PlanError> {
    let listed: HashSet<&str> = listing
        .unwrap_or(&[])
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    let changed: HashSet<&str> = (input.changes.iter())
        .filter(|c| c.kind != ChangeKind::Deleted)
        .map(|c| c.path.as_str())
        .collect();
    let published = |p: &str| listed.contains(p) || changed.contains(p);
    let (table, proposed) = redirects::table(req, input.changes, &s.forms, &published)?;
    let (puts, removed) = redirects::diff(req.recorded, &table);
    let mut objects = Vec::new();
    for r in puts {
        objects.push(redirects::RedirectObject {
            key: s.key(&r.from)?,
            path: r.from.clone(),
            location: r.to.clone(),
            status: r.status,
        });
        d.mark_stale(&r.from);
    }
    for path in &removed {
        if !published(path) {
            d.deletes.push(s.key(path)?);
        }
        d.mark_stale(path);
    }
    keep_redirect_objects(d, &table, &objects, s)?;
    d.redirects = redirects::Changes {
        table,
        puts: objects,
        removed,
        proposed,
        lines: Vec::new(),
    };
    d.redirects.render(&s.forms);
    Ok(())
}

/// A redirected page's key holds its redirect object: never delete it (now or deferred). A delete dropped
/// for a redirect that stays as it was leaves its URLs fresh (they answer the same redirect).
fn keep_redirect_objects(
    d: &mut Draft,
    table: &[redirects::Redirect],
    puts: &[redirects::RedirectObject],
    s: &Settings,
) -> Result<(), PlanError> {
    let put: HashSet<&str> = puts.iter().map(|o| o.path.as_str()).collect();
    let mut kept_keys = HashSet::new();
    for r in table {
        let key = s.key(&r.from)?;
        if d.deletes.contains(&key) && !put.contains(r.from.as_str()) {
            d.stale.retain(|p| *p != r.from);
        }
        kept_keys.insert(key);
    }
    d.deletes.retain(|k| !kept_keys.contains(k));
    d.deferred.retain(|p| !table.iter().any(|r| r.from == *p));
    Ok(())
}

/// Server-side copies: a new blob already stored at a key of the deployed tree (`old`) whose bytes stay put
/// during this publish (not re-sent, stored with the same encoding) is copied, not uploaded. Never with
/// `--full`.
pub(super) fn server_side_copies(
    uploads: &mut [Upload],
    input: &Input,
    old: &[FileEntry],
    s: &Settings,
) -> Result<(), PlanError> {
    if s.full {
        return Ok(());
    }
    let rewritten: HashSet<&str> = uploads
        .iter()
        .filter(|u| u.sends_bytes())
        .map(|u| u.path.as_str())
        .collect();
    let mut by_blob: HashMap<&str, &str> = HashMap::new();
    for f in old {
        if !rewritten.contains(f.path.as_str()) && !input.old_rules.excluded(&f.path) {
            by_blob.entry(f.blob.as_str()).or_insert(f.path.as_str());
        }
    }
    let mut copies = Vec::new();
    for (i, u) in uploads.iter().enumerate().filter(|(_, u)| u.sends_bytes()) {
        if let Some(src) = by_blob.get(u.blob.as_str()) {
            if *src != u.path
                && input.old_rules.headers(src).content_encoding == u.headers.content_encoding
            {
                copies.push((i, s.key(src)?));
            }
        }
    }
    for (i, from) in copies {
        uploads[i].kind = UploadKind::Copy;
        uploads[i].copy_from = Some(from);
    }
    Ok(())
}

/// Uploads whose bytes are already stored under another prefix of the bucket ([`super::model::Elsewhere`]: a
/// preview's files that production has) become server-side copies from there, at whatever path they are
/// (usually the same one). Nothing under that prefix is written by this plan, so any of its files may be a
/// source; the bytes must have been stored with the same encoding.
pub(super) fn copies_from_elsewhere(
    uploads: &mut [Upload],
    e: &super::model::Elsewhere,
    s: &Settings,
) -> Result<(), PlanError> {
    if s.full {
        return Ok(());
    }
    let mut by_blob: HashMap<&str, &str> = HashMap::new();
    for f in e.files.iter().filter(|f| !e.rules.excluded(&f.path)) {
        by_blob.entry(f.blob.as_str()).or_insert(f.path.as_str());
    }
    for u in uploads.iter_mut().filter(|u| u.sends_bytes()) {
        let same_path = e
            .files
            .binary_search_by(|f| f.path.as_str().cmp(&u.path))
            .ok();
        let src = match same_path.map(|i| &e.files[i]) {
            Some(f) if f.blob == u.blob && !e.rules.excluded(&f.path) => Some(f.path.as_str()),
            _ => by_blob.get(u.blob.as_str()).copied(),
        };
        let Some(src) = src else { continue };
        if e.rules.headers(src).content_encoding == u.headers.content_encoding {
            u.kind = UploadKind::Copy;
            u.copy_from = Some(super::model::key_for(e.prefix, src)?);
        }
    }
    Ok(())
}

/// Limits and ordering: the safety limit on deletes comes before anything runs, and counts the deletes this
/// plan decides (deferred ones too, not the ones it carries out for the previous publish); then uploads in execution
/// order (by [`super::model::Phase`], then key), deletes and deferred deletes sorted.
/// Type changes: a file replaced by a directory of the same name, or the reverse (`x` ↔ `x/index.html`). A
/// filesystem can't hold both, so the old key is deleted before any upload (S3 could hold both, but the old
/// key must go all the same). Such deletes are never deferred. They stay in `deletes` (what the plan shows
/// and counts); `clear_first` says which of them run before the uploads, which keep their order: assets, then
/// pages.
///
/// | old keys         | new keys          | deleted first  |
/// |------------------|-------------------|----------------|
/// | `x`              | `x/index.html`    | `x`            |
/// | `y/index.html`   | `y`               | `y/index.html` |
/// | `a/b/c.css`      | `a`               | `a/b/c.css`    |
/// | `x`              | `x.html`          | nothing        |
///
/// On a filesystem target keys are compared as a case-insensitive, normalising filesystem compares them
/// ([`super::paths::folded_path`]), and a key that differs from an upload's only in case or normalisation
/// (`a.html` renamed `A.html`) is in the way too: deleted after the upload, it would delete the new file.
pub(super) fn type_changes(d: &mut Draft, s: &Settings) -> Result<(), PlanError> {
    let fold = |k: &str| {
        if s.keys.filesystem {
            super::paths::folded_path(k)
        } else {
            k.to_string()
        }
    };
    let uploads: BTreeSet<String> = d.uploads.iter().map(|u| fold(&u.key)).collect();
    let raw: HashSet<&str> = d.uploads.iter().map(|u| u.key.as_str()).collect();
    // A deleted key in the way of an upload: an upload below it, or an upload at one of its parents, or (on a
    // filesystem) an upload of another spelling of the same name.
    let in_the_way = |key: &str| {
        let key_f = fold(key);
        let below = format!("{key_f}/");
        uploads
            .range(below.clone()..)
            .next()
            .is_some_and(|u| u.starts_with(&below))
            || key_f
                .match_indices('/')
                .any(|(i, _)| uploads.contains(&key_f[..i]))
            || (uploads.contains(&key_f) && !raw.contains(key))
    };
    d.clear_first = d
        .deletes
        .iter()
        .filter(|k| in_the_way(k))
        .cloned()
        .collect();
    let mut deferred = Vec::new();
    for path in std::mem::take(&mut d.deferred) {
        let key = s.key(&path)?;
        if in_the_way(&key) {
            d.clear_first.push(key.clone());
            d.deletes.push(key);
        } else {
            deferred.push(path);
        }
    }
    d.deferred = deferred;
    d.clear_first.sort();
    Ok(())
}

/// Two files of the new tree that a case-insensitive or normalising filesystem takes for one (see
/// [`super::paths::same_file`]): an error on a filesystem target, whose plan would otherwise write one over
/// the other. Excluded files are not published and don't count.
pub(super) fn same_files(input: &Input, listing: &[FileEntry]) -> Result<(), PlanError> {
    let published = (listing.iter())
        .map(|f| f.path.as_str())
        .filter(|p| !input.rules.excluded(p));
    match super::paths::same_file(published) {
        Some((first, second)) => Err(PlanError::SameFile {
            first: first.to_string(),
            second: second.to_string(),
        }),
        None => Ok(()),
    }
}

pub(super) fn limit_and_order(d: &mut Draft, target: &str, s: &Settings) -> Result<(), PlanError> {
    // Deletes count when they are planned: a deferred one now, not when the next publish carries it out.
    let planned = d.deletes.len().saturating_sub(d.carried) + d.deferred.len();
    if planned > s.max_deletes {
        return Err(PlanError::TooManyDeletes {
            count: planned,
            limit: s.max_deletes,
            target: target.to_string(),
        });
    }
    d.uploads
        .sort_by(|a, b| (a.phase(), &a.key).cmp(&(b.phase(), &b.key)));
    d.deletes.sort();
    d.deferred.sort();
    Ok(())
}

/// How many paths each distribution may send: `max_invalidation_paths`, or what is left of the monthly
/// budget when that is less (at least one).
pub(super) fn path_limit(s: &Settings) -> usize {
    let left = s.monthly_budget.saturating_sub(s.used_this_month);
    if left < s.max_invalidation_paths {
        left.max(1)
    } else {
        s.max_invalidation_paths
    }
}

/// CDN paths: the invalidation of each distribution. `None` when a distribution has more stale URLs than
/// `max_paths` (a cover with wildcards, which must know the unchanged URLs) and `input.listing` is `None`.
pub(super) fn cdn_paths(
    d: &Draft,
    input: &Input,
    s: &Settings,
    max_paths: usize,
) -> Option<Vec<CdnPlan>> {
    if input.forms_changed {
        return Some(s.cdns.iter().filter_map(|cdn| whole_site(cdn, s)).collect());
    }
    let mut out = Vec::new();
    if d.stale.is_empty() {
        return Some(out);
    }
    let touched: HashSet<&str> = d.stale.iter().chain(&d.added).map(String::as_str).collect();
    for cdn in &s.cdns {
        let served = |paths: &mut dyn Iterator<Item = &str>| -> Vec<String> {
            paths
                .filter_map(|p| served_path(&s.prefix, &cdn.origin_path, p))
                .collect()
        };
        let stale = served(&mut d.stale.iter().map(String::as_str));
        let added = served(&mut d.added.iter().map(String::as_str));
        // Unchanged URLs only matter to a cover with wildcards, i.e. with more stale URLs than paths.
        let stale_urls: BTreeSet<String> = stale
            .iter()
            .flat_map(|p| invalidate::url_forms(p, &s.forms))
            .collect();
        let listing = if stale_urls.len() > max_paths {
            input.listing?
        } else {
            &[]
        };
        let unchanged = served(
            &mut listing
                .iter()
                .map(|f| f.path.as_str())
                .filter(|p| !touched.contains(p) && !input.rules.excluded(p)),
        );
        out.extend(distribution_plan(
            cdn, &stale, &unchanged, &added, s, max_paths,
        ));
    }
    Some(out)
}

/// Every URL of the site on one distribution: one address over its served root
/// ([`invalidate::whole_site`]); `None` when the distribution does not serve the target's prefix.
fn whole_site(cdn: &CdnSettings, s: &Settings) -> Option<CdnPlan> {
    let root = super::model::served_root(&s.prefix, &cdn.origin_path)?;
    let paths = vec![invalidate::whole_site(&root, &cdn.profile)];
    Some(CdnPlan {
        distribution: cdn.id.clone(),
        batches: invalidate::batches(&paths, &cdn.profile),
        summary: invalidate::Summary {
            paths: 1,
            wildcards: 1,
            ..Default::default()
        },
        paths,
    })
}

/// The cover of one distribution's served paths; `None` when it has nothing to invalidate.
fn distribution_plan(
    cdn: &CdnSettings,
    stale: &[String],
    unchanged: &[String],
    added: &[String],
    s: &Settings,
    max_paths: usize,
) -> Option<CdnPlan> {
    let (stale, unchanged, added) = (refs(stale), refs(unchanged), refs(added));
    // A preview is served under its own directory; wildcards above it would evict production.
    let root = match super::model::served_root(&s.prefix, &cdn.origin_path) {
        Some(root) if s.within_prefix => root,
        _ => "/".to_string(),
    };
    let (paths, summary) = invalidate::plan(&invalidate::Input {
        stale: &stale,
        unchanged: &unchanged,
        added: &added,
        forms: &s.forms,
        max_paths,
        profile: &cdn.profile,
        root: &root,
    });
    (!paths.is_empty()).then(|| CdnPlan {
        distribution: cdn.id.clone(),
        batches: invalidate::batches(&paths, &cdn.profile),
        paths,
        summary,
    })
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The plan: the draft's steps, every distribution's paths merged (sorted, deduplicated), totals and budget.
pub(super) fn assemble(d: Draft, cdn: Vec<CdnPlan>, s: &Settings, max_paths: usize) -> Plan {
    let invalidations: Vec<String> = cdn
        .iter()
        .flat_map(|c| c.paths.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut invalidation = invalidate::Summary::default();
    for c in &cdn {
        invalidation += &c.summary;
    }
    let left = s.monthly_budget.saturating_sub(s.used_this_month);
    let budget = Budget {
        monthly: s.monthly_budget,
        used: s.used_this_month,
        paid: invalidation.paths.saturating_sub(left),
        tightened: max_paths < s.max_invalidation_paths && !cdn.is_empty(),
    };
    Plan {
        clear_first: d.clear_first,
        uploads: d.uploads,
        deletes: d.deletes,
        deferred: d.deferred,
        invalidations,
        invalidation,
        cdn,
        budget,
        churn: Vec::new(),
        redirects: d.redirects,
        function: None,
    }
}
