//! A target's previews from the outside, for `git publish preview` and the hooks that publish on push: a
//! preview's URL ([`url_of`]) and removing a preview ([`remove`]: `preview rm`, `prune`, a branch deleted on
//! the remote). Removal claims the preview's record, deletes exactly the keys under its prefix, invalidates
//! its directory (one wildcard), then deletes the record: a removal killed half-way is finished by running it
//! again. Nothing here writes, deletes or invalidates any file of production. What a preview needs of the
//! managed function (and a protected preview's password hash) is `serving.rs`'s: [`before_publish`] runs
//! before a preview's first upload, from the command and from the hooks alike. (Publishing a preview is the
//! pipeline's, with `PublishOpts::preview`; what it reads of production is `preview.rs`'s.)

use crate::backends::{backends, Backends};
use crate::config::{Distribution, Target};
use crate::error::{Error, Result};
use crate::preview;
use crate::quote::quote_path;
use crate::state::{self, Pending};

use super::session::Session;

mod list;
mod serving;
pub use list::{names_in, preview_names, records_target};
pub use serving::{before_publish, password};

/// The preview's URL: with `previews.domain`, its subdomain; else through the distribution's name (the
/// site's `domain`, or the distribution's own `*.cloudfront.net` name); else where its files are.
pub async fn url_of(t: &Target, name: &str) -> String {
    if t.previews.as_ref().is_some_and(|p| p.domain.is_some()) {
        return preview::url(t, name, None);
    }
    let host = match (&t.domain, t.cdn.distributions.first()) {
        (Some(d), _) => Some(d.clone()),
        (None, Some(Distribution::Id(id))) => distribution_domain(t, id).await,
        _ => None,
    };
    preview::url(t, name, host.as_deref())
}

async fn distribution_domain(t: &Target, id: &str) -> Option<String> {
    let sdk = crate::aws::sdk_config(t).await;
    let cf = crate::aws::cloudfront_client(&sdk);
    crate::aws::cloudfront::get(&cf, id)
        .await
        .ok()
        .map(|d| d.domain)
}

// ---- removal --------------------------------------------------------------------------------------------

/// Remove preview `name` of `t`: claim its record, delete its keys, invalidate its directory, delete the
/// record. With `branch`, only when the preview is that branch's (its record says so; a preview named by hand
/// for another branch is left alone, and said so). Returns the number of keys deleted, or `None` when there
/// is no such preview (of that branch) to remove.
pub async fn remove(
    s: &Session,
    t: &Target,
    name: &str,
    branch: Option<&str>,
    dry_run: bool,
) -> Result<Option<usize>> {
    let p = preview::derive(t, name);
    let b = backends(&p, !dry_run, &|n| s.ui.say(n)).await?;
    let key = state::key_of(&p);
    let (current, etag) = state::read(b.state_store(), &key, &p.name).await?;
    let Some(current) = current else {
        return Ok(None);
    };
    let owner = (current.deployed.as_ref())
        .and_then(|d| d.preview.as_ref())
        .map(|m| m.branch.as_str());
    if let (Some(branch), Some(owner)) = (branch, owner) {
        if owner != branch {
            s.ui.note(&format!(
                "preview {name} is branch {}'s, not {}'s: left alone",
                quote_path(owner),
                quote_path(branch)
            ));
            return Ok(None);
        }
    }
    state::check_pending(
        &p.name,
        Some(&current),
        p.publish.claim_lease,
        false,
        &s.clock,
    )?;
    let prefix = format!("{}/", preview::key_prefix(t, name));
    let keys = match &p.store.backend {
        crate::config::Backend::Local { .. } => b.store.list("").await,
        _ => b.store.list(&prefix).await,
    }
    .map_err(|e| state::store_err(&p.name, e))?;
    if dry_run {
        s.ui.out(&format!(
            "would remove preview {name}: {} keys under {}, and its record",
            keys.len(),
            preview::url(t, name, None)
        ));
        return Ok(Some(keys.len()));
    }
    let me = state::Holder::me(&s.clock);
    let pending = Pending {
        commit: current
            .deployed
            .as_ref()
            .map(|d| d.commit.clone())
            .unwrap_or_default(),
        tree: String::new(),
        base: None,
        started: s.clock.rfc3339(),
        holder: Some(me),
        error: Some("removing the preview".into()),
    };
    let (_, claim_etag) = state::claim(
        b.state_store(),
        &key,
        &p.name,
        Some(&current),
        etag.as_deref(),
        pending,
    )
    .await?;
    delete_all(&b, &p, &keys).await?;
    invalidate_preview(s, &b, &p).await?;
    serving::after_remove(s, t, name).await?;
    let probe = state::probe_key(&key);
    (b.state_store().delete_batch(&[key.clone(), probe]).await)
        .map_err(|e| state::store_err(&p.name, e))?;
    tracing::debug!("removed {key} (claimed as {claim_etag})");
    s.ui.note(&format!(
        "removed preview {name}: {} keys and its record",
        keys.len()
    ));
    Ok(Some(keys.len()))
}

/// Delete `keys` in batches of as many as the store takes at once (per-key errors fail it).
async fn delete_all(b: &Backends, p: &Target, keys: &[String]) -> Result<()> {
    for chunk in keys.chunks(b.store.profile().max_keys_per_delete.max(1)) {
        (b.store.delete_batch(chunk).await).map_err(|e| state::store_err(&p.name, e))?;
    }
    Ok(())
}

/// The preview's whole directory, as each distribution serves it: one wildcard over it (never above it), or
/// everything the CDN cached where it has no wildcards ([`crate::plan::invalidate::whole_site`]).
async fn invalidate_preview(s: &Session, b: &Backends, p: &Target) -> Result<()> {
    for (c, cdn) in &b.cdns {
        let Some(root) = crate::plan::served_root(p.prefix(), &c.origin_path) else {
            continue;
        };
        let path = crate::plan::invalidate::whole_site(&root, &c.profile);
        let reference = format!("git-publish-rm-{}-{}", p.name, s.clock.rfc3339());
        let id = (cdn
            .invalidate(crate::exec::Batch {
                reference: &reference,
                addresses: std::slice::from_ref(&path),
            })
            .await)
            .map_err(|e| Error::Cdn {
                cdn: cdn.describe(),
                message: e.to_string(),
                hint: crate::exec::with_hint(
                    &e,
                    "run `git publish preview rm` again: what is already removed stays removed",
                ),
            })?;
        s.ui.note(&format!("invalidated {path} on {} ({id})", c.id));
    }
    Ok(())
}
