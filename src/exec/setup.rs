//! `git publish setup`, the AWS side: read what exists into a [`Seen`] ([`observe`]), and carry out the
//! [`Step`]s `setup::plan` chose ([`apply`]), each with the SDK calls it takes: S3 (bucket, Block Public Access,
//! ownership, encryption, tags, policy), CloudFront (origin access control, function, distribution, tags;
//! updates with the ETag read: If-Match), ACM (the certificate, in us-east-1) and Route 53 (`--route53`).
//!
//! Decides nothing: which steps, and the settings and policy they write, come from `crate::setup`.

use aws_config::{Region, SdkConfig};
use aws_sdk_cloudfront::types as cf;
use aws_sdk_s3::types as s3t;
use serde_json::Value;

use super::aws::classify;
use super::StoreError;
use aws_sdk_route53::types::RrType;

use crate::setup::{
    BucketSeen, CertSeen, ConfigSeen, DistSeen, DistSettings, DnsSeen, FunctionSeen, Seen, Step,
    Wants, TAG_KEY,
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
            cloudfront: super::aws::cloudfront_client(sdk),
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
    let distribution = distribution(c, w, &config.distributions).await?;
    let certificate = match &w.domain {
        Some(d) => certificate(c, d).await?,
        None => None,
    };
    let dns = match &w.domain {
        Some(domain) if w.route53 => {
            Some(dns(c, domain, certificate.as_ref(), distribution.as_ref()).await?)
        }
        _ => None,
    };
    Ok(Seen {
        bucket,
        oac: oac(c, &w.oac_name).await?,
        function: function(c, &w.function_name, function_code).await?,
        distribution,
        certificate,
        config,
        dns,
    })
}

/// The hosted zone of `domain`, and whether the validation and alias records are there.
async fn dns(
    c: &Clients,
    domain: &str,
    cert: Option<&CertSeen>,
    dist: Option<&DistSeen>,
) -> Result<DnsSeen, StoreError> {
    let zone = hosted_zone(c, domain).await?;
    let records = (c.route53.list_resource_record_sets().hosted_zone_id(&zone))
        .send()
        .await
        .map_err(|e| classify(&e, &format!("Route 53 zone {zone}"), None))?;
    let sets = records.resource_record_sets();
    let fqdn = |n: &str| format!("{}.", n.trim_end_matches('.'));
    let validation = cert.is_some_and(|c| {
        !c.validation.is_empty()
            && (c.validation.iter()).all(|(name, value)| {
                sets.iter().any(|r| {
                    fqdn(r.name()) == fqdn(name)
                        && (r.resource_records().iter()).any(|v| fqdn(v.value()) == fqdn(value))
                })
            })
    });
    let alias = dist.is_some_and(|d| {
        [RrType::A, RrType::Aaaa].iter().all(|kind| {
            sets.iter().any(|r| {
                fqdn(r.name()) == fqdn(domain)
                    && r.r#type() == kind
                    && (r.alias_target())
                        .is_some_and(|a| fqdn(a.dns_name()) == fqdn(&d.domain_name))
            })
        })
    });
    Ok(DnsSeen {
        zone,
        validation,
        alias,
    })
}

/// The bucket and its settings; None when there is no such bucket.
pub async fn observe_bucket(c: &Clients, w: &Wants) -> Result<Option<BucketSeen>, StoreError> {
    let b = &w.bucket;
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
    let ours = tags.iter().any(|(k, v)| k == TAG_KEY && v == &w.target);
    Ok(Some(BucketSeen {
        ours,
        tags,
        blocks_public,
        owner_enforced,
        encrypted,
        policy,
    }))
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

async fn function(c: &Clients, name: &str, code: &str) -> Result<FunctionSeen, StoreError> {
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
                // Created but never published: publishing it is an update.
                Ok(_) => Ok(FunctionSeen::Differs { arn: String::new() }),
                Err(e) if status(&e) == Some(404) => Ok(FunctionSeen::Missing),
                Err(e) => Err(classify(&e, &what, None)),
            };
        }
        Err(e) => return Err(classify(&e, &what, None)),
    };
    let arn = live_arn(c, name).await?;
    Ok(if same {
        FunctionSeen::Live { arn }
    } else {
        FunctionSeen::Differs { arn }
    })
}

async fn live_arn(c: &Clients, name: &str) -> Result<String, StoreError> {
    match super::cdn_function::describe_live(&c.cloudfront, name).await? {
        Some((arn, _)) => Ok(arn),
        None => Err(StoreError::failed(
            format!("CloudFront function {name}: no live stage after publishing"),
            "",
        )),
    }
}

/// The distribution setup looks at: the first id in site.toml, else the one tagged for this target among
/// those whose origin is the bucket, else the only such one.
async fn distribution(
    c: &Clients,
    w: &Wants,
    ids: &[String],
) -> Result<Option<DistSeen>, StoreError> {
    if let Some(id) = ids.first() {
        return read_distribution(c, w, id).await.map(Some);
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
                .any(|o| super::cloudfront::origin_is_bucket(o.domain_name(), &w.bucket));
            if serves {
                candidates.push((d.id().to_string(), d.arn().to_string()));
            }
        }
        match list.next_marker() {
            Some(m) if list.is_truncated() && !m.is_empty() => marker = Some(m.to_string()),
            _ => break,
        }
    }
    for (id, arn) in &candidates {
        if tagged(c, arn, &w.target).await? {
            return read_distribution(c, w, id).await.map(Some);
        }
    }
    match candidates.as_slice() {
        [] => Ok(None),
        [(id, _)] => read_distribution(c, w, id).await.map(Some),
        many => Err(StoreError::failed(
            format!(
                "{} distributions serve bucket {}: {}",
                many.len(),
                w.bucket,
                many.iter()
                    .map(|(id, _)| id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "name the one to set up with `distribution = \"E…\"` for the target in site.toml",
        )),
    }
}

async fn tagged(c: &Clients, arn: &str, target: &str) -> Result<bool, StoreError> {
    let tags = (c.cloudfront.list_tags_for_resource().resource(arn))
        .send()
        .await
        .map_err(|e| classify(&e, arn, None))?;
    Ok((tags.tags().map(|t| t.items()).unwrap_or_default().iter())
        .any(|t| t.key() == TAG_KEY && t.value() == Some(target)))
}

async fn read_distribution(c: &Clients, w: &Wants, id: &str) -> Result<DistSeen, StoreError> {
    let what = format!("CloudFront distribution {id}");
    let d = (c.cloudfront.get_distribution().id(id))
        .send()
        .await
        .map_err(|e| classify(&e, &what, None))?;
    let d = d
        .distribution()
        .ok_or_else(|| StoreError::failed(format!("{what}: empty answer"), ""))?;
    let config = d
        .distribution_config()
        .ok_or_else(|| StoreError::failed(format!("{what}: no config"), ""))?;
    Ok(DistSeen {
        id: id.to_string(),
        arn: d.arn().to_string(),
        domain_name: d.domain_name().to_string(),
        ours: tagged(c, d.arn(), &w.target).await?,
        settings: settings_of(config),
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
    }
}

async fn certificate(c: &Clients, domain: &str) -> Result<Option<CertSeen>, StoreError> {
    use aws_sdk_acm::types::CertificateStatus;
    let what = format!("the ACM certificates (us-east-1) for {domain}");
    let list = (c.acm.list_certificates())
        .certificate_statuses(CertificateStatus::Issued)
        .certificate_statuses(CertificateStatus::PendingValidation)
        .send()
        .await
        .map_err(|e| classify(&e, &what, None))?;
    let Some(arn) = (list.certificate_summary_list().iter())
        .find(|s| s.domain_name() == Some(domain))
        .and_then(|s| s.certificate_arn())
    else {
        return Ok(None);
    };
    describe_certificate(c, arn).await.map(Some)
}

async fn describe_certificate(c: &Clients, arn: &str) -> Result<CertSeen, StoreError> {
    use aws_sdk_acm::types::CertificateStatus;
    let d = (c.acm.describe_certificate().certificate_arn(arn))
        .send()
        .await
        .map_err(|e| classify(&e, arn, None))?;
    let cert = d
        .certificate()
        .ok_or_else(|| StoreError::failed(format!("{arn}: empty answer"), ""))?;
    let validation = (cert.domain_validation_options().iter())
        .filter_map(|o| o.resource_record())
        .map(|r| (r.name().to_string(), r.value().to_string()))
        .collect();
    Ok(CertSeen {
        arn: arn.to_string(),
        issued: cert.status() == Some(&CertificateStatus::Issued),
        validation,
    })
}

// ---- apply -----------------------------------------------------------------------------------------------------

/// What [`apply`] made or found, for the steps after it and the report.
#[derive(Debug, Clone, Default)]
pub struct Made {
    pub oac: Option<String>,
    pub function_arn: Option<String>,
    pub distribution: Option<DistSeen>,
    pub certificate: Option<CertSeen>,
    /// The plan lines of the steps done, in order.
    pub done: Vec<String>,
}

/// What the steps need besides the plan: the function's code and the bucket policy for a distribution ARN.
pub struct Inputs<'a> {
    pub function_code: &'a str,
    pub policy_for: &'a dyn Fn(&str) -> Value,
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
        Step::DnsValidation { zone } => {
            let records = made
                .certificate
                .as_ref()
                .map(|c| c.validation.clone())
                .unwrap_or_default();
            dns_validation(c, zone, &records).await?;
            return Ok(!records.is_empty());
        }
        Step::DnsAlias { zone, domain } => {
            let Some(d) = made
                .distribution
                .as_ref()
                .filter(|d| d.settings.aliases.contains(domain))
            else {
                return Ok(false);
            };
            dns_alias(c, zone, domain, &d.domain_name).await?;
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
            made.oac = Some(create_oac(c, name).await?);
        }
        Step::PublishFunction { name, .. } => {
            super::cdn_function::publish(&c.cloudfront, name, inputs.function_code, None).await?;
            made.function_arn = Some(live_arn(c, name).await?);
        }
        Step::RequestCertificate { domain } => {
            made.certificate = Some(request_certificate(c, w, domain).await?);
        }
        Step::CreateDistribution { .. } => {
            let settings = final_settings(w, made, None);
            made.distribution = Some(create_distribution(c, w, &settings).await?);
        }
        Step::UpdateDistribution { id, .. } => {
            let current = made.distribution.as_ref().map(|d| d.settings.clone());
            let settings = final_settings(w, made, current.as_ref());
            let changed = update_distribution(c, w, id, &settings).await?;
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
            tag_distribution(c, &d.arn, &w.target).await?;
        }
        Step::PutBucketPolicy { bucket, .. } => {
            let d = (made.distribution.as_ref()).ok_or_else(|| {
                StoreError::failed("no distribution to name in the bucket policy", "")
            })?;
            // Read it again: merge with what is there now, not with what was there when setup started.
            let current = policy(c, bucket).await?;
            let merged = crate::setup::merge_policy(current.as_ref(), &(inputs.policy_for)(&d.arn));
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
fn final_settings(w: &Wants, made: &Made, current: Option<&DistSettings>) -> DistSettings {
    crate::setup::desired(
        w,
        current,
        made.oac.as_deref().unwrap_or_default(),
        made.function_arn.as_deref().unwrap_or_default(),
        made.certificate.as_ref(),
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

/// PutBucketTagging replaces the whole set: the bucket's other tags are written back with ours.
async fn tag_bucket(c: &Clients, w: &Wants, others: &[(String, String)]) -> Result<(), StoreError> {
    let mut tags = Vec::new();
    for (k, v) in others.iter().filter(|(k, _)| k != TAG_KEY) {
        tags.push(
            s3t::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(build_err)?,
        );
    }
    tags.push(
        s3t::Tag::builder()
            .key(TAG_KEY)
            .value(&w.target)
            .build()
            .map_err(build_err)?,
    );
    let tagging = s3t::Tagging::builder()
        .set_tag_set(Some(tags))
        .build()
        .map_err(build_err)?;
    (c.s3.put_bucket_tagging().bucket(&w.bucket))
        .tagging(tagging)
        .send()
        .await
        .map_err(|e| classify(&e, &format!("s3://{}", w.bucket), None))?;
    Ok(())
}

async fn create_oac(c: &Clients, name: &str) -> Result<String, StoreError> {
    let config = cf::OriginAccessControlConfig::builder()
        .name(name)
        .description("git-publish: CloudFront reads the site's bucket (sigv4)")
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

async fn request_certificate(c: &Clients, w: &Wants, domain: &str) -> Result<CertSeen, StoreError> {
    use aws_sdk_acm::types::{Tag, ValidationMethod};
    let tag = Tag::builder()
        .key(TAG_KEY)
        .value(&w.target)
        .build()
        .map_err(build_err)?;
    let out = (c.acm.request_certificate().domain_name(domain))
        .validation_method(ValidationMethod::Dns)
        // The same token on a re-run within the hour returns the same certificate instead of a second one.
        .idempotency_token(
            format!("gitpublish{}", w.target.replace(['-', '.', '_'], ""))
                .chars()
                .take(32)
                .collect::<String>(),
        )
        .tags(tag)
        .send()
        .await
        .map_err(|e| classify(&e, &format!("an ACM certificate for {domain}"), None))?;
    let arn = out
        .certificate_arn()
        .ok_or_else(|| StoreError::failed(format!("certificate for {domain}: no ARN"), ""))?;
    describe_certificate(c, arn).await
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
        .unwrap_or_else(|| format!("s3-{}", w.bucket));
    let mut config = match base {
        Some(c) => c,
        None => {
            let behaviour = cf::DefaultCacheBehavior::builder()
                .target_origin_id(&origin_id)
                .viewer_protocol_policy(cf::ViewerProtocolPolicy::RedirectToHttps)
                .build()
                .map_err(build_err)?;
            cf::DistributionConfig::builder()
                .caller_reference(format!("git-publish-{}-{}", w.target, w.bucket))
                .comment(format!("git-publish: {} (s3://{})", w.target, w.bucket))
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
        .value(&w.target)
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
        ours: true,
        settings: s.clone(),
    })
}

/// GetDistributionConfig, then UpdateDistribution with its ETag (If-Match): an edit made since (in the
/// console, by IaC) makes CloudFront refuse the update (412), and setup stops instead of overwriting it.
async fn update_distribution(
    c: &Clients,
    w: &Wants,
    id: &str,
    s: &DistSettings,
) -> Result<bool, StoreError> {
    let what = format!("CloudFront distribution {id}");
    let got = (c.cloudfront.get_distribution_config().id(id))
        .send()
        .await
        .map_err(|e| classify(&e, &what, None))?;
    let etag = got.e_tag().unwrap_or_default().to_string();
    let base = got
        .distribution_config
        .ok_or_else(|| StoreError::failed(format!("{what}: no config"), ""))?;
    if settings_of(&base) == *s {
        return Ok(false);
    }
    let config = distribution_config(w, s, Some(base))?;
    match (c.cloudfront.update_distribution().id(id).if_match(etag))
        .distribution_config(config)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) => match classify(&e, &what, None) {
            StoreError::PreconditionFailed => Err(StoreError::failed(
                format!("{what} changed while setup was updating it (If-Match: its ETag no longer matches)"),
                "someone edited it at the same time (console, IaC): run `git publish setup` again to see the \
                 new differences; nothing was overwritten",
            )),
            other => Err(other),
        },
    }
}

async fn tag_distribution(c: &Clients, arn: &str, target: &str) -> Result<(), StoreError> {
    let tag = cf::Tag::builder()
        .key(TAG_KEY)
        .value(target)
        .build()
        .map_err(build_err)?;
    (c.cloudfront.tag_resource().resource(arn))
        .tags(cf::Tags::builder().items(tag).build())
        .send()
        .await
        .map_err(|e| classify(&e, arn, None))?;
    Ok(())
}

/// The certificate's validation CNAMEs (UPSERT: writing them again changes nothing).
async fn dns_validation(
    c: &Clients,
    zone: &str,
    records: &[(String, String)],
) -> Result<(), StoreError> {
    use aws_sdk_route53::types::{Change, ChangeAction, ResourceRecord, ResourceRecordSet};
    let mut changes = Vec::new();
    for (name, value) in records {
        let record = ResourceRecordSet::builder()
            .name(name)
            .r#type(RrType::Cname)
            .ttl(300)
            .resource_records(
                ResourceRecord::builder()
                    .value(value)
                    .build()
                    .map_err(build_err)?,
            )
            .build()
            .map_err(build_err)?;
        changes.push(
            Change::builder()
                .action(ChangeAction::Upsert)
                .resource_record_set(record)
                .build()
                .map_err(build_err)?,
        );
    }
    change_records(c, zone, changes, "certificate validation").await
}

/// A and AAAA alias records from `domain` to the distribution.
async fn dns_alias(c: &Clients, zone: &str, domain: &str, target: &str) -> Result<(), StoreError> {
    use aws_sdk_route53::types::{AliasTarget, Change, ChangeAction, ResourceRecordSet};
    /// CloudFront's hosted zone id, the same for every distribution.
    const CLOUDFRONT_ZONE: &str = "Z2FDTNDATAQYW2";
    let mut changes = Vec::new();
    for kind in [RrType::A, RrType::Aaaa] {
        let alias = AliasTarget::builder()
            .hosted_zone_id(CLOUDFRONT_ZONE)
            .dns_name(target)
            .evaluate_target_health(false)
            .build()
            .map_err(build_err)?;
        let record = ResourceRecordSet::builder()
            .name(domain)
            .r#type(kind)
            .alias_target(alias)
            .build()
            .map_err(build_err)?;
        changes.push(
            Change::builder()
                .action(ChangeAction::Upsert)
                .resource_record_set(record)
                .build()
                .map_err(build_err)?,
        );
    }
    change_records(c, zone, changes, domain).await
}

async fn change_records(
    c: &Clients,
    zone: &str,
    changes: Vec<aws_sdk_route53::types::Change>,
    what: &str,
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let batch = aws_sdk_route53::types::ChangeBatch::builder()
        .comment(format!("git-publish setup: {what}"))
        .set_changes(Some(changes))
        .build()
        .map_err(build_err)?;
    (c.route53.change_resource_record_sets().hosted_zone_id(zone))
        .change_batch(batch)
        .send()
        .await
        .map_err(|e| classify(&e, &format!("Route 53 zone {zone}"), None))?;
    Ok(())
}

/// The id of the Route 53 hosted zone whose name is the longest suffix of `domain`.
async fn hosted_zone(c: &Clients, domain: &str) -> Result<String, StoreError> {
    let zones = (c.route53.list_hosted_zones())
        .send()
        .await
        .map_err(|e| classify(&e, "the Route 53 hosted zones", None))?;
    let fqdn = format!("{}.", domain.trim_end_matches('.'));
    (zones.hosted_zones().iter())
        .filter(|z| fqdn == z.name() || fqdn.ends_with(&format!(".{}", z.name())))
        .max_by_key(|z| z.name().len())
        .map(|z| z.id().trim_start_matches("/hostedzone/").to_string())
        .ok_or_else(|| {
            StoreError::failed(
                format!("no Route 53 hosted zone holds {domain}"),
                "create the DNS records setup printed at your DNS provider, and run setup without --route53",
            )
        })
}
