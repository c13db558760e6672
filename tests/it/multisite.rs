//! One AWS account, several sites (issue "One site never touches another", findings 1-3 and 12 of the third
//! review): a second `setup` and publish, for another repository whose bucket shares the first 41 characters
//! of the first's (the names the function and its store used to be cut to), and for another prefix of the
//! first site's bucket, change nothing that belongs to the first site: its function, its KeyValueStore and its
//! keys, its bucket policy statements, its distribution and its DNS records stay byte for byte as they were.

use std::collections::BTreeMap;

use aws_sdk_cloudfront::types::FunctionStage;
use serde_json::Value;

use crate::cdn_function::{kvs_api_stand_in, many_redirects, store_keys};
use crate::proxy::{Config, Proxy};
use crate::util::*;

/// A site in its own repository: `url`, target `production`, `extra` lines; committed, not published.
fn site_at(url: &str, extra: &str) -> Site {
    let site = Site::new();
    site.config(&format!(
        "[source]\ndir = \"public\"\n\n[targets.production]\nurl = \"{url}\"\n{extra}"
    ));
    site.write("public/index.html", "<h1>Home</h1>")
        .write("public/posts/a/index.html", "<h1>A</h1>");
    site.commit("v1");
    site
}

fn route53() -> aws_sdk_route53::Client {
    aws_sdk_route53::Client::new(
        &aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
                aws_sdk_s3::config::Credentials::new("test", "test", None, None, "tests"),
            ))
            .endpoint_url(&moto().endpoint)
            .build(),
    )
}

/// A new public hosted zone; its id.
fn zone(name: &str) -> String {
    let z = rt()
        .block_on(
            route53()
                .create_hosted_zone()
                .name(name)
                .caller_reference(unique("z"))
                .send(),
        )
        .unwrap();
    (z.hosted_zone().unwrap().id())
        .trim_start_matches("/hostedzone/")
        .to_string()
}

/// The record sets of a zone for `domain` (its A/AAAA records and its certificate's validation CNAMEs), as
/// text.
fn records(zone: &str, domain: &str) -> Vec<String> {
    let r = rt()
        .block_on(
            route53()
                .list_resource_record_sets()
                .hosted_zone_id(zone)
                .send(),
        )
        .unwrap();
    (r.resource_record_sets().iter())
        .filter(|r| r.name().trim_end_matches('.').ends_with(domain))
        .map(|r| format!("{r:?}"))
        .collect()
}

/// Everything of a site that another site's setup or publish could touch.
#[derive(Debug, PartialEq)]
struct Resources {
    function_code: Vec<u8>,
    /// DescribeFunction (LIVE): config (comment, KeyValueStore association), ETag.
    function: String,
    /// DescribeKeyValueStore, and the keys the data-API stand-in holds for it.
    kvs: String,
    kvs_keys: BTreeMap<String, String>,
    /// The bucket policy statements with the site's Sids, and the bucket's tag for it.
    statements: Vec<Value>,
    bucket_tags: Vec<String>,
    /// GetDistributionConfig (config and ETag) and the distribution's tags.
    distribution: String,
    dist_tags: Vec<(String, String)>,
    dns: Vec<String>,
}

fn resources(site: &Site, bucket: &str, dist: &str, zone: &str, domain: &str) -> Resources {
    let (name, tag) = site_names(site);
    let id = tag.rsplit(' ').next().unwrap().to_string();
    let c = cloudfront();
    let dns = records(zone, domain);
    rt().block_on(async {
        let code = (c.get_function().name(&name).stage(FunctionStage::Live))
            .send()
            .await
            .unwrap();
        let f = (c.describe_function().name(&name).stage(FunctionStage::Live))
            .send()
            .await
            .unwrap();
        let kvs = c
            .describe_key_value_store()
            .name(&name)
            .send()
            .await
            .unwrap();
        let kvs_arn = kvs.key_value_store().unwrap().arn().to_string();
        let policy = s3()
            .get_bucket_policy()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        let policy: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
        let tags = s3()
            .get_bucket_tagging()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        let config = c.get_distribution_config().id(dist).send().await.unwrap();
        let arn = c.get_distribution().id(dist).send().await.unwrap();
        let arn = arn.distribution().unwrap().arn().to_string();
        let dist_tags = c
            .list_tags_for_resource()
            .resource(&arn)
            .send()
            .await
            .unwrap();
        Resources {
            function_code: code.function_code().unwrap().as_ref().to_vec(),
            function: format!(
                "{:?} {:?}",
                f.function_summary().unwrap().function_config(),
                f.e_tag()
            ),
            kvs: format!("{:?} {:?}", kvs.key_value_store(), kvs.e_tag()),
            kvs_keys: store_keys(&kvs_arn),
            statements: (policy["Statement"].as_array().unwrap().iter())
                .filter(|s| s["Sid"].as_str().unwrap_or_default().contains(&id))
                .cloned()
                .collect(),
            bucket_tags: (tags.tag_set().iter())
                .filter(|t| t.key().contains(&id))
                .map(|t| format!("{}={}", t.key(), t.value()))
                .collect(),
            distribution: format!("{:?} {:?}", config.distribution_config(), config.e_tag()),
            dist_tags: (dist_tags.tags().unwrap().items().iter())
                .map(|t| {
                    (
                        t.key().to_string(),
                        t.value().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
            dns,
        }
    })
}

/// The distribution id setup wrote into a site's site.toml.
fn distribution_of(site: &Site) -> String {
    let toml = std::fs::read_to_string(site.path("site.toml")).unwrap();
    let line = (toml.lines())
        .find(|l| l.starts_with("distribution = "))
        .unwrap_or_else(|| panic!("no distribution in {toml}"));
    line.split('"').nth(1).unwrap().to_string()
}

/// Setup (with a domain in `zone`, through Route 53), then a publish with a redirect table large enough for
/// a KeyValueStore, through the data-API stand-in.
fn set_up_and_publish(site: &Site, domain: Option<&str>, proxy: &Proxy) {
    let mut args = vec!["setup", "--yes"];
    if let Some(d) = domain {
        args.extend(["--domain", d, "--route53"]);
    }
    let r = site.run(&args).ok();
    assert!(r.stdout.contains("✓ distribution"), "{}", r.stdout);
    let toml = std::fs::read_to_string(site.path("site.toml")).unwrap();
    site.config(&format!("{toml}{}", many_redirects(200, "/")));
    site.commit("setup, redirects");
    site.run_with(&[], &[("AWS_ENDPOINT_URL", proxy.endpoint.as_str())])
        .ok();
}

/// Findings 1, 2, 3 and 12: the done-when of the issue.
#[test]
fn a_second_site_in_the_account_changes_nothing_of_the_first() {
    let proxy = Proxy::start(
        &moto().endpoint,
        Config {
            answer: Some(kvs_api_stand_in),
            ..Default::default()
        },
    );
    let shared = unique("acme-corp-marketing-website-static-content").to_lowercase();
    assert!(shared.len() >= 41);
    let (us, eu) = (format!("{shared}-us"), format!("{shared}-eu"));
    let zone_name = format!("{}.example", unique("zone"));
    let zone = zone(&zone_name);
    let (domain_a, domain_b) = (format!("us.{zone_name}"), format!("eu.{zone_name}"));

    let a = site_at(&format!("s3://{us}"), "");
    set_up_and_publish(&a, Some(&domain_a), &proxy);
    let dist_a = distribution_of(&a);
    let before = resources(&a, &us, &dist_a, &zone, &domain_a);
    assert_eq!(before.dns.len(), 3, "{:?}", before.dns);
    assert!(before.kvs_keys.len() >= 400, "the table is in the store");
    assert_eq!(before.statements.len(), 2);

    // Another repository: the same target name, a bucket with the same first 41 characters, a domain in the
    // same zone.
    let b = site_at(&format!("s3://{eu}"), "");
    set_up_and_publish(&b, Some(&domain_b), &proxy);
    // Another prefix of the first site's bucket.
    let c = site_at(&format!("s3://{us}/staging"), "");
    let r = c.run(&["setup", "--yes"]).ok();
    assert!(
        r.stdout.contains("made by setup for another site"),
        "{}",
        r.stdout
    );
    c.commit("setup");
    c.run(&[]).ok();

    assert_eq!(resources(&a, &us, &dist_a, &zone, &domain_a), before);
    // Each site has its own distribution and function, and each is served: the staging site's statements
    // let its distribution read its prefix (sibling prefixes did not go 403).
    let names: Vec<String> = [&a, &b, &c].iter().map(|s| site_names(s).0).collect();
    assert!(
        names[0] != names[1] && names[1] != names[2] && names[0] != names[2],
        "{names:?}"
    );
    let dists = [dist_a.clone(), distribution_of(&b), distribution_of(&c)];
    assert!(dists[0] != dists[1] && dists[1] != dists[2], "{dists:?}");
    for s in [&a, &b, &c] {
        let check = s.run(&["setup", "--check"]).ok();
        assert!(!check.stdout.contains('✗'), "{}", check.stdout);
    }
    // Publishing the first site again still works and still changes nothing of the others.
    let other = resources(&b, &eu, &dists[1], &zone, &domain_b);
    a.write("public/posts/b/index.html", "<h1>B</h1>");
    a.commit("v2");
    a.run_with(&[], &[("AWS_ENDPOINT_URL", proxy.endpoint.as_str())])
        .ok();
    assert_eq!(resources(&b, &eu, &dists[1], &zone, &domain_b), other);
}

/// Finding 3: with no id in site.toml, setup finds a distribution of the bucket that it did not create; it
/// leaves it alone and writes nothing into site.toml, and a publish with `cdn_function = "manage"` refuses to
/// change it (it is not tagged for the site) instead of re-pointing its viewer function.
#[test]
fn finding_3_setup_never_writes_a_distribution_it_leaves_alone() {
    let b = bucket("ms-alone");
    let id = distribution(&b);
    let site = site_at(&format!("s3://{b}"), "");
    let before = std::fs::read_to_string(site.path("site.toml")).unwrap();
    let (config, _) = rt()
        .block_on(cloudfront().get_distribution_config().id(&id).send())
        .map(|c| (format!("{:?}", c.distribution_config()), ()))
        .unwrap();
    let r = site.run(&["setup", "--yes"]).ok();
    assert!(
        r.stdout
            .contains(&format!("! distribution {id}: left alone")),
        "{}",
        r.stdout
    );
    assert_eq!(
        std::fs::read_to_string(site.path("site.toml")).unwrap(),
        before
    );
    let after = rt()
        .block_on(cloudfront().get_distribution_config().id(&id).send())
        .unwrap();
    assert_eq!(format!("{:?}", after.distribution_config()), config);

    // Named by hand with `cdn_function = "manage"`: the publish stops before changing the distribution.
    site.config(&format!(
        "{before}distribution = \"{id}\"\ncdn_function = \"manage\"\n"
    ));
    site.commit("by hand");
    let r = site.run(&[]).fails(1);
    assert!(
        r.stderr
            .contains("was not created or adopted by `git publish setup`"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("setup --adopt"), "{}", r.stderr);
    let after = rt()
        .block_on(cloudfront().get_distribution_config().id(&id).send())
        .unwrap();
    assert_eq!(format!("{:?}", after.distribution_config()), config);
}

/// Finding 1: a function of the site's name that is not the site's (made by hand, its comment names no site)
/// is never published over by a publish, and setup holds it until `--adopt`.
#[test]
fn finding_1_a_function_of_that_name_made_by_hand_is_left_alone() {
    let b = bucket("ms-foreign");
    let dist = distribution(&b);
    let site = site_at(
        &format!("s3://{b}"),
        &format!("distribution = \"{dist}\"\ncdn_function = \"manage\"\n"),
    );
    tag_for_site(&site, &dist);
    let (name, _) = site_names(&site);
    let code = "function handler(event) { return event.request; }";
    function_made_by_hand(&name, code);
    let r = site.run(&[]).fails(1);
    assert!(r.stderr.contains("is not this site's"), "{}", r.stderr);
    assert_eq!(
        crate::redirects::live_function(&name).as_deref(),
        Some(code)
    );
    let plan = site.run(&["setup", "--dry-run"]).ok();
    assert!(
        plan.stdout
            .contains(&format!("! CloudFront Function {name}: left alone")),
        "{}",
        plan.stdout
    );
}
