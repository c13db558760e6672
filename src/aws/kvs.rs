//! The CloudFront KeyValueStore a managed function reads its redirect table from, when the table is too
//! large for the function's code (`plan::cdn_function`).
//!
//! Owns two things: the store itself, through the CloudFront API ([`ensure_store`]: DescribeKeyValueStore by
//! name, CreateKeyValueStore when there is none, waiting until it is READY; [`find_store`] only looks), and
//! its keys, through the KeyValueStore data API (`cloudfront-keyvaluestore`, [`sync`]): DescribeKeyValueStore
//! for its ETag, ListKeys for what it holds, and UpdateKeys (If-Match) with only the difference, in batches
//! within the API's limits ([`batches`]). The entries come from the plan, which checked them against the
//! store's limits; this module decides nothing about them.
//!
//! The store holds two kinds of keys: the redirect table's (URL paths, `/…`), which [`sync`] alone manages,
//! and the previews' password hashes (`preview-auth:<name>`), which `git publish preview` writes and
//! removes one at a time ([`set_key`]) and [`sync`] never touches.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudfrontkeyvaluestore::types::{DeleteKeyRequestListItem, PutKeyRequestListItem};

use super::classify;
use super::ownership::{check_owner, missing};
use crate::exec::StoreError;
use crate::identity::Site;
use crate::plan::cdn_function::previews::is_redirect_key;

/// UpdateKeys takes at most 50 puts and deletes together, and 3 MB of payload.
pub const MAX_KEYS_PER_UPDATE: usize = 50;
/// Bytes of keys and values in one UpdateKeys, below its 3 MB payload (the JSON around them included).
pub const MAX_BYTES_PER_UPDATE: usize = 3_000_000 - 64 * MAX_KEYS_PER_UPDATE;

/// How long a new store may take to become READY.
const READY_WAIT: Duration = Duration::from_secs(60);

/// One UpdateKeys request: keys to put (with their values) and keys to delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    pub puts: Vec<(String, String)>,
    pub deletes: Vec<String>,
}

/// What [`sync`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Synced {
    pub puts: usize,
    pub deletes: usize,
    /// UpdateKeys requests sent.
    pub requests: usize,
}

/// The UpdateKeys batches that turn `have` into `want`: a put for each new or changed key, a delete for
/// each key `want` lacks; each batch within [`MAX_KEYS_PER_UPDATE`] and [`MAX_BYTES_PER_UPDATE`]. Puts
/// come first, so that the keys a new table adds are there before the keys it drops go.
pub fn batches(have: &BTreeMap<String, String>, want: &BTreeMap<String, String>) -> Vec<Batch> {
    let puts = (want.iter()).filter(|(k, v)| have.get(*k) != Some(*v));
    let deletes = have.keys().filter(|k| !want.contains_key(*k));
    let mut out: Vec<Batch> = Vec::new();
    let mut bytes = 0;
    let mut room = |out: &mut Vec<Batch>, size: usize| {
        let full = out.last().is_none_or(|b| {
            b.puts.len() + b.deletes.len() >= MAX_KEYS_PER_UPDATE
                || bytes + size > MAX_BYTES_PER_UPDATE
        });
        if full {
            out.push(Batch::default());
            bytes = 0;
        }
        bytes += size;
    };
    for (k, v) in puts {
        room(&mut out, k.len() + v.len());
        out.last_mut()
            .expect("room made")
            .puts
            .push((k.clone(), v.clone()));
    }
    for k in deletes {
        room(&mut out, k.len());
        out.last_mut().expect("room made").deletes.push(k.clone());
    }
    out
}

/// The ARN of the KeyValueStore `name`, created when there is none (its comment carries `site`'s mark), once
/// it is READY. A store of that name that is not `site`'s is left alone (its keys would be another site's).
pub async fn ensure_store(
    cf: &aws_sdk_cloudfront::Client,
    name: &str,
    site: &Site,
) -> Result<String, StoreError> {
    let what = format!("CloudFront KeyValueStore {name}");
    let waited = std::time::Instant::now();
    loop {
        let described = cf.describe_key_value_store().name(name).send().await;
        let store = match described {
            Ok(d) => d.key_value_store,
            Err(e) if missing(&e, |s| s.is_entity_not_found()) => create(cf, name, site).await?,
            Err(e) => return Err(classify(&e, &what, None)),
        }
        .ok_or_else(|| StoreError::failed(format!("{what}: empty answer"), ""))?;
        check_owner(&what, store.comment(), site)?;
        let status = store.status().unwrap_or("READY");
        if status.eq_ignore_ascii_case("READY") {
            return Ok(store.arn().to_string());
        }
        if waited.elapsed() > READY_WAIT || status.eq_ignore_ascii_case("PROVISIONING_FAILED") {
            return Err(StoreError::failed(
                format!("{what} is {status}, not READY"),
                "check the store in the CloudFront console (Functions, KeyValueStores); delete it to let the next publish create it again",
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// CreateKeyValueStore; one created meanwhile by another publisher is described instead.
async fn create(
    cf: &aws_sdk_cloudfront::Client,
    name: &str,
    site: &Site,
) -> Result<Option<aws_sdk_cloudfront::types::KeyValueStore>, StoreError> {
    let what = format!("CloudFront KeyValueStore {name}");
    let created = (cf.create_key_value_store().name(name))
        .comment(site.comment("the redirect table of the function of the same name"))
        .send()
        .await;
    match created {
        Ok(c) => Ok(c.key_value_store),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_entity_already_exists()) =>
        {
            let d = (cf.describe_key_value_store().name(name).send().await)
                .map_err(|e| classify(&e, &what, None))?;
            Ok(d.key_value_store)
        }
        Err(e) => Err(classify(&e, &what, None)),
    }
}

/// Make the redirect keys of the store `arn` be `want`: list what it holds, then send only the difference,
/// each batch with the ETag the previous one returned (If-Match). Keys that are not a redirect's (the
/// previews' passwords) are left as they are.
pub async fn sync(
    client: &aws_sdk_cloudfrontkeyvaluestore::Client,
    arn: &str,
    want: &BTreeMap<String, String>,
) -> Result<Synced, StoreError> {
    let what = format!("CloudFront KeyValueStore {arn}");
    let described = (client.describe_key_value_store().kvs_arn(arn).send().await)
        .map_err(|e| classify(&e, &what, None))?;
    let mut etag = described.e_tag;
    let mut have = list(client, arn).await?;
    have.retain(|k, _| is_redirect_key(k));
    let mut synced = Synced::default();
    for b in batches(&have, want) {
        let puts = (b.puts.iter())
            .map(|(k, v)| PutKeyRequestListItem::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::failed(e.to_string(), ""))?;
        let deletes = (b.deletes.iter())
            .map(|k| DeleteKeyRequestListItem::builder().key(k).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::failed(e.to_string(), ""))?;
        let updated = (client.update_keys().kvs_arn(arn).if_match(&etag))
            .set_puts((!puts.is_empty()).then_some(puts))
            .set_deletes((!deletes.is_empty()).then_some(deletes))
            .send()
            .await
            .map_err(|e| classify(&e, &what, None))?;
        etag = updated.e_tag;
        synced.puts += b.puts.len();
        synced.deletes += b.deletes.len();
        synced.requests += 1;
    }
    Ok(synced)
}

/// The ARN of the KeyValueStore `name` when there is one, and it is `site`'s (one of that name that is not
/// is refused: its keys would be another site's). Never creates one.
pub async fn find_store(
    cf: &aws_sdk_cloudfront::Client,
    name: &str,
    site: &Site,
) -> Result<Option<String>, StoreError> {
    let what = format!("CloudFront KeyValueStore {name}");
    let store = match cf.describe_key_value_store().name(name).send().await {
        Ok(d) => d.key_value_store,
        Err(e) if missing(&e, |s| s.is_entity_not_found()) => return Ok(None),
        Err(e) => return Err(classify(&e, &what, None)),
    };
    let Some(store) = store else {
        return Ok(None);
    };
    check_owner(&what, store.comment(), site)?;
    Ok(Some(store.arn().to_string()))
}

/// Make key `key` of the store `arn` hold `value` (None: be absent): GetKey, then, only when it differs,
/// one UpdateKeys with the store's ETag (If-Match). Returns whether it wrote.
pub async fn set_key(
    client: &aws_sdk_cloudfrontkeyvaluestore::Client,
    arn: &str,
    key: &str,
    value: Option<&str>,
) -> Result<bool, StoreError> {
    let what = format!("CloudFront KeyValueStore {arn}");
    let have = match client.get_key().kvs_arn(arn).key(key).send().await {
        Ok(got) => Some(got.value),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => None,
        Err(e) => return Err(classify(&e, &what, None)),
    };
    if have.as_deref() == value {
        return Ok(false);
    }
    let described = (client.describe_key_value_store().kvs_arn(arn).send().await)
        .map_err(|e| classify(&e, &what, None))?;
    let update = client.update_keys().kvs_arn(arn).if_match(described.e_tag);
    let update = match value {
        Some(v) => update.puts(
            PutKeyRequestListItem::builder()
                .key(key)
                .value(v)
                .build()
                .map_err(|e| StoreError::failed(e.to_string(), ""))?,
        ),
        None => update.deletes(
            DeleteKeyRequestListItem::builder()
                .key(key)
                .build()
                .map_err(|e| StoreError::failed(e.to_string(), ""))?,
        ),
    };
    update.send().await.map_err(|e| classify(&e, &what, None))?;
    Ok(true)
}

/// Every key of the store and its value (ListKeys, all pages).
async fn list(
    client: &aws_sdk_cloudfrontkeyvaluestore::Client,
    arn: &str,
) -> Result<BTreeMap<String, String>, StoreError> {
    let what = format!("CloudFront KeyValueStore {arn}");
    let mut out = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let page = (client
            .list_keys()
            .kvs_arn(arn)
            .set_next_token(token.clone()))
        .send()
        .await
        .map_err(|e| classify(&e, &what, None))?;
        for item in page.items() {
            out.insert(item.key().to_string(), item.value().to_string());
        }
        match page.next_token() {
            Some(t) if !t.is_empty() && Some(t) != token.as_deref() => token = Some(t.to_string()),
            _ => return Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        (pairs.iter())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Only the difference is sent: new and changed keys put, dropped keys deleted, equal keys left alone.
    #[test]
    fn batches_send_only_the_difference() {
        let have = map(&[("/a/", "301 /x/"), ("/b/", "301 /y/"), ("/c/", "302 /z/")]);
        let want = map(&[("/a/", "301 /x/"), ("/b/", "301 /moved/"), ("/d/", "301 /")]);
        assert_eq!(
            batches(&have, &want),
            vec![Batch {
                puts: vec![
                    ("/b/".into(), "301 /moved/".into()),
                    ("/d/".into(), "301 /".into())
                ],
                deletes: vec!["/c/".into()],
            }]
        );
        assert!(batches(&want, &want).is_empty());
    }

    /// At most 50 keys and about 3 MB a request; puts before deletes.
    #[test]
    fn batches_stay_within_update_keys_limits() {
        let have: BTreeMap<String, String> = (0..30)
            .map(|i| (format!("/old/{i}/"), "301 /".into()))
            .collect();
        let want: BTreeMap<String, String> = (0..120)
            .map(|i| (format!("/new/{i:03}/"), "301 /".into()))
            .collect();
        let b = batches(&have, &want);
        let sizes: Vec<(usize, usize)> =
            b.iter().map(|b| (b.puts.len(), b.deletes.len())).collect();
        assert_eq!(sizes, vec![(50, 0), (50, 0), (20, 30)]);

        let big = "v".repeat(1000);
        let want: BTreeMap<String, String> = (0..6000)
            .map(|i| (format!("/{i:0500}"), big.clone()))
            .collect();
        let b = batches(&BTreeMap::new(), &want);
        assert_eq!(b.len(), 120);
        for batch in &b {
            let bytes: usize = batch.puts.iter().map(|(k, v)| k.len() + v.len()).sum();
            assert!(batch.puts.len() <= MAX_KEYS_PER_UPDATE && bytes <= MAX_BYTES_PER_UPDATE);
        }
    }
}
