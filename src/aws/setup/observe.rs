//! Reading what exists for a site into a [`Seen`]: the bucket and its settings, the origin access control,
//! the function, the distributions that serve the bucket, the 404 page.

use aws_sdk_cloudfront::types as cf;
use aws_sdk_s3::types as s3t;
use serde_json::Value;

use crate::aws::classify;
use crate::exec::StoreError;

use crate::identity::{Site, TagOwner};
use crate::setup::{
    BucketOwner, BucketSeen, ConfigSeen, DistOwner, DistSeen, DistSettings, ErrorResponse,
    FunctionSeen, PageSeen, Seen, Wants, TAG_KEY,
};

use super::clients::{build_err, code, status, Clients};
use super::{acm, dns};

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

pub(super) async fn policy(c: &Clients, bucket: &str) -> Result<Option<Value>, StoreError> {
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
    let live = crate::aws::cdn_function::describe_live(&c.cloudfront, name)
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

pub(super) async fn live_arn(c: &Clients, name: &str) -> Result<String, StoreError> {
    match crate::aws::cdn_function::describe_live(&c.cloudfront, name).await? {
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
    crate::aws::cloudfront::origin_is_bucket(domain, &site.bucket)
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
pub(super) fn error_responses(
    list: &[ErrorResponse],
) -> Result<cf::CustomErrorResponses, StoreError> {
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
