//! Carrying out the [`Step`]s `setup::plan` chose, each with the SDK calls it takes.

use aws_sdk_cloudfront::types as cf;
use aws_sdk_s3::types as s3t;
use serde_json::Value;

use crate::aws::classify;
use crate::exec::StoreError;

use crate::setup::{
    DistOwner, DistSeen, DistSettings, FunctionSeen, PageSeen, Seen, Step, Wants, TAG_KEY,
};

use super::clients::{build_err, code, Clients};
use super::observe::{error_responses, live_arn, policy, settings_of};
use super::{acm, dns};

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
            crate::aws::cdn_function::publish_as(&c.cloudfront, &w.site, code, None, *adopt)
                .await?;
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
