//! Builds the backends of one target from its settings: the object store (S3 or a local directory) and, on
//! request, one CDN per distribution (resolved through [`super::cloudfront::resolve`]).
//!
//! It owns the choice of implementation and the environment-endpoint check; it decides nothing about what
//! to publish and prints nothing (notices go to the caller's `say`).

use crate::config::{Backend, Target};
use crate::error::{Error, Result};
use crate::plan::CdnSettings;

use super::cloudfront::{self, Notice};
use super::{aws, local, s3, Cdn, ObjectStore};

/// The backends of one target.
pub struct Backends {
    pub store: Box<dyn ObjectStore>,
    /// Each distribution to invalidate, with its origin path (resolved only when asked for).
    pub cdns: Vec<(CdnSettings, Box<dyn Cdn>)>,
    /// The store of the deploy record when the target sets `state` (another bucket, same client), else None:
    /// the record is in `store`. See [`Backends::state_store`].
    pub state: Option<Box<dyn ObjectStore>>,
}

impl Backends {
    /// Where the deploy record is read and written.
    pub fn state_store(&self) -> &dyn ObjectStore {
        self.state.as_deref().unwrap_or(self.store.as_ref())
    }
}

/// Endpoints from the environment get the same check as `endpoint` in site.toml: plain http only to loopback
/// unless `allow_http = true`, so signed requests never cross a network unencrypted by accident.
pub fn check_env_endpoints(target: &Target) -> Result<()> {
    if matches!(target.backend, Backend::Local { .. }) {
        return Ok(());
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
            crate::config::check_endpoint(&v, target.allow_http).map_err(|why| Error::Usage(format!(
                "{var}={}: {why}; use https, a loopback address, or set `allow_http = true` for target `{}` in site.toml",
                crate::config::redact_userinfo(&v),
                target.name
            )))?;
        }
    }
    Ok(())
}

/// The same check for the endpoints the SDK resolved, whatever set them (an AWS config profile's
/// `endpoint_url` too): `site.toml`'s `endpoint`, checked when the config was read, overrides S3's.
pub fn check_resolved_endpoints(target: &Target, sdk: &aws_types::SdkConfig) -> Result<()> {
    for (service, url) in aws::resolved_endpoints(sdk) {
        if service == "S3" && target.endpoint.is_some() {
            continue;
        }
        crate::config::check_endpoint(&url, target.allow_http).map_err(|why| {
            Error::Usage(format!(
                "the {service} endpoint from the environment or AWS profile{} is {}: {why}; use https, a \
                 loopback address, or set `allow_http = true` for target `{}` in site.toml",
                target
                    .profile
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

/// Build the target's backends. With `with_cdn`, the distributions are resolved through the CloudFront API:
/// `"auto"` is looked up (ListDistributions), and every distribution's origin path is read (GetDistribution).
pub async fn backends(target: &Target, with_cdn: bool, say: &dyn Fn(Notice)) -> Result<Backends> {
    let (bucket, prefix) = match &target.backend {
        Backend::Local { root } => {
            let state = match target.state.as_ref().map(|l| &l.backend) {
                Some(Backend::Local { root }) => {
                    Some(Box::new(local::LocalStore::new(root)) as Box<dyn ObjectStore>)
                }
                _ => None,
            };
            return Ok(Backends {
                store: Box::new(local::LocalStore::new(root)),
                cdns: Vec::new(),
                state,
            });
        }
        Backend::S3 { bucket, prefix } => (bucket, prefix),
    };
    let sdk = aws::sdk_config(target).await;
    check_resolved_endpoints(target, &sdk)?;
    let client = aws::s3_client(&sdk, target);
    let state = match target.state.as_ref().map(|l| &l.backend) {
        Some(Backend::S3 { bucket, .. }) => Some(Box::new(s3::S3Store::new(
            client.clone(),
            bucket,
            "",
            aws::custom_s3_endpoint(target),
        )) as Box<dyn ObjectStore>),
        _ => None,
    };
    let store = s3::S3Store::new(client, bucket, prefix, aws::custom_s3_endpoint(target));
    let mut cdns: Vec<(CdnSettings, Box<dyn Cdn>)> = Vec::new();
    if with_cdn && !target.distributions.is_empty() {
        let cf = aws::cloudfront_client(&sdk);
        let kvs = aws::kvs_client(&sdk);
        for d in &target.distributions {
            let (settings, cdn) = cloudfront::resolve(&cf, target, bucket, prefix, d, say).await?;
            cdns.push((settings, Box::new(cdn.with_kvs(kvs.clone()))));
        }
    }
    Ok(Backends {
        store: Box::new(store),
        cdns,
        state,
    })
}
