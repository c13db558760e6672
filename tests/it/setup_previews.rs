//! `git publish setup --previews` and the site's 404 page (issue 25, sections 2 and 5), against moto
//! (scripts/moto-server). moto 5.2.5 stores and returns a distribution's wildcard aliases and
//! CustomErrorResponses (every field), an ACM certificate's SubjectAlternativeNames (wildcards too) and
//! Route 53's wildcard records (as `*`, where Route 53 answers `\052`): the tests read them back, and the
//! request the client sent (a recording proxy) where the point is what was asked for.

use std::io::{Read, Write};

use crate::proxy::{Config, Proxy};
use crate::util::*;

fn route53() -> aws_sdk_route53::Client {
    aws_sdk_route53::Client::new(&sdk())
}

fn acm() -> aws_sdk_acm::Client {
    aws_sdk_acm::Client::new(&sdk())
}

fn sdk() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            aws_sdk_s3::config::Credentials::new("test", "test", None, None, "tests"),
        ))
        .endpoint_url(&moto().endpoint)
        .build()
}

/// A public hosted zone `<unique>.example`: (its name, its id).
pub fn zone() -> (String, String) {
    let name = format!("{}.example", unique("zone")).to_lowercase();
    let z = rt()
        .block_on(
            route53()
                .create_hosted_zone()
                .name(&name)
                .caller_reference(unique("z"))
                .send(),
        )
        .unwrap();
    let id = z
        .hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/");
    (name, id.to_string())
}

/// The zone's records: (name, type, alias target).
pub fn records(zone_id: &str) -> Vec<(String, String, String)> {
    let r = rt()
        .block_on(
            route53()
                .list_resource_record_sets()
                .hosted_zone_id(zone_id)
                .send(),
        )
        .unwrap();
    (r.resource_record_sets().iter())
        .map(|r| {
            let to = r
                .alias_target()
                .map(|a| a.dns_name().to_string())
                .unwrap_or_default();
            (
                r.name().replace("\\052", "*"),
                r.r#type().as_str().to_string(),
                to,
            )
        })
        .collect()
}

fn dist_of(bucket: &str) -> String {
    let ids = crate::setup::distributions_of(bucket);
    assert_eq!(ids.len(), 1, "{ids:?}");
    ids[0].clone()
}

fn config_of(id: &str) -> aws_sdk_cloudfront::types::DistributionConfig {
    let got = rt()
        .block_on(cloudfront().get_distribution_config().id(id).send())
        .unwrap();
    got.distribution_config().unwrap().clone()
}

/// The requests through `proxy` that change something.
fn writes(proxy: &Proxy) -> Vec<String> {
    (proxy.requests().into_iter())
        .filter(|r| r.method != "GET" && r.method != "HEAD")
        .filter(|r| {
            // ACM and Route 53 reads are POSTs too: only their writes count.
            let body = String::from_utf8_lossy(&r.body);
            !(r.method == "POST" && r.path == "/" && !body.contains("DomainName"))
        })
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// `setup --domain --route53`, then `setup --previews --route53`: one new certificate for both names (the
/// distribution has one), swapped in with the wildcard alias; the wildcard's A/AAAA aliases and the
/// validation CNAMEs in the zone; `--check` says ✓ previews; a re-run writes nothing.
#[test]
fn setup_previews_adds_the_wildcard_alias_with_one_certificate_for_every_alias() {
    let b = unique("setup-previews").to_lowercase();
    let (zone_name, zone_id) = zone();
    let domain = format!("blog.{zone_name}");
    let previews = format!("preview.{domain}");
    let wildcard = format!("*.{previews}");
    let site = Site::new();
    site.config(&format!(
        "[source]\ndir = \"public\"\n\n[targets.production]\nurl = \"s3://{b}\"\n\n\
         [targets.production.previews]\ndomain = \"{previews}\"\n"
    ));
    site.write("public/index.html", "<h1>Home</h1>");
    site.commit("v1");
    site.run(&["setup", "--yes", "--domain", &domain, "--route53"])
        .ok();
    let id = dist_of(&b);
    let first = config_of(&id);
    let first_cert = first
        .viewer_certificate()
        .unwrap()
        .acm_certificate_arn()
        .unwrap()
        .to_string();
    assert_eq!(
        first.aliases().unwrap().items(),
        std::slice::from_ref(&domain)
    );
    let check = site.run(&["setup", "--check"]).fails(1);
    assert!(
        check
            .stdout
            .contains(&format!("✗ previews: {wildcard} is not an alias")),
        "{}",
        check.stdout
    );

    let proxy = Proxy::start(&moto().endpoint, Config::default());
    let env = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    let r = site
        .run_with(&["setup", "--yes", "--previews", "--route53"], &env)
        .ok();
    assert!(
        r.stdout.contains(&format!(
            "+ ACM certificate for {domain}, {wildcard} in us-east-1 (DNS validation; once issued it replaces \
             {first_cert}"
        )),
        "{}",
        r.stdout
    );
    // What was asked of ACM: both names, DNS validation, the site's tag and an idempotency token.
    let asked = (proxy.requests().into_iter())
        .map(|q| String::from_utf8_lossy(&q.body).into_owned())
        .find(|body| body.contains("\"DomainName\"") && body.contains("IdempotencyToken"))
        .expect("a RequestCertificate");
    let asked: serde_json::Value = serde_json::from_str(&asked).unwrap();
    assert_eq!(asked["DomainName"], domain.as_str());
    assert_eq!(
        asked["SubjectAlternativeNames"],
        serde_json::json!([wildcard])
    );
    assert_eq!(asked["ValidationMethod"], "DNS");
    assert_eq!(asked["Tags"][0]["Key"], "git-publish:site");
    assert!(asked["IdempotencyToken"]
        .as_str()
        .unwrap()
        .starts_with("gitpublish"));

    // The distribution: both aliases, the new certificate, which covers both.
    let after = config_of(&id);
    assert_eq!(
        after.aliases().unwrap().items(),
        [domain.clone(), wildcard.clone()]
    );
    let cert = after
        .viewer_certificate()
        .unwrap()
        .acm_certificate_arn()
        .unwrap()
        .to_string();
    assert_ne!(cert, first_cert);
    let described = rt()
        .block_on(acm().describe_certificate().certificate_arn(&cert).send())
        .unwrap();
    let names = described
        .certificate()
        .unwrap()
        .subject_alternative_names()
        .to_vec();
    assert!(
        names.contains(&domain) && names.contains(&wildcard),
        "{names:?}"
    );

    // Route 53: the wildcard's aliases to the distribution, the validation CNAMEs.
    let dist_domain = rt()
        .block_on(cloudfront().get_distribution().id(&id).send())
        .unwrap();
    let dist_domain = dist_domain
        .distribution()
        .unwrap()
        .domain_name()
        .to_string();
    let recs = records(&zone_id);
    for kind in ["A", "AAAA"] {
        assert!(
            recs.iter().any(|(n, k, to)| *n == format!("{wildcard}.")
                && k == kind
                && to.starts_with(&dist_domain)),
            "{kind}: {recs:?}"
        );
    }
    assert!(
        recs.iter()
            .any(|(n, k, _)| k == "CNAME" && n.ends_with(&format!(".{previews}."))),
        "{recs:?}"
    );

    site.run(&["setup", "--check"]).ok();
    let proxy = Proxy::start(&moto().endpoint, Config::default());
    let env = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    let again = site
        .run_with(&["setup", "--yes", "--previews", "--route53"], &env)
        .ok();
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );
    assert_eq!(writes(&proxy), Vec::<String>::new());
}

/// `--previews` without `[targets.NAME.previews] domain` names the key and changes nothing.
#[test]
fn setup_previews_needs_the_previews_domain() {
    let site = Site::new();
    site.config("[targets.production]\nurl = \"s3://blog-no-previews\"\n");
    let r = site.run(&["setup", "--previews"]).fails(2);
    assert!(
        r.stderr.contains("[targets.production.previews]"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("domain = "), "{}", r.stderr);
}

/// Answers every request with `status` and a small body, on 127.0.0.1 (a stand-in for the distribution's
/// public URL, as doctor reads it).
fn answering(status: u16) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let body = "<!DOCTYPE html><title>Not here</title>";
            let _ = write!(
                conn,
                "HTTP/1.1 {status} X\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// A custom error response's fields: code, page, response code, TTL.
type Entry<'a> = (i32, Option<&'a str>, Option<&'a str>, Option<i64>);

/// Issue 25, section 5: a site published after setup has a 404.html that the distribution does not serve
/// yet (`--check` ✗); the next `setup` adds 403 and 404 → /404.html (404, cached 10 s) for a site under a
/// prefix (the origin path holds the prefix, so the page path is /404.html), keeps the user's 500 entry,
/// and a re-run changes nothing. doctor then tells a missing page (404) from CloudFront failing to read the
/// page (403).
#[test]
fn setup_answers_a_missing_page_with_the_sites_404_html() {
    let b = unique("setup-404").to_lowercase();
    let site = Site::new();
    site.config(&format!(
        "[source]\ndir = \"public\"\n\n[targets.production]\nurl = \"s3://{b}/blog\"\n"
    ));
    site.write("public/index.html", "<h1>Home</h1>")
        .write("public/404.html", "<h1>Not found</h1>");
    site.commit("v1");
    site.run(&["setup", "--yes"]).ok();
    site.commit("setup");
    site.run(&[]).ok();
    let id = dist_of(&b);
    assert_eq!(
        config_of(&id)
            .custom_error_responses()
            .map(|e| e.quantity()),
        Some(0)
    );
    let check = site.run(&["setup", "--check"]).fails(1);
    assert!(
        check.stdout.contains("✗ 404 page: the site has /404.html"),
        "{}",
        check.stdout
    );

    // The user's own entry for 500 stays as it is.
    use aws_sdk_cloudfront::types::{CustomErrorResponse, CustomErrorResponses};
    let got = rt()
        .block_on(cloudfront().get_distribution_config().id(&id).send())
        .unwrap();
    let mut c = got.distribution_config().unwrap().clone();
    let five = CustomErrorResponse::builder()
        .error_code(500)
        .error_caching_min_ttl(0)
        .build()
        .unwrap();
    c.custom_error_responses = Some(
        CustomErrorResponses::builder()
            .quantity(1)
            .items(five)
            .build()
            .unwrap(),
    );
    rt().block_on(
        cloudfront()
            .update_distribution()
            .id(&id)
            .if_match(got.e_tag().unwrap())
            .distribution_config(c)
            .send(),
    )
    .unwrap();

    let r = site.run(&["setup", "--yes"]).ok();
    assert!(
        r.stdout.contains(
            "custom error responses: 500 (cached 0 s) → 500 (cached 0 s), 403 → /404.html (404, cached 10 s), \
             404 → /404.html (404, cached 10 s)"
        ),
        "{}",
        r.stdout
    );
    let after = config_of(&id);
    let list: Vec<Entry> = (after.custom_error_responses().unwrap().items().iter())
        .map(|e| {
            (
                e.error_code(),
                e.response_page_path(),
                e.response_code(),
                e.error_caching_min_ttl(),
            )
        })
        .collect();
    assert_eq!(
        list,
        [
            (500, None, None, Some(0)),
            (403, Some("/404.html"), Some("404"), Some(10)),
            (404, Some("/404.html"), Some("404"), Some(10)),
        ]
    );
    assert_eq!(
        after.origins().unwrap().items()[0].origin_path(),
        Some("/blog")
    );
    let again = site.run(&["setup", "--yes"]).ok();
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );
    let check = site.run(&["setup", "--check"]).ok();
    assert!(
        check
            .stdout
            .contains("✓ 404 page: a missing page answers 404 with /404.html"),
        "{}",
        check.stdout
    );

    // doctor: a missing page answering 403 is CloudFront failing to read /404.html, not a missing page.
    let denied = answering(403);
    let r = site.run(&["doctor", "--site-url", &denied]).fails(1);
    assert!(r.stdout.contains("✗ 404 page"), "{}", r.stdout);
    assert!(
        r.stdout.contains("could not read /404.html"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("✓ public record"), "{}", r.stdout);
    let missing = answering(404);
    let r = site.run(&["doctor", "--site-url", &missing]).ok();
    assert!(r.stdout.contains("✓ 404 page"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("may not read with /404.html, as a missing one"),
        "{}",
        r.stdout
    );
}
