//! End-to-end publishing against moto's S3 + CloudFront and against a local directory.

use crate::util::*;

#[test]
fn first_publish_uploads_every_file_with_bytes_type_and_blob_id() {
    let site = Site::new();
    let b = bucket("first");
    small_blog(&site);
    site.config(SiteToml::s3(&b));
    let commit = site.commit("site");
    let r = site.run(&["--json"]).ok();
    let reqs = moto().requests(&b);
    let j = r.json();
    assert_eq!(j["commit"], commit.as_str());
    assert_eq!(j["base"], serde_json::Value::Null);
    assert_eq!(j["status"], "published");

    let objs = site_objects(&b);
    let keys: Vec<&str> = objs.keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "css/site.css",
            "feed.xml",
            "img/logo.png",
            "index.html",
            "posts/a/index.html",
            "posts/b/index.html"
        ]
    );
    for (key, obj) in &objs {
        assert_eq!(
            obj.body,
            std::fs::read(site.path(&format!("public/{key}"))).unwrap(),
            "{key}"
        );
        let blob = site.git(&["rev-parse", &format!("HEAD:public/{key}")]);
        assert_eq!(obj.meta.get("git-blob"), Some(&blob), "{key}");
    }
    assert_eq!(objs["index.html"].content_type, "text/html; charset=utf-8");
    assert_eq!(objs["css/site.css"].content_type, "text/css; charset=utf-8");
    assert_eq!(objs["img/logo.png"].content_type, "image/png");
    assert_eq!(
        objs["feed.xml"].content_type,
        "application/xml; charset=utf-8"
    );

    let st = state_json(&b, "");
    assert_eq!(st["deployed"]["commit"], commit.as_str());
    assert_eq!(st["pending"], serde_json::Value::Null);
    // mirrored locally
    assert_eq!(site.git(&["rev-parse", "refs/publish/production"]), commit);

    // Requests: one GET of the state, one claim, one PUT per file, one final state write. No LIST, no HEAD.
    // (The first request is the test's own CreateBucket. The first publish also probes conditional writes on
    // `.git-publish/probe`: three PUTs, see `state_record.rs`.)
    let reqs: Vec<Req> = reqs[1..]
        .iter()
        .filter(|r| !r.path.contains(".git-publish/probe"))
        .cloned()
        .collect();
    let count = |m: &str| reqs.iter().filter(|r| r.method == m).count();
    assert!(
        !reqs
            .iter()
            .any(|r| r.method == "GET" && r.path.contains("list-type")),
        "{reqs:?}"
    );
    assert_eq!(count("HEAD"), 0);
    assert_eq!(count("GET"), 1, "{reqs:?}");
    assert_eq!(count("PUT"), 6 + 2, "{reqs:?}");
}

#[test]
fn new_post_uploads_exactly_the_changed_keys_without_listing() {
    let site = Site::new();
    let b = bucket("newpost");
    small_blog(&site);
    site.config(SiteToml::s3(&b));
    site.commit("v1");
    site.run(&[]).ok();
    let before = moto().request_count(&b);

    site.write("public/posts/c/index.html", "<h1>C</h1>")
        .write("public/posts/c/cover.jpg", [0xffu8, 0xd8, 0xff])
        .write("public/index.html", "<h1>Home</h1> with c")
        .write("public/feed.xml", "<rss>c</rss>");
    let c2 = site.commit("new post");
    let j = site.run(&["--json"]).ok().json();
    let mut uploads = strings(&j["uploads"]);
    uploads.sort();
    assert_eq!(
        uploads,
        [
            "feed.xml",
            "index.html",
            "posts/c/cover.jpg",
            "posts/c/index.html"
        ]
    );
    assert!(strings(&j["deletes"]).is_empty());

    let reqs: Vec<Req> = moto().requests(&b).into_iter().skip(before).collect();
    let puts: Vec<&str> = reqs
        .iter()
        .filter(|r| r.method == "PUT")
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(puts.len(), 4 + 2, "{puts:?}");
    assert!(
        reqs.iter()
            .all(|r| !r.path.contains("list-type") && r.method != "HEAD"),
        "{reqs:?}"
    );
    // This clone wrote the record last: it claims on the ETag it kept, without reading the record first.
    assert_eq!(reqs.len(), 4 + 2, "changed files + claim + final: {reqs:?}");
    assert_eq!(state_json(&b, "")["deployed"]["commit"], c2.as_str());
    assert_eq!(site_objects(&b)["index.html"].body, b"<h1>Home</h1> with c");
}

#[test]
fn regenerating_identical_output_uploads_nothing() {
    let site = Site::new();
    let b = bucket("regen");
    small_blog(&site);
    site.config(SiteToml::s3(&b));
    site.commit("v1");
    site.run(&[]).ok();
    // A generator rewrites every file with the same bytes; only something outside public/ changes.
    small_blog(&site);
    site.write("README.md", "changed outside the output");
    let c2 = site.commit("regen");
    let before = moto().request_count(&b);
    let j = site.run(&["--json"]).ok().json();
    assert!(strings(&j["uploads"]).is_empty());
    // The README's figure: 1 request, the record's write (conditional on the ETag this clone kept when it
    // wrote the record: no read).
    let reqs: Vec<(String, String)> = (moto().requests(&b).into_iter().skip(before))
        .map(|r| (r.method, r.path.split('?').next().unwrap().to_string()))
        .collect();
    let state = format!("/{b}/.git-publish/state.json");
    assert_eq!(reqs, [("PUT".to_string(), state)]);
    assert_eq!(state_json(&b, "")["deployed"]["commit"], c2.as_str());
    // and a second run is a no-op with a single GET
    let before = moto().request_count(&b);
    let j = site.run(&["--json"]).ok().json();
    assert_eq!(j["status"], "nothing-to-do");
    assert_eq!(moto().request_count(&b) - before, 1);
}

#[test]
fn delete_rename_and_invalidations_as_cloudfront_records_them() {
    let site = Site::new();
    let b = bucket("delren");
    let dist = distribution(&b);
    small_blog(&site);
    site.write("public/old/page.html", "old");
    site.config(SiteToml::s3(&b).with(&format!("distribution = \"{dist}\"")));
    site.commit("v1");
    site.run(&[]).ok();
    assert!(
        invalidations(&dist).is_empty(),
        "a first publish has nothing cached to invalidate"
    );

    site.remove("public/old/page.html");
    std::fs::rename(
        site.path("public/img/logo.png"),
        site.path("public/img/brand.png"),
    )
    .unwrap();
    site.write("public/posts/a/index.html", "<h1>A, edited</h1>");
    site.write("public/posts/new/index.html", "<h1>new</h1>");
    site.commit("v2");
    let j = site.run(&["--json"]).ok().json();
    assert_eq!(strings(&j["deletes"]), ["img/logo.png", "old/page.html"]);
    let mut up = strings(&j["uploads"]);
    up.sort();
    assert_eq!(up, ["posts/a/index.html", "posts/new/index.html"]);
    // a rename is a server-side copy: no bytes sent again
    assert_eq!(strings(&j["copies"]), ["img/brand.png"]);
    let want = [
        "/img/logo.png",
        "/old/page.html",
        "/posts/a/",
        "/posts/a/index.html",
    ];
    assert_eq!(strings(&j["invalidations"]), want);
    let recorded = invalidations(&dist);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0], want);

    let objs = site_objects(&b);
    assert!(!objs.contains_key("old/page.html") && !objs.contains_key("img/logo.png"));
    assert_eq!(
        objs["img/brand.png"].body,
        [0x89u8, b'P', b'N', b'G', 0, 1, 2, 3]
    );
    // The record is written while the invalidation is created: it lists it as requested, not created.
    let st = state_json(&b, "");
    assert_eq!(st["deployed"]["invalidation_ids"], serde_json::json!([]));
    assert_eq!(
        st["invalidations_requested"][0]["paths"],
        serde_json::json!(want)
    );
    assert_eq!(strings(&j["invalidation_ids"]).len(), 1);
}

#[test]
fn unicode_space_and_tricky_names_get_exact_keys_and_matching_paths() {
    let site = Site::new();
    let b = bucket("names");
    let dist = distribution(&b);
    let names = [
        "a file.html",
        "café.html",            // NFC
        "cafe\u{301}-nfd.html", // NFD
        "hash#tag.html",
        "per%cent.html",
        "q?mark.html",
        "plus+amp&.html",
        "tilde~x.html",
        "star*name.html",
        "日本/index.html",
    ];
    for n in names {
        site.write(&format!("public/{n}"), format!("v1 {n}"));
    }
    site.config(SiteToml::s3(&b).with(&format!(
        "distribution = \"{dist}\"\nmax_invalidation_paths = 30"
    )));
    site.commit("v1");
    site.run(&[]).ok();
    let keys: Vec<String> = site_objects(&b).into_keys().collect();
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(keys, want);

    for n in names {
        site.write(&format!("public/{n}"), format!("v2 {n}"));
    }
    site.commit("v2");
    let j = site.run(&["--json"]).ok().json();
    let paths = strings(&j["invalidations"]);
    assert_eq!(
        paths,
        [
            "/a%20file.html",
            "/cafe%CC%81-nfd.html",
            "/caf%C3%A9.html",
            "/hash%23tag.html",
            "/per%25cent.html",
            "/plus+amp&.html",
            "/q%3Fmark.html",
            "/star*",
            "/tilde%7Ex.html",
            "/%E6%97%A5%E6%9C%AC/",
            "/%E6%97%A5%E6%9C%AC/index.html",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );
    assert_eq!(invalidations(&dist)[0], paths);
    for (k, o) in site_objects(&b) {
        assert_eq!(o.body, format!("v2 {k}").into_bytes());
    }
}

#[test]
fn dry_run_changes_nothing_and_prints_the_plan() {
    let site = Site::new();
    let b = bucket("dry");
    small_blog(&site);
    site.config(SiteToml::s3(&b));
    site.commit("v1");
    let r = site.run(&["--dry-run"]).ok();
    let reqs = moto().requests(&b);
    assert!(r.stdout.contains("+ index.html"), "{}", r.stdout);
    assert!(
        r.stdout.contains("6 uploads (6 new, 0 replaced"),
        "{}",
        r.stdout
    );
    assert!(objects(&b).is_empty());
    assert_eq!(
        reqs.len(),
        2,
        "CreateBucket + one GET of the state: {reqs:?}"
    );
    assert_eq!(reqs[1].method, "GET");

    site.run(&[]).ok();
    site.remove("public/feed.xml")
        .write("public/index.html", "changed");
    site.commit("v2");
    let before = objects(&b);
    let r = site.run(&["-n", "--json"]).ok();
    let j = r.json();
    assert_eq!(j["dry_run"], true);
    assert_eq!(strings(&j["deletes"]), ["feed.xml"]);
    assert_eq!(strings(&j["uploads"]), ["index.html"]);
    let after = objects(&b);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    let text = site.run(&["--dry-run"]).ok().stdout;
    assert!(
        text.contains("~ index.html") && text.contains("- feed.xml"),
        "{text}"
    );
}

#[test]
fn key_prefix_is_respected() {
    let site = Site::new();
    let b = bucket("prefix");
    small_blog(&site);
    site.config(&format!(
        "[source]\ndir = \"public\"\n[targets.p]\nurl = \"s3://{b}/blog/v1/\"\n"
    ));
    site.commit("v1");
    site.run(&[]).ok();
    let keys: Vec<String> = objects(&b).into_keys().collect();
    assert!(keys.iter().all(|k| k.starts_with("blog/v1/")), "{keys:?}");
    assert!(keys.contains(&"blog/v1/.git-publish/state.json".to_string()));
    assert_eq!(state_json(&b, "blog/v1")["target"], "p");
}

#[test]
fn max_deletes_refuses_before_changing_anything() {
    let site = Site::new();
    let b = bucket("maxdel");
    small_blog(&site);
    site.config(SiteToml::s3(&b).with("max_deletes = 2"));
    site.commit("v1");
    site.run(&[]).ok();
    for f in ["feed.xml", "css/site.css", "img/logo.png"] {
        site.remove(&format!("public/{f}"));
    }
    site.write("public/index.html", "new home");
    site.commit("v2");
    let before = objects(&b);
    let r = site.run(&[]).fails(4);
    assert!(
        r.stderr.contains("refusing to delete 3 objects") && r.stderr.contains("--max-deletes"),
        "{}",
        r.stderr
    );
    let after = objects(&b);
    assert_eq!(before.len(), after.len());
    assert_eq!(after["index.html"].body, before["index.html"].body);
    site.run(&["--max-deletes", "3"]).ok();
    assert_eq!(site_objects(&b).len(), 3);
}

/// Plant a claim by alice@other-host, taken at `since` (RFC 3339), in the target's state.
fn plant_claim(b: &str, since: &str) {
    let mut st = state_json(b, "");
    let since_unix = humantime::parse_rfc3339(since)
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    st["pending"] = serde_json::json!({
        "commit": "1111111111111111111111111111111111111111",
        "tree": "2222222222222222222222222222222222222222",
        "base": null,
        "started": since,
        "holder": {"host": "other-host", "pid": 4242, "user": "alice", "since": since, "since_unix": since_unix}
    });
    rt().block_on(
        s3().put_object()
            .bucket(b)
            .key(".git-publish/state.json")
            .body(serde_json::to_vec(&st).unwrap().into())
            .send(),
    )
    .unwrap();
}

#[test]
fn a_live_claim_stops_a_second_publisher_before_it_writes() {
    let site = Site::new();
    let b = bucket("claim");
    small_blog(&site);
    site.config(SiteToml::s3(&b));
    site.commit("v1");
    site.run(&[]).ok();
    // Someone on another host has held the target since half an hour before the new year; it is now the last
    // second of the year (the clock is injected: the day the test runs never matters).
    plant_claim(&b, "2027-12-31T23:30:00Z");
    let now = [("GIT_PUBLISH_NOW", "2027-12-31T23:59:59Z")];
    site.write("public/index.html", "v2");
    site.commit("v2");
    let before = objects(&b);
    let r = site.run_with(&[], &now).fails(3);
    assert!(
        r.stderr.contains("alice@other-host (pid 4242)") && r.stderr.contains("--take-over"),
        "{}",
        r.stderr
    );
    assert_eq!(objects(&b)["index.html"].body, before["index.html"].body);
    // status shows who holds it
    let s = site.run_with(&["status"], &now).ok();
    assert!(
        s.stdout.contains(
            "pending: publishing 111111111111 by alice@other-host (pid 4242) since 2027-12-31T23:30:00Z"
        ),
        "{}",
        s.stdout
    );
    // explicit take-over works and says so
    let r = site.run_with(&["--take-over"], &now).ok();
    assert!(r.stderr.contains("taking over"), "{}", r.stderr);
    assert_eq!(site_objects(&b)["index.html"].body, b"v2");
}

/// The lease (1 h by default) is measured with the clock, across the new year and the leap day.
#[test]
fn a_claim_past_its_lease_is_taken_over() {
    let site = Site::new();
    let b = bucket("lease");
    small_blog(&site);
    site.config(SiteToml::s3(&b));
    site.commit("v1");
    site.run(&[]).ok();
    for (n, (since, busy_at, stale_at)) in [
        (
            "2027-12-31T23:30:00Z",
            "2028-01-01T00:30:00Z",
            "2028-01-01T00:30:01Z",
        ),
        (
            "2028-02-28T23:59:59Z",
            "2028-02-29T00:59:59Z",
            "2028-02-29T01:00:00Z",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        plant_claim(&b, since);
        site.write("public/index.html", format!("v{n}"));
        site.commit(&format!("v{n}"));
        site.run_with(&[], &[("GIT_PUBLISH_NOW", busy_at)]).fails(3);
        let r = site.run_with(&[], &[("GIT_PUBLISH_NOW", stale_at)]).ok();
        assert!(
            r.stderr.contains(&format!(
                "the claim by alice@other-host (pid 4242) since {since} is older than the lease"
            )),
            "{}",
            r.stderr
        );
        assert_eq!(
            site_objects(&b)["index.html"].body,
            format!("v{n}").as_bytes()
        );
        assert_eq!(state_json(&b, "")["deployed"]["at"], stale_at);
    }
}

/// The other publisher's record, written by [`record_written_meanwhile`].
const MEANWHILE: &str = "0123456789abcdef0123456789abcdef01234567";

/// A proxy stand-in that, when git-publish sends its claim (a conditional PUT of the record), first writes the
/// record itself straight to moto as another publisher that finished meanwhile would, then forwards the claim.
fn record_written_meanwhile(a: &crate::proxy::Asked) -> Option<Vec<u8>> {
    let claim = a.method == "PUT" && a.path.contains("/.git-publish/state.json");
    if !claim || a.header("if-match").is_none() {
        return None;
    }
    let b = a.path.trim_start_matches('/').split('/').next().unwrap();
    let mut st = state_json(b, "");
    st["deployed"]["commit"] = MEANWHILE.into();
    st["deployed"]["by"] = "carol".into();
    put_state(b, &serde_json::to_vec(&st).unwrap());
    None
}

/// The record changes between git-publish's read and its claim (another publisher finished meanwhile): the
/// claim's `If-Match` fails, and the publish stops naming who published what, having written nothing.
#[test]
fn a_record_written_between_the_read_and_the_claim_stops_the_publish_before_it_writes() {
    let site = Site::new();
    let b = bucket("race");
    small_blog(&site);
    site.config(SiteToml::s3(&b));
    site.commit("v1");
    site.run(&[]).ok();
    site.write("public/index.html", "v2");
    site.commit("v2");
    // A clone that doesn't know the record (it never wrote it) reads it before it claims: the race is in
    // between. (One that knows it claims on the ETag it kept; its 412 is `roundtrips.rs`'.)
    std::fs::remove_dir_all(site.path(".git/git-publish/records")).unwrap();
    let before = site_objects(&b);
    let proxy = crate::proxy::Proxy::start(
        &moto().endpoint,
        crate::proxy::Config {
            answer: Some(record_written_meanwhile),
            ..Default::default()
        },
    );
    let r = site
        .run_with(&[], &[("AWS_ENDPOINT_URL", &proxy.endpoint)])
        .fails(3);
    assert!(
        r.stderr.contains("was published by carol") && r.stderr.contains("nothing was written"),
        "{}",
        r.stderr
    );
    let claims: Vec<_> = (proxy.requests().into_iter())
        .filter(|q| q.method == "PUT" && q.path.contains("state.json"))
        .collect();
    assert!(
        claims.len() == 1 && claims[0].status == 412,
        "one claim, refused: {claims:?}"
    );
    let site_writes: Vec<_> = (proxy.requests().into_iter())
        .filter(|q| q.method != "GET" && !q.path.contains("/.git-publish/"))
        .collect();
    assert!(site_writes.is_empty(), "{site_writes:?}");
    assert_eq!(
        site_objects(&b)["index.html"].body,
        before["index.html"].body
    );
    assert_eq!(state_json(&b, "")["deployed"]["commit"], MEANWHILE);
}

#[test]
fn local_directory_target_writes_deletes_and_prunes() {
    let site = Site::new();
    let out = site.tmp.path().join("www");
    small_blog(&site);
    site.config(&format!(
        "[source]\ndir = \"public\"\n[targets.local]\nurl = \"file://{}\"\n",
        out.display()
    ));
    let c1 = site.commit("v1");
    site.run(&[]).ok();
    for f in [
        "index.html",
        "posts/a/index.html",
        "css/site.css",
        "img/logo.png",
    ] {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(site.path(&format!("public/{f}"))).unwrap()
        );
    }
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join(".git-publish/state.json")).unwrap())
            .unwrap();
    assert_eq!(st["deployed"]["commit"], c1.as_str());

    site.remove("public/posts/b/index.html");
    site.write("public/index.html", "v2");
    site.commit("v2");
    site.run(&[]).ok();
    assert!(!out.join("posts/b").exists(), "empty directory pruned");
    assert_eq!(
        std::fs::read_to_string(out.join("index.html")).unwrap(),
        "v2"
    );
    let leftovers: Vec<_> = walk(&out)
        .into_iter()
        .filter(|p| p.contains(".git-publish-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let s = site.run(&["status"]).ok();
    assert!(s.stdout.contains("up to date"), "{}", s.stdout);
}

/// The small blog committed as v1, with a `file://` target `www` in the site's temporary directory.
fn local_blog() -> (Site, std::path::PathBuf) {
    let site = Site::new();
    let out = site.tmp.path().join("www");
    small_blog(&site);
    site.config(&format!(
        "[source]\ndir = \"public\"\n[targets.local]\nurl = \"file://{}\"\n",
        out.display()
    ));
    site.commit("v1");
    (site, out)
}

#[test]
fn uncommitted_output_is_warned_about_and_not_published() {
    let (site, out) = local_blog();
    site.write("public/index.html", "uncommitted")
        .write("public/draft.html", "draft");
    let r = site.run(&[]).ok();
    assert!(
        r.stderr
            .contains("2 uncommitted changes in public are not published"),
        "{}",
        r.stderr
    );
    assert_ne!(
        std::fs::read_to_string(out.join("index.html")).unwrap(),
        "uncommitted"
    );
    assert!(!out.join("draft.html").exists());
}

/// Issue 30: without `git` on PATH the working tree can't be checked; the publish says so instead of
/// nothing (and still publishes what is committed).
#[test]
fn without_git_on_path_the_uncommitted_check_says_it_could_not_run() {
    let (site, out) = local_blog();
    site.write("public/draft.html", "draft");
    let empty = site.tmp.path().join("no-git-here");
    std::fs::create_dir_all(&empty).unwrap();
    let r = site
        .run_with(&[], &[("PATH", empty.to_str().unwrap())])
        .ok();
    assert!(
        r.stderr
            .contains("could not check public for uncommitted changes"),
        "{}",
        r.stderr
    );
    assert!(out.join("index.html").exists() && !out.join("draft.html").exists());
}

#[test]
fn since_and_full_and_rev() {
    let site = Site::new();
    let b = bucket("since");
    small_blog(&site);
    site.config(SiteToml::s3(&b));
    let c1 = site.commit("v1");
    site.write("public/index.html", "v2");
    let c2 = site.commit("v2");
    // Publish an older revision explicitly.
    let j = site.run(&["--rev", &c1, "--json"]).ok().json();
    assert_eq!(j["commit"], c1.as_str());
    assert_eq!(
        site_objects(&b)["index.html"].body,
        std::fs::read(site.path("public/index.html"))
            .map(|_| b"<h1>Home</h1><a href=/posts/a/>a</a>".to_vec())
            .unwrap()
    );
    // --since: pretend c1 is what's there (e.g. another tool filled it): only the diff is uploaded.
    let j = site.run(&["--since", &c1, "--json"]).ok().json();
    assert_eq!(strings(&j["uploads"]), ["index.html"]);
    assert_eq!(j["base"], c1.as_str());
    assert_eq!(j["commit"], c2.as_str());
    // --full re-sends everything.
    let j = site.run(&["--full", "--json"]).ok().json();
    assert_eq!(strings(&j["uploads"]).len(), 6);
}

#[test]
fn status_reports_live_commit_and_lag() {
    let site = Site::new();
    let b = bucket("status");
    small_blog(&site);
    site.config(SiteToml::s3(&b));
    site.commit("v1");
    let s = site.run(&["status"]).ok();
    assert!(s.stdout.contains("nothing deployed yet"), "{}", s.stdout);
    site.run(&[]).ok();
    site.write("public/index.html", "v2");
    site.commit("v2");
    site.write("public/index.html", "v3");
    site.commit("v3");
    let s = site.run(&["status"]).ok();
    assert!(s.stdout.contains("2 commits behind"), "{}", s.stdout);
    let j = site.run(&["status", "--json"]).ok().json();
    assert_eq!(j[0]["behind"], 2);
    assert_eq!(j[0]["target"], "production");
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

/// Issue 30: a directory target keeps its record and lock inside the served directory by default; its first
/// publish says so, once, with the fix (an explicit `state` there is warned about on every publish).
#[test]
fn a_directory_target_says_once_that_its_record_is_inside_the_served_directory() {
    let (site, _) = local_blog();
    let first = site.run(&[]).ok();
    assert!(
        first
            .stderr
            .contains("are kept inside the served directory")
            && first.stderr.contains(".git-publish/lock")
            && first.stderr.contains("set `state = \"file:///"),
        "{}",
        first.stderr
    );
    site.write("public/index.html", "v2");
    site.commit("v2");
    let second = site.run(&[]).ok();
    assert!(
        !second.stderr.contains("inside the served directory"),
        "{}",
        second.stderr
    );
}
