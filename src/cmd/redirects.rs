//! `git publish redirects`: the redirect table live on a target (from `[[redirects]]` and from renamed
//! pages, as the state recorded it), one line per moved page with every URL it answers, or `--json`. It reads
//! the state only; it never writes. URLs and targets are shown through [`quote_path`] (a site path or a
//! record can hold anything).

use serde::Serialize;

use crate::error::{ExitCode, Result};
use crate::exec::backends::backends;
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
    let (st, _) = state::read_for(&backends, target).await?;
    Ok(st
        .and_then(|st| st.deployed)
        .map(|d| d.redirects)
        .unwrap_or_default())
}

/// `git publish cdn-function --print`: the function for the target's live redirect table and URL forms.
/// A table too large for the code lives in a KeyValueStore: the code reads it there, and `--json` prints the
/// entries too (`{"name", "code", "kvs": {key: value}, "site": {"id", "tag"}}`), for deploying both with your
/// own tooling; `site.tag` is the `git-publish:site` tag that lets git-publish manage a distribution's
/// function without `setup --adopt`.
pub async fn print_function(s: &Session, target: Option<&str>) -> Result<ExitCode> {
    let table = live_table(s, target).await?;
    let t = s.config.target(target)?;
    let generated = crate::plan::cdn_function::generate(&table, &t.forms)?;
    if s.ui.json {
        let site = t.site();
        s.ui.json(&serde_json::json!({
            "name": t.cdn_function_name(),
            "code": generated.code,
            "kvs": generated.kvs,
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
    s.ui.out(generated.code.trim_end());
    Ok(ExitCode::Success)
}
