//! What a preview needs of the managed CloudFront Function (`plan::cdn_function::previews`), done by `git
//! publish preview` before its first upload ([`before_publish`]) and by `preview rm` / `prune` once its
//! keys are gone ([`after_remove`]):
//!
//! - The site's function serves every preview; production's publish owns it (its record keeps what is
//!   live). A preview builds it as production's next publish would (production's redirect table from
//!   production's record, this site.toml's URL forms and preview settings); when its fingerprint is the
//!   one production's record keeps, it is live and nothing is sent. Otherwise, without a password, the
//!   preview says so and leaves it (production's `git publish` publishes it). With a password, the function
//!   must check it before the preview's files are there: unless the live code already does, it is checked
//!   (this site's function, store and distribution: read-only), then published and associated as
//!   production's publish does. So a branch whose site.toml lags production's never weakens what the live
//!   function does. Production's record is never written (its next publish finds the function as it would
//!   have made it, and sends no code).
//! - With a password (`previews.password_env` / `password_file`; never in site.toml): the password is read
//!   and a missing or empty one refused before anything is written, the number of protected previews is
//!   held within `previews::MAX_PROTECTED_PREVIEWS`, and the password's salted hash is written under
//!   `preview-auth:<name>` in the function's KeyValueStore (only when it differs). Removal deletes the key.

use std::path::PathBuf;

use crate::aws::{self, kvs};
use crate::backends::backends;
use crate::config::{Backend, Distribution, Target};
use crate::error::{Error, Result};
use crate::exec::StoreError;
use crate::plan::cdn_function::{self, previews};
use crate::publish::Session;
use crate::state;

/// Whether the target's previews go through a function git-publish manages.
fn managed(t: &Target) -> bool {
    t.manages_cdn_function()
        && !t.cdn.distributions.is_empty()
        && matches!(t.store.backend, Backend::S3 { .. })
}

/// A CloudFront error about the function or its store on `distribution`, as the user sees it.
fn cdn_err(distribution: &str, e: impl Into<crate::exec::CdnError>) -> Error {
    let e = e.into();
    let (message, hint) = (e.to_string(), e.hint().to_string());
    Error::Cdn {
        cdn: crate::aws::cloudfront::named(distribution),
        message,
        hint: if hint.is_empty() {
            "fix the cause above and run the command again: what is done stays done".into()
        } else {
            hint
        },
    }
}

/// The target's first distribution, to name in a message about its function's store.
fn first(t: &Target) -> String {
    match t.cdn.distributions.first() {
        Some(Distribution::Id(id)) => id.clone(),
        _ => "auto".into(),
    }
}

/// The previews' password, when site.toml says where it is: the environment variable `password_env`, or
/// the file `password_file` (relative to the repository's root; one trailing line break dropped). Missing
/// or empty is refused: the preview would be published without the protection site.toml asks for.
pub fn password(s: &Session, t: &Target) -> Result<Option<String>> {
    let Some(p) = &t.previews else {
        return Ok(None);
    };
    let key = |k: &str| format!("targets.{}.previews.{k}", t.name);
    let (value, what) = match (&p.password_env, &p.password_file) {
        (Some(var), _) => (
            std::env::var_os(var).map(|v| v.into_string().map_err(|_| "is not UTF-8")),
            format!(
                "{} = {var:?}: the environment variable",
                key("password_env")
            ),
        ),
        (None, Some(file)) => {
            let path: PathBuf = s.repo.root().join(file);
            let read = match std::fs::read(&path) {
                Ok(bytes) => Some(String::from_utf8(bytes).map_err(|_| "is not UTF-8")),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    return Err(Error::Usage(format!(
                        "{} = {:?}: can't read {}: {e}",
                        key("password_file"),
                        file.display(),
                        path.display()
                    )))
                }
            };
            let trimmed = read.map(|r| r.map(|v| v.trim_end_matches(['\n', '\r']).to_string()));
            (
                trimmed,
                format!("{} = {:?}: the file", key("password_file"), file.display()),
            )
        }
        (None, None) => return Ok(None),
    };
    let why = match value {
        Some(Ok(v)) if !v.is_empty() => return Ok(Some(v)),
        Some(Ok(_)) => "is empty",
        Some(Err(why)) => why,
        None => "is missing",
    };
    Err(Error::Usage(format!(
        "{what} {why}, so the preview would be published without its password; nothing was written \
         (set it, or remove the password setting from [targets.{}.previews] in site.toml)",
        t.name
    )))
}

/// Before a preview's first upload: the password read (and refused when missing), the protected previews'
/// count checked, the function made live with the routing (when production's record says otherwise), and
/// the preview's password hash written. A dry run reads and says; it writes nothing.
pub async fn before_publish(s: &Session, t: &Target, name: &str, dry_run: bool) -> Result<()> {
    let password = password(s, t)?;
    if !managed(t) {
        if password.is_some() {
            return Err(Error::Usage(format!(
                "[targets.{}.previews] sets a password, and only the CloudFront Function git-publish \
                 manages can ask for it: set cdn_function = \"manage\" (with a distribution) in \
                 [targets.{}], or remove the password setting",
                t.name, t.name
            )));
        }
        return Ok(());
    }
    if password.is_some() {
        let others = super::list::preview_names(s, t).await?;
        if let Some(protected) = too_many_protected(&others, name) {
            return Err(Error::Usage(format!(
                "target {} would have {protected} previews with a password; the function's KeyValueStore keeps \
                 room for {}: remove some first (`git publish preview prune`, `preview rm NAME`); nothing was \
                 written",
                t.name,
                previews::MAX_PROTECTED_PREVIEWS
            )));
        }
    }
    let site = t.site();
    let stale = live_function(s, t).await?;
    let publish = match (&stale, &password) {
        (Some(f), Some(_)) => (!checks_passwords(t, f).await?).then_some(f),
        (Some(f), None) => {
            s.ui.note(&format!(
                "production's record says the CloudFront function {} was built from other settings than \
                 this site.toml's (or by an older git-publish): previews are served as it serves them, until \
                 `git publish` (production) publishes it",
                f.name
            ));
            None
        }
        (None, _) => None,
    };
    let auth = password.map(|p| {
        (
            previews::auth_key(name),
            previews::auth_value(&site, name, &p),
        )
    });
    if dry_run {
        if let Some(f) = publish {
            s.ui.note(&format!(
                "the CloudFront function {} can't check the previews' password: it would be published",
                f.name
            ));
        }
        if auth.is_some() {
            s.ui.note(&format!("preview {name}'s password hash would be written"));
        }
        return Ok(());
    }
    if let Some(f) = publish {
        ensure(s, t, f).await?;
    }
    if let Some((key, value)) = auth {
        write_hash(s, t, name, &key, &value).await?;
    }
    Ok(())
}

/// Write preview `name`'s password hash under `key` in the site's function's KeyValueStore (only when it
/// differs).
async fn write_hash(s: &Session, t: &Target, name: &str, key: &str, value: &str) -> Result<()> {
    let site = t.site();
    let sdk = aws::sdk_config(t).await;
    let cf = aws::cloudfront_client(&sdk);
    let arn = (kvs::find_store(&cf, &site.function_name(), &site).await)
        .map_err(|e| cdn_err(&first(t), e))?
        .ok_or_else(|| {
            cdn_err(
                &first(t),
                StoreError::failed(
                    format!(
                        "the KeyValueStore {} of the site's function is missing",
                        site.function_name()
                    ),
                    "`git publish --full` publishes the function and its store again",
                ),
            )
        })?;
    let wrote = (kvs::set_key(&aws::kvs_client(&sdk), &arn, key, Some(value)).await)
        .map_err(|e| cdn_err(&first(t), e))?;
    if wrote {
        s.ui.note(&format!("wrote preview {name}'s password hash ({key})"));
    }
    Ok(())
}

/// The number of protected previews once `name` is published beside `others`, when it is past the room the
/// KeyValueStore keeps for their hashes (`previews::MAX_PROTECTED_PREVIEWS`).
fn too_many_protected(others: &[String], name: &str) -> Option<usize> {
    let protected = others.len() + usize::from(!others.iter().any(|o| o == name));
    (protected > previews::MAX_PROTECTED_PREVIEWS).then_some(protected)
}

/// The site's function as production's next publish would build it, when it differs from the one
/// production's record says is live (None: that one is live, and serves what this site.toml says).
async fn live_function(s: &Session, t: &Target) -> Result<Option<crate::plan::Function>> {
    let ids: Option<Vec<String>> = (t.cdn.distributions.iter())
        .map(|d| match d {
            Distribution::Id(id) => Some(id.clone()),
            Distribution::Auto => None,
        })
        .collect();
    let b = backends(t, ids.is_none(), &|n| s.ui.say(n)).await?;
    let ids = ids.unwrap_or_else(|| b.cdns.iter().map(|(c, _)| c.id.clone()).collect());
    let (st, _) = state::read_for(b.stores(), t).await?;
    let deployed = st.and_then(|st| st.deployed);
    let table = (deployed.as_ref())
        .map(|d| d.redirects.clone())
        .unwrap_or_default();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let f = cdn_function::function(
        &t.site(),
        &table,
        &t.forms,
        &crate::preview::serving(t),
        &ids,
    )?;
    let recorded = deployed.as_ref().and_then(|d| d.function.as_deref());
    Ok((recorded != Some(f.fingerprint.as_str())).then_some(f))
}

/// Whether the live function already checks the previews' passwords (published by production, or by a
/// preview before): then a preview leaves it as it is, so that a branch whose site.toml differs from
/// production's never changes how every preview is served. One GetFunction.
async fn checks_passwords(t: &Target, f: &crate::plan::Function) -> Result<bool> {
    let sdk = aws::sdk_config(t).await;
    let code = (crate::aws::cdn_function::live_code(&aws::cloudfront_client(&sdk), &f.name).await)
        .map_err(|e| cdn_err(&first(t), e))?;
    Ok(code.is_some_and(|c| previews::checks_passwords(&c)))
}

/// Check the function on every distribution (read-only), then publish and associate it on each.
async fn ensure(s: &Session, t: &Target, f: &crate::plan::Function) -> Result<()> {
    let b = backends(t, true, &|n| s.ui.say(n)).await?;
    for (c, cdn) in &b.cdns {
        (crate::exec::check_function(cdn.as_ref(), f).await).map_err(|e| cdn_err(&c.id, e))?;
    }
    for (c, cdn) in &b.cdns {
        let changed =
            (crate::exec::ensure_function(cdn.as_ref(), f).await).map_err(|e| cdn_err(&c.id, e))?;
        if changed {
            s.ui.note(&format!(
                "published the CloudFront function {} on {} (the routing previews need)",
                f.name, c.id
            ));
        }
    }
    Ok(())
}

/// After a preview's keys are gone: its password hash too, when the site's function has a KeyValueStore
/// (whatever site.toml says now: a password set before leaves a key).
pub async fn after_remove(s: &Session, t: &Target, name: &str) -> Result<()> {
    if !managed(t) {
        return Ok(());
    }
    let site = t.site();
    let sdk = aws::sdk_config(t).await;
    let cf = aws::cloudfront_client(&sdk);
    let Some(arn) = (kvs::find_store(&cf, &site.function_name(), &site).await)
        .map_err(|e| cdn_err(&first(t), e))?
    else {
        return Ok(());
    };
    let key = previews::auth_key(name);
    let removed = (kvs::set_key(&aws::kvs_client(&sdk), &arn, &key, None).await)
        .map_err(|e| cdn_err(&first(t), e))?;
    if removed {
        s.ui.note(&format!("removed preview {name}'s password hash ({key})"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The room kept for the previews' hashes is a limit: the 1,001st protected preview is refused before
    /// anything is written; republishing one of the 1,000 is not.
    #[test]
    fn protected_previews_stay_within_the_room_kept_for_them() {
        let full: Vec<String> = (0..previews::MAX_PROTECTED_PREVIEWS)
            .map(|i| format!("p{i}"))
            .collect();
        assert_eq!(too_many_protected(&full, "new"), Some(1001));
        assert_eq!(too_many_protected(&full, "p7"), None);
        assert_eq!(too_many_protected(&full[1..], "new"), None);
    }
}
