//! `git publish preview` against moto (scripts/moto-server): a branch's preview under `_previews/<name>/`
//! with its own record; its first publish sends only the bytes production does not hold (the rest are
//! server-side copies of production's keys), an update is its exact diff, `rm` and `prune` remove exactly
//! its keys and record; and none of it writes, deletes or invalidates anything of production (every
//! production object and the production record are compared byte for byte before and after).

use std::collections::BTreeMap;

use crate::proxy::{Config, Logged, Proxy};
use crate::util::*;

/// Every object of the bucket outside `_previews/` (the production record included), bytes and headers.
fn production(bucket: &str) -> BTreeMap<String, String> {
    rt().block_on(async {
        let c = s3();
        let list = c.list_objects_v2().bucket(bucket).send().await.unwrap();
        let mut out = BTreeMap::new();
        for o in list.contents() {
            let key = o.key().unwrap().to_string();
            if key.starts_with("_previews/") || key.starts_with(".git-publish/previews/") {
                continue;
            }
            let got = c
                .get_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .unwrap();
            let head = format!(
                "{:?} {:?} {:?}",
                got.content_type(),
                got.cache_control(),
                got.metadata()
            );
            let body = got.body.collect().await.unwrap().into_bytes();
            out.insert(key, format!("{head} {body:?}"));
        }
        out
    })
}

/// Keys under a prefix.
fn keys_under(bucket: &str, prefix: &str) -> Vec<String> {
    let list = rt()
        .block_on(s3().list_objects_v2().bucket(bucket).prefix(prefix).send())
        .unwrap();
    (list.contents().iter())
        .map(|o| o.key().unwrap().to_string())
        .collect()
}

fn body(bucket: &str, key: &str) -> Vec<u8> {
    rt().block_on(async {
        let got = s3()
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        got.body.collect().await.unwrap().into_bytes().to_vec()
    })
}

/// A published production site (branch `main`, in front of a distribution), and a branch `draft` that
/// changes the home page and adds a post.
fn site_with_draft(b: &str, dist: &str) -> Site {
    let site = Site::new();
    site.config(&format!(
        "[source]\ndir = \"public\"\nbranch = \"main\"\n[targets.production]\nurl = \"s3://{b}\"\n\
         distribution = \"{dist}\"\n"
    ));
    site.write("public/index.html", "<h1>Home</h1>")
        .write("public/css/site.css", "body { color: #333 }")
        .write("public/img/logo.png", vec![7u8; 3000])
        .write("public/posts/a/index.html", "<h1>A</h1>");
    site.commit("v1");
    site.run(&[]).ok();
    site.git(&["switch", "-q", "-c", "draft"]);
    site.write("public/index.html", "<h1>Home, with the new post</h1>")
        .write("public/posts/new/index.html", "<h1>New</h1>");
    site.commit("a new post");
    site
}

/// PUTs with a body under `prefix` (uploads), and bodiless ones (CopyObject), through the proxy.
fn puts(sent: &[Logged], bucket: &str, prefix: &str) -> (Vec<String>, Vec<String>) {
    let at = format!("/{bucket}/{prefix}");
    let under: Vec<&Logged> = (sent.iter())
        .filter(|r| r.method == "PUT" && r.path.starts_with(&at))
        .collect();
    let path = |r: &&Logged| r.path.split('?').next().unwrap()[at.len()..].to_string();
    (
        under
            .iter()
            .filter(|r| !r.body.is_empty())
            .map(path)
            .collect(),
        under
            .iter()
            .filter(|r| r.body.is_empty())
            .map(path)
            .collect(),
    )
}

/// The done-when: a preview's first publish (bytes uploaded equal to the differing files, the rest
/// copied), an update (its exact diff), `rm` — production byte for byte the same after each.
#[test]
fn a_preview_costs_its_diff_and_never_touches_production() {
    let b = bucket("pv-main");
    let dist = distribution(&b);
    let site = site_with_draft(&b, &dist);
    let before = production(&b);
    let invalidations_before = invalidations(&dist);
    let proxy = Proxy::start(&moto().endpoint, Config::default());
    let env = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];

    let j = site.run_with(&["preview", "--json"], &env).ok().json();
    assert_eq!(j["name"], "draft");
    assert_eq!(j["branch"], "draft");
    assert_eq!(j["prefix"], "_previews/draft");
    let domain = rt()
        .block_on(cloudfront().get_distribution().id(&dist).send())
        .unwrap()
        .distribution()
        .unwrap()
        .domain_name()
        .to_string();
    assert_eq!(j["url"], format!("https://{domain}/_preview/draft/"));
    let p = &j["publish"];
    assert_eq!(p["status"], "published", "{j:#}");
    let new_bytes = "<h1>Home, with the new post</h1>".len() + "<h1>New</h1>".len();
    assert_eq!(p["uploaded_bytes"], new_bytes as u64, "{j:#}");
    let (mut uploaded, copied) = puts(&proxy.requests(), &b, "_previews/draft/");
    uploaded.sort(); // in the order they arrived: uploads of one wave go out together
    assert_eq!(uploaded, ["index.html", "posts/new/index.html"]);
    let mut copied = copied;
    copied.sort();
    assert_eq!(
        copied,
        ["css/site.css", "img/logo.png", "posts/a/index.html"]
    );
    assert_eq!(body(&b, "_previews/draft/img/logo.png"), vec![7u8; 3000]);
    assert_eq!(
        body(&b, "_previews/draft/index.html"),
        b"<h1>Home, with the new post</h1>"
    );
    assert!(
        strings(&p["invalidations"]).is_empty(),
        "new files are not invalidated"
    );
    assert_eq!(production(&b), before);

    // An update is the exact diff against the preview's own record, invalidated under its own directory.
    site.write("public/posts/a/index.html", "<h1>A, edited</h1>");
    site.commit("edit");
    let before_update = proxy.requests().len();
    let j = site.run_with(&["preview", "--json"], &env).ok().json();
    let sent: Vec<Logged> = proxy.requests().into_iter().skip(before_update).collect();
    let (uploaded, copied) = puts(&sent, &b, "_previews/draft/");
    assert_eq!(uploaded, ["posts/a/index.html"]);
    assert!(copied.is_empty(), "{copied:?}");
    assert_eq!(
        strings(&j["publish"]["invalidations"]),
        [
            "/_previews/draft/posts/a/",
            "/_previews/draft/posts/a/index.html"
        ]
    );
    assert_eq!(production(&b), before);
    assert_eq!(invalidations(&dist).len(), invalidations_before.len() + 1);

    // The list, then rm: exactly the preview's keys and record, one wildcard over its directory.
    let list = site.run(&["preview", "list", "--json"]).ok().json();
    let entry = &list["previews"][0];
    assert_eq!(
        (entry["name"].as_str(), entry["branch"].as_str()),
        (Some("draft"), Some("draft"))
    );
    assert_eq!(entry["files"], 5);
    site.run(&["preview", "rm", "draft"]).ok();
    assert_eq!(keys_under(&b, "_previews/"), Vec::<String>::new());
    assert_eq!(
        keys_under(&b, ".git-publish/previews/"),
        Vec::<String>::new()
    );
    let all = invalidations(&dist);
    assert_eq!(all.len(), invalidations_before.len() + 2);
    assert!(
        all.contains(&vec!["/_previews/draft/*".to_string()]),
        "{all:?}"
    );
    assert_eq!(production(&b), before);
    let list = site.run(&["preview", "list", "--json"]).ok().json();
    assert_eq!(list["previews"], serde_json::json!([]));
}

/// A branch whose name folds (case, `/`, `_`) gets a name ending with a hash of the full branch name, so two
/// branches that fold alike never share a preview; a name can't escape its prefix; production's branch is
/// refused.
#[test]
fn preview_names_and_refusals() {
    let b = bucket("pv-names");
    let site = Site::new();
    site.config(&format!(
        "[source]\ndir = \"public\"\nbranch = \"main\"\n[targets.production]\nurl = \"s3://{b}\"\n"
    ));
    site.write("public/index.html", "<h1>Home</h1>");
    site.commit("v1");
    let r = site.run(&["preview"]).fails(2);
    assert!(
        r.stderr
            .contains("branch main is the one target production publishes"),
        "{}",
        r.stderr
    );
    site.git(&["switch", "-q", "-c", "Feature/New_Theme"]);
    let a = site.run(&["preview", "--json"]).ok().json();
    site.git(&["switch", "-q", "-c", "feature/new-theme"]);
    let c = site.run(&["preview", "--json"]).ok().json();
    let (a, c) = (a["name"].as_str().unwrap(), c["name"].as_str().unwrap());
    assert!(
        a.starts_with("feature-new-theme-") && c.starts_with("feature-new-theme-"),
        "{a} {c}"
    );
    assert_ne!(a, c);
    for bad in ["../x", "a/b", "a%2fb", "X"] {
        let r = site.run(&["preview", "rm", bad]).fails(2);
        assert!(
            r.stderr.contains("is not a preview name"),
            "{bad}: {}",
            r.stderr
        );
    }
    let r = site.run(&["preview", "--name", "other"]).ok();
    assert!(r.stderr.contains("preview other"), "{}", r.stderr);
    // The same name for another branch is refused, not overwritten.
    site.git(&["switch", "-q", "-c", "third"]);
    let r = site.run(&["preview", "--name", "other"]).fails(2);
    assert!(
        r.stderr.contains("is branch feature/new-theme's"),
        "{}",
        r.stderr
    );
}

/// `prune` removes the previews whose branch was deleted on the remote, and leaves the others.
#[test]
fn prune_removes_previews_of_deleted_branches() {
    let b = bucket("pv-prune");
    let site = Site::new();
    let remote = site.tmp.path().join("remote.git");
    site.git(&["init", "-q", "--bare", remote.to_str().unwrap()]);
    site.git(&["remote", "add", "origin", remote.to_str().unwrap()]);
    site.config(&format!(
        "[source]\ndir = \"public\"\nbranch = \"main\"\n[targets.production]\nurl = \"s3://{b}\"\n"
    ));
    site.write("public/index.html", "<h1>Home</h1>");
    site.commit("v1");
    site.run(&[]).ok();
    let before = production(&b);
    for branch in ["gone", "kept"] {
        site.git(&["switch", "-q", "-c", branch, "main"]);
        site.write("public/index.html", format!("<h1>{branch}</h1>"));
        site.commit(branch);
        site.git(&["push", "-q", "origin", branch]);
        site.run(&["preview"]).ok();
    }
    site.git(&["push", "-q", "origin", "--delete", "gone"]);
    let dry = site.run(&["preview", "prune", "--dry-run"]).ok();
    assert!(
        dry.stdout.contains("would remove preview gone"),
        "{}",
        dry.stdout
    );
    assert!(!keys_under(&b, "_previews/gone/").is_empty());
    let r = site.run(&["preview", "prune"]).ok();
    assert!(
        r.stderr
            .contains("preview gone: branch gone is gone from origin"),
        "{}",
        r.stderr
    );
    assert!(keys_under(&b, "_previews/gone/").is_empty());
    assert!(!keys_under(&b, "_previews/kept/").is_empty());
    assert_eq!(production(&b), before);
}
