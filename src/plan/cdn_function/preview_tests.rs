//! Branch previews in the generated function, under node: both variants (table in the code, table in a
//! KeyValueStore) on the same table of viewer-request events, the password check (KeyValueStore variant),
//! the viewer-response function, the limits, and only the cloudfront-js-2.0 APIs CloudFront documents.
//!
//! The harness runs the function with CloudFront's restrictions where node would be laxer: `crypto` resolves
//! (through a module hook) to a stub with only `createHash` of md5/sha1/sha256 and digests in hex/base64/
//! base64url, and `Buffer.from` / `toString` take only utf8, hex, base64 and base64url while the handler
//! runs ("JavaScript runtime 2.0 features for CloudFront Functions": Buffer, Crypto).

use super::previews::{auth_key, auth_value, Previews, COOKIE_MAX_AGE};
use super::tests::{bare, big_table, cloudfront_stub, pretty, run_node, table};
use super::*;

const DOMAIN: &str = "preview.blog.example.com";

fn with_domain() -> Previews {
    Previews {
        domain: Some(DOMAIN.into()),
        ..Previews::default()
    }
}

fn with_password() -> Previews {
    Previews {
        password: true,
        ..with_domain()
    }
}

/// One viewer request: (Host, `gp_preview` cookie, Authorization as `user:password` — or `raw:<header>` —,
/// URI, what the function does). What it does: `pass <uri the origin gets>`, or the status and the headers
/// that matter, in the order [`HARNESS`] prints them.
type Case<'a> = (&'a str, &'a str, &'a str, &'a str, String);

fn pass(uri: &str) -> String {
    format!("pass {uri}")
}

fn moved(to: &str) -> String {
    format!("301 location={to}")
}

fn cookie(name: &str) -> String {
    let age = if name.is_empty() { 0 } else { COOKIE_MAX_AGE };
    format!(
        "302 location=/ cache-control=no-store cookie gp_preview={name}; Path=/; Secure; HttpOnly; \
         SameSite=Lax; Max-Age={age}"
    )
}

fn robots() -> String {
    "200 content-type=text/plain x-robots-tag=noindex body=\"User-agent: *\\nDisallow: /\\n\""
        .into()
}

fn unauthorized() -> String {
    "401 www-authenticate=Basic realm=\"preview\", charset=\"UTF-8\" x-robots-tag=noindex \
     cache-control=no-store"
        .into()
}

/// The harness: `describe` prints what the function did; `restricted` runs it with cloudfront-js-2.0's
/// Buffer encodings only.
const HARNESS: &str = r#"
let failed = 0;
const ENC = ['utf8', 'hex', 'base64', 'base64url'];
function describe(r) {
  if (!r.statusCode) return 'pass ' + r.uri + (r.headers.authorization ? ' +authorization' : '');
  let out = String(r.statusCode);
  const h = r.headers || {};
  for (const n of ['location', 'www-authenticate', 'content-type', 'x-robots-tag', 'cache-control']) {
    if (h[n]) out += ' ' + n + '=' + h[n].value;
  }
  const c = r.cookies || {};
  for (const n of Object.keys(c)) out += ' cookie ' + n + '=' + c[n].value + '; ' + c[n].attributes;
  if (r.body) out += ' body=' + JSON.stringify(r.body.data);
  return out;
}
async function restricted(f) {
  const from = Buffer.from, toString = Buffer.prototype.toString;
  Buffer.from = function (v, e, l) {
    if (typeof v === 'string' && e !== undefined && !ENC.includes(e)) throw new Error('cloudfront-js-2.0 has no Buffer encoding ' + e);
    return from.call(Buffer, v, e, l);
  };
  Buffer.prototype.toString = function (e, s, t) {
    if (e !== undefined && !ENC.includes(e)) throw new Error('cloudfront-js-2.0 has no Buffer encoding ' + e);
    return toString.call(this, e, s, t);
  };
  try { return await f(); } finally { Buffer.from = from; Buffer.prototype.toString = toString; }
}
function event(host, cookie, auth, uri) {
  const headers = { host: { value: host } };
  if (auth) headers.authorization = { value: auth.startsWith('raw:') ? auth.slice(4) : 'Basic ' + Buffer.from(auth).toString('base64') };
  const cookies = cookie ? { gp_preview: { value: cookie } } : {};
  return { version: '1.0', context: { eventType: 'viewer-request' }, viewer: { ip: '198.51.100.1' },
    request: { method: 'GET', uri: uri, querystring: {}, headers: headers, cookies: cookies } };
}
async function check(handler, host, cookie, auth, uri, want) {
  let got;
  try { got = describe(await restricted(() => handler(event(host, cookie, auth, uri)))); }
  catch (e) { got = 'threw ' + e; }
  if (got !== want) { failed++; console.log(JSON.stringify([host, cookie, auth, uri]) + ':\n  got  ' + got + '\n  want ' + want); }
}
"#;

/// A directory with the `cloudfront` stub, and `crypto` mapped to a stub with CloudFront's subset.
fn node_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    cloudfront_stub(&dir);
    std::fs::write(
        dir.path().join("hooks.mjs"),
        "export async function resolve(specifier, context, next) {\n  if (specifier === 'crypto') \
         return { url: new URL('./crypto-stub.mjs', import.meta.url).href, shortCircuit: true };\n  \
         return next(specifier, context);\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("crypto-stub.mjs"),
        "import real from 'node:crypto';\nconst ENC = ['hex', 'base64', 'base64url'];\n\
         export default {\n  createHash(alg) {\n    if (!['md5', 'sha1', 'sha256'].includes(alg)) throw new \
         Error('cloudfront-js-2.0 has no hash ' + alg);\n    const h = real.createHash(alg);\n    return {\n      \
         update(d) { h.update(d); return this; },\n      digest(e) {\n        if (e !== undefined && \
         !ENC.includes(e)) throw new Error('cloudfront-js-2.0 has no digest encoding ' + e);\n        \
         return h.digest(e);\n      }\n    };\n  }\n};\n",
    )
    .unwrap();
    dir
}

/// Run `cases` against the function `g` (inline variant as CommonJS, KeyValueStore variant as a module,
/// the store holding its entries and `keys`).
fn run_cases(g: &Generated, keys: &[(String, String)], cases: &[Case]) {
    assert_cloudfront_subset(&g.code);
    let dir = node_dir();
    let (file, export) = match g.kvs {
        Some(_) => ("f.mjs", "export default handler;"),
        None => ("f.cjs", "module.exports = handler;"),
    };
    std::fs::write(dir.path().join(file), format!("{}\n{export}\n", g.code)).unwrap();
    let mut store = g.kvs.clone().unwrap_or_default();
    store.extend(keys.iter().cloned());
    let mut script = format!(
        "import {{ register }} from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n{HARNESS}\
         globalThis.KVS = {};\nconst handler = (await import('./{file}')).default;\n",
        serde_json::to_string(&store).unwrap()
    );
    for (host, cookie, auth, uri, want) in cases {
        script.push_str(&format!(
            "await check(handler, {host:?}, {cookie:?}, {auth:?}, {uri:?}, {want:?});\n"
        ));
    }
    run_node(&dir, "run.mjs", &script);
}

/// The APIs the code calls are the ones CloudFront documents for cloudfront-js-2.0, and node parses it.
fn assert_cloudfront_subset(code: &str) {
    for banned in [
        "require(",
        "process.",
        "setTimeout",
        "eval(",
        "new Function",
        "Promise",
        "module.exports",
        "export ",
        "console.",
        "atob(",
    ] {
        assert!(!code.contains(banned), "{banned} in:\n{code}");
    }
    let calls = |object: &str| -> Vec<String> {
        (code.match_indices(&format!("{object}.")))
            .map(|(at, _)| {
                let rest = &code[at + object.len() + 1..];
                rest.chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect()
            })
            .collect()
    };
    assert!(calls("crypto").iter().all(|c| c == "createHash"), "{code}");
    assert!(calls("Buffer").iter().all(|c| c == "from"), "{code}");
    for (at, _) in code.match_indices(".digest(") {
        assert!(code[at..].starts_with(".digest(\"hex\")"), "{code}");
    }
    let imports: Vec<&str> = code.lines().filter(|l| l.starts_with("import ")).collect();
    assert!(
        imports
            .iter()
            .all(|l| *l == "import cf from 'cloudfront';" || *l == "import crypto from 'crypto';"),
        "{imports:?}"
    );
    assert!(code.len() <= MAX_CODE_BYTES, "{}", code.len());
}

/// Host routing, the cookie way, production's 404 for `/_previews/`, robots: the same events give the same
/// answers in both variants.
fn routing_cases() -> Vec<Case<'static>> {
    let prod = "blog.example.com";
    let draft = "draft.preview.blog.example.com";
    let cf = "d111111abcdef8.cloudfront.net";
    #[rustfmt::skip]
    let cases = vec![
        // production
        (prod, "", "", "/", pass("/index.html")),
        (prod, "", "", "/posts/a/", pass("/posts/a/index.html")),
        (prod, "", "", "/posts/old/", moved("/posts/new/")),
        (prod, "", "", "/robots.txt", pass("/robots.txt")),
        // a preview host: its prefix, after the directory index; redirects as on production
        (draft, "", "", "/", pass("/_previews/draft/index.html")),
        (draft, "", "", "/posts/a/", pass("/_previews/draft/posts/a/index.html")),
        (draft, "", "", "/css/site.css", pass("/_previews/draft/css/site.css")),
        (draft, "", "", "/posts/old/", moved("/posts/new/")),
        (draft, "", "", "/posts/old/index.html", moved("/posts/new/")),
        (draft, "", "", "/away.html", "302 location=https://example.com/x?ref=blog".into()),
        ("DRAFT.Preview.Blog.Example.COM", "", "", "/", pass("/_previews/draft/index.html")),
        ("a-1.preview.blog.example.com", "", "", "/", pass("/_previews/a-1/index.html")),
        (draft, "", "", "/robots.txt", robots()),
        // a preview can't reach outside its prefix, and keeps the viewer's Authorization from the origin
        (draft, "", "", "/_previews/other/x.html", pass("/_previews/draft/_previews/other/x.html")),
        (draft, "", "x:y", "/", pass("/_previews/draft/index.html")),
        // hosts that are not exactly `<name>.DOMAIN`: production
        ("preview.blog.example.com", "", "", "/", pass("/index.html")),
        ("a.b.preview.blog.example.com", "", "", "/", pass("/index.html")),
        ("draftpreview.blog.example.com", "", "", "/", pass("/index.html")),
        ("draft.preview.blog.example.com.evil.example", "", "", "/", pass("/index.html")),
        ("draft.preview.blog.example.com:443", "", "", "/", pass("/index.html")),
        ("-x.preview.blog.example.com", "", "", "/", pass("/index.html")),
        ("x_y.preview.blog.example.com", "", "", "/", pass("/index.html")),
        (Box::leak(format!("{}.{DOMAIN}", "a".repeat(64)).into_boxed_str()), "", "", "/", pass("/index.html")),
        // production never serves /_previews/, however the path is written
        (prod, "", "", "/_previews/draft/index.html", "404".into()),
        (prod, "", "", "/_previews", "404".into()),
        (prod, "", "", "//_previews/draft/", "404".into()),
        (prod, "", "", "/./_previews/draft/", "404".into()),
        (prod, "", "", "/x/../_previews/draft/", "404".into()),
        (prod, "", "", "/%5Fpreviews/draft/", "404".into()),
        (cf, "", "", "/_previews/draft/", "404".into()),
        (prod, "", "", "/_previewsx/", pass("/_previewsx/index.html")),
        (prod, "", "", "/a/_previews/", pass("/a/_previews/index.html")),
        // the cookie way: enter, leave, and requests carrying the cookie
        (cf, "", "", "/_preview/draft/", cookie("draft")),
        (cf, "", "", "/_preview/off/", cookie("off")),
        (cf, "draft", "", "/_preview/off", cookie("")),
        (cf, "", "", "/_preview/Draft/", cookie("")),
        (cf, "", "", "/_preview/draft", cookie("")),
        (cf, "", "", "/_preview/a/b/", cookie("")),
        (cf, "", "", "/_preview/..%2F/", cookie("")),
        (cf, "", "", "/_preview/", cookie("")),
        (cf, "", "", "/_preview", cookie("")),
        (cf, "draft", "", "/", pass("/_previews/draft/index.html")),
        (cf, "draft", "", "/posts/old/", moved("/posts/new/")),
        (cf, "draft", "", "/robots.txt", robots()),
        (prod, "draft", "", "/posts/a/", pass("/_previews/draft/posts/a/index.html")),
        (cf, "Draft", "", "/", pass("/index.html")),
        (cf, "../x", "", "/", pass("/index.html")),
        (cf, "a/b", "", "/_previews/a/", "404".into()),
        // the host wins over the cookie
        (draft, "other", "", "/", pass("/_previews/draft/index.html")),
    ];
    cases
}

#[test]
fn node_routes_previews_by_host_and_cookie_in_both_variants() {
    let forms = UrlForms::default();
    let inline = generate_for(&table(), &forms, &with_domain()).unwrap();
    assert!(inline.kvs.is_none(), "the inline variant");
    run_cases(&inline, &[], &routing_cases());
    let mut big = big_table(200);
    big.extend(table());
    let kvs = generate_for(&big, &forms, &with_domain()).unwrap();
    assert!(kvs.kvs.is_some(), "the KeyValueStore variant");
    run_cases(&kvs, &[], &routing_cases());
}

/// Pretty URLs and the `/dir` form on a preview: the rewriting happens before the prefix is added.
#[test]
fn node_rewrites_a_preview_like_production_before_prefixing() {
    let draft = "draft.preview.blog.example.com";
    let (pretty, bare) = (pretty(), bare());
    for (forms, uri, want) in [
        (&pretty, "/about", "/_previews/draft/about.html"),
        (&bare, "/posts/a", "/_previews/draft/posts/a/index.html"),
    ] {
        let cases = [
            (draft, "", "", uri, pass(want)),
            (
                "blog.example.com",
                "",
                "",
                uri,
                pass(&want["/_previews/draft".len()..]),
            ),
        ];
        run_cases(
            &generate_for(&table(), forms, &with_domain()).unwrap(),
            &[],
            &cases,
        );
        let big = generate_for(&big_table(200), forms, &with_domain()).unwrap();
        run_cases(&big, &[], &cases);
    }
    // Without a preview domain, a host like one is production; the cookie way still works.
    let plain = generate(&table(), &UrlForms::default()).unwrap();
    run_cases(
        &plain,
        &[],
        &[
            (draft, "", "", "/", pass("/index.html")),
            (
                "d1.cloudfront.net",
                "draft",
                "",
                "/",
                pass("/_previews/draft/index.html"),
            ),
        ],
    );
}

/// A password makes the function the KeyValueStore variant (whatever the table's size) that checks Basic
/// auth against `preview-auth:<name>`: the hash written by `git publish preview` (`auth_value`) opens that
/// preview only; no key, a wrong password, another scheme: 401. Robots, the cookie's door and production
/// ask for nothing.
#[test]
fn node_checks_a_preview_password_against_the_key_value_store() {
    let site = crate::identity::Site::new("production", "blog", "");
    let g = generate_for(&table(), &UrlForms::default(), &with_password()).unwrap();
    let entries = g
        .kvs
        .as_ref()
        .expect("the KeyValueStore variant, for a small table too");
    assert_eq!(
        entries.len(),
        3,
        "the redirect table (3 URLs) moved to the store"
    );
    assert!(g.code.contains("import crypto from 'crypto';"));
    let keys = [
        (
            auth_key("draft"),
            auth_value(&site, "draft", "s3cret:with colon"),
        ),
        (auth_key("intl"), auth_value(&site, "intl", "pässwörd")),
        // Not in the expected form (the right hash under another scheme's name): opens nothing.
        (
            auth_key("odd"),
            auth_value(&site, "odd", "s3cret:with colon").replacen("sha256:", "sha512:", 1),
        ),
    ];
    let draft = "draft.preview.blog.example.com";
    let intl = "intl.preview.blog.example.com";
    let cf = "d1.cloudfront.net";
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        (draft, "", "", "/", unauthorized()),
        (draft, "", "anyone:s3cret:with colon", "/", pass("/_previews/draft/index.html")),
        (draft, "", ":s3cret:with colon", "/posts/a/", pass("/_previews/draft/posts/a/index.html")),
        (draft, "", "anyone:s3cret", "/", unauthorized()),
        (draft, "", "anyone:S3CRET:with colon", "/", unauthorized()),
        (draft, "", "raw:Bearer s3cret:with colon", "/", unauthorized()),
        (draft, "", "raw:Basic !!!", "/", unauthorized()),
        (draft, "", "raw:basic YTpzM2NyZXQ6d2l0aCBjb2xvbg==", "/", pass("/_previews/draft/index.html")),
        (intl, "", "u:pässwörd", "/", pass("/_previews/intl/index.html")),
        (intl, "", "u:s3cret:with colon", "/", unauthorized()),
        ("odd.preview.blog.example.com", "", "u:s3cret:with colon", "/", unauthorized()),
        // no key for this preview: closed
        ("other.preview.blog.example.com", "", "u:s3cret:with colon", "/", unauthorized()),
        // the cookie way asks too; its door and robots.txt don't
        (cf, "draft", "", "/", unauthorized()),
        (cf, "draft", "u:s3cret:with colon", "/posts/old/", moved("/posts/new/")),
        (cf, "", "", "/_preview/draft/", cookie("draft")),
        (draft, "", "", "/robots.txt", robots()),
        // production: no password, and its 404
        ("blog.example.com", "", "", "/", pass("/index.html")),
        ("blog.example.com", "", "u:whatever", "/", pass("/index.html +authorization")),
        (cf, "", "", "/_previews/draft/", "404".into()),
    ];
    run_cases(&g, &keys, &cases);
    let mut big = big_table(200);
    big.extend(table());
    run_cases(
        &generate_for(&big, &UrlForms::default(), &with_password()).unwrap(),
        &keys,
        &cases,
    );
}

/// The stored value is a salted SHA-256, never the password; the salt differs per site and preview, and is
/// stable (publishing again writes nothing).
#[test]
fn a_password_reaches_aws_only_as_a_salted_hash() {
    let a = crate::identity::Site::new("production", "blog", "");
    let b = crate::identity::Site::new("production", "blog", "other");
    let v = auth_value(&a, "draft", "hunter2");
    assert!(!v.contains("hunter2"));
    let parts: Vec<&str> = v.split(':').collect();
    assert_eq!(parts.len(), 3, "{v}");
    assert_eq!(
        (parts[0], parts[1].len(), parts[2].len()),
        ("sha256", 32, 64)
    );
    use sha2::{Digest, Sha256};
    assert_eq!(
        parts[2],
        hex::encode(Sha256::digest(format!("{}hunter2", parts[1])))
    );
    assert_eq!(v, auth_value(&a, "draft", "hunter2"));
    assert_ne!(v, auth_value(&a, "other", "hunter2"));
    assert_ne!(v, auth_value(&b, "draft", "hunter2"));
    assert!(auth_key("x").len() + v.len() <= previews::AUTH_ENTRY_MAX_BYTES);
    let longest = "a".repeat(crate::preview::MAX_NAME);
    assert_eq!(
        auth_key(&longest).len() + auth_value(&a, &longest, "p").len(),
        previews::AUTH_ENTRY_MAX_BYTES
    );
}

/// The viewer-response function: a preview's responses carry `X-Robots-Tag: noindex`, a cookie preview's
/// `Cache-Control: no-store` too; production's are untouched.
#[test]
fn node_runs_the_viewer_response_function() {
    let g = generate_for(&table(), &UrlForms::default(), &with_domain()).unwrap();
    assert!(g.response.is_none(), "only with [targets.NAME.previews]");
    let p = Previews {
        response: true,
        ..with_domain()
    };
    let code = generate_for(&table(), &UrlForms::default(), &p)
        .unwrap()
        .response
        .unwrap();
    assert_cloudfront_subset(&code);
    assert!(code.contains("function handler(event) {") && !code.contains("async"));
    let dir = node_dir();
    std::fs::write(
        dir.path().join("r.cjs"),
        format!("{code}\nmodule.exports = handler;\n"),
    )
    .unwrap();
    let mut script = String::from(
        "const handler = (await import('./r.cjs')).default;\nlet failed = 0;\n\
         function check(host, cookie, want) {\n  const r = handler({ request: { method: 'GET', uri: '/', \
         querystring: {}, headers: { host: { value: host } }, cookies: cookie ? { gp_preview: { value: cookie } } \
         : {} }, response: { statusCode: 200, statusDescription: 'OK', headers: { 'cache-control': { value: \
         'max-age=60' } }, cookies: {} } });\n  const got = Object.keys(r.headers).sort().map(n => n + '=' + \
         r.headers[n].value).join(' ');\n  if (r.statusCode !== 200 || got !== want) { failed++; \
         console.log(host + ' ' + cookie + ': got ' + got + ', want ' + want); }\n}\n",
    );
    for (host, cookie, want) in [
        ("blog.example.com", "", "cache-control=max-age=60"),
        (
            "draft.preview.blog.example.com",
            "",
            "cache-control=max-age=60 x-robots-tag=noindex",
        ),
        (
            "d1.cloudfront.net",
            "draft",
            "cache-control=no-store x-robots-tag=noindex",
        ),
        ("d1.cloudfront.net", "Bad", "cache-control=max-age=60"),
        (
            "x.y.preview.blog.example.com",
            "",
            "cache-control=max-age=60",
        ),
    ] {
        script.push_str(&format!("check({host:?}, {cookie:?}, {want:?});\n"));
    }
    run_node(&dir, "run.mjs", &script);
}

/// Both functions stay within CloudFront's 10 KB with the longest preview domain site.toml takes (190
/// characters), a password and a long index document; the inline variant still holds a table.
#[test]
fn the_functions_stay_within_10_kb_with_the_longest_settings() {
    let label = "a".repeat(58);
    let domain = format!("{label}.{label}.{label}.example.com");
    assert!(domain.len() <= 190);
    let p = Previews {
        domain: Some(domain),
        password: true,
        response: true,
    };
    let forms = UrlForms {
        index_document: "i".repeat(100),
        pretty: true,
        dir_bare: true,
        ..UrlForms::default()
    };
    let g = generate_for(&big_table(200), &forms, &p).unwrap();
    assert!(g.code.len() <= MAX_CODE_BYTES, "{}", g.code.len());
    assert!(g.response.unwrap().len() <= MAX_CODE_BYTES);
    let inline = generate_for(
        &big_table(20),
        &forms,
        &Previews {
            password: false,
            ..p
        },
    )
    .unwrap();
    assert!(inline.kvs.is_none() && inline.code.len() <= INLINE_MAX_BYTES);
    // Past 10 KB (an index document no site has): refused, naming the limit.
    let huge = UrlForms {
        index_document: "i".repeat(9000),
        ..UrlForms::default()
    };
    let e = generate_for(&table(), &huge, &Previews::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("the viewer-request function's code would be")
            && e.to_string().contains("CloudFront takes at most 10240"),
        "{e}"
    );
}

/// With a password the store keeps room for the previews' keys: a table that fits a KeyValueStore alone
/// but not beside them is refused, saying so.
#[test]
fn a_password_keeps_room_for_the_previews_keys() {
    let long = "p".repeat(190);
    let to = format!("/{}", "t".repeat(290));
    // About 5.0 MB of entries: within 5 MB alone, not with 1,000 previews' keys beside it.
    let n =
        (MAX_KVS_BYTES - previews::AUTH_RESERVE_BYTES / 2) / (2 * (long.len() + 20 + to.len() + 4));
    let t: Vec<Redirect> = (0..n)
        .map(|i| super::tests::redirect(&format!("{long}{i:05}/index.html"), &to, 301))
        .collect();
    assert!(generate(&t, &UrlForms::default()).is_ok());
    let e = generate_for(&t, &UrlForms::default(), &with_password()).unwrap_err();
    assert!(
        e.to_string()
            .contains("less the 180000 kept for 1000 previews' passwords"),
        "{e}"
    );
}

/// The fingerprint follows the previews' settings: the domain, the password (another variant) and the
/// viewer-response function.
#[test]
fn the_fingerprint_follows_the_previews_settings() {
    let site = crate::identity::Site::new("p", "blog", "");
    let f = |p: &Previews| {
        function(&site, &table(), &UrlForms::default(), p, &["E1"])
            .unwrap()
            .fingerprint
    };
    let all = [
        f(&Previews::default()),
        f(&with_domain()),
        f(&with_password()),
        f(&Previews {
            response: true,
            ..with_domain()
        }),
    ];
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert_ne!(a, b);
        }
    }
    let r = function(
        &site,
        &table(),
        &UrlForms::default(),
        &Previews {
            response: true,
            ..Previews::default()
        },
        &[],
    )
    .unwrap();
    let response = r.response.expect("a viewer-response function");
    assert_eq!(response.name, site.response_function_name());
}
