//! Moved pages: redirects from renamed pages and from `[[redirects]]`, written as S3
//! `WebsiteRedirectLocation` objects (moto stores the real field) and listed by `git publish redirects`.

use crate::util::*;

fn config(bucket: &str, dist: &str, extra: &str) -> String {
    format!(
        "[source]\ndir = \"public\"\n[targets.production]\nurl = \"s3://{bucket}\"\ndistribution = \"{dist}\"\n\
         redirect_renames = \"auto\"\n{extra}"
    )
}

/// A post with enough lines that an edit keeps it "similar".
fn post(title: &str, date: &str, edit: &str) -> String {
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
    site.config(&config(&b, &dist, ""));
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
    site.config(&config(&b, &dist, ""));
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
        .config(&config(
            &b,
            &dist,
            "[[redirects]]\nfrom = \"/old/\"\nto = \"/new/\"\n[[redirects]]\nfrom = \"/away.html\"\nto = \"https://example.com/\"\nstatus = 302\n",
        ));
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

    site.config(&config(
        &b,
        &dist,
        "[[redirects]]\nfrom = \"/new\"\nto = \"/\"\n",
    ));
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
    site.config(&format!(
        "[source]\ndir = \"public\"\n[targets.production]\nurl = \"s3://{b}\"\n"
    ));
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
