//! The scenarios every object store other than S3 passes (`azure.rs` on Azurite, `gcs.rs` on the GCS
//! emulator): first publish, a new post with its exact requests and no listing, rename and delete, rollback, a
//! kill -9 and the resume, two publishers racing, doctor. Each store says how it is reached ([`Emulated`]);
//! requests are counted (and the publisher killed, or two raced) by `proxy.rs` in front of the emulator.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use crate::proxy::{Asked, Config, Proxy};
use crate::util::*;

/// An object store's emulator, as the scenarios use it.
pub trait Emulated {
    /// The emulator's endpoint.
    fn upstream(&self) -> String;
    /// A fresh bucket (container) for test `name`.
    fn bucket(&self, name: &str) -> String;
    /// The target's URL for `bucket` under `prefix`.
    fn url(&self, bucket: &str, prefix: &str) -> String;
    /// The environment that reaches the emulator through `via` (itself or a proxy).
    fn env(&self, via: &str) -> Vec<(&'static str, String)>;
    /// Every object of `bucket`, with its bytes, as the emulator lists them.
    fn objects(&self, bucket: &str) -> BTreeMap<String, Vec<u8>>;
    /// The path of a request for `key` in `bucket`, as the store's client sends it (before any query).
    fn request_path(&self, bucket: &str, key: &str) -> String;
    /// Whether a request lists the bucket.
    fn is_list(&self, path: &str) -> bool;
    /// How the emulator answers a claim someone else won (Azure: 409 or 412; GCS: 412).
    fn refused(&self) -> &'static [u16];
    /// The fix named when the bucket does not exist.
    fn missing_fix(&self) -> &'static str;
}

fn run(store: &dyn Emulated, site: &Site, via: &str, args: &[&str]) -> Run {
    let env = store.env(via);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    site.run_with(args, &env)
}

fn spawn(store: &dyn Emulated, site: &Site, via: &str, args: &[&str]) -> std::process::Child {
    let env = store.env(via);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    site.spawn(args, &env)
}

/// The site's objects (the record's directory left out), keyed by path under `blog/`.
fn site_objects(store: &dyn Emulated, bucket: &str) -> BTreeMap<String, Vec<u8>> {
    (store.objects(bucket).into_iter())
        .filter_map(|(k, v)| Some((k.strip_prefix("blog/")?.to_string(), v)))
        .filter(|(k, _)| !k.starts_with(".git-publish/"))
        .collect()
}

/// What HEAD's `public/` holds, as the bucket should.
fn tree(site: &Site) -> BTreeMap<String, Vec<u8>> {
    let names = site.git(&["ls-tree", "-r", "--name-only", "HEAD", "public/"]);
    (names.lines())
        .map(|n| {
            let body = std::fs::read(site.path(n)).unwrap();
            (n.strip_prefix("public/").unwrap().to_string(), body)
        })
        .collect()
}

/// A small blog published to its own bucket under `blog/`.
fn published(store: &dyn Emulated, name: &str) -> (Site, String) {
    let bucket = store.bucket(name);
    let site = Site::new();
    site.config(SiteToml::url(&store.url(&bucket, "blog")));
    small_blog(&site);
    site.commit("v1");
    run(store, &site, &store.upstream(), &[]).ok();
    (site, bucket)
}

pub fn first_publish_puts_the_tree_in_the_bucket(store: &dyn Emulated) {
    let (site, bucket) = published(store, "first");
    assert_eq!(site_objects(store, &bucket), tree(&site));
    let all = store.objects(&bucket);
    assert!(
        all.contains_key("blog/.git-publish/state.json"),
        "{:?}",
        all.keys()
    );
}

pub fn a_new_post_sends_exactly_its_requests_and_lists_nothing(store: &dyn Emulated) {
    let (site, bucket) = published(store, "post");
    site.write("public/posts/c/index.html", "<h1>C</h1>")
        .write("public/index.html", "<h1>Home</h1><a href=/posts/c/>c</a>");
    site.commit("post c");
    let proxy = Proxy::start(&store.upstream(), Config::default());
    run(store, &site, &proxy.endpoint, &[]).ok();
    let reqs: Vec<String> = (proxy.requests().iter())
        .map(|r| format!("{} {}", r.method, r.path.split('?').next().unwrap_or("")))
        .collect();
    let listed = proxy.requests().iter().any(|r| store.is_list(&r.path));
    assert!(!listed, "a publish never lists: {reqs:#?}");
    let put = |key: &str| format!("PUT {}", store.request_path(&bucket, key));
    let mut want = vec![
        put("blog/.git-publish/state.json"), // the claim, on the record this clone kept
        put("blog/index.html"),
        put("blog/posts/c/index.html"),
        put("blog/.git-publish/state.json"), // the final record
    ];
    want.sort();
    let mut got = reqs.clone();
    got.sort();
    assert_eq!(got, want, "{reqs:#?}");
    assert_eq!(site_objects(store, &bucket), tree(&site));
}

pub fn rename_and_delete_leave_the_bucket_equal_to_the_tree(store: &dyn Emulated) {
    let (site, bucket) = published(store, "rename");
    let b = std::fs::read(site.path("public/posts/b/index.html")).unwrap();
    site.remove("public/posts/b/index.html")
        .write("public/posts/bee/index.html", b)
        .remove("public/feed.xml")
        .write("public/css/site.css", "body{color:red}");
    site.commit("rename b, delete the feed, edit the css");
    run(store, &site, &store.upstream(), &[]).ok();
    assert_eq!(site_objects(store, &bucket), tree(&site));
}

pub fn rollback_restores_the_previous_tree(store: &dyn Emulated) {
    let (site, bucket) = published(store, "rollback");
    let v1 = tree(&site);
    site.write("public/posts/a/index.html", "<h1>A v2</h1>")
        .remove("public/feed.xml");
    site.commit("v2");
    run(store, &site, &store.upstream(), &[]).ok();
    assert_eq!(site_objects(store, &bucket), tree(&site));
    run(store, &site, &store.upstream(), &["rollback"]).ok();
    assert_eq!(site_objects(store, &bucket), v1);
}

fn is_page_put(a: &Asked) -> bool {
    a.method == "PUT" && a.path.contains("posts") && !a.path.contains("git-publish")
}

pub fn killed_while_uploading_then_resumed(store: &dyn Emulated) {
    let (site, bucket) = published(store, "kill");
    site.write("public/posts/a/index.html", "<h1>A v2</h1>")
        .write("public/posts/d/index.html", "<h1>D</h1>")
        .remove("public/img/logo.png");
    site.commit("v2");
    let proxy = Proxy::start(
        &store.upstream(),
        Config {
            kill_on: Some((is_page_put, true)),
            ..Default::default()
        },
    );
    let child = spawn(store, &site, &proxy.endpoint, &[]);
    proxy.victim.store(child.id(), Ordering::SeqCst);
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "the kill did not land");
    assert_ne!(site_objects(store, &bucket), tree(&site), "killed half-way");
    let r = run(store, &site, &store.upstream(), &[]).ok();
    assert!(r.stderr.contains("resum"), "{}", r.stderr);
    assert_eq!(site_objects(store, &bucket), tree(&site));
}

pub fn two_publishers_racing_one_wins_the_other_writes_nothing(store: &dyn Emulated) {
    let (site, bucket) = published(store, "race");
    site.git(&["checkout", "-q", "-b", "a"]);
    site.write("public/a.html", "a");
    let ca = site.commit("a");
    site.git(&["checkout", "-q", "main"]);
    site.write("public/b.html", "b");
    let cb = site.commit("b");
    // Both read the record before either claims it.
    let _ = std::fs::remove_dir_all(site.path(".git/git-publish/records"));
    let gate = Some(std::sync::Arc::new(std::sync::Barrier::new(2)));
    let config = || Config {
        gate: gate.clone(),
        ..Default::default()
    };
    let (pa, pb) = (
        Proxy::start(&store.upstream(), config()),
        Proxy::start(&store.upstream(), config()),
    );
    let a = spawn(store, &site, &pa.endpoint, &["--rev", &ca]);
    let b = spawn(store, &site, &pb.endpoint, &["--rev", &cb]);
    let (ra, rb) = (
        Run::from(a.wait_with_output().unwrap()),
        Run::from(b.wait_with_output().unwrap()),
    );
    let (loser, loser_proxy, won, lost) = match (ra.code, rb.code) {
        (0, 3) => (&rb, &pb, "a.html", "b.html"),
        (3, 0) => (&ra, &pa, "b.html", "a.html"),
        codes => panic!("exit codes {codes:?}\nA: {}\nB: {}", ra.stderr, rb.stderr),
    };
    let writes: Vec<_> = (loser_proxy.requests().into_iter())
        .filter(|r| r.method != "GET" && r.forwarded && !store.refused().contains(&r.status))
        .collect();
    assert!(
        writes.is_empty(),
        "the loser wrote {writes:?}\n{}",
        loser.stderr
    );
    let objects = site_objects(store, &bucket);
    assert!(
        objects.contains_key(won) && !objects.contains_key(lost),
        "{:?}",
        objects.keys()
    );
}

pub fn doctor_checks_the_bucket_and_its_conditional_writes(store: &dyn Emulated) {
    let (site, _) = published(store, "doctor");
    let r = run(store, &site, &store.upstream(), &["doctor"]).ok();
    assert!(
        r.stdout.contains("✓ conditional writes"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    let missing = store.url("no-such-bucket", "blog");
    site.config(SiteToml::url(&missing));
    let r = run(store, &site, &store.upstream(), &["doctor"]);
    assert_ne!(r.code, 0);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains(store.missing_fix()), "{all}");
}

/// An emulator's endpoint from the environment gets `endpoint`'s check: plain http only to loopback.
pub fn plain_http_off_loopback_is_refused_before_any_request(store: &dyn Emulated) {
    let bucket = store.bucket("plain-http");
    let site = Site::new();
    site.config(SiteToml::url(&store.url(&bucket, "blog")));
    small_blog(&site);
    site.commit("v1");
    let r = run(store, &site, "http://192.0.2.1:9", &[]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr
            .contains("use https, a loopback address, or set `allow_http = true`"),
        "{}",
        r.stderr
    );
    assert!(store.objects(&bucket).is_empty());
}

/// A file over the streaming threshold (16 MiB) is sent in parts (a multipart upload: GCS's XML multipart
/// upload, Azure's blocks) and reads back whole, byte for byte.
pub fn a_file_over_the_stream_threshold_is_sent_in_parts_and_reads_back_whole(
    store: &dyn Emulated,
) {
    let bucket = store.bucket("large");
    let site = Site::new();
    site.config(SiteToml::url(&store.url(&bucket, "blog")));
    small_blog(&site);
    // 17 MiB that no two parts share, so a part sent twice or out of order shows.
    let big: Vec<u8> = (0..17u32 << 20)
        .map(|i| (i % 251) as u8 ^ (i >> 20) as u8)
        .collect();
    std::fs::create_dir_all(site.path("public/media")).unwrap();
    std::fs::write(site.path("public/media/talk.mp4"), &big).unwrap();
    site.commit("v1 with a talk");
    run(store, &site, &store.upstream(), &[]).ok();
    let stored = site_objects(store, &bucket);
    assert!(
        stored["media/talk.mp4"] == big,
        "the large file came back different"
    );
    assert_eq!(stored, tree(&site));
}

/// A branch's preview goes under `_previews/<name>/` beside production (which it leaves alone), `preview
/// list` names it, and `preview rm` removes exactly its keys.
pub fn a_preview_goes_beside_production_and_rm_removes_exactly_it(store: &dyn Emulated) {
    let (site, bucket) = published(store, "preview");
    let production = site_objects(store, &bucket);
    site.git(&["checkout", "-q", "-b", "draft"]);
    site.write("public/posts/c/index.html", "<h1>C, a draft</h1>");
    site.commit("draft c");
    run(store, &site, &store.upstream(), &["preview"]).ok();
    let all = site_objects(store, &bucket);
    let preview: BTreeMap<String, Vec<u8>> = (all.iter())
        .filter_map(|(k, v)| Some((k.strip_prefix("_previews/draft/")?.to_string(), v.clone())))
        .filter(|(k, _)| !k.starts_with(".git-publish/"))
        .collect();
    assert_eq!(preview, tree(&site), "the preview is the draft's tree");
    let outside: BTreeMap<String, Vec<u8>> = (all.into_iter())
        .filter(|(k, _)| !k.starts_with("_previews/"))
        .collect();
    assert_eq!(outside, production, "production is untouched");
    let listed = run(store, &site, &store.upstream(), &["preview", "list"]).ok();
    assert!(listed.stdout.contains("draft"), "{}", listed.stdout);
    run(store, &site, &store.upstream(), &["preview", "rm", "draft"]).ok();
    let left: Vec<String> = (store.objects(&bucket).into_keys())
        .filter(|k| k.starts_with("blog/_previews/"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(site_objects(store, &bucket), production);
}

/// One `#[test]` per scenario for a store.
#[macro_export]
macro_rules! store_scenarios {
    ($store:expr) => {
        #[test]
        fn first_publish_puts_the_tree_in_the_bucket() {
            $crate::stores::first_publish_puts_the_tree_in_the_bucket($store);
        }
        #[test]
        fn a_new_post_sends_exactly_its_requests_and_lists_nothing() {
            $crate::stores::a_new_post_sends_exactly_its_requests_and_lists_nothing($store);
        }
        #[test]
        fn rename_and_delete_leave_the_bucket_equal_to_the_tree() {
            $crate::stores::rename_and_delete_leave_the_bucket_equal_to_the_tree($store);
        }
        #[test]
        fn rollback_restores_the_previous_tree() {
            $crate::stores::rollback_restores_the_previous_tree($store);
        }
        #[test]
        fn killed_while_uploading_then_resumed() {
            $crate::stores::killed_while_uploading_then_resumed($store);
        }
        #[test]
        fn two_publishers_racing_one_wins_the_other_writes_nothing() {
            $crate::stores::two_publishers_racing_one_wins_the_other_writes_nothing($store);
        }
        #[test]
        fn plain_http_off_loopback_is_refused_before_any_request() {
            $crate::stores::plain_http_off_loopback_is_refused_before_any_request($store);
        }
        #[test]
        fn a_file_over_the_stream_threshold_is_sent_in_parts_and_reads_back_whole() {
            $crate::stores::a_file_over_the_stream_threshold_is_sent_in_parts_and_reads_back_whole(
                $store,
            );
        }
        #[test]
        fn a_preview_goes_beside_production_and_rm_removes_exactly_it() {
            $crate::stores::a_preview_goes_beside_production_and_rm_removes_exactly_it($store);
        }
        #[test]
        fn doctor_checks_the_bucket_and_its_conditional_writes() {
            $crate::stores::doctor_checks_the_bucket_and_its_conditional_writes($store);
        }
    };
}
