//! `git publish setup`, the decisions: from what exists ([`Seen`], read by `exec::setup`) and what the target
//! wants ([`Wants`]), the list of [`Step`]s that makes the recommended S3 + CloudFront setup, what is held back
//! and why ([`Held`]), the distribution's settings ([`DistSettings`], [`desired`], [`diff`]), the merged bucket
//! policy ([`merge_policy`]) and the `--check` list ([`checks`]).
//!
//! Pure: no IO, no async, no AWS types. `exec::setup` reads [`Seen`] and carries the steps out; `cmd::setup`
//! prints them, asks, and writes site.toml. To change a recommended setting, edit [`desired`] and [`checks`]
//! and their table in `tests.rs`.

use serde::Serialize;
use serde_json::{json, Value};

#[cfg(test)]
mod tests;

/// The managed cache policy `CachingOptimized` (its id is the same in every account).
pub const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
/// The tag setup puts on what it creates; its value is the target's name.
pub const TAG_KEY: &str = "git-publish:site";
/// The root object, and the viewer protocol policy setup asks for.
pub const ROOT_OBJECT: &str = "index.html";
pub const HTTPS_REDIRECT: &str = "redirect-to-https";
pub const HTTP_VERSION: &str = "http2and3";
pub const PRICE_CLASSES: [&str; 3] = ["PriceClass_100", "PriceClass_200", "PriceClass_All"];

/// What setup makes for a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wants {
    pub target: String,
    pub bucket: String,
    /// The key prefix, no slashes at the ends ("" for the bucket root).
    pub prefix: String,
    pub region: String,
    pub price_class: String,
    /// `--domain`: served as an alias, with an ACM certificate.
    pub domain: Option<String>,
    /// The viewer-request function's name (the same one `cdn_function = "manage"` keeps up to date).
    pub function_name: String,
    pub oac_name: String,
    /// `--route53`: write the DNS records in the Route 53 zone that holds the domain.
    pub route53: bool,
}

impl Wants {
    /// The bucket's REST endpoint, the origin CloudFront reads with origin access control.
    pub fn origin_domain(&self) -> String {
        format!("{}.s3.{}.amazonaws.com", self.bucket, self.region)
    }

    pub fn origin_path(&self) -> String {
        match self.prefix.as_str() {
            "" => String::new(),
            p => format!("/{p}"),
        }
    }
}

/// The settings of a distribution that setup compares, for the origin its default cache behaviour reads.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DistSettings {
    pub origin_domain: String,
    /// "" or "/prefix".
    pub origin_path: String,
    /// The origin access control's id ("" none).
    pub oac: String,
    /// A legacy origin access identity is set on the origin.
    pub legacy_oai: bool,
    /// The origin is a custom origin (e.g. the S3 website endpoint), not an S3 REST origin.
    pub custom_origin: bool,
    pub default_root: String,
    pub viewer_protocol: String,
    pub compress: bool,
    pub cache_policy: String,
    /// The viewer-request function's ARN ("" none).
    pub viewer_function: String,
    pub http_version: String,
    pub ipv6: bool,
    pub price_class: String,
    pub aliases: Vec<String>,
    /// The ACM certificate's ARN ("" the default *.cloudfront.net certificate).
    pub certificate: String,
    pub enabled: bool,
}

/// A bucket that exists and can be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BucketSeen {
    /// Tagged `git-publish:site = <target>`.
    pub ours: bool,
    pub tags: Vec<(String, String)>,
    /// All four Block Public Access settings are on.
    pub blocks_public: bool,
    /// Object ownership is `BucketOwnerEnforced` (ACLs off).
    pub owner_enforced: bool,
    /// Default encryption is set.
    pub encrypted: bool,
    pub policy: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistSeen {
    pub id: String,
    pub arn: String,
    /// `d123.cloudfront.net`.
    pub domain_name: String,
    /// Tagged `git-publish:site = <target>`.
    pub ours: bool,
    pub settings: DistSettings,
}

/// The function setup associates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunctionSeen {
    Missing,
    /// Its live code differs from the code setup would publish.
    Differs {
        arn: String,
    },
    Live {
        arn: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSeen {
    pub arn: String,
    pub issued: bool,
    /// The DNS validation records (name, value) to create as CNAMEs.
    pub validation: Vec<(String, String)>,
}

/// What exists, as `exec::setup::observe` read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// None: no such bucket.
    pub bucket: Option<BucketSeen>,
    /// The id of the origin access control named [`Wants::oac_name`].
    pub oac: Option<String>,
    pub function: FunctionSeen,
    pub distribution: Option<DistSeen>,
    pub certificate: Option<CertSeen>,
    /// What site.toml already says: the target's distribution ids, `cdn_function = "manage"`, `domain`.
    pub config: ConfigSeen,
    /// With `--route53`: the records in the zone that holds the domain.
    pub dns: Option<DnsSeen>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsSeen {
    pub zone: String,
    /// The certificate's validation CNAMEs are there.
    pub validation: bool,
    /// A and AAAA alias records name the distribution.
    pub alias: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigSeen {
    pub distributions: Vec<String>,
    pub cdn_function_managed: bool,
    pub domain: Option<String>,
}

/// One setting that differs: (setting, what it is, what setup makes it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingChange {
    pub setting: &'static str,
    pub from: String,
    pub to: String,
}

/// One thing to create or change, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    CreateBucket {
        bucket: String,
        region: String,
    },
    /// Turn on what is off among Block Public Access, BucketOwnerEnforced and SSE-S3.
    SecureBucket {
        bucket: String,
        block_public: bool,
        owner_enforced: bool,
        encryption: bool,
    },
    /// Add the tag (kept with the bucket's other tags).
    TagBucket {
        bucket: String,
    },
    CreateOac {
        name: String,
    },
    /// Create or update the function, and publish it.
    PublishFunction {
        name: String,
        exists: bool,
    },
    RequestCertificate {
        domain: String,
    },
    CreateDistribution {
        settings: Box<DistSettings>,
    },
    UpdateDistribution {
        id: String,
        changes: Vec<SettingChange>,
    },
    TagDistribution {
        id: String,
    },
    /// Merge the statements that let the distribution read the site and keep `.git-publish/` private.
    PutBucketPolicy {
        bucket: String,
        /// The statements (Sids) added or changed.
        statements: Vec<String>,
    },
    /// `--route53`: UPSERT the certificate's validation CNAMEs.
    DnsValidation {
        zone: String,
    },
    /// `--route53`: UPSERT A and AAAA alias records from the domain to the distribution.
    DnsAlias {
        zone: String,
        domain: String,
    },
    /// Write the target's `distribution` (and `cdn_function = "manage"`, `domain`) into site.toml.
    WriteConfig {
        keys: Vec<String>,
    },
}

impl Step {
    /// The plan line.
    pub fn describe(&self) -> String {
        match self {
            Step::CreateBucket { bucket, region } => {
                format!("+ bucket {bucket} in {region} (Block Public Access on, ACLs off, SSE-S3)")
            }
            Step::SecureBucket {
                bucket,
                block_public,
                owner_enforced,
                encryption,
            } => {
                let mut what = Vec::new();
                if *block_public {
                    what.push("Block Public Access on");
                }
                if *owner_enforced {
                    what.push("ACLs off (BucketOwnerEnforced)");
                }
                if *encryption {
                    what.push("default encryption SSE-S3");
                }
                format!("~ bucket {bucket}: {}", what.join(", "))
            }
            Step::TagBucket { bucket } => format!("~ bucket {bucket}: tag {TAG_KEY}"),
            Step::CreateOac { name } => {
                format!("+ origin access control {name} (sigv4, always sign, s3)")
            }
            Step::PublishFunction { name, exists } => format!(
                "{} CloudFront Function {name} (viewer request: /dir/ → /dir/index.html, redirects), published",
                if *exists { "~" } else { "+" }
            ),
            Step::RequestCertificate { domain } => {
                format!("+ ACM certificate for {domain} in us-east-1 (DNS validation)")
            }
            Step::CreateDistribution { settings: s } => format!(
                "+ distribution: origin {}{} with origin access control, root {}, {}, compression, \
                 CachingOptimized, {}, IPv6, {}{}",
                s.origin_domain,
                s.origin_path,
                s.default_root,
                s.viewer_protocol,
                s.http_version,
                s.price_class,
                match s.aliases.as_slice() {
                    [] => String::new(),
                    a => format!(", aliases {}", a.join(" ")),
                }
            ),
            Step::UpdateDistribution { id, changes } => {
                let mut line = format!("~ distribution {id}:");
                for c in changes {
                    line.push_str(&format!("\n      {}: {} → {}", c.setting, c.from, c.to));
                }
                line
            }
            Step::TagDistribution { id } => format!("~ distribution {id}: tag {TAG_KEY}"),
            Step::PutBucketPolicy { bucket, statements } => format!(
                "~ bucket policy of {bucket}: {} (merged with the statements already there)",
                statements.join(", ")
            ),
            Step::DnsValidation { zone } => {
                format!("+ Route 53 zone {zone}: the certificate's validation CNAME records")
            }
            Step::DnsAlias { zone, domain } => {
                format!("+ Route 53 zone {zone}: {domain} A and AAAA aliases to the distribution")
            }
            Step::WriteConfig { keys } => format!("~ site.toml: {}", keys.join(", ")),
        }
    }
}

/// Something setup leaves alone, why, and how to let it proceed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Held {
    pub what: String,
    pub why: String,
    pub fix: String,
}

/// What `setup` will do: the steps, what is held back, and what already exists as it should.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SetupPlan {
    pub steps: Vec<Step>,
    pub held: Vec<Held>,
    pub exists: Vec<String>,
}

/// The distribution setup makes for `w`: origin access control `oac`, viewer-request function `function`
/// (an ARN), and the alias with its certificate once the certificate is issued. Settings setup does not
/// manage keep their value from `current`.
pub fn desired(
    w: &Wants,
    current: Option<&DistSettings>,
    oac: &str,
    function: &str,
    cert: Option<&CertSeen>,
) -> DistSettings {
    let base = current.cloned().unwrap_or_default();
    let (aliases, certificate) = match (&w.domain, cert) {
        (Some(d), Some(c)) if c.issued => {
            let mut aliases = base.aliases.clone();
            if !aliases.contains(d) {
                aliases.push(d.clone());
            }
            (aliases, c.arn.clone())
        }
        _ => (base.aliases.clone(), base.certificate.clone()),
    };
    DistSettings {
        origin_domain: w.origin_domain(),
        origin_path: w.origin_path(),
        oac: oac.to_string(),
        legacy_oai: false,
        custom_origin: false,
        default_root: ROOT_OBJECT.into(),
        viewer_protocol: match base.viewer_protocol.as_str() {
            "https-only" => "https-only".into(),
            _ => HTTPS_REDIRECT.into(),
        },
        compress: true,
        cache_policy: if current.is_some() && !base.cache_policy.is_empty() {
            base.cache_policy.clone()
        } else {
            CACHING_OPTIMIZED.into()
        },
        viewer_function: function.to_string(),
        http_version: HTTP_VERSION.into(),
        ipv6: true,
        price_class: match current {
            Some(c) if c.price_class != w.price_class && !c.price_class.is_empty() => {
                c.price_class.clone()
            }
            _ => w.price_class.clone(),
        },
        aliases,
        certificate,
        enabled: true,
    }
}

/// The settings that differ between `have` and `want`, in a fixed order.
pub fn diff(have: &DistSettings, want: &DistSettings) -> Vec<SettingChange> {
    fn flag(b: bool) -> String {
        if b { "on" } else { "off" }.into()
    }
    fn or_none(s: &str) -> String {
        if s.is_empty() {
            "(none)".into()
        } else {
            s.to_string()
        }
    }
    let pairs: [(&'static str, String, String); 15] = [
        (
            "origin",
            or_none(&have.origin_domain),
            or_none(&want.origin_domain),
        ),
        (
            "origin path",
            or_none(&have.origin_path),
            or_none(&want.origin_path),
        ),
        (
            "origin access control",
            or_none(&have.oac),
            or_none(&want.oac),
        ),
        (
            "legacy origin access identity",
            flag(have.legacy_oai),
            flag(want.legacy_oai),
        ),
        (
            "custom (website) origin",
            flag(have.custom_origin),
            flag(want.custom_origin),
        ),
        (
            "default root object",
            or_none(&have.default_root),
            or_none(&want.default_root),
        ),
        (
            "viewer protocol",
            or_none(&have.viewer_protocol),
            or_none(&want.viewer_protocol),
        ),
        ("compression", flag(have.compress), flag(want.compress)),
        (
            "cache policy",
            or_none(&have.cache_policy),
            or_none(&want.cache_policy),
        ),
        (
            "viewer-request function",
            or_none(&have.viewer_function),
            or_none(&want.viewer_function),
        ),
        (
            "HTTP versions",
            or_none(&have.http_version),
            or_none(&want.http_version),
        ),
        ("IPv6", flag(have.ipv6), flag(want.ipv6)),
        (
            "price class",
            or_none(&have.price_class),
            or_none(&want.price_class),
        ),
        (
            "aliases",
            or_none(&have.aliases.join(" ")),
            or_none(&want.aliases.join(" ")),
        ),
        (
            "certificate",
            or_none(&have.certificate),
            or_none(&want.certificate),
        ),
    ];
    let mut out: Vec<SettingChange> = pairs
        .into_iter()
        .filter(|(_, a, b)| a != b)
        .map(|(setting, from, to)| SettingChange { setting, from, to })
        .collect();
    if have.enabled != want.enabled {
        out.push(SettingChange {
            setting: "enabled",
            from: flag(have.enabled),
            to: flag(want.enabled),
        });
    }
    out
}

/// The placeholder ids a dry run shows for what does not exist yet.
pub const NEW_OAC: &str = "(new origin access control)";
pub const NEW_FUNCTION: &str = "(new function)";
pub const NEW_CERTIFICATE: &str = "(new certificate, once issued)";

/// The steps for `w` given what exists. `adopt`: a bucket or distribution that setup did not create may be
/// changed (without it, such a one is reported in [`SetupPlan::held`] with its differences).
pub fn plan(w: &Wants, seen: &Seen, adopt: bool, policy_ours: &Value) -> SetupPlan {
    let mut p = SetupPlan::default();
    let may_change_bucket = match &seen.bucket {
        None => {
            p.steps.push(Step::CreateBucket {
                bucket: w.bucket.clone(),
                region: w.region.clone(),
            });
            true
        }
        Some(b) => bucket_steps(w, b, adopt, &mut p),
    };
    match &seen.oac {
        Some(id) => p
            .exists
            .push(format!("origin access control {} ({id})", w.oac_name)),
        None => p.steps.push(Step::CreateOac {
            name: w.oac_name.clone(),
        }),
    }
    let function_arn = match &seen.function {
        FunctionSeen::Live { arn } => {
            p.exists.push(format!(
                "CloudFront Function {} (live, same code)",
                w.function_name
            ));
            arn.clone()
        }
        FunctionSeen::Differs { arn } => {
            p.steps.push(Step::PublishFunction {
                name: w.function_name.clone(),
                exists: true,
            });
            arn.clone()
        }
        FunctionSeen::Missing => {
            p.steps.push(Step::PublishFunction {
                name: w.function_name.clone(),
                exists: false,
            });
            NEW_FUNCTION.into()
        }
    };
    certificate_steps(w, seen, &mut p);
    dns_validation_step(seen, &mut p);
    let oac = seen.oac.clone().unwrap_or_else(|| NEW_OAC.into());
    // A certificate requested now serves the alias once issued: the plan shows the alias it will get.
    let requested = CertSeen {
        arn: NEW_CERTIFICATE.into(),
        issued: true,
        validation: Vec::new(),
    };
    let cert = match &seen.certificate {
        None if w.domain.is_some() => Some(&requested),
        c => c.as_ref(),
    };
    let dist_ok = distribution_steps(w, seen, adopt, &oac, &function_arn, cert, &mut p);
    if dist_ok {
        policy_step(w, seen, may_change_bucket, policy_ours, &mut p);
        dns_alias_step(w, seen, &mut p);
        config_step(w, seen, &mut p);
    }
    p
}

/// `--route53`: the validation records, while the certificate waits for them.
fn dns_validation_step(seen: &Seen, p: &mut SetupPlan) {
    let Some(dns) = &seen.dns else { return };
    let requested = (p.steps.iter()).any(|s| matches!(s, Step::RequestCertificate { .. }));
    let pending = requested || seen.certificate.as_ref().is_some_and(|c| !c.issued);
    if pending && !dns.validation {
        p.steps.push(Step::DnsValidation {
            zone: dns.zone.clone(),
        });
    }
}

/// `--route53`: the A/AAAA aliases, once the certificate is (or may be) issued; with a certificate still
/// waiting, the next run adds them.
fn dns_alias_step(w: &Wants, seen: &Seen, p: &mut SetupPlan) {
    let (Some(domain), Some(dns)) = (&w.domain, &seen.dns) else {
        return;
    };
    let requested = (p.steps.iter()).any(|s| matches!(s, Step::RequestCertificate { .. }));
    let issued = requested || seen.certificate.as_ref().is_some_and(|c| c.issued);
    if dns.alias {
        p.exists.push(format!("Route 53 aliases for {domain}"));
    } else if issued {
        p.steps.push(Step::DnsAlias {
            zone: dns.zone.clone(),
            domain: domain.clone(),
        });
    }
}

/// Bucket settings and tag; whether setup may change the bucket (its policy).
fn bucket_steps(w: &Wants, b: &BucketSeen, adopt: bool, p: &mut SetupPlan) -> bool {
    let secure = Step::SecureBucket {
        bucket: w.bucket.clone(),
        block_public: !b.blocks_public,
        owner_enforced: !b.owner_enforced,
        encryption: !b.encrypted,
    };
    let insecure = !b.blocks_public || !b.owner_enforced || !b.encrypted;
    if b.ours || adopt {
        if insecure {
            p.steps.push(secure);
        }
        if !b.ours {
            p.steps.push(Step::TagBucket {
                bucket: w.bucket.clone(),
            });
        }
        if b.ours && !insecure {
            p.exists
                .push(format!("bucket {} (created by setup, secured)", w.bucket));
        }
        return true;
    }
    p.exists
        .push(format!("bucket {} (not created by setup)", w.bucket));
    if insecure {
        p.held.push(Held {
            what: format!("bucket {}", w.bucket),
            why: secure.describe().trim_start_matches("~ ").to_string(),
            fix: "run `git publish setup --adopt` to let setup change a bucket it did not create"
                .into(),
        });
    }
    false
}

fn certificate_steps(w: &Wants, seen: &Seen, p: &mut SetupPlan) {
    let Some(domain) = &w.domain else { return };
    match &seen.certificate {
        None => p.steps.push(Step::RequestCertificate {
            domain: domain.clone(),
        }),
        Some(c) if c.issued => p.exists.push(format!("certificate for {domain} (issued)")),
        Some(c) => p.held.push(Held {
            what: format!("alias {domain}"),
            why: format!("the certificate {} is waiting for DNS validation", c.arn),
            fix: format!(
                "create these DNS records (or pass --route53), then run setup again: {}",
                validation_lines(c).join("; ")
            ),
        }),
    }
}

/// `NAME CNAME VALUE` for each validation record.
pub fn validation_lines(c: &CertSeen) -> Vec<String> {
    (c.validation.iter())
        .map(|(name, value)| format!("{name} CNAME {value}"))
        .collect()
}

/// Create, update (ours or adopted), or hold the distribution; whether later steps (policy, config) apply.
fn distribution_steps(
    w: &Wants,
    seen: &Seen,
    adopt: bool,
    oac: &str,
    function: &str,
    cert: Option<&CertSeen>,
    p: &mut SetupPlan,
) -> bool {
    let Some(d) = &seen.distribution else {
        p.steps.push(Step::CreateDistribution {
            settings: Box::new(desired(w, None, oac, function, cert)),
        });
        return true;
    };
    let want = desired(w, Some(&d.settings), oac, function, cert);
    let changes = diff(&d.settings, &want);
    if !d.ours && !adopt {
        p.exists
            .push(format!("distribution {} (not created by setup)", d.id));
        if !changes.is_empty() {
            let lines: Vec<String> = (changes.iter())
                .map(|c| format!("{}: {} → {}", c.setting, c.from, c.to))
                .collect();
            p.held.push(Held {
                what: format!("distribution {}", d.id),
                why: format!("setup would change: {}", lines.join("; ")),
                fix: "run `git publish setup --adopt` to let setup change it (it shows this diff first)"
                    .into(),
            });
        }
        return true;
    }
    if changes.is_empty() {
        p.exists
            .push(format!("distribution {} ({})", d.id, d.domain_name));
    } else {
        p.steps.push(Step::UpdateDistribution {
            id: d.id.clone(),
            changes,
        });
    }
    if !d.ours {
        p.steps.push(Step::TagDistribution { id: d.id.clone() });
    }
    true
}

fn policy_step(w: &Wants, seen: &Seen, may_change: bool, ours: &Value, p: &mut SetupPlan) {
    let existing = seen.bucket.as_ref().and_then(|b| b.policy.as_ref());
    let merged = merge_policy(existing, ours);
    // A new distribution has a new ARN, which the policy must name.
    if existing == Some(&merged) && seen.distribution.is_some() {
        p.exists.push(format!(
            "bucket policy of {} (lets the distribution read the site, not .git-publish/)",
            w.bucket
        ));
        return;
    }
    let mut statements = changed_statements(existing, &merged);
    if statements.is_empty() {
        statements = (ours["Statement"].as_array().into_iter().flatten())
            .filter_map(|s| sid(s).map(str::to_string))
            .collect();
    }
    if may_change {
        p.steps.push(Step::PutBucketPolicy {
            bucket: w.bucket.clone(),
            statements,
        });
    } else {
        p.held.push(Held {
            what: format!("bucket policy of {}", w.bucket),
            why: format!(
                "the distribution can't read the bucket without statements {}",
                statements.join(", ")
            ),
            fix:
                "run `git publish setup --adopt`, or add the statements of `git publish iam-policy \
                  --bucket-policy` to the bucket policy yourself"
                    .into(),
        });
    }
}

fn config_step(w: &Wants, seen: &Seen, p: &mut SetupPlan) {
    let mut keys = Vec::new();
    let ours = seen.distribution.as_ref().map(|d| d.id.as_str());
    match ours {
        Some(id) if seen.config.distributions.iter().any(|d| d == id) => {}
        _ => keys.push("distribution".to_string()),
    }
    if !seen.config.cdn_function_managed {
        keys.push("cdn_function = \"manage\"".into());
    }
    if w.domain.is_some() && seen.config.domain != w.domain {
        keys.push("domain".into());
    }
    if !keys.is_empty() {
        p.steps.push(Step::WriteConfig { keys });
    }
}

// ---- the bucket policy ----------------------------------------------------------------------------------------

fn sid(statement: &Value) -> Option<&str> {
    statement.get("Sid").and_then(Value::as_str)
}

/// `existing` with `ours`'s statements merged in: a statement of ours replaces the one with the same Sid (an
/// Allow keeps the distribution ARNs it already named), the others are kept as they are, in their order.
/// Never drops a statement it did not write.
pub fn merge_policy(existing: Option<&Value>, ours: &Value) -> Value {
    let mut merged = existing.cloned().unwrap_or_else(|| {
        json!({ "Version": ours.get("Version").cloned().unwrap_or(json!("2012-10-17")), "Statement": [] })
    });
    if !merged.get("Statement").is_some_and(Value::is_array) {
        // A single statement object is valid policy syntax.
        let single = merged.get("Statement").cloned();
        merged["Statement"] = json!(single.into_iter().collect::<Vec<_>>());
    }
    let list = merged["Statement"]
        .as_array_mut()
        .expect("made an array above");
    for new in ours["Statement"].as_array().into_iter().flatten() {
        let mut new = new.clone();
        match list
            .iter_mut()
            .find(|s| sid(s).is_some() && sid(s) == sid(&new))
        {
            Some(old) => {
                let arns = source_arns(old).into_iter().chain(source_arns(&new));
                let mut all: Vec<String> = Vec::new();
                for a in arns {
                    if !all.contains(&a) {
                        all.push(a);
                    }
                }
                if !all.is_empty() {
                    new["Condition"]["StringEquals"]["AWS:SourceArn"] = json!(all);
                }
                *old = new;
            }
            None => list.push(new),
        }
    }
    merged
}

fn source_arns(statement: &Value) -> Vec<String> {
    match &statement["Condition"]["StringEquals"]["AWS:SourceArn"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// The Sids in `merged` that are new or different from `existing`.
fn changed_statements(existing: Option<&Value>, merged: &Value) -> Vec<String> {
    let before: Vec<&Value> = (existing.and_then(|e| e["Statement"].as_array()))
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    (merged["Statement"].as_array().into_iter().flatten())
        .filter(|s| !before.contains(s))
        .map(|s| sid(s).unwrap_or("(no Sid)").to_string())
        .collect()
}

// ---- --check ------------------------------------------------------------------------------------------------

/// One recommended setting, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub ok: bool,
    pub detail: String,
    pub fix: String,
}

fn check(check: &'static str, ok: bool, detail: impl Into<String>, fix: &str) -> Check {
    Check {
        check,
        ok,
        detail: detail.into(),
        fix: if ok { String::new() } else { fix.to_string() },
    }
}

/// Whether a policy statement lets anyone read: Allow, principal `*`, no condition.
fn is_public(s: &Value) -> bool {
    let everyone = match &s["Principal"] {
        Value::String(p) => p == "*",
        Value::Object(o) => o.get("AWS").is_some_and(|a| a == "*" || a == &json!(["*"])),
        _ => false,
    };
    s["Effect"] == "Allow" && everyone && s.get("Condition").is_none()
}

/// The recommended settings, each ✓ or ✗ with its fix, for what exists (a distribution setup made or any
/// other). `record_private`: the deploy record is kept outside the site (`state = …`), so no Deny is needed.
pub fn checks(w: &Wants, seen: &Seen, record_private: bool) -> Vec<Check> {
    const ADOPT: &str =
        "`git publish setup --adopt` (shows the diff first), or change it in the console";
    let mut out = Vec::new();
    let Some(b) = &seen.bucket else {
        out.push(check(
            "bucket",
            false,
            format!("{} does not exist", w.bucket),
            "`git publish setup`",
        ));
        return out;
    };
    out.push(check(
        "block public access",
        b.blocks_public,
        if b.blocks_public {
            "all four settings on"
        } else {
            "not all four settings are on"
        },
        ADOPT,
    ));
    let statements: Vec<Value> = match b.policy.as_ref().map(|p| &p["Statement"]) {
        Some(Value::Array(a)) => a.clone(),
        Some(s @ Value::Object(_)) => vec![s.clone()],
        _ => Vec::new(),
    };
    let public = statements.iter().any(is_public);
    out.push(check(
        "bucket not public",
        !public,
        if public {
            "the bucket policy lets anyone read (Principal \"*\")"
        } else {
            "no statement lets anyone read"
        },
        "remove that statement: with origin access control only the distribution reads the bucket",
    ));
    out.push(check(
        "ACLs off",
        b.owner_enforced,
        if b.owner_enforced {
            "object ownership BucketOwnerEnforced"
        } else {
            "ACLs are enabled"
        },
        ADOPT,
    ));
    let Some(d) = &seen.distribution else {
        out.push(check(
            "distribution",
            false,
            "none serves this bucket",
            "`git publish setup`",
        ));
        return out;
    };
    out.extend(access_checks(d, &statements, record_private));
    out.extend(serving_checks(w, &d.settings));
    out
}

/// Who may read the bucket: only this distribution, through an origin access control, and not the record.
fn access_checks(d: &DistSeen, statements: &[Value], record_private: bool) -> Vec<Check> {
    let mut out = Vec::new();
    let s = &d.settings;
    let oac = !s.oac.is_empty() && !s.custom_origin;
    out.push(check(
        "origin access control",
        oac && !s.legacy_oai,
        match (s.custom_origin, s.legacy_oai, s.oac.is_empty()) {
            (true, _, _) => format!(
                "{} is a custom origin (the S3 website endpoint needs a public bucket)",
                s.origin_domain
            ),
            (_, true, _) => "the origin uses a legacy origin access identity (OAI)".to_string(),
            (_, _, true) => "the S3 origin has no origin access control".to_string(),
            _ => format!("origin access control {}", s.oac),
        },
        "use the bucket's REST endpoint with an origin access control: `git publish setup --adopt`",
    ));
    let reads = statements
        .iter()
        .any(|st| st["Effect"] == "Allow" && source_arns(st).iter().any(|a| a == &d.arn));
    out.push(check(
        "distribution may read",
        reads,
        if reads {
            "the bucket policy names the distribution (AWS:SourceArn)"
        } else {
            "no bucket policy statement names the distribution"
        },
        "`git publish setup --adopt`, or add `git publish iam-policy --bucket-policy`'s statements",
    ));
    let denied = record_private
        || statements.iter().any(|st| {
            st["Effect"] == "Deny"
                && st["Resource"]
                    .as_str()
                    .is_some_and(|r| r.ends_with("/.git-publish/*"))
        });
    out.push(check(
        "deploy record private",
        denied,
        if record_private {
            "kept outside the site (state = …)"
        } else if denied {
            "the bucket policy denies .git-publish/*"
        } else {
            "the distribution may serve .git-publish/state.json"
        },
        "`git publish setup` merges a Deny for it, or set `state = \"s3://…\"`",
    ));
    out
}

/// How the distribution serves: HTTPS, compression, the root object, directory URLs, the alias.
fn serving_checks(w: &Wants, s: &DistSettings) -> Vec<Check> {
    let mut out = Vec::new();
    out.push(check(
        "HTTPS",
        s.viewer_protocol != "allow-all",
        format!("viewer protocol {}", s.viewer_protocol),
        "set the viewer protocol policy to redirect-to-https",
    ));
    out.push(check(
        "compression",
        s.compress,
        if s.compress { "on" } else { "off" },
        "turn on \"Compress objects automatically\" in the default cache behaviour",
    ));
    out.push(check(
        "default root object",
        s.default_root == ROOT_OBJECT,
        format!("\"{}\"", s.default_root),
        "set the default root object to index.html",
    ));
    let function = !s.viewer_function.is_empty() || s.custom_origin;
    out.push(check(
        "directory indexes",
        function,
        if s.custom_origin {
            "the website endpoint serves /dir/ itself".to_string()
        } else if function {
            format!("viewer-request function {}", s.viewer_function)
        } else {
            "no viewer-request function: /dir/ answers 403 behind origin access control".to_string()
        },
        "`git publish setup` associates the function, or set cdn_function = \"manage\"",
    ));
    if let Some(domain) = &w.domain {
        let aliased = s.aliases.contains(domain) && !s.certificate.is_empty();
        out.push(check(
            "alias",
            aliased,
            if aliased {
                format!("{domain} with certificate {}", s.certificate)
            } else {
                format!("{domain} is not an alias of the distribution")
            },
            "`git publish setup --domain DOMAIN` (after the certificate is issued)",
        ));
    }
    out
}
