use super::*;
use crate::plan::redirects::Origin;

fn redirect(from: &str, to: &str, status: u16) -> Redirect {
    Redirect {
        from: from.into(),
        to: to.into(),
        status,
        origin: Origin::Rename,
    }
}

fn table() -> Vec<Redirect> {
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
    let pretty = UrlForms {
        pretty: true,
        ..UrlForms::default()
    };
    let bare = UrlForms {
        dir_bare: true,
        ..UrlForms::default()
    };
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
    std::fs::write(
        dir.path().join("run.js"),
        format!("{harness}{script}process.exit(failed ? 1 : 0);\n"),
    )
    .unwrap();
    let out = std::process::Command::new("node")
        .arg("run.js")
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

#[test]
fn a_table_beyond_10_kb_is_refused_naming_the_way_out() {
    let big: Vec<Redirect> = (0..200)
        .map(|i| {
            redirect(
                &format!("posts/{i:04}-a-long-title-of-a-post/index.html"),
                "/",
                301,
            )
        })
        .collect();
    let e = super::code(&big, &UrlForms::default()).unwrap_err();
    assert!(e.to_string().contains("at most 10240"), "{e}");
    assert!(e.hint().unwrap().contains("KeyValueStore"));
    let small = &big[..20];
    assert!(super::code(small, &UrlForms::default()).unwrap().len() <= MAX_CODE_BYTES);
}
