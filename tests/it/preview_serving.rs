//! Serving previews through the managed CloudFront Function, against moto (scripts/moto-server) behind a
//! recording proxy: a preview publish makes the routing live (the viewer-request code with the preview
//! domain, and with `[targets.NAME.previews]` the viewer-response function and its association) without
//! writing production's record; the password reaches AWS only as a salted hash under `preview-auth:<name>`
//! in the function's KeyValueStore, is refused before any write when missing, survives production's
//! publishes, and goes with `preview rm`; a function of the site's names that is not the site's is left
//! alone before anything is written; `git publish cdn-function` counts the previews and redirects.
//!
//! moto drops FunctionAssociations from the distribution configs it stores (DESIGN §5), so associations are
//! asserted on the UpdateDistribution requests sent; it has no KeyValueStore data API, answered by the
//! stand-in of `cdn_function.rs` (with GetKey added here).

use crate::cdn_function::{kvs_api_stand_in, store_keys};
use crate::proxy::{Asked, Config, Logged, Proxy};
use crate::util::*;

const DOMAIN: &str = "preview.blog.example.com";
const PASSWORD: &str = "correct horse battery staple 42";

fn previews(lines: &str) -> String {
    format!("[targets.production.previews]\n{lines}")
}

/// The stand-in for the KeyValueStore data API, with GetKey (`GET /key-value-stores/<arn>/keys/<key>`).
fn stand_in(a: &Asked) -> Option<Vec<u8>> {
    let rest = a.path.strip_prefix("/key-value-stores/")?;
    let (arn, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let key = (a.method == "GET")
        .then(|| tail.split('?').next().unwrap().strip_prefix("keys/"))
        .flatten();
    let Some(key) = key else {
        return kvs_api_stand_in(a);
    };
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .unwrap()
            .into_owned()
    };
    let keys = store_keys(&decode(arn));
    let (status, body) = match keys.get(&decode(key)) {
        Some(v) => (
            "200 OK",
            serde_json::json!({"Key": decode(key), "Value": v, "ItemCount": keys.len(), "TotalSizeInBytes": 0})
                .to_string(),
        ),
        None => (
            "404 Not Found",
            "{\"Message\": \"no such key\"}".to_string(),
        ),
    };
    let kind = if status.starts_with("404") {
        "x-amzn-ErrorType: ResourceNotFoundException\r\n"
    } else {
        ""
    };
    Some(
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{kind}Content-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

/// (function name, code) of every Create/UpdateFunction sent.
fn functions_sent(sent: &[Logged]) -> Vec<(String, String)> {
    (sent.iter())
        .filter(|r| r.path.starts_with("/2020-05-31/function") && !r.path.ends_with("/publish"))
        .filter(|r| r.method == "POST" || r.method == "PUT")
        .map(|r| {
            let body = String::from_utf8_lossy(&r.body).into_owned();
            let between = |open: &str, close: &str| {
                body.split(open)
                    .nth(1)
                    .and_then(|b| b.split(close).next())
                    .map(str::to_string)
            };
            let name = match r.method.as_str() {
                "PUT" => r.path.rsplit('/').next().unwrap().to_string(),
                _ => between("<Name>", "</Name>").unwrap(),
            };
            let code = between("<FunctionCode>", "</FunctionCode>").unwrap();
            let code = aws_smithy_types::base64::decode(code).unwrap();
            (name, String::from_utf8(code).unwrap())
        })
        .collect()
}

/// The bodies of the UpdateDistribution requests for `dist`.
fn distribution_updates(sent: &[Logged], dist: &str) -> Vec<String> {
    let path = format!("/distribution/{dist}/config");
    (sent.iter())
        .filter(|r| r.method == "PUT" && r.path.ends_with(&path))
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect()
}

/// Every object of the bucket outside the previews (the production record included), with its bytes.
fn production(b: &str) -> Vec<(String, Vec<u8>)> {
    let all = objects(b);
    (all.into_iter())
        .filter(|(k, _)| !k.starts_with("_previews/") && !k.starts_with(".git-publish/previews/"))
        .map(|(k, o)| (k, o.body))
        .collect()
}

/// A new bucket and distribution, a recording proxy in front of moto (answering the KeyValueStore data
/// API with `kvs`), and [`site_with_draft`] published through it: (bucket, distribution, proxy, site).
fn published(name: &str, kvs: bool) -> (String, String, Proxy, Site) {
    let b = bucket(name);
    let dist = distribution(&b);
    let answer = kvs.then_some(stand_in as crate::proxy::Answer);
    let proxy = Proxy::start(
        &moto().endpoint,
        Config {
            answer,
            ..Default::default()
        },
    );
    let site = site_with_draft(&b, &dist, &[("AWS_ENDPOINT_URL", proxy.endpoint.as_str())]);
    (b, dist, proxy, site)
}

/// A published production site on `main` (the function managed, the distribution tagged as the site's),
/// and a branch `draft` with a changed home page, checked out.
fn site_with_draft(b: &str, dist: &str, env: &[(&str, &str)]) -> Site {
    let site = Site::new();
    site.config(
        SiteToml::s3(b)
            .source("branch = \"main\"")
            .distribution(dist)
            .managed_function(),
    );
    site.write("public/index.html", "<h1>Home</h1>")
        .write("public/posts/a/index.html", "<h1>A</h1>");
    site.commit("v1");
    tag_for_site(&site, dist);
    site.run_with(&[], env).ok();
    site.git(&["switch", "-q", "-c", "draft"]);
    site.write("public/index.html", "<h1>Draft</h1>");
    site.commit("draft");
    site
}

/// A preview domain added to site.toml: production's publish sends the function that routes previews (the
/// viewer-request code with the domain, the viewer-response function, both associated in one
/// UpdateDistribution). A preview before that, or from a branch whose site.toml lags, leaves the function
/// alone and says so; a preview after it sends nothing about the function. No preview writes production's
/// record or objects.
#[test]
fn production_publishes_the_routing_and_previews_leave_it_alone() {
    let (b, dist, proxy, site) = published("ps-route", false);
    let env = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    let (name, _) = site_names(&site);
    let with_domain = SiteToml::s3(&b)
        .source("branch = \"main\"")
        .distribution(&dist)
        .managed_function()
        .then(&previews(&format!("domain = \"{DOMAIN}\"\n")));
    site.config(&with_domain);
    let response_name = {
        let j = site.run(&["cdn-function", "--print", "--json"]).ok().json();
        j["response"]["name"].as_str().unwrap().to_string()
    };
    assert!(response_name.contains("-response-"), "{response_name}");

    // Before production publishes it: the preview says so, and sends nothing about the function.
    let (record, before) = (state_json(&b, ""), production(&b));
    let n = proxy.requests().len();
    let r = site.run_with(&["preview", "--json"], &env).ok();
    assert_eq!(r.json()["url"], format!("https://draft.{DOMAIN}/"));
    assert!(
        r.stderr.contains(&format!(
            "production's record says the CloudFront function {name} was built from other settings"
        )),
        "{}",
        r.stderr
    );
    let sent: Vec<Logged> = proxy.requests().into_iter().skip(n).collect();
    assert_eq!(functions_sent(&sent), Vec::new());
    assert!(distribution_updates(&sent, &dist).is_empty());
    assert_eq!(
        state_json(&b, ""),
        record,
        "production's record is not written"
    );
    assert_eq!(production(&b), before);

    // Production's publish of the new site.toml: both functions, both associations.
    site.git(&["switch", "-q", "main"]);
    site.commit("previews by subdomain");
    let n = proxy.requests().len();
    site.run_with(&[], &env).ok();
    let sent: Vec<Logged> = proxy.requests().into_iter().skip(n).collect();
    let functions = functions_sent(&sent);
    let code = |n: &str| {
        functions
            .iter()
            .find(|(f, _)| f == n)
            .map(|(_, c)| c.clone())
    };
    assert!(
        code(&name).is_some_and(|c| c.contains(&format!("var PREVIEW_DOMAIN = \"{DOMAIN}\";"))),
        "the viewer-request code with the preview domain: {functions:?}"
    );
    assert!(
        code(&response_name).is_some_and(|c| c.contains("x-robots-tag")),
        "the viewer-response function: {functions:?}"
    );
    let updates = distribution_updates(&sent, &dist);
    assert!(
        updates
            .iter()
            .any(|u| u.contains("<EventType>viewer-request</EventType>")
                && u.contains(&format!(":function/{name}<"))
                && u.contains("<EventType>viewer-response</EventType>")
                && u.contains(&format!(":function/{response_name}<"))),
        "both associations in one UpdateDistribution: {updates:?}"
    );
    let live = crate::redirects::live_function(&response_name).unwrap();
    assert!(live.contains("noindex"), "{live}");

    // A branch whose site.toml lags production's: the preview leaves the function as production made it.
    site.git(&["switch", "-q", "draft"]);
    site.write("public/posts/a/index.html", "<h1>A, edited</h1>");
    site.commit("edit");
    let n = proxy.requests().len();
    let r = site.run_with(&["preview"], &env).ok();
    assert!(
        r.stderr.contains("was built from other settings"),
        "{}",
        r.stderr
    );
    let sent: Vec<Logged> = proxy.requests().into_iter().skip(n).collect();
    assert_eq!(functions_sent(&sent), Vec::new());
    assert!(distribution_updates(&sent, &dist).is_empty());
    let live = crate::redirects::live_function(&name).unwrap();
    assert!(live.contains(&format!("var PREVIEW_DOMAIN = \"{DOMAIN}\";")));

    // Up to date with production: not a request about the function.
    site.git(&["merge", "-q", "--no-edit", "main"]);
    let n = proxy.requests().len();
    let r = site.run_with(&["preview"], &env).ok();
    assert!(!r.stderr.contains("other settings"), "{}", r.stderr);
    let sent: Vec<Logged> = proxy.requests().into_iter().skip(n).collect();
    let about: Vec<String> = (sent.iter())
        .filter(|r| r.path.contains("/function"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(about.is_empty(), "{about:#?}");
}

/// The password: refused before any write when its variable is unset or empty. Then, since the live
/// function can't check it, the preview publishes the function that does (production's record untouched)
/// before writing the password's salted hash under `preview-auth:draft` in its KeyValueStore; no request
/// carries the password. Production's publish, whose redirect table changes, keeps the hash and sends no
/// code; a branch whose site.toml has no password leaves the function checking it; the same password again
/// writes nothing; `preview rm` deletes the hash; `git publish cdn-function` counts it all.
#[test]
fn a_preview_password_reaches_aws_only_as_a_salted_hash() {
    let (b, dist, proxy, site) = published("ps-auth", true);
    let env = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    let protected = previews("password_env = \"GP_PREVIEW_PASSWORD\"\n");
    let (name, _) = site_names(&site);
    site.git(&["branch", "stale", "draft"]);
    site.git(&["switch", "-q", "main"]);
    site.config(
        SiteToml::s3(&b)
            .source("branch = \"main\"")
            .distribution(&dist)
            .managed_function()
            .then(&protected),
    );
    site.commit("previews with a password");
    site.git(&["switch", "-q", "draft"]);
    site.git(&["merge", "-q", "--no-edit", "main"]);

    for unset in [vec![], vec![("GP_PREVIEW_PASSWORD", "")]] {
        let n = proxy.requests().len();
        let mut e = env.to_vec();
        e.extend(unset);
        let r = site.run_with(&["preview"], &e).fails(2);
        assert!(
            r.stderr
                .contains("targets.production.previews.password_env = \"GP_PREVIEW_PASSWORD\"")
                && r.stderr.contains("nothing was written"),
            "{}",
            r.stderr
        );
        let writes: Vec<String> = (proxy.requests().into_iter().skip(n))
            .filter(|r| r.method != "GET" && r.method != "HEAD")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert_eq!(writes, Vec::<String>::new());
    }
    assert!(keys_of(&b, "_previews/").is_empty());

    let (record, before) = (state_json(&b, ""), production(&b));
    let with = [env[0], ("GP_PREVIEW_PASSWORD", PASSWORD)];
    let n = proxy.requests().len();
    site.run_with(&["preview"], &with).ok();
    let sent: Vec<Logged> = proxy.requests().into_iter().skip(n).collect();
    let functions = functions_sent(&sent);
    assert!(
        functions
            .iter()
            .any(|(f, c)| *f == name && c.contains("import crypto from 'crypto';")),
        "the function that checks passwords: {functions:?}"
    );
    let arn = rt().block_on(async {
        let d = (cloudfront().describe_key_value_store().name(&name))
            .send()
            .await
            .unwrap();
        d.key_value_store().unwrap().arn().to_string()
    });
    let value = store_keys(&arn)["preview-auth:draft"].clone();
    let parts: Vec<&str> = value.split(':').collect();
    assert_eq!((parts.len(), parts[0]), (3, "sha256"), "{value}");
    use sha2::{Digest, Sha256};
    assert_eq!(
        parts[2],
        hex::encode(Sha256::digest(format!("{}{PASSWORD}", parts[1])))
    );
    let last_function_write = (sent.iter())
        .rposition(|r| r.path.ends_with("/publish"))
        .unwrap();
    let key_write = (sent.iter())
        .position(|r| String::from_utf8_lossy(&r.body).contains("preview-auth:draft"))
        .unwrap();
    assert!(
        last_function_write < key_write,
        "the function checks before the hash is there"
    );
    let leaked: Vec<String> = (proxy.requests().into_iter())
        .filter(|r| String::from_utf8_lossy(&r.body).contains(PASSWORD))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(leaked.is_empty(), "the password was sent: {leaked:?}");
    assert_eq!(
        state_json(&b, ""),
        record,
        "production's record is not written"
    );
    assert_eq!(production(&b), before);

    // Again, production's record still saying otherwise: the live code checks passwords, so one read.
    let n = proxy.requests().len();
    site.run_with(&["preview"], &with).ok();
    let about: Vec<String> = (proxy.requests().into_iter().skip(n))
        .filter(|r| r.path.contains("/function") || r.path.ends_with("/config"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        about,
        [format!("GET /2020-05-31/function/{name}?Stage=LIVE")]
    );

    // Production's publish with a new redirect: its keys only, and no code (the live code is its own).
    site.git(&["switch", "-q", "main"]);
    site.config(&format!(
        "{}[[redirects]]\nfrom = \"/old/\"\nto = \"/posts/a/\"\n",
        SiteToml::s3(&b)
            .source("branch = \"main\"")
            .distribution(&dist)
            .managed_function()
            .then(&protected)
    ));
    site.commit("a redirect");
    let n = proxy.requests().len();
    site.run_with(&[], &env).ok();
    let sent: Vec<Logged> = proxy.requests().into_iter().skip(n).collect();
    assert_eq!(functions_sent(&sent), Vec::new());
    let keys = store_keys(&arn);
    assert_eq!(keys["/old/"], "301 /posts/a/");
    assert_eq!(keys["preview-auth:draft"], value, "the hash stays");

    // A branch from before the password: its preview leaves the function checking passwords.
    site.git(&["switch", "-q", "stale"]);
    let n = proxy.requests().len();
    site.run_with(&["preview"], &env).ok();
    let sent: Vec<Logged> = proxy.requests().into_iter().skip(n).collect();
    assert_eq!(functions_sent(&sent), Vec::new());
    let live = crate::redirects::live_function(&name).unwrap();
    assert!(live.contains("authorized(request, preview)"), "{live}");
    assert!(!store_keys(&arn).contains_key("preview-auth:stale"));

    // The same password again: nothing written to the store.
    site.git(&["switch", "-q", "draft"]);
    site.git(&["merge", "-q", "--no-edit", "main"]);
    let n = proxy.requests().len();
    site.run_with(&["preview"], &with).ok();
    let posts: Vec<String> = (proxy.requests().into_iter().skip(n))
        .filter(|r| r.method == "POST" && r.path.contains("/key-value-stores/"))
        .map(|r| r.path)
        .collect();
    assert_eq!(posts, Vec::<String>::new());

    let j = site.run_with(&["cdn-function", "--json"], &env).ok().json();
    assert_eq!(
        (j["previews"].as_u64(), j["password"].as_bool()),
        (Some(2), Some(true))
    );
    assert_eq!(
        (j["redirects"].as_u64(), j["redirect_urls"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(j["variant"], "key-value-store");
    assert_eq!(j["max_code_bytes"], 10240);
    assert_eq!(j["kvs_reserved_bytes"], 180000);
    assert!(j["code_bytes"].as_u64().unwrap() <= 10240);
    let text = site.run_with(&["cdn-function"], &env).ok().stdout;
    assert!(
        text.contains("previews: 2, with a password")
            && text.contains("redirects: 1 (2 URLs), in the KeyValueStore")
            && text.contains(" of 10240 bytes of code"),
        "{text}"
    );

    let r = site.run_with(&["preview", "rm", "draft"], &env).ok();
    assert!(
        r.stderr.contains("removed preview draft's password hash"),
        "{}",
        r.stderr
    );
    let keys = store_keys(&arn);
    assert!(!keys.contains_key("preview-auth:draft") && keys.contains_key("/old/"));
}

/// Object keys under a prefix.
fn keys_of(b: &str, prefix: &str) -> Vec<String> {
    objects(b)
        .into_keys()
        .filter(|k| k.starts_with(prefix))
        .collect()
}

/// A password without a function that can ask for it is refused before anything is written.
#[test]
fn a_password_without_the_managed_function_is_refused() {
    let b = bucket("ps-unmanaged");
    let site = Site::new();
    site.config(&format!(
        "[source]\ndir = \"public\"\nbranch = \"main\"\n[targets.production]\nurl = \"s3://{b}\"\n{}",
        previews("password_file = \"secrets/preview-password\"\n")
    ));
    site.write("public/index.html", "<h1>Home</h1>");
    site.commit("v1");
    site.git(&["switch", "-q", "-c", "draft"]);
    let r = site.run(&["preview"]).fails(2);
    assert!(
        r.stderr
            .contains("password_file = \"secrets/preview-password\": the file is missing"),
        "{}",
        r.stderr
    );
    site.write("secrets/preview-password", format!("{PASSWORD}\n"));
    let r = site.run(&["preview"]).fails(2);
    assert!(
        r.stderr
            .contains("only the CloudFront Function git-publish manages can ask for it"),
        "{}",
        r.stderr
    );
    assert!(keys_of(&b, "_previews/").is_empty());
}

/// The viewer-response function's name taken by a function that is not the site's: production's publish
/// and a preview's (which publishes the function when a password needs it) stop before anything is written
/// (no object, no function code, no association), naming it.
#[test]
fn a_response_function_that_is_not_the_sites_is_left_alone() {
    let (b, dist, proxy, site) = published("ps-owner", false);
    let env = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    // A new page on production, so that its publish has files to write (none may be).
    site.git(&["switch", "-q", "main"]);
    site.write("public/about.html", "<h1>About</h1>");
    site.commit("about");
    let protected = SiteToml::s3(&b)
        .source("branch = \"main\"")
        .distribution(&dist)
        .managed_function()
        .then(&previews("password_env = \"GP_PREVIEW_PASSWORD\"\n"));
    site.config(&protected);
    let j = site.run(&["cdn-function", "--print", "--json"]).ok().json();
    let response_name = j["response"]["name"].as_str().unwrap().to_string();
    let theirs = "function handler(event) { return event.response; }";
    function_made_by_hand(&response_name, theirs);
    let refused = format!("CloudFront function {response_name} exists and is not this site's");
    let with = [env[0], ("GP_PREVIEW_PASSWORD", PASSWORD)];
    let before = objects(&b);
    for (branch, args) in [("draft", &["preview"][..]), ("main", &[][..])] {
        site.git(&["switch", "-q", branch]);
        let n = proxy.requests().len();
        let r = site.run_with(args, &with).fails(1);
        assert!(r.stderr.contains(&refused), "{branch}: {}", r.stderr);
        let sent: Vec<Logged> = proxy.requests().into_iter().skip(n).collect();
        assert_eq!(functions_sent(&sent), Vec::new(), "{branch}");
        assert!(distribution_updates(&sent, &dist).is_empty(), "{branch}");
        assert_eq!(
            objects(&b).keys().collect::<Vec<_>>(),
            before.keys().collect::<Vec<_>>()
        );
    }
    assert_eq!(
        crate::redirects::live_function(&response_name).as_deref(),
        Some(theirs)
    );
}
