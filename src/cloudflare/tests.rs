//! The purge client against the Cloudflare API stand-in (`tests/cloudflare/api.py`, started on 127.0.0.1 for
//! each test with the limits it needs), asserting from its log exactly which URLs each request named.

use std::time::Duration;

use super::purge::{FILES_PER_REQUEST, FILES_PER_REQUEST_OLD, TOKEN_FIX};
use super::*;
use crate::exec::stand_in::StandIn;

const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";
const TOKEN: &str = "test-token";

/// The Cloudflare stand-in (`tests/cloudflare/api.py`) with `args` (`--max-files 30`, `--rate 1`, …), taking
/// [`TOKEN`], on a port of its choosing (the launcher every stand-in shares: `exec::stand_in`).
fn stand_in(args: &[&str]) -> StandIn {
    let mut all = vec!["--token", TOKEN];
    all.extend_from_slice(args);
    StandIn::start("tests/cloudflare/api.py", &all)
}

/// Where the stand-in serves Cloudflare's API (`CLOUDFLARE_API_BASE_URL`).
fn base(s: &StandIn) -> String {
    format!("{}/client/v4", s.origin)
}

impl StandIn {
    fn purger(&self, token: Option<&str>, limits: Limits) -> Purger {
        Purger::new(ZONE, token.map(str::to_string), Some(&base(self)), limits).unwrap()
    }

    /// (status, number of files) of each request.
    fn shape(&self) -> Vec<(u64, usize)> {
        self.requests()
            .iter()
            .map(|r| {
                let n = r["files"].as_array().map_or(0, Vec::len);
                (r["status"].as_u64().unwrap(), n)
            })
            .collect()
    }

    /// The URLs of the requests Cloudflare accepted, in order.
    fn purged(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|r| r["status"] == 200)
            .flat_map(|r| r["files"].as_array().cloned().unwrap_or_default())
            .map(|u| u.as_str().unwrap().to_string())
            .collect()
    }
}

fn urls(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("https://blog.example.com/posts/{i}/"))
        .collect()
}

fn quick() -> Limits {
    Limits {
        first_backoff: Duration::from_millis(20),
        ..Limits::default()
    }
}

#[tokio::test]
async fn purges_exactly_the_urls_in_batches_of_100() {
    let cf = stand_in(&[]);
    let p = cf.purger(Some(TOKEN), quick());
    let want = urls(250);
    let done = p.purge_urls(&want, &mut |_| {}).await.unwrap();
    assert_eq!(cf.shape(), [(200, 100), (200, 100), (200, 50)]);
    assert_eq!(cf.purged(), want);
    assert_eq!((done.requests, done.throttled, done.ids.len()), (3, 0, 3));
    assert!(cf
        .requests()
        .iter()
        .all(|r| r["auth"] == true && r["zone"] == ZONE));
}

#[tokio::test]
async fn a_zone_that_takes_30_gets_30_from_the_refused_batch_on() {
    let cf = stand_in(&["--max-files", "30"]);
    let p = cf.purger(Some(TOKEN), quick());
    let want = urls(70);
    let done = p.purge_urls(&want, &mut |_| {}).await.unwrap();
    assert_eq!(cf.shape(), [(400, 70), (200, 30), (200, 30), (200, 10)]);
    assert_eq!(cf.purged(), want);
    assert_eq!(done.requests, 4);
    assert_eq!(p.files_per_request(), FILES_PER_REQUEST_OLD);
    // The next purge starts at 30: no refused request again.
    p.purge_urls(&urls(40), &mut |_| {}).await.unwrap();
    assert_eq!(cf.shape()[4..], [(200, 30), (200, 10)]);
}

#[tokio::test]
async fn a_429_is_waited_out_as_retry_after_says_and_the_batch_sent_again() {
    let cf = stand_in(&["--rate", "1", "--window", "1.5", "--retry-after", "1"]);
    let p = cf.purger(Some(TOKEN), quick());
    let want = urls(150);
    let mut waits = Vec::new();
    let done = p.purge_urls(&want, &mut |d| waits.push(d)).await.unwrap();
    assert_eq!(cf.purged(), want, "every URL once, in order");
    let shape = cf.shape();
    assert_eq!(shape.first(), Some(&(200, 100)));
    assert_eq!(shape.last(), Some(&(200, 50)));
    assert!(
        shape[1..shape.len() - 1].iter().all(|s| *s == (429, 50)),
        "{shape:?}"
    );
    assert!(
        !waits.is_empty() && waits.iter().all(|d| *d == Duration::from_secs(1)),
        "{waits:?}"
    );
    assert_eq!(done.throttled, waits.len());
}

#[tokio::test]
async fn endless_429s_fail_after_the_total_bound_naming_the_zone() {
    let cf = stand_in(&["--rate", "1", "--window", "600", "--retry-after", "1"]);
    let limits = Limits {
        max_total_wait: Duration::from_secs(2),
        ..quick()
    };
    let p = cf.purger(Some(TOKEN), limits);
    p.purge_everything(&mut |_| {}).await.unwrap();
    let e = p.purge_urls(&urls(1), &mut |_| {}).await.unwrap_err();
    assert_eq!(e.kind, PurgeErrorKind::RateLimited);
    let text = e.to_string();
    assert!(
        text.contains(ZONE) && text.contains("HTTP 429") && text.contains("971"),
        "{text}"
    );
    assert!(e.hint.contains("wait"), "{}", e.hint);
    // Waited 1 + 1 s, then a third 429 would pass the bound.
    assert_eq!(cf.shape().len(), 4, "{:?} {e}", cf.shape());
}

#[tokio::test]
async fn no_token_sends_nothing_and_says_which_variable() {
    let cf = stand_in(&[]);
    let p = cf.purger(None, quick());
    let e = p.purge_urls(&urls(3), &mut |_| {}).await.unwrap_err();
    assert_eq!(e.kind, PurgeErrorKind::Token);
    assert_eq!(e.hint, TOKEN_FIX);
    assert!(
        e.to_string().contains("CLOUDFLARE_API_TOKEN is not set"),
        "{e}"
    );
    assert!(e.to_string().contains(ZONE), "{e}");
    assert!(p.check_token().is_err());
    assert!(cf.requests().is_empty());
}

#[tokio::test]
async fn a_refused_token_names_status_code_message_and_fix() {
    let cf = stand_in(&[]);
    let p = cf.purger(Some("another-token"), quick());
    let e = p.purge_urls(&urls(3), &mut |_| {}).await.unwrap_err();
    assert_eq!(e.kind, PurgeErrorKind::Token);
    assert_eq!(
        e.to_string(),
        format!("Cloudflare zone {ZONE}: HTTP 403, Cloudflare error 10000: Authentication error")
    );
    assert!(
        e.hint.starts_with(TOKEN_FIX) && e.hint.contains(ZONE),
        "{}",
        e.hint
    );
    assert_eq!(cf.shape(), [(403, 0)], "sent once, not retried");
}

#[tokio::test]
async fn an_unknown_zone_and_a_refused_url_say_so() {
    let cf = stand_in(&[]);
    let p = Purger::new("abc", Some(TOKEN.into()), Some(&base(&cf)), quick()).unwrap();
    let e = p.purge_everything(&mut |_| {}).await.unwrap_err();
    assert_eq!(e.kind, PurgeErrorKind::Zone);
    assert!(e.to_string().contains("7003"), "{e}");
    assert!(e.hint.contains("Zone ID"), "{}", e.hint);

    let p = cf.purger(Some(TOKEN), quick());
    let e = (p.purge_urls(&["https://blog.example.com/*".into()], &mut |_| {}))
        .await
        .unwrap_err();
    assert_eq!(e.kind, PurgeErrorKind::Refused);
    assert!(
        e.to_string().contains("HTTP 400") && e.to_string().contains("Wildcards"),
        "{e}"
    );

    let e = Purger::new("not/a/zone", None, None, quick())
        .err()
        .unwrap();
    assert_eq!(e.kind, PurgeErrorKind::Zone);
}

#[tokio::test]
async fn purge_everything_is_one_request() {
    let cf = stand_in(&[]);
    let p = cf.purger(Some(TOKEN), quick());
    let done = p.purge_everything(&mut |_| {}).await.unwrap();
    assert_eq!(done.ids.len(), 1);
    let reqs = cf.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["purge_everything"], true);
    assert_eq!(reqs[0]["files"], serde_json::Value::Null);
}

#[tokio::test]
async fn no_server_is_tried_again_then_named() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let limits = Limits {
        attempts: 2,
        ..quick()
    };
    let base = format!("http://127.0.0.1:{port}/client/v4/");
    let p = Purger::new(ZONE, Some(TOKEN.into()), Some(&base), limits).unwrap();
    let e = p.purge_urls(&urls(1), &mut |_| {}).await.unwrap_err();
    assert_eq!(e.kind, PurgeErrorKind::Unavailable);
    let text = e.to_string();
    assert!(
        text.contains("tried 2 times")
            && text.contains(&format!(
                "127.0.0.1:{port}/client/v4/zones/{ZONE}/purge_cache"
            )),
        "{text}"
    );
}

#[test]
fn the_base_defaults_to_cloudflare_and_must_be_http() {
    assert_eq!(FILES_PER_REQUEST, 100);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _g = rt.enter();
    let e = Purger::new(ZONE, None, Some("ftp://x"), Limits::default())
        .err()
        .unwrap();
    assert!(e.to_string().contains("CLOUDFLARE_API_BASE_URL"), "{e}");
    assert!(e.hint.contains(DEFAULT_BASE), "{}", e.hint);
}

/// The Cdn: batches as the planner sends them, each a purge of its URLs, until a publish has sent 25 requests;
/// the next batch is one purge_everything, and the batches after it send nothing.
#[tokio::test]
async fn the_cdn_purges_everything_after_25_requests_and_nothing_after_that() {
    use crate::exec::{Batch, Cdn};
    let cf = stand_in(&[]);
    let cdn = Cloudflare::new(cf.purger(Some(TOKEN), quick()));
    let all = urls(2700);
    let mut ids = Vec::new();
    for (i, batch) in all.chunks(100).enumerate() {
        let reference = format!("r-{i}");
        let batch = Batch {
            reference: &reference,
            addresses: batch,
        };
        ids.push(cdn.invalidate(batch).await.unwrap());
    }
    let reqs = cf.requests();
    assert_eq!(reqs.len(), 26, "25 purges of URLs, then one of everything");
    assert!(reqs[..25]
        .iter()
        .all(|r| r["files"].as_array().unwrap().len() == 100));
    assert_eq!(reqs[25]["purge_everything"], true);
    assert_eq!(
        ids[25], ids[26],
        "the last batch is covered by the purge of everything"
    );
    assert_eq!(
        cdn.status(&ids[0]).await.unwrap(),
        crate::exec::InvalidationStatus::Completed
    );
}

#[test]
fn the_profile_is_absolute_urls_without_wildcards_100_a_request() {
    use crate::plan::invalidate::{Addresses, Wildcard};
    let p = profile("blog.example.com");
    assert_eq!(p.wildcard, Wildcard::None);
    assert_eq!(p.max_per_request, 100);
    assert_eq!(p.free_paths_a_month, None);
    assert!(matches!(p.addresses, Addresses::AbsoluteUrls { .. }));
    assert_eq!(p.address("/posts/a/"), "https://blog.example.com/posts/a/");
}
