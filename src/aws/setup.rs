//! `git publish setup`, the AWS side: read what exists into a [`Seen`] ([`observe`]), and carry out the
//! [`Step`]s `setup::plan` chose ([`apply`]), each with the SDK calls it takes: S3 (bucket, Block Public Access,
//! ownership, encryption, tags, policy), CloudFront (origin access control, function, distribution, tags;
//! updates with the ETag read: If-Match), ACM (the certificate, in us-east-1: `acm.rs`) and Route 53
//! (`--route53`: `dns.rs`).
//!
//! Decides nothing: which steps, and the settings and policy they write, come from `crate::setup`.

mod acm;
mod dns;

use aws_config::{Region, SdkConfig};
use aws_sdk_cloudfront::types as cf;
use aws_sdk_s3::types as s3t;
use serde_json::Value;

use super::classify;
use crate::exec::StoreError;

use crate::identity::{Site, TagOwner};
use crate::setup::{
    BucketOwner, BucketSeen, ConfigSeen, DistOwner, DistSeen, DistSettings, ErrorResponse,
    FunctionSeen, PageSeen, Seen, Step, Wants, TAG_KEY,
};

/// The clients setup uses.
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub cloudfront: aws_sdk_cloudfront::Client,
    pub acm: aws_sdk_acm::Client,
    pub route53: aws_sdk_route53::Client,
}

impl Clients {
    pub fn new(sdk: &SdkConfig, s3: aws_sdk_s3::Client) -> Clients {
        // ACM certificates for CloudFront live in us-east-1; CloudFront and Route 53 are global.
        let acm = aws_sdk_acm::config::Builder::from(sdk)
            .region(Region::from_static("us-east-1"))
            .build();
        let route53 = aws_sdk_route53::config::Builder::from(sdk)
            .region(Region::from_static("us-east-1"))
            .build();
        Clients {
            s3,
            cloudfront: super::cloudfront_client(sdk),
            acm: aws_sdk_acm::Client::from_conf(acm),
            route53: aws_sdk_route53::Client::from_conf(route53),
        }
    }
}

fn build_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::failed(e.to_string(), "")
}

fn status<E, R>(e: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Option<u16>
where
    R: HasStatus,
{
    e.raw_response().map(HasStatus::status_code)
}

trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_smithy_runtime_api::client::orchestrator::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

fn code<E: aws_sdk_s3::error::ProvideErrorMetadata>(
    e: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> String {
    e.as_service_error()
        .and_then(|s| s.code())
        .unwrap_or_default()
        .to_string()
}

// ---- observe ------------------------------------------------------------------------------------------------

/// What exists for `w`. `distribution_ids`: the target's `distribution` ids in site.toml (the first is the one
/// setup looks at); without one, the distribution whose origin is the bucket, tagged for this target first.
/// `bucket`: what [`observe_bucket`] read (the caller needs it first, to know whether a record can exist).
pub async fn observe(
    c: &Clients,
    w: &Wants,
    bucket: Option<BucketSeen>,
    config: ConfigSeen,
    function_code: &str,
) -> Result<Seen, StoreError> {
    let (distribution, foreign) = distribution(c, w, &config.distributions).await?;
    let hosts = w.hosts();
    let current = distribution.as_ref().map(|d| &d.settings);
    let (certificate, serving_certificate) = if hosts.is_empty() {
        (None, None)
    } else {
        let aliases = current.map(|s| s.aliases.clone()).unwrap_or_default();
        let names = crate::setup::wanted_aliases(w, &aliases);
        let arn = current.map(|s| s.certificate.as_str()).unwrap_or_default();
        acm::find(c, w, &names, arn).await?
    };
    let dns = match w.route53 && !hosts.is_empty() {
        true => Some(dns::observe(c, &hosts, certificate.as_ref(), distribution.as_ref()).await?),
        false => None,
    };
    let not_found_page = match &bucket {
        Some(_) => not_found_page(c, w).await?,
        None => PageSeen::Absent,
    };
    Ok(Seen {
        bucket,
        oac: oac(c, &w.oac_name).await?,
        function: function(c, &w.site, function_code).await?,
        distribution,
        certificate,
        serving_certificate,
        not_found_page,
        config,
        dns,
        foreign,
    })
}

/// Whether the site has its `404.html`: a HeadObject of the key under the site's prefix, the object
/// CloudFront would fetch. 403 is not an answer (without s3:ListBucket, S3 answers a missing key with 403).
async fn not_found_page(c: &Clients, w: &Wants) -> Result<PageSeen, StoreError> {
    let (b, key) = (&w.site.bucket, w.not_found_key());
    match c.s3.head_object().bucket(b).key(&key).send().await {
        Ok(_) => Ok(PageSeen::Present),
        Err(e) if status(&e) == Some(404) => Ok(PageSeen::Absent),
        Err(e) if status(&e) == Some(403) => Ok(PageSeen::Unknown(format!(
            "HeadObject s3://{b}/{key} answered 403"
        ))),
        Err(e) => Err(classify(&e, &format!("s3://{b}/{key}"), None)),
    }
}

/// The bucket and its settings; None when there is no such bucket.
pub async fn observe_bucket(c: &Clients, w: &Wants) -> Result<Option<BucketSeen>, StoreError> {
    let b = &w.site.bucket;
    let what = format!("s3://{b}");
    match c.s3.head_bucket().bucket(b).send().await {
        Ok(_) => {}
        Err(e) if status(&e) == Some(404) => return Ok(None),
        Err(e) if status(&e) == Some(403) => {
            return Err(StoreError::failed(
                format!("bucket {b} exists but these credentials can't read it (403): another account may own it"),
                "bucket names are global: pick another name in the target's url, or use the credentials of the \
                 account that owns it",
            ))
        }
        Err(e) => return Err(classify(&e, &what, None)),
    }
    let tags = match c.s3.get_bucket_tagging().bucket(b).send().await {
        Ok(t) => (t.tag_set().iter())
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
        Err(e) if code(&e) == "NoSuchTagSet" || status(&e) == Some(404) => Vec::new(),
        Err(e) => return Err(classify(&e, &what, None)),
    };
    let blocks_public = match c.s3.get_public_access_block().bucket(b).send().await {
        Ok(o) => o.public_access_block_configuration().is_some_and(|p| {
            p.block_public_acls() == Some(true)
                && p.ignore_public_acls() == Some(true)
                && p.block_public_policy() == Some(true)
                && p.restrict_public_buckets() == Some(true)
        }),
        Err(e) if status(&e) == Some(404) => false,
        Err(e) => return Err(classify(&e, &what, None)),
    };
    let owner_enforced = match c.s3.get_bucket_ownership_controls().bucket(b).send().await {
        Ok(o) => o.ownership_controls().is_some_and(|oc| {
            (oc.rules().iter())
                .any(|r| r.object_ownership() == &s3t::ObjectOwnership::BucketOwnerEnforced)
        }),
        Err(e) if status(&e) == Some(404) => false,
        Err(e) => return Err(classify(&e, &what, None)),
    };
    let encrypted = match c.s3.get_bucket_encryption().bucket(b).send().await {
        Ok(o) => o
            .server_side_encryption_configuration()
            .is_some_and(|s| !s.rules().is_empty()),
        Err(e) if status(&e) == Some(404) => false,
        Err(e) => return Err(classify(&e, &what, None)),
    };
    let policy = policy(c, b).await?;
    Ok(Some(BucketSeen {
        owner: bucket_owner(&w.site, &tags),
        tags,
        blocks_public,
        owner_enforced,
        encrypted,
        policy,
    }))
}

/// Who the bucket was made for: this site (its own tag key, or the tag of older versions naming the target),
/// another site (another `git-publish:site…` tag), or nobody setup knows.
fn bucket_owner(site: &Site, tags: &[(String, String)]) -> BucketOwner {
    let key = site.bucket_tag_key();
    if (tags.iter()).any(|(k, v)| k == &key || (k == TAG_KEY && v == &site.target)) {
        BucketOwner::This
    } else if tags.iter().any(|(k, _)| k.starts_with(TAG_KEY)) {
        BucketOwner::OtherSite
    } else {
        BucketOwner::None
    }
}

async fn policy(c: &Clients, bucket: &str) -> Result<Option<Value>, StoreError> {
    match c.s3.get_bucket_policy().bucket(bucket).send().await {
        Ok(p) => {
            let text = p.policy().unwrap_or("{}");
            serde_json::from_str(text).map(Some).map_err(|e| {
                StoreError::failed(
                    format!("the bucket policy of {bucket} is not JSON: {e}"),
                    "",
                )
            })
        }
        Err(e) if status(&e) == Some(404) => Ok(None),
        Err(e) => Err(classify(
            &e,
            &format!("the bucket policy of {bucket}"),
            None,
        )),
    }
}

async fn oac(c: &Clients, name: &str) -> Result<Option<String>, StoreError> {
    let mut marker: Option<String> = None;
    loop {
        let page = (c.cloudfront.list_origin_access_controls())
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| classify(&e, "the origin access controls", None))?;
        let Some(list) = page.origin_access_control_list() else {
            return Ok(None);
        };
        if let Some(found) = list.items().iter().find(|o| o.name() == name) {
            return Ok(Some(found.id().to_string()));
        }
        match list.next_marker() {
            Some(m) if list.is_truncated() && !m.is_empty() => marker = Some(m.to_string()),
            _ => return Ok(None),
        }
    }
}

async fn function(c: &Clients, site: &Site, code: &str) -> Result<FunctionSeen, StoreError> {
    let name = &site.function_name();
    let what = format!("CloudFront function {name}");
    let live = (c.cloudfront.get_function().name(name))
        .stage(cf::FunctionStage::Live)
        .send()
        .await;
    let same = match live {
        Ok(out) => out.function_code().map(|b| b.as_ref()) == Some(code.as_bytes()),
        Err(e) if status(&e) == Some(404) => {
            let dev = (c.cloudfront.describe_function().name(name)).send().await;
            return match dev {
                Ok(d) => {
                    let comment = (d.function_summary().and_then(|f| f.function_config()))
                        .map(|c| c.comment().to_string())
                        .unwrap_or_default();
                    Ok(if site.owns_comment(&comment) {
                        // Created but never published: publishing it is an update.
                        FunctionSeen::Differs { arn: String::new() }
                    } else {
                        FunctionSeen::Foreign { comment }
                    })
                }
                Err(e) if status(&e) == Some(404) => Ok(FunctionSeen::Missing),
                Err(e) => Err(classify(&e, &what, None)),
            };
        }
        Err(e) => return Err(classify(&e, &what, None)),
    };
    let live = super::cdn_function::describe_live(&c.cloudfront, name)
        .await?
        .ok_or_else(|| StoreError::failed(format!("{what}: no live stage"), ""))?;
    Ok(if !site.owns_comment(&live.comment) {
        FunctionSeen::Foreign {
            comment: live.comment,
        }
    } else if same {
        FunctionSeen::Live { arn: live.arn }
    } else {
        FunctionSeen::Differs { arn: live.arn }
    })
}

async fn live_arn(c: &Clients, name: &str) -> Result<String, StoreError> {
    match super::cdn_function::describe_live(&c.cloudfront, name).await? {
        Some(live) => Ok(live.arn),
        None => Err(StoreError::failed(
            format!("CloudFront function {name}: no live stage after publishing"),
            "",
        )),
    }
}

/// The distribution setup looks at, and the distributions of other sites that serve this bucket and prefix
/// (reported, never changed). With an id in site.toml, that one. Without: among the distributions whose
/// default origin is the bucket with this site's origin path, the one tagged for this site, else the only
/// untagged one (which setup leaves alone without `--adopt`); one tagged for another site is never taken.
async fn distribution(
    c: &Clients,
    w: &Wants,
    ids: &[String],
) -> Result<(Option<DistSeen>, Vec<String>), StoreError> {
    if let Some(id) = ids.first() {
        return Ok((Some(read_distribution(c, w, id).await?), Vec::new()));
    }
    let mut candidates = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = (c.cloudfront.list_distributions())
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| classify(&e, "the CloudFront distributions", None))?;
        let Some(list) = page.distribution_list() else {
            break;
        };
        for d in list.items() {
            let serves = (d.origins().map(|o| o.items()).unwrap_or_default().iter())
                .any(|o| serves_site(o.domain_name(), o.origin_path(), &w.site));
            if serves {
                candidates.push((d.id().to_string(), d.arn().to_string()));
            }
        }
        match list.next_marker() {
            Some(m) if list.is_truncated() && !m.is_empty() => marker = Some(m.to_string()),
            _ => break,
        }
    }
    let mut untagged = Vec::new();
    let mut foreign = Vec::new();
    for (id, arn) in &candidates {
        match tag_of(c, arn).await?.map(|v| (w.site.tag_owner(&v), v)) {
            Some((TagOwner::This | TagOwner::LegacyName, _)) => {
                return Ok((Some(read_distribution(c, w, id).await?), foreign));
            }
            Some((TagOwner::Other(_), v)) => foreign.push(format!("{id} ({TAG_KEY} = {v:?})")),
            None => untagged.push(id.clone()),
        }
    }
    match untagged.as_slice() {
        [] => Ok((None, foreign)),
        [id] => Ok((Some(read_distribution(c, w, id).await?), foreign)),
        many => Err(StoreError::failed(
            format!(
                "{} distributions serve {}: {}",
                many.len(),
                w.site.location(),
                many.join(", ")
            ),
            "name the one to set up with `distribution = \"E…\"` for the target in site.toml",
        )),
    }
}

/// Whether an origin is the site's bucket with the site's prefix as its origin path.
fn serves_site(domain: &str, origin_path: Option<&str>, site: &Site) -> bool {
    super::cloudfront::origin_is_bucket(domain, &site.bucket)
        && origin_path.unwrap_or_default().trim_matches('/') == site.prefix
}

/// The value of the `git-publish:site` tag of a resource.
async fn tag_of(c: &Clients, arn: &str) -> Result<Option<String>, StoreError> {
    let tags = (c.cloudfront.list_tags_for_resource().resource(arn))
        .send()
        .await
        .map_err(|e| classify(&e, arn, None))?;
    Ok((tags.tags().map(|t| t.items()).unwrap_or_default().iter())
        .find(|t| t.key() == TAG_KEY)
        .map(|t| t.value().unwrap_or_default().to_string()))
}

async fn read_distribution(c: &Clients, w: &Wants, id: &str) -> Result<DistSeen, StoreError> {
    let what = format!("CloudFront distribution {id}");
    let got = (c.cloudfront.get_distribution().id(id))
        .send()
        .await
        .map_err(|e| classify(&e, &what, None))?;
    let etag = got.e_tag().unwrap_or_default().to_string();
    let d = got
        .distribution()
        .ok_or_else(|| StoreError::failed(format!("{what}: empty answer"), ""))?;
    let config = d
        .distribution_config()
        .ok_or_else(|| StoreError::failed(format!("{what}: no config"), ""))?;
    let settings = settings_of(config);
    let serves = (config
        .origins()
        .map(|o| o.items())
        .unwrap_or_default()
        .iter())
    .any(|o| serves_site(o.domain_name(), o.origin_path(), &w.site));
    let owner = match tag_of(c, d.arn()).await?.map(|v| w.site.tag_owner(&v)) {
        Some(TagOwner::This) => DistOwner::This,
        Some(TagOwner::LegacyName) if serves => DistOwner::LegacyName,
        Some(TagOwner::LegacyName) => DistOwner::Other(w.site.target.clone()),
        Some(TagOwner::Other(v)) => DistOwner::Other(v),
        None => DistOwner::None,
    };
    Ok(DistSeen {
        id: id.to_string(),
        arn: d.arn().to_string(),
        domain_name: d.domain_name().to_string(),
        owner,
        etag,
        settings,
    })
}

/// The settings setup compares, from a distribution's config (the origin its default cache behaviour reads).
pub fn settings_of(config: &cf::DistributionConfig) -> DistSettings {
    let behaviour = config.default_cache_behavior();
    let target_origin = behaviour.map(|b| b.target_origin_id()).unwrap_or_default();
    let origins = config.origins().map(|o| o.items()).unwrap_or_default();
    let origin = (origins.iter())
        .find(|o| o.id() == target_origin)
        .or(origins.first());
    let viewer_function = (behaviour.and_then(|b| b.function_associations()))
        .map(|f| f.items())
        .unwrap_or_default()
        .iter()
        .find(|a| *a.event_type() == cf::EventType::ViewerRequest)
        .map(|a| a.function_arn().to_string())
        .unwrap_or_default();
    let cert = config.viewer_certificate();
    DistSettings {
        origin_domain: origin
            .map(|o| o.domain_name().to_string())
            .unwrap_or_default(),
        origin_path: origin
            .and_then(|o| o.origin_path())
            .unwrap_or_default()
            .to_string(),
        oac: origin
            .and_then(|o| o.origin_access_control_id())
            .unwrap_or_default()
            .to_string(),
        legacy_oai: (origin.and_then(|o| o.s3_origin_config()))
            .is_some_and(|s| !s.origin_access_identity().is_empty()),
        custom_origin: origin.is_some_and(|o| o.custom_origin_config().is_some()),
        default_root: config.default_root_object().unwrap_or_default().to_string(),
        viewer_protocol: (behaviour.map(|b| b.viewer_protocol_policy().as_str()))
            .unwrap_or_default()
            .to_string(),
        compress: behaviour.and_then(|b| b.compress()).unwrap_or(false),
        cache_policy: (behaviour.and_then(|b| b.cache_policy_id()))
            .unwrap_or_default()
            .to_string(),
        viewer_function,
        http_version: (config.http_version().map(|h| h.as_str()))
            .unwrap_or_default()
            .to_string(),
        ipv6: config.is_ipv6_enabled().unwrap_or(false),
        price_class: (config.price_class().map(|p| p.as_str()))
            .unwrap_or_default()
            .to_string(),
        aliases: config
            .aliases()
            .map(|a| a.items().to_vec())
            .unwrap_or_default(),
        certificate: (cert.and_then(|c| c.acm_certificate_arn()))
            .unwrap_or_default()
            .to_string(),
        enabled: config.enabled(),
        error_responses: (config.custom_error_responses().map(|e| e.items()))
            .unwrap_or_default()
            .iter()
            .map(|e| ErrorResponse {
                code: e.error_code(),
                page: e.response_page_path().unwrap_or_default().to_string(),
                response_code: e.response_code().unwrap_or_default().to_string(),
                min_ttl: e.error_caching_min_ttl(),
            })
            .collect(),
    }
}

/// CloudFront's custom error responses for `list` (every field, in order).
fn error_responses(list: &[ErrorResponse]) -> Result<cf::CustomErrorResponses, StoreError> {
    let mut items = Vec::new();
    for e in list {
        items.push(
            cf::CustomErrorResponse::builder()
                .error_code(e.code)
                .set_response_page_path((!e.page.is_empty()).then(|| e.page.clone()))
                .set_response_code((!e.response_code.is_empty()).then(|| e.response_code.clone()))
                .set_error_caching_min_ttl(e.min_ttl)
                .build()
                .map_err(build_err)?,
        );
    }
    cf::CustomErrorResponses::builder()
        .quantity(items.len() as i32)
        .set_items((!items.is_empty()).then_some(items))
        .build()
        .map_err(build_err)
}

// ---- apply -----------------------------------------------------------------------------------------------------

/// What [`apply`] made or found, for the steps after it and the report.
#[derive(Debug, Clone, Default)]
pub struct Made {
    pub oac: Option<String>,
    pub function_arn: Option<String>,
    pub distribution: Option<DistSeen>,
    pub certificate: Option<crate::setup::CertSeen>,
    /// The plan lines of the steps done, in order.
    pub done: Vec<String>,
}

/// What the steps need besides the plan: the function's code, the bucket policy for a distribution ARN, and
/// `--adopt` (the distribution's settings are recomputed with what was made).
pub struct Inputs<'a> {
    pub function_code: &'a str,
    pub policy_for: &'a dyn Fn(&str) -> Value,
    pub adopt: bool,
}

/// Carry out `steps` in order (a step that finds nothing to do yet, like aliases waiting for the
/// certificate, is left out of [`Made::done`]). Stops at the first failure, returning what was done so far with the error:
/// every step is idempotent against [`observe`], so the next run completes the rest.
pub async fn apply(
    c: &Clients,
    w: &Wants,
    seen: &Seen,
    steps: &[Step],
    inputs: &Inputs<'_>,
) -> (Made, Option<StoreError>) {
    let mut made = Made {
        oac: seen.oac.clone(),
        function_arn: match &seen.function {
            FunctionSeen::Live { arn } | FunctionSeen::Differs { arn } if !arn.is_empty() => {
                Some(arn.clone())
            }
            _ => None,
        },
        distribution: seen.distribution.clone(),
        certificate: seen.certificate.clone(),
        done: Vec::new(),
    };
    for step in steps {
        if matches!(step, Step::WriteConfig { .. }) {
            continue; // site.toml is the command's to write
        }
        match apply_one(c, w, seen, step, inputs, &mut made).await {
            Ok(true) => made.done.push(step.describe()),
            Ok(false) => {}
            Err(e) => return (made, Some(e)),
        }
    }
    (made, None)
}

async fn apply_one(
    c: &Clients,
    w: &Wants,
    seen: &Seen,
    step: &Step,
    inputs: &Inputs<'_>,
    made: &mut Made,
) -> Result<bool, StoreError> {
    match step {
        Step::DnsValidation { replace, .. } => {
            let records = made
                .certificate
                .as_ref()
                .map(|c| c.validation.clone())
                .unwrap_or_default();
            // Each record goes to the zone that holds its name.
            dns::validation(c, &records, *replace).await?;
            return Ok(!records.is_empty());
        }
        Step::DnsAlias {
            zone,
            domain,
            replace,
        } => {
            let Some(d) = made
                .distribution
                .as_ref()
                .filter(|d| d.settings.aliases.contains(domain))
            else {
                return Ok(false);
            };
            dns::alias(c, zone, domain, &d.domain_name, *replace).await?;
            return Ok(true);
        }
        _ => {}
    }
    apply_resource(c, w, seen, step, inputs, made).await
}

async fn apply_resource(
    c: &Clients,
    w: &Wants,
    seen: &Seen,
    step: &Step,
    inputs: &Inputs<'_>,
    made: &mut Made,
) -> Result<bool, StoreError> {
    match step {
        Step::CreateBucket { bucket, region } => {
            create_bucket(c, bucket, region).await?;
            secure_bucket(c, bucket, true, true, true).await?;
            tag_bucket(c, w, &[]).await?;
        }
        Step::SecureBucket {
            bucket,
            block_public,
            owner_enforced,
            encryption,
        } => secure_bucket(c, bucket, *block_public, *owner_enforced, *encryption).await?,
        Step::TagBucket { .. } => {
            let tags = seen
                .bucket
                .as_ref()
                .map(|b| b.tags.clone())
                .unwrap_or_default();
            tag_bucket(c, w, &tags).await?;
        }
        Step::CreateOac { name } => {
            made.oac = Some(create_oac(c, w, name).await?);
        }
        Step::PublishFunction { name, adopt, .. } => {
            let code = inputs.function_code;
            super::cdn_function::publish_as(&c.cloudfront, &w.site, code, None, *adopt).await?;
            made.function_arn = Some(live_arn(c, name).await?);
        }
        Step::RequestCertificate {
            domain, alt_names, ..
        } => {
            let names: Vec<String> = std::iter::once(domain.clone())
                .chain(alt_names.iter().cloned())
                .collect();
            made.certificate = Some(acm::request(c, w, &names).await?);
        }
        Step::CreateDistribution { .. } => {
            let settings = final_settings(w, made, &seen.not_found_page, None, inputs.adopt);
            made.distribution = Some(create_distribution(c, w, &settings).await?);
        }
        Step::UpdateDistribution { id, .. } => {
            let current = made.distribution.as_ref().map(|d| d.settings.clone());
            let settings = final_settings(
                w,
                made,
                &seen.not_found_page,
                current.as_ref(),
                inputs.adopt,
            );
            let etag = (seen.distribution.as_ref())
                .map(|d| d.etag.as_str())
                .unwrap_or_default();
            let changed = update_distribution(c, w, id, etag, &settings).await?;
            if let Some(d) = made.distribution.as_mut() {
                d.settings = settings;
            }
            return Ok(changed);
        }
        Step::TagDistribution { .. } => {
            let d = made
                .distribution
                .as_ref()
                .expect("the plan tags a distribution that exists");
            tag_distribution(c, &d.arn, &w.site.tag_value()).await?;
        }
        Step::PutBucketPolicy { bucket, .. } => {
            let d = (made.distribution.as_ref()).ok_or_else(|| {
                StoreError::failed("no distribution to name in the bucket policy", "")
            })?;
            // Read it again: merge with what is there now, not with what was there when setup started.
            let current = policy(c, bucket).await?;
            let merged =
                crate::setup::policy::merge(current.as_ref(), &(inputs.policy_for)(&d.arn));
            (c.s3.put_bucket_policy().bucket(bucket))
                .policy(merged.to_string())
                .send()
                .await
                .map_err(|e| classify(&e, &format!("the bucket policy of {bucket}"), None))?;
        }
        Step::WriteConfig { .. } | Step::DnsValidation { .. } | Step::DnsAlias { .. } => {
            return Ok(false)
        }
    }
    Ok(true)
}

/// The distribution's settings with the ids made so far.
fn final_settings(
    w: &Wants,
    made: &Made,
    page: &PageSeen,
    current: Option<&DistSettings>,
    adopt: bool,
) -> DistSettings {
    crate::setup::desired(
        w,
        current,
        made.oac.as_deref().unwrap_or_default(),
        made.function_arn.as_deref().unwrap_or_default(),
        made.certificate.as_ref(),
        page,
        adopt,
    )
}

async fn create_bucket(c: &Clients, bucket: &str, region: &str) -> Result<(), StoreError> {
    let mut req = c.s3.create_bucket().bucket(bucket);
    if region != "us-east-1" {
        req = req.create_bucket_configuration(
            s3t::CreateBucketConfiguration::builder()
                .location_constraint(s3t::BucketLocationConstraint::from(region))
                .build(),
        );
    }
    match req.send().await {
        Ok(_) => Ok(()),
        Err(e) if code(&e) == "BucketAlreadyOwnedByYou" => Ok(()),
        Err(e) if code(&e) == "BucketAlreadyExists" => Err(StoreError::failed(
            format!("bucket name {bucket} is taken by another account"),
            "bucket names are global: pick another one in the target's url",
        )),
        Err(e) => Err(classify(&e, &format!("s3://{bucket}"), None)),
    }
}

async fn secure_bucket(
    c: &Clients,
    bucket: &str,
    block_public: bool,
    owner_enforced: bool,
    encryption: bool,
) -> Result<(), StoreError> {
    let what = format!("s3://{bucket}");
    if block_public {
        let block = s3t::PublicAccessBlockConfiguration::builder()
            .block_public_acls(true)
            .ignore_public_acls(true)
            .block_public_policy(true)
            .restrict_public_buckets(true)
            .build();
        (c.s3.put_public_access_block().bucket(bucket))
            .public_access_block_configuration(block)
            .send()
            .await
            .map_err(|e| classify(&e, &what, None))?;
    }
    if owner_enforced {
        let rule = s3t::OwnershipControlsRule::builder()
            .object_ownership(s3t::ObjectOwnership::BucketOwnerEnforced)
            .build()
            .map_err(build_err)?;
        let controls = s3t::OwnershipControls::builder()
            .rules(rule)
            .build()
            .map_err(build_err)?;
        (c.s3.put_bucket_ownership_controls().bucket(bucket))
            .ownership_controls(controls)
            .send()
            .await
            .map_err(|e| classify(&e, &what, None))?;
    }
    if encryption {
        let default = s3t::ServerSideEncryptionByDefault::builder()
            .sse_algorithm(s3t::ServerSideEncryption::Aes256)
            .build()
            .map_err(build_err)?;
        let rule = s3t::ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(default)
            .build();
        let config = s3t::ServerSideEncryptionConfiguration::builder()
            .rules(rule)
            .build()
            .map_err(build_err)?;
        (c.s3.put_bucket_encryption().bucket(bucket))
            .server_side_encryption_configuration(config)
            .send()
            .await
            .map_err(|e| classify(&e, &what, None))?;
    }
    Ok(())
}

/// This site's tag `git-publish:site:<id> = <target>`. PutBucketTagging replaces the whole set: the bucket's
/// other tags (another site's among them) are written back as they are.
async fn tag_bucket(c: &Clients, w: &Wants, others: &[(String, String)]) -> Result<(), StoreError> {
    let key = w.site.bucket_tag_key();
    let mut tags = Vec::new();
    let ours = [(key.clone(), w.site.target.clone())];
    for (k, v) in others.iter().filter(|(k, _)| k != &key).chain(ours.iter()) {
        tags.push(
            s3t::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(build_err)?,
        );
    }
    let tagging = s3t::Tagging::builder()
        .set_tag_set(Some(tags))
        .build()
        .map_err(build_err)?;
    (c.s3.put_bucket_tagging().bucket(&w.site.bucket))
        .tagging(tagging)
        .send()
        .await
        .map_err(|e| classify(&e, &w.site.location(), None))?;
    Ok(())
}

async fn create_oac(c: &Clients, w: &Wants, name: &str) -> Result<String, StoreError> {
    let config = cf::OriginAccessControlConfig::builder()
        .name(name)
        .description(w.site.comment("CloudFront reads the site's bucket (sigv4)"))
        .signing_protocol(cf::OriginAccessControlSigningProtocols::Sigv4)
        .signing_behavior(cf::OriginAccessControlSigningBehaviors::Always)
        .origin_access_control_origin_type(cf::OriginAccessControlOriginTypes::S3)
        .build()
        .map_err(build_err)?;
    let out = (c.cloudfront.create_origin_access_control())
        .origin_access_control_config(config)
        .send()
        .await
        .map_err(|e| classify(&e, &format!("origin access control {name}"), None))?;
    out.origin_access_control()
        .map(|o| o.id().to_string())
        .ok_or_else(|| StoreError::failed(format!("origin access control {name}: no id"), ""))
}

/// The SDK config for `s`, new (`base` None) or as a change of `base` that keeps what setup does not manage.
fn distribution_config(
    w: &Wants,
    s: &DistSettings,
    base: Option<cf::DistributionConfig>,
) -> Result<cf::DistributionConfig, StoreError> {
    // An existing default origin keeps its id: other cache behaviours may name it.
    let origin_id = (base.as_ref())
        .and_then(|c| c.default_cache_behavior.as_ref())
        .map(|b| b.target_origin_id.clone())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| format!("s3-{}", w.site.bucket));
    let mut config = match base {
        Some(c) => c,
        None => {
            let behaviour = cf::DefaultCacheBehavior::builder()
                .target_origin_id(&origin_id)
                .viewer_protocol_policy(cf::ViewerProtocolPolicy::RedirectToHttps)
                .build()
                .map_err(build_err)?;
            cf::DistributionConfig::builder()
                .caller_reference(format!("git-publish-{}", w.site.function_name()))
                .comment(w.site.comment("the site"))
                .enabled(true)
                .origins(
                    cf::Origins::builder()
                        .quantity(0)
                        .set_items(Some(Vec::new()))
                        .build()
                        .map_err(build_err)?,
                )
                .default_cache_behavior(behaviour)
                .build()
                .map_err(build_err)?
        }
    };
    set_origin(&mut config, &origin_id, s)?;
    config.default_root_object = Some(s.default_root.clone());
    config.http_version = Some(cf::HttpVersion::from(s.http_version.as_str()));
    config.is_ipv6_enabled = Some(s.ipv6);
    config.price_class = Some(cf::PriceClass::from(s.price_class.as_str()));
    config.enabled = s.enabled;
    config.aliases = Some(
        cf::Aliases::builder()
            .quantity(s.aliases.len() as i32)
            .set_items((!s.aliases.is_empty()).then(|| s.aliases.clone()))
            .build()
            .map_err(build_err)?,
    );
    config.custom_error_responses = Some(error_responses(&s.error_responses)?);
    config.viewer_certificate = Some(if s.certificate.is_empty() {
        cf::ViewerCertificate::builder()
            .cloud_front_default_certificate(true)
            .build()
    } else {
        cf::ViewerCertificate::builder()
            .acm_certificate_arn(&s.certificate)
            .ssl_support_method(cf::SslSupportMethod::SniOnly)
            .minimum_protocol_version(cf::MinimumProtocolVersion::TlSv122021)
            .build()
    });
    let b = config
        .default_cache_behavior
        .as_mut()
        .expect("a distribution config has a default cache behaviour");
    b.target_origin_id = origin_id;
    set_behaviour(b, s)?;
    Ok(config)
}

/// The origin the default behaviour reads becomes the bucket's REST origin with the OAC; other origins stay.
fn set_origin(
    config: &mut cf::DistributionConfig,
    origin_id: &str,
    s: &DistSettings,
) -> Result<(), StoreError> {
    let origin = cf::Origin::builder()
        .id(origin_id)
        .domain_name(&s.origin_domain)
        .origin_path(&s.origin_path)
        .s3_origin_config(
            cf::S3OriginConfig::builder()
                .origin_access_identity("")
                .build(),
        )
        .origin_access_control_id(&s.oac)
        .build()
        .map_err(build_err)?;
    let mut origins: Vec<cf::Origin> = (config.origins.as_ref())
        .map(|o| o.items().to_vec())
        .unwrap_or_default()
        .into_iter()
        .filter(|o| o.id() != origin_id)
        .collect();
    origins.insert(0, origin);
    config.origins = Some(
        cf::Origins::builder()
            .quantity(origins.len() as i32)
            .set_items(Some(origins))
            .build()
            .map_err(build_err)?,
    );
    Ok(())
}

/// The default cache behaviour: viewer protocol, compression, the cache policy, the viewer-request function
/// (other function associations stay).
fn set_behaviour(b: &mut cf::DefaultCacheBehavior, s: &DistSettings) -> Result<(), StoreError> {
    b.viewer_protocol_policy = cf::ViewerProtocolPolicy::from(s.viewer_protocol.as_str());
    b.compress = Some(s.compress);
    b.cache_policy_id = Some(s.cache_policy.clone());
    // A cache policy and the legacy ForwardedValues/TTLs are mutually exclusive (CloudFront refuses both).
    #[allow(deprecated)]
    {
        b.forwarded_values = None;
        b.min_ttl = None;
        b.default_ttl = None;
        b.max_ttl = None;
    }
    let mut functions: Vec<cf::FunctionAssociation> = (b.function_associations.as_ref())
        .map(|f| f.items().to_vec())
        .unwrap_or_default()
        .into_iter()
        .filter(|a| *a.event_type() != cf::EventType::ViewerRequest)
        .collect();
    if !s.viewer_function.is_empty() {
        functions.push(
            cf::FunctionAssociation::builder()
                .function_arn(&s.viewer_function)
                .event_type(cf::EventType::ViewerRequest)
                .build()
                .map_err(build_err)?,
        );
    }
    b.function_associations = Some(
        cf::FunctionAssociations::builder()
            .quantity(functions.len() as i32)
            .set_items((!functions.is_empty()).then_some(functions))
            .build()
            .map_err(build_err)?,
    );
    Ok(())
}

async fn create_distribution(
    c: &Clients,
    w: &Wants,
    s: &DistSettings,
) -> Result<DistSeen, StoreError> {
    let config = distribution_config(w, s, None)?;
    let tag = cf::Tag::builder()
        .key(TAG_KEY)
        .value(w.site.tag_value())
        .build()
        .map_err(build_err)?;
    let with_tags = cf::DistributionConfigWithTags::builder()
        .distribution_config(config)
        .tags(cf::Tags::builder().items(tag).build())
        .build();
    let out = (c.cloudfront.create_distribution_with_tags())
        .distribution_config_with_tags(with_tags)
        .send()
        .await
        .map_err(|e| classify(&e, "a new CloudFront distribution", None))?;
    let d = out
        .distribution()
        .ok_or_else(|| StoreError::failed("CreateDistribution: empty answer", ""))?;
    Ok(DistSeen {
        id: d.id().to_string(),
        arn: d.arn().to_string(),
        domain_name: d.domain_name().to_string(),
        owner: DistOwner::This,
        etag: out.e_tag().unwrap_or_default().to_string(),
        settings: s.clone(),
    })
}

/// UpdateDistribution with the ETag of the read the plan was made from (If-Match): an edit made since (in
/// the console while setup waited at its question, by IaC) makes it refuse, and setup shows the new
/// differences instead of overwriting them ([`StoreError::PreconditionFailed`]). The config it changes is
/// read again (GetDistributionConfig) and must carry that same ETag.
async fn update_distribution(
    c: &Clients,
    w: &Wants,
    id: &str,
    planned: &str,
    s: &DistSettings,
) -> Result<bool, StoreError> {
    let what = format!("CloudFront distribution {id}");
    let got = (c.cloudfront.get_distribution_config().id(id))
        .send()
        .await
        .map_err(|e| classify(&e, &what, None))?;
    let etag = got.e_tag().unwrap_or_default().to_string();
    if !planned.is_empty() && etag != planned {
        return Err(StoreError::PreconditionFailed);
    }
    let base = got
        .distribution_config
        .ok_or_else(|| StoreError::failed(format!("{what}: no config"), ""))?;
    if settings_of(&base) == *s {
        return Ok(false);
    }
    let config = distribution_config(w, s, Some(base))?;
    (c.cloudfront.update_distribution().id(id).if_match(etag))
        .distribution_config(config)
        .send()
        .await
        .map_err(|e| classify(&e, &what, None))?;
    Ok(true)
}

async fn tag_distribution(c: &Clients, arn: &str, value: &str) -> Result<(), StoreError> {
    let tag = cf::Tag::builder()
        .key(TAG_KEY)
        .value(value)
        .build()
        .map_err(build_err)?;
    (c.cloudfront.tag_resource().resource(arn))
        .tags(cf::Tags::builder().items(tag).build())
        .send()
        .await
        .map_err(|e| classify(&e, arn, None))?;
    Ok(())
}
