//! The CloudFront Function a target manages (`cdn_function = "manage"`): publish its code with
//! Create/Update/PublishFunction (each with the ETag it read: If-Match), only when the live code (or the
//! KeyValueStore it reads) differs, and associate it with the distribution's default cache behaviour as the
//! viewer-request function (GetDistributionConfig, then UpdateDistribution with If-Match) when it is not
//! already. A function whose redirect table is in a KeyValueStore gets the store and its keys first
//! ([`super::kvs`]) and the store in FunctionConfig.KeyValueStoreAssociations.
//!
//! The code and the table come from the plan (`plan::cdn_function`); this module decides nothing about them.
//! It changes only what is this site's (`crate::identity`): a function or KeyValueStore whose comment
//! carries the site's mark, and a distribution tagged `git-publish:site` for the site (or created or adopted
//! by `setup`). Anything else of that name, and a viewer-request function that is not its own, is left alone
//! and reported with the way out. A KeyValueStore the function no longer reads is left in place (its keys as
//! they were).

use aws_sdk_cloudfront::primitives::Blob;
use aws_sdk_cloudfront::types::{
    DistributionConfig, EventType, FunctionAssociation, FunctionAssociations, FunctionConfig,
    FunctionRuntime, FunctionStage, KeyValueStoreAssociation, KeyValueStoreAssociations,
};
use aws_sdk_cloudfront::Client;

use super::aws::classify;
use super::StoreError;
use crate::identity::{Site, TagOwner, TAG_KEY};
use crate::plan::Function;

/// What [`ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ensured {
    /// The code was created or updated, and published.
    pub published: bool,
    /// The distribution's default cache behaviour was updated to run it.
    pub associated: bool,
}

/// CloudFront's "no such …" error (NoSuchFunctionExists, EntityNotFound), or a bare 404 (moto answers some
/// without a body). Shared with `kvs`.
pub(super) fn missing<E>(
    e: &aws_sdk_cloudfront::error::SdkError<E, aws_sdk_cloudfront::config::http::HttpResponse>,
    is_missing: impl Fn(&E) -> bool,
) -> bool {
    e.as_service_error().is_some_and(is_missing)
        || e.raw_response().is_some_and(|r| r.status().as_u16() == 404)
}

fn build_err(e: aws_sdk_cloudfront::error::BuildError) -> StoreError {
    StoreError::failed(e.to_string(), "")
}

/// Publish `f` if its live code (or the KeyValueStore it reads) differs, then make sure `distribution` runs
/// it. A function whose table is in a KeyValueStore gets the store (created when missing) and its keys (only
/// the difference, through `kvs`) first, so that the new code finds them.
pub async fn ensure(
    client: &Client,
    kvs: Option<&aws_sdk_cloudfrontkeyvaluestore::Client>,
    distribution: &str,
    f: &Function,
) -> Result<Ensured, StoreError> {
    let (name, code) = (f.name.as_str(), f.code.as_str());
    let what = format!("CloudFront function {name}");
    let store = match (&f.kvs, kvs) {
        (Some(k), Some(data)) => {
            let arn = super::kvs::ensure_store(client, &k.name, &f.site).await?;
            let synced = super::kvs::sync(data, &arn, &k.entries).await?;
            tracing::debug!("{arn}: {synced:?}");
            Some(arn)
        }
        (Some(_), None) => {
            return Err(StoreError::failed(
                format!("{what} reads a KeyValueStore, and there is no client for its data API"),
                "",
            ))
        }
        (None, _) => None,
    };
    let live = (client.get_function().name(name).stage(FunctionStage::Live))
        .send()
        .await;
    let live_code = match &live {
        Ok(out) => out.function_code().map(|b| b.as_ref().to_vec()),
        Err(e) if missing(e, |s| s.is_no_such_function_exists()) => None,
        Err(e) => return Err(classify(e, &what, None)),
    };
    let mut described = describe_live(client, name).await?;
    if let Some(live) = &described {
        check_owner(&what, &live.comment, &f.site)?;
    }
    let live_store = described.as_ref().and_then(|l| l.store.clone());
    let published = live_code.as_deref() != Some(code.as_bytes()) || live_store != store;
    if published {
        publish(client, &f.site, code, store.as_deref()).await?;
        described = describe_live(client, name).await?;
    }
    let live = described
        .ok_or_else(|| StoreError::failed(format!("{what}: no ARN after publishing"), ""))?;
    let associated = associate(client, distribution, &live.arn, &f.site).await?;
    Ok(Ensured {
        published,
        associated,
    })
}

/// Whether [`ensure`] may do what it would, before anything is written: the live function of that name (if
/// any) is this site's, and so is the distribution when its viewer-request function would change (its store
/// is checked by [`ensure`], which creates it). Read-only: DescribeFunction, and GetDistribution with
/// ListTagsForResource when the association changes.
pub async fn check(client: &Client, distribution: &str, f: &Function) -> Result<(), StoreError> {
    let what = format!("CloudFront function {}", f.name);
    let live = describe_live(client, &f.name).await?;
    if let Some(l) = &live {
        check_owner(&what, &l.comment, &f.site)?;
    }
    let dist_what = format!("CloudFront distribution {distribution}");
    let got = (client.get_distribution().id(distribution))
        .send()
        .await
        .map_err(|e| classify(&e, &dist_what, None))?;
    let d = got
        .distribution()
        .ok_or_else(|| StoreError::failed(format!("{dist_what}: empty answer"), ""))?;
    let config = d
        .distribution_config()
        .ok_or_else(|| StoreError::failed(format!("{dist_what}: no config"), ""))?;
    let runs = (config.default_cache_behavior())
        .and_then(|b| b.function_associations())
        .map(|f| f.items())
        .unwrap_or_default()
        .iter()
        .find(|a| *a.event_type() == EventType::ViewerRequest)
        .map(|a| a.function_arn().to_string());
    if runs.is_some() && runs.as_deref() == live.as_ref().map(|l| l.arn.as_str()) {
        return Ok(());
    }
    check_distribution_owner(client, distribution, d.arn(), config, &f.site).await
}

/// The live stage of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Live {
    pub arn: String,
    /// The KeyValueStore it reads.
    pub store: Option<String>,
    /// Its comment, which names the site that owns it.
    pub comment: String,
}

/// The live stage of function `name` (None: there is none).
pub(super) async fn describe_live(client: &Client, name: &str) -> Result<Option<Live>, StoreError> {
    let what = format!("CloudFront function {name}");
    let described = (client.describe_function().name(name))
        .stage(FunctionStage::Live)
        .send()
        .await;
    let summary = match described {
        Ok(d) => d.function_summary,
        Err(e) if missing(&e, |s| s.is_no_such_function_exists()) => return Ok(None),
        Err(e) => return Err(classify(&e, &what, None)),
    };
    let Some(summary) = summary else {
        return Ok(None);
    };
    let arn = (summary.function_metadata())
        .map(|m| m.function_arn().to_string())
        .ok_or_else(|| StoreError::failed(format!("{what}: no ARN"), ""))?;
    let config = summary.function_config();
    let store = (config.and_then(|c| c.key_value_store_associations()))
        .and_then(|a| a.items().first())
        .map(|a| a.key_value_store_arn().to_string());
    let comment = config.map(|c| c.comment().to_string()).unwrap_or_default();
    Ok(Some(Live {
        arn,
        store,
        comment,
    }))
}

/// `what` (a function or KeyValueStore of this site's name) is this site's only when its comment carries the
/// site's mark: one made by hand, or by another site, is left alone.
pub(super) fn check_owner(what: &str, comment: &str, site: &Site) -> Result<(), StoreError> {
    if site.owns_comment(comment) {
        return Ok(());
    }
    Err(StoreError::failed(
        format!(
            "{what} exists and is not this site's (its comment {comment:?} does not name {}, the mark of \
             site {}): it was made by hand or by another tool, and is left alone",
            site.mark(),
            site.describe()
        ),
        "`git publish setup --adopt` takes it over for this site (it shows the difference first); or rename \
         or delete it",
    ))
}

/// Create the function (or update its development stage, If-Match its ETag), then publish it (If-Match).
/// `store`: the KeyValueStore it reads (FunctionConfig.KeyValueStoreAssociations); none removes one.
/// The comment carries the site's mark (`adopt`: setup takes over a function of this name that is not).
pub(super) async fn publish(
    client: &Client,
    site: &Site,
    code: &str,
    store: Option<&str>,
) -> Result<(), StoreError> {
    publish_as(client, site, code, store, false).await
}

/// [`publish`]; `adopt`: a function of this name whose comment does not name the site is taken over.
pub(super) async fn publish_as(
    client: &Client,
    site: &Site,
    code: &str,
    store: Option<&str>,
    adopt: bool,
) -> Result<(), StoreError> {
    let name = &site.function_name();
    let what = format!("CloudFront function {name}");
    let mut config = FunctionConfig::builder()
        .comment(site.comment("directory indexes, pretty URLs and redirects"))
        .runtime(FunctionRuntime::CloudfrontJs20);
    if let Some(arn) = store {
        let association = KeyValueStoreAssociation::builder()
            .key_value_store_arn(arn)
            .build()
            .map_err(build_err)?;
        config = config.key_value_store_associations(
            KeyValueStoreAssociations::builder()
                .quantity(1)
                .items(association)
                .build()
                .map_err(build_err)?,
        );
    }
    let config = config.build().map_err(build_err)?;
    let described = (client.describe_function().name(name))
        .stage(FunctionStage::Development)
        .send()
        .await;
    let etag = match described {
        Ok(d) => {
            if !adopt {
                let comment = (d.function_summary().and_then(|f| f.function_config()))
                    .map(|c| c.comment())
                    .unwrap_or_default();
                check_owner(&what, comment, site)?;
            }
            let etag = d.e_tag().unwrap_or_default().to_string();
            let updated = (client.update_function().name(name).if_match(etag))
                .function_config(config)
                .function_code(Blob::new(code.as_bytes()))
                .send()
                .await
                .map_err(|e| classify(&e, &what, None))?;
            updated.e_tag().unwrap_or_default().to_string()
        }
        Err(e) if missing(&e, |s| s.is_no_such_function_exists()) => {
            let created = (client.create_function().name(name))
                .function_config(config)
                .function_code(Blob::new(code.as_bytes()))
                .send()
                .await
                .map_err(|e| classify(&e, &what, None))?;
            created.e_tag().unwrap_or_default().to_string()
        }
        Err(e) => return Err(classify(&e, &what, None)),
    };
    (client.publish_function().name(name).if_match(etag))
        .send()
        .await
        .map_err(|e| classify(&e, &what, None))?;
    Ok(())
}

/// Make `arn` the viewer-request function of the default cache behaviour; `false` when it already is. The
/// distribution is changed only when it is this site's: tagged `git-publish:site` with the site's value (or,
/// tagged before tags carried the id, with the target's name and serving the site's bucket and prefix).
async fn associate(
    client: &Client,
    distribution: &str,
    arn: &str,
    site: &Site,
) -> Result<bool, StoreError> {
    let what = format!("CloudFront distribution {distribution}");
    let got = (client.get_distribution_config().id(distribution))
        .send()
        .await
        .map_err(|e| classify(&e, &what, None))?;
    let etag = got.e_tag().unwrap_or_default().to_string();
    let mut config = got
        .distribution_config
        .ok_or_else(|| StoreError::failed(format!("{what}: no config"), ""))?;
    let behaviour = config
        .default_cache_behavior
        .as_ref()
        .ok_or_else(|| StoreError::failed(format!("{what}: no default cache behaviour"), ""))?;
    let mut items: Vec<FunctionAssociation> = (behaviour.function_associations.as_ref())
        .map(|f| f.items().to_vec())
        .unwrap_or_default();
    match items.iter().find(|a| *a.event_type() == EventType::ViewerRequest) {
        Some(a) if a.function_arn() == arn => return Ok(false),
        Some(a) if !a.function_arn().contains(":function/git-publish-") => {
            return Err(StoreError::failed(
                format!("{what} already runs {} on viewer requests", a.function_arn()),
                "remove that association, or set cdn_function = \"off\" and deploy `git publish cdn-function --print` with your own tooling",
            ))
        }
        _ => {}
    }
    let account = arn.split(':').nth(4).unwrap_or_default();
    let dist_arn = format!("arn:aws:cloudfront::{account}:distribution/{distribution}");
    check_distribution_owner(client, distribution, &dist_arn, &config, site).await?;
    items.retain(|a| *a.event_type() != EventType::ViewerRequest);
    items.push(
        FunctionAssociation::builder()
            .function_arn(arn)
            .event_type(EventType::ViewerRequest)
            .build()
            .map_err(build_err)?,
    );
    let behaviour = config
        .default_cache_behavior
        .as_mut()
        .expect("checked above");
    behaviour.function_associations = Some(
        FunctionAssociations::builder()
            .quantity(items.len() as i32)
            .set_items(Some(items))
            .build()
            .map_err(build_err)?,
    );
    (client.update_distribution().id(distribution).if_match(etag))
        .distribution_config(config)
        .send()
        .await
        .map_err(|e| classify(&e, &what, None))?;
    Ok(true)
}

/// Refuse to change a distribution that is not this site's: one ListTagsForResource, only when the
/// association changes.
async fn check_distribution_owner(
    client: &Client,
    distribution: &str,
    dist_arn: &str,
    config: &DistributionConfig,
    site: &Site,
) -> Result<(), StoreError> {
    let what = format!("CloudFront distribution {distribution}");
    let tags = (client.list_tags_for_resource().resource(dist_arn))
        .send()
        .await
        .map_err(|e| classify(&e, &what, None))?;
    let tag = (tags.tags().map(|t| t.items()).unwrap_or_default().iter())
        .find(|t| t.key() == TAG_KEY)
        .map(|t| t.value().unwrap_or_default().to_string());
    let owner = tag.as_deref().map(|v| site.tag_owner(v));
    let serves_site = |c: &DistributionConfig| {
        (c.origins().map(|o| o.items()).unwrap_or_default().iter()).any(|o| {
            super::cloudfront::origin_is_bucket(o.domain_name(), &site.bucket)
                && o.origin_path().unwrap_or_default().trim_matches('/') == site.prefix
        })
    };
    match owner {
        Some(TagOwner::This) => Ok(()),
        Some(TagOwner::LegacyName) if serves_site(config) => Ok(()),
        Some(TagOwner::Other(v)) => Err(StoreError::failed(
            format!(
                "{what} belongs to another site (tag {TAG_KEY} = {v:?}); this site is {} ({TAG_KEY} = {:?})",
                site.describe(),
                site.tag_value()
            ),
            "name this site's own distribution in site.toml (`git publish setup` makes one), or set \
             cdn_function = \"off\"",
        )),
        _ => Err(StoreError::failed(
            format!(
                "{what} was not created or adopted by `git publish setup` for {} (no {TAG_KEY} tag naming \
                 it), so its viewer-request function is left alone",
                site.describe()
            ),
            format!(
                "run `git publish setup --adopt` (it shows the difference first), or tag the distribution \
                 {TAG_KEY} = \"{}\" yourself to let git-publish manage only its function",
                site.tag_value()
            ),
        )),
    }
}
