//! Azure Blob Storage (`azblob://container/prefix`) against Azurite (npm `azurite`, installed in `.node` by
//! `scripts/setup-test-env`; `AZURITE` names another `azurite-blob`), reached the way users reach it: through
//! `AZURE_STORAGE_CONNECTION_STRING` with Azurite's well-known development account. Each test has its own
//! container; requests are counted (and the publisher killed, or two raced) by `proxy.rs` in front of Azurite.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use futures::TryStreamExt;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::proxy::{Asked, Config, Proxy};
use crate::util::*;

const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

struct Azurite {
    endpoint: String,
}

static AZURITE: OnceLock<Azurite> = OnceLock::new();

fn azurite_binary() -> PathBuf {
    if let Ok(p) = std::env::var("AZURITE") {
        return p.into();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".node/node_modules/.bin/azurite-blob")
}

/// The shared Azurite blob service: port 0 (read from its output), blobs in memory, no telemetry.
fn azurite() -> &'static Azurite {
    AZURITE.get_or_init(|| {
        let bin = azurite_binary();
        assert!(
            bin.exists(),
            "azurite is needed for the Azure tests and was not found at {}: run `scripts/setup-test-env` \
             (it needs node and npm), or set AZURITE",
            bin.display()
        );
        let dir = std::env::temp_dir().join(format!("git-publish-azurite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("azurite.log");
        let mut cmd = Command::new(bin);
        cmd.args(["--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence"]);
        cmd.args(["--skipApiVersionCheck", "--disableTelemetry"]);
        let endpoint = start_server(cmd, &log, "successfully listens on http://127.0.0.1:");
        Azurite { endpoint }
    })
}

/// A fresh container and the environment that reaches it through `via` (Azurite, or a proxy in front).
fn container(name: &str) -> String {
    let c = unique(name).to_ascii_lowercase().replace('_', "-");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/azurite/container.py");
    let account_url = format!("{}/{ACCOUNT}", azurite().endpoint);
    let out = Command::new("python3")
        .arg(script)
        .args([&account_url, &c])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c
}

fn connection(via: &str) -> String {
    format!(
        "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={via}/{ACCOUNT};"
    )
}

/// Every blob in `container`, with its bytes.
fn blobs(container: &str) -> BTreeMap<String, Vec<u8>> {
    let store = MicrosoftAzureBuilder::new()
        .with_account(ACCOUNT)
        .with_access_key(KEY)
        .with_endpoint(format!("{}/{ACCOUNT}", azurite().endpoint))
        .with_allow_http(true)
        .with_container_name(container)
        .build()
        .unwrap();
    rt().block_on(async {
        let metas: Vec<_> = store.list(None).try_collect().await.unwrap();
        let mut out = BTreeMap::new();
        for m in metas {
            let body = store.get(&m.location).await.unwrap().bytes().await.unwrap();
            out.insert(m.location.to_string(), body.to_vec());
        }
        out
    })
}

/// The site's blobs (the record's directory left out), keyed by path under `prefix`.
fn site_blobs(container: &str, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    (blobs(container).into_iter())
        .filter_map(|(k, v)| Some((k.strip_prefix(&format!("{prefix}/"))?.to_string(), v)))
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

/// A small blog published to its own container under `blog/`.
fn published(name: &str) -> (Site, String) {
    let c = container(name);
    let site = Site::new();
    site.config(SiteToml::url(&format!("azblob://{c}/blog")));
    small_blog(&site);
    site.commit("v1");
    run(&site, &azurite().endpoint, &[]).ok();
    (site, c)
}

fn env(via: &str) -> Vec<(&'static str, String)> {
    vec![("AZURE_STORAGE_CONNECTION_STRING", connection(via))]
}

fn run(site: &Site, via: &str, args: &[&str]) -> Run {
    let env = env(via);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    site.run_with(args, &env)
}

#[test]
fn first_publish_puts_the_tree_in_the_container() {
    let (site, c) = published("az-first");
    assert_eq!(site_blobs(&c, "blog"), tree(&site));
    let all = blobs(&c);
    assert!(
        all.contains_key("blog/.git-publish/state.json"),
        "{:?}",
        all.keys()
    );
}

#[test]
fn a_new_post_sends_exactly_its_requests_and_lists_nothing() {
    let (site, c) = published("az-post");
    site.write("public/posts/c/index.html", "<h1>C</h1>")
        .write("public/index.html", "<h1>Home</h1><a href=/posts/c/>c</a>");
    site.commit("post c");
    let proxy = Proxy::start(&azurite().endpoint, Config::default());
    run(&site, &proxy.endpoint, &[]).ok();
    let reqs: Vec<String> = (proxy.requests().iter())
        .map(|r| format!("{} {}", r.method, r.path.split('?').next().unwrap_or("")))
        .collect();
    assert!(
        !proxy
            .requests()
            .iter()
            .any(|r| r.path.contains("comp=list")),
        "a publish never lists: {reqs:#?}"
    );
    let state = format!("PUT /{ACCOUNT}/{c}/blog/.git-publish/state.json");
    let want = [
        state.clone(), // the claim, on the record this clone kept (If-Match)
        format!("PUT /{ACCOUNT}/{c}/blog/index.html"),
        format!("PUT /{ACCOUNT}/{c}/blog/posts/c/index.html"),
        state, // the final record
    ];
    let mut sorted = reqs.clone();
    sorted.sort();
    let mut want_sorted = want.to_vec();
    want_sorted.sort();
    assert_eq!(sorted, want_sorted, "{reqs:#?}");
    assert_eq!(site_blobs(&c, "blog"), tree(&site));
}

#[test]
fn rename_and_delete_leave_the_container_equal_to_the_tree() {
    let (site, c) = published("az-rename");
    let b = std::fs::read(site.path("public/posts/b/index.html")).unwrap();
    site.remove("public/posts/b/index.html")
        .write("public/posts/bee/index.html", b)
        .remove("public/feed.xml")
        .write("public/css/site.css", "body{color:red}");
    site.commit("rename b, delete the feed, edit the css");
    run(&site, &azurite().endpoint, &[]).ok();
    assert_eq!(site_blobs(&c, "blog"), tree(&site));
}

#[test]
fn rollback_restores_the_previous_tree() {
    let (site, c) = published("az-rollback");
    let v1 = tree(&site);
    site.write("public/posts/a/index.html", "<h1>A v2</h1>")
        .remove("public/feed.xml");
    site.commit("v2");
    run(&site, &azurite().endpoint, &[]).ok();
    assert_eq!(site_blobs(&c, "blog"), tree(&site));
    run(&site, &azurite().endpoint, &["rollback"]).ok();
    assert_eq!(site_blobs(&c, "blog"), v1);
}

fn is_page_put(a: &Asked) -> bool {
    a.method == "PUT" && a.path.contains("/posts/") && !a.path.contains(".git-publish")
}

#[test]
fn killed_while_uploading_then_resumed() {
    let (site, c) = published("az-kill");
    site.write("public/posts/a/index.html", "<h1>A v2</h1>")
        .write("public/posts/d/index.html", "<h1>D</h1>")
        .remove("public/img/logo.png");
    site.commit("v2");
    let proxy = Proxy::start(
        &azurite().endpoint,
        Config {
            kill_on: Some((is_page_put, true)),
            ..Default::default()
        },
    );
    let env = env(&proxy.endpoint);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let child = site.spawn(&[], &env);
    proxy.victim.store(child.id(), Ordering::SeqCst);
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "the kill did not land");
    assert_ne!(site_blobs(&c, "blog"), tree(&site), "killed half-way");
    let r = run(&site, &azurite().endpoint, &[]).ok();
    assert!(r.stderr.contains("resum"), "{}", r.stderr);
    assert_eq!(site_blobs(&c, "blog"), tree(&site));
}

#[test]
fn two_publishers_racing_one_wins_the_other_writes_nothing() {
    let (site, c) = published("az-race");
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
        Proxy::start(&azurite().endpoint, config()),
        Proxy::start(&azurite().endpoint, config()),
    );
    let spawn = |p: &Proxy, rev: &str| {
        let env = env(&p.endpoint);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        site.spawn(&["--rev", rev], &env)
    };
    let (a, b) = (spawn(&pa, &ca), spawn(&pb, &cb));
    let (ra, rb) = (
        Run::from(a.wait_with_output().unwrap()),
        Run::from(b.wait_with_output().unwrap()),
    );
    let (loser, loser_proxy, winner_file) = match (ra.code, rb.code) {
        (0, 3) => (&rb, &pb, "a.html"),
        (3, 0) => (&ra, &pa, "b.html"),
        codes => panic!("exit codes {codes:?}\nA: {}\nB: {}", ra.stderr, rb.stderr),
    };
    let writes: Vec<_> = (loser_proxy.requests().into_iter())
        .filter(|r| {
            r.method != "GET"
                && r.method != "HEAD"
                && r.forwarded
                && ![409, 412].contains(&r.status)
        })
        .collect();
    assert!(
        writes.is_empty(),
        "the loser wrote {writes:?}\n{}",
        loser.stderr
    );
    let blobs = site_blobs(&c, "blog");
    assert!(blobs.contains_key(winner_file), "{:?}", blobs.keys());
    assert!(!blobs.contains_key(if winner_file == "a.html" {
        "b.html"
    } else {
        "a.html"
    }));
}

#[test]
fn a_missing_container_is_named_with_its_fix() {
    let site = Site::new();
    site.config(SiteToml::url("azblob://no-such-container/blog"));
    small_blog(&site);
    site.commit("v1");
    let r = run(&site, &azurite().endpoint, &[]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("azblob://no-such-container"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("az storage container create"),
        "{}",
        r.stderr
    );
}

#[test]
fn doctor_checks_the_container_and_its_conditional_writes() {
    let (site, _) = published("az-doctor");
    let r = run(&site, &azurite().endpoint, &["doctor"]).ok();
    assert!(r.stdout.contains("✓ conditional writes"), "{}\n{}", r.stdout, r.stderr);
    site.config(SiteToml::url("azblob://no-such-container/blog"));
    let r = run(&site, &azurite().endpoint, &["doctor"]);
    assert_ne!(r.code, 0);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("az storage container create"), "{all}");
}
