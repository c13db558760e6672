//! `git publish redirects`: the redirect table live on a target (from `[[redirects]]` and from renamed
//! pages, as the state recorded it), one line per moved page with every URL it answers, or `--json`. It reads
//! the state only; it never writes. URLs and targets are shown through [`quote_path`] (a site path or a
//! record can hold anything).
//!
//! `git publish cdn-function` reports what the managed function serves against CloudFront's limits (the
//! redirects, the previews, the code's and the KeyValueStore's sizes: [`report`]); `--print` prints its code.

use serde::Serialize;

use crate::backends::backends;
use crate::error::{ExitCode, Result};
use crate::plan::invalidate::url_forms;
use crate::plan::redirects::{Origin, Redirect};
use crate::publish::Session;
use crate::state;
use crate::ui::quote_path;

/// One entry of `git publish redirects --json`.
#[derive(Debug, Serialize)]
pub struct Listed {
    /// Site path of the page that moved.
    pub from: String,
    /// Every URL that answers with the redirect.
    pub urls: Vec<String>,
    pub to: String,
    pub status: u16,
    pub origin: Origin,
}

pub async fn run(s: &Session, target: Option<&str>) -> Result<ExitCode> {
    let table = live_table(s, target).await?;
    let forms = &s.config.target(target)?.forms;
    let listed: Vec<Listed> = (table.into_iter())
        .map(|r| Listed {
            urls: url_forms(&r.from, forms),
            from: r.from,
            to: r.to,
            status: r.status,
            origin: r.origin,
        })
        .collect();
    if s.ui.json {
        s.ui.json(&listed);
        return Ok(ExitCode::Success);
    }
    if listed.is_empty() {
        s.ui.note("no redirects are live on this target");
    }
    for l in &listed {
        let how = match l.origin {
            Origin::Config => "site.toml",
            Origin::Rename => "renamed",
        };
        let urls: Vec<_> = l.urls.iter().map(|u| quote_path(u)).collect();
        s.ui.out(&format!(
            "{} → {} ({}, {how})",
            urls.join(", "),
            quote_path(&l.to),
            l.status
        ));
    }
    Ok(ExitCode::Success)
}

/// The redirect table the target's state records (empty when nothing is deployed).
pub async fn live_table(s: &Session, target: Option<&str>) -> Result<Vec<Redirect>> {
    let target = s.config.target(target)?;
    let backends = backends(target, false, &|n| s.ui.say(n)).await?;
    let (st, _) = state::read_for(backends.stores(), target).await?;
    Ok(st
        .and_then(|st| st.deployed)
        .map(|d| d.redirects)
        .unwrap_or_default())
}

/// The `--json` document of `git publish cdn-function`.
#[derive(Debug, Serialize)]
struct Report {
    name: String,
    managed: bool,
    /// "inline" (the table in the code) or "key-value-store".
    variant: &'static str,
    code_bytes: usize,
    max_code_bytes: usize,
    redirects: usize,
    redirect_urls: usize,
    /// The redirect table's bytes in the KeyValueStore (keys and values), its limit, and the room kept for
    /// the previews' password hashes.
    kvs_bytes: Option<usize>,
    max_kvs_bytes: usize,
    kvs_reserved_bytes: usize,
    previews: usize,
    password: bool,
    max_protected_previews: usize,
    /// The viewer-response function (`[targets.NAME.previews]`): its name and size.
    response: Option<(String, usize)>,
}

/// `git publish cdn-function`: the number of redirects and previews the target's function serves, and its
/// sizes against CloudFront's limits (10 KB of code; a KeyValueStore of 5 MB). A table past a limit fails
/// here as it fails a publish, naming the limit.
pub async fn report(s: &Session, target: Option<&str>) -> Result<ExitCode> {
    use crate::plan::cdn_function::{self as cf, previews};
    let table = live_table(s, target).await?;
    let t = s.config.target(target)?;
    let serving = crate::preview::serving(t);
    let g = cf::generate_for(&table, &t.forms, &serving)?;
    let previews_now = crate::publish::previews::preview_names(s, t).await?.len();
    let kvs_bytes = (g.kvs.as_ref()).map(|e| e.iter().map(|(k, v)| k.len() + v.len()).sum());
    let r = Report {
        name: t.cdn_function_name(),
        managed: t.manages_cdn_function(),
        variant: if g.kvs.is_some() {
            "key-value-store"
        } else {
            "inline"
        },
        code_bytes: g.code.len(),
        max_code_bytes: cf::MAX_CODE_BYTES,
        redirects: table.len(),
        redirect_urls: (table.iter())
            .map(|r| url_forms(&r.from, &t.forms).len())
            .sum(),
        kvs_bytes,
        max_kvs_bytes: cf::MAX_KVS_BYTES,
        kvs_reserved_bytes: if serving.password {
            previews::AUTH_RESERVE_BYTES
        } else {
            0
        },
        previews: previews_now,
        password: serving.password,
        max_protected_previews: previews::MAX_PROTECTED_PREVIEWS,
        response: (g.response.as_ref()).map(|c| (t.site().response_function_name(), c.len())),
    };
    if s.ui.json {
        s.ui.json(&r);
        return Ok(ExitCode::Success);
    }
    for line in report_lines(&r) {
        s.ui.out(&line);
    }
    Ok(ExitCode::Success)
}

fn report_lines(r: &Report) -> Vec<String> {
    let mut out = vec![format!(
        "function {}: {} of {} bytes of code{}",
        r.name,
        r.code_bytes,
        r.max_code_bytes,
        if r.managed {
            ""
        } else {
            " (cdn_function is not \"manage\": `--print` prints it for your own tooling)"
        }
    )];
    out.push(match r.kvs_bytes {
        None => format!(
            "redirects: {} ({} URLs), in the code (a KeyValueStore takes them past {} bytes of code)",
            r.redirects,
            r.redirect_urls,
            crate::plan::cdn_function::INLINE_MAX_BYTES
        ),
        Some(bytes) => format!(
            "redirects: {} ({} URLs), in the KeyValueStore {}: {bytes} of {} bytes{}",
            r.redirects,
            r.redirect_urls,
            r.name,
            r.max_kvs_bytes,
            match r.kvs_reserved_bytes {
                0 => String::new(),
                k => format!(" ({k} kept for the previews' password hashes)"),
            }
        ),
    });
    out.push(match r.password {
        false => format!("previews: {}", r.previews),
        true => format!(
            "previews: {}, with a password ({} at most: one hash each in the KeyValueStore)",
            r.previews, r.max_protected_previews
        ),
    });
    if let Some((name, bytes)) = &r.response {
        out.push(format!(
            "viewer-response function {name}: {bytes} of {} bytes of code (previews' X-Robots-Tag)",
            r.max_code_bytes
        ));
    }
    out
}

/// `git publish cdn-function --print`: the function for the target's live redirect table and URL forms.
/// A table too large for the code lives in a KeyValueStore: the code reads it there, and `--json` prints the
/// entries too (`{"name", "code", "kvs": {key: value}, "site": {"id", "tag"}}`), for deploying both with your
/// own tooling; `site.tag` is the `git-publish:site` tag that lets git-publish manage a distribution's
/// function without `setup --adopt`.
pub async fn print_function(s: &Session, target: Option<&str>) -> Result<ExitCode> {
    let table = live_table(s, target).await?;
    let t = s.config.target(target)?;
    let generated =
        crate::plan::cdn_function::generate_for(&table, &t.forms, &crate::preview::serving(t))?;
    if s.ui.json {
        let site = t.site();
        s.ui.json(&serde_json::json!({
            "name": t.cdn_function_name(),
            "code": generated.code,
            "kvs": generated.kvs,
            "response": generated.response.as_ref().map(|code| serde_json::json!({
                "name": site.response_function_name(),
                "code": code,
            })),
            "site": {
                "id": site.id(),
                "tag": { "key": crate::identity::TAG_KEY, "value": site.tag_value() },
                "comment": site.comment("directory indexes, pretty URLs and redirects"),
            },
        }));
        return Ok(ExitCode::Success);
    }
    if let Some(entries) = &generated.kvs {
        s.ui.note(&format!(
            "this code reads its {} redirect URLs from a KeyValueStore associated with the function: \
             `git publish cdn-function --print --json` prints them (key → \"status location\")",
            entries.len()
        ));
    }
    if generated.response.is_some() {
        s.ui.note(&format!(
            "[targets.{}.previews] adds a viewer-response function, {} (previews' X-Robots-Tag): \
             `git publish cdn-function --print --json` prints its code too (\"response\")",
            t.name,
            t.site().response_function_name()
        ));
    }
    s.ui.out(generated.code.trim_end());
    Ok(ExitCode::Success)
}
