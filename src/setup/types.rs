//! The data setup decides over: the recommended constants, what the target wants ([`Wants`]), the steps
//! ([`Step`]), what is held back ([`Held`]) and the plan ([`SetupPlan`]). Plain data and how it reads; the
//! decisions are in the parent module.

use serde::Serialize;

use super::seen::*;
use crate::identity::{Site, TAG_KEY};

/// The managed cache policy `CachingOptimized` (its id is the same in every account).
pub const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
/// The root object, and the viewer protocol policy setup asks for.
pub const ROOT_OBJECT: &str = "index.html";
pub const HTTPS_REDIRECT: &str = "redirect-to-https";
pub const HTTP_VERSION: &str = "http2and3";
pub const PRICE_CLASSES: [&str; 3] = ["PriceClass_100", "PriceClass_200", "PriceClass_All"];

/// What setup makes for a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wants {
    /// Target, bucket and key prefix: what every name, tag and statement setup makes is derived from.
    pub site: Site,
    pub region: String,
    pub price_class: String,
    /// `--domain`: served as an alias, with an ACM certificate.
    pub domain: Option<String>,
    /// `--previews`: the previews' domain D (`[targets.NAME.previews] domain`), served as the wildcard alias
    /// `*.D` with a certificate that covers it ([`Wants::preview_alias`]).
    pub previews: Option<String>,
    /// The viewer-request function's name (the same one `cdn_function = "manage"` keeps up to date).
    pub function_name: String,
    pub oac_name: String,
    /// `--route53`: write the DNS records in the Route 53 zone that holds the domain.
    pub route53: bool,
    /// The deploy record's key when it is kept in this bucket (inside the site, or `state` in the same
    /// bucket): visitors must not read it. None: kept elsewhere.
    pub record_key: Option<String>,
}

impl Wants {
    /// The bucket's REST endpoint, the origin CloudFront reads with origin access control.
    pub fn origin_domain(&self) -> String {
        format!("{}.s3.{}.amazonaws.com", self.site.bucket, self.region)
    }

    pub fn origin_path(&self) -> String {
        match self.site.prefix.as_str() {
            "" => String::new(),
            p => format!("/{p}"),
        }
    }
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
    /// Add this site's tag (kept with the bucket's other tags, another site's among them).
    TagBucket {
        bucket: String,
    },
    CreateOac {
        name: String,
    },
    /// Create or update the function, and publish it (`adopt`: one made by hand is taken over).
    PublishFunction {
        name: String,
        exists: bool,
        adopt: bool,
    },
    /// One certificate for every alias the distribution will have (`domain`, then `alt_names`); `replaces`:
    /// the distribution's certificate, swapped out once this one is issued.
    RequestCertificate {
        domain: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        alt_names: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        replaces: Option<String>,
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
    /// `--route53`: create the certificate's validation CNAMEs (`replace`: `--adopt` overwrites others).
    DnsValidation {
        zone: String,
        replace: bool,
    },
    /// `--route53`: create A and AAAA alias records from the domain to the distribution (`replace`:
    /// `--adopt` overwrites records that point elsewhere).
    DnsAlias {
        zone: String,
        domain: String,
        replace: bool,
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
            Step::PublishFunction { name, exists, .. } => format!(
                "{} CloudFront Function {name} (viewer request: /dir/ → /dir/index.html, redirects), published",
                if *exists { "~" } else { "+" }
            ),
            Step::RequestCertificate {
                domain,
                alt_names,
                replaces,
            } => {
                let names: Vec<&str> = std::iter::once(domain.as_str())
                    .chain(alt_names.iter().map(String::as_str))
                    .collect();
                let swap = match replaces {
                    Some(arn) => format!(
                        "; once issued it replaces {arn} on the distribution, which has one certificate for \
                         all its aliases"
                    ),
                    None => String::new(),
                };
                format!(
                    "+ ACM certificate for {} in us-east-1 (DNS validation{swap})",
                    names.join(", ")
                )
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
            ) + &match s.error_responses.as_slice() {
                [] => String::new(),
                e => format!(", error responses {}", describe_all(e)),
            },
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
            Step::DnsValidation { zone, replace } => format!(
                "{} Route 53 zone {zone}: the certificate's validation CNAME records",
                if *replace { "~" } else { "+" }
            ),
            Step::DnsAlias {
                zone,
                domain,
                replace,
            } => format!(
                "{} Route 53 zone {zone}: {domain} A and AAAA aliases to the distribution",
                if *replace { "~" } else { "+" }
            ),
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
