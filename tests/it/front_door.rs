//! Azure Front Door in front of a bucket: publishes to moto's S3 (the azblob:// store is another helper's) with
//! `[targets.NAME.front_door]`, against the Resource Manager stand-in (tests/azure/front_door.py), one per
//! test with the limits it needs and its own request log.

use crate::cloud_cdn::{edits, StandIn, TOKEN};
use crate::util::{bucket, site_objects, small_blog, Run, Site, SiteToml};

pub(crate) const SCRIPT: &str = "tests/azure/front_door.py";
pub(crate) const SUB: &str = "00000000-0000-0000-0000-000000000000";

fn config(b: &str) -> SiteToml {
    SiteToml::s3(b)
        .with("domain = \"blog.example.com\"")
        .then(&format!(
        "[targets.production.front_door]\nsubscription = \"{SUB}\"\nresource_group = \"blog-rg\"\n\
         profile = \"blog-fd\"\nendpoint = \"blog\"\n"
    ))
}

fn publish(site: &Site, s: &StandIn, args: &[&str]) -> Run {
    let base = format!("{}/", s.origin);
    let env = [
        ("AZURE_ACCESS_TOKEN", TOKEN),
        ("AZURE_RESOURCE_MANAGER_ENDPOINT", base.as_str()),
    ];
    site.run_with(args, &env)
}

/// The paths of the accepted purges, sorted; and that each named the endpoint and the target's domain.
pub(crate) fn purged(s: &StandIn) -> Vec<String> {
    let posts = s.of("POST");
    let at = format!(
        "/subscriptions/{SUB}/resourceGroups/blog-rg/providers/Microsoft.Cdn/profiles/blog-fd/afdEndpoints/blog/purge"
    );
    assert!(
        (posts.iter())
            .all(|r| r["path"] == at.as_str()
                && r["domains"] == serde_json::json!(["blog.example.com"])),
        "{posts:?}"
    );
    let mut paths: Vec<String> = (posts.iter())
        .filter(|r| r["status"] == 202)
        .flat_map(|r| r["contentPaths"].as_array().cloned().unwrap_or_default())
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    paths.sort();
    paths
}

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
fn first_publish_behind_front_door_uploads_everything_and_purges_nothing() {
    let (_site, b, s) = published("afd-first", &[]);
    assert_eq!(site_objects(&b).len(), 6);
    assert!(s.of("POST").is_empty(), "nothing was cached before");
}

#[test]
fn a_new_post_behind_front_door_purges_exactly_the_stale_paths_in_one_request() {
    let (site, _b, s) = published("afd-newpost", &[]);
    edits::new_post(&site);
    publish(&site, &s, &[]).ok();
    assert_eq!(purged(&s), ["/", "/feed.xml", "/index.html"]);
    assert_eq!(s.of("POST").len(), 1);
}

#[test]
fn a_deleted_post_behind_front_door_is_purged_in_both_forms() {
    let (site, b, s) = published("afd-delete", &[]);
    edits::delete_post_b(&site);
    publish(&site, &s, &[]).ok();
    assert!(!site_objects(&b).contains_key("posts/b/index.html"));
    assert_eq!(purged(&s), ["/posts/b/", "/posts/b/index.html"]);
}

#[test]
fn a_rollback_behind_front_door_purges_what_it_changes_back_and_wait_polls_the_operation() {
    let (site, _b, s) = published("afd-rollback", &["--done-after", "1"]);
    edits::edit_post_a(&site);
    publish(&site, &s, &[]).ok();
    assert_eq!(purged(&s), ["/posts/a/", "/posts/a/index.html"]);
    publish(&site, &s, &["rollback", "--wait"]).ok();
    let want = [
        "/posts/a/",
        "/posts/a/",
        "/posts/a/index.html",
        "/posts/a/index.html",
    ];
    assert_eq!(purged(&s), want);
    let polls = s.of("GET");
    assert!(
        polls.len() >= 2
            && polls.iter().all(|r| r["path"]
                .as_str()
                .unwrap()
                .starts_with("/standin/operations/")),
        "in progress, then done: {polls:?}"
    );
}

#[test]
fn a_429_from_front_door_is_waited_out_and_the_publish_completes() {
    let (site, _b, s) = published("afd-429", crate::stand_in::THROTTLE_TWICE);
    edits::edit_home(&site);
    publish(&site, &s, &[]).ok();
    site.write("public/feed.xml", "<rss>v3</rss>");
    site.commit("v3");
    publish(&site, &s, &[]).ok();
    assert_eq!(purged(&s), ["/", "/feed.xml", "/index.html"]);
    let statuses: Vec<u64> = (s.of("POST").iter())
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|c| **c == 429).count(),
        2,
        "{statuses:?}"
    );
}

/// The token comes from the Azure CLI when AZURE_ACCESS_TOKEN is not set: a stand-in `az` on PATH prints it
/// (or fails as `az` does before `az login`: then nothing is written).
#[test]
fn the_azure_cli_gives_the_token_and_without_one_nothing_is_written() {
    use std::os::unix::fs::PermissionsExt;
    let site = Site::new();
    let b = bucket("afd-az");
    let s = StandIn::start(SCRIPT, &[]);
    small_blog(&site);
    site.config(config(&b));
    site.commit("v1");
    let bin = site.path("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let az = bin.join("az");
    let path = format!("{}:{}", bin.display(), crate::util::test_path());
    let base = format!("{}/", s.origin);
    let write_az = |script: &str| {
        std::fs::write(&az, script).unwrap();
        std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    write_az("#!/bin/sh\necho \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1\n");
    let env = [
        ("PATH", path.as_str()),
        ("AZURE_RESOURCE_MANAGER_ENDPOINT", base.as_str()),
    ];
    let r = site.run_with(&[], &env);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("AZURE_ACCESS_TOKEN is not set") && r.stderr.contains("az login"),
        "{}",
        r.stderr
    );
    assert!(site_objects(&b).is_empty(), "nothing uploaded");

    write_az(&format!(
        "#!/bin/sh\n[ \"$1 $2\" = \"account get-access-token\" ] && echo {TOKEN}\n"
    ));
    site.run_with(&[], &env).ok();
    edits::edit_home(&site);
    site.run_with(&[], &env).ok();
    assert_eq!(purged(&s), ["/", "/index.html"]);
}

#[test]
fn a_refused_purge_fails_the_publish_naming_the_permission() {
    let (site, _b, s) = published("afd-denied", &["--deny-purge"]);
    edits::edit_home(&site);
    let r = publish(&site, &s, &[]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("AuthorizationFailed") && r.stderr.contains("afdEndpoints/purge/action"),
        "{}",
        r.stderr
    );
}

/// `doctor` reads the endpoint with the publish's token (`AFDEndpoints_Get`) and purges nothing.
#[test]
fn doctor_checks_the_front_door_token_with_a_read() {
    let site = Site::new();
    let b = bucket("afd-doctor");
    let s = StandIn::start(SCRIPT, &["--endpoint", "blog"]);
    small_blog(&site);
    site.config(config(&b));
    site.commit("v1");
    let site_url = format!("{}/", s.origin);
    let r = publish(&site, &s, &["doctor", "--site-url", &site_url]);
    assert!(
        r.stdout
            .contains("✓ CDN credentials: Front Door endpoint blog-fd/blog: readable"),
        "{}",
        r.stdout
    );
    let base = format!("{}/", s.origin);
    let env = [
        ("AZURE_ACCESS_TOKEN", "expired"),
        ("AZURE_RESOURCE_MANAGER_ENDPOINT", base.as_str()),
    ];
    let r = site.run_with(&["doctor", "--site-url", &site_url], &env);
    assert_ne!(r.code, 0);
    assert!(
        r.stdout.contains("✗ CDN credentials")
            && r.stdout.contains("InvalidAuthenticationToken")
            && r.stdout.contains("az login"),
        "{}",
        r.stdout
    );
    let reads = (s.of("GET").into_iter())
        .filter(|g| g["endpoint"] == "blog")
        .count();
    assert_eq!(reads, 2);
    assert!(s.of("POST").is_empty());
}
