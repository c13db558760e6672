//! `git publish status`: per target, what is live (read from the target, or from the local mirror
//! `refs/publish/<target>` when the target can't be read), how it compares with what `git publish` would
//! publish now, and any publish left pending or failed. It reads only; it never writes.

use serde::Serialize;

use crate::backends::backends;
use crate::error::{Error, ExitCode, Result};
use crate::publish::{resolve_rev, Session};
use crate::state::{self, Deploy, Pending, State};
use crate::ui::quote_path;

pub async fn run(s: &Session, target: Option<&str>) -> Result<ExitCode> {
    let list = status(s, target).await?;
    if s.ui.json {
        s.ui.json(&list);
    } else {
        render_status(s, &list);
    }
    // A target whose record can't be read is not "up to date", whatever the mirror says.
    let unreadable: Vec<&TargetStatus> = list.iter().filter(|t| t.state_unreadable).collect();
    for t in &unreadable {
        crate::ui::stderr_line(&format!(
            "git-publish: error: {}: {}",
            t.target,
            t.error.as_deref().unwrap_or("the state can't be read")
        ));
        crate::ui::stderr_line(&format!("  hint: replace it with `git publish --target {} --since REV --force-state` (or `--full --force-state`); its bytes are kept beside it", t.target));
    }
    Ok(if unreadable.is_empty() {
        ExitCode::Success
    } else {
        ExitCode::Runtime
    })
}

#[derive(Debug, Serialize)]
pub struct TargetStatus {
    pub target: String,
    pub url: String,
    pub deployed: Option<Deploy>,
    pub pending: Option<Pending>,
    /// The commit that `git publish` would publish now.
    pub head: Option<String>,
    /// Commits in `head` not yet deployed.
    pub behind: Option<usize>,
    /// Deployed commits not in `head` (e.g. a rollback or another branch).
    pub ahead: Option<usize>,
    /// Where this came from: "target" or "local-ref" (when the target could not be read).
    pub source: &'static str,
    pub error: Option<String>,
    /// The target was read, but its state object is not a record this build can use (corrupt, foreign or
    /// newer): `status` exits non-zero.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub state_unreadable: bool,
    /// A publish that failed after its push succeeded (recorded locally by the hooks or `git publish push`).
    pub push_failure: Option<crate::records::Failure>,
    /// Previews whose publish (or removal) failed after their push (`install --previews`; recorded locally).
    pub preview_push_failures: Vec<crate::records::Failure>,
    /// Invalidations the record lists as requested, not yet recorded as created (a publish writes its record
    /// while its invalidation is created), each with its id when this clone saw CloudFront answer it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invalidations_requested: Vec<(state::Requested, Option<String>)>,
    /// Snapshot builds: the source commit the live snapshot was built from.
    pub live_source: Option<String>,
    /// Snapshot builds: the tip of the snapshot ref when it is not what is live (built, not published).
    pub unpublished_snapshot: Option<String>,
    /// The target's branch previews (`git publish preview`), with their URLs.
    pub previews: Vec<super::preview::Listed>,
}

pub async fn status(s: &Session, only: Option<&str>) -> Result<Vec<TargetStatus>> {
    let names: Vec<String> = match only {
        Some(n) => vec![s.config.target(Some(n))?.name.clone()],
        None => s.config.targets.keys().cloned().collect(),
    };
    let head = resolve_rev(s, None).ok().map(|(_, id)| id);
    let mut out = Vec::new();
    for name in names {
        out.push(target_status(s, &name, head.as_deref()).await?);
    }
    Ok(out)
}

/// The status of target `name`, compared with `head` (the commit `git publish` would publish).
async fn target_status(s: &Session, name: &str, head: Option<&str>) -> Result<TargetStatus> {
    let target = s.config.target(Some(name))?;
    let backends = backends(target, false, &|n| s.ui.say(n)).await?;
    let (st, source, error, state_unreadable) = read_state_or_mirror(s, &backends, target).await;
    let (deployed, pending, requested) = match st {
        Some(st) => (st.deployed, st.pending, st.invalidations_requested),
        None => (None, None, Vec::new()),
    };
    let seen = crate::records::read_known(&s.repo, &target.name)
        .map(|k| k.confirmed)
        .unwrap_or_default();
    let invalidations_requested = (requested.into_iter())
        .map(|r| {
            let id = (seen.iter()).find(|(reference, _)| *reference == r.reference);
            let id = id.map(|(_, id)| id.clone());
            (r, id)
        })
        .collect();
    // A live snapshot is compared with HEAD through the source commit it was built from.
    let live_source = deployed.as_ref().and_then(|d| {
        d.source_commit
            .clone()
            .or_else(|| s.repo.snapshot_info(&d.commit).and_then(|i| i.source))
    });
    let is_snapshot = deployed
        .as_ref()
        .is_some_and(|d| d.source_commit.is_some() || s.repo.snapshot_info(&d.commit).is_some());
    let compare = if is_snapshot {
        live_source.clone()
    } else {
        deployed.as_ref().map(|d| d.commit.clone())
    };
    let (ahead, behind) = match (head, &compare) {
        (Some(h), Some(c)) => match s.repo.ahead_behind(h, c) {
            Some((a, b)) => (Some(b), Some(a)),
            None => (None, None),
        },
        _ => (None, None),
    };
    let unpublished_snapshot = s
        .config
        .source
        .snapshot
        .as_ref()
        .and_then(|c| s.repo.read_ref(&c.snapshot_ref))
        .filter(|tip| deployed.as_ref().map(|d| &d.commit) != Some(tip));
    Ok(TargetStatus {
        target: name.to_string(),
        url: backends.store.describe(),
        deployed,
        pending,
        head: head.map(str::to_string),
        behind,
        ahead,
        source,
        error,
        state_unreadable,
        push_failure: crate::records::read_failure(&s.repo)
            .filter(|f| f.target.as_deref().is_none_or(|t| t == name)),
        preview_push_failures: crate::records::read_preview_failures(&s.repo)
            .into_iter()
            .filter(|f| f.target.as_deref().is_none_or(|t| t == name))
            .collect(),
        invalidations_requested,
        live_source,
        unpublished_snapshot,
        // Listing them is one more request; a target that can't be read shows none.
        previews: match source {
            "target" => super::preview::previews_of(s, target)
                .await
                .unwrap_or_default(),
            _ => Vec::new(),
        },
    })
}

/// The target's state, from the target ("target"), or, when it can't be read, from the local mirror
/// ("local-ref", with the error, and whether the target answered with a state it can't be read as).
async fn read_state_or_mirror(
    s: &Session,
    backends: &crate::backends::Backends,
    target: &crate::config::Target,
) -> (Option<State>, &'static str, Option<String>, bool) {
    match state::read_for(backends.stores(), target).await {
        Ok((st, _)) => (st, "target", None, false),
        Err(e) => {
            let unreadable = matches!(e, Error::StateCorrupt { .. } | Error::StateTooNew { .. });
            let local = crate::records::read_mirror(&s.repo, &target.name);
            let st = local.map(|c| State::from_local_ref(&target.name, c));
            (st, "local-ref", Some(e.to_string()), unreadable)
        }
    }
}

pub fn render_status(s: &Session, list: &[TargetStatus]) {
    for t in list {
        s.ui.out(&format!("{} ({})", t.target, t.url));
        if let Some(e) = &t.error {
            s.ui.out(&format!(
                "  could not read the target: {}",
                crate::quote::scrub(e)
            ));
            s.ui.out("  (showing the local mirror refs/publish/<target>)");
        }
        render_live(s, t);
        if let Some(tip) = &t.unpublished_snapshot {
            s.ui.out(&format!(
                "  pending: snapshot {} is built but not published here",
                s.repo.describe(tip)
            ));
        }
        match (t.behind, t.ahead, &t.head) {
            // The mirror is this clone's memory, not what the target holds: never "up to date" from it.
            (Some(0), Some(0), _) if t.error.is_some() => {
                s.ui.out("  the local mirror has HEAD; what the target holds is unknown")
            }
            (Some(0), Some(0), _) => s.ui.out("  up to date"),
            (Some(b), Some(a), Some(h)) => {
                let behind = crate::ui::count(b as u64, "commit", "commits");
                let mut parts = vec![format!("{behind} behind {}", state::short(h))];
                if a > 0 {
                    let ahead = crate::ui::count(a as u64, "deployed commit", "deployed commits");
                    parts.push(format!("{ahead} not in it"));
                }
                s.ui.out(&format!("  {}", parts.join(", ")));
            }
            _ => {}
        }
        render_unfinished(s, t);
        for p in &t.previews {
            s.ui.out(&format!("  preview: {}", super::preview::line(p)));
        }
    }
}

/// The `live:` line (and what a live snapshot was built from).
fn render_live(s: &Session, t: &TargetStatus) {
    let Some(d) = &t.deployed else {
        s.ui.out("  live:    nothing deployed yet");
        return;
    };
    let when = if d.at.is_empty() {
        String::new()
    } else {
        format!(", {} by {}", quote_path(&d.at), quote_path(&d.by))
    };
    let rb = d
        .rollback_from
        .as_deref()
        .map(|f| format!(" (rollback from {})", state::short(f)))
        .unwrap_or_default();
    s.ui.out(&format!(
        "  live:    {}{when}{rb}",
        s.repo.describe(&d.commit)
    ));
    if let Some(src) = &t.live_source {
        let dirty = if d.dirty { " (dirty working tree)" } else { "" };
        s.ui.out(&format!("  built from {}{dirty}", s.repo.describe(src)));
    }
}

/// A publish in progress or failed in the target, and a failure recorded locally after a push.
fn render_unfinished(s: &Session, t: &TargetStatus) {
    if let Some(p) = &t.pending {
        match &p.holder {
            Some(h) => s.ui.out(&format!(
                "  pending: publishing {} by {} since {}",
                state::short(&p.commit),
                h.describe(),
                quote_path(&h.since)
            )),
            None => s.ui.out(&format!(
                "  FAILED:  the publish of {} started {} did not finish{}; run `git publish` to finish it",
                state::short(&p.commit),
                quote_path(&p.started),
                p.error.as_deref().map(|e| format!(" ({})", quote_path(e))).unwrap_or_default()
            )),
        }
    }
    for (r, id) in &t.invalidations_requested {
        let seen = match id {
            Some(id) => format!("created as {}; the next publish records it", quote_path(id)),
            None => "not yet recorded as created; the next publish sends it again, which creates \
                     nothing new if it exists"
                .into(),
        };
        s.ui.out(&format!(
            "  invalidation: {} of {} requested by the publish of {} ({seen})",
            crate::ui::count(r.paths.len() as u64, "path", "paths"),
            quote_path(&r.distribution),
            state::short(&r.commit)
        ));
    }
    for f in t.push_failure.iter().chain(&t.preview_push_failures) {
        s.ui.out(&format!(
            "  FAILED:  {} after its push failed at {} ({}); run `git publish retry` to finish it",
            crate::hooks::what_failed(f),
            quote_path(&f.at),
            quote_path(&f.error)
        ));
    }
}
