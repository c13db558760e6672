//! What site.toml holds: the defaults, the file's serde schema (`Raw*`, the documented keys) and the validated
//! types the rest of the program reads ([`Config`], [`Target`], [`Backend`], ...). Plain data and small
//! accessors; parsing and checking are in the parent module and `target_checks.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::modes::*;
use super::urls::{parse_url, Backend};
use crate::identity;
use crate::plan::invalidate::UrlForms;
use crate::plan::redirects::{ConfigRedirect, RedirectSpec};
use crate::plan::rules::{RuleSpec, Rules};

pub const DEFAULT_MAX_DELETES: usize = 500;
pub const DEFAULT_MAX_INVALIDATION_PATHS: usize = 15;
/// The hard cap on store requests in flight; below it the executor adapts the number (`exec::flow`).
pub const DEFAULT_CONCURRENCY: usize = 256;
pub const DEFAULT_INDEX_DOCUMENT: &str = "index.html";
pub const DEFAULT_CLAIM_LEASE: Duration = Duration::from_secs(3600);
/// CloudFront's free tier: 1,000 invalidation paths a month (per account).
pub const DEFAULT_INVALIDATION_BUDGET: usize = 1000;
pub const DEFAULT_DIRECTORY_URLS: &[&str] = &["/dir/", "/dir/index.html"];
/// Where snapshot builds are committed when `source.snapshot_ref` is not set.
pub const DEFAULT_SNAPSHOT_REF: &str = "refs/heads/site-builds";

/// Raw file schema. Field names are the documented keys of site.toml.example.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub(crate) source: RawSource,
    #[serde(default)]
    pub(crate) targets: BTreeMap<String, RawTarget>,
    #[serde(default)]
    pub(crate) rules: Vec<RuleSpec>,
    #[serde(default)]
    pub(crate) redirects: Vec<RedirectSpec>,
    /// The name deploys are recorded under, for every target that does not set its own.
    pub(crate) publisher: Option<String>,
}

/// `distribution = "E..."`, `"auto"`, or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawDistribution {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSource {
    pub(crate) branch: Option<String>,
    pub(crate) dir: Option<String>,
    pub(crate) build_dir: Option<String>,
    pub(crate) build_command: Option<String>,
    pub(crate) build_env: Option<String>,
    pub(crate) snapshot_ref: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTarget {
    pub(crate) url: String,
    pub(crate) region: Option<String>,
    pub(crate) profile: Option<String>,
    pub(crate) endpoint: Option<String>,
    pub(crate) distribution: Option<RawDistribution>,
    pub(crate) domain: Option<String>,
    pub(crate) origin_path: Option<String>,
    #[serde(default)]
    pub(crate) default: bool,
    pub(crate) concurrency: Option<usize>,
    pub(crate) max_deletes: Option<usize>,
    pub(crate) max_invalidation_paths: Option<usize>,
    pub(crate) index_document: Option<String>,
    pub(crate) invalidate_new_files: Option<bool>,
    pub(crate) allow_http: Option<bool>,
    pub(crate) claim_lease: Option<String>,
    pub(crate) directory_urls: Option<Vec<String>>,
    pub(crate) pretty_urls: Option<bool>,
    pub(crate) invalidation_budget: Option<usize>,
    pub(crate) delay_deletes: Option<bool>,
    pub(crate) redirect_renames: Option<String>,
    pub(crate) cdn_function: Option<String>,
    pub(crate) publisher: Option<String>,
    pub(crate) locking: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) previews: Option<RawPreviews>,
    pub(crate) cloudflare: Option<RawCloudflare>,
    pub(crate) cloud_cdn: Option<RawCloudCdn>,
    pub(crate) front_door: Option<RawFrontDoor>,
}

/// `[targets.NAME.cloudflare]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCloudflare {
    pub(crate) zone: Option<String>,
}

/// `[targets.NAME.cloud_cdn]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCloudCdn {
    pub(crate) project: Option<String>,
    pub(crate) url_map: Option<String>,
    pub(crate) host: Option<String>,
}

/// `[targets.NAME.front_door]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFrontDoor {
    pub(crate) subscription: Option<String>,
    pub(crate) resource_group: Option<String>,
    pub(crate) profile: Option<String>,
    pub(crate) endpoint: Option<String>,
}

/// `[targets.NAME.previews]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPreviews {
    pub(crate) domain: Option<String>,
    pub(crate) password_env: Option<String>,
    pub(crate) password_file: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from (for messages).
    pub path: PathBuf,
    pub source: SourceConfig,
    pub targets: BTreeMap<String, Target>,
    /// `[[rules]]`, compiled (shared by every target).
    pub rules: Rules,
    /// `[[redirects]]`, checked, chains collapsed (shared by every target).
    pub redirects: Vec<ConfigRedirect>,
}

#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Branch whose commits hold the output; `None` = the current branch (HEAD).
    pub branch: Option<String>,
    /// Output directory inside the commit, without leading/trailing slashes; "" = whole tree.
    /// With snapshot builds it defaults to `build_dir` (used for deployed commits that are not snapshots).
    pub dir: String,
    /// Snapshot builds: the generated output is not committed; each publish commits this directory (relative
    /// to the repository root) to `snapshot_ref` and publishes that commit.
    pub snapshot: Option<SnapshotConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotConfig {
    /// Directory relative to the repository root, without leading/trailing slashes.
    pub build_dir: String,
    /// Shell command run from the repository root before the snapshot (`sh -c`).
    pub build_command: Option<String>,
    /// `build_env = "inherit"`: the build sees the publisher's `AWS_*` variables (by default it doesn't).
    pub build_env: BuildEnv,
    /// Full ref name holding the chain of snapshot commits.
    pub snapshot_ref: String,
}

/// One `[targets.NAME]`, checked, by concern: where the files go ([`StoreSettings`]), the CDN in front
/// ([`CdnConfig`]), how a publish behaves ([`PublishSettings`]); and what the whole site shares: its name,
/// domain, URL forms and previews.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    /// The target `git publish` uses without `--target`.
    pub default: bool,
    /// The site's domain: picks the distribution with this alias for `distribution = "auto"`; the host a CDN
    /// that purges by URL (Cloudflare) or by domain (Front Door) is told.
    pub domain: Option<String>,
    /// Which URLs serve a file (`index_document`, `directory_urls`, `pretty_urls`).
    pub forms: UrlForms,
    /// `[targets.NAME.previews]`: branch previews' domain and protection (`git publish preview` works without
    /// it, through the distribution's own name).
    pub previews: Option<PreviewsConfig>,
    pub store: StoreSettings,
    pub cdn: CdnConfig,
    pub publish: PublishSettings,
}

/// Where a target's files and its deploy record go, and how the store is reached.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// `url` as written.
    pub url: String,
    pub backend: Backend,
    pub region: Option<String>,
    /// The AWS profile.
    pub profile: Option<String>,
    pub endpoint: Option<String>,
    /// Accept plain-http endpoints that are not loopback.
    pub allow_http: bool,
    /// `state = …`: where the deploy record lives when not in the site's own `<prefix>/.git-publish/`.
    pub state: Option<StateLocation>,
    /// `locking = "none"`: the store's conditional writes are not required (see [`Locking`]).
    pub locking: Locking,
}

/// The CDN in front of a target (at most one kind: CloudFront's distributions, or one of the tables) and how
/// it is invalidated.
#[derive(Debug, Clone)]
pub struct CdnConfig {
    /// CloudFront distributions to invalidate (empty: none).
    pub distributions: Vec<Distribution>,
    /// The distributions' origin path, when given (then it is not read from CloudFront); no slashes at the ends.
    pub origin_path: Option<String>,
    pub max_invalidation_paths: usize,
    /// Invalidation paths a month before they are paid (`invalidation_budget`).
    pub invalidation_budget: usize,
    pub invalidate_new_files: bool,
    /// `cdn_function = "manage"`: git-publish keeps the distribution's viewer-request function up to date
    /// ([`Target::manages_cdn_function`]).
    pub cdn_function: CdnFunction,
    /// `[targets.NAME.cloudflare]`: Cloudflare's cache in front (purged by URL on `domain`), and the store is
    /// R2 (no redirect header).
    pub cloudflare: Option<CloudflareConfig>,
    /// `[targets.NAME.cloud_cdn]`: Google Cloud CDN in front (invalidated by path through a URL map).
    pub cloud_cdn: Option<CloudCdnConfig>,
    /// `[targets.NAME.front_door]`: Azure Front Door in front (purged by path on an endpoint).
    pub front_door: Option<FrontDoorConfig>,
}

/// How a publish to a target behaves: requests at once, safety limits, the claim, renames, who it is.
#[derive(Debug, Clone)]
pub struct PublishSettings {
    pub concurrency: usize,
    pub max_deletes: usize,
    pub delay_deletes: bool,
    pub claim_lease: Duration,
    /// `redirect_renames`: "auto" applies, "ask" asks on a terminal (else only shows), "off".
    pub redirect_renames: RedirectRenames,
    /// The name deploys are recorded under (`publisher`, the target's or the top-level one); None: the
    /// committer name from git config, else the OS user.
    pub publisher: Option<String>,
}

/// `[targets.NAME.cloudflare]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudflareConfig {
    /// The zone's id (32 hex digits), whose cache is purged.
    pub zone: String,
}

/// `[targets.NAME.cloud_cdn]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudCdnConfig {
    /// The Google Cloud project's id.
    pub project: String,
    /// The URL map (the load balancer) whose Cloud CDN cache is invalidated.
    pub url_map: String,
    /// Invalidate on this host only (None: every host the URL map serves).
    pub host: Option<String>,
}

/// `[targets.NAME.front_door]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontDoorConfig {
    /// The subscription's id (a GUID).
    pub subscription: String,
    pub resource_group: String,
    /// The Front Door (Standard or Premium) profile.
    pub profile: String,
    /// The profile's endpoint whose cache is purged.
    pub endpoint: String,
}

/// `[targets.NAME.previews]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreviewsConfig {
    /// `<name>.<domain>` serves preview `<name>` (a wildcard alias of the distribution).
    pub domain: Option<String>,
    /// Where every preview's password comes from (the password itself never is in site.toml): the name of an
    /// environment variable, or a file.
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
}

/// Where a target's deploy record lives (`state`): a store (S3 bucket with an empty prefix, or a local
/// directory) and the key in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateLocation {
    pub backend: Backend,
    pub key: String,
}

impl StateLocation {
    /// `s3://BUCKET/KEY.json` or `s3://BUCKET[/PREFIX]` (the record is then `PREFIX/.git-publish/state.json`),
    /// and the same with `file://` (a file, or a directory).
    pub fn parse(url: &str, base_dir: &Path) -> std::result::Result<StateLocation, String> {
        let default_key = |prefix: &str| {
            let rel = format!("{}/state.json", crate::plan::STATE_DIR);
            if prefix.is_empty() {
                rel
            } else {
                format!("{prefix}/{rel}")
            }
        };
        match parse_url(url, base_dir)? {
            backend @ (Backend::S3 { .. } | Backend::Cloud { .. }) => {
                let prefix = backend.bucket_and_prefix().map(|(_, p)| p).unwrap_or("");
                let key = if prefix.ends_with(".json") {
                    prefix.to_string()
                } else {
                    default_key(prefix)
                };
                let backend = backend.with_prefix("");
                Ok(StateLocation { backend, key })
            }
            Backend::Local { root } => {
                let name = root
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default();
                if name.ends_with(".json") {
                    let key = name.to_string();
                    let dir = root.parent().map(Path::to_path_buf).unwrap_or_default();
                    Ok(StateLocation {
                        backend: Backend::Local { root: dir },
                        key,
                    })
                } else {
                    Ok(StateLocation {
                        backend: Backend::Local { root },
                        key: default_key(""),
                    })
                }
            }
        }
    }

    /// Where the record is, for messages.
    pub fn describe(&self) -> String {
        self.backend.url_of(&self.key)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Distribution {
    Id(String),
    /// Found at publish time: the distribution whose origin is the bucket (or whose alias is `domain`).
    Auto,
}

impl Distribution {
    pub fn describe(&self) -> &str {
        match self {
            Distribution::Id(id) => id,
            Distribution::Auto => "auto",
        }
    }
}

impl Target {
    /// Key prefix inside the bucket ("" for the bucket root or a local directory).
    pub fn prefix(&self) -> &str {
        self.store
            .backend
            .bucket_and_prefix()
            .map_or("", |(_, p)| p)
    }

    /// The site's identity in its cloud account (see [`crate::identity`]): bucket, prefix and target name.
    pub fn site(&self) -> identity::Site {
        match &self.store.backend {
            Backend::S3 { bucket, prefix } | Backend::Cloud { bucket, prefix, .. } => {
                identity::Site::new(&self.name, bucket, prefix)
            }
            Backend::Local { root } => {
                identity::Site::new(&self.name, &root.display().to_string(), "")
            }
        }
    }

    /// `cdn_function = "manage"`.
    pub fn manages_cdn_function(&self) -> bool {
        self.cdn.cdn_function == CdnFunction::Manage
    }

    /// The name of the CloudFront Function the target's distribution runs (`cdn_function = "manage"`,
    /// `git publish setup`), and of its KeyValueStore: unique per site ([`identity::Site::function_name`]).
    pub fn cdn_function_name(&self) -> String {
        self.site().function_name()
    }
}
