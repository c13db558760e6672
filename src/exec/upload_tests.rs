//! How the executor sends each upload, against the in-memory store (`memory.rs`), which notes how every
//! object came (whole or streamed) with which headers, and, holding each upload, how many were in flight at
//! most: the streaming cutoff, the bytes counted, the memory budget, and a redirect object's headers
//! (issue 29: what a mutation run of the unit tests left alive).

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, Mutex};

use super::executor_tests::upload;
use super::memory::{How, Log, MemoryBlobs, MemoryStore};
use super::*;

/// Blob bytes in memory, noting which blobs were asked their size.
struct Sized {
    inner: MemoryBlobs,
    asked: Mutex<Vec<String>>,
}

impl Blobs for Sized {
    fn read(&self, id: &str) -> Result<Vec<u8>, String> {
        self.inner.read(id)
    }
    fn size(&self, id: &str) -> Result<u64, String> {
        self.asked.lock().unwrap().push(id.into());
        self.inner.size(id)
    }
    fn stream(&self, id: &str) -> Result<Box<dyn Read + Send>, String> {
        self.inner.stream(id)
    }
}

/// An upload of `key` whose blob holds `len` bytes, with the size the plan gives it.
fn sized(key: &str, len: usize, size: u64) -> (Upload, Vec<u8>) {
    let u = Upload {
        size,
        ..upload(key)
    };
    (u, vec![b'x'; len])
}

/// Run a plan of `uploads` (each with its blob's bytes), up to 8 requests at once; the outcome, the bytes
/// each `Uploaded` event reported, and which blobs were asked their size.
async fn run(
    store: &MemoryStore,
    uploads: Vec<(Upload, Vec<u8>)>,
) -> (Sent, BTreeMap<String, u64>, Vec<String>) {
    let blobs = Arc::new(Sized {
        inner: MemoryBlobs(
            uploads
                .iter()
                .map(|(u, b)| (u.blob.clone(), b.clone()))
                .collect(),
        ),
        asked: Mutex::new(Vec::new()),
    });
    let executor = Executor {
        store,
        cdns: Vec::new(),
        blobs: blobs.clone(),
        concurrency: 8,
        round_trip: None,
    };
    let plan = Plan {
        uploads: uploads.into_iter().map(|(u, _)| u).collect(),
        ..Plan::default()
    };
    let reported = Mutex::new(BTreeMap::new());
    let on = |e: Event| {
        if let Event::Uploaded { key, bytes } = e {
            reported.lock().unwrap().insert(key.to_string(), bytes);
        }
    };
    let ran = tokio::time::timeout(Duration::from_secs(60), executor.run(&plan, &on));
    let outcome = ran.await.expect("the uploads never finished").unwrap();
    let asked = blobs.asked.lock().unwrap().clone();
    (outcome, reported.into_inner().unwrap(), asked)
}

/// A store without a redirect field gets a small HTML page, sent as HTML.
#[tokio::test]
async fn a_redirect_object_is_an_html_page_by_default() {
    let store = MemoryStore::new(&Log::default()).with_redirect_pages();
    store
        .put_redirect("old/index.html", "/posts/a/")
        .await
        .unwrap();
    let h = store.headers("old/index.html");
    assert_eq!(h.content_type, "text/html; charset=utf-8");
    let body = store
        .get_versioned("old/index.html")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(body.body, redirect_page("/posts/a/").into_bytes());
}

/// The outcome counts the bytes of every upload, assets and pages.
#[tokio::test]
async fn the_bytes_sent_add_up_over_assets_and_pages() {
    let store = MemoryStore::new(&Log::default());
    let (outcome, reported, _) = run(
        &store,
        vec![
            sized("a.png", 10, 10),
            sized("b.png", 5, 5),
            sized("index.html", 7, 7),
        ],
    )
    .await;
    assert_eq!(outcome.uploaded_bytes, 22);
    assert_eq!(reported["index.html"], 7);
}

/// The plan's size is used as it is; a blob is asked its size only when the plan has none (0).
#[tokio::test]
async fn a_blob_is_asked_its_size_only_when_the_plan_has_none() {
    let store = MemoryStore::new(&Log::default());
    let (_, _, asked) = run(
        &store,
        vec![sized("known.png", 10, 10), sized("unknown.png", 20, 0)],
    )
    .await;
    assert_eq!(asked, ["blob of unknown.png"]);
}

/// Blobs of [`STREAM_THRESHOLD`] bytes and more are streamed, smaller ones sent whole; a compressed one is
/// sent whole however large (it is encoded in memory). A streamed upload counts its size.
#[tokio::test]
async fn blobs_from_the_threshold_up_are_streamed_unless_compressed() {
    let store = MemoryStore::new(&Log::default());
    let at = STREAM_THRESHOLD as usize;
    let mut gzipped = sized("big.css", at, at as u64);
    gzipped.0.headers.content_encoding = Some(Encoding::Gzip);
    let (outcome, reported, _) = run(
        &store,
        vec![
            sized("at.bin", at, 0),
            sized("under.bin", at - 1, 0),
            sized("small.png", 10, 10),
            gzipped,
        ],
    )
    .await;
    assert_eq!(store.how("at.bin"), [How::Streamed]);
    assert_eq!(store.how("under.bin"), [How::Whole]);
    assert_eq!(store.how("small.png"), [How::Whole]);
    assert_eq!(store.how("big.css"), [How::Whole]);
    assert_eq!(
        store.headers("big.css").content_encoding.as_deref(),
        Some("gzip")
    );
    assert_eq!(reported["at.bin"], STREAM_THRESHOLD);
    assert_eq!(reported["under.bin"], STREAM_THRESHOLD - 1);
    let gz = reported["big.css"];
    assert!(gz < STREAM_THRESHOLD / 100, "compressed to {gz} bytes");
    assert_eq!(outcome.uploaded_bytes, 2 * STREAM_THRESHOLD - 1 + 10 + gz);
}

/// Long enough that uploads sent together overlap on a loaded machine.
const HOLD: Duration = Duration::from_millis(500);
const MIB: u64 = 1 << 20;

/// Each streamed upload holds a part ([`PART_SIZE`]) of the [`MEMORY_BUDGET`]: two at once. (The plan's
/// size decides; the blobs here are small.)
#[tokio::test]
async fn streamed_uploads_hold_a_part_of_the_budget_each() {
    assert_eq!(MEMORY_BUDGET, 2 * PART_SIZE);
    let store = MemoryStore::new(&Log::default()).holding(HOLD);
    let big = |k: &str| sized(k, 100, STREAM_THRESHOLD);
    let (outcome, _, _) = run(&store, vec![big("a.bin"), big("b.bin"), big("c.bin")]).await;
    assert_eq!(store.how("c.bin"), [How::Streamed]);
    assert_eq!(store.most_in_flight(), 2);
    assert_eq!(outcome.uploaded_bytes, 3 * STREAM_THRESHOLD);
}

/// An upload read whole holds its size of the budget: two of 6 MiB at once in 16, not three.
#[tokio::test]
async fn whole_uploads_hold_their_size_of_the_budget() {
    assert_eq!(MEMORY_BUDGET as u64, 16 * MIB);
    let store = MemoryStore::new(&Log::default()).holding(HOLD);
    let six = |k: &str| sized(k, 100, 6 * MIB);
    run(&store, vec![six("a.png"), six("b.png"), six("c.png")]).await;
    assert_eq!(store.how("c.png"), [How::Whole]);
    assert_eq!(store.most_in_flight(), 2);
}

/// One upload larger than the whole budget (a compressed one, read whole) still goes, alone.
#[tokio::test]
async fn an_upload_larger_than_the_budget_still_goes_alone() {
    let store = MemoryStore::new(&Log::default()).holding(HOLD);
    let huge = |k: &str| {
        let mut u = sized(k, 100, 17 * MIB);
        u.0.headers.content_encoding = Some(Encoding::Gzip);
        u
    };
    run(&store, vec![huge("a.js"), huge("b.js")]).await;
    assert_eq!(store.how("b.js"), [How::Whole]);
    assert_eq!(store.most_in_flight(), 1);
}
