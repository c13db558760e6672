//! Each store with its own cloud's CDN, end to end: a `gs://` bucket (the GCS emulator, `gcs.rs`) behind Cloud
//! CDN (its stand-in, `cloud_cdn.rs`), and an `azblob://` container (Azurite, `azure.rs`) behind Front Door
//! (its stand-in, `front_door.rs`). The store and the CDN were built and tested apart, each through its seam;
//! here they meet in one publish: the new post's bytes land in the bucket, and the CDN is told exactly the
//! stale paths.

use std::collections::BTreeMap;

use crate::cloud_cdn::{self, edits, StandIn, TOKEN};
use crate::front_door;
use crate::stores::Emulated;
use crate::util::{small_blog, Run, Site, SiteToml};

/// Publish `site` with the store's environment (reached directly) and the CDN's.
fn publish(store: &dyn Emulated, cdn: &[(&'static str, String)], site: &Site) -> Run {
    let mut env = store.env(&store.upstream());
    env.extend(cdn.iter().cloned());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    site.run_with(&[], &env)
}

/// The bucket's site files (no record), as the tree in HEAD's `public/` has them.
fn assert_bucket_is_tree(store: &dyn Emulated, bucket: &str, site: &Site) {
    let stored: BTreeMap<String, Vec<u8>> = (store.objects(bucket).into_iter())
        .filter(|(k, _)| !k.starts_with(".git-publish/"))
        .collect();
    let names = site.git(&["ls-tree", "-r", "--name-only", "HEAD", "public/"]);
    let tree: BTreeMap<String, Vec<u8>> = (names.lines())
        .map(|n| {
            let rel = n.strip_prefix("public/").unwrap().to_string();
            (rel, std::fs::read(site.path(n)).unwrap())
        })
        .collect();
    assert_eq!(stored, tree);
}

/// A small blog published to a fresh bucket of `store` on `blog.example.com`, behind the CDN its `table`
/// names, then a new post; the bucket is then the tree.
fn new_post(store: &dyn Emulated, name: &str, table: &str, cdn: &[(&'static str, String)]) -> Site {
    let bucket = store.bucket(name);
    let site = Site::new();
    let url = store.url(&bucket, "");
    site.config((SiteToml::url(&url).with("domain = \"blog.example.com\"")).then(table));
    small_blog(&site);
    site.commit("v1");
    publish(store, cdn, &site).ok();
    edits::new_post(&site);
    publish(store, cdn, &site).ok();
    assert_bucket_is_tree(store, &bucket, &site);
    site
}

#[test]
fn a_new_post_on_gcs_behind_cloud_cdn_lands_in_the_bucket_and_invalidates_exactly_the_stale_paths()
{
    let s = StandIn::start(cloud_cdn::SCRIPT, &[]);
    let table =
        "[targets.production.cloud_cdn]\nproject = \"my-blog-123\"\nurl_map = \"blog-lb\"\n\
                 host = \"blog.example.com\"\n";
    new_post(&crate::gcs::Emulator, "gcdn", table, &cloud_cdn::env(&s));
    // The home page in both its URL forms and the feed, one request each; the new post was never cached.
    assert_eq!(
        cloud_cdn::invalidated(&s),
        ["/", "/feed.xml", "/index.html"]
    );
    assert_eq!(s.of("POST").len(), 3);
}

#[test]
fn a_new_post_on_azure_blob_behind_front_door_lands_in_the_container_and_purges_exactly_the_stale_paths(
) {
    let s = StandIn::start(front_door::SCRIPT, &[]);
    let table = format!(
        "[targets.production.front_door]\nsubscription = \"{}\"\nresource_group = \"blog-rg\"\n\
         profile = \"blog-fd\"\nendpoint = \"blog\"\n",
        front_door::SUB
    );
    let env = vec![
        ("AZURE_ACCESS_TOKEN", TOKEN.to_string()),
        ("AZURE_RESOURCE_MANAGER_ENDPOINT", format!("{}/", s.origin)),
    ];
    new_post(&crate::azure::Azurite, "afd", &table, &env);
    // One request: the home page in both forms and the feed, on the target's domain.
    assert_eq!(front_door::purged(&s), ["/", "/feed.xml", "/index.html"]);
    assert_eq!(s.of("POST").len(), 1);
}
