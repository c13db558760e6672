use super::*;

use serde_json::json;

fn wants() -> Wants {
    let site = Site::new("production", "blog", "");
    Wants {
        region: "eu-west-1".into(),
        price_class: "PriceClass_100".into(),
        domain: None,
        previews: None,
        function_name: site.function_name(),
        oac_name: site.name(64),
        route53: false,
        record_key: Some(".git-publish/state.json".into()),
        site,
    }
}

const DIST_ARN: &str = "arn:aws:cloudfront::123456789012:distribution/E2QWRUHAPOMQZL";
const FN_ARN: &str = "arn:aws:cloudfront::123456789012:function/git-publish-production-blog-x";

fn ours_policy(arn: &str) -> Value {
    let site = wants().site;
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": site.sid("ReadsTheSite"), "Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"},
         "Action": "s3:GetObject", "Resource": "arn:aws:s3:::blog/*",
         "Condition": {"StringEquals": {"AWS:SourceArn": [arn]}}},
        {"Sid": site.sid("DeniesTheRecord"), "Effect": "Deny",
         "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::blog/.git-publish/*"}
    ]})
}

fn nothing() -> Seen {
    Seen {
        bucket: None,
        oac: None,
        function: FunctionSeen::Missing,
        distribution: None,
        certificate: None,
        serving_certificate: None,
        not_found_page: PageSeen::Absent,
        config: ConfigSeen::default(),
        dns: None,
        foreign: Vec::new(),
    }
}

/// Everything as setup leaves it.
fn all_set() -> Seen {
    let w = wants();
    Seen {
        bucket: Some(BucketSeen {
            owner: BucketOwner::This,
            tags: vec![(w.site.bucket_tag_key(), "production".into())],
            blocks_public: true,
            owner_enforced: true,
            encrypted: true,
            policy: Some(ours_policy(DIST_ARN)),
        }),
        oac: Some("OAC1".into()),
        function: FunctionSeen::Live { arn: FN_ARN.into() },
        distribution: Some(DistSeen {
            id: "E2QWRUHAPOMQZL".into(),
            arn: DIST_ARN.into(),
            domain_name: "d1.cloudfront.net".into(),
            owner: DistOwner::This,
            etag: "ETAG1".into(),
            settings: desired(&w, None, "OAC1", FN_ARN, None, &PageSeen::Absent, false),
        }),
        certificate: None,
        serving_certificate: None,
        not_found_page: PageSeen::Absent,
        config: ConfigSeen {
            distributions: vec!["E2QWRUHAPOMQZL".into()],
            cdn_function_managed: true,
            domain: None,
        },
        dns: None,
        foreign: Vec::new(),
    }
}

/// Route 53 with the domain's records in zone Z1.
fn dns(validation: RecordSeen, alias: RecordSeen) -> DnsSeen {
    DnsSeen {
        validation,
        hosts: vec![HostDns {
            host: "blog.example.com".into(),
            zone: "Z1".into(),
            alias,
        }],
    }
}

/// The steps of an alias whose certificate is requested now (moto issues it at once; AWS once the CNAME
/// resolves).
const NEW_ALIAS: [&str; 4] = [
    "request certificate",
    "dns validation",
    "update distribution",
    "dns alias",
];

fn kinds(p: &SetupPlan) -> Vec<&'static str> {
    (p.steps.iter())
        .map(|s| match s {
            Step::CreateBucket { .. } => "create bucket",
            Step::SecureBucket { .. } => "secure bucket",
            Step::TagBucket { .. } => "tag bucket",
            Step::CreateOac { .. } => "create oac",
            Step::PublishFunction { .. } => "publish function",
            Step::RequestCertificate { .. } => "request certificate",
            Step::CreateDistribution { .. } => "create distribution",
            Step::UpdateDistribution { .. } => "update distribution",
            Step::TagDistribution { .. } => "tag distribution",
            Step::PutBucketPolicy { .. } => "put policy",
            Step::DnsValidation { .. } => "dns validation",
            Step::DnsAlias { .. } => "dns alias",
            Step::WriteConfig { .. } => "write config",
        })
        .collect()
}

#[test]
fn from_nothing_every_resource_in_order() {
    let p = plan(&wants(), &nothing(), false, &ours_policy("(new)"));
    assert_eq!(
        kinds(&p),
        [
            "create bucket",
            "create oac",
            "publish function",
            "create distribution",
            "put policy",
            "write config"
        ]
    );
    let Step::CreateDistribution { settings: s } = &p.steps[3] else {
        panic!()
    };
    assert_eq!(s.origin_domain, "blog.s3.eu-west-1.amazonaws.com");
    assert_eq!(
        (s.default_root.as_str(), s.viewer_protocol.as_str()),
        ("index.html", "redirect-to-https")
    );
    assert!(s.compress && s.ipv6 && s.enabled);
    assert_eq!(s.cache_policy, CACHING_OPTIMIZED);
    assert_eq!(
        (s.http_version.as_str(), s.price_class.as_str()),
        ("http2and3", "PriceClass_100")
    );
    assert!(p.held.is_empty());
}

#[test]
fn a_rerun_changes_nothing() {
    let p = plan(&wants(), &all_set(), false, &ours_policy(DIST_ARN));
    assert!(p.steps.is_empty(), "{:?}", p.steps);
    assert!(p.held.is_empty());
    // The origin access control on the distribution is kept, so none is looked up by name.
    // And the site has no 404.html: said, nothing made.
    assert_eq!(p.exists.len(), 5, "{:?}", p.exists);
}

#[test]
fn only_what_is_missing_is_made() {
    let w = wants();
    // (change to what setup left, the steps it takes)
    type Edit = fn(&mut Seen);
    let table: [(Edit, &[&str]); 8] = [
        (
            |s| {
                s.oac = None;
                s.distribution.as_mut().unwrap().settings.oac = String::new();
            },
            &["create oac", "update distribution"],
        ),
        (|s| s.oac = None, &[]),
        (
            |s| s.function = FunctionSeen::Differs { arn: FN_ARN.into() },
            &["publish function"],
        ),
        (
            |s| s.bucket.as_mut().unwrap().encrypted = false,
            &["secure bucket"],
        ),
        (
            |s| s.bucket.as_mut().unwrap().policy = None,
            &["put policy"],
        ),
        (|s| s.config.cdn_function_managed = false, &["write config"]),
        (
            |s| s.distribution.as_mut().unwrap().settings.compress = false,
            &["update distribution"],
        ),
        (
            |s| s.distribution = None,
            &["create distribution", "put policy", "write config"],
        ),
    ];
    for (edit, want) in table {
        let mut seen = all_set();
        edit(&mut seen);
        let p = plan(&w, &seen, false, &ours_policy(DIST_ARN));
        assert_eq!(kinds(&p), want, "{seen:?}");
    }
}

#[test]
fn what_setup_did_not_create_is_held_unless_adopted() {
    let mut seen = all_set();
    let b = seen.bucket.as_mut().unwrap();
    b.owner = BucketOwner::None;
    b.blocks_public = false;
    b.policy = None;
    let d = seen.distribution.as_mut().unwrap();
    d.owner = DistOwner::None;
    d.settings.viewer_protocol = "allow-all".into();
    d.settings.oac = String::new();
    let p = plan(&wants(), &seen, false, &ours_policy(DIST_ARN));
    assert!(p.steps.is_empty(), "{:?}", p.steps);
    let held: Vec<&str> = p.held.iter().map(|h| h.what.as_str()).collect();
    // The distribution is left alone, so nothing about it (policy, site.toml) is planned either.
    assert_eq!(held, ["bucket blog", "distribution E2QWRUHAPOMQZL"]);
    assert!(
        p.held[1]
            .why
            .contains("viewer protocol: allow-all → redirect-to-https"),
        "{:?}",
        p.held[1]
    );
    assert!(p
        .held
        .iter()
        .all(|h| h.fix.contains("--adopt") || h.fix.contains("iam-policy")));

    let p = plan(&wants(), &seen, true, &ours_policy(DIST_ARN));
    assert_eq!(
        kinds(&p),
        [
            "secure bucket",
            "tag bucket",
            "update distribution",
            "tag distribution",
            "put policy"
        ]
    );
    let Step::UpdateDistribution { changes, .. } = &p.steps[2] else {
        panic!()
    };
    let settings: Vec<&str> = changes.iter().map(|c| c.setting).collect();
    assert_eq!(settings, ["origin access control", "viewer protocol"]);
}

#[test]
fn the_domain_waits_for_its_certificate() {
    let w = Wants {
        domain: Some("blog.example.com".into()),
        route53: true,
        ..wants()
    };
    let mut seen = all_set();
    seen.config.domain = Some("blog.example.com".into());
    seen.dns = Some(dns(RecordSeen::Absent, RecordSeen::Absent));
    let p = plan(&w, &seen, false, &ours_policy(DIST_ARN));
    assert_eq!(kinds(&p), NEW_ALIAS);

    seen.certificate = Some(CertSeen {
        arn: "arn:acm:1".into(),
        names: vec!["blog.example.com".into()],
        issued: false,
        validation: vec![(
            "_x.blog.example.com.".into(),
            "_y.acm-validations.aws.".into(),
        )],
    });
    let p = plan(&w, &seen, false, &ours_policy(DIST_ARN));
    assert_eq!(kinds(&p), ["dns validation"]);
    assert!(
        p.held[0]
            .fix
            .contains("_x.blog.example.com. CNAME _y.acm-validations.aws."),
        "{:?}",
        p.held
    );

    seen.certificate.as_mut().unwrap().issued = true;
    seen.dns.as_mut().unwrap().validation = RecordSeen::Same;
    let p = plan(&w, &seen, false, &ours_policy(DIST_ARN));
    assert_eq!(kinds(&p), ["update distribution", "dns alias"]);
    let Step::UpdateDistribution { changes, .. } = &p.steps[0] else {
        panic!()
    };
    assert_eq!(changes[0].to, "blog.example.com");
    assert_eq!(changes[1].to, "arn:acm:1");
}

#[test]
fn the_policy_is_merged_never_replaced() {
    let theirs = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Logs", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
         "Action": "s3:PutObject", "Resource": "arn:aws:s3:::blog/logs/*"},
        {"Sid": "CloudFrontReadsTheSite", "Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"},
         "Action": "s3:GetObject", "Resource": "arn:aws:s3:::blog/*",
         "Condition": {"StringEquals": {"AWS:SourceArn": "arn:aws:cloudfront::123456789012:distribution/EOLD"}}}
    ]});
    let merged = policy::merge(Some(&theirs), &ours_policy(DIST_ARN));
    let st = merged["Statement"].as_array().unwrap();
    // Statements of older versions (fixed Sids) may be another target's: kept as they are.
    assert_eq!(st.len(), 4);
    assert_eq!(st[..2], theirs["Statement"].as_array().unwrap()[..]);
    assert_eq!(
        st[2..],
        ours_policy(DIST_ARN)["Statement"].as_array().unwrap()[..]
    );
    // Merging again changes nothing.
    assert_eq!(policy::merge(Some(&merged), &ours_policy(DIST_ARN)), merged);
    // One statement as an object is a policy too.
    let single = json!({"Version": "2012-10-17", "Statement": theirs["Statement"][0].clone()});
    let merged = policy::merge(Some(&single), &ours_policy(DIST_ARN));
    assert_eq!(merged["Statement"].as_array().unwrap().len(), 3);
}

/// `--check`: each recommended setting on an existing distribution that misses it.
#[test]
fn checks_name_each_missing_setting_and_its_fix() {
    let w = wants();
    let ok = checks(&w, &all_set());
    assert!(ok.iter().all(|c| c.ok && c.fix.is_empty()), "{ok:?}");
    type Edit = fn(&mut Seen);
    let table: [(Edit, &str, &str); 10] = [
        (
            |s| s.bucket.as_mut().unwrap().blocks_public = false,
            "block public access",
            "--adopt",
        ),
        (
            |s| {
                s.bucket.as_mut().unwrap().policy = Some(json!({"Statement": [{"Effect": "Allow",
                    "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::blog/*"}]}))
            },
            "bucket not public",
            "remove that statement",
        ),
        (
            |s| s.bucket.as_mut().unwrap().owner_enforced = false,
            "ACLs off",
            "--adopt",
        ),
        (
            |s| s.distribution.as_mut().unwrap().settings.legacy_oai = true,
            "origin access control",
            "REST endpoint",
        ),
        (
            |s| s.distribution.as_mut().unwrap().settings.custom_origin = true,
            "origin access control",
            "REST endpoint",
        ),
        (
            |s| s.bucket.as_mut().unwrap().policy = None,
            "distribution may read",
            "iam-policy --bucket-policy",
        ),
        (
            |s| s.distribution.as_mut().unwrap().settings.viewer_protocol = "allow-all".into(),
            "HTTPS",
            "redirect-to-https",
        ),
        (
            |s| s.distribution.as_mut().unwrap().settings.compress = false,
            "compression",
            "Compress",
        ),
        (
            |s| s.distribution.as_mut().unwrap().settings.default_root = String::new(),
            "default root object",
            "index.html",
        ),
        (
            |s| s.distribution.as_mut().unwrap().settings.viewer_function = String::new(),
            "directory indexes",
            "cdn_function",
        ),
    ];
    for (edit, check, fix) in table {
        let mut seen = all_set();
        edit(&mut seen);
        let all = checks(&w, &seen);
        let failed: Vec<&Check> = all.iter().filter(|c| !c.ok).collect();
        assert!(
            failed
                .iter()
                .any(|c| c.check == check && c.fix.contains(fix)),
            "{check}: {failed:?}"
        );
    }
    // The record kept elsewhere needs no Deny.
    let mut seen = all_set();
    seen.bucket.as_mut().unwrap().policy =
        Some(json!({"Statement": [ours_policy(DIST_ARN)["Statement"][0].clone()]}));
    let elsewhere = Wants {
        record_key: None,
        ..wants()
    };
    assert!(checks(&elsewhere, &seen).iter().all(|c| c.ok));
    assert!(!checks(&w, &seen).iter().all(|c| c.ok));
}

/// Finding 3 of the third review: a distribution setup leaves alone (another site's, or one it did not
/// create, found by its origin) gets no step at all: no update, no policy, nothing written into site.toml.
#[test]
fn finding_3_a_distribution_left_alone_is_never_written_into_site_toml() {
    let mut seen = all_set();
    seen.config = ConfigSeen::default();
    seen.bucket.as_mut().unwrap().policy = None;
    let d = seen.distribution.as_mut().unwrap();
    d.owner = DistOwner::Other("production 0badc0de".into());
    let p = plan(&wants(), &seen, true, &ours_policy(DIST_ARN));
    assert!(p.steps.is_empty(), "{:?}", p.steps);
    assert!(p.held[0].why.contains("another site"), "{:?}", p.held);

    let d = seen.distribution.as_mut().unwrap();
    d.owner = DistOwner::None;
    let p = plan(&wants(), &seen, false, &ours_policy(DIST_ARN));
    assert!(p.steps.is_empty(), "{:?}", p.steps);
    assert!(p.held[0].fix.contains("--adopt"), "{:?}", p.held);
    // Adopted, it is written (and tagged for this site).
    let p = plan(&wants(), &seen, true, &ours_policy(DIST_ARN));
    assert_eq!(
        kinds(&p),
        ["tag distribution", "put policy", "write config"]
    );

    // Tagged before tags carried the id (the target's name): this site's, and its tag brought up to date.
    let d = seen.distribution.as_mut().unwrap();
    d.owner = DistOwner::LegacyName;
    let p = plan(&wants(), &seen, false, &ours_policy(DIST_ARN));
    assert_eq!(
        kinds(&p),
        ["tag distribution", "put policy", "write config"]
    );
}

/// Finding 12: a re-run keeps what the user set on a distribution: disabled for teardown, or a viewer-request
/// function added by hand (then site.toml does not get `cdn_function = "manage"`); `--adopt` takes them over.
#[test]
fn finding_12_a_rerun_keeps_what_the_user_set() {
    let mut seen = all_set();
    seen.config.cdn_function_managed = false;
    let s = &mut seen.distribution.as_mut().unwrap().settings;
    s.enabled = false;
    s.viewer_function = "arn:aws:cloudfront::123456789012:function/my-own".into();
    let p = plan(&wants(), &seen, false, &ours_policy(DIST_ARN));
    assert!(p.steps.is_empty(), "{:?}", p.steps);
    assert!(
        p.held.iter().any(|h| h.what == "viewer-request function"),
        "{:?}",
        p.held
    );

    let p = plan(&wants(), &seen, true, &ours_policy(DIST_ARN));
    assert_eq!(kinds(&p), ["update distribution", "write config"]);
    let Step::UpdateDistribution { changes, .. } = &p.steps[0] else {
        panic!()
    };
    let settings: Vec<&str> = changes.iter().map(|c| c.setting).collect();
    assert_eq!(settings, ["viewer-request function", "enabled"]);
    let Step::WriteConfig { keys } = &p.steps[1] else {
        panic!()
    };
    assert_eq!(keys, &["cdn_function = \"manage\""]);
}

/// Finding 12: Route 53 records of the domain that point elsewhere (a live site) are never replaced without
/// `--adopt`; absent ones are created (not UPSERTed).
#[test]
fn finding_12_route53_records_that_point_elsewhere_are_held() {
    let (mut w, mut seen) = with_domain();
    w.previews = None;
    seen.certificate = seen.serving_certificate.clone();
    let dns = seen.dns.as_mut().unwrap();
    dns.validation = RecordSeen::Same;
    dns.hosts.truncate(1);
    alias_records_held_unless_adopted(&w, &mut seen, 0);
}

/// Host `i`'s records point elsewhere (A 192.0.2.1): held, replaced with --adopt (UPSERT); absent, created.
fn alias_records_held_unless_adopted(w: &Wants, seen: &mut Seen, i: usize) {
    let host = &mut seen.dns.as_mut().unwrap().hosts[i];
    host.alias = RecordSeen::Other("A 192.0.2.1".into());
    let name = host.host.clone();
    let p = plan(w, seen, false, &ours_policy(DIST_ARN));
    assert!(p.steps.is_empty(), "{:?}", p.steps);
    assert!(p.held[0].what.contains(&name), "{:?}", p.held);
    assert!(p.held[0].why.contains("A 192.0.2.1"), "{:?}", p.held);
    for (adopt, alias, replace) in [
        (true, RecordSeen::Other("A 192.0.2.1".into()), true),
        (false, RecordSeen::Absent, false),
    ] {
        seen.dns.as_mut().unwrap().hosts[i].alias = alias;
        let p = plan(w, seen, adopt, &ours_policy(DIST_ARN));
        let [Step::DnsAlias {
            domain, replace: r, ..
        }] = &p.steps[..]
        else {
            panic!("{:?}", p.steps)
        };
        assert_eq!((domain, *r), (&name, replace));
    }
}

/// Finding 2: a bucket setup made for another site (another prefix) gets this site's statements and tag,
/// and nothing else: its security settings are the other site's to change.
#[test]
fn finding_2_a_bucket_of_another_site_gets_only_this_sites_statements_and_tag() {
    let mut seen = all_set();
    let b = seen.bucket.as_mut().unwrap();
    b.owner = BucketOwner::OtherSite;
    b.encrypted = false;
    b.policy = None;
    let p = plan(&wants(), &seen, false, &ours_policy(DIST_ARN));
    assert_eq!(kinds(&p), ["tag bucket", "put policy"]);
    assert_eq!(p.held[0].what, "bucket blog");
}

const PREVIEWS: &str = "preview.blog.example.com";
const WILDCARD: &str = "*.preview.blog.example.com";

/// A distribution serving blog.example.com with certificate arn:acm:1, and `setup --previews`.
fn with_domain() -> (Wants, Seen) {
    let w = Wants {
        domain: Some("blog.example.com".into()),
        previews: Some(PREVIEWS.into()),
        route53: true,
        ..wants()
    };
    let mut seen = all_set();
    seen.config.domain = w.domain.clone();
    let old = CertSeen {
        arn: "arn:acm:1".into(),
        names: vec!["blog.example.com".into()],
        issued: true,
        validation: Vec::new(),
    };
    let s = &mut seen.distribution.as_mut().unwrap().settings;
    s.aliases = vec!["blog.example.com".into()];
    s.certificate = old.arn.clone();
    seen.serving_certificate = Some(old);
    seen.dns = Some(DnsSeen {
        validation: RecordSeen::Absent,
        hosts: vec![
            HostDns {
                host: "blog.example.com".into(),
                zone: "Z1".into(),
                alias: RecordSeen::Same,
            },
            HostDns {
                host: WILDCARD.into(),
                zone: "Z2".into(),
                alias: RecordSeen::Absent,
            },
        ],
    });
    (w, seen)
}

/// `setup --previews`: one certificate for every alias (a distribution has one), requested, then swapped in
/// with the wildcard alias once issued; the wildcard's records go to the zone that holds it; a re-run
/// changes nothing.
#[test]
fn previews_get_the_wildcard_alias_and_one_certificate_for_every_alias() {
    let (w, mut seen) = with_domain();
    let p = plan(&w, &seen, false, &ours_policy(DIST_ARN));
    assert_eq!(kinds(&p), NEW_ALIAS);
    let Step::RequestCertificate {
        domain,
        alt_names,
        replaces,
    } = &p.steps[0]
    else {
        panic!()
    };
    assert_eq!(
        (domain.as_str(), alt_names.as_slice()),
        ("blog.example.com", &[WILDCARD.to_string()][..])
    );
    assert_eq!(replaces.as_deref(), Some("arn:acm:1"));
    assert!(
        p.steps[0].describe().contains("replaces arn:acm:1"),
        "{}",
        p.steps[0].describe()
    );
    // A certificate that covers the domain only can't serve the wildcard: another is requested, and the
    // distribution keeps its aliases until that one is issued.
    let mut only_domain = seen.clone();
    only_domain.certificate = only_domain.serving_certificate.clone();
    assert_eq!(
        kinds(&plan(&w, &only_domain, false, &ours_policy(DIST_ARN))),
        kinds(&p)
    );
    let have = &seen.distribution.as_ref().unwrap().settings;
    let kept = desired(
        &w,
        Some(have),
        "OAC1",
        FN_ARN,
        only_domain.certificate.as_ref(),
        &PageSeen::Absent,
        false,
    );
    assert_eq!(
        (kept.aliases.as_slice(), kept.certificate.as_str()),
        (&["blog.example.com".to_string()][..], "arn:acm:1")
    );
    let Step::DnsAlias { zone, domain, .. } = &p.steps[3] else {
        panic!()
    };
    assert_eq!((zone.as_str(), domain.as_str()), ("Z2", WILDCARD));

    // Waiting for validation: the aliases stay as they are, the records are asked for.
    let pending = CertSeen {
        arn: "arn:acm:2".into(),
        names: vec!["blog.example.com".into(), WILDCARD.into()],
        issued: false,
        validation: vec![(
            "_x.preview.blog.example.com.".into(),
            "_y.acm-validations.aws.".into(),
        )],
    };
    seen.certificate = Some(pending.clone());
    let p = plan(&w, &seen, false, &ours_policy(DIST_ARN));
    assert_eq!(kinds(&p), ["dns validation"]);
    assert_eq!(p.held[0].what, format!("alias {WILDCARD}"));

    // Issued: the alias and the certificate in one update, then the wildcard's records.
    seen.certificate = Some(CertSeen {
        issued: true,
        ..pending
    });
    seen.dns.as_mut().unwrap().validation = RecordSeen::Same;
    let p = plan(&w, &seen, false, &ours_policy(DIST_ARN));
    assert_eq!(kinds(&p), ["update distribution", "dns alias"]);
    let Step::UpdateDistribution { changes, .. } = &p.steps[0] else {
        panic!()
    };
    assert_eq!(
        changes
            .iter()
            .map(|c| (c.setting, c.to.as_str()))
            .collect::<Vec<_>>(),
        [
            ("aliases", "blog.example.com *.preview.blog.example.com"),
            ("certificate", "arn:acm:2")
        ]
    );

    // Done: nothing to change.
    let s = &mut seen.distribution.as_mut().unwrap().settings;
    s.aliases.push(WILDCARD.into());
    s.certificate = "arn:acm:2".into();
    seen.serving_certificate = seen.certificate.clone();
    seen.dns.as_mut().unwrap().hosts[1].alias = RecordSeen::Same;
    let p = plan(&w, &seen, false, &ours_policy(DIST_ARN));
    assert!(p.steps.is_empty(), "{:?}", p.steps);
    assert!(
        checks(&w, &seen).iter().all(|c| c.ok),
        "{:?}",
        checks(&w, &seen)
    );

    // Records of *.D that point elsewhere are another site's: held unless --adopt.
    alias_records_held_unless_adopted(&w, &mut seen, 1);
}

/// Without a domain, the wildcard alone; and a distribution serving the wildcard is one `--check` passes,
/// while one without it (or whose certificate does not cover it) gets ✗ with `setup --previews` as the fix.
#[test]
fn previews_without_a_domain_and_their_check() {
    let w = Wants {
        previews: Some(PREVIEWS.into()),
        ..wants()
    };
    let mut seen = all_set();
    let p = plan(&w, &seen, false, &ours_policy(DIST_ARN));
    let Step::RequestCertificate {
        domain,
        alt_names,
        replaces,
    } = &p.steps[0]
    else {
        panic!("{:?}", p.steps)
    };
    assert_eq!(
        (domain.as_str(), alt_names.len(), replaces),
        (WILDCARD, 0, &None)
    );
    let row = |seen: &Seen| {
        checks(&w, seen)
            .into_iter()
            .find(|c| c.check == "previews")
            .unwrap()
    };
    let c = row(&seen);
    assert!(
        !c.ok && c.detail.contains("not an alias") && c.fix.contains("--previews"),
        "{c:?}"
    );
    let s = &mut seen.distribution.as_mut().unwrap().settings;
    s.aliases = vec![WILDCARD.into()];
    s.certificate = "arn:acm:3".into();
    seen.serving_certificate = Some(CertSeen {
        arn: "arn:acm:3".into(),
        names: vec!["*.blog.example.com".into()],
        issued: true,
        validation: Vec::new(),
    });
    let c = row(&seen);
    assert!(
        !c.ok && c.detail.contains("covers *.blog.example.com only"),
        "{c:?}"
    );
    seen.serving_certificate.as_mut().unwrap().names = vec![WILDCARD.into()];
    assert!(row(&seen).ok);
    // Not configured: no row.
    assert!(checks(&wants(), &seen)
        .iter()
        .all(|c| c.check != "previews"));
}

/// Issue 25, section 5: with the site's 404.html, a missing page answers 404 with it (403 and 404 → /404.html,
/// 404, cached 10 s); error responses the user set for either code are kept and shown unless --adopt;
/// without the page nothing changes; a re-run changes nothing.
#[test]
fn a_missing_page_answers_404_with_the_sites_own_page() {
    let w = wants();
    let mut seen = all_set();
    seen.not_found_page = PageSeen::Present;
    let p = plan(&w, &seen, false, &ours_policy(DIST_ARN));
    assert_eq!(kinds(&p), ["update distribution"]);
    let Step::UpdateDistribution { changes, .. } = &p.steps[0] else {
        panic!()
    };
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].setting, "custom error responses");
    assert_eq!(changes[0].from, "(none)");
    assert_eq!(
        changes[0].to,
        "403 → /404.html (404, cached 10 s), 404 → /404.html (404, cached 10 s)"
    );
    let c = checks(&w, &seen)
        .into_iter()
        .find(|c| c.check == "404 page")
        .unwrap();
    assert!(!c.ok && c.detail.contains("published after setup"), "{c:?}");

    // Applied: nothing more to change, and --check says so.
    let s = &mut seen.distribution.as_mut().unwrap().settings;
    s.error_responses = vec![
        serving::ours(403, "/404.html"),
        serving::ours(404, "/404.html"),
    ];
    assert!(plan(&w, &seen, false, &ours_policy(DIST_ARN))
        .steps
        .is_empty());
    let c = checks(&w, &seen)
        .into_iter()
        .find(|c| c.check == "404 page")
        .unwrap();
    assert!(
        c.ok && c.detail.contains("answers 404 with /404.html"),
        "{c:?}"
    );
    // With previews, --check says a preview shows production's page.
    let pw = Wants {
        previews: Some(PREVIEWS.into()),
        ..wants()
    };
    let c = checks(&pw, &seen)
        .into_iter()
        .find(|c| c.check == "404 page")
        .unwrap();
    assert!(
        c.detail.contains("a preview shows production's /404.html"),
        "{c:?}"
    );
    // One of the two set: the other is missing, and said so.
    let s = &mut seen.distribution.as_mut().unwrap().settings;
    s.error_responses.remove(0);
    let c = checks(&w, &seen)
        .into_iter()
        .find(|c| c.check == "404 page")
        .unwrap();
    assert!(
        !c.ok && c.detail.contains("no error response for 403"),
        "{c:?}"
    );
    seen.distribution
        .as_mut()
        .unwrap()
        .settings
        .error_responses
        .insert(0, serving::ours(403, "/404.html"));
    // The page gone: ✗, and setup leaves the responses.
    seen.not_found_page = PageSeen::Absent;
    assert!(plan(&w, &seen, false, &ours_policy(DIST_ARN))
        .steps
        .is_empty());
    let c = checks(&w, &seen)
        .into_iter()
        .find(|c| c.check == "404 page")
        .unwrap();
    assert!(!c.ok && c.detail.contains("has no 404.html"), "{c:?}");

    // A single-page app's fallback set by hand: kept and shown; 403 added; --adopt replaces it.
    seen.not_found_page = PageSeen::Present;
    let spa = ErrorResponse {
        code: 404,
        page: "/index.html".into(),
        response_code: "200".into(),
        min_ttl: None,
    };
    seen.distribution.as_mut().unwrap().settings.error_responses = vec![spa.clone()];
    let p = plan(&w, &seen, false, &ours_policy(DIST_ARN));
    assert_eq!(kinds(&p), ["update distribution"]);
    let Step::UpdateDistribution { changes, .. } = &p.steps[0] else {
        panic!()
    };
    assert_eq!(changes[0].from, "404 → /index.html (200)");
    assert_eq!(
        changes[0].to,
        "404 → /index.html (200), 403 → /404.html (404, cached 10 s)"
    );
    assert!(
        p.held[0].why.contains("404 → /index.html (200)") && p.held[0].fix.contains("--adopt"),
        "{:?}",
        p.held
    );
    let p = plan(&w, &seen, true, &ours_policy(DIST_ARN));
    let Step::UpdateDistribution { changes, .. } = &p.steps[0] else {
        panic!()
    };
    assert_eq!(
        changes[0].to,
        "404 → /404.html (404, cached 10 s), 403 → /404.html (404, cached 10 s)"
    );

    // Can't tell: held, never guessed.
    seen.not_found_page = PageSeen::Unknown("HeadObject answered 403".into());
    seen.distribution.as_mut().unwrap().settings.error_responses = Vec::new();
    let p = plan(&w, &seen, false, &ours_policy(DIST_ARN));
    assert!(p.steps.is_empty() && p.held[0].what == "404 page", "{p:?}");
}
