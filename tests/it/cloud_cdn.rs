//! Google Cloud CDN in front of a bucket: publishes to moto's S3 (the gs:// store is another helper's) with
//! `[targets.NAME.cloud_cdn]`, against the Compute API stand-in (tests/gcp/cloud_cdn.py), one per test with
//! the limits it needs and its own request log (`src/exec/stand_in.rs`, shared with the unit tests).

use std::path::Path;

pub use crate::stand_in::StandIn;
use crate::util::{bucket, site_objects, small_blog, Run, Site, SiteToml};

/// The token the stand-ins take (their default).
pub const TOKEN: &str = "test-token";

/// The edits every CDN's tests make to a published small blog, each committed.
pub mod edits {
    use crate::util::Site;

    /// A new post, linked from the home page and the feed.
    pub fn new_post(site: &Site) {
        site.write("public/posts/c/index.html", "<h1>C</h1>")
            .write("public/index.html", "<h1>Home</h1> with c")
            .write("public/feed.xml", "<rss>c</rss>");
        site.commit("new post");
    }

    /// Post b deleted.
    pub fn delete_post_b(site: &Site) {
        site.remove("public/posts/b/index.html");
        site.commit("delete b");
    }

    /// Post a edited.
    pub fn edit_post_a(site: &Site) {
        site.write("public/posts/a/index.html", "<h1>A v2</h1>");
        site.commit("v2");
    }

    /// The home page edited.
    pub fn edit_home(site: &Site) {
        site.write("public/index.html", "<h1>Home</h1> v2");
        site.commit("v2");
    }
}

// ---- Cloud CDN --------------------------------------------------------------------------------------------

pub(crate) const SCRIPT: &str = "tests/gcp/cloud_cdn.py";

fn config(b: &str) -> SiteToml {
    SiteToml::s3(b).then(
        "[targets.production.cloud_cdn]\nproject = \"my-blog-123\"\nurl_map = \"blog-lb\"\nhost = \"blog.example.com\"\n",
    )
}

pub(crate) fn env(s: &StandIn) -> Vec<(&'static str, String)> {
    vec![
        ("CLOUDSDK_AUTH_ACCESS_TOKEN", TOKEN.to_string()),
        (
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE",
            format!("{}/compute/v1/", s.origin),
        ),
    ]
}

fn publish(site: &Site, s: &StandIn, args: &[&str]) -> Run {
    let env = env(s);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    site.run_with(args, &env)
}

/// The paths of the accepted invalidations, sorted; and that each named the host and the URL map.
pub(crate) fn invalidated(s: &StandIn) -> Vec<String> {
    let posts = s.of("POST");
    assert!(
        posts.iter().all(|r| r["host"] == "blog.example.com"
            && r["project"] == "my-blog-123"
            && r["url_map"] == "blog-lb"),
        "{posts:?}"
    );
    let mut paths: Vec<String> = (posts.iter())
        .filter(|r| r["status"] == 200)
        .map(|r| r["invalidate"].as_str().unwrap().to_string())
        .collect();
    paths.sort();
    paths
}

/// A published small blog behind Cloud CDN.
fn published(name: &str, args: &[&str]) -> (Site, String, StandIn) {
    let site = Site::new();
    let b = bucket(name);
    let s = StandIn::start(SCRIPT, args);
    small_blog(&site);
    site.config(config(&b));
    site.commit("v1");
    publish(&site, &s, &[]).ok();
    (site, b, s)
}

#[test]
fn first_publish_behind_cloud_cdn_uploads_everything_and_invalidates_nothing() {
    let (_site, b, s) = published("gcdn-first", &[]);
    assert_eq!(site_objects(&b).len(), 6);
    assert!(s.of("POST").is_empty(), "nothing was cached before");
}

#[test]
fn a_new_post_behind_cloud_cdn_invalidates_exactly_the_stale_paths_one_a_request() {
    let (site, _b, s) = published("gcdn-newpost", &[]);
    edits::new_post(&site);
    publish(&site, &s, &[]).ok();
    // The home page in both its URL forms and the feed; the new post was never cached. One request each.
    assert_eq!(invalidated(&s), ["/", "/feed.xml", "/index.html"]);
    assert_eq!(s.of("POST").len(), 3);
}

#[test]
fn a_deleted_post_behind_cloud_cdn_is_invalidated_in_both_forms() {
    let (site, b, s) = published("gcdn-delete", &[]);
    edits::delete_post_b(&site);
    publish(&site, &s, &[]).ok();
    assert!(!site_objects(&b).contains_key("posts/b/index.html"));
    assert_eq!(invalidated(&s), ["/posts/b/", "/posts/b/index.html"]);
}

#[test]
fn a_rollback_behind_cloud_cdn_invalidates_what_it_changes_back() {
    let (site, _b, s) = published("gcdn-rollback", &[]);
    edits::edit_post_a(&site);
    publish(&site, &s, &[]).ok();
    assert_eq!(invalidated(&s), ["/posts/a/", "/posts/a/index.html"]);
    publish(&site, &s, &["rollback"]).ok();
    let want = [
        "/posts/a/",
        "/posts/a/",
        "/posts/a/index.html",
        "/posts/a/index.html",
    ];
    assert_eq!(invalidated(&s), want);
}

/// Many changed pages in one directory: the planner collapses them into `/p/*` (a trailing `/*`, which the
/// stand-in checks), and `--wait` reads the operation until it is done.
#[test]
fn many_changed_pages_behind_cloud_cdn_become_one_trailing_wildcard_and_wait_reads_the_operation() {
    let site = Site::new();
    let b = bucket("gcdn-wild");
    let s = StandIn::start(SCRIPT, &["--done-after", "1"]);
    small_blog(&site);
    for i in 0..40 {
        site.write(&format!("public/p/{i}/index.html"), format!("v1 {i}"));
    }
    site.config(config(&b));
    site.commit("v1");
    publish(&site, &s, &[]).ok();
    for i in 0..40 {
        site.write(&format!("public/p/{i}/index.html"), format!("v2 {i}"));
    }
    site.commit("v2");
    publish(&site, &s, &["--wait"]).ok();
    assert_eq!(invalidated(&s), ["/p/*"]);
    let op = s.of("POST")[0]["operation"].as_str().unwrap().to_string();
    let reads: Vec<serde_json::Value> = (s.of("GET").into_iter())
        .filter(|r| r["path"].as_str().unwrap().ends_with(&op))
        .collect();
    assert!(reads.len() >= 2, "in progress, then done: {reads:?}");
}

#[test]
fn a_429_from_cloud_cdn_is_waited_out_and_the_publish_completes() {
    let (site, _b, s) = published("gcdn-429", crate::stand_in::THROTTLE_TWICE);
    edits::edit_home(&site);
    publish(&site, &s, &[]).ok();
    assert_eq!(invalidated(&s), ["/", "/index.html"]);
    let statuses: Vec<u64> = (s.of("POST").iter())
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|c| **c == 429).count(),
        2,
        "{statuses:?}"
    );
}

#[test]
fn without_google_credentials_nothing_is_written_and_the_error_says_how_to_log_in() {
    let site = Site::new();
    let b = bucket("gcdn-nocreds");
    let s = StandIn::start(SCRIPT, &[]);
    small_blog(&site);
    site.config(config(&b));
    site.commit("v1");
    let base = format!("{}/compute/v1/", s.origin);
    let missing = site.path("no-such-key.json");
    let env = [
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE", base.as_str()),
        ("GOOGLE_APPLICATION_CREDENTIALS", missing.to_str().unwrap()),
    ];
    let r = site.run_with(&[], &env);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("CLOUDSDK_AUTH_ACCESS_TOKEN is not set")
            && r.stderr.contains("gcloud auth application-default login"),
        "{}",
        r.stderr
    );
    assert!(site_objects(&b).is_empty(), "nothing uploaded");
    assert!(s.of("POST").is_empty());
}

#[test]
fn a_plain_http_compute_endpoint_off_loopback_is_refused_before_anything_is_written() {
    let site = Site::new();
    let b = bucket("gcdn-http");
    small_blog(&site);
    site.config(config(&b));
    site.commit("v1");
    let env = [
        ("CLOUDSDK_AUTH_ACCESS_TOKEN", TOKEN),
        (
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE",
            "http://10.1.2.3/compute/v1/",
        ),
    ];
    let r = site.run_with(&[], &env);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE"),
        "{}",
        r.stderr
    );
    assert!(site_objects(&b).is_empty(), "nothing uploaded");
}

/// `doctor` reads the URL map with the publish's credentials (`urlMaps.get`) and invalidates nothing.
#[test]
fn doctor_checks_the_cloud_cdn_credentials_with_a_read() {
    let site = Site::new();
    let b = bucket("gcdn-doctor");
    let s = StandIn::start(SCRIPT, &[]);
    small_blog(&site);
    site.config(config(&b));
    site.commit("v1");
    let r = publish(&site, &s, &["doctor"]);
    assert!(
        r.stdout
            .contains("✓ CDN credentials: Cloud CDN URL map my-blog-123/blog-lb: readable"),
        "{}",
        r.stdout
    );
    let base = format!("{}/compute/v1/", s.origin);
    let env = [
        ("CLOUDSDK_AUTH_ACCESS_TOKEN", "expired"),
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE", base.as_str()),
    ];
    let r = site.run_with(&["doctor"], &env);
    assert_ne!(r.code, 0);
    assert!(
        r.stdout.contains("✗ CDN credentials")
            && r.stdout.contains("HTTP 401")
            && r.stdout.contains("gcloud auth application-default login"),
        "{}",
        r.stdout
    );
    let gets = s.of("GET");
    assert_eq!(gets.len(), 2);
    assert!(gets
        .iter()
        .all(|g| g["path"] == "/compute/v1/projects/my-blog-123/global/urlMaps/blog-lb"));
    assert!(s.of("POST").is_empty());
}

/// A service account key (a throwaway RSA key made for these tests, tests/gcp/test-service-account-key.pem)
/// whose `token_uri` is the stand-in: Application Default Credentials through `gcp_auth`, end to end.
fn service_account_key(site: &Site, s: &StandIn) -> String {
    let pem = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gcp/test-service-account-key.pem"),
    )
    .unwrap();
    let key = serde_json::json!({
        "type": "service_account",
        "project_id": "my-blog-123",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": "publisher@my-blog-123.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": format!("{}/token", s.origin),
    });
    let path = site.path("sa-key.json");
    std::fs::write(&path, key.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn application_default_credentials_from_a_service_account_key_get_the_token() {
    let site = Site::new();
    let b = bucket("gcdn-adc");
    let s = StandIn::start(SCRIPT, &[]);
    small_blog(&site);
    site.config(config(&b));
    site.commit("v1");
    let key = service_account_key(&site, &s);
    let base = format!("{}/compute/v1/", s.origin);
    let env = [
        ("GOOGLE_APPLICATION_CREDENTIALS", key.as_str()),
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE", base.as_str()),
    ];
    site.run_with(&[], &env).ok();
    edits::edit_home(&site);
    site.run_with(&[], &env).ok();
    assert_eq!(invalidated(&s), ["/", "/index.html"]);
    assert!(s.of("POST").iter().all(|r| r["auth"] == true));
    let tokens = s.of("TOKEN");
    assert!(!tokens.is_empty());
    assert!(
        tokens.iter().all(|t| t["status"] == 200
            && t["iss"] == "publisher@my-blog-123.iam.gserviceaccount.com"
            && t["scope"] == "https://www.googleapis.com/auth/compute"),
        "{tokens:?}"
    );
}

/// Credentials that find a key but get no token stop the publish before anything is written.
#[test]
fn application_default_credentials_refused_a_token_stop_before_anything_is_written() {
    let site = Site::new();
    let b = bucket("gcdn-adc-refused");
    let s = StandIn::start(SCRIPT, &["--refuse-token"]);
    small_blog(&site);
    site.config(config(&b));
    site.commit("v1");
    let key = service_account_key(&site, &s);
    let base = format!("{}/compute/v1/", s.origin);
    let env = [
        ("GOOGLE_APPLICATION_CREDENTIALS", key.as_str()),
        ("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE", base.as_str()),
    ];
    let r = site.run_with(&[], &env);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("Application Default Credentials"),
        "{}",
        r.stderr
    );
    assert!(site_objects(&b).is_empty(), "nothing uploaded");
    let tokens = s.of("TOKEN");
    assert!(
        !tokens.is_empty() && tokens.iter().all(|t| t["status"] == 400),
        "{tokens:?}"
    );
}
