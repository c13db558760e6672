//! Builds the backends of one target from its settings: the object store (S3, GCS, Azure Blob or a local
//! directory), the CDN's lookup ([`CdnLookup`]: a CDN named by its own table, or CloudFront's distributions
//! resolved through [`cloudfront::resolve_one`] when the caller asks, or taken from what a record kept), and
//! where connections may be opened ahead ([`Origins`]).
//!
//! It owns the choice of implementation and the environment-endpoint check; it decides nothing about what
//! to publish and prints nothing (notices go to the caller's `say`).

use crate::config::{Backend, Cloud, Distribution, Target};
use crate::error::{Error, Result};
use crate::plan::CdnSettings;
use crate::state::{ResolvedCdn, ResolvedDistribution};

use crate::aws::cloudfront::{self, Notice};
use crate::aws::{self, s3};
use crate::exec::{local, Cdn, CdnError, ObjectStore};
use crate::{azure, cloudflare, gcp};

/// The backends of one target.
pub struct Backends {
    pub store: Box<dyn ObjectStore>,
    /// Each distribution to invalidate, with its origin path (resolved only when asked for).
    pub cdns: Vec<(CdnSettings, Box<dyn Cdn>)>,
    /// The store of the deploy record when the target sets `state` (another bucket, same client), else None:
    /// the record is in `store`. See [`Backends::state_store`].
    pub state: Option<Box<dyn ObjectStore>>,
    /// How the target's distributions are found (S3 targets with distributions).
    pub lookup: Option<CdnLookup>,
    /// Where the site's requests and CloudFront's go, for connections opened ahead.
    pub origins: Origins,
}

impl Backends {
    /// Where the deploy record is read and written.
    pub fn state_store(&self) -> &dyn ObjectStore {
        self.state.as_deref().unwrap_or(self.store.as_ref())
    }

    /// The site's store and the record's, for `state`'s reads and moves.
    pub fn stores(&self) -> crate::state::Stores<'_> {
        crate::state::Stores {
            site: self.store.as_ref(),
            record: self.state_store(),
        }
    }
}

/// The URLs of the site's bucket and of CloudFront, as the SDK will reach them (None: a local target, or
/// not resolvable).
#[derive(Debug, Clone, Default)]
pub struct Origins {
    pub store: Option<String>,
    pub cdn: Option<String>,
}

impl Origins {
    /// Open `store` connections to the bucket and `cdn` to CloudFront ahead of the requests that need them
    /// (see `super::connect`).
    pub fn open(&self, store: usize, cdn: usize) {
        if let Some(url) = &self.store {
            aws::connect::open(url, store);
        }
        if let Some(url) = &self.cdn {
            aws::connect::open(url, cdn);
        }
    }
}

/// A target's distributions, to be resolved (ListDistributions, GetDistribution) when the caller chooses, or
/// taken from a record's [`ResolvedCdn`] without a request.
pub struct CdnLookup {
    how: Lookup,
    target: Target,
    bucket: String,
    prefix: String,
}

/// How a target's CDN is found: named by its own table (any store), or CloudFront's distributions (an S3
/// target's `distribution`), through CloudFront's clients.
enum Lookup {
    Direct(Direct),
    CloudFront(CloudFrontClients),
}

/// What asks CloudFront about a target's distributions, and invalidates them.
struct CloudFrontClients {
    cf: aws_sdk_cloudfront::Client,
    kvs: aws_sdk_cloudfrontkeyvaluestore::Client,
}

/// A CDN named by its own table of the target (at most one: the config refuses two), reached without a
/// CloudFront request: one arm each.
enum Direct {
    /// `[targets.NAME.cloudflare]`: the zone and the host its URLs are purged on.
    Cloudflare { zone: String, domain: String },
    /// `[targets.NAME.cloud_cdn]`.
    CloudCdn(crate::config::CloudCdnConfig),
    /// `[targets.NAME.front_door]`, and the target's `domain` (the one purged, when set).
    FrontDoor(crate::config::FrontDoorConfig, Option<String>),
}

impl Direct {
    fn of(target: &Target) -> Option<Direct> {
        if let Some(c) = &target.cdn.cloudflare {
            let domain = target.domain.clone().unwrap_or_default();
            return Some(Direct::Cloudflare {
                zone: c.zone.clone(),
                domain,
            });
        }
        if let Some(c) = &target.cdn.cloud_cdn {
            return Some(Direct::CloudCdn(c.clone()));
        }
        (target.cdn.front_door.clone()).map(|f| Direct::FrontDoor(f, target.domain.clone()))
    }

    fn spec(&self) -> String {
        match self {
            Direct::Cloudflare { zone, domain } => format!("cloudflare:{zone} domain={domain}"),
            Direct::CloudCdn(c) => format!(
                "cloud_cdn:{}/{} host={}",
                c.project,
                c.url_map,
                c.host.as_deref().unwrap_or("")
            ),
            Direct::FrontDoor(f, domain) => format!(
                "front_door:{}/{}/{}/{} domain={}",
                f.subscription,
                f.resource_group,
                f.profile,
                f.endpoint,
                domain.as_deref().unwrap_or("")
            ),
        }
    }

    async fn entry(&self, target: &Target) -> Result<CdnEntry> {
        match self {
            Direct::Cloudflare { zone, domain } => cloudflare_entry(&target.name, zone, domain),
            Direct::CloudCdn(c) => cloud_cdn_entry(target, c).await,
            Direct::FrontDoor(f, domain) => front_door_entry(target, f, domain.as_deref()).await,
        }
    }
}

impl CdnLookup {
    /// What the answer depends on: the `distribution` setting, `domain`, the bucket and the prefix. A record's
    /// answer is used only for the same value.
    pub fn spec(&self) -> String {
        if let Lookup::Direct(direct) = &self.how {
            return direct.spec();
        }
        let ds: Vec<&str> = self
            .target
            .cdn
            .distributions
            .iter()
            .map(|d| d.describe())
            .collect();
        format!(
            "{} domain={} s3://{}/{}",
            ds.join(","),
            self.target.domain.as_deref().unwrap_or(""),
            self.bucket,
            self.prefix
        )
    }

    /// Whether resolving asks CloudFront anything (not when every distribution is an id and `origin_path`
    /// is set).
    pub fn asks(&self) -> bool {
        if let Lookup::Direct(_) = &self.how {
            return false;
        }
        (self.target.cdn.distributions.iter()).any(|d| cloudfront::asks(&self.target, d))
    }

    /// Ask CloudFront. With the answer, what a record may keep of it (None when an origin path had to be
    /// assumed).
    pub async fn resolve(
        &self,
        say: &dyn Fn(Notice),
    ) -> Result<(Vec<CdnEntry>, Option<ResolvedCdn>)> {
        let c = match &self.how {
            Lookup::Direct(direct) => return Ok((vec![direct.entry(&self.target).await?], None)),
            Lookup::CloudFront(c) => c,
        };
        let mut out: Vec<CdnEntry> = Vec::new();
        let mut assumed = false;
        for d in &self.target.cdn.distributions {
            let r =
                cloudfront::resolve_one(&c.cf, &self.target, &self.bucket, &self.prefix, d, say)
                    .await?;
            assumed |= r.assumed;
            out.push((r.settings, Box::new(r.cdn.with_kvs(c.kvs.clone()))));
        }
        let keep = (!assumed).then(|| ResolvedCdn {
            from: self.spec(),
            distributions: (out.iter())
                .map(|(c, _)| ResolvedDistribution {
                    id: c.id.clone(),
                    origin_path: c.origin_path.clone(),
                })
                .collect(),
        });
        Ok((out, keep))
    }

    /// The distributions as `kept` says, without a request; None when it was resolved from other settings.
    pub fn kept(&self, kept: &ResolvedCdn, say: &dyn Fn(Notice)) -> Option<Vec<CdnEntry>> {
        let Lookup::CloudFront(c) = &self.how else {
            return None; // nothing to keep: resolving asks nothing
        };
        if kept.from != self.spec()
            || kept.distributions.len() != self.target.cdn.distributions.len()
        {
            return None;
        }
        let entries = (kept
            .distributions
            .iter()
            .zip(&self.target.cdn.distributions))
        .map(|(k, d)| {
            let settings = CdnSettings {
                id: match d {
                    Distribution::Id(id) => id.clone(),
                    Distribution::Auto => k.id.clone(),
                },
                origin_path: (self.target.cdn.origin_path.clone()).unwrap_or(k.origin_path.clone()),
                profile: cloudfront::PROFILE,
            };
            cloudfront::warn_unserved(&settings, &self.bucket, &self.prefix, say);
            let cdn = cloudfront::CloudFront::new(c.cf.clone(), &settings.id);
            (
                settings,
                Box::new(cdn.with_kvs(c.kvs.clone())) as Box<dyn Cdn>,
            )
        })
        .collect();
        Some(entries)
    }
}

/// A Cloudflare zone's cache as a CDN entry: the token and API base from the environment, checked before
/// anything is written (a publish without a token stops here, naming the variable).
fn cloudflare_entry(target: &str, zone: &str, domain: &str) -> Result<CdnEntry> {
    let purger = cloudflare::Purger::from_env(zone)
        .and_then(|p| p.check_token().map(|()| p))
        .map_err(|e| Error::Store {
            target: target.to_string(),
            message: e.to_string(),
            hint: e.hint,
        })?;
    let settings = CdnSettings {
        id: zone.to_string(),
        origin_path: String::new(),
        profile: cloudflare::profile(domain),
    };
    Ok((settings, Box::new(cloudflare::Cloudflare::new(purger))))
}

/// The error of building a CDN adapter, as the target's.
fn cdn_setup_error(target: &Target, e: CdnError) -> Error {
    Error::Store {
        target: target.name.clone(),
        hint: e.hint().to_string(),
        message: e.to_string(),
    }
}

/// A Cloud CDN URL map as a CDN entry: the token (checked now: a publish without credentials stops here,
/// before anything is written) and the API base from the environment.
async fn cloud_cdn_entry(target: &Target, c: &crate::config::CloudCdnConfig) -> Result<CdnEntry> {
    let fail = |e| cdn_setup_error(target, e);
    let base = gcp::Compute::base_from_env(target.store.allow_http).map_err(fail)?;
    let token = gcp::Token::from_env().await.map_err(fail)?;
    let limits = crate::exec::api::Limits::default();
    let compute = gcp::Compute::new(&c.project, &c.url_map, base, token, limits).map_err(fail)?;
    let settings = CdnSettings {
        id: format!("{}/{}", c.project, c.url_map),
        origin_path: String::new(),
        profile: gcp::PROFILE,
    };
    Ok((
        settings,
        Box::new(gcp::CloudCdn::new(compute, c.host.clone())),
    ))
}

/// A Front Door endpoint as a CDN entry: the token (checked now) and the management base from the environment;
/// purges name the target's `domain` when it has one.
async fn front_door_entry(
    target: &Target,
    f: &crate::config::FrontDoorConfig,
    domain: Option<&str>,
) -> Result<CdnEntry> {
    let fail = |e| cdn_setup_error(target, e);
    let base = azure::Arm::base_from_env(target.store.allow_http).map_err(fail)?;
    let token = azure::arm::token_from_env().await.map_err(fail)?;
    let at = azure::Endpoint {
        subscription: f.subscription.clone(),
        resource_group: f.resource_group.clone(),
        profile: f.profile.clone(),
        endpoint: f.endpoint.clone(),
    };
    let arm =
        azure::Arm::new(at, base, token, crate::exec::api::Limits::default()).map_err(fail)?;
    let settings = CdnSettings {
        id: format!("{}/{}", f.profile, f.endpoint),
        origin_path: String::new(),
        profile: azure::PROFILE,
    };
    let domains = domain.map(|d| vec![d.to_string()]).unwrap_or_default();
    Ok((settings, Box::new(azure::FrontDoor::new(arm, domains))))
}

/// One distribution: what the planner knows of it, and the [`Cdn`] to invalidate it with.
pub type CdnEntry = (CdnSettings, Box<dyn Cdn>);

/// The ids and origin paths of `cdns`, to compare two answers.
pub fn settings_of(cdns: &[CdnEntry]) -> Vec<CdnSettings> {
    cdns.iter().map(|(c, _)| c.clone()).collect()
}

/// The backends of a target in another cloud's object store: its store (the record's too, in another bucket
/// of that store when `state` says so), no CDN of its own here.
fn cloud_backends(target: &Target, cloud: Cloud, bucket: &str, prefix: &str) -> Result<Backends> {
    let build = |bucket: &str, prefix: &str| -> Result<Box<dyn ObjectStore>> {
        let store = match cloud {
            Cloud::Gcs => gcp::storage::store(bucket, prefix),
            Cloud::AzBlob => azure::blob::store(bucket, prefix),
        };
        store
            .map(|s| Box::new(s) as Box<dyn ObjectStore>)
            .map_err(|message| Error::Store {
                target: target.name.clone(),
                message: format!("{}://{bucket}: {message}", cloud.scheme()),
                hint: String::new(),
            })
    };
    let state = match target.store.state.as_ref().map(|l| &l.backend) {
        Some(Backend::Cloud { bucket, .. }) => Some(build(bucket, "")?),
        _ => None,
    };
    // Its cloud's CDN (or Cloudflare's), named by its own table: no CloudFront here.
    let lookup = Direct::of(target).map(|direct| CdnLookup {
        how: Lookup::Direct(direct),
        target: target.clone(),
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
    });
    Ok(Backends {
        store: build(bucket, prefix)?,
        cdns: Vec::new(),
        state,
        lookup,
        origins: Origins::default(),
    })
}

/// Endpoints from the environment get the same check as `endpoint` in site.toml: plain http only to loopback
/// unless `allow_http = true`, so signed requests never cross a network unencrypted by accident.
pub fn check_env_endpoints(target: &Target) -> Result<()> {
    let check = |var: &str, v: &str| {
        crate::config::check_endpoint(v, target.store.allow_http).map_err(|why| Error::Usage(format!(
            "{var}={}: {why}; use https, a loopback address, or set `allow_http = true` for target `{}` in site.toml",
            crate::config::redact_userinfo(v),
            target.name
        )))
    };
    match &target.store.backend {
        Backend::Local { .. } => return Ok(()),
        Backend::Cloud {
            cloud: Cloud::Gcs, ..
        } => {
            if let Some(url) = gcp::storage::emulator_url() {
                check(gcp::storage::EMULATOR_VAR, &url)?;
            }
            return Ok(());
        }
        Backend::Cloud {
            cloud: Cloud::AzBlob,
            ..
        } => {
            return match azure::blob::connection_endpoint() {
                Some(Ok(url)) => check(azure::blob::CONNECTION_VAR, &url),
                Some(Err(why)) => Err(Error::Usage(format!(
                    "{why}; fix the variable, or unset it to use AZURE_STORAGE_ACCOUNT and your Azure sign-in"
                ))),
                None => Ok(()),
            };
        }
        Backend::S3 { .. } => {}
    }
    for var in [
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_CLOUDFRONT",
        // `git publish setup`'s certificate and DNS records.
        "AWS_ENDPOINT_URL_ACM",
        "AWS_ENDPOINT_URL_ROUTE_53",
    ] {
        if let Some(v) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
            check(var, &v)?;
        }
    }
    Ok(())
}

/// The same check for the endpoints the SDK resolved, whatever set them (an AWS config profile's
/// `endpoint_url` too): `site.toml`'s `endpoint`, checked when the config was read, overrides S3's.
pub fn check_resolved_endpoints(target: &Target, sdk: &aws_types::SdkConfig) -> Result<()> {
    for (service, url) in aws::resolved_endpoints(sdk) {
        if service == "S3" && target.store.endpoint.is_some() {
            continue;
        }
        crate::config::check_endpoint(&url, target.store.allow_http).map_err(|why| {
            Error::Usage(format!(
                "the {service} endpoint from the environment or AWS profile{} is {}: {why}; use https, a \
                 loopback address, or set `allow_http = true` for target `{}` in site.toml",
                target
                    .store.profile
                    .as_deref()
                    .map(|p| format!(" `{p}`"))
                    .unwrap_or_default(),
                crate::config::redact_userinfo(&url),
                target.name
            ))
        })?;
    }
    Ok(())
}

/// Whether the target's store is Cloudflare R2: its endpoint is R2's (`*.r2.cloudflarestorage.com`), or it has
/// Cloudflare's cache in front (`[targets.NAME.cloudflare]`, which is how R2 serves a site on a domain).
pub fn is_r2(target: &Target) -> bool {
    target.cdn.cloudflare.is_some() || target.store.endpoint.as_deref().is_some_and(is_r2_endpoint)
}

/// Whether `endpoint` is R2's S3 endpoint (`https://<account>.r2.cloudflarestorage.com`, or a jurisdiction's
/// `<account>.eu.r2.cloudflarestorage.com`).
pub fn is_r2_endpoint(endpoint: &str) -> bool {
    let host =
        (url::Url::parse(endpoint).ok()).and_then(|u| u.host_str().map(str::to_ascii_lowercase));
    host.is_some_and(|h| h.ends_with(".r2.cloudflarestorage.com"))
}

/// Build the target's backends. With `with_cdn`, the distributions are resolved through the CloudFront API:
/// `"auto"` is looked up (ListDistributions), and every distribution's origin path is read (GetDistribution).
pub async fn backends(target: &Target, with_cdn: bool, say: &dyn Fn(Notice)) -> Result<Backends> {
    let mut b = unresolved(target).await?;
    if with_cdn {
        if let Some(lookup) = &b.lookup {
            b.cdns = lookup.resolve(say).await?.0;
        }
    }
    Ok(b)
}

/// The target's backends with its distributions not resolved yet: `lookup` resolves them when the caller
/// chooses (a publish asks CloudFront beside its first request to the store, not before it).
pub async fn unresolved(target: &Target) -> Result<Backends> {
    let (bucket, prefix) = match &target.store.backend {
        Backend::Local { root } => {
            let state = match target.store.state.as_ref().map(|l| &l.backend) {
                Some(Backend::Local { root }) => {
                    Some(Box::new(local::LocalStore::new(root)) as Box<dyn ObjectStore>)
                }
                _ => None,
            };
            return Ok(Backends {
                store: Box::new(local::LocalStore::new(root)),
                cdns: Vec::new(),
                state,
                lookup: None,
                origins: Origins::default(),
            });
        }
        Backend::S3 { bucket, prefix } => (bucket, prefix),
        Backend::Cloud {
            cloud,
            bucket,
            prefix,
        } => return cloud_backends(target, *cloud, bucket, prefix),
    };
    let sdk = aws::sdk_config(target).await;
    check_resolved_endpoints(target, &sdk)?;
    let client = aws::s3_client(&sdk, target);
    let state = match target.store.state.as_ref().map(|l| &l.backend) {
        Some(Backend::S3 { bucket, .. }) => Some(Box::new(s3::S3Store::new(
            client.clone(),
            bucket,
            "",
            aws::custom_s3_endpoint(target),
        )) as Box<dyn ObjectStore>),
        _ => None,
    };
    let store = s3::S3Store::new(client, bucket, prefix, aws::custom_s3_endpoint(target));
    // R2 refuses the redirect header: a target behind Cloudflare's cache, or on R2's endpoint, gets HTML pages.
    let store = match is_r2(target) {
        true => store.with_redirect_pages(),
        false => store,
    };
    let with_cdn = !target.cdn.distributions.is_empty();
    let how = match Direct::of(target) {
        Some(direct) => Some(Lookup::Direct(direct)),
        None => with_cdn.then(|| {
            Lookup::CloudFront(CloudFrontClients {
                cf: aws::cloudfront_client(&sdk),
                kvs: aws::kvs_client(&sdk),
            })
        }),
    };
    let lookup = how.map(|how| CdnLookup {
        how,
        target: target.clone(),
        bucket: bucket.clone(),
        prefix: prefix.clone(),
    });
    let origins = Origins {
        store: aws::s3_origin(&sdk, target, bucket).await,
        cdn: match with_cdn {
            true => aws::cloudfront_origin(&sdk).await,
            false => None,
        },
    };
    Ok(Backends {
        store: Box::new(store),
        cdns: Vec::new(),
        state,
        lookup,
        origins,
    })
}
