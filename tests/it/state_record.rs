//! The deploy record and the claim protocol's trust in the store (issue 14, items 4 and 5): what the record
//! says about who published, rules aimed at it, and the probe that stops on a store that ignores conditional
//! writes (s3rver) unless the target opts out with `locking = "none"`.

use crate::util::*;

/// `out` contains `want`, or the test fails showing `out`.
#[track_caller]
fn has(out: &str, want: &str) {
    assert!(out.contains(want), "expected {want:?} in:\n{out}");
}

/// The small blog, committed, with a new moto bucket as its target (`extra` lines in the target).
fn blog_with(name: &str, extra: &str) -> (Site, String) {
    let site = Site::new();
    let b = bucket(name);
    small_blog(&site);
    site.config(SiteToml::s3(&b).with(extra));
    site.commit("v1");
    (site, b)
}

/// The small blog published once to a new moto bucket (the record inside the site).
fn published_once(name: &str) -> (Site, String) {
    let (site, b) = blog_with(name, "");
    site.run(&[]).ok();
    (site, b)
}

/// `by` was `user@host`, readable by anyone through the site: now the publisher's name only, from
/// `publisher` (target, then top level), else git's `user.name`; no host or pid anywhere once released.
#[test]
fn deploy_record_names_the_publisher_without_host_or_pid() {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let site = Site::new();
    let b = bucket("by");
    small_blog(&site);
    site.git(&["config", "user.name", "Site Owner"]);
    site.config(SiteToml::s3(&b));
    site.commit("v1");
    site.run(&[]).ok();
    let st = state_json(&b, "");
    assert_eq!(st["deployed"]["by"], "Site Owner", "{st:#}");
    let text = st.to_string();
    assert!(!text.contains(&host), "the host is recorded: {text}");
    assert!(!text.contains("\"pid\""), "a pid is recorded: {text}");

    site.config(SiteToml::s3(&b).top("publisher = \"Deploy Bot\""));
    site.write("public/index.html", "v2").commit("v2");
    site.run(&[]).ok();
    assert_eq!(state_json(&b, "")["deployed"]["by"], "Deploy Bot");

    site.config(
        SiteToml::s3(&b)
            .top("publisher = \"Deploy Bot\"")
            .with("publisher = \"CI\""),
    );
    site.write("public/index.html", "v3").commit("v3");
    site.run(&[]).ok();
    let st = state_json(&b, "");
    assert_eq!(st["deployed"]["by"], "CI");
    let by: Vec<&str> = (st["history"].as_array().unwrap().iter())
        .map(|d| d["by"].as_str().unwrap())
        .collect();
    assert_eq!(by, ["CI", "Deploy Bot", "Site Owner"]);
    assert!(!st.to_string().contains(&host));
}

/// An `exclude` for the record was accepted and did nothing (the record stayed public): any rule whose
/// pattern names `.git-publish` is refused before anything is read or written.
#[test]
fn rules_naming_the_state_record_are_refused() {
    for glob in [".git-publish/**", "**/.git-publish/*", ".git-*/state.json"] {
        let rule = format!("[[rules]]\nmatch = \"{glob}\"\nexclude = true\n");
        let (site, b) = blog_with("rulestate", &rule);
        let r = site.run(&[]).fails(2);
        assert!(r.stderr.contains("rules[1]"), "{glob}: {}", r.stderr);
        assert!(r.stderr.contains("state record"), "{glob}: {}", r.stderr);
        assert!(objects(&b).is_empty(), "{glob}: something was written");
    }
    // A rule for everything is fine: it just never applies to the record.
    let (site, _) = blog_with(
        "rulestate",
        "[[rules]]\nmatch = \"**\"\ncache_control = \"x\"\n",
    );
    site.run(&[]).ok();
}

/// The first publish probes the store (a PUT with `If-None-Match: *` over an existing object and one with a
/// wrong `If-Match`, both answered 412 by moto), records the pass, and later publishes do not probe again.
#[test]
fn first_publish_probes_conditional_writes_once() {
    let site = Site::new();
    let b = bucket("probe");
    small_blog(&site);
    site.config(SiteToml::s3(&b));
    site.commit("v1");
    site.run(&[]).ok();
    let probes = |reqs: &[Req]| -> Vec<(String, u16)> {
        reqs.iter()
            .filter(|r| r.path.contains(".git-publish/probe"))
            .map(|r| (r.method.clone(), r.status))
            .collect()
    };
    let got = probes(&moto().requests(&b));
    assert_eq!(
        got,
        [
            ("PUT".to_string(), 200),
            ("PUT".to_string(), 412),
            ("PUT".to_string(), 412)
        ],
        "{got:?}"
    );
    let st = state_json(&b, "");
    assert_eq!(st["probe"]["conditional_writes"], true, "{st:#}");

    let before = moto().request_count(&b);
    site.write("public/index.html", "v2").commit("v2");
    site.run(&[]).ok();
    let later: Vec<Req> = moto().requests(&b).into_iter().skip(before).collect();
    assert!(probes(&later).is_empty(), "probed again: {later:?}");
}

/// A record with no probe result (written before the probe existed) and a commit with nothing to transfer:
/// the store is probed before the record is written, with no claim, and the pass is recorded.
#[test]
fn a_record_without_a_probe_is_probed_before_a_publish_with_nothing_to_transfer() {
    let site = Site::new();
    let b = bucket("probe-empty");
    small_blog(&site);
    site.config(SiteToml::s3(&b));
    site.commit("v1");
    site.run(&[]).ok();
    let mut st = state_json(&b, "");
    st.as_object_mut().unwrap().remove("probe");
    put_state(&b, &serde_json::to_vec(&st).unwrap());
    site.write("README.md", "only outside the output");
    let c2 = site.commit("v2");
    let before = moto().request_count(&b);
    site.run(&[]).ok();
    let sent: Vec<(String, String, u16)> = (moto().requests(&b).into_iter().skip(before))
        .map(|r| {
            (
                r.method,
                r.path.split('?').next().unwrap().to_string(),
                r.status,
            )
        })
        .collect();
    let (state, probe) = (
        format!("/{b}/.git-publish/state.json"),
        format!("/{b}/.git-publish/probe"),
    );
    // This clone kept the record it wrote, whose ETag the edit above changed: its one conditional write of
    // the record is refused (412; the GET checks whether its own attempt had landed), then it reads the
    // record, plans again, probes and writes.
    let want = [
        ("PUT", &state, 412),
        ("GET", &state, 200),
        ("GET", &state, 200),
        ("PUT", &probe, 412),
        ("PUT", &probe, 412),
        ("PUT", &probe, 412),
        ("PUT", &state, 200),
    ]
    .map(|(m, p, s)| (m.to_string(), p.to_string(), s));
    assert_eq!(
        sent, want,
        "refused write, read, probe (it exists: three refusals), one write"
    );
    let st = state_json(&b, "");
    assert_eq!(st["probe"]["conditional_writes"], true, "{st:#}");
    assert_eq!(st["deployed"]["commit"], c2.as_str());
}

/// s3rver answers 200 to a conditional PUT that must fail: the publish stops, naming the store and the fix,
/// and nothing of the site is written. The claim it sent beside the probe is given back (deleted: there was
/// no record).
#[test]
fn store_ignoring_conditional_writes_is_refused() {
    let srv = s3rver();
    let prefix = unique("ignored");
    let site = Site::new();
    small_blog(&site);
    site.config(srv.site_toml(&prefix));
    site.commit("v1");
    let r = site.run_with(&[], S3rver::ENV).fails(4);
    has(&r.stderr, "ignores conditional writes");
    has(&r.stderr, "If-None-Match");
    has(&r.stderr, "locking = \"none\"");
    assert_eq!(srv.keys(&prefix), [format!("{prefix}/.git-publish/probe")]);
}

/// A record already there (written under `locking = "none"`), then locking turned back on: the probe finds the
/// store ignoring conditions, and the claim sent beside it is given back by writing the record as it was read.
#[test]
fn a_claim_the_probe_does_not_back_is_given_back() {
    let srv = s3rver();
    let prefix = unique("giveback");
    let site = Site::new();
    small_blog(&site);
    let config = || srv.site_toml(&prefix);
    site.config(config().with("locking = \"none\""));
    site.commit("v1");
    site.run_with(&[], S3rver::ENV).ok();
    let key = format!("{prefix}/.git-publish/state.json");
    let record = |b: Vec<u8>| serde_json::from_slice::<serde_json::Value>(&b).unwrap();
    let (before, page) = (
        record(srv.get(&key)),
        srv.get(&format!("{prefix}/index.html")),
    );

    site.config(config());
    site.write("public/index.html", "v2").commit("v2");
    let r = site.run_with(&[], S3rver::ENV).fails(4);
    has(&r.stderr, "ignores conditional writes");
    assert_eq!(record(srv.get(&key)), before, "the record is as it was");
    assert_eq!(srv.get(&format!("{prefix}/index.html")), page);
}

/// `locking = "none"` is the documented opt-in for such a store: it publishes, without probing, and warns on
/// every publish.
#[test]
fn locking_none_publishes_to_such_a_store_with_a_warning() {
    let srv = s3rver();
    let prefix = unique("nolock");
    let site = Site::new();
    small_blog(&site);
    site.config(srv.site_toml(&prefix).with("locking = \"none\""));
    site.commit("v1");
    for v in ["v2", "v3"] {
        let r = site.run_with(&[], S3rver::ENV).ok();
        has(&r.stderr, "locking = \"none\"");
        site.write("public/index.html", v).commit(v);
    }
    let keys = srv.keys(&prefix);
    assert!(keys.contains(&format!("{prefix}/index.html")), "{keys:?}");
    assert!(!keys.iter().any(|k| k.ends_with("/probe")), "{keys:?}");
}

/// `iam-policy --bucket-policy`: CloudFront (this distribution) reads the site, no distribution reads the
/// record; S3 (moto) accepts the document as a bucket policy.
#[test]
fn bucket_policy_keeps_the_record_from_cloudfront() {
    let site = Site::new();
    let b = bucket("oac");
    small_blog(&site);
    site.config(SiteToml::s3(&b).with("distribution = \"E2QWRUHAPOMQZL\""));
    let r = site
        .run(&[
            "iam-policy",
            "--bucket-policy",
            "--account-id",
            "123456789012",
        ])
        .ok();
    let p = r.json();
    let s = &p["Statement"];
    assert_eq!(
        s[0]["Condition"]["StringEquals"]["AWS:SourceArn"],
        serde_json::json!(["arn:aws:cloudfront::123456789012:distribution/E2QWRUHAPOMQZL"])
    );
    assert_eq!(s[1]["Effect"], "Deny");
    assert_eq!(s[1]["Resource"], format!("arn:aws:s3:::{b}/.git-publish/*"));
    rt().block_on(
        s3().put_bucket_policy()
            .bucket(&b)
            .policy(r.stdout.clone())
            .send(),
    )
    .unwrap();
    let r = site.run(&["iam-policy", "--bucket-policy"]).fails(2);
    has(&r.stderr, "--account-id");
}

/// `state = "s3://PRIVATE/KEY"`: a record at the old place (inside the site) is moved there once: a dry run
/// leaves it, the next publish writes it to the private bucket and deletes it (and the probe) from the site.
#[test]
fn state_in_a_private_bucket_is_moved_there_once() {
    let (site, b) = published_once("public-site");
    let private = bucket("private-state");
    assert!(objects(&b).contains_key(".git-publish/state.json"));

    let moved = format!("state = \"s3://{private}/sites/blog.json\"");
    site.config(SiteToml::s3(&b).with(&moved));
    site.run(&["--dry-run"]).ok();
    assert!(
        objects(&b).contains_key(".git-publish/state.json"),
        "a dry run moved it"
    );
    assert!(objects(&private).is_empty());
    // Until a publish moves it, `status` and `log` read it where it is.
    let head = site.git(&["rev-parse", "HEAD"]);
    let st = site.run(&["status", "--json"]).ok().json();
    assert_eq!(st[0]["deployed"]["commit"], head.as_str(), "{st:#}");
    let log = site.run(&["log", "--json"]).ok().json();
    assert_eq!(log["entries"].as_array().unwrap().len(), 1, "{log:#}");
    let r = site.run(&[]).ok();
    assert!(
        r.stdout.contains("nothing to do") || r.stderr.contains("nothing to do"),
        "{r:?}"
    );
    let keys: Vec<String> = objects(&b).into_keys().collect();
    assert!(!keys.iter().any(|k| k.contains(".git-publish")), "{keys:?}");
    let rec = &objects(&private)["sites/blog.json"];
    let rec: serde_json::Value = serde_json::from_slice(&rec.body).unwrap();
    assert_eq!(rec["history"].as_array().unwrap().len(), 1, "{rec:#}");

    site.write("public/index.html", "v2").commit("v2");
    site.run(&[]).ok();
    let rec: serde_json::Value =
        serde_json::from_slice(&objects(&private)["sites/blog.json"].body).unwrap();
    assert_eq!(rec["history"].as_array().unwrap().len(), 2, "{rec:#}");
    assert!(!objects(&b).keys().any(|k| k.contains(".git-publish")));
    // The moved record keeps its probe result (same endpoint): nothing else is written beside it.
    let keys: Vec<String> = objects(&private).into_keys().collect();
    assert_eq!(keys, ["sites/blog.json"]);
}

/// A move that stopped between its write and its delete (both records there) is finished by the next run.
#[test]
fn a_half_done_move_is_finished_by_the_next_run() {
    let (site, b) = published_once("half-site");
    let private = bucket("half-state");
    let record = objects(&b)[".git-publish/state.json"].body.clone();
    rt().block_on(
        s3().put_object()
            .bucket(&private)
            .key(".git-publish/state.json")
            .body(record.into())
            .send(),
    )
    .unwrap();
    site.config(SiteToml::s3(&b).with(&format!("state = \"s3://{private}\"")));
    site.write("public/index.html", "v2").commit("v2");
    site.run(&[]).ok();
    assert!(!objects(&b).keys().any(|k| k.contains(".git-publish")));
    let st = state_json(&private, "");
    assert_eq!(st["history"].as_array().unwrap().len(), 2, "{st:#}");
}

/// For a file:// target the record can live outside the served directory; inside it, a warning says so.
#[test]
fn file_target_state_outside_the_served_directory() {
    let site = Site::new();
    small_blog(&site);
    let www = site.path("www");
    let private = site.path("private");
    let config = |state: &std::path::Path| {
        format!(
            "[source]\ndir = \"public\"\n[targets.local]\nurl = \"file://{}\"\nstate = \"file://{}\"\n",
            www.display(),
            state.display()
        )
    };
    site.config(&config(&private));
    site.commit("v1");
    let r = site.run(&[]).ok();
    assert!(
        !r.stderr.contains("inside the served directory"),
        "{}",
        r.stderr
    );
    assert!(private.join(".git-publish/state.json").exists());
    assert!(!www.join(".git-publish").exists());
    assert!(www.join("index.html").exists());

    site.config(&config(&www.join("deploy.json")));
    site.write("public/index.html", "v2").commit("v2");
    let r = site.run(&[]).ok();
    has(&r.stderr, "inside the served directory");
}

/// `doctor` against moto: every check passes (credentials, region, the distribution's origin, conditional
/// writes), `--json` lists them; a wrong `region` fails with the fix and exit 1.
#[test]
fn doctor_checks_a_target_against_moto() {
    let site = Site::new();
    let b = bucket("doctor");
    let dist = distribution(&b);
    site.config(SiteToml::s3(&b).with(&format!(
        "distribution = \"{dist}\"\nregion = \"us-east-1\""
    )));
    let r = site.run(&["doctor"]).ok();
    for check in [
        "✓ credentials",
        "✓ region",
        &format!("✓ distribution {dist}"),
        "✓ conditional writes",
    ] {
        assert!(r.stdout.contains(check), "{check}: {}", r.stdout);
    }
    let j = site.run(&["doctor", "--json"]).ok().json();
    assert_eq!(j["ok"], true);
    let names: Vec<&str> = (j["checks"].as_array().unwrap().iter())
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "credentials",
            "region",
            &format!("distribution {dist}"),
            "conditional writes"
        ]
    );

    site.config(SiteToml::s3(&b).with("region = \"eu-west-1\""));
    let r = site.run(&["doctor"]).fails(1);
    has(&r.stdout, "✗ region");
    has(&r.stdout, "fix: set `region = \"us-east-1\"`");
}

/// `doctor` against s3rver: the conditional-write check fails with the fix (exit 1).
#[test]
fn doctor_finds_a_store_ignoring_conditional_writes() {
    let srv = s3rver();
    let site = Site::new();
    site.config(srv.site_toml(&unique("doctor")));
    let r = site.run_with(&["doctor"], S3rver::ENV).fails(1);
    has(&r.stdout, "✓ credentials");
    has(&r.stdout, "✗ conditional writes");
    has(&r.stdout, "locking = \"none\"");
}

/// Let anyone read bucket `b` (moto honours bucket policies for unsigned requests: a public bucket, or a
/// distribution that serves every key).
fn make_public(b: &str) {
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{b}/*"),
        }],
    });
    rt().block_on(
        s3().put_bucket_policy()
            .bucket(b)
            .policy(policy.to_string())
            .send(),
    )
    .unwrap();
}

/// `doctor --site-url` against moto serving a public bucket: the record published into the site is readable
/// at the site's URL, ✗ with the fix, exit 1 (it was only a `curl` to run by hand). A site that answers 404
/// for it passes, and so does a record kept elsewhere with `state` (no request made); nothing listening is
/// "not checked", naming the URL. A bad `--site-url` is refused before anything runs.
#[test]
fn doctor_finds_the_record_readable_at_the_public_url() {
    let (site, b) = published_once("public-url");
    make_public(&b);
    let base = format!("{}/{b}", moto().endpoint);
    let url = format!("{base}/.git-publish/state.json");

    let r = site.run(&["doctor", "--site-url", &base]).fails(1);
    has(&r.stdout, "✗ public record");
    has(
        &r.stdout,
        &format!("GET {url} answered 200 with the deploy record"),
    );
    has(&r.stdout, "git publish iam-policy --bucket-policy");
    has(&r.stdout, "state = \"s3://PRIVATE-BUCKET/KEY\"");
    let j = site
        .run(&["doctor", "--json", "--site-url", &format!("{base}/")])
        .fails(1)
        .json();
    assert_eq!(j["ok"], false);
    let last = j["checks"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["check"], "public record", "{j:#}");
    assert_eq!(last["ok"], false, "{j:#}");

    // A site that doesn't serve the record (moto answers 404 for a key that isn't there).
    let other = bucket("public-url-empty");
    let r = site
        .run(&[
            "doctor",
            "--site-url",
            &format!("{}/{other}", moto().endpoint),
        ])
        .ok();
    has(&r.stdout, "✓ public record");
    has(&r.stdout, "answered 404: the record is not public there");

    // Nothing listening: not a verdict, named with its URL.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = site
        .run(&[
            "doctor",
            "--site-url",
            &format!("http://127.0.0.1:{closed}"),
        ])
        .ok();
    has(
        &r.stdout,
        &format!(
            "- public record: not checked: GET http://127.0.0.1:{closed}/.git-publish/state.json: "
        ),
    );

    // `state` in the same bucket is still served by it.
    let same = format!("state = \"s3://{b}/deploy/site.json\"");
    site.config(SiteToml::s3(&b).with(&same));
    site.run(&[]).ok();
    let r = site.run(&["doctor", "--site-url", &base]).fails(1);
    has(
        &r.stdout,
        &format!("✗ public record: GET {base}/deploy/site.json answered 200"),
    );

    // The record moved out of the site: the URL answers 404, and doctor passes without asking it.
    let private = bucket("public-url-private");
    site.config(SiteToml::s3(&b).with(&format!("state = \"s3://{private}/site.json\"")));
    site.run(&[]).ok();
    let r = site.run(&["doctor", "--site-url", &base]).ok();
    has(
        &r.stdout,
        &format!(
            "✓ public record: the record is kept at s3://{private}/site.json, outside the site"
        ),
    );
    site.config(SiteToml::s3(&b));
    let r = site.run(&["doctor", "--site-url", &base]).ok();
    has(&r.stdout, "answered 404");

    for (bad, says) in [
        ("http://example.com", "loopback"),
        ("https://user:secret@example.com", "user name or password"),
    ] {
        let r = site.run(&["doctor", "--site-url", bad]).fails(2);
        has(&r.stderr, says);
        assert!(!r.stderr.contains("secret"), "{}", r.stderr);
    }
}

/// A record of a later format than this build reads (issue 27: the record is versioned) is refused before
/// anything is written, by a plain publish, by `--full --force-state` (which replaces an unreadable record,
/// but never a newer one) and by a publish that would move it to `state = …`; the message names the record's
/// key, its format and the fix.
#[test]
fn a_record_of_a_newer_format_is_refused_and_nothing_is_written() {
    let (site, b) = published_once("newer-format");
    let mut st = state_json(&b, "");
    let newer = st["format"].as_u64().unwrap() + 1;
    st["format"] = newer.into();
    st["written_by_the_future"] = serde_json::json!({"anything": true});
    put_state(&b, &serde_json::to_vec(&st).unwrap());
    let private = bucket("newer-format-private");
    let bodies = |b: &str| -> Vec<(String, Vec<u8>)> {
        (objects(b).into_iter()).map(|(k, o)| (k, o.body)).collect()
    };
    let before = (bodies(&b), moto().request_count(&b));
    site.write("public/index.html", "v2").commit("v2");

    let moved = format!("state = \"s3://{private}/blog.json\"");
    for (args, extra) in [
        (&[][..], ""),
        (&["--full", "--force-state"][..], ""),
        (&[][..], moved.as_str()),
    ] {
        site.config(SiteToml::s3(&b).with(extra));
        let r = site.run(args).fails(1);
        has(&r.stderr, ".git-publish/state.json");
        has(&r.stderr, &format!("newer git-publish (format {newer}"));
        has(&r.stderr, "upgrade git-publish");
        has(&r.stderr, "`--force-state` never replaces");
    }
    let writes: Vec<Req> = (moto().requests(&b).into_iter().skip(before.1))
        .filter(|q| q.method != "GET" && q.method != "HEAD" && q.status < 300)
        .collect();
    assert!(writes.is_empty(), "written: {writes:?}");
    assert_eq!(bodies(&b), before.0, "the bucket changed");
    assert!(objects(&private).is_empty(), "the record was moved");
}
