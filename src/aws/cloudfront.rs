//! [`Cdn`] on CloudFront: CreateInvalidation with a caller-supplied reference (idempotent retries) and
//! GetInvalidation for `--wait`; and the resolution of a target's `distribution` settings into distribution
//! ids and origin paths ([`resolve`]: `"auto"` via ListDistributions, origin paths via GetDistribution).
//!
//! It decides nothing about what to invalidate (that is the planner's job) and prints nothing: what the user
//! should read is handed to the caller as a [`Notice`].

use async_trait::async_trait;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use aws_sdk_cloudfront::Client;

use super::classify;
pub use super::ownership::origin_is_bucket;
use crate::config::{Distribution, Target};
use crate::error::{Error, Result as AppResult};
use crate::exec::{Batch, Cdn, CdnError, EdgeFunction, InvalidationStatus, StoreError};
use crate::plan::invalidate::{Addresses, CdnProfile, Wildcard};
use crate::plan::CdnSettings;

/// What CloudFront accepts in an invalidation: URL-encoded paths, a trailing `*` after any prefix, 3,000 file
/// paths and 15 wildcard paths in progress per distribution (so at most that a request), and 1,000 paths a
/// month free per account.
pub const PROFILE: CdnProfile = CdnProfile {
    wildcard: Wildcard::TrailingStar,
    addresses: Addresses::Paths,
    max_per_request: 3000,
    max_wildcards_per_request: 15,
    max_in_flight: 15,
    free_paths_a_month: Some(1000),
};

/// A CloudFront request's error as the CDN's: too many invalidations in progress is its own; the rest as every
/// AWS request's ([`classify`]).
fn cdn_error_of<E>(
    err: &aws_sdk_cloudfront::error::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
    what: &str,
) -> CdnError
where
    E: aws_sdk_cloudfront::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_cloudfront::error::ProvideErrorMetadata;
    if err.code() == Some("TooManyInvalidationsInProgress") {
        return CdnError::TooManyInProgress;
    }
    classify(err, what, None).into()
}

pub struct CloudFront {
    client: Client,
    /// The KeyValueStore data API, for a managed function whose redirect table is in a store.
    kvs: Option<aws_sdk_cloudfrontkeyvaluestore::Client>,
    distribution: String,
}

impl CloudFront {
    pub fn new(client: Client, distribution: &str) -> Self {
        CloudFront {
            client,
            kvs: None,
            distribution: distribution.to_string(),
        }
    }

    /// With the KeyValueStore data API (`aws::kvs_client`).
    pub fn with_kvs(self, kvs: aws_sdk_cloudfrontkeyvaluestore::Client) -> Self {
        CloudFront {
            kvs: Some(kvs),
            ..self
        }
    }

    fn what(&self) -> String {
        format!("CloudFront distribution {}", self.distribution)
    }
}

/// A distribution as messages name it (and as [`Cdn::describe`] describes it).
pub fn named(id: &str) -> String {
    format!("CloudFront distribution {id}")
}

#[async_trait]
impl Cdn for CloudFront {
    fn describe(&self) -> String {
        named(&self.distribution)
    }

    async fn invalidate(&self, batch: Batch<'_>) -> Result<String, CdnError> {
        let (caller_reference, paths) = (batch.reference, batch.addresses);
        let build_err =
            |e: aws_sdk_cloudfront::error::BuildError| StoreError::failed(e.to_string(), "");
        let batch = InvalidationBatch::builder()
            .caller_reference(caller_reference)
            .paths(
                Paths::builder()
                    .quantity(paths.len() as i32)
                    .set_items(Some(paths.to_vec()))
                    .build()
                    .map_err(build_err)?,
            )
            .build()
            .map_err(build_err)?;
        let out = self
            .client
            .create_invalidation()
            .distribution_id(&self.distribution)
            .invalidation_batch(batch)
            .send()
            .await
            .map_err(|e| cdn_error_of(&e, &self.what()))?;
        Ok(out
            .invalidation()
            .map(|i| i.id().to_string())
            .unwrap_or_default())
    }

    async fn status(&self, id: &str) -> Result<InvalidationStatus, CdnError> {
        let out = self
            .client
            .get_invalidation()
            .distribution_id(&self.distribution)
            .id(id)
            .send()
            .await
            .map_err(|e| cdn_error_of(&e, &self.what()))?;
        let status = out
            .invalidation()
            .map(|i| i.status().to_string())
            .unwrap_or_default();
        Ok(if status.eq_ignore_ascii_case("completed") {
            InvalidationStatus::Completed
        } else {
            InvalidationStatus::InProgress
        })
    }

    fn edge_function(&self) -> Option<&dyn EdgeFunction> {
        Some(self)
    }
}

#[async_trait]
impl EdgeFunction for CloudFront {
    async fn ensure_function(&self, f: &crate::plan::Function) -> Result<bool, CdnError> {
        let kvs = self.kvs.as_ref();
        let done = super::cdn_function::ensure(&self.client, kvs, &self.distribution, f).await?;
        Ok(done.published || done.associated)
    }

    async fn check_function(&self, f: &crate::plan::Function) -> Result<(), CdnError> {
        Ok(super::cdn_function::check(&self.client, &self.distribution, f).await?)
    }
}

/// What git-publish needs to know about a distribution: its id, aliases and origins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistInfo {
    pub id: String,
    pub domain: String,
    pub aliases: Vec<String>,
    /// (origin domain name, origin path without slashes at either end)
    pub origins: Vec<(String, String)>,
    pub enabled: bool,
}

impl DistInfo {
    /// A distribution known by its id alone, with the `origins` assumed for it.
    fn known(id: &str, origins: Vec<(String, String)>) -> DistInfo {
        DistInfo {
            id: id.to_string(),
            domain: String::new(),
            aliases: Vec::new(),
            origins,
            enabled: true,
        }
    }

    /// The origin path of the bucket's origin ("" when none; the first origin's when no origin is the bucket,
    /// e.g. a custom domain in front of the bucket).
    pub fn origin_path(&self, bucket: &str) -> String {
        self.origins
            .iter()
            .find(|(d, _)| origin_is_bucket(d, bucket))
            .or(self.origins.first())
            .map(|(_, p)| p.clone())
            .unwrap_or_default()
    }
}

pub use crate::exec::Notice;

/// A distribution of an S3 target, resolved: what the planner needs to know about it, and the [`Cdn`] to
/// invalidate it with.
pub async fn resolve(
    cf: &Client,
    target: &Target,
    bucket: &str,
    prefix: &str,
    d: &Distribution,
    say: &dyn Fn(Notice),
) -> AppResult<(CdnSettings, CloudFront)> {
    let r = resolve_one(cf, target, bucket, prefix, d, say).await?;
    Ok((r.settings, r.cdn))
}

/// What [`resolve_one`] found.
pub struct Resolution {
    pub settings: CdnSettings,
    pub cdn: CloudFront,
    /// The origin path could not be read and was assumed (the answer is not worth keeping).
    pub assumed: bool,
}

/// Whether resolving `d` asks CloudFront anything (not for an id with `origin_path` set).
pub fn asks(target: &Target, d: &Distribution) -> bool {
    !matches!(d, Distribution::Id(_) if target.cdn.origin_path.is_some())
}

/// [`resolve`], saying whether the origin path was assumed.
pub async fn resolve_one(
    cf: &Client,
    target: &Target,
    bucket: &str,
    prefix: &str,
    d: &Distribution,
    say: &dyn Fn(Notice),
) -> AppResult<Resolution> {
    let mut assumed = false;
    let info = match d {
        // The origin path is given: nothing to ask CloudFront.
        Distribution::Id(id) if target.cdn.origin_path.is_some() => DistInfo::known(id, Vec::new()),
        Distribution::Id(id) => match get(cf, id).await {
            Ok(info) => info,
            Err(e) => {
                // Publishing must not depend on a read permission older setups lack: fall back to the
                // assumption of earlier versions (the origin path is the target's prefix).
                say(Notice::Warn(format!(
                    "could not read distribution {id}'s origin path ({e}); assuming \"/{prefix}\". Set \
                     `origin_path` for the target in site.toml, or allow cloudfront:GetDistribution (`git publish iam-policy`)"
                )));
                assumed = true;
                DistInfo::known(id, vec![(String::new(), prefix.to_string())])
            }
        },
        Distribution::Auto => resolve_auto(cf, target, bucket, d, say).await?,
    };
    let origin_path = match &target.cdn.origin_path {
        Some(p) => p.clone(),
        None => info.origin_path(bucket),
    };
    let settings = CdnSettings {
        id: info.id.clone(),
        origin_path,
        profile: PROFILE,
    };
    warn_unserved(&settings, bucket, prefix, say);
    Ok(Resolution {
        cdn: CloudFront::new(cf.clone(), &info.id),
        settings,
        assumed,
    })
}

/// Say so when the distribution's origin path does not hold the target's files (nothing to invalidate there).
pub fn warn_unserved(d: &CdnSettings, bucket: &str, prefix: &str, say: &dyn Fn(Notice)) {
    if crate::plan::served_path(prefix, &d.origin_path, "x").is_none() {
        say(Notice::Warn(format!(
            "distribution {} serves the origin path /{}, which does not hold s3://{bucket}/{prefix}: \
             nothing will be invalidated there",
            d.id, d.origin_path
        )));
    }
}

/// `distribution = "auto"`: list the distributions and pick the target's one (see [`pick_auto`]).
async fn resolve_auto(
    cf: &Client,
    target: &Target,
    bucket: &str,
    d: &Distribution,
    say: &dyn Fn(Notice),
) -> AppResult<DistInfo> {
    let all = list(cf).await.map_err(|e| cdn_error(d, e))?;
    let one = pick_auto(&all, bucket, target.domain.as_deref())
        .map_err(|message| Error::Cdn {
            cdn: named("auto"),
            message,
            hint: format!(
                "set `distribution = \"E…\"` (or a list of ids) for targets.{} in site.toml, \
                 or `domain = \"…\"` to pick the one with that alias",
                target.name
            ),
        })?
        .clone();
    say(Notice::Note(format!(
        "distribution = \"auto\": {} ({})",
        one.id,
        if one.aliases.is_empty() {
            one.domain.clone()
        } else {
            one.aliases.join(", ")
        }
    )));
    Ok(one)
}

/// A failed CloudFront read while resolving `d`, with the hint of the SDK error or the permissions to check.
fn cdn_error(d: &Distribution, e: StoreError) -> Error {
    let hint = match &e {
        StoreError::Failed { hint, .. } if !hint.is_empty() => hint.clone(),
        _ => "check `distribution` for the target in site.toml and the credentials' \
              cloudfront:GetDistribution / ListDistributions permissions \
              (`git publish iam-policy` prints them)"
            .into(),
    };
    Error::Cdn {
        cdn: named(d.describe()),
        message: e.to_string(),
        hint,
    }
}

/// `distribution = "auto"`: the distributions whose alias is `domain` (when given), else whose origin is the
/// bucket. Exactly one must match; otherwise the error lists the candidates.
pub fn pick_auto<'a>(
    all: &'a [DistInfo],
    bucket: &str,
    domain: Option<&str>,
) -> Result<&'a DistInfo, String> {
    let found: Vec<&DistInfo> = match domain {
        Some(d) => all
            .iter()
            .filter(|i| i.aliases.iter().any(|a| a.eq_ignore_ascii_case(d)))
            .collect(),
        None => all
            .iter()
            .filter(|i| i.origins.iter().any(|(o, _)| origin_is_bucket(o, bucket)))
            .collect(),
    };
    let what = match domain {
        Some(d) => format!("with the alias {d}"),
        None => format!("with the bucket {bucket} as origin"),
    };
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "no distribution {what} ({} in the account)",
            all.len()
        )),
        many => Err(format!(
            "{} distributions {what}: {}",
            many.len(),
            many.iter()
                .map(|i| {
                    let names = if i.aliases.is_empty() {
                        i.domain.clone()
                    } else {
                        i.aliases.join(", ")
                    };
                    format!("{} ({names})", i.id)
                })
                .collect::<Vec<_>>()
                .join("; ")
        )),
    }
}

fn origins_of(o: Option<&aws_sdk_cloudfront::types::Origins>) -> Vec<(String, String)> {
    o.map(|o| o.items())
        .unwrap_or_default()
        .iter()
        .map(|o| {
            (
                o.domain_name().to_string(),
                o.origin_path()
                    .unwrap_or_default()
                    .trim_matches('/')
                    .to_string(),
            )
        })
        .collect()
}

/// Every distribution of the account (ListDistributions, all pages).
pub async fn list(client: &Client) -> Result<Vec<DistInfo>, StoreError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .list_distributions()
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| classify(&e, "CloudFront ListDistributions", None))?;
        let Some(list) = page.distribution_list() else {
            break;
        };
        for d in list.items() {
            out.push(DistInfo {
                id: d.id().to_string(),
                domain: d.domain_name().to_string(),
                aliases: d.aliases().map(|a| a.items().to_vec()).unwrap_or_default(),
                origins: origins_of(d.origins()),
                enabled: d.enabled(),
            });
        }
        match list.next_marker() {
            Some(m) if list.is_truncated() && !m.is_empty() => marker = Some(m.to_string()),
            _ => break,
        }
    }
    // Some implementations (moto) leave origins and aliases out of the summaries: ask for those one by one.
    for d in out.iter_mut().filter(|d| d.origins.is_empty()) {
        *d = get(client, &d.id).await?;
    }
    Ok(out)
}

/// One distribution (GetDistribution): its origins and their origin paths.
pub async fn get(client: &Client, id: &str) -> Result<DistInfo, StoreError> {
    let out = client
        .get_distribution()
        .id(id)
        .send()
        .await
        .map_err(|e| classify(&e, &format!("CloudFront distribution {id}"), None))?;
    let d = out
        .distribution()
        .ok_or_else(|| StoreError::failed(format!("distribution {id}: empty answer"), ""))?;
    let config = d.distribution_config();
    Ok(DistInfo {
        id: d.id().to_string(),
        domain: d.domain_name().to_string(),
        aliases: config
            .and_then(|c| c.aliases())
            .map(|a| a.items().to_vec())
            .unwrap_or_default(),
        origins: origins_of(config.and_then(|c| c.origins())),
        enabled: config.map(|c| c.enabled()).unwrap_or(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_that_are_the_bucket() {
        let table = [
            ("blog.s3.amazonaws.com", true),
            ("blog.s3.eu-west-1.amazonaws.com", true),
            ("blog.s3-website-us-east-1.amazonaws.com", true),
            ("blog.s3-website.eu-central-1.amazonaws.com", true),
            ("BLOG.S3.AMAZONAWS.COM", true),
            ("blog.s3.cn-north-1.amazonaws.com.cn", true),
            ("blog2.s3.amazonaws.com", false),
            ("my-blog.s3.amazonaws.com", false),
            ("blog.example.com", false),
            ("blog.s3.amazonaws.com.evil.org", false),
        ];
        for (domain, want) in table {
            assert_eq!(origin_is_bucket(domain, "blog"), want, "{domain}");
        }
    }

    fn info(id: &str, aliases: &[&str], origin: &str, path: &str) -> DistInfo {
        DistInfo {
            id: id.into(),
            domain: format!("{}.cloudfront.net", id.to_lowercase()),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            origins: vec![(origin.into(), path.into())],
            enabled: true,
        }
    }

    #[test]
    fn auto_picks_one_or_lists_candidates() {
        let all = [
            info("E1", &["blog.example.com"], "blog.s3.amazonaws.com", ""),
            info("E2", &["www.example.com"], "www.s3.amazonaws.com", "site"),
            info("E3", &["old.example.com"], "blog.s3.amazonaws.com", "v1"),
        ];
        assert_eq!(pick_auto(&all, "www", None).unwrap().id, "E2");
        assert_eq!(
            pick_auto(&all, "www", None).unwrap().origin_path("www"),
            "site"
        );
        assert_eq!(
            pick_auto(&all, "blog", Some("old.example.com")).unwrap().id,
            "E3"
        );
        let e = pick_auto(&all, "blog", None).unwrap_err();
        assert!(
            e.contains("E1 (blog.example.com)") && e.contains("E3 (old.example.com)"),
            "{e}"
        );
        let e = pick_auto(&all, "nothing", None).unwrap_err();
        assert!(e.contains("no distribution with the bucket nothing"), "{e}");
    }
}
