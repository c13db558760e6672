//! Moved pages: redirects from renamed pages and from `[[redirects]]`, written as S3
//! `WebsiteRedirectLocation` objects (moto stores the real field) and listed by `git publish redirects`.

use crate::util::*;

/// A post with enough lines that an edit keeps it "similar".
pub(crate) fn post(title: &str, date: &str, edit: &str) -> String {
    let mut s = format!(
        "<html><head><title>{title}</title></head><body>\n<h1>{title}</h1>\n<p>{date}</p>\n"
    );
    for i in 0..12 {
        s.push_str(&format!(
            "<p>paragraph {i} of {title}: some words about the subject</p>\n"
        ));
    }
    s.push_str(edit);
    s.push_str("</body></html>\n");
    s
}

fn website_redirect(bucket: &str, key: &str) -> Option<String> {
    rt().block_on(async {
        let h = s3()
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        h.website_redirect_location().map(str::to_string)
    })
}

/// Publish the pages `(path, title, date, extra)` (plus a home page), then move each to its new path with
/// its new date and extra text, and commit that.
fn publish_then_move(site: &Site, moves: &[(&str, &str, &str, &str, &str, &str)]) {
    site.write("public/index.html", "<h1>Home</h1>");
    for (old, _, title, date, _, _) in moves {
        site.write(&format!("public/{old}/index.html"), post(title, date, ""));
    }
    site.commit("v1");
    site.run(&[]).ok();
    for (old, new, title, _, new_date, edit) in moves {
        site.remove(&format!("public/{old}/index.html")).write(
            &format!("public/{new}/index.html"),
            post(title, new_date, edit),
        );
    }
    site.commit("move pages");
}

/// `want` each appear in `text`.
#[track_caller]
fn contains_all(text: &str, want: &[&str]) {
    for w in want {
        assert!(text.contains(w), "{w:?} not in:\n{text}");
    }
}

/// The done-when check of issue 16: renaming 3 posts (one exact, one edited, one with a changed date path)
/// yields 3 redirects covering both URL forms of each; publishing again makes no request beyond the state's.
#[test]
fn three_renamed_posts_redirect_from_both_url_forms() {
    let site = Site::new();
    let b = bucket("redir");
    let dist = distribution(&b);
    site.config(
        SiteToml::s3(&b)
            .distribution(&dist)
            .with("redirect_renames = \"auto\""),
    );
    publish_then_move(
        &site,
        &[
            (
                "2024/01/01/one",
                "2024/01/01/one-renamed",
                "One",
                "2024-01-01",
                "2024-01-01",
                "",
            ),
            (
                "2024/01/02/two",
                "2024/01/02/two-edited",
                "Two",
                "2024-01-02",
                "2024-01-02",
                "<p>edited</p>\n",
            ),
            (
                "2024/01/03/three",
                "2024/03/03/three",
                "Three",
                "2024-01-03",
                "2024-03-03",
                "",
            ),
        ],
    );
    let dry = site.run(&["--dry-run"]).ok();
    assert!(
        dry.stdout
            .contains("> /2024/01/01/one/ → /2024/01/01/one-renamed/"),
        "{}",
        dry.stdout
    );
    let j = site.run(&["--json"]).ok().json();
    let puts = j["redirects"]["puts"].as_array().unwrap();
    assert_eq!(puts.len(), 3, "{j:#}");
    assert!(
        strings(&j["deletes"]).is_empty(),
        "the old keys hold the redirects: {j:#}"
    );
    for (old, new) in [
        ("2024/01/01/one", "/2024/01/01/one-renamed/"),
        ("2024/01/02/two", "/2024/01/02/two-edited/"),
        ("2024/01/03/three", "/2024/03/03/three/"),
    ] {
        let key = format!("{old}/index.html");
        assert_eq!(website_redirect(&b, &key).as_deref(), Some(new), "{key}");
        let invalidated = strings(&j["invalidations"]);
        for form in [format!("/{old}/"), format!("/{old}/index.html")] {
            assert!(invalidated.contains(&form), "{form} not in {invalidated:?}");
        }
    }
    let state = state_json(&b, "");
    assert_eq!(state["deployed"]["redirects"].as_array().unwrap().len(), 3);

    // Listed, human and --json.
    let list = site.run(&["redirects"]).ok();
    assert!(
        list.stdout.contains(
            "/2024/01/02/two/, /2024/01/02/two/index.html → /2024/01/02/two-edited/ (301, renamed)"
        ),
        "{}",
        list.stdout
    );
    let l = site.run(&["redirects", "--json"]).ok().json();
    assert_eq!(l.as_array().unwrap().len(), 3);
    assert_eq!(
        l[0]["urls"],
        serde_json::json!(["/2024/01/01/one/", "/2024/01/01/one/index.html"])
    );

    // Publishing again changes nothing; a new commit without site changes writes only the state.
    site.write("README.md", "outside the output");
    site.commit("unrelated");
    let before = moto().request_count(&b);
    let j = site.run(&["--json"]).ok().json();
    assert!(
        j["redirects"]["puts"].as_array().unwrap().is_empty(),
        "{j:#}"
    );
    let reqs: Vec<Req> = moto().requests(&b).into_iter().skip(before).collect();
    assert!(reqs.len() <= 3, "only the state's requests: {reqs:?}");
}

/// A page published again at a redirected path takes it back: the redirect is dropped from the table and
/// its URLs (cached as redirects) are invalidated.
#[test]
fn republishing_at_the_old_path_removes_the_redirect() {
    let site = Site::new();
    let b = bucket("redir-back");
    let dist = distribution(&b);
    site.config(
        SiteToml::s3(&b)
            .distribution(&dist)
            .with("redirect_renames = \"auto\""),
    );
    publish_then_move(&site, &[("a", "b", "A", "1", "1", "")]);
    site.run(&[]).ok();
    assert_eq!(website_redirect(&b, "a/index.html").as_deref(), Some("/b/"));
    site.write("public/a/index.html", post("A again", "2", ""));
    site.commit("a is back");
    let j = site.run(&["--json"]).ok().json();
    assert_eq!(website_redirect(&b, "a/index.html"), None);
    assert!(
        strings(&j["invalidations"]).contains(&"/a/".to_string()),
        "{j:#}"
    );
    assert!(state_json(&b, "")["deployed"]["redirects"].is_null());
}

/// `[[redirects]]` from config: written once, with 302 kept in the table; a `from` that is a published file
/// is refused before anything changes.
#[test]
fn config_redirects_are_written_and_checked() {
    let site = Site::new();
    let b = bucket("redir-cfg");
    let dist = distribution(&b);
    site.write("public/index.html", "<h1>Home</h1>")
        .write("public/new/index.html", "<h1>New</h1>")
        .config(SiteToml::s3(&b).distribution(&dist).with("redirect_renames = \"auto\"").then("[[redirects]]\nfrom = \"/old/\"\nto = \"/new/\"\n[[redirects]]\nfrom = \"/away.html\"\nto = \"https://example.com/\"\nstatus = 302\n"));
    site.commit("v1");
    site.run(&[]).ok();
    assert_eq!(
        website_redirect(&b, "old/index.html").as_deref(),
        Some("/new/")
    );
    assert_eq!(
        website_redirect(&b, "away.html").as_deref(),
        Some("https://example.com/")
    );

    site.config(
        SiteToml::s3(&b)
            .distribution(&dist)
            .with("redirect_renames = \"auto\"")
            .then("[[redirects]]\nfrom = \"/new\"\nto = \"/\"\n"),
    );
    site.commit("bad");
    let before = moto().request_count(&b);
    let r = site.run(&[]).fails(2);
    contains_all(
        &r.stderr,
        &[
            "from = \"/new\" is a published file (new/index.html)",
            "remove the [[redirects]] entry",
        ],
    );
    let writes = moto()
        .requests(&b)
        .into_iter()
        .skip(before)
        .filter(|r| r.method == "PUT")
        .count();
    assert_eq!(writes, 0, "nothing written");
}

/// Without `auto`, a publish outside a terminal (hooks, CI) only shows the renames it found.
#[test]
fn ask_mode_without_a_terminal_only_proposes() {
    let site = Site::new();
    let b = bucket("redir-ask");
    site.config(SiteToml::s3(&b));
    publish_then_move(&site, &[("a", "b", "A", "1", "1", "")]);
    let r = site.run(&[]).ok();
    assert!(r.stdout.contains("? /a/ → /b/"), "{}", r.stdout);
    assert!(
        r.stderr.contains("redirect_renames = \"auto\""),
        "{}",
        r.stderr
    );
    assert!(
        !site_objects(&b).contains_key("a/index.html"),
        "deleted, not redirected"
    );
}

/// A local directory has no redirect field: the old page becomes a small HTML page that redirects.
#[test]
fn local_target_writes_a_redirect_page() {
    let site = Site::new();
    let out = tempfile::tempdir().unwrap();
    site.config(&format!(
        "[source]\ndir = \"public\"\n[targets.local]\nurl = \"file://{}\"\nredirect_renames = \"auto\"\n",
        out.path().display()
    ));
    publish_then_move(&site, &[("a", "b", "A", "1", "1", "")]);
    site.run(&[]).ok();
    let page = std::fs::read_to_string(out.path().join("a/index.html")).unwrap();
    contains_all(
        &page,
        &[
            "<meta http-equiv=\"refresh\" content=\"0; url=/b/\">",
            "<link rel=\"canonical\" href=\"/b/\">",
        ],
    );
}

/// The live code of CloudFront function `name` in moto.
pub(crate) fn live_function(name: &str) -> Option<String> {
    use aws_sdk_cloudfront::types::FunctionStage;
    rt().block_on(async {
        let got = (cloudfront()
            .get_function()
            .name(name)
            .stage(FunctionStage::Live))
        .send()
        .await
        .ok()?;
        let code = got.function_code()?.as_ref().to_vec();
        Some(String::from_utf8(code).unwrap())
    })
}

/// `cdn_function = "manage"`: the function is created with the redirect table and published, associated with
/// the default cache behaviour as the viewer-request function (asserted on the request sent), left alone while
/// its code is live, and updated (If-Match) and published again when the table changes. moto lacks
/// UpdateFunction/PublishFunction; tests/moto/server.py adds them.
#[test]
fn managed_cdn_function_is_published_associated_and_updated_only_on_change() {
    use crate::proxy::{Config, Logged, Proxy};
    let site = Site::new();
    let b = bucket("redir-fn");
    let dist = distribution(&b);
    let redirect = "[[redirects]]\nfrom = \"/old/\"\nto = \"/\"\n";
    site.config(
        SiteToml::s3(&b)
            .distribution(&dist)
            .with("redirect_renames = \"auto\"")
            .managed_function()
            .then(redirect),
    );
    let proxy = Proxy::start(&moto().endpoint, Config::default());
    let env = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    site.write("public/index.html", "<h1>Home</h1>")
        .write("public/a/index.html", post("A", "1", ""));
    site.commit("v1");
    tag_for_site(&site, &dist);
    site.run_with(&[], &env).ok();
    let (name, _) = site_names(&site);
    let code = live_function(&name).expect("created on the first publish");
    assert!(code.contains("\"/old/\": [\"/\", 301]"), "{code}");
    let printed = site.run(&["cdn-function", "--print"]).ok().stdout;
    assert_eq!(printed.trim_end(), code.trim_end());
    let sent = |what: &dyn Fn(&Logged) -> bool| -> Vec<Logged> {
        proxy.requests().into_iter().filter(|r| what(r)).collect()
    };
    let body = |r: &Logged| String::from_utf8_lossy(&r.body).into_owned();
    let published = sent(&|r| r.path.ends_with(&format!("/function/{name}/publish")));
    assert!(
        published.len() == 1 && published[0].conditional,
        "PublishFunction with If-Match: {published:?}"
    );
    let config_path = format!("/distribution/{dist}/config");
    let updates = sent(&|r| r.method == "PUT" && r.path.ends_with(&config_path));
    assert!(
        updates.iter().any(|r| r.conditional
            && body(r).contains("<EventType>viewer-request</EventType>")
            && body(r).contains(&format!(":function/{name}"))),
        "UpdateDistribution with If-Match and the association: {updates:?}"
    );

    // Same table: no function writes.
    let writes = |p: &Proxy| {
        (p.requests().into_iter())
            .filter(|r| r.path.contains("/function") && r.method != "GET")
            .count()
    };
    let before = writes(&proxy);
    site.write("README.md", "outside the output");
    site.commit("unrelated");
    site.run_with(&[], &env).ok();
    assert_eq!(
        writes(&proxy),
        before,
        "same code: no Create/Update/PublishFunction"
    );

    // A moved page changes the table: UpdateFunction (If-Match) with the new code, then PublishFunction.
    site.remove("public/a/index.html")
        .write("public/b/index.html", post("A", "1", ""));
    site.commit("a → b");
    site.run_with(&[], &env).ok();
    let update = sent(&|r| r.method == "PUT" && r.path == format!("/2020-05-31/function/{name}"));
    assert!(
        update.len() == 1 && update[0].conditional,
        "UpdateFunction with If-Match: {update:?}"
    );
    let b64 = body(&update[0]);
    let b64 = b64
        .split("<FunctionCode>")
        .nth(1)
        .unwrap()
        .split("</FunctionCode>")
        .next()
        .unwrap();
    let new_code = String::from_utf8(aws_smithy_types::base64::decode(b64).unwrap()).unwrap();
    assert!(new_code.contains("\"/a/\": [\"/b/\", 301]"), "{new_code}");
    assert_eq!(sent(&|r| r.path.ends_with("/publish")).len(), 2);
}

/// `redirect_renames = "ask"` (the default) on a terminal: the plan shows the move and asks; "y" applies it.
#[test]
fn ask_mode_on_a_terminal_asks_and_applies_on_yes() {
    let site = Site::new();
    let b = bucket("redir-pty");
    site.config(SiteToml::s3(&b));
    publish_then_move(&site, &[("a", "b", "A", "1", "1", "")]);
    let mut cmd = std::process::Command::new(bin());
    site.env(&mut cmd);
    cmd.current_dir(&site.dir);
    let mut p = rexpect::session::spawn_command(cmd, Some(60_000)).unwrap();
    // (rexpect reads bytes as Latin-1: match around the arrow)
    p.exp_string("? /a/ ").unwrap();
    p.exp_string(" /b/\r\n").unwrap();
    p.exp_string("redirect their old URLs to the new ones? [y/N]")
        .unwrap();
    p.send_line("y").unwrap();
    p.exp_eof().unwrap();
    let status = p.process().wait().unwrap();
    assert!(
        matches!(status, rexpect::process::WaitStatus::Exited(_, 0)),
        "{status:?}"
    );
    assert_eq!(website_redirect(&b, "a/index.html").as_deref(), Some("/b/"));
}
