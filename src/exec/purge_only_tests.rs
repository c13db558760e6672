//! The proof of the CDN seam (issue 27): a throwaway second CDN, [`PurgeOnly`], that only purges absolute URLs
//! on one host, without wildcards, 30 URLs a request, with no function and an immediate status. Everything
//! it needs is in this file: its profile ([`PURGE`]) and two methods (`describe`, `invalidate`; `status` has a
//! default for a purge done when answered). The planner ([`crate::plan::build`])
//! and the executor ([`Executor::run`], [`invalidate_each`]) are the ones every target uses.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::memory::{Call, Log, MemoryBlobs, MemoryStore};
use super::*;
use crate::plan::invalidate::{Addresses, CdnProfile, UrlForms, Wildcard};
use crate::plan::{CdnSettings, Change, ChangeKind, FileEntry, Rules, Settings};

/// What the purge-only CDN accepts.
const PURGE: CdnProfile = CdnProfile {
    wildcard: Wildcard::None,
    addresses: Addresses::AbsoluteUrls {
        host: Cow::Borrowed("www.example.org"),
    },
    max_per_request: 30,
    max_wildcards_per_request: 0,
    max_in_flight: 1,
    free_paths_a_month: None,
};

/// A CDN that purges the URLs it is given, and that is all.
struct PurgeOnly {
    log: Log,
    purged: Mutex<Vec<(String, Vec<String>)>>,
}

impl PurgeOnly {
    fn new(log: &Log) -> PurgeOnly {
        PurgeOnly {
            log: log.clone(),
            purged: Mutex::new(Vec::new()),
        }
    }
}

#[async_trait]
impl Cdn for PurgeOnly {
    fn describe(&self) -> String {
        "Z1".into()
    }
    async fn invalidate(&self, batch: Batch<'_>) -> Result<String, CdnError> {
        let mut purged = self.purged.lock().unwrap();
        purged.push((batch.reference.into(), batch.addresses.to_vec()));
        self.log.push(Call::Invalidate {
            cdn: self.describe(),
            paths: batch.addresses.to_vec(),
        });
        Ok(format!("purge {}", purged.len()))
    }
}

/// 40 posts edited (80 URLs with the default forms), one with a space and one with a literal `*` in its
/// name, on a target whose `max_invalidation_paths` (15) would make CloudFront collapse them into wildcards.
fn edited_posts() -> (Vec<Change>, Vec<FileEntry>) {
    let mut paths: Vec<String> = (0..38)
        .map(|i| format!("posts/p{i:02}/index.html"))
        .collect();
    paths.push("posts/a b/index.html".into());
    paths.push("posts/a*b/index.html".into());
    let changes = (paths.iter().enumerate())
        .map(|(i, p)| Change {
            path: p.clone(),
            kind: ChangeKind::Modified,
            blob: Some(format!("{i:040x}")),
            size: 10,
            old_blob: None,
            executable: false,
        })
        .collect();
    let mut listing: Vec<FileEntry> = (paths.iter().enumerate())
        .map(|(i, p)| FileEntry {
            path: p.clone(),
            blob: format!("{i:040x}"),
            executable: false,
        })
        .collect();
    listing.push(FileEntry {
        path: "about/index.html".into(),
        blob: "0".repeat(40),
        executable: false,
    });
    listing.sort_by(|a, b| a.path.cmp(&b.path));
    (changes, listing)
}

fn settings() -> Settings {
    Settings {
        prefix: String::new(),
        cdns: vec![CdnSettings {
            id: "Z1".into(),
            origin_path: String::new(),
            profile: PURGE,
        }],
        max_deletes: 500,
        max_invalidation_paths: 15,
        forms: UrlForms::default(),
        invalidate_new_files: false,
        full: false,
        delay_deletes: false,
        monthly_budget: usize::MAX,
        used_this_month: 0,
        within_prefix: false,
        keys: Default::default(),
    }
}

fn planned() -> Plan {
    let (changes, listing) = edited_posts();
    let none = Rules::default();
    let input = crate::plan::Input {
        changes: &changes,
        listing: Some(&listing),
        old_listing: None,
        rules: &none,
        old_rules: &none,
        deferred: &[],
        redirects: None,
        forms_changed: false,
        elsewhere: None,
    };
    crate::plan::build("t", &input, &settings())
        .unwrap()
        .planned()
        .unwrap()
}

/// Every stale URL is purged exactly, as an absolute URL on the CDN's host, 30 a request, with no wildcard
/// (a literal `*` stays a character of its URL) and no budget.
#[test]
fn the_planner_purges_absolute_urls_30_a_request_without_wildcards() {
    let p = planned();
    assert_eq!(p.cdn.len(), 1);
    let c = &p.cdn[0];
    assert_eq!(c.distribution, "Z1");
    assert_eq!(
        c.paths.len(),
        80,
        "every URL of the 40 posts: {:#?}",
        c.paths
    );
    assert_eq!(c.summary.wildcards, 0);
    assert_eq!(c.summary.unchanged_evicted, 0);
    assert!(c
        .paths
        .iter()
        .all(|u| u.starts_with("https://www.example.org/posts/")));
    assert!(c
        .paths
        .contains(&"https://www.example.org/posts/p07/index.html".to_string()));
    assert!(c
        .paths
        .contains(&"https://www.example.org/posts/a%20b/".to_string()));
    assert!(c
        .paths
        .contains(&"https://www.example.org/posts/a*b/".to_string()));
    assert!(!c.paths.iter().any(|u| u.ends_with("/*")), "{:#?}", c.paths);
    let sizes: Vec<usize> = c.batches.iter().map(Vec::len).collect();
    assert_eq!(sizes, [30, 30, 20]);
    assert_eq!(c.batches.concat(), c.paths);
    assert_eq!(p.budget.paid, 0);
    assert!(!p.budget.tightened);
}

/// The executor sends the plan to the purge-only CDN: every upload first, then one purge a batch, each with
/// its reference (which this CDN ignores) and answered at once.
#[tokio::test]
async fn the_executor_purges_after_every_upload() {
    let p = planned();
    let log = Log::default();
    let store = MemoryStore::new(&log);
    let cdn = PurgeOnly::new(&log);
    let blobs = (p.uploads.iter())
        .map(|u| (u.blob.clone(), u.key.as_bytes().to_vec()))
        .collect();
    let executor = Executor {
        store: &store,
        cdns: vec![("Z1".into(), &cdn as &dyn Cdn)],
        blobs: Arc::new(MemoryBlobs(blobs)),
        concurrency: 8,
        round_trip: None,
    };
    executor.run(&p, &|_| {}).await.unwrap();
    let answers =
        invalidate_each(&executor.cdns, &invalidations(&p, &["Z1"], "ref"), &|_| {}).await;
    let ids: Vec<String> = answers.into_iter().map(Result::unwrap).collect();
    assert_eq!(ids, ["purge 1", "purge 2", "purge 3"]);
    let purged = cdn.purged.lock().unwrap().clone();
    let references: Vec<&str> = purged.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(references, ["ref-Z1-0", "ref-Z1-1", "ref-Z1-2"]);
    assert_eq!(
        purged.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>(),
        p.cdn[0].batches
    );
    let is_put = |c: &Call| matches!(c, Call::Put(_));
    let is_purge = |c: &Call| matches!(c, Call::Invalidate { .. });
    assert_eq!(log.calls().iter().filter(|c| is_put(c)).count(), 40);
    assert!(log.last(is_put) < log.first(is_purge), "{:#?}", log.calls());
    let waited = wait_invalidations(&cdn, &ids, Duration::ZERO, Duration::ZERO, &|_, _| {}).await;
    assert!(waited.unwrap(), "a purge is done when it is answered");
}

/// A CDN without an edge function: nothing to check, so a plan with a managed function fails only when the
/// executor asks for it, after every upload and delete.
#[tokio::test]
async fn a_function_fails_late_on_a_cdn_without_one() {
    let log = Log::default();
    let cdn = PurgeOnly::new(&log);
    let mut p = planned();
    p.deletes = vec!["gone.html".into()];
    p.function = Some(crate::plan::Function {
        name: "site-fn".into(),
        site: crate::identity::Site::new("t", "bucket", ""),
        code: String::new(),
        kvs: None,
        response: None,
        fingerprint: String::new(),
    });
    let f = p.function.as_ref().unwrap();
    assert!(cdn.edge_function().is_none());
    assert!(check_function(&cdn, f).await.is_ok(), "nothing to check");
    let store = MemoryStore::new(&log);
    let blobs = (p.uploads.iter())
        .map(|u| (u.blob.clone(), u.key.as_bytes().to_vec()))
        .collect();
    let executor = Executor {
        store: &store,
        cdns: vec![("Z1".into(), &cdn as &dyn Cdn)],
        blobs: Arc::new(MemoryBlobs(blobs)),
        concurrency: 8,
        round_trip: None,
    };
    let e = executor.run(&p, &|_| {}).await.unwrap_err();
    assert!(matches!(e, ExecError::Function { .. }), "{e}");
    let is_put = |c: &Call| matches!(c, Call::Put(_));
    let is_delete = |c: &Call| matches!(c, Call::Delete(_));
    assert!(log.last(is_delete) > log.last(is_put), "{:#?}", log.calls());
}
