//! Header rules, metadata that follows config, server-side copies, delayed deletes and CloudFront discovery,
//! against moto's S3 + CloudFront.

use std::io::Read;

use crate::util::*;

const RULES: &str = r#"
[[rules]]
match = "uploads/**"
keep = true

[[rules]]
match = "drafts/**"
exclude = true

[[rules]]
match = "**/*.html"
cache_control = "public, max-age=60"
content_encoding = "gzip"

[[rules]]
match = "css/*.css"
cache_control = "public, max-age=31536000, immutable"
content_encoding = "br"

[[rules]]
match = "files/*"
content_disposition = "attachment"
content_type = "application/pdf"
metadata = { owner = "docs" }
"#;

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn unbrotli(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(b, 4096)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn rules_store_headers_and_encodings() {
    let site = Site::new();
    let b = bucket("rules");
    small_blog(&site);
    site.write("public/drafts/wip.html", "draft")
        .write("public/files/manual", "%PDF-1.4")
        .write("public/uploads/by-git.jpg", "jpg");
    site.config(SiteToml::s3(&b).then(RULES));
    site.commit("v1");
    site.run(&[]).ok();

    let objs = site_objects(&b);
    assert!(!objs.contains_key("drafts/wip.html"), "excluded");
    let home = &objs["index.html"];
    assert_eq!(home.content_encoding.as_deref(), Some("gzip"));
    assert_eq!(home.cache_control.as_deref(), Some("public, max-age=60"));
    assert_eq!(home.content_type, "text/html; charset=utf-8");
    assert_eq!(
        gunzip(&home.body),
        std::fs::read(site.path("public/index.html")).unwrap()
    );
    let css = &objs["css/site.css"];
    assert_eq!(css.content_encoding.as_deref(), Some("br"));
    assert_eq!(unbrotli(&css.body), b"body{}");
    let manual = &objs["files/manual"];
    assert_eq!(manual.content_type, "application/pdf");
    assert_eq!(manual.content_disposition.as_deref(), Some("attachment"));
    assert_eq!(manual.meta.get("owner").map(String::as_str), Some("docs"));
    assert!(manual.meta.contains_key("git-blob"));
    let logo = &objs["img/logo.png"];
    assert_eq!(
        (
            logo.content_encoding.as_deref(),
            logo.cache_control.as_deref()
        ),
        (None, None)
    );

    // `keep`: a file under uploads/ removed from the site stays in the bucket.
    site.remove("public/uploads/by-git.jpg");
    site.write("public/posts/a/index.html", "<h1>A2</h1>");
    site.commit("v2");
    let j = site.run(&["--json"]).ok().json();
    assert!(strings(&j["deletes"]).is_empty());
    assert!(site_objects(&b).contains_key("uploads/by-git.jpg"));
}

/// s3_website #116 / hugo deploy's TODO: a rule change must reach objects whose bytes did not change.
#[test]
fn rule_change_reapplies_metadata_with_zero_uploads() {
    let site = Site::new();
    let b = bucket("meta");
    let dist = distribution(&b);
    small_blog(&site);
    let v1 = "[[rules]]\nmatch = \"**/*.css\"\ncache_control = \"max-age=60\"\n";
    site.config(SiteToml::s3(&b).distribution(&dist).then(v1));
    site.commit("v1");
    site.run(&[]).ok();
    let before = site_objects(&b);
    assert_eq!(
        before["css/site.css"].cache_control.as_deref(),
        Some("max-age=60")
    );

    // Only site.toml changes: the output tree is the same.
    let v2 = "[[rules]]\nmatch = \"**/*.css\"\ncache_control = \"max-age=31536000\"\n\
              [[rules]]\nmatch = \"feed.xml\"\ncontent_type = \"application/rss+xml\"\n";
    site.config(SiteToml::s3(&b).distribution(&dist).then(v2));
    site.commit("v2: longer cache for css");
    let reqs_before = moto().requests(&b).len();
    let j = site.run(&["--json"]).ok().json();
    assert!(strings(&j["uploads"]).is_empty(), "{j}");
    assert_eq!(j["uploaded_bytes"], 0);
    assert_eq!(strings(&j["header_updates"]), ["css/site.css", "feed.xml"]);
    // Headers changed, so the cached responses are stale.
    assert_eq!(strings(&j["invalidations"]), ["/css/site.css", "/feed.xml"]);
    // Requests: PUT claim (on the record this clone kept: no GET), two CopyObject (PUT with a copy source),
    // PUT state.
    let reqs: Vec<Req> = moto().requests(&b)[reqs_before..].to_vec();
    assert_eq!(reqs.len(), 4, "{reqs:?}");

    let after = site_objects(&b);
    let css = &after["css/site.css"];
    assert_eq!(css.cache_control.as_deref(), Some("max-age=31536000"));
    assert_eq!(css.body, before["css/site.css"].body);
    assert_eq!(
        css.meta.get("git-blob"),
        before["css/site.css"].meta.get("git-blob")
    );
    assert_eq!(after["feed.xml"].content_type, "application/rss+xml");
    // The rules are recorded for the next publish: running again does nothing.
    let j = site.run(&["--json"]).ok().json();
    assert_eq!(j["status"], "nothing-to-do");
}

#[test]
fn delayed_deletes_happen_one_publish_later() {
    let site = Site::new();
    let b = bucket("delay");
    small_blog(&site);
    site.config(SiteToml::s3(&b).with("delay_deletes = true"));
    site.commit("v1");
    site.run(&[]).ok();
    site.remove("public/css/site.css");
    site.commit("v2");
    let j = site.run(&["--json"]).ok().json();
    assert!(strings(&j["deletes"]).is_empty());
    assert_eq!(strings(&j["deferred_deletes"]), ["css/site.css"]);
    assert!(
        site_objects(&b).contains_key("css/site.css"),
        "still there for cached pages"
    );
    site.write("public/feed.xml", "<rss>2</rss>");
    site.commit("v3");
    let j = site.run(&["--json"]).ok().json();
    assert_eq!(strings(&j["deletes"]), ["css/site.css"]);
    assert!(!site_objects(&b).contains_key("css/site.css"));
}

/// `distribution = "auto"` finds the distribution by its bucket origin, and the origin path is read from it:
/// a target under s3://bucket/site behind origin path /site invalidates /posts/a/, not /site/posts/a/.
#[test]
fn auto_distribution_and_origin_path() {
    let site = Site::new();
    let b = bucket("auto");
    let dist = distribution_with(&b, "/site", &[]);
    small_blog(&site);
    site.config(
        SiteToml::s3(&b)
            .prefix("site")
            .with("distribution = \"auto\"\nmax_invalidation_paths = 30"),
    );
    site.commit("v1");
    let r = site.run(&[]).ok();
    assert!(r.stderr.contains(&dist), "{}", r.stderr);
    site.write("public/posts/a/index.html", "<h1>A2</h1>");
    site.commit("v2");
    let j = site.run(&["--json", "--wait"]).ok().json();
    assert_eq!(
        strings(&j["invalidations"]),
        ["/posts/a/", "/posts/a/index.html"]
    );
    assert_eq!(j["distributions"][0]["distribution"], dist.as_str());
    assert_eq!(
        invalidations(&dist)[0],
        ["/posts/a/", "/posts/a/index.html"]
    );
}

#[test]
fn auto_distribution_ambiguous_lists_candidates_and_changes_nothing() {
    let site = Site::new();
    let b = bucket("ambig");
    let d1 = distribution_with(&b, "", &[]);
    let alias = format!("{}.example.com", unique("www").to_lowercase());
    let d2 = distribution_with(&b, "", &[&alias]);
    small_blog(&site);
    site.config(SiteToml::s3(&b).with("distribution = \"auto\""));
    site.commit("v1");
    let r = site.run(&[]).fails(1);
    assert!(
        r.stderr.contains(&d1) && r.stderr.contains(&d2),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("domain"),
        "the hint names the fix: {}",
        r.stderr
    );
    assert!(objects(&b).is_empty(), "nothing changed");

    // `domain` picks the one with that alias.
    site.config(SiteToml::s3(&b).with(&format!("distribution = \"auto\"\ndomain = \"{alias}\"")));
    site.commit("v1 with domain");
    site.run(&[]).ok();
    site.write("public/feed.xml", "<rss>2</rss>");
    site.commit("v2");
    site.run(&[]).ok();
    assert_eq!(invalidations(&d2)[0], ["/feed.xml"]);
    assert!(invalidations(&d1).is_empty());
}

#[test]
fn several_distributions_per_target() {
    let site = Site::new();
    let b = bucket("multi");
    let (d1, d2) = (distribution(&b), distribution(&b));
    small_blog(&site);
    site.config(SiteToml::s3(&b).with(&format!("distribution = [\"{d1}\", \"{d2}\"]")));
    site.commit("v1");
    site.run(&[]).ok();
    site.write("public/feed.xml", "<rss>2</rss>");
    site.commit("v2");
    let j = site.run(&["--json"]).ok().json();
    assert_eq!(j["invalidation_ids"].as_array().unwrap().len(), 2);
    assert_eq!(invalidations(&d1)[0], ["/feed.xml"]);
    assert_eq!(invalidations(&d2)[0], ["/feed.xml"]);
    // the month's path count (for `invalidation_budget`) is kept in the state
    assert_eq!(
        state_json(&b, "")["deployed"]["invalidation_paths_month"],
        2
    );
}

#[test]
fn iam_policy_for_the_configured_target() {
    let site = Site::new();
    site.config(
        SiteToml::s3("policy-bucket")
            .prefix("blog")
            .with("distribution = \"E2QWRUHAPOMQZL\""),
    );
    let r = site.run(&["iam-policy"]).ok();
    let p: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(p["Version"], "2012-10-17");
    let text = r.stdout;
    assert!(text.contains("arn:aws:s3:::policy-bucket/blog/*"), "{text}");
    assert!(text.contains("distribution/E2QWRUHAPOMQZL"), "{text}");
    assert!(text.contains("cloudfront:CreateInvalidation"), "{text}");
    let r = site.run(&["iam-policy", "--target", "nope"]).fails(2);
    assert!(r.stderr.contains("nope"), "{}", r.stderr);
}

/// CopyObject's source must be URL-encoded: a rename of a file with spaces, `+` and non-ASCII is still a copy.
#[test]
fn rename_of_a_tricky_name_is_a_copy() {
    let site = Site::new();
    let b = bucket("copyname");
    small_blog(&site);
    site.write("public/img/café x+y.png", "png bytes");
    site.config(SiteToml::s3(&b));
    site.commit("v1");
    site.run(&[]).ok();
    std::fs::create_dir_all(site.path("public/media")).unwrap();
    std::fs::rename(
        site.path("public/img/café x+y.png"),
        site.path("public/media/café x+y (1).png"),
    )
    .unwrap();
    site.commit("v2");
    let j = site.run(&["--json"]).ok().json();
    assert_eq!(strings(&j["copies"]), ["media/café x+y (1).png"]);
    assert!(strings(&j["uploads"]).is_empty());
    let objs = site_objects(&b);
    assert_eq!(objs["media/café x+y (1).png"].body, b"png bytes");
    assert_eq!(objs["media/café x+y (1).png"].content_type, "image/png");
    assert!(!objs.contains_key("img/café x+y.png"));
}

/// A local-directory target copies renamed files from its own directory and stores bytes uncompressed
/// (no header would tell a web server they were compressed).
#[test]
fn local_target_copies_and_never_compresses() {
    let site = Site::new();
    let out = site.path("www");
    small_blog(&site);
    site.config(&format!(
        "[source]\ndir = \"public\"\n[targets.local]\nurl = \"file://{}\"\n{RULES}",
        out.display()
    ));
    site.commit("v1");
    site.run(&[]).ok();
    assert_eq!(
        std::fs::read(out.join("index.html")).unwrap(),
        std::fs::read(site.path("public/index.html")).unwrap()
    );
    std::fs::rename(
        site.path("public/css/site.css"),
        site.path("public/css/main.css"),
    )
    .unwrap();
    site.commit("v2");
    let j = site.run(&["--json"]).ok().json();
    assert_eq!(strings(&j["copies"]), ["css/main.css"]);
    assert_eq!(std::fs::read(out.join("css/main.css")).unwrap(), b"body{}");
    assert!(!out.join("css/site.css").exists());
}

/// The free-tier count restarts with the UTC month, across a year boundary, and the recorded times come from
/// the injected clock (`GIT_PUBLISH_NOW`), never from the day the test runs.
#[test]
fn invalidation_budget_restarts_with_the_utc_month_and_year() {
    let site = Site::new();
    let b = bucket("budget-clock");
    let d = distribution(&b);
    small_blog(&site);
    site.config(SiteToml::s3(&b).distribution(&d));
    site.commit("v1");
    let at = |t: &str, n: &str| {
        site.write("public/feed.xml", format!("<rss>{n}</rss>"));
        site.commit(n);
        site.run_with(&["--json"], &[("GIT_PUBLISH_NOW", t)])
            .ok()
            .json()
    };
    site.run_with(&[], &[("GIT_PUBLISH_NOW", "2027-12-31T23:59:00Z")])
        .ok();
    let first = at("2027-12-31T23:59:58Z", "2");
    assert_eq!(first["budget"]["used"], 0);
    let last_second = at("2027-12-31T23:59:59Z", "3");
    assert_eq!(last_second["budget"]["used"], 1);
    let st = state_json(&b, "");
    assert_eq!(st["deployed"]["invalidation_month"], "2027-12");
    assert_eq!(st["deployed"]["invalidation_paths_month"], 2);
    assert_eq!(st["deployed"]["at"], "2027-12-31T23:59:59Z");

    let new_year = at("2028-01-01T00:00:00Z", "4");
    assert_eq!(new_year["budget"]["used"], 0, "a new month starts at 0");
    let st = state_json(&b, "");
    assert_eq!(st["deployed"]["invalidation_month"], "2028-01");
    assert_eq!(st["deployed"]["invalidation_paths_month"], 1);

    let leap = at("2028-02-29T12:00:00Z", "5");
    assert_eq!(leap["budget"]["used"], 0);
    let march = at("2028-03-01T00:00:00Z", "6");
    assert_eq!(march["budget"]["used"], 0);
    let log = site
        .run_with(
            &["log", "--json"],
            &[("GIT_PUBLISH_NOW", "2028-03-01T00:00:01Z")],
        )
        .ok()
        .json();
    let times: Vec<String> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["at"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        times[..3],
        [
            "2028-03-01T00:00:00Z",
            "2028-02-29T12:00:00Z",
            "2028-01-01T00:00:00Z"
        ]
    );
    // A clock that can't be read is refused with the variable's name.
    let bad = site
        .run_with(&["--dry-run"], &[("GIT_PUBLISH_NOW", "tomorrow")])
        .fails(2);
    assert!(bad.stderr.contains("GIT_PUBLISH_NOW"), "{}", bad.stderr);
}
