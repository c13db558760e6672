//! The managed CloudFront function (`cdn_function = "manage"`) after its first publish: the state records a
//! fingerprint of what it serves, so a change in site.toml alone (`pretty_urls`, a `[[redirects]]` entry)
//! publishes it on the deployed commit, and a publish that changes nothing sends nothing about it.
//!
//! A redirect table too large for the function's code goes to a KeyValueStore, whose keys are written
//! through the KeyValueStore data API, only where they differ.
//!
//! moto 5.2.5 has no KeyValueStore data API: a proxy answers it (`kvs_api_stand_in` below), and the tests read
//! what the client sent from its log. UpdateFunction/PublishFunction come from tests/moto/server.py.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::proxy::{Asked, Config, Logged, Proxy};
use crate::redirects::post;
use crate::util::*;

/// A proxy in front of moto (scripts/moto-server, which has UpdateFunction/PublishFunction): the tests read
/// what the client sent from its log.
fn proxy() -> Proxy {
    Proxy::start(&moto().endpoint, Config::default())
}

/// The code each UpdateFunction request carried, in order.
fn updated_code(requests: &[Logged], function: &str) -> Vec<String> {
    let path = format!("/2020-05-31/function/{function}");
    (requests.iter())
        .filter(|r| r.method == "PUT" && r.path == path)
        .map(|r| {
            let body = String::from_utf8_lossy(&r.body).into_owned();
            let b64 = body
                .split("<FunctionCode>")
                .nth(1)
                .and_then(|b| b.split("</FunctionCode>").next())
                .expect("UpdateFunction carries the code");
            String::from_utf8(aws_smithy_types::base64::decode(b64).unwrap()).unwrap()
        })
        .collect()
}

/// Requests about the function or the distribution's config (Get/Describe/Create/Update/PublishFunction,
/// Get/UpdateDistributionConfig).
fn function_requests(requests: &[Logged]) -> Vec<&Logged> {
    (requests.iter())
        .filter(|r| r.path.contains("/function") || r.path.ends_with("/config"))
        .collect()
}

/// A site with a home page and a post, published once through `proxy` with `cdn_function = "manage"`.
fn published_site(name: &str, bucket: &str, dist: &str, proxy: &Proxy) -> Site {
    let site = Site::new();
    site.config(
        SiteToml::s3(bucket)
            .name(name)
            .distribution(dist)
            .managed_function(),
    );
    site.write("public/index.html", "<h1>Home</h1>")
        .write("public/about.html", post("About", "1", ""));
    site.commit("v1");
    tag_for_site(&site, dist);
    site.run_with(&[], &[("AWS_ENDPOINT_URL", proxy.endpoint.as_str())])
        .ok();
    site
}

/// Regression: turning on `pretty_urls` in site.toml, with no new commit, left the function as it was until
/// the next commit ("already has …: nothing to do"). Now the recorded fingerprint differs: the function is
/// updated (If-Match) and published on the deployed commit, the state records the new fingerprint, and the
/// site is invalidated once (`/*`).
#[test]
fn pretty_urls_alone_publishes_the_function_on_the_deployed_commit() {
    let b = bucket("fn-pretty");
    let dist = distribution(&b);
    let proxy = proxy();
    let env = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    let site = published_site("fn-pretty", &b, &dist, &proxy);
    let (fn_name, _) = site_names(&site);
    let first = state_json(&b, "")["deployed"]["function"].clone();

    site.config(
        SiteToml::s3(&b)
            .name("fn-pretty")
            .distribution(&dist)
            .managed_function()
            .with("pretty_urls = true\n"),
    );
    let before = proxy.requests().len();
    let dry = site.run_with(&["--dry-run"], &env).ok();
    assert!(
        dry.stderr.contains(&format!("the CloudFront function {fn_name} differs from what the target records: it would be published")),
        "{}",
        dry.stderr
    );
    let r = site.run_with(&[], &env).ok();
    assert!(!r.stderr.contains("nothing to do"), "{}", r.stderr);
    let sent: Vec<Logged> = proxy.requests().into_iter().skip(before).collect();
    let code = updated_code(&sent, &fn_name.clone());
    assert!(
        code.len() == 1 && code[0].contains("var PRETTY = true;"),
        "UpdateFunction with the pretty-URL code: {code:?}"
    );
    let published: Vec<&Logged> = (sent.iter())
        .filter(|r| r.path.ends_with(&format!("/function/{fn_name}/publish")))
        .collect();
    assert!(
        published.len() == 1 && published[0].conditional,
        "PublishFunction with If-Match: {published:?}"
    );
    assert!(
        first.as_str().is_some_and(|f| f.starts_with("sha256:")),
        "{first}"
    );
    let state = state_json(&b, "");
    assert_ne!(
        state["deployed"]["function"], first,
        "the new fingerprint is recorded"
    );
    assert_eq!(state["history"].as_array().unwrap().len(), 2);
    // Other URL forms: any URL may serve something else now, so the whole site is invalidated, once.
    assert_eq!(invalidations(&dist)[0], ["/*"]);
    site.run_with(&[], &env).ok();
    assert_eq!(
        invalidations(&dist).len(),
        1,
        "the same forms again: no invalidation"
    );
}

/// A `[[redirects]]` entry added in site.toml, with no new commit, is served on the deployed commit: its
/// object is written, the function gets the new table, and the old URL forms are invalidated. (This one
/// worked before the fingerprint: the new redirect object alone makes the plan non-empty. It pins that the
/// function goes out with it.)
#[test]
fn a_redirect_added_in_site_toml_alone_is_published_with_the_function() {
    let b = bucket("fn-redirect");
    let dist = distribution(&b);
    let proxy = proxy();
    let env = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    let site = published_site("fn-redirect", &b, &dist, &proxy);
    let (fn_name, _) = site_names(&site);

    site.config(
        SiteToml::s3(&b)
            .name("fn-redirect")
            .distribution(&dist)
            .managed_function()
            .then("[[redirects]]\nfrom = \"/old/\"\nto = \"/about.html\"\n"),
    );
    let before = proxy.requests().len();
    let j = site.run_with(&["--json"], &env).ok().json();
    assert_eq!(j["status"], "published", "{j:#}");
    let invalidated = strings(&j["invalidations"]);
    for form in ["/old/", "/old/index.html"] {
        assert!(invalidated.contains(&form.to_string()), "{form}: {j:#}");
    }
    let sent: Vec<Logged> = proxy.requests().into_iter().skip(before).collect();
    let code = updated_code(&sent, &fn_name.clone());
    assert!(
        code.len() == 1 && code[0].contains("\"/old/\": [\"/about.html\", 301]"),
        "UpdateFunction with the new table: {code:?}"
    );
    let state = state_json(&b, "");
    assert_eq!(state["deployed"]["redirects"].as_array().unwrap().len(), 1);
}

/// Publishing again changes nothing: the deployed commit again has nothing to do (one read of the state, no
/// function request), and a new commit outside the site writes only the state: no Get/Describe function,
/// no GetDistributionConfig (before the fingerprint, every publish read the live code and the association).
#[test]
fn an_unchanged_function_costs_no_request() {
    let b = bucket("fn-same");
    let dist = distribution(&b);
    let proxy = proxy();
    let env = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    let site = published_site("fn-same", &b, &dist, &proxy);

    let before = (proxy.requests().len(), moto().request_count(&b));
    let r = site.run_with(&[], &env).ok();
    assert!(r.stderr.contains("nothing to do"), "{}", r.stderr);
    let sent: Vec<Logged> = proxy.requests().into_iter().skip(before.0).collect();
    assert!(function_requests(&sent).is_empty(), "{sent:?}");
    let bucket_reqs: Vec<Req> = moto().requests(&b).into_iter().skip(before.1).collect();
    assert!(
        bucket_reqs.len() <= 1,
        "only the state's read: {bucket_reqs:?}"
    );

    site.write("README.md", "outside the output");
    site.commit("unrelated");
    let before = (proxy.requests().len(), moto().request_count(&b));
    site.run_with(&[], &env).ok();
    let sent: Vec<Logged> = proxy.requests().into_iter().skip(before.0).collect();
    assert!(function_requests(&sent).is_empty(), "{sent:?}");
    let bucket_reqs: Vec<Req> = moto().requests(&b).into_iter().skip(before.1).collect();
    assert!(
        bucket_reqs.len() <= 3,
        "only the state's requests: {bucket_reqs:?}"
    );
}

// ---- KeyValueStore: a redirect table too large for the function's code ------------------------------

/// The keys of each KeyValueStore the data-API stand-in holds (by ARN), and its version (the ETag).
type Stores = BTreeMap<String, (u32, BTreeMap<String, String>)>;
static STORES: Mutex<Stores> = Mutex::new(BTreeMap::new());

/// The keys the stand-in holds for store `arn`.
pub(crate) fn store_keys(arn: &str) -> BTreeMap<String, String> {
    let stores = STORES.lock().unwrap();
    stores.get(arn).map(|s| s.1.clone()).unwrap_or_default()
}

fn json_response(status: &str, etag: Option<&str>, extra: &str, body: &str) -> Vec<u8> {
    let etag = etag.map(|e| format!("ETag: {e}\r\n")).unwrap_or_default();
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{etag}{extra}Content-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// moto 5.2.5 has the KeyValueStore control plane (Create/Describe/List/Update/DeleteKeyValueStore) but not
/// the data API (`cloudfront-keyvaluestore`): this answers DescribeKeyValueStore, ListKeys (pages of 50)
/// and UpdateKeys as CloudFront does, keeping the keys in memory. Requests must be signed with SigV4A (403
/// otherwise); UpdateKeys must carry the store's current ETag in If-Match (409 ConflictException otherwise)
/// and at most 50 keys.
pub(crate) fn kvs_api_stand_in(a: &Asked) -> Option<Vec<u8>> {
    let rest = a.path.strip_prefix("/key-value-stores/")?;
    let (arn, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let arn = percent_encoding::percent_decode_str(arn)
        .decode_utf8()
        .unwrap()
        .into_owned();
    if !(a.header("Authorization")).is_some_and(|h| h.starts_with("AWS4-ECDSA-P256-SHA256 ")) {
        return Some(json_response(
            "403 Forbidden",
            None,
            "x-amzn-ErrorType: AccessDeniedException\r\n",
            "{\"Message\": \"the data API is signed with SigV4A\"}",
        ));
    }
    let mut stores = STORES.lock().unwrap();
    let (version, keys) = stores.entry(arn.clone()).or_default();
    let etag = format!("KV{version}");
    let size: usize = keys.iter().map(|(k, v)| k.len() + v.len()).sum();
    let counts = format!(
        "\"ItemCount\": {}, \"TotalSizeInBytes\": {size}",
        keys.len()
    );
    match (a.method, tail.split('?').next().unwrap()) {
        ("GET", "") => Some(json_response(
            "200 OK",
            Some(&etag),
            "",
            &format!("{{\"KvsARN\": \"{arn}\", \"Created\": 0, \"Status\": \"READY\", {counts}}}"),
        )),
        ("GET", "keys") => {
            let from: usize = (tail.split(['?', '&']))
                .find_map(|p| p.strip_prefix("NextToken="))
                .map(|t| t.parse().unwrap())
                .unwrap_or(0);
            let items: Vec<serde_json::Value> = (keys.iter().skip(from).take(50))
                .map(|(k, v)| serde_json::json!({"Key": k, "Value": v}))
                .collect();
            let mut body = serde_json::json!({ "Items": items });
            if from + 50 < keys.len() {
                body["NextToken"] = (from + 50).to_string().into();
            }
            Some(json_response("200 OK", None, "", &body.to_string()))
        }
        ("POST", "keys") => {
            if a.header("If-Match") != Some(etag.as_str()) {
                return Some(json_response(
                    "409 Conflict",
                    None,
                    "x-amzn-ErrorType: ConflictException\r\n",
                    "{\"Message\": \"If-Match is not the store's ETag\"}",
                ));
            }
            let body: serde_json::Value = serde_json::from_slice(a.body).unwrap();
            let puts = body["Puts"].as_array().cloned().unwrap_or_default();
            let deletes = body["Deletes"].as_array().cloned().unwrap_or_default();
            assert!(puts.len() + deletes.len() <= 50, "UpdateKeys takes 50 keys");
            for p in puts {
                keys.insert(
                    p["Key"].as_str().unwrap().into(),
                    p["Value"].as_str().unwrap().into(),
                );
            }
            for d in deletes {
                keys.remove(d["Key"].as_str().unwrap());
            }
            *version += 1;
            let size: usize = keys.iter().map(|(k, v)| k.len() + v.len()).sum();
            Some(json_response(
                "200 OK",
                Some(&format!("KV{version}")),
                "",
                &format!(
                    "{{\"ItemCount\": {}, \"TotalSizeInBytes\": {size}}}",
                    keys.len()
                ),
            ))
        }
        _ => None,
    }
}

/// `n` `[[redirects]]` entries, `/old/NNN-…/` → `to`.
/// Target `name` in front of a new bucket and distribution, with `n` redirects in site.toml, published once
/// through a proxy that answers the KeyValueStore data API: (bucket, distribution, proxy, site).
fn published_with_redirects(name: &str, n: usize) -> (String, String, Proxy, Site) {
    let b = bucket(name);
    let dist = distribution(&b);
    let proxy = Proxy::start(
        &moto().endpoint,
        Config {
            answer: Some(kvs_api_stand_in),
            ..Default::default()
        },
    );
    let site = Site::new();
    site.config(
        SiteToml::s3(&b)
            .name(name)
            .distribution(&dist)
            .managed_function()
            .then(&many_redirects(n, "/")),
    );
    site.write("public/index.html", "<h1>Home</h1>");
    site.commit("v1");
    tag_for_site(&site, &dist);
    site.run_with(&[], &[("AWS_ENDPOINT_URL", proxy.endpoint.as_str())])
        .ok();
    (b, dist, proxy, site)
}

pub(crate) fn many_redirects(n: usize, to: &str) -> String {
    (0..n)
        .map(|i| {
            format!(
                "[[redirects]]\nfrom = \"/old/{i:03}-a-long-title-of-a-post/\"\nto = \"{to}\"\n"
            )
        })
        .collect()
}

/// The ARN of KeyValueStore `name` in moto.
fn kvs_arn(name: &str) -> String {
    rt().block_on(async {
        let d = cloudfront()
            .describe_key_value_store()
            .name(name)
            .send()
            .await
            .unwrap();
        d.key_value_store().unwrap().arn().to_string()
    })
}

/// The data-API requests to store `arn` among `requests` (the SDK sends the ARN percent-encoded).
fn kvs_requests<'a>(requests: &'a [Logged], arn: &str) -> Vec<&'a Logged> {
    let prefix = format!("/key-value-stores/{arn}");
    (requests.iter())
        .filter(|r| {
            let path = percent_encoding::percent_decode_str(&r.path).decode_utf8_lossy();
            path.starts_with(&prefix)
        })
        .collect()
}

/// A table of 200 redirects (400 URLs) doesn't fit in 9 KB of code: the first publish creates the
/// KeyValueStore `git-publish-<target>-<bucket>` (moto), puts the 400 keys in 8 UpdateKeys of 50 (each with the
/// ETag the previous one returned), and creates the function with the KeyValueStore code and the store in
/// its KeyValueStoreAssociations. A changed table sends only its difference, in one UpdateKeys, and leaves
/// the function alone (its code doesn't hold the table); publishing again sends nothing.
#[test]
fn a_large_redirect_table_goes_to_a_key_value_store() {
    let (b, dist, proxy, site) = published_with_redirects("fn-kvs", 200);
    let (fn_name, _) = site_names(&site);
    let env = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];

    let arn = kvs_arn(&fn_name.clone());
    let keys = store_keys(&arn);
    assert_eq!(keys.len(), 400, "both URL forms of 200 redirects");
    assert_eq!(keys["/old/007-a-long-title-of-a-post/"], "301 /");
    assert_eq!(keys["/old/007-a-long-title-of-a-post/index.html"], "301 /");
    let sent = proxy.requests();
    let updates: Vec<&Logged> = (kvs_requests(&sent, &arn).into_iter())
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(updates.len(), 8, "400 keys, 50 a request");
    assert!(updates.iter().all(|r| r.conditional), "If-Match on each");

    let code = crate::redirects::live_function(&fn_name.clone()).expect("created");
    assert!(code.starts_with("import cf from 'cloudfront';"), "{code}");
    assert!(code.contains("await kvs.get(uri)") && !code.contains("/old/007"));
    // For deploying with other tooling: the code and the store's entries.
    let printed = site
        .run_with(&["cdn-function", "--print", "--json"], &env)
        .ok()
        .json();
    assert_eq!(
        printed["code"].as_str().unwrap().trim_end(),
        code.trim_end()
    );
    let entries = printed["kvs"].as_object().unwrap();
    assert_eq!(entries.len(), 400);
    assert_eq!(entries["/old/007-a-long-title-of-a-post/"], "301 /");
    let plain = site.run_with(&["cdn-function", "--print"], &env).ok();
    assert!(plain.stderr.contains("KeyValueStore"), "{}", plain.stderr);
    let created: Vec<&Logged> = (sent.iter())
        .filter(|r| r.method == "POST" && r.path == "/2020-05-31/function")
        .collect();
    assert_eq!(created.len(), 1);
    let body = String::from_utf8_lossy(&created[0].body);
    assert!(
        body.contains(&format!(
            "<KeyValueStoreAssociations><Quantity>1</Quantity><Items><KeyValueStoreAssociation>\
             <KeyValueStoreARN>{arn}</KeyValueStoreARN>"
        )),
        "CreateFunction associates the store: {body}"
    );
    // moto keeps the association it was sent, and returns it.
    let associated = rt().block_on(async {
        let d = (cloudfront().describe_function().name(fn_name.clone()))
            .send()
            .await
            .unwrap();
        let config = d
            .function_summary()
            .unwrap()
            .function_config()
            .unwrap()
            .clone();
        let items = config
            .key_value_store_associations()
            .unwrap()
            .items()
            .to_vec();
        items
            .iter()
            .map(|a| a.key_value_store_arn().to_string())
            .collect::<Vec<_>>()
    });
    assert_eq!(associated, vec![arn.clone()]);

    // One redirect retargeted, one dropped, one added: 4 puts and 2 deletes in one UpdateKeys; the code
    // is the same, so no function request beyond reading it.
    let mut redirects = many_redirects(200, "/");
    redirects = redirects.replacen(
        "from = \"/old/000-a-long-title-of-a-post/\"\nto = \"/\"",
        "from = \"/old/000-a-long-title-of-a-post/\"\nto = \"/elsewhere/\"",
        1,
    );
    redirects = redirects.replacen(
        "[[redirects]]\nfrom = \"/old/001-a-long-title-of-a-post/\"\nto = \"/\"\n",
        "[[redirects]]\nfrom = \"/new-old/\"\nto = \"/\"\n",
        1,
    );
    site.config(
        SiteToml::s3(&b)
            .name("fn-kvs")
            .distribution(&dist)
            .managed_function()
            .then(&redirects),
    );
    let before = proxy.requests().len();
    let j = site.run_with(&["--json"], &env).ok().json();
    let sent: Vec<Logged> = proxy.requests().into_iter().skip(before).collect();
    let updates: Vec<&Logged> = (kvs_requests(&sent, &arn).into_iter())
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(updates.len(), 1, "{updates:?}");
    let body: serde_json::Value = serde_json::from_slice(&updates[0].body).unwrap();
    assert_eq!(body["Puts"].as_array().unwrap().len(), 4, "{body}");
    assert_eq!(body["Deletes"].as_array().unwrap().len(), 2, "{body}");
    let keys = store_keys(&arn);
    assert_eq!(keys["/old/000-a-long-title-of-a-post/"], "301 /elsewhere/");
    assert_eq!(keys["/new-old/index.html"], "301 /");
    assert!(!keys.contains_key("/old/001-a-long-title-of-a-post/"));
    assert!(
        updated_code(&sent, &fn_name.clone()).is_empty(),
        "same code: no UpdateFunction"
    );
    let invalidated = strings(&j["invalidations"]);
    for url in [
        "/old/000-a-long-title-of-a-post/",
        "/old/001-a-long-title-of-a-post/",
        "/new-old/",
    ] {
        assert!(
            invalidated.contains(&url.to_string()),
            "{url} not in {invalidated:?}"
        );
    }

    // Publishing again: nothing to do, not a request about the function or its store.
    let before = proxy.requests().len();
    let r = site.run_with(&[], &env).ok();
    assert!(r.stderr.contains("nothing to do"), "{}", r.stderr);
    let sent: Vec<Logged> = proxy.requests().into_iter().skip(before).collect();
    assert!(
        kvs_requests(&sent, &arn).is_empty() && function_requests(&sent).is_empty(),
        "{sent:?}"
    );
    assert!(
        !sent.iter().any(|r| r.path.contains("key-value-store")),
        "{sent:?}"
    );
}

/// A table that outgrows the code moves to a KeyValueStore: UpdateFunction (If-Match) carries the
/// KeyValueStore code and the store in KeyValueStoreAssociations, after the keys are in the store.
#[test]
fn a_table_that_outgrows_the_code_moves_to_a_key_value_store() {
    let (b, dist, proxy, site) = published_with_redirects("fn-grow", 2);
    let (fn_name, _) = site_names(&site);
    let env = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    let code = crate::redirects::live_function(&fn_name.clone()).unwrap();
    assert!(
        code.contains("var REDIRECTS = {") && !code.contains("import"),
        "{code}"
    );

    site.config(
        SiteToml::s3(&b)
            .name("fn-grow")
            .distribution(&dist)
            .managed_function()
            .then(&many_redirects(200, "/")),
    );
    site.write("public/about.html", "<h1>About</h1>");
    site.commit("v2");
    let before = proxy.requests().len();
    site.run_with(&[], &env).ok();
    let arn = kvs_arn(&fn_name.clone());
    assert_eq!(store_keys(&arn).len(), 400);
    let sent: Vec<Logged> = proxy.requests().into_iter().skip(before).collect();
    let code = updated_code(&sent, &fn_name.clone());
    assert!(
        code.len() == 1 && code[0].starts_with("import cf from 'cloudfront';"),
        "{code:?}"
    );
    let update = (sent.iter())
        .position(|r| r.method == "PUT" && r.path == format!("/2020-05-31/function/{fn_name}"))
        .unwrap();
    assert!(sent[update].conditional);
    let body = String::from_utf8_lossy(&sent[update].body);
    assert!(
        body.contains(&format!("<KeyValueStoreARN>{arn}</KeyValueStoreARN>")),
        "{body}"
    );
    let last_key_write = (sent.iter())
        .rposition(|r| r.method == "POST" && r.path.contains("/keys"))
        .unwrap();
    assert!(
        last_key_write < update,
        "the keys are in the store before the code reads them"
    );

    // Back under 9 KB: the table goes back into the code, and the function no longer names the store.
    site.config(
        SiteToml::s3(&b)
            .name("fn-grow")
            .distribution(&dist)
            .managed_function()
            .then(&many_redirects(3, "/")),
    );
    let before = proxy.requests().len();
    site.run_with(&[], &env).ok();
    let sent: Vec<Logged> = proxy.requests().into_iter().skip(before).collect();
    let code = updated_code(&sent, &fn_name.clone());
    assert!(
        code.len() == 1 && code[0].contains("var REDIRECTS = {") && !code[0].contains("import"),
        "{code:?}"
    );
    let update = (sent.iter())
        .find(|r| r.method == "PUT" && r.path == format!("/2020-05-31/function/{fn_name}"))
        .unwrap();
    assert!(!String::from_utf8_lossy(&update.body).contains("KeyValueStore"));
    assert!(
        kvs_requests(&sent, &arn).is_empty(),
        "the store is left as it was"
    );
}

/// A redirect beyond the KeyValueStore's limits (here a 600-byte URL) is refused before anything is
/// written, naming the redirect and the limit.
#[test]
fn a_redirect_beyond_the_key_value_store_limits_is_refused_before_anything_is_written() {
    let b = bucket("fn-limit");
    let dist = distribution(&b);
    let long = format!("/{}/", "x".repeat(600));
    let site = Site::new();
    site.config(
        SiteToml::s3(&b)
            .name("fn-limit")
            .distribution(&dist)
            .managed_function()
            .then(&format!(
                "{}[[redirects]]\nfrom = \"{long}\"\nto = \"/\"\n",
                many_redirects(200, "/")
            )),
    );
    site.write("public/index.html", "<h1>Home</h1>");
    site.commit("v1");
    let before = moto().request_count(&b);
    let r = site.run(&[]).fails(2);
    assert!(
        r.stderr.contains(&format!(
            "the redirect from {}index.html to / can't be served",
            long
        )) && r.stderr.contains("a KeyValueStore key takes at most 512"),
        "{}",
        r.stderr
    );
    // (A first publish creates the conditional-write probe object while it reads the state, before it plans:
    // that is no key of the site, see `state_record.rs`.)
    let writes = (moto().requests(&b).into_iter().skip(before))
        .filter(|r| r.method == "PUT" || r.method == "POST")
        .filter(|r| !r.path.contains(".git-publish/probe"))
        .count();
    assert_eq!(writes, 0, "nothing written");
}

/// Finding 12 of the third review: a publish that changes only the managed function (the recorded
/// fingerprint differs, no file changed) publishes it under a claim, like any change to what the site
/// serves: the claim is written before the function is, and the record after.
#[test]
fn finding_12_a_function_alone_is_published_under_a_claim() {
    use aws_sdk_cloudfront::primitives::Blob;
    use aws_sdk_cloudfront::types::FunctionStage;
    let b = bucket("fn-claim");
    let dist = distribution(&b);
    let proxy = proxy();
    let env = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    let site = published_site("fn-claim", &b, &dist, &proxy);
    let (name, _) = site_names(&site);
    // Someone changed the live code, and the record says another function was published.
    rt().block_on(async {
        let c = cloudfront();
        let dev = c.describe_function().name(&name).send().await.unwrap();
        let config = dev
            .function_summary()
            .unwrap()
            .function_config()
            .unwrap()
            .clone();
        let updated = (c.update_function().name(&name))
            .if_match(dev.e_tag().unwrap())
            .function_config(config)
            .function_code(Blob::new(
                "function handler(event) { return event.request; }",
            ))
            .send()
            .await
            .unwrap();
        (c.publish_function().name(&name))
            .if_match(updated.e_tag().unwrap())
            .send()
            .await
            .unwrap();
        assert!(c
            .get_function()
            .name(&name)
            .stage(FunctionStage::Live)
            .send()
            .await
            .is_ok());
    });
    let mut st = state_json(&b, "");
    st["deployed"]["function"] = "sha256:0".into();
    put_state(&b, st.to_string().as_bytes());

    let before = proxy.requests().len();
    site.run_with(&[], &env).ok();
    let sent: Vec<Logged> = proxy.requests().into_iter().skip(before).collect();
    let state_puts: Vec<usize> = (sent.iter().enumerate())
        .filter(|(_, r)| r.method == "PUT" && r.path.contains(".git-publish/state.json"))
        .map(|(i, _)| i)
        .collect();
    let function_writes: Vec<usize> = (sent.iter().enumerate())
        .filter(|(_, r)| {
            (r.method == "PUT" || r.method == "POST")
                && (r.path.contains("/function/") || r.path.ends_with("/config"))
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(state_puts.len(), 2, "a claim, then the record: {sent:?}");
    assert!(
        !function_writes.is_empty(),
        "the function is published: {sent:?}"
    );
    assert!(
        function_writes
            .iter()
            .all(|w| state_puts[0] < *w && *w < state_puts[1]),
        "{sent:?}"
    );
    let code = updated_code(&sent, &name);
    assert!(code.len() == 1 && code[0].contains("var INDEX"), "{code:?}");
}

/// A site published once without a managed function, on a new bucket and distribution; site.toml then turns
/// `cdn_function = "manage"` on, with no new commit. Returns (bucket, distribution, site).
fn published_then_turned_on(name: &str, env: &[(&str, &str)]) -> (String, String, Site) {
    let b = bucket(name);
    let dist = distribution(&b);
    let site = Site::new();
    site.config(&format!(
        "[source]\ndir = \"public\"\n[targets.{name}]\nurl = \"s3://{b}\"\ndistribution = \"{dist}\"\n"
    ));
    site.write("public/index.html", "<h1>Home</h1>");
    site.commit("v1");
    site.run_with(&[], env).ok();
    site.config(
        SiteToml::s3(&b)
            .name(name)
            .distribution(&dist)
            .managed_function(),
    );
    tag_for_site(&site, &dist);
    (b, dist, site)
}

/// Turning the managed function on, with no new commit, is a publish with no file to transfer, made under a
/// claim like any change to what the site serves (finding 12 of the third review): the claim, the function
/// created, published and associated with the distribution, then the record with its fingerprint.
#[test]
fn turning_the_function_on_alone_creates_and_associates_it_before_the_record() {
    let proxy = proxy();
    let env = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    let (b, dist, site) = published_then_turned_on("fn-on", &env);
    let before = proxy.requests().len();
    let r = site.run_with(&[], &env).ok();
    assert!(!r.stderr.contains("nothing to do"), "{}", r.stderr);
    let sent: Vec<Logged> = proxy.requests().into_iter().skip(before).collect();
    let (name, _) = site_names(&site);
    let step = |method: &str, path: &str| {
        (sent.iter())
            .position(|q| q.method == method && q.path == path && q.status < 300)
            .unwrap_or_else(|| panic!("no {method} {path}: {sent:?}"))
    };
    let created = step("POST", "/2020-05-31/function");
    let published = step("POST", &format!("/2020-05-31/function/{name}/publish"));
    let associated = step("PUT", &format!("/2020-05-31/distribution/{dist}/config"));
    let records: Vec<usize> = (sent.iter().enumerate())
        .filter(|(_, q)| q.method == "PUT" && q.path.contains("/.git-publish/state.json"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(records.len(), 2, "the claim, then the record: {sent:?}");
    assert!(
        records[0] < created
            && created < published
            && published < associated
            && associated < records[1],
        "{sent:?}"
    );
    let fingerprint = &state_json(&b, "")["deployed"]["function"];
    assert!(
        fingerprint
            .as_str()
            .is_some_and(|f| f.starts_with("sha256:")),
        "{fingerprint}"
    );
}

/// CreateFunction refused with AccessDenied.
fn function_access_denied(a: &Asked) -> Option<Vec<u8>> {
    (a.method == "POST" && a.path == "/2020-05-31/function").then(|| {
        let body = "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>denied by the test</Message></Error><RequestId>t</RequestId></ErrorResponse>";
        format!("HTTP/1.1 403 Forbidden\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).into_bytes()
    })
}

/// CreateFunction refused with an error git-publish has no words of its own for.
fn function_refused_unknown(a: &Asked) -> Option<Vec<u8>> {
    (a.method == "POST" && a.path == "/2020-05-31/function").then(|| {
        let body = "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Error><Type>Sender</Type><Code>SomethingNew</Code><Message>refused by the test</Message></Error><RequestId>t</RequestId></ErrorResponse>";
        format!("HTTP/1.1 400 Bad Request\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).into_bytes()
    })
}

/// When the function can't be made, the error names the distribution and the fix: the store's own hint where
/// it has one (access denied: the IAM policy), else how to do without the function. Nothing is recorded.
#[test]
fn a_function_that_cannot_be_made_says_how_to_fix_it_and_records_nothing() {
    for (name, answer, hint) in [
        (
            "fn-denied",
            function_access_denied as crate::proxy::Answer,
            "iam-policy",
        ),
        (
            "fn-refused",
            function_refused_unknown,
            "cdn_function = \"off\"",
        ),
    ] {
        let proxy = Proxy::start(
            &moto().endpoint,
            Config {
                answer: Some(answer),
                ..Default::default()
            },
        );
        let env = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
        let (b, dist, site) = published_then_turned_on(name, &env);
        let r = site.run_with(&[], &env).fails(1);
        assert!(
            r.stderr.contains(&dist) && r.stderr.contains(hint),
            "{name}: {}",
            r.stderr
        );
        assert!(
            state_json(&b, "")["deployed"]["function"].is_null(),
            "{name}"
        );
    }
}

/// Publishes that leave the function alone keep its fingerprint in the record while the target manages it
/// (so the next one sends nothing about the function either), and drop it once the target no longer does.
#[test]
fn the_record_keeps_the_fingerprint_only_while_the_function_is_managed() {
    let b = bucket("fn-keep");
    let dist = distribution(&b);
    let proxy = proxy();
    let env = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    let site = published_site("fn-keep", &b, &dist, &proxy);
    let first = state_json(&b, "")["deployed"]["function"].clone();
    assert!(
        first.as_str().is_some_and(|f| f.starts_with("sha256:")),
        "{first}"
    );
    for n in 2..=3 {
        site.write("public/about.html", post("About", &n.to_string(), ""));
        site.commit(&format!("v{n}"));
        let before = proxy.requests().len();
        site.run_with(&[], &env).ok();
        let sent: Vec<Logged> = proxy.requests().into_iter().skip(before).collect();
        assert!(
            function_requests(&sent).is_empty(),
            "v{n}: {:?}",
            function_requests(&sent)
        );
        assert_eq!(state_json(&b, "")["deployed"]["function"], first, "v{n}");
    }
    site.config(&format!(
        "[source]\ndir = \"public\"\n[targets.fn-keep]\nurl = \"s3://{b}\"\ndistribution = \"{dist}\"\n"
    ));
    site.write("public/about.html", post("About", "4", ""));
    site.commit("v4");
    site.run_with(&[], &env).ok();
    assert!(state_json(&b, "")["deployed"]["function"].is_null());
}
