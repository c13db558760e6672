//! The executor's order and its failure paths, against the in-memory store and CDN ([`super::memory`]): each
//! test runs [`Executor::run`] (and, where the invalidation matters, [`invalidate_each`] after it, as
//! `publish/apply.rs` does) and reads the shared log of calls. Within a phase the requests go at once, in any
//! order; the tests check only what the executor promises: one phase ends before the next begins.

use super::memory::{Call, Log, MemoryBlobs, MemoryCdn, MemoryStore};
use super::*;
use crate::plan::redirects::RedirectObject;
use crate::plan::{CdnPlan, Function};
use std::sync::Arc;

const ASSETS: [&str; 3] = ["css/site.css", "img/logo.png", "js/app.js"];
const PAGES: [&str; 3] = ["index.html", "posts/a/index.html", "tags/x/index.html"];
/// `posts` was a file and is now a directory: deleted before anything else.
const CLEARED: &str = "posts";
const DELETED: [&str; 2] = ["gone.png", "gone/index.html"];
const REDIRECTED: &str = "old/index.html";

/// An upload of a new file at `key`: a page if it ends in `.html`, else an asset.
pub(super) fn upload(key: &str) -> Upload {
    let content_type = if key.ends_with(".html") {
        "text/html; charset=utf-8"
    } else {
        "application/octet-stream"
    };
    Upload {
        key: key.into(),
        path: key.into(),
        blob: format!("blob of {key}"),
        size: 0,
        kind: crate::plan::UploadKind::New,
        headers: crate::plan::rules::Headers {
            content_type: content_type.into(),
            ..Default::default()
        },
        copy_from: None,
        executable: false,
    }
}

/// A new post's plan, as the planner orders it: assets, then pages; a redirect object; a key cleared first
/// and two deleted after; one invalidation on each of `distributions`; the managed function when `function`.
fn plan(distributions: &[&str], function: bool) -> Plan {
    let mut deletes: Vec<String> = (DELETED.iter().chain([&CLEARED]))
        .map(|k| k.to_string())
        .collect();
    deletes.sort();
    Plan {
        clear_first: vec![CLEARED.into()],
        uploads: ASSETS.iter().chain(&PAGES).map(|k| upload(k)).collect(),
        deletes,
        redirects: crate::plan::redirects::Changes {
            puts: vec![RedirectObject {
                key: REDIRECTED.into(),
                path: REDIRECTED.into(),
                location: "/posts/a/".into(),
                status: 301,
            }],
            ..Default::default()
        },
        cdn: (distributions.iter())
            .map(|d| CdnPlan {
                distribution: d.to_string(),
                batches: vec![vec!["/".into(), "/posts/a/".into()]],
                ..Default::default()
            })
            .collect(),
        function: function.then(|| Function {
            name: "site-fn".into(),
            site: crate::identity::Site::new("t", "bucket", ""),
            code: String::new(),
            kvs: None,
            response: None,
            fingerprint: String::new(),
        }),
        ..Plan::default()
    }
}

/// Run `plan` against `store` and `cdns` (named by their `describe`), up to 8 requests at once.
async fn run(plan: &Plan, store: &MemoryStore, cdns: &[&dyn Cdn]) -> Result<Sent, ExecError> {
    let blobs = (plan.uploads.iter())
        .map(|u| (u.blob.clone(), u.key.as_bytes().to_vec()))
        .collect();
    let executor = Executor {
        store,
        cdns: cdns.iter().map(|c| (c.describe(), *c)).collect(),
        blobs: Arc::new(MemoryBlobs(blobs)),
        concurrency: 8,
        round_trip: None,
    };
    executor.run(plan, &|_| {}).await
}

fn is_put_of(keys: &'static [&'static str]) -> impl Fn(&Call) -> bool {
    move |c| matches!(c, Call::Put(k) if keys.contains(&k.as_str()))
}

fn is_delete(c: &Call) -> bool {
    matches!(c, Call::Delete(_))
}

fn is_redirect(c: &Call) -> bool {
    matches!(c, Call::Redirect { .. })
}

fn is_upload(c: &Call) -> bool {
    matches!(c, Call::Put(_) | Call::Copy { .. } | Call::Redirect { .. })
}

/// The log of a run of the new post's plan (no CDN) that went through, and the store it left.
async fn ran() -> (Log, MemoryStore) {
    let log = Log::default();
    let store = MemoryStore::new(&log);
    run(&plan(&[], false), &store, &[]).await.unwrap();
    (log, store)
}

#[tokio::test]
async fn assets_go_before_pages() {
    let (log, store) = ran().await;
    let last_asset = log.last(is_put_of(&ASSETS)).unwrap();
    let first_page = log.first(is_put_of(&PAGES)).unwrap();
    assert!(last_asset < first_page, "{:#?}", log.calls());
    assert!(store.keys().iter().any(|k| k == PAGES[2]));
}

#[tokio::test]
async fn pages_go_before_redirect_objects() {
    let (log, _) = ran().await;
    let last_page = log.last(is_put_of(&PAGES)).unwrap();
    let redirect = log.first(is_redirect).unwrap();
    assert!(last_page < redirect, "{:#?}", log.calls());
}

/// A key that changed between file and directory is deleted before anything else; every other delete goes
/// after every upload and redirect object, in one batch without it.
#[tokio::test]
async fn deletes_go_after_every_upload() {
    let (log, _) = ran().await;
    let calls = log.calls();
    assert_eq!(calls[0], Call::Delete(vec![CLEARED.into()]), "{calls:#?}");
    let deletes: Vec<&Call> = calls.iter().filter(|c| is_delete(c)).collect();
    let rest = Call::Delete(DELETED.map(String::from).to_vec());
    assert_eq!(deletes, [&calls[0], &rest]);
    let last_upload = log.last(is_upload).unwrap();
    assert!(last_upload < log.last(is_delete).unwrap(), "{calls:#?}");
}

/// The managed function goes after the last delete, to every distribution, as the run's last calls: before
/// the invalidation that the caller sends next (the next request of an evicted URL must meet the new
/// function).
#[tokio::test]
async fn the_function_goes_after_the_deletes_and_before_the_invalidation() {
    let log = Log::default();
    let store = MemoryStore::new(&log);
    let (e1, e2) = (MemoryCdn::new("E1", &log), MemoryCdn::new("E2", &log));
    let cdns: [(String, &dyn Cdn); 2] = [("E1".into(), &e1), ("E2".into(), &e2)];
    let p = plan(&["E1", "E2"], true);
    run(&p, &store, &[&e1, &e2]).await.unwrap();
    let ran = log.calls().len();
    let list = invalidations(&p, &["E1", "E2"], "ref");
    let answers = invalidate_each(&cdns, &list, &|_| {}).await;
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");

    let calls = log.calls();
    let functions: Vec<usize> = (0..calls.len())
        .filter(|&i| is_function(&calls[i]))
        .collect();
    assert_eq!(functions, [ran - 2, ran - 1], "{calls:#?}");
    assert!(log.last(is_delete).unwrap() < functions[0], "{calls:#?}");
    let first_invalidation = log.first(|c| matches!(c, Call::Invalidate { .. }));
    assert_eq!(first_invalidation, Some(ran), "{calls:#?}");
}

/// The log and error of a run of the new post's plan, with its function and a CDN, against a store that
/// `fails` somewhere.
async fn failed(fails: impl FnOnce(MemoryStore) -> MemoryStore) -> (Log, ExecError) {
    let log = Log::default();
    let store = fails(MemoryStore::new(&log));
    let e1 = MemoryCdn::new("E1", &log);
    let e = run(&plan(&["E1"], true), &store, &[&e1]).await.unwrap_err();
    (log, e)
}

fn is_function(c: &Call) -> bool {
    matches!(c, Call::EnsureFunction { .. })
}

#[tokio::test]
async fn a_failed_asset_upload_stops_before_any_page_is_sent() {
    let (log, e) = failed(|s| s.failing_upload(ASSETS[1])).await;
    assert!(
        matches!(&e, ExecError::Upload { key, .. } if key == ASSETS[1]),
        "{e}"
    );
    let calls = log.calls();
    assert_eq!(log.first(is_put_of(&PAGES)), None, "{calls:#?}");
    assert_eq!(log.first(is_redirect), None, "{calls:#?}");
    assert_eq!(
        log.last(is_delete),
        Some(0),
        "only the cleared key: {calls:#?}"
    );
    assert_eq!(log.first(is_function), None, "{calls:#?}");
}

#[tokio::test]
async fn a_failed_delete_fails_the_run() {
    let (log, e) = failed(|s| s.failing_delete(DELETED[1])).await;
    assert!(matches!(e, ExecError::Delete(_)), "{e}");
    let calls = log.calls();
    assert_eq!(
        log.first(is_function),
        None,
        "nothing after a failed delete: {calls:#?}"
    );
    let rest = Call::Delete(DELETED.map(String::from).to_vec());
    assert_eq!(
        calls.last(),
        Some(&rest),
        "the failed batch is the last call"
    );
}

/// An invalidation that fails is answered with its error; the next one of the same distribution and the
/// other distribution's are still sent: one answer per invalidation, in the list's order.
#[tokio::test]
async fn a_failed_invalidation_is_answered_as_such_and_the_others_are_still_sent() {
    let log = Log::default();
    let e1 = MemoryCdn::new("E1", &log).failing_invalidation("/posts/a/");
    let e2 = MemoryCdn::new("E2", &log);
    let cdns: [(String, &dyn Cdn); 2] = [("E1".into(), &e1), ("E2".into(), &e2)];
    let mut p = plan(&["E1", "E2"], false);
    p.cdn[0].batches.push(vec!["/tags/x/".into()]);
    let list = invalidations(&p, &["E1", "E2"], "ref");
    let answers = invalidate_each(&cdns, &list, &|_| {}).await;
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert!(
        matches!(&answers[0], Err(CdnError::Failed { message, .. }) if message.contains("/posts/a/")),
        "{answers:?}"
    );
    assert_eq!(answers[1].as_ref().unwrap(), "E1-I1");
    assert_eq!(answers[2].as_ref().unwrap(), "E2-I1");
}

/// A header change (`copy_from` its own key) and a copy from another key: copied on a store that sets headers
/// in place (S3), sent again as bytes on one that can't (GCS, Azure: `copies_in_place: false`).
#[tokio::test]
async fn a_store_that_cannot_copy_in_place_gets_the_bytes_again() {
    let mut plan = Plan::default();
    let mut headers = upload("a.css");
    headers.copy_from = Some("a.css".into());
    let mut moved = upload("b.css");
    moved.copy_from = Some("old/b.css".into());
    plan.uploads = vec![headers, moved];
    for (copies_in_place, copies) in [(true, 2), (false, 0)] {
        let log = Log::default();
        let profile = StoreProfile {
            copies_in_place,
            ..StoreProfile::DEFAULT
        };
        let store = MemoryStore::new(&log).with_profile(profile);
        for key in ["a.css", "old/b.css"] {
            store
                .put(key, Bytes::from_static(b"x"), &ObjectHeaders::default())
                .await
                .unwrap();
        }
        run(&plan, &store, &[]).await.unwrap();
        let calls = log.calls();
        let copied = calls
            .iter()
            .filter(|c| matches!(c, Call::Copy { .. }))
            .count();
        let put = (calls.iter())
            .filter(|c| matches!(c, Call::Put(k) if k == "a.css" || k == "b.css"))
            .count();
        assert_eq!(
            (copied, put - 1),
            (copies, 2 - copies),
            "copies_in_place {copies_in_place}: {calls:#?}"
        );
    }
}
