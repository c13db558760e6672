//! `git publish setup` against moto (scripts/moto-server): from nothing to a published site, a re-run that
//! changes nothing, adopting a distribution made by hand, a concurrent edit refused by its ETag, a failure
//! part-way completed by the next run, and a domain with its certificate and Route 53 records.

use aws_sdk_cloudfront::types::{DistributionConfig, EventType};

use crate::proxy::{Asked, Config, Proxy};
use crate::util::*;

const SITE_TOML: &str = "# the blog\n[source]\ndir = \"public\"\n\n[targets.production]\n# where it goes\nurl = \"s3://{bucket}\" # the bucket\n";

fn site_for(bucket: &str, extra: &str) -> Site {
    let site = Site::new();
    site.config(&format!("{}{extra}", SITE_TOML.replace("{bucket}", bucket)));
    site.write("public/index.html", "<h1>Home</h1>")
        .write("public/posts/a/index.html", "<h1>A</h1>");
    site.commit("v1");
    site
}

/// A bucket name no test created yet (setup creates it).
fn new_bucket(name: &str) -> String {
    unique(name).to_lowercase()
}

fn dist_config(id: &str) -> (DistributionConfig, String) {
    rt().block_on(async {
        let got = cloudfront()
            .get_distribution_config()
            .id(id)
            .send()
            .await
            .unwrap();
        (
            got.distribution_config().unwrap().clone(),
            got.e_tag().unwrap().to_string(),
        )
    })
}

fn dist_arn(id: &str) -> String {
    rt().block_on(cloudfront().get_distribution().id(id).send())
        .unwrap()
        .distribution()
        .unwrap()
        .arn()
        .to_string()
}

/// Distributions whose origin is `bucket`'s (every page of ListDistributions: the suite makes more than one
/// page's worth on the shared server).
pub fn distributions_of(bucket: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = rt()
            .block_on(
                cloudfront()
                    .list_distributions()
                    .set_marker(marker.clone())
                    .send(),
            )
            .unwrap();
        let Some(list) = page.distribution_list() else {
            return out;
        };
        for d in list.items() {
            let origins = d.origins().map(|o| o.items()).unwrap_or_default();
            if (origins.iter()).any(|o| o.domain_name().starts_with(&format!("{bucket}.s3."))) {
                out.push(d.id().to_string());
            }
        }
        match list.next_marker() {
            Some(m) if list.is_truncated() && !m.is_empty() => marker = Some(m.to_string()),
            _ => return out,
        }
    }
}

fn oacs_named(name: &str) -> Vec<String> {
    let list = rt()
        .block_on(cloudfront().list_origin_access_controls().send())
        .unwrap();
    let items = (list.origin_access_control_list())
        .map(|l| l.items().to_vec())
        .unwrap_or_default();
    items
        .iter()
        .filter(|o| o.name() == name)
        .map(|o| o.id().to_string())
        .collect()
}

fn bucket_policy(bucket: &str) -> serde_json::Value {
    let p = rt()
        .block_on(s3().get_bucket_policy().bucket(bucket).send())
        .unwrap();
    serde_json::from_str(p.policy().unwrap()).unwrap()
}

fn tags_of(arn: &str) -> Vec<(String, String)> {
    let t = rt()
        .block_on(cloudfront().list_tags_for_resource().resource(arn).send())
        .unwrap();
    let items = t.tags().map(|t| t.items().to_vec()).unwrap_or_default();
    items
        .iter()
        .map(|t| {
            (
                t.key().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The requests through `proxy` that change something.
fn writes(proxy: &Proxy) -> Vec<String> {
    (proxy.requests().into_iter())
        .filter(|r| r.method != "GET" && r.method != "HEAD")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// The done-when of the issue: from nothing, one of each, the recommended settings, site.toml filled (comments
/// kept); then `git publish` publishes, and a second `setup --yes` sends no write at all.
#[test]
fn setup_from_nothing_then_publish_then_a_rerun_changes_nothing() {
    let b = new_bucket("setup-new");
    let site = site_for(&b, "");

    // No terminal and no --yes: a plan, nothing made.
    let dry = site.run(&["setup"]).ok();
    assert!(
        dry.stdout.contains(&format!("+ bucket {b} in us-east-1")),
        "{}",
        dry.stdout
    );
    assert!(dry.stderr.contains("dry run"), "{}", dry.stderr);
    assert!(
        rt().block_on(s3().head_bucket().bucket(&b).send()).is_err(),
        "a dry run made the bucket"
    );

    let r = site.run(&["setup", "--yes"]).ok();
    assert!(r.stdout.contains("✓ distribution"), "{}", r.stdout);

    // The bucket: private, ACLs off, encrypted, tagged.
    let (pab, own, enc, tags) = rt().block_on(async {
        let c = s3();
        (
            c.get_public_access_block().bucket(&b).send().await.unwrap(),
            c.get_bucket_ownership_controls()
                .bucket(&b)
                .send()
                .await
                .unwrap(),
            c.get_bucket_encryption().bucket(&b).send().await.unwrap(),
            c.get_bucket_tagging().bucket(&b).send().await.unwrap(),
        )
    });
    let pab = pab.public_access_block_configuration().unwrap();
    assert_eq!(
        (
            pab.block_public_acls(),
            pab.ignore_public_acls(),
            pab.block_public_policy(),
            pab.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    assert_eq!(
        own.ownership_controls().unwrap().rules()[0]
            .object_ownership()
            .as_str(),
        "BucketOwnerEnforced"
    );
    assert_eq!(
        enc.server_side_encryption_configuration()
            .unwrap()
            .rules()
            .len(),
        1
    );
    // Names, tags and Sids carry the site's id (another site in the account never shares them).
    let (name, tag) = site_names(&site);
    let site_id = tag.rsplit(' ').next().unwrap().to_string();
    assert!(name.starts_with(&format!("git-publish-production-{b}")) && name.ends_with(&site_id));
    assert!(tags
        .tag_set()
        .iter()
        .any(|t| t.key() == format!("git-publish:site:{site_id}") && t.value() == "production"));

    // One OAC, one distribution with the recommended settings.
    let oacs = oacs_named(&name);
    assert_eq!(oacs.len(), 1, "{oacs:?}");
    let dists = distributions_of(&b);
    assert_eq!(dists.len(), 1, "{dists:?}");
    let id = &dists[0];
    let (c, _) = dist_config(id);
    let origin = &c.origins().unwrap().items()[0];
    assert_eq!(
        origin.domain_name(),
        format!("{b}.s3.us-east-1.amazonaws.com")
    );
    assert_eq!(origin.origin_access_control_id(), Some(oacs[0].as_str()));
    assert_eq!(c.default_root_object(), Some("index.html"));
    let behaviour = c.default_cache_behavior().unwrap();
    assert_eq!(
        behaviour.viewer_protocol_policy().as_str(),
        "redirect-to-https"
    );
    assert_eq!(behaviour.compress(), Some(true));
    assert_eq!(
        behaviour.cache_policy_id(),
        Some("658327ea-f89d-4fab-a63d-7e88639e58f6")
    );
    let f = behaviour.function_associations().unwrap().items();
    assert!(
        f.len() == 1
            && *f[0].event_type() == EventType::ViewerRequest
            && f[0].function_arn().ends_with(&format!(":function/{name}")),
        "{f:?}"
    );
    assert_eq!(c.http_version().map(|h| h.as_str()), Some("http2and3"));
    assert_eq!(c.is_ipv6_enabled(), Some(true));
    assert_eq!(c.price_class().map(|p| p.as_str()), Some("PriceClass_100"));
    let arn = dist_arn(id);
    assert!(tags_of(&arn).contains(&("git-publish:site".into(), tag.clone())));

    // The policy: this distribution reads the site, no distribution reads the record.
    let policy = bucket_policy(&b);
    let st = policy["Statement"].as_array().unwrap();
    assert_eq!(st.len(), 2, "{policy}");
    assert_eq!(st[0]["Sid"], format!("GitPublish{site_id}ReadsTheSite"));
    assert_eq!(st[1]["Sid"], format!("GitPublish{site_id}DeniesTheRecord"));
    assert_eq!(st[0]["Effect"], "Allow");
    assert_eq!(st[0]["Resource"], format!("arn:aws:s3:::{b}/*"));
    assert_eq!(
        st[0]["Condition"]["StringEquals"]["AWS:SourceArn"],
        serde_json::json!([arn])
    );
    assert_eq!(st[1]["Effect"], "Deny");
    assert_eq!(
        st[1]["Resource"],
        format!("arn:aws:s3:::{b}/.git-publish/*")
    );

    // site.toml: the id and the managed function, comments kept.
    let toml = std::fs::read_to_string(site.path("site.toml")).unwrap();
    assert!(toml.starts_with("# the blog\n"), "{toml}");
    assert!(
        toml.contains("url = \"s3://") && toml.contains("\" # the bucket\n"),
        "{toml}"
    );
    assert!(
        toml.contains(&format!("distribution = \"{id}\"\n")),
        "{toml}"
    );
    assert!(toml.contains("cdn_function = \"manage\"\n"), "{toml}");
    site.commit("setup");

    // `git publish` publishes through it.
    site.run(&[]).ok();
    assert!(site_objects(&b).contains_key("posts/a/index.html"));

    // `setup --check` passes; a second setup sends no write.
    let check = site.run(&["setup", "--check"]).ok();
    assert!(!check.stdout.contains('✗'), "{}", check.stdout);
    let proxy = Proxy::start(&moto().endpoint, Config::default());
    let env = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    let again = site.run_with(&["setup", "--yes"], &env).ok();
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );
    assert_eq!(writes(&proxy), Vec::<String>::new());
    assert!(!proxy.requests().is_empty(), "setup went through the proxy");
}

/// A distribution made by hand (legacy settings) is left alone and listed as ✗ until `--adopt`, which shows
/// the diff, changes it with If-Match, tags it and merges the policy; after that a re-run changes nothing.
#[test]
fn adopting_a_distribution_made_by_hand() {
    let b = bucket("setup-adopt");
    let id = distribution(&b);
    let site = site_for(&b, &format!("distribution = \"{id}\"\n"));
    rt().block_on(
        s3().put_bucket_policy()
            .bucket(&b)
            .policy(format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Logs","Effect":"Allow","Principal":{{"Service":"logging.s3.amazonaws.com"}},"Action":"s3:PutObject","Resource":"arn:aws:s3:::{b}/logs/*"}}]}}"#
            ))
            .send(),
    )
    .unwrap();

    let check = site.run(&["setup", "--check"]).fails(1);
    for line in [
        "✗ block public access",
        "✗ origin access control",
        "✗ HTTPS",
        "✗ directory indexes",
        "✗ distribution may read",
    ] {
        assert!(check.stdout.contains(line), "{line}: {}", check.stdout);
    }
    assert!(check.stdout.contains("fix: "), "{}", check.stdout);

    let (before, _) = dist_config(&id);
    let held = site.run(&["setup", "--yes"]).ok();
    assert!(
        held.stdout
            .contains(&format!("! distribution {id}: left alone")),
        "{}",
        held.stdout
    );
    assert!(
        held.stdout
            .contains("viewer protocol: allow-all → redirect-to-https"),
        "{}",
        held.stdout
    );
    assert!(held.stdout.contains("--adopt"), "{}", held.stdout);
    assert_eq!(dist_config(&id).0, before, "changed without --adopt");

    let adopted = site.run(&["setup", "--yes", "--adopt"]).ok();
    assert!(
        adopted.stdout.contains(&format!("~ distribution {id}:")),
        "{}",
        adopted.stdout
    );
    let (after, _) = dist_config(&id);
    let behaviour = after.default_cache_behavior().unwrap();
    assert_eq!(
        behaviour.viewer_protocol_policy().as_str(),
        "redirect-to-https"
    );
    assert!(after.origins().unwrap().items()[0]
        .origin_access_control_id()
        .is_some_and(|o| !o.is_empty()));
    // The origin keeps its id (other behaviours may name it).
    assert_eq!(after.origins().unwrap().items()[0].id(), "s3origin");
    let arn = dist_arn(&id);
    let (_, tag) = site_names(&site);
    let site_id = tag.rsplit(' ').next().unwrap().to_string();
    assert!(tags_of(&arn).contains(&("git-publish:site".into(), tag.clone())));
    let policy = bucket_policy(&b);
    let sids: Vec<&str> = (policy["Statement"].as_array().unwrap().iter())
        .map(|s| s["Sid"].as_str().unwrap())
        .collect();
    assert_eq!(
        sids,
        [
            "Logs".to_string(),
            format!("GitPublish{site_id}ReadsTheSite"),
            format!("GitPublish{site_id}DeniesTheRecord")
        ]
    );

    let again = site.run(&["setup", "--yes"]).ok();
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );
    site.run(&["setup", "--check"]).ok();
}

/// Edits the distribution named in an UpdateDistribution request directly in moto, then lets the request
/// through: the console edit lands between setup's read and its write.
fn edit_first(a: &Asked) -> Option<Vec<u8>> {
    let (method, path) = (a.method, a.path);
    let id = path
        .strip_prefix("/2020-05-31/distribution/")?
        .strip_suffix("/config")?;
    if method != "PUT" {
        return None;
    }
    let (mut c, etag) = dist_config(id);
    c.comment = "edited in the console".into();
    rt().block_on(
        cloudfront()
            .update_distribution()
            .id(id)
            .if_match(etag)
            .distribution_config(c)
            .send(),
    )
    .unwrap();
    None
}

/// A concurrent edit between setup's read and its UpdateDistribution: CloudFront's ETag check (If-Match)
/// refuses the update, setup says so and stops, and the edit stays.
#[test]
fn a_concurrent_edit_is_refused_not_overwritten() {
    let b = bucket("setup-etag");
    let id = distribution(&b);
    let site = site_for(&b, &format!("distribution = \"{id}\"\n"));
    let proxy = Proxy::start(
        &moto().endpoint,
        Config {
            answer: Some(edit_first),
            ..Default::default()
        },
    );
    let env = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    let r = site.run_with(&["setup", "--yes", "--adopt"], &env).fails(1);
    assert!(
        r.stderr.contains("changed after setup read it"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("nothing of it was overwritten"),
        "{}",
        r.stderr
    );
    let update = (proxy.requests().into_iter())
        .find(|q| q.method == "PUT" && q.path.ends_with("/config"))
        .unwrap();
    assert!(update.conditional && update.status == 412, "{update:?}");
    let (c, _) = dist_config(&id);
    assert_eq!(c.comment(), "edited in the console");
    assert_eq!(
        c.default_cache_behavior()
            .unwrap()
            .viewer_protocol_policy()
            .as_str(),
        "allow-all"
    );
}

/// CreateDistribution refused (400): what was made is reported, site.toml is untouched, and the next run
/// finds the bucket, OAC and function and makes only the rest.
fn refuse_create(a: &Asked) -> Option<Vec<u8>> {
    let (method, path) = (a.method, a.path);
    let create = method == "POST" && path.split('?').next() == Some("/2020-05-31/distribution");
    let body = "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\">\
                <Error><Type>Sender</Type><Code>TooManyDistributions</Code><Message>Your request contains more \
                distributions than are allowed per AWS account.</Message></Error></ErrorResponse>";
    create.then(|| {
        format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    })
}

#[test]
fn a_failure_part_way_is_completed_by_the_next_run() {
    let b = new_bucket("setup-resume");
    let site = site_for(&b, "");
    let before = std::fs::read_to_string(site.path("site.toml")).unwrap();
    let proxy = Proxy::start(
        &moto().endpoint,
        Config {
            answer: Some(refuse_create),
            ..Default::default()
        },
    );
    let env = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    let r = site.run_with(&["setup", "--yes"], &env).fails(1);
    for line in [
        format!("✓ bucket {b}"),
        "✓ origin access control".to_string(),
        "✓ CloudFront Function".to_string(),
        "stopped part-way".to_string(),
    ] {
        assert!(r.stdout.contains(&line), "{line}: {}", r.stdout);
    }
    assert!(r.stderr.contains("TooManyDistributions"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(site.path("site.toml")).unwrap(),
        before
    );
    assert!(distributions_of(&b).is_empty());

    let resumed = site.run(&["setup", "--yes"]).ok();
    assert!(
        resumed.stdout.contains(&format!("= bucket {b}")),
        "{}",
        resumed.stdout
    );
    assert!(
        resumed.stdout.contains("= origin access control"),
        "{}",
        resumed.stdout
    );
    assert!(
        resumed.stdout.contains("= CloudFront Function"),
        "{}",
        resumed.stdout
    );
    assert!(
        resumed.stdout.contains("✓ distribution"),
        "{}",
        resumed.stdout
    );
    assert_eq!(distributions_of(&b).len(), 1);
    assert_eq!(oacs_named(&site_names(&site).0).len(), 1);
    let again = site.run(&["setup", "--yes"]).ok();
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );
}

/// `--domain --route53`: the certificate (ACM, us-east-1), its validation CNAME and the A/AAAA aliases in
/// the zone that holds the domain, the alias on the distribution, `domain` in site.toml; a re-run writes
/// nothing. (moto issues the certificate at once; AWS does once the CNAME resolves, and the next run adds the
/// alias.)
#[test]
fn a_domain_with_its_certificate_and_route53_records() {
    let b = new_bucket("setup-domain");
    let (zone_name, zone_id) = crate::setup_previews::zone();
    let domain = format!("blog.{zone_name}");
    let site = site_for(&b, "");
    let r = site
        .run(&["setup", "--yes", "--domain", &domain, "--route53"])
        .ok();
    assert!(
        r.stdout
            .contains(&format!("✓ ACM certificate for {domain}")),
        "{}",
        r.stdout
    );
    let id = &distributions_of(&b)[0];
    let (c, _) = dist_config(id);
    assert_eq!(c.aliases().unwrap().items(), std::slice::from_ref(&domain));
    let cert = c.viewer_certificate().unwrap();
    assert!(
        cert.acm_certificate_arn()
            .is_some_and(|a| a.contains(":certificate/")),
        "{cert:?}"
    );
    let kinds: Vec<String> = (crate::setup_previews::records(&zone_id).into_iter())
        .filter(|(name, _, _)| name.trim_end_matches('.').ends_with(&domain))
        .map(|(_, kind, _)| kind)
        .collect();
    for kind in ["CNAME", "A", "AAAA"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind}: {kinds:?}");
    }
    let toml = std::fs::read_to_string(site.path("site.toml")).unwrap();
    assert!(toml.contains(&format!("domain = \"{domain}\"")), "{toml}");
    site.commit("setup");
    let again = site.run(&["setup", "--yes", "--route53"]).ok();
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );
}

/// What setup can't make is refused before any request, naming the flag or key and the fix.
#[test]
fn setup_refuses_what_it_cannot_set_up() {
    let site = Site::new();
    let r2 = "https://acct.r2.cloudflarestorage.com";
    let b2 = "https://s3.us-west-004.backblazeb2.com";
    // (site.toml, what the refusal says)
    let table = [
        (
            "[targets.www]\nurl = \"file:www\"\n".to_string(),
            "target www is a local directory",
        ),
        (
            format!("[targets.r2]\nurl = \"s3://blog\"\nendpoint = \"{r2}\"\n"),
            "target r2 is a Cloudflare R2 bucket",
        ),
        (
            format!("[targets.b2]\nurl = \"s3://blog\"\nendpoint = \"{b2}\"\n"),
            "S3-compatible endpoint",
        ),
    ];
    for (config, said) in &table {
        site.config(config);
        let r = site.run(&["setup"]).fails(2);
        assert!(r.stderr.contains(said), "{said}: {}", r.stderr);
    }
    site.config("[targets.p]\nurl = \"s3://blog\"\n");
    let r = site.run(&["setup", "--route53"]).fails(2);
    assert!(
        r.stderr.contains("--route53 needs a domain"),
        "{}",
        r.stderr
    );
    let r = site
        .run(&["setup", "--price-class", "PriceClass_1"])
        .fails(2);
    assert!(r.stderr.contains("PriceClass_100"), "{}", r.stderr);
    let r = site.run(&["setup", "--check", "--yes"]).fails(2);
    assert!(r.stderr.contains("--check"), "{}", r.stderr);
}

/// `--json`: the plan as steps, without applying it.
#[test]
fn setup_json_is_the_plan() {
    let b = new_bucket("setup-json");
    let site = site_for(&b, "");
    let j = site.run(&["setup", "--json", "--dry-run"]).ok().json();
    let steps: Vec<&str> = (j["plan"]["steps"].as_array().unwrap().iter())
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "create_bucket",
            "create_oac",
            "publish_function",
            "create_distribution",
            "put_bucket_policy",
            "write_config"
        ]
    );
    assert_eq!(j["applied"], false);
    assert!(rt().block_on(s3().head_bucket().bucket(&b).send()).is_err());
}

/// Finding 7 of the third review: an edit made in the console while setup waits at "apply this plan?" is
/// not overwritten with what setup read before asking: the update carries the ETag of the read the plan was
/// made from, so setup reads the distribution again, shows the new plan and asks again; the edit stays.
#[test]
fn finding_7_an_edit_made_while_setup_asks_is_shown_and_asked_again() {
    let b = bucket("setup-prompt");
    let id = distribution(&b);
    let site = site_for(&b, &format!("distribution = \"{id}\"\n"));
    let mut cmd = std::process::Command::new(bin());
    site.env(&mut cmd);
    cmd.current_dir(&site.dir).args(["setup", "--adopt"]);
    let mut p = rexpect::session::spawn_command(cmd, Some(60_000)).unwrap();
    p.exp_string("apply this plan? [y/N]").unwrap();
    // The console edit, while setup waits.
    let (mut c, etag) = dist_config(&id);
    c.comment = "edited in the console".into();
    rt().block_on(
        cloudfront()
            .update_distribution()
            .id(&id)
            .if_match(etag)
            .distribution_config(c)
            .send(),
    )
    .unwrap();
    p.send_line("y").unwrap();
    p.exp_string("changed after setup read it").unwrap();
    p.exp_string("reading it again").unwrap();
    p.exp_string(&format!("~ distribution {id}:")).unwrap();
    p.exp_string("apply this plan? [y/N]").unwrap();
    p.send_line("y").unwrap();
    p.exp_eof().unwrap();
    let status = p.process().wait().unwrap();
    assert!(
        matches!(status, rexpect::process::WaitStatus::Exited(_, 0)),
        "{status:?}"
    );
    let (c, _) = dist_config(&id);
    assert_eq!(c.comment(), "edited in the console");
    assert_eq!(
        c.default_cache_behavior()
            .unwrap()
            .viewer_protocol_policy()
            .as_str(),
        "redirect-to-https"
    );
}
