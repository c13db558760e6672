//! The everyday publish in few round trips (issue 26), pinned by the order of requests in the proxy's log
//! (positions in one sequence of arrivals and answers, never times): the claim before any site write, assets
//! before pages, the record and the invalidation after every upload's answer; a clone that knows the record
//! claims without reading it, and plans again when the record changed; the distributions' answer kept in the
//! record is checked beside the claim; an invalidation sent while the record is written is recorded as
//! requested, and made sure of by the next publish.

use crate::proxy::{Asked, Config, Logged, Proxy};
use crate::util::*;

/// Every request that went to CloudFront.
fn is_cloudfront(r: &Logged) -> bool {
    r.path.starts_with("/2020-05-31/")
}

fn is_state(r: &Logged) -> bool {
    r.path.contains(".git-publish/")
}

/// A write to the site: an upload, a copy, a delete (not the record, not CloudFront).
fn is_site_write(r: &Logged) -> bool {
    r.method != "GET" && r.method != "HEAD" && !is_state(r) && !is_cloudfront(r)
}

fn is_page(r: &Logged) -> bool {
    r.method == "PUT" && r.path.split('?').next().unwrap().ends_with(".html")
}

fn is_invalidation(r: &Logged) -> bool {
    r.method == "POST" && r.path.contains("/invalidation")
}

fn state_puts(log: &[Logged]) -> Vec<&Logged> {
    log.iter()
        .filter(|r| r.method == "PUT" && r.path.contains(".git-publish/state.json"))
        .collect()
}

fn answered(r: &Logged) -> u64 {
    assert!(r.answered > 0, "{} {} was never answered", r.method, r.path);
    r.answered
}

/// The references of the invalidations the record lists as requested (a publish that does not know they
/// were created sends them again beside its claim).
fn requested_references(b: &str) -> Vec<String> {
    let st = state_json(b, "");
    (st["invalidations_requested"]
        .as_array()
        .into_iter()
        .flatten())
    .map(|r| r["reference"].as_str().unwrap().to_string())
    .collect()
}

/// The order that matters, in one publish's log: the claim is answered before any site write arrives;
/// every page arrives after every asset was answered; the final record and the publish's invalidation
/// arrive after every site write was answered. Invalidations requested by an earlier publish (`earlier`:
/// their references), sent again, go beside the claim.
fn check_order(log: &[Logged], what: &str, earlier: &[String]) {
    let puts = state_puts(log);
    assert_eq!(puts.len(), 2, "{what}: claim and final record: {log:#?}");
    let (claim, record) = (puts[0], puts[1]);
    let writes: Vec<&Logged> = log.iter().filter(|r| is_site_write(r)).collect();
    assert!(!writes.is_empty(), "{what}: nothing written");
    for w in &writes {
        assert!(
            w.arrived > answered(claim),
            "{what}: {} {} before the claim's answer",
            w.method,
            w.path
        );
    }
    let assets_done = (writes.iter())
        .filter(|w| w.method == "PUT" && !is_page(w))
        .map(|w| answered(w))
        .max();
    for page in writes.iter().filter(|w| is_page(w)) {
        assert!(
            assets_done.is_none_or(|a| page.arrived > a),
            "{what}: page {} before every asset was answered",
            page.path
        );
    }
    let all_done = writes.iter().map(|w| answered(w)).max().unwrap();
    assert!(
        record.arrived > all_done,
        "{what}: the record before every site write was answered"
    );
    for inv in log.iter().filter(|r| is_invalidation(r)) {
        let body = String::from_utf8_lossy(&inv.body);
        if earlier.iter().any(|e| body.contains(e.as_str())) {
            assert!(
                inv.arrived < answered(claim),
                "{what}: an earlier invalidation not beside the claim"
            );
            continue;
        }
        assert!(
            inv.arrived > all_done,
            "{what}: the invalidation before every site write was answered"
        );
    }
}

/// Publish through a proxy that holds each request 40 ms (so that what is sent at once is in flight at
/// once) and return the log.
fn publish_logged(site: &Site, args: &[&str]) -> (Run, Vec<Logged>) {
    let proxy = Proxy::start(
        &moto().endpoint,
        Config {
            delay: std::time::Duration::from_millis(40),
            ..Default::default()
        },
    );
    let r = site.run_with(args, &[("AWS_ENDPOINT_URL", &proxy.endpoint)]);
    (r, proxy.requests())
}

fn new_post(site: &Site, n: usize) -> String {
    site.write(
        &format!("public/posts/p{n}/index.html"),
        format!("<h1>{n}</h1>"),
    )
    .write(&format!("public/posts/p{n}/cover.png"), format!("png {n}"))
    .write("public/index.html", format!("<h1>Home</h1> {n}"))
    .write("public/feed.xml", format!("<rss>{n}</rss>"));
    site.commit(&format!("post {n}"))
}

/// The small blog published once (v1) to a new bucket with a distribution: (site, bucket, distribution, v1).
fn published_blog(name: &str) -> (Site, String, String, String) {
    let site = Site::new();
    let b = bucket(name);
    let dist = distribution(&b);
    site.config(SiteToml::s3(&b).distribution(&dist));
    small_blog(&site);
    let c1 = site.commit("v1");
    site.run(&[]).ok();
    (site, b, dist, c1)
}

#[test]
fn the_claim_comes_before_any_site_write_assets_before_pages_and_the_record_after_every_answer() {
    let site = Site::new();
    let b = bucket("order");
    let dist = distribution(&b);
    site.config(SiteToml::s3(&b).distribution(&dist));
    small_blog(&site);
    site.commit("v1");
    let (r, log) = publish_logged(&site, &[]);
    r.ok();
    check_order(&log, "first publish", &[]);

    new_post(&site, 1);
    let (r, log) = publish_logged(&site, &["--json"]);
    assert_eq!(strings(&r.ok().json()["invalidation_ids"]).len(), 1);
    check_order(&log, "new post, claimed on the record kept", &[]);

    // The same from a clone that does not know the record (it reads it first).
    let _ = std::fs::remove_dir_all(site.path(".git/git-publish/records"));
    new_post(&site, 2);
    let earlier = requested_references(&b);
    assert_eq!(earlier.len(), 1);
    let (r, log) = publish_logged(&site, &[]);
    r.ok();
    check_order(&log, "new post, record read", &earlier);
    assert!(log.iter().any(|r| r.method == "GET" && is_state(r)));
}

#[test]
fn a_clone_that_knows_the_record_claims_without_reading_it_and_asks_cloudfront_beside_the_claim() {
    let (site, _, _, _) = published_blog("unread");

    new_post(&site, 1);
    let (r, log) = publish_logged(&site, &[]);
    r.ok();
    assert!(
        !log.iter().any(|r| r.method == "GET" && is_state(r)),
        "the record was read: {log:#?}"
    );
    let claim = state_puts(&log)[0];
    assert!(claim.conditional, "the claim carries If-Match");
    // The claim waits for nothing: no answer came back before it was sent (requests sent together arrive in
    // any order, so the claim need not be the first to arrive).
    assert!(
        (log.iter()).all(|r| r.n == claim.n || r.answered == 0 || r.answered > claim.arrived),
        "a request was answered before the claim went out: {log:#?}"
    );
    // GetDistribution goes with the claim (the plan used the answer the record kept), not before it.
    let lookup = (log.iter())
        .find(|r| r.method == "GET" && is_cloudfront(r))
        .expect("CloudFront asked");
    assert!(
        lookup.arrived < answered(claim) && claim.arrived < answered(lookup),
        "the lookup and the claim are in flight together: {log:#?}"
    );
}

#[test]
fn a_record_changed_by_another_publish_refuses_the_claim_and_the_publish_reads_and_plans_again() {
    let (site, b, _, c1) = published_blog("changed");
    // What this clone keeps after publishing v1; then "another clone" publishes v2.
    let kept = site.path(".git/git-publish/records/production.json");
    let v1_record = std::fs::read(&kept).unwrap();
    let c2 = new_post(&site, 1);
    site.run(&[]).ok();
    std::fs::write(&kept, v1_record).unwrap();
    site.git(&["update-ref", "refs/publish/production", &c1]);

    site.write("public/posts/b/index.html", "<h1>B, edited</h1>");
    let c3 = site.commit("v3");
    let (r, log) = publish_logged(&site, &["--json"]);
    let r = r.ok();
    assert!(r.stderr.contains("planning again"), "{}", r.stderr);
    let j = r.json();
    assert_eq!(
        j["base"],
        c2.as_str(),
        "planned again from what is deployed"
    );
    assert_eq!(strings(&j["uploads"]), ["posts/b/index.html"]);
    let puts = state_puts(&log);
    assert_eq!(
        puts[0].status, 412,
        "the claim on the kept record is refused"
    );
    assert!(
        log.iter()
            .filter(|w| is_site_write(w))
            .all(|w| w.arrived > answered(puts[0])),
        "nothing written before the refusal"
    );
    assert_eq!(state_json(&b, "")["deployed"]["commit"], c3.as_str());
}

/// The distribution now serves the site from `origin_path` (moto takes UpdateDistribution with its ETag).
fn set_origin_path(dist: &str, origin_path: &str) {
    rt().block_on(async {
        let c = cloudfront();
        let got = c.get_distribution_config().id(dist).send().await.unwrap();
        let mut config = got.distribution_config().unwrap().clone();
        let mut origins = config.origins().unwrap().clone();
        let mut origin = origins.items()[0].clone();
        origin.origin_path = Some(origin_path.to_string());
        origins.items = vec![origin];
        config.origins = Some(origins);
        c.update_distribution()
            .id(dist)
            .if_match(got.e_tag().unwrap())
            .distribution_config(config)
            .send()
            .await
            .unwrap();
    })
}

#[test]
fn an_origin_path_changed_since_the_record_kept_it_is_seen_beside_the_claim_and_planned_again() {
    let site = Site::new();
    let b = bucket("origin");
    let dist = distribution(&b);
    site.config(SiteToml::s3(&b).prefix("site").distribution(&dist));
    small_blog(&site);
    site.commit("v1");
    site.run(&[]).ok();
    site.write("public/posts/a/index.html", "<h1>A, edited</h1>");
    site.commit("v2");
    site.run(&[]).ok();
    assert!(invalidations(&dist)
        .iter()
        .any(|p| p.contains(&"/site/posts/a/".to_string())));

    set_origin_path(&dist, "/site");
    site.write("public/posts/b/index.html", "<h1>B, edited</h1>");
    site.commit("v3");
    let r = site.run(&["--json"]).ok();
    assert!(r.stderr.contains("origin paths changed"), "{}", r.stderr);
    assert_eq!(
        strings(&r.json()["invalidations"]),
        ["/posts/b/", "/posts/b/index.html"]
    );
    assert!(state_json(&b, "site")["pending"].is_null());
}

/// CloudFront refuses every invalidation (a permission the publisher lacks).
fn refuse_invalidations(a: &Asked) -> Option<Vec<u8>> {
    if !(a.method == "POST" && a.path.contains("/invalidation")) {
        return None;
    }
    let body = "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>refused by the test</Message></Error><RequestId>proxy</RequestId></ErrorResponse>";
    Some(
        format!(
            "HTTP/1.1 403 Forbidden\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

#[test]
fn an_invalidation_that_fails_while_the_record_is_written_stays_requested_and_the_next_publish_sends_it(
) {
    let (site, b, dist, _) = published_blog("requested");
    let c2 = new_post(&site, 1);
    let proxy = Proxy::start(
        &moto().endpoint,
        Config {
            answer: Some(refuse_invalidations),
            ..Default::default()
        },
    );
    let r = site
        .run_with(&[], &[("AWS_ENDPOINT_URL", &proxy.endpoint)])
        .fails(1);
    assert!(
        r.stderr.contains("keeps the invalidation as requested"),
        "{}",
        r.stderr
    );
    // The files are up and recorded; the record never says the invalidation was created.
    let st = state_json(&b, "");
    assert_eq!(st["deployed"]["commit"], c2.as_str());
    assert_eq!(st["deployed"]["invalidation_ids"], serde_json::json!([]));
    let requested = st["invalidations_requested"].as_array().unwrap().clone();
    assert_eq!(requested.len(), 1, "{st:#}");
    let status = site.run(&["status"]).ok();
    assert!(
        status.stdout.contains("not yet recorded as created"),
        "{}",
        status.stdout
    );

    // The next publish has nothing to upload: it sends the invalidation and records it.
    let r = site.run(&[]).ok();
    assert!(r.stderr.contains("nothing to do"), "{}", r.stderr);
    let st = state_json(&b, "");
    assert!(st["invalidations_requested"].is_null(), "{st:#}");
    let ids = strings(&st["deployed"]["invalidation_ids"]);
    assert_eq!(ids.len(), 1);
    assert_eq!(
        invalidations(&dist)[0],
        strings(&requested[0]["paths"]),
        "the requested paths were invalidated"
    );
}

#[test]
fn the_next_claim_records_the_invalidation_this_clone_saw_created_without_sending_it_again() {
    let (site, b, dist, _) = published_blog("confirm");
    let c2 = new_post(&site, 1);
    let j = site.run(&["--json"]).ok().json();
    let id = strings(&j["invalidation_ids"]).remove(0);
    let created = invalidations(&dist).len();

    new_post(&site, 2);
    let (r, log) = publish_logged(&site, &[]);
    r.ok();
    let claim: serde_json::Value = serde_json::from_slice(&state_puts(&log)[0].body).unwrap();
    assert_eq!(claim["deployed"]["commit"], c2.as_str());
    assert_eq!(
        strings(&claim["deployed"]["invalidation_ids"]),
        std::slice::from_ref(&id)
    );
    assert!(claim["invalidations_requested"].is_null(), "{claim:#}");
    assert_eq!(
        log.iter().filter(|r| is_invalidation(r)).count(),
        1,
        "only the new post's invalidation is sent"
    );
    assert_eq!(invalidations(&dist).len(), created + 1);
    let st = state_json(&b, "");
    assert_eq!(strings(&st["history"][1]["invalidation_ids"]), [id]);
}
