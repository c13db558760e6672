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

use super::classify;
use super::ownership::{check_owner, missing};
use crate::exec::StoreError;
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

fn build_err(e: aws_sdk_cloudfront::error::BuildError) -> StoreError {
    StoreError::failed(e.to_string(), "")
}

/// What the viewer-request function's comment says it does (after the site's mark).
const REQUEST_COMMENT: &str = "directory indexes, pretty URLs and redirects";
/// What the viewer-response function's comment says it does.
const RESPONSE_COMMENT: &str = "noindex for branch previews";

/// Publish `f` if its live code (or the KeyValueStore it reads) differs, then make sure `distribution` runs
/// it (and its viewer-response function, or none of this site's). A function whose table is in a
/// KeyValueStore gets the store (created when missing) and its keys (only the difference, through `kvs`)
/// first, so that the new code finds them.
pub async fn ensure(
    client: &Client,
    kvs: Option<&aws_sdk_cloudfrontkeyvaluestore::Client>,
    distribution: &str,
    f: &Function,
) -> Result<Ensured, StoreError> {
    let what = format!("CloudFront function {}", f.name);
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
    let (mut published, live) =
        publish_if_changed(client, &f.site, &Own::request(f), store.as_deref()).await?;
    let response = match &f.response {
        Some(r) => {
            let own = Own::response(&r.name, &r.code);
            let (changed, live) = publish_if_changed(client, &f.site, &own, None).await?;
            published |= changed;
            Some(live.arn)
        }
        None => None,
    };
    let wants = Wants {
        request: &live.arn,
        response: response.as_deref(),
        response_name: &f.site.response_function_name(),
    };
    let associated = associate(client, distribution, &wants, &f.site).await?;
    Ok(Ensured {
        published,
        associated,
    })
}

/// A function of the site, as [`publish_if_changed`] makes it: its name, code and comment.
struct Own<'a> {
    name: &'a str,
    code: &'a str,
    comment: &'static str,
}

impl<'a> Own<'a> {
    fn request(f: &'a Function) -> Own<'a> {
        Own {
            name: &f.name,
            code: &f.code,
            comment: REQUEST_COMMENT,
        }
    }

    fn response(name: &'a str, code: &'a str) -> Own<'a> {
        Own {
            name,
            code,
            comment: RESPONSE_COMMENT,
        }
    }
}

/// Publish `own` if its live code (or the KeyValueStore it reads) differs: whether it did, and its live
/// stage.
async fn publish_if_changed(
    client: &Client,
    site: &Site,
    own: &Own<'_>,
    store: Option<&str>,
) -> Result<(bool, Live), StoreError> {
    let what = format!("CloudFront function {}", own.name);
    let live_code = live_code(client, own.name).await?;
    let mut described = describe_live(client, own.name).await?;
    if let Some(live) = &described {
        check_owner(&what, &live.comment, site)?;
    }
    let live_store = described.as_ref().and_then(|l| l.store.clone());
    let published = live_code.as_deref() != Some(own.code) || live_store.as_deref() != store;
    if published {
        publish_named(client, site, own, store, false).await?;
        described = describe_live(client, own.name).await?;
    }
    let live = described
        .ok_or_else(|| StoreError::failed(format!("{what}: no ARN after publishing"), ""))?;
    Ok((published, live))
}

/// Whether [`ensure`] may do what it would, before anything is written: the live functions of those names
/// (if any) are this site's, no other tool's function runs where this site's would go, and the distribution
/// is this site's when its functions would change (the store is checked by [`ensure`], which creates it).
/// Read-only: DescribeFunction, and GetDistribution with ListTagsForResource when an association changes.
pub async fn check(client: &Client, distribution: &str, f: &Function) -> Result<(), StoreError> {
    let mut arns = Vec::new();
    let response = f.response.as_ref().map(|r| r.name.as_str());
    for name in std::iter::once(f.name.as_str()).chain(response) {
        let what = format!("CloudFront function {name}");
        let live = describe_live(client, name).await?;
        if let Some(l) = &live {
            check_owner(&what, &l.comment, &f.site)?;
        }
        // A function not made yet gets an ARN no association has.
        arns.push(live.map_or_else(|| format!("(new):function/{name}"), |l| l.arn));
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
    let items = (config.default_cache_behavior())
        .and_then(|b| b.function_associations())
        .map(|f| f.items())
        .unwrap_or_default();
    let wants = Wants {
        request: &arns[0],
        response: arns.get(1).map(String::as_str),
        response_name: &f.site.response_function_name(),
    };
    if associations_after(items, &wants, &dist_what)?.is_none() {
        return Ok(());
    }
    check_distribution_owner(client, distribution, d.arn(), config, &f.site).await
}

/// The live code of function `name` (None: there is none). One GetFunction.
pub async fn live_code(client: &Client, name: &str) -> Result<Option<String>, StoreError> {
    let what = format!("CloudFront function {name}");
    let live = (client.get_function().name(name).stage(FunctionStage::Live))
        .send()
        .await;
    match live {
        Ok(out) => Ok(out
            .function_code()
            .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())),
        Err(e) if missing(&e, |s| s.is_no_such_function_exists()) => Ok(None),
        Err(e) => Err(classify(&e, &what, None)),
    }
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

/// The site's viewer-request function (named [`Site::function_name`]) with `code`: created, or its
/// development stage updated (If-Match its ETag), then published (If-Match). `store`: the KeyValueStore it
/// reads (FunctionConfig.KeyValueStoreAssociations); none removes one. `adopt`: a function of this name
/// whose comment does not carry the site's mark is taken over (setup); otherwise it is refused.
pub(super) async fn publish_as(
    client: &Client,
    site: &Site,
    code: &str,
    store: Option<&str>,
    adopt: bool,
) -> Result<(), StoreError> {
    let own = Own {
        name: &site.function_name(),
        code,
        comment: REQUEST_COMMENT,
    };
    publish_named(client, site, &own, store, adopt).await
}

/// [`publish_as`] for either of the site's functions; its comment carries the site's mark.
async fn publish_named(
    client: &Client,
    site: &Site,
    own: &Own<'_>,
    store: Option<&str>,
    adopt: bool,
) -> Result<(), StoreError> {
    let (name, code) = (own.name, own.code);
    let what = format!("CloudFront function {name}");
    let mut config = FunctionConfig::builder()
        .comment(site.comment(own.comment))
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

/// The functions a distribution's default cache behaviour should run: this site's viewer-request function,
/// and its viewer-response function, or (None) none of this site's (`response_name`).
struct Wants<'a> {
    request: &'a str,
    response: Option<&'a str>,
    response_name: &'a str,
}

/// The default cache behaviour's function associations once `wants` holds; None when they already do. A
/// function of another tool where this site's would go (an ARN that is not a `git-publish-` function) is
/// refused: a distribution runs one function per event, and that one is someone else's.
fn associations_after(
    items: &[FunctionAssociation],
    wants: &Wants<'_>,
    what: &str,
) -> Result<Option<Vec<FunctionAssociation>>, StoreError> {
    let mut out = items.to_vec();
    let mut changed = false;
    let ours = format!(":function/{}", wants.response_name);
    for (event, want, label) in [
        (EventType::ViewerRequest, Some(wants.request), "requests"),
        (EventType::ViewerResponse, wants.response, "responses"),
    ] {
        let current =
            (out.iter().find(|a| *a.event_type() == event)).map(|a| a.function_arn().to_string());
        match (current.as_deref(), want) {
            (Some(c), Some(w)) if c == w => {}
            (Some(c), Some(_)) if !c.contains(":function/git-publish-") => {
                let hint = match event {
                    EventType::ViewerRequest => "remove that association, or set cdn_function = \"off\" and deploy `git publish cdn-function --print` with your own tooling",
                    _ => "remove that association, or remove [targets.NAME.previews] from site.toml (the viewer-response function that marks previews noindex comes with it)",
                };
                return Err(StoreError::failed(
                    format!("{what} already runs {c} on viewer {label}"),
                    hint,
                ));
            }
            (_, Some(w)) => {
                out.retain(|a| *a.event_type() != event);
                out.push(
                    FunctionAssociation::builder()
                        .function_arn(w)
                        .event_type(event)
                        .build()
                        .map_err(build_err)?,
                );
                changed = true;
            }
            (Some(c), None) if c.ends_with(&ours) => {
                out.retain(|a| *a.event_type() != event);
                changed = true;
            }
            (_, None) => {}
        }
    }
    Ok(changed.then_some(out))
}

/// Make the default cache behaviour run `wants`; `false` when it already does. The distribution is changed
/// only when it is this site's: tagged `git-publish:site` with the site's value (or, tagged before tags
/// carried the id, with the target's name and serving the site's bucket and prefix).
async fn associate(
    client: &Client,
    distribution: &str,
    wants: &Wants<'_>,
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
    let items: Vec<FunctionAssociation> = (behaviour.function_associations.as_ref())
        .map(|f| f.items().to_vec())
        .unwrap_or_default();
    let Some(items) = associations_after(&items, wants, &what)? else {
        return Ok(false);
    };
    let account = wants.request.split(':').nth(4).unwrap_or_default();
    let dist_arn = format!("arn:aws:cloudfront::{account}:distribution/{distribution}");
    check_distribution_owner(client, distribution, &dist_arn, &config, site).await?;
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
            super::ownership::origin_is_bucket(o.domain_name(), &site.bucket)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn assoc(event: EventType, arn: &str) -> FunctionAssociation {
        FunctionAssociation::builder()
            .function_arn(arn)
            .event_type(event)
            .build()
            .unwrap()
    }

    fn described(items: &[FunctionAssociation]) -> Vec<String> {
        let mut out: Vec<String> = (items.iter())
            .map(|a| format!("{} {}", a.event_type().as_str(), a.function_arn()))
            .collect();
        out.sort();
        out
    }

    const REQ: &str = "arn:aws:cloudfront::1:function/git-publish-p-blog-0a1b2c3d";
    const RESP: &str = "arn:aws:cloudfront::1:function/git-publish-p-blog-response-0a1b2c3d";

    /// The viewer-request and viewer-response associations after `ensure`: added, kept, replaced when they
    /// are another git-publish function, this site's viewer-response function taken off without
    /// `[targets.NAME.previews]`, and another tool's function refused (before anything is written, by
    /// `check`) whichever event it runs on.
    #[test]
    fn associations_follow_the_site_functions_and_leave_others_alone() {
        let wants = |response: Option<&'static str>| Wants {
            request: REQ,
            response,
            response_name: "git-publish-p-blog-response-0a1b2c3d",
        };
        let after = |items: &[FunctionAssociation], w: &Wants<'_>| {
            associations_after(items, w, "CloudFront distribution E1")
                .map(|o| o.map(|items| described(&items)))
        };
        let req = assoc(EventType::ViewerRequest, REQ);
        let resp = assoc(EventType::ViewerResponse, RESP);
        // Nothing yet: the request function; with previews, both.
        assert_eq!(
            after(&[], &wants(None)).unwrap(),
            Some(vec![format!("viewer-request {REQ}")])
        );
        assert_eq!(
            after(&[], &wants(Some(RESP))).unwrap(),
            Some(vec![
                format!("viewer-request {REQ}"),
                format!("viewer-response {RESP}")
            ])
        );
        // Already so: nothing to change.
        assert_eq!(
            after(std::slice::from_ref(&req), &wants(None)).unwrap(),
            None
        );
        let both = [req.clone(), resp.clone()];
        assert_eq!(after(&both, &wants(Some(RESP))).unwrap(), None);
        // Previews' table removed: this site's viewer-response function comes off.
        assert_eq!(
            after(&both, &wants(None)).unwrap(),
            Some(vec![format!("viewer-request {REQ}")])
        );
        // Another site's git-publish function is replaced (the distribution's tag decides whose it is).
        let other = "arn:aws:cloudfront::1:function/git-publish-q-blog-99999999";
        let replaced = after(&[assoc(EventType::ViewerRequest, other)], &wants(None));
        assert_eq!(
            replaced.unwrap(),
            Some(vec![format!("viewer-request {REQ}")])
        );
        // Another tool's viewer-response function stays, and stays alone without previews.
        let theirs = "arn:aws:cloudfront::1:function/security-headers";
        let with_theirs = [req.clone(), assoc(EventType::ViewerResponse, theirs)];
        assert_eq!(after(&with_theirs, &wants(None)).unwrap(), None);
        let e = after(&with_theirs, &wants(Some(RESP)))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(
                "already runs arn:aws:cloudfront::1:function/security-headers on viewer responses"
            ),
            "{e}"
        );
        let e = after(&[assoc(EventType::ViewerRequest, theirs)], &wants(None))
            .unwrap_err()
            .to_string();
        assert!(e.contains("on viewer requests"), "{e}");
    }
}
