//! `git publish log`: the deploy history recorded in the target (so every clone and CI job sees the same
//! one), printed newest first or as `--json`. It reads the state only; it never writes. Every field of the
//! record is shown through [`quote_path`]: a record is anyone's writing.

use serde::Serialize;

use crate::backends::backends;
use crate::error::{ExitCode, Result};
use crate::publish::Session;
use crate::state::{self, Deploy, Pending, State};
use crate::ui::quote_path;

pub async fn run(s: &Session, target: Option<&str>) -> Result<ExitCode> {
    let log = log(s, target).await?;
    if s.ui.json {
        s.ui.json(&log);
    } else {
        render_log(s, &log);
    }
    Ok(ExitCode::Success)
}

/// The `--json` document of `git publish log`.
#[derive(Debug, Serialize)]
pub struct Log {
    pub target: String,
    pub url: String,
    /// The live commit (entry 0 when the history is complete).
    pub live: Option<String>,
    pub pending: Option<Pending>,
    /// Newest first; `git publish rollback --steps N` publishes entry N.
    pub entries: Vec<Deploy>,
}

/// The deploy history recorded in the target (so every clone and CI job sees the same one).
pub async fn log(s: &Session, only: Option<&str>) -> Result<Log> {
    let target = s.config.target(only)?;
    let backends = backends(target, false, &|n| s.ui.say(n)).await?;
    let (st, _) = state::read_for(backends.stores(), target).await?;
    let st = st.unwrap_or_else(|| State::empty(&target.name));
    Ok(Log {
        target: target.name.clone(),
        url: backends.store.describe(),
        live: st.deployed.map(|d| d.commit),
        pending: st.pending,
        entries: st.history,
    })
}

pub fn render_log(s: &Session, log: &Log) {
    s.ui.out(&format!("{} ({})", log.target, log.url));
    if log.entries.is_empty() {
        s.ui.out("  no deploys recorded yet");
    }
    for (n, d) in log.entries.iter().enumerate() {
        let mark = if n == 0 && log.live.as_deref() == Some(d.commit.as_str()) {
            "  (live)"
        } else {
            ""
        };
        s.ui.out(&format!(
            "{n:>3}  {}  {}  by {}{mark}",
            quote_path(&d.at),
            s.repo.describe(&d.commit),
            quote_path(&d.by)
        ));
        let mut facts = vec![format!(
            "{} uploaded, {} deleted, {} invalidation paths",
            d.uploads, d.deletes, d.invalidation_paths
        )];
        if !d.invalidation_ids.is_empty() {
            let ids: Vec<_> = d.invalidation_ids.iter().map(|i| quote_path(i)).collect();
            facts.push(format!("invalidation {}", ids.join(", ")));
        }
        if let Some(src) = &d.source_commit {
            facts.push(format!(
                "built from {}{}",
                state::short(src),
                if d.dirty { " (dirty)" } else { "" }
            ));
        }
        if let Some(f) = &d.rollback_from {
            facts.push(format!("rollback from {}", state::short(f)));
        }
        s.ui.out(&format!("       {}", facts.join("; ")));
    }
    if let Some(p) = &log.pending {
        let what = if p.holder.is_some() {
            "in progress"
        } else {
            "FAILED"
        };
        s.ui.out(&format!(
            "  {what}: publish of {} started {}{}",
            state::short(&p.commit),
            quote_path(&p.started),
            p.error
                .as_deref()
                .map(|e| format!(" ({})", quote_path(e)))
                .unwrap_or_default()
        ));
    }
}
