//! `--wait` and `--wait-timeout` end to end. moto completes an invalidation at once, so the proxy answers
//! GetInvalidation with `InProgress` itself (as CloudFront does for seconds to minutes), then, for `--wait`,
//! lets the next poll through to moto (`Completed`). git-publish polls every 5 s.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::proxy::{Asked, Config, Proxy};
use crate::util::*;

/// GetInvalidation's path: `/2020-05-31/distribution/<dist>/invalidation/<id>`. Returns the id.
fn invalidation_read<'a>(a: &Asked<'a>) -> Option<&'a str> {
    if a.method != "GET" || !a.path.starts_with("/2020-05-31/distribution/") {
        return None;
    }
    let (_, id) = a.path.split_once("/invalidation/")?;
    Some(id.split('?').next().unwrap())
}

fn in_progress(id: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\"?>\n<Invalidation xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\">\
         <Id>{id}</Id><Status>InProgress</Status><CreateTime>2027-06-01T10:00:00Z</CreateTime>\
         <InvalidationBatch><Paths><Quantity>1</Quantity><Items><Path>/index.html</Path></Items></Paths>\
         <CallerReference>held-by-the-test-proxy</CallerReference></InvalidationBatch></Invalidation>"
    );
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

static POLLS_ONCE: AtomicUsize = AtomicUsize::new(0);

/// `InProgress` to the first poll, then moto's answer (`Completed`).
fn in_progress_once(a: &Asked) -> Option<Vec<u8>> {
    let id = invalidation_read(a)?;
    (POLLS_ONCE.fetch_add(1, Ordering::SeqCst) == 0).then(|| in_progress(id))
}

static POLLS_ALWAYS: AtomicUsize = AtomicUsize::new(0);

/// `InProgress` for ever; from the fifth poll on, an error instead, so that a wait that never gives up fails
/// the test instead of hanging it.
fn in_progress_always(a: &Asked) -> Option<Vec<u8>> {
    let id = invalidation_read(a)?;
    if POLLS_ALWAYS.fetch_add(1, Ordering::SeqCst) < 4 {
        return Some(in_progress(id));
    }
    let body = "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>polled past the timeout</Message></Error></ErrorResponse>";
    Some(
        format!(
            "HTTP/1.1 403 Forbidden\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

/// A small blog published once to a new bucket and distribution, and an edit to publish.
fn site_with_an_edit(name: &str) -> (Site, String, String) {
    let site = Site::new();
    let b = bucket(name);
    let dist = distribution(&b);
    site.config(&format!(
        "[source]\ndir = \"public\"\n[targets.production]\nurl = \"s3://{b}\"\ndistribution = \"{dist}\"\n"
    ));
    small_blog(&site);
    site.commit("v1");
    site.run(&[]).ok();
    site.write("public/index.html", "<h1>Home 2</h1>");
    site.commit("v2");
    (site, b, dist)
}

fn polls(proxy: &Proxy) -> usize {
    (proxy.requests().iter())
        .filter(|r| r.method == "GET" && r.path.contains("/invalidation/"))
        .count()
}

#[test]
fn wait_polls_until_the_invalidation_completes() {
    let (site, b, dist) = site_with_an_edit("wait");
    let proxy = Proxy::start(
        &moto().endpoint,
        Config {
            answer: Some(in_progress_once),
            ..Default::default()
        },
    );
    let r = site
        .run_with(&["--wait"], &[("AWS_ENDPOINT_URL", &proxy.endpoint)])
        .ok();
    assert!(
        r.stderr.contains(&format!(
            "waiting for 1 invalidation of {dist} (0s of 900s)"
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("invalidation of {dist} completed")),
        "{}",
        r.stderr
    );
    assert_eq!(polls(&proxy), 2, "InProgress, then Completed");
    assert!(state_json(&b, "")["pending"].is_null());
}

#[test]
fn wait_timeout_gives_up_and_says_the_publish_succeeded() {
    let (site, b, dist) = site_with_an_edit("wait-timeout");
    let c2 = site.git(&["rev-parse", "HEAD"]);
    let proxy = Proxy::start(
        &moto().endpoint,
        Config {
            answer: Some(in_progress_always),
            ..Default::default()
        },
    );
    let r = site
        .run_with(
            &["--wait", "--wait-timeout", "1s"],
            &[("AWS_ENDPOINT_URL", &proxy.endpoint)],
        )
        .fails(1);
    assert!(
        r.stderr
            .contains("invalidation not completed after 1s (the publish itself succeeded)")
            && r.stderr.contains("--wait-timeout")
            && r.stderr.contains(&dist),
        "{}",
        r.stderr
    );
    // Polled, waited past the timeout, polled once more, gave up (or gave up after the first poll, when that
    // one took longer than the timeout on a loaded machine).
    let n = polls(&proxy);
    assert!((1..=2).contains(&n), "{n} polls");
    let st = state_json(&b, "");
    assert_eq!(st["deployed"]["commit"], c2.as_str());
    assert!(st["pending"].is_null());
}
