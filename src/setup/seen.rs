//! What exists, as `aws::setup` reads it ([`Seen`] and its parts), and the distribution settings setup compares
//! ([`DistSettings`]). Plain data: the decisions are in the parent module.

use serde::Serialize;
use serde_json::Value;

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
    /// The custom error responses, in the distribution's order.
    pub error_responses: Vec<ErrorResponse>,
}

/// Who a bucket was made for, by its tags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BucketOwner {
    /// Tagged for this site (`git-publish:site:<id>`, or `git-publish:site = <target>` from before).
    This,
    /// Made by setup for another site (another prefix): this site may add its own statements and tag.
    OtherSite,
    /// Not made by setup.
    #[default]
    None,
}

/// A bucket that exists and can be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BucketSeen {
    pub owner: BucketOwner,
    pub tags: Vec<(String, String)>,
    /// All four Block Public Access settings are on.
    pub blocks_public: bool,
    /// Object ownership is `BucketOwnerEnforced` (ACLs off).
    pub owner_enforced: bool,
    /// Default encryption is set.
    pub encrypted: bool,
    pub policy: Option<Value>,
}

/// Who a distribution belongs to, by its `git-publish:site` tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DistOwner {
    /// Tagged with this site's value.
    This,
    /// Tagged with the target's name alone (before tags carried the id) and serving this bucket and
    /// prefix: this site's, and its tag is brought up to date.
    LegacyName,
    /// Tagged for another site (the tag's value).
    Other(String),
    /// Not tagged: not made by setup.
    None,
}

impl DistOwner {
    pub fn ours(&self) -> bool {
        matches!(self, DistOwner::This | DistOwner::LegacyName)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistSeen {
    pub id: String,
    pub arn: String,
    /// `d123.cloudfront.net`.
    pub domain_name: String,
    pub owner: DistOwner,
    /// The ETag of the read the plan is made from: an update carries it (If-Match), so an edit made since
    /// (in the console, while setup waits at its question) is refused, not overwritten.
    pub etag: String,
    pub settings: DistSettings,
}

/// The function setup associates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunctionSeen {
    Missing,
    /// A function of this site's name whose comment does not carry the site's mark (made by hand).
    Foreign {
        comment: String,
    },
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
    /// Its domain name, then its other names (SubjectAlternativeNames).
    pub names: Vec<String>,
    pub issued: bool,
    /// The DNS validation records (name, value) to create as CNAMEs.
    pub validation: Vec<(String, String)>,
}

/// What exists, as `aws::setup::observe` read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// None: no such bucket.
    pub bucket: Option<BucketSeen>,
    /// The id of the origin access control named [`Wants::oac_name`].
    pub oac: Option<String>,
    pub function: FunctionSeen,
    pub distribution: Option<DistSeen>,
    /// A certificate that covers every alias the distribution will have ([`wanted_aliases`]): the one it
    /// has when that one does, else one tagged for this site, else any (issued or waiting for validation).
    pub certificate: Option<CertSeen>,
    /// The certificate the distribution has now (its names, for `--check`).
    pub serving_certificate: Option<CertSeen>,
    /// Whether the site has its `404.html`.
    pub not_found_page: PageSeen,
    /// What site.toml already says: the target's distribution ids, `cdn_function = "manage"`, `domain`.
    pub config: ConfigSeen,
    /// With `--route53`: the records in the zone that holds the domain.
    pub dns: Option<DnsSeen>,
    /// Distributions serving this bucket and prefix that belong to other sites: `id (tag value)`.
    pub foreign: Vec<String>,
}

impl Seen {
    /// The aliases the distribution has now (none without one).
    pub fn current_aliases(&self) -> Vec<String> {
        (self.distribution.as_ref())
            .map(|d| d.settings.aliases.clone())
            .unwrap_or_default()
    }
}

/// Records in a Route 53 zone, relative to what setup would write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RecordSeen {
    /// None of that name and type.
    #[default]
    Absent,
    /// There, with the value setup would write.
    Same,
    /// There, with another value: a live site's record, changed only with `--adopt`.
    Other(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsSeen {
    /// The certificate's validation CNAMEs (each in the zone that holds its name).
    pub validation: RecordSeen,
    /// Each of [`Wants::hosts`], in order.
    pub hosts: Vec<HostDns>,
}

/// A host's A and AAAA records in the zone that holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostDns {
    pub host: String,
    pub zone: String,
    /// Aliases to the distribution are [`RecordSeen::Same`].
    pub alias: RecordSeen,
}

impl DnsSeen {
    /// The zones of the hosts, for a plan line.
    pub fn zones(&self) -> String {
        let mut zones: Vec<&str> = Vec::new();
        for h in &self.hosts {
            if !zones.contains(&h.zone.as_str()) {
                zones.push(&h.zone);
            }
        }
        zones.join(", ")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigSeen {
    pub distributions: Vec<String>,
    pub cdn_function_managed: bool,
    pub domain: Option<String>,
}

/// One of the distribution's custom error responses, every field of CloudFront's `CustomErrorResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorResponse {
    /// The origin's status code (ErrorCode).
    pub code: i32,
    /// ResponsePagePath ("" none).
    pub page: String,
    /// ResponseCode, the status the viewer gets ("" the origin's).
    pub response_code: String,
    /// ErrorCachingMinTTL in seconds (None: CloudFront's default).
    pub min_ttl: Option<i64>,
}

impl ErrorResponse {
    /// `403 → /404.html (404, cached 10 s)`.
    pub fn describe(&self) -> String {
        let mut what = Vec::new();
        if !self.response_code.is_empty() {
            what.push(self.response_code.clone());
        }
        if let Some(ttl) = self.min_ttl {
            what.push(format!("cached {ttl} s"));
        }
        let page = match self.page.as_str() {
            "" => String::new(),
            p => format!(" → {p}"),
        };
        match what.as_slice() {
            [] => format!("{}{page}", self.code),
            w => format!("{}{page} ({})", self.code, w.join(", ")),
        }
    }
}

/// Whether the site has its `404.html` (a HeadObject of the key under the site's prefix: what CloudFront
/// fetches, whatever the local clone holds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PageSeen {
    Present,
    /// Not there, or no bucket yet.
    #[default]
    Absent,
    /// The store would not say (why).
    Unknown(String),
}

/// The list, for a plan line or a diff.
pub fn describe_all(list: &[ErrorResponse]) -> String {
    let all: Vec<String> = list.iter().map(ErrorResponse::describe).collect();
    all.join(", ")
}
