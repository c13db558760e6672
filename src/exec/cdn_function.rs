//! The CloudFront Function a target manages (`cdn_function = "manage"`): publish its code with
//! Create/Update/PublishFunction (each with the ETag it read: If-Match), only when the live code (or the
//! KeyValueStore it reads) differs, and associate it with the distribution's default cache behaviour as the
//! viewer-request function (GetDistributionConfig, then UpdateDistribution with If-Match) when it is not
//! already. A function whose redirect table is in a KeyValueStore gets the store and its keys first
//! ([`super::kvs`]) and the store in FunctionConfig.KeyValueStoreAssociations.
//!
//! The code and the table come from the plan (`plan::cdn_function`); this module decides nothing about them.
//! It refuses to replace a viewer-request function that is not its own (someone else's IaC owns that
//! association). A KeyValueStore the function no longer reads is left in place (its keys as they were).

use aws_sdk_cloudfront::primitives::Blob;
use aws_sdk_cloudfront::types::{
    EventType, FunctionAssociation, FunctionAssociations, FunctionConfig, FunctionRuntime,
    FunctionStage, KeyValueStoreAssociation, KeyValueStoreAssociations,
};
use aws_sdk_cloudfront::Client;

use super::aws::classify;
use super::StoreError;
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
            let arn = super::kvs::ensure_store(client, &k.name).await?;
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
    let live_store = described.as_ref().and_then(|(_, s)| s.clone());
    let published = live_code.as_deref() != Some(code.as_bytes()) || live_store != store;
    if published {
        publish(client, name, code, store.as_deref()).await?;
        described = describe_live(client, name).await?;
    }
    let (arn, _) = described
        .ok_or_else(|| StoreError::failed(format!("{what}: no ARN after publishing"), ""))?;
    let associated = associate(client, distribution, &arn).await?;
    Ok(Ensured {
        published,
        associated,
    })
}

/// The live stage of function `name` (None: there is none): its ARN and the KeyValueStore it reads.
pub(super) async fn describe_live(
    client: &Client,
    name: &str,
) -> Result<Option<(String, Option<String>)>, StoreError> {
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
    let store = (summary.function_config())
        .and_then(|c| c.key_value_store_associations())
        .and_then(|a| a.items().first())
        .map(|a| a.key_value_store_arn().to_string());
    Ok(Some((arn, store)))
}

/// Create the function (or update its development stage, If-Match its ETag), then publish it (If-Match).
/// `store`: the KeyValueStore it reads (FunctionConfig.KeyValueStoreAssociations); none removes one.
pub(super) async fn publish(
    client: &Client,
    name: &str,
    code: &str,
    store: Option<&str>,
) -> Result<(), StoreError> {
    let what = format!("CloudFront function {name}");
    let mut config = FunctionConfig::builder()
        .comment("git-publish: directory indexes, pretty URLs and redirects")
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

/// Make `arn` the viewer-request function of the default cache behaviour; `false` when it already is.
async fn associate(client: &Client, distribution: &str, arn: &str) -> Result<bool, StoreError> {
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
        .as_mut()
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
    items.retain(|a| *a.event_type() != EventType::ViewerRequest);
    items.push(
        FunctionAssociation::builder()
            .function_arn(arn)
            .event_type(EventType::ViewerRequest)
            .build()
            .map_err(build_err)?,
    );
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
