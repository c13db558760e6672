//! The managed CloudFront function (`cdn_function = "manage"`) after its first publish: the state records a
//! fingerprint of what it serves, so a change in site.toml alone (`pretty_urls`, a `[[redirects]]` entry)
//! publishes it on the deployed commit, and a publish that changes nothing sends nothing about it.
//!
//! moto 5.2.5 has no UpdateFunction or PublishFunction: a proxy answers those (see
//! `redirects::function_api_stand_in`) and the tests read what the client sent from its log.

use crate::proxy::{Config, Logged, Proxy};
use crate::redirects::{function_api_stand_in, post};
use crate::util::*;

/// A target `name` in front of `bucket` and `dist` that manages its function, with `extra` lines.
fn config(name: &str, bucket: &str, dist: &str, extra: &str) -> String {
    format!(
        "[source]\ndir = \"public\"\n[targets.{name}]\nurl = \"s3://{bucket}\"\ndistribution = \"{dist}\"\n\
         cdn_function = \"manage\"\n{extra}"
    )
}

/// A proxy in front of moto that answers the function calls moto lacks.
fn proxy() -> Proxy {
    Proxy::start(
        &moto().endpoint,
        Config {
            answer: Some(function_api_stand_in),
            ..Default::default()
        },
    )
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
    site.config(&config(name, bucket, dist, ""));
    site.write("public/index.html", "<h1>Home</h1>")
        .write("public/about.html", post("About", "1", ""));
    site.commit("v1");
    site.run_with(&[], &[("AWS_ENDPOINT_URL", proxy.endpoint.as_str())])
        .ok();
    site
}

/// Regression: turning on `pretty_urls` in site.toml, with no new commit, left the function as it was until
/// the next commit ("already has …: nothing to do"). Now the recorded fingerprint differs: the function is
/// updated (If-Match) and published on the deployed commit, and the state records the new fingerprint.
#[test]
fn pretty_urls_alone_publishes_the_function_on_the_deployed_commit() {
    let b = bucket("fn-pretty");
    let dist = distribution(&b);
    let proxy = proxy();
    let env = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    let site = published_site("fn-pretty", &b, &dist, &proxy);
    let first = state_json(&b, "")["deployed"]["function"].clone();

    site.config(&config("fn-pretty", &b, &dist, "pretty_urls = true\n"));
    let before = proxy.requests().len();
    let r = site.run_with(&[], &env).ok();
    assert!(!r.stderr.contains("nothing to do"), "{}", r.stderr);
    let sent: Vec<Logged> = proxy.requests().into_iter().skip(before).collect();
    let code = updated_code(&sent, "git-publish-fn-pretty");
    assert!(
        code.len() == 1 && code[0].contains("var PRETTY = true;"),
        "UpdateFunction with the pretty-URL code: {code:?}"
    );
    let published: Vec<&Logged> = (sent.iter())
        .filter(|r| r.path.ends_with("/function/git-publish-fn-pretty/publish"))
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

    site.config(&config(
        "fn-redirect",
        &b,
        &dist,
        "[[redirects]]\nfrom = \"/old/\"\nto = \"/about.html\"\n",
    ));
    let before = proxy.requests().len();
    let j = site.run_with(&["--json"], &env).ok().json();
    assert_eq!(j["status"], "published", "{j:#}");
    let invalidated = strings(&j["invalidations"]);
    for form in ["/old/", "/old/index.html"] {
        assert!(invalidated.contains(&form.to_string()), "{form}: {j:#}");
    }
    let sent: Vec<Logged> = proxy.requests().into_iter().skip(before).collect();
    let code = updated_code(&sent, "git-publish-fn-redirect");
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
