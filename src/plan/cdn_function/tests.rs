use super::*;
use crate::plan::redirects::Origin;

pub(super) fn redirect(from: &str, to: &str, status: u16) -> Redirect {
    Redirect {
        from: from.into(),
        to: to.into(),
        status,
        origin: Origin::Rename,
    }
}

/// Write `script` (the harness and its checks) as `file` in `dir`, run it under node, and fail with its output
/// when a check failed.
pub(super) fn run_node(dir: &tempfile::TempDir, file: &str, script: &str) {
    std::fs::write(
        dir.path().join(file),
        format!("{script}process.exit(failed ? 1 : 0);\n"),
    )
    .unwrap();
    let out = std::process::Command::new("node")
        .arg(file)
        .current_dir(dir.path())
        .output()
        .expect("node runs (the function's tests need it)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Pages served at `/about` (`pretty_urls`).
pub(super) fn pretty() -> UrlForms {
    UrlForms {
        pretty: true,
        ..UrlForms::default()
    }
}

/// Directories served at `/dir` too.
pub(super) fn bare() -> UrlForms {
    UrlForms {
        dir_bare: true,
        ..UrlForms::default()
    }
}

pub(super) fn table() -> Vec<Redirect> {
    vec![
        redirect("posts/old/index.html", "/posts/new/", 301),
        redirect("away.html", "https://example.com/x?ref=blog", 302),
    ]
}

/// The function runs under node on a table of viewer-request events: (uri, query, forms, expected result).
/// A result is `200 <uri the origin gets>` or `<status> <location>`.
#[test]
fn node_runs_the_function_on_a_table_of_events() {
    let plain = UrlForms::default();
    let pretty = pretty();
    let bare = bare();
    #[rustfmt::skip]
    let cases: &[(&str, &str, &UrlForms, &str)] = &[
        // directory index
        ("/", "", &plain, "200 /index.html"),
        ("/posts/a/", "", &plain, "200 /posts/a/index.html"),
        ("/posts/a/index.html", "", &plain, "200 /posts/a/index.html"),
        // unknown paths and files untouched
        ("/css/site.css", "", &plain, "200 /css/site.css"),
        ("/about", "", &plain, "200 /about"),
        // pretty URLs, and the bare directory form
        ("/about", "", &pretty, "200 /about.html"),
        ("/posts/a", "", &bare, "200 /posts/a/index.html"),
        // query strings are kept (the origin request keeps its own)
        ("/posts/a/", "page=2", &plain, "200 /posts/a/index.html"),
        // redirects: every URL form, 301 and 302, the query carried over
        ("/posts/old/", "", &plain, "301 /posts/new/"),
        ("/posts/old/index.html", "", &plain, "301 /posts/new/"),
        ("/posts/old", "", &bare, "301 /posts/new/"),
        ("/posts/old/", "utm=x&a", &plain, "301 /posts/new/?utm=x&a"),
        ("/away.html", "", &plain, "302 https://example.com/x?ref=blog"),
        ("/away", "", &pretty, "302 https://example.com/x?ref=blog"),
        ("/away.html", "k=v", &plain, "302 https://example.com/x?ref=blog&k=v"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut script = String::new();
    for (i, (uri, query, forms, want)) in cases.iter().enumerate() {
        let code = super::code(&table(), forms).unwrap();
        std::fs::write(
            dir.path().join(format!("f{i}.js")),
            format!("{code}\nmodule.exports = handler;\n"),
        )
        .unwrap();
        let qs: Vec<String> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                format!("{k:?}: {{ value: {v:?} }}")
            })
            .collect();
        script.push_str(&format!(
            "check({i}, require('./f{i}.js')({{ request: {{ method: 'GET', uri: {uri:?}, querystring: {{ {} }}, headers: {{}} }} }}), {want:?});\n",
            qs.join(", ")
        ));
    }
    let harness = "var failed = 0;\nfunction check(i, r, want) {\n  var got = r.statusCode ? r.statusCode + ' ' + r.headers.location.value : '200 ' + r.uri;\n  if (got !== want) { failed++; console.log('case ' + i + ': got ' + got + ', want ' + want); }\n}\n";
    run_node(&dir, "run.js", &format!("{harness}{script}"));
}

/// cloudfront-js-2.0 has no modules and no async; CloudFront calls `function handler(event)`.
#[test]
fn stays_in_the_cloudfront_js_subset() {
    let code = super::code(&table(), &UrlForms::default()).unwrap();
    assert!(code.contains("function handler(event) {"));
    for banned in [
        "require(",
        "import ",
        "async ",
        "await ",
        "Promise",
        "module.exports",
        "process.",
    ] {
        assert!(!code.contains(banned), "{banned}");
    }
}

pub(super) fn big_table(n: usize) -> Vec<Redirect> {
    (0..n)
        .map(|i| {
            redirect(
                &format!("posts/{i:04}-a-long-title-of-a-post/index.html"),
                "/",
                301,
            )
        })
        .collect()
}

/// Beyond 9 KB of code the table goes to a KeyValueStore: every URL form of each redirect is a key, its
/// value the status and the location; the code reads it with the documented cloudfront-js-2.0 module.
#[test]
fn a_table_beyond_9_kb_goes_to_a_key_value_store() {
    let small = super::generate(&big_table(20), &UrlForms::default()).unwrap();
    assert!(small.kvs.is_none() && small.code.len() <= INLINE_MAX_BYTES);
    let g = super::generate(&big_table(200), &UrlForms::default()).unwrap();
    let kvs = g.kvs.expect("a KeyValueStore");
    assert_eq!(kvs.len(), 400, "two URL forms each");
    assert_eq!(
        kvs["/posts/0007-a-long-title-of-a-post/"], "301 /",
        "{kvs:?}"
    );
    assert!(kvs.contains_key("/posts/0007-a-long-title-of-a-post/index.html"));
    assert!(g
        .code
        .starts_with("import cf from 'cloudfront';\nconst kvs = cf.kvs();\n"));
    assert!(g.code.contains("async function handler(event) {"));
    assert!(g.code.contains("await kvs.get(uri)"));
    assert!(
        g.code.contains("var path = decoded(uri);") && g.code.contains("await redirectOf(path)")
    );
    assert!(!g.code.contains("REDIRECTS") && !g.code.contains("0007"));
    // The code is the same whatever the table: indexes, the lookup, the previews' routing.
    assert!(g.code.len() < 6144, "{}", g.code.len());
    // The threshold is the inline code's size.
    let at = (1..200)
        .find(|n| {
            super::generate(&big_table(*n), &UrlForms::default())
                .unwrap()
                .kvs
                .is_some()
        })
        .unwrap();
    let below = super::code(&big_table(at - 1), &UrlForms::default()).unwrap();
    assert!(below.len() <= INLINE_MAX_BYTES && !below.contains("import"));
}

/// The KeyValueStore's limits (key 512 bytes, value 1 KB, store 5 MB) refuse an entry beyond them, naming
/// the redirect and the limit.
#[test]
fn key_value_store_limits_name_the_redirect() {
    let mut t = big_table(200);
    t.push(redirect(
        &format!("{}/index.html", "k".repeat(520)),
        "/",
        301,
    ));
    let e = super::generate(&t, &UrlForms::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("/{}/index.html", "k".repeat(520))),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("a KeyValueStore key takes at most 512"),
        "{e}"
    );
    assert!(e.hint().unwrap().contains("[[redirects]]"));

    let mut t = big_table(200);
    let far = format!("https://example.com/{}", "v".repeat(1100));
    t.push(redirect("old.html", &far, 302));
    let e = super::generate(&t, &UrlForms::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("the redirect from /old.html to https://example.com/vvv"),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("a KeyValueStore value takes at most 1024"),
        "{e}"
    );

    // 5 MB: 6,000 redirects, each two keys of about 200 bytes with a value of about 300.
    let long = "p".repeat(190);
    let to = format!("/{}", "t".repeat(290));
    let t: Vec<Redirect> = (0..6000)
        .map(|i| redirect(&format!("{long}{i:05}/index.html"), &to, 301))
        .collect();
    let e = super::generate(&t, &UrlForms::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("a KeyValueStore holds at most 5242880"),
        "{e}"
    );
}

/// The fingerprint changes with anything the function serves: code, table, name, distributions.
#[test]
fn the_fingerprint_follows_what_the_function_serves() {
    let f = |t: &[Redirect], forms: &UrlForms, name: &str, d: &[&str]| {
        let site = crate::identity::Site::new(name, "blog", "");
        super::function(&site, t, forms, &Previews::default(), d)
            .unwrap()
            .fingerprint
    };
    let plain = UrlForms::default();
    let pretty = pretty();
    let base = f(&table(), &plain, "git-publish-p", &["E1"]);
    assert_eq!(base, f(&table(), &plain, "git-publish-p", &["E1"]));
    assert!(base.starts_with("sha256:") && base.len() == 71, "{base}");
    for other in [
        f(&table()[..1], &plain, "git-publish-p", &["E1"]),
        f(&table(), &pretty, "git-publish-p", &["E1"]),
        f(&table(), &plain, "git-publish-q", &["E1"]),
        f(&table(), &plain, "git-publish-p", &["E2"]),
        f(&table(), &plain, "git-publish-p", &["E1", "E2"]),
    ] {
        assert_ne!(base, other);
    }
    // In a KeyValueStore, a changed target changes the entries, not the code.
    let mut big = big_table(200);
    let site = crate::identity::Site::new("n", "blog", "");
    let a = super::function(&site, &big, &plain, &Previews::default(), &[]).unwrap();
    big[7].to = "/elsewhere/".into();
    let b = super::function(&site, &big, &plain, &Previews::default(), &[]).unwrap();
    assert_eq!(a.code, b.code);
    assert_ne!(a.fingerprint, b.fingerprint);
}

/// A stub of cloudfront-js-2.0's `cloudfront` module in `dir/node_modules`: `kvs().get()` answers from
/// `globalThis.KVS` and throws for a missing key, as CloudFront's does.
pub(super) fn cloudfront_stub(dir: &tempfile::TempDir) {
    let stub = dir.path().join("node_modules/cloudfront");
    std::fs::create_dir_all(&stub).unwrap();
    std::fs::write(
        stub.join("package.json"),
        r#"{"name": "cloudfront", "type": "module", "main": "index.js"}"#,
    )
    .unwrap();
    std::fs::write(
        stub.join("index.js"),
        "export default {\n  kvs() {\n    return {\n      async get(key) {\n        \
         if (Object.prototype.hasOwnProperty.call(globalThis.KVS, key)) return globalThis.KVS[key];\n        \
         throw new Error('KeyValueStore: no key ' + key);\n      }\n    };\n  }\n};\n",
    )
    .unwrap();
}

/// The KeyValueStore variant under node, with a stub of cloudfront-js-2.0's `cloudfront` module whose
/// `kvs().get()` answers from the generated entries (and throws for a missing key, as CloudFront's does):
/// the same events as the inline variant, plus a redirect deep in the table.
#[test]
fn node_runs_the_key_value_store_variant_with_a_stubbed_cloudfront_module() {
    let plain = UrlForms::default();
    let pretty = pretty();
    let bare = bare();
    let mut t = big_table(200);
    t.extend(table());
    #[rustfmt::skip]
    let cases: &[(&str, &str, &UrlForms, &str)] = &[
        ("/", "", &plain, "200 /index.html"),
        ("/posts/a/", "page=2", &plain, "200 /posts/a/index.html"),
        ("/css/site.css", "", &plain, "200 /css/site.css"),
        ("/about", "", &plain, "200 /about"),
        ("/about", "", &pretty, "200 /about.html"),
        ("/posts/a", "", &bare, "200 /posts/a/index.html"),
        ("/posts/old/", "", &plain, "301 /posts/new/"),
        ("/posts/old/index.html", "", &plain, "301 /posts/new/"),
        ("/posts/old", "", &bare, "301 /posts/new/"),
        ("/posts/old/", "utm=x&a", &plain, "301 /posts/new/?utm=x&a"),
        ("/away.html", "", &plain, "302 https://example.com/x?ref=blog"),
        ("/away", "", &pretty, "302 https://example.com/x?ref=blog"),
        ("/away.html", "k=v", &plain, "302 https://example.com/x?ref=blog&k=v"),
        ("/posts/0150-a-long-title-of-a-post/", "", &plain, "301 /"),
        ("/posts/0150-a-long-title-of-a-post", "", &plain, "200 /posts/0150-a-long-title-of-a-post"),
    ];
    let dir = tempfile::tempdir().unwrap();
    cloudfront_stub(&dir);
    let mut script = String::new();
    for (i, (uri, query, forms, want)) in cases.iter().enumerate() {
        let g = super::generate(&t, forms).unwrap();
        let entries = g.kvs.expect("the KeyValueStore variant");
        std::fs::write(
            dir.path().join(format!("f{i}.mjs")),
            format!("{}\nexport default handler;\n", g.code),
        )
        .unwrap();
        let qs: Vec<String> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                format!("{k:?}: {{ value: {v:?} }}")
            })
            .collect();
        script.push_str(&format!(
            "globalThis.KVS = {};\ncheck({i}, await (await import('./f{i}.mjs')).default({{ request: {{ method: 'GET', uri: {uri:?}, querystring: {{ {} }}, headers: {{}} }} }}), {want:?});\n",
            serde_json::to_string(&entries).unwrap(),
            qs.join(", ")
        ));
    }
    let harness = "let failed = 0;\nfunction check(i, r, want) {\n  const got = r.statusCode ? r.statusCode + ' ' + r.headers.location.value : '200 ' + r.uri;\n  if (got !== want) { failed++; console.log('case ' + i + ': got ' + got + ', want ' + want); }\n}\n";
    run_node(&dir, "run.mjs", &format!("{harness}{script}"));
}

/// The KeyValueStore variant uses only what cloudfront-js-2.0 has: its `cloudfront` module imported in the
/// first line, an async handler, no `require`, no Promise combinators.
#[test]
fn the_key_value_store_variant_stays_in_the_cloudfront_js_subset() {
    let code = super::code(&big_table(200), &UrlForms::default()).unwrap();
    assert!(code.starts_with("import cf from 'cloudfront';\n"));
    assert_eq!(code.matches("import ").count(), 1);
    for banned in [
        "require(",
        "Promise",
        "module.exports",
        "process.",
        "export ",
    ] {
        assert!(!code.contains(banned), "{banned}");
    }
}

/// Events (uri as the viewer sent it, expected `200 <uri>` or `<status> <location>`) run under node against the
/// function for `t` and `forms`: the inline variant when `kvs` is false (the table must fit the code), else
/// the KeyValueStore variant (the table must not), its `cloudfront` module stubbed as above.
fn run_events(t: &[Redirect], forms: &UrlForms, kvs: bool, cases: &[(&str, &str)]) {
    let g = super::generate(t, forms).unwrap();
    assert_eq!(g.kvs.is_some(), kvs, "the variant the test asks for");
    let dir = tempfile::tempdir().unwrap();
    cloudfront_stub(&dir);
    let (file, export) = if kvs {
        ("f.mjs", "export default handler;")
    } else {
        ("f.cjs", "module.exports = handler;")
    };
    std::fs::write(dir.path().join(file), format!("{}\n{export}\n", g.code)).unwrap();
    let mut script = format!(
        "globalThis.KVS = {};\nconst handler = {};\nlet failed = 0;\n\
         async function check(uri, want) {{\n  const r = await handler({{ request: {{ method: 'GET', uri: uri, querystring: {{}}, headers: {{}} }} }});\n  \
         const got = r.statusCode ? r.statusCode + ' ' + r.headers.location.value : '200 ' + r.uri;\n  \
         if (got !== want) {{ failed++; console.log(JSON.stringify(uri) + ': got ' + got + ', want ' + want); }}\n}}\n",
        serde_json::to_string(&g.kvs.unwrap_or_default()).unwrap(),
        if kvs {
            "(await import('./f.mjs')).default"
        } else {
            "(await import('./f.cjs')).default"
        }
    );
    for (uri, want) in cases {
        script.push_str(&format!("await check({uri:?}, {want:?});\n"));
    }
    run_node(&dir, "run.mjs", &script);
}

/// Renamed pages whose paths need percent-encoding (finding 8): the table of the function (and of the
/// KeyValueStore) is keyed by the decoded path and the function decodes what the viewer sent, however it
/// encoded it; the target is sent encoded. Non-ASCII, spaces, `%`, `+` and `#`, in both variants.
#[test]
fn finding_8_moved_pages_that_need_percent_encoding_are_redirected() {
    use crate::plan::redirects::{table as redirect_table, RenameMode, Request};
    use crate::plan::{Change, ChangeKind};
    let moves = [
        ("posts/café/index.html", "posts/café-2/index.html"),
        ("a b/index.html", "a b 2/index.html"),
        ("100%/index.html", "100% sure/index.html"),
        ("c++/index.html", "cpp/index.html"),
        ("c#/index.html", "sharp#1/index.html"),
        ("\\host/index.html", "x/index.html"),
    ];
    let mut changes = Vec::new();
    for (i, (old, new)) in moves.iter().enumerate() {
        let blob = Some(format!("{i:040}"));
        let side = |path: &str, kind| Change {
            path: path.into(),
            kind,
            blob: None,
            size: 1,
            old_blob: None,
            executable: false,
        };
        changes.push(Change {
            old_blob: blob.clone(),
            ..side(old, ChangeKind::Deleted)
        });
        changes.push(Change {
            blob,
            ..side(new, ChangeKind::Added)
        });
    }
    let forms = UrlForms::default();
    let req = Request {
        config: &[],
        recorded: &[],
        similar: &[],
        renames: RenameMode::Apply,
    };
    let (t, _) = redirect_table(&req, &changes, &forms, &|_| false).unwrap();
    #[rustfmt::skip]
    let cases: &[(&str, &str)] = &[
        ("/posts/caf%C3%A9/", "301 /posts/caf%C3%A9-2/"),
        ("/posts/caf%c3%a9/index.html", "301 /posts/caf%C3%A9-2/"),
        ("/a%20b/", "301 /a%20b%202/"),
        ("/100%25/", "301 /100%25%20sure/"),
        ("/100%/", "301 /100%25%20sure/"),
        ("/c++/", "301 /cpp/"),
        ("/c%2B%2B/", "301 /cpp/"),
        ("/c%23/", "301 /sharp%231/"),
        ("/%5Chost/", "301 /x/"),
        ("/posts/caf%C3%A9-2/", "200 /posts/caf%C3%A9-2/index.html"),
        ("/c%/", "200 /c%/index.html"),
    ];
    run_events(&t, &forms, false, cases);
    let mut big = big_table(200);
    big.extend(t.iter().cloned());
    run_events(&big, &forms, true, cases);
}

/// The KeyValueStore and the S3 redirect objects answer the same URLs with the same target (finding 8): each
/// key is a URL form of the object's site path, decoded, and its value the object's location.
#[test]
fn finding_8_the_key_value_store_and_the_redirect_objects_agree() {
    use crate::plan::redirects::path_of_url;
    let forms = UrlForms::default();
    let mut t = big_table(200);
    t.push(redirect(
        "posts/café #1/index.html",
        "/posts/caf%C3%A9%20%231-b/",
        301,
    ));
    let entries = super::generate(&t, &forms).unwrap().kvs.unwrap();
    for (key, value) in &entries {
        let object = t.iter().find(|r| r.from == path_of_url(key, &forms));
        let object = object.unwrap_or_else(|| panic!("{key}: no redirect object serves it"));
        assert_eq!(*value, format!("{} {}", object.status, object.to), "{key}");
    }
    assert_eq!(entries["/posts/café #1/"], "301 /posts/caf%C3%A9%20%231-b/");
}

/// The function never answers with a Location that leaves the site (finding 9), whatever its table holds:
/// `//host` and `/\host`, with tabs or line breaks that browsers drop, or leading spaces, fall through to the
/// origin; absolute URLs and one-slash paths redirect.
#[test]
fn finding_9_the_function_never_redirects_off_site_through_a_relative_path() {
    let forms = UrlForms::default();
    let bad = [
        "//evil.example/",
        "/\\evil.example/",
        "/\t/evil.example/",
        "/\n\\evil.example/",
        " //evil.example/",
        "\u{1}/evil.example",
    ];
    let mut t: Vec<Redirect> = (bad.iter().enumerate())
        .map(|(i, to)| redirect(&format!("b{i}/index.html"), to, 301))
        .collect();
    t.push(redirect("ok/index.html", "/fine/", 301));
    t.push(redirect("far/index.html", "https://example.com/", 302));
    let mut cases: Vec<(String, String)> = (0..bad.len())
        .map(|i| (format!("/b{i}/"), format!("200 /b{i}/index.html")))
        .collect();
    cases.push(("/ok/".into(), "301 /fine/".into()));
    cases.push(("/far/".into(), "302 https://example.com/".into()));
    let cases: Vec<(&str, &str)> = cases.iter().map(|(a, b)| (&a[..], &b[..])).collect();
    run_events(&t, &forms, false, &cases);
    let mut big = big_table(200);
    big.extend(t);
    run_events(&big, &forms, true, &cases);
}

/// Names that break a JavaScript string literal or a terminal (finding 11): the generated code is printable
/// ASCII, `node --check` parses it, and the hostile paths still redirect (the escapes round-trip).
#[test]
fn finding_11_generated_code_is_printable_ascii_and_parses_with_hostile_names() {
    let hostile = [
        "line\u{2028}sep",
        "para\u{2029}sep",
        "esc\u{1b}[2K",
        "nul\u{0}",
        "quote\"back\\slash",
        "</script><!--",
        "\u{202e}lmth",
        "emoji\u{1f600}",
        "\u{feff}bom",
    ];
    let t: Vec<Redirect> = (hostile.iter())
        .map(|h| redirect(&format!("{h}/index\u{2028}.html"), "/new/", 301))
        .collect();
    let forms = UrlForms {
        index_document: "index\u{2028}.html".into(),
        ..UrlForms::default()
    };
    let g = super::generate(&t, &forms).unwrap();
    assert!(g.kvs.is_none());
    let bad = g
        .code
        .chars()
        .find(|c| *c != '\n' && !(' '..='~').contains(c));
    assert_eq!(
        bad, None,
        "a character outside printable ASCII in:\n{}",
        g.code
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.js"), &g.code).unwrap();
    let out = std::process::Command::new("node")
        .args(["--check", "f.js"])
        .current_dir(dir.path())
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cases: Vec<(String, String)> = (hostile.iter())
        .flat_map(|h| [format!("/{h}/"), format!("/{h}/index\u{2028}.html")])
        .map(|uri| (uri, "301 /new/".to_string()))
        .collect();
    let cases: Vec<(&str, &str)> = cases.iter().map(|(a, b)| (&a[..], &b[..])).collect();
    run_events(&t, &forms, false, &cases);
}
