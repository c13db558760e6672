//! `git publish preview`: publish a branch's output to the target's preview space (`crate::preview`), and
//! `list`, `rm` and `prune` the previews.
//!
//! A preview publishes through the same pipeline as production (`publish::publish_then`, with
//! `PublishOpts::preview`): its own prefix `_previews/<name>/`, its own record and claim, the exact diff
//! against its own record, and, on its first publish, server-side copies of what production already holds.
//! A preview's URL and its removal are `publish::previews`' (the hooks use them too). Nothing here writes,
//! deletes or invalidates anything of production.

use std::time::Duration;

use serde::Serialize;

use crate::backends::backends;
use crate::cli::{PreviewAction, PreviewArgs};
use crate::config::Target;
use crate::error::{Error, ExitCode, Result};
use crate::preview;
use crate::publish::previews::{self, names_in, records_target, remove, url_of};
use crate::publish::{self, PreviewOpts, PublishOpts, Session};
use crate::state::{self, Deploy, State};

pub async fn run(s: &Session, args: &PreviewArgs) -> Result<ExitCode> {
    match &args.action {
        None => publish_preview(s, args).await,
        Some(PreviewAction::List { target }) => {
            list(s, target.as_deref().or(args.target.as_deref())).await
        }
        Some(PreviewAction::Rm {
            name,
            target,
            dry_run,
        }) => {
            rm(
                s,
                target.as_deref().or(args.target.as_deref()),
                name,
                *dry_run,
            )
            .await
        }
        Some(PreviewAction::Prune {
            target,
            remote,
            older_than,
            dry_run,
        }) => {
            let target = target.as_deref().or(args.target.as_deref());
            prune(s, target, remote, *older_than, *dry_run).await
        }
    }
}

/// A name from a record or a branch, as a terminal line shows it (as git quotes paths).
fn quote(name: &str) -> String {
    crate::quote::quote_path(name).into_owned()
}

// ---- publish -----------------------------------------------------------------------------------------------

/// The `--json` document of a preview's publish: the preview, and the publish's report.
#[derive(Serialize)]
struct PreviewReport<'a> {
    name: &'a str,
    branch: &'a str,
    url: &'a str,
    /// The key prefix in the bucket (or the directory under a local target).
    prefix: String,
    /// The publish's report, as `git publish --json` prints it.
    publish: &'a publish::Report,
}

async fn publish_preview(s: &Session, args: &PreviewArgs) -> Result<ExitCode> {
    let t = s.config.target(args.target.as_deref())?;
    let branch = match &args.branch {
        Some(b) => b.clone(),
        None => s.repo.current_branch().ok_or_else(|| {
            Error::Usage(
                "HEAD is not on a branch: pass --branch BRANCH, or --rev REV with --name NAME"
                    .into(),
            )
        })?,
    };
    if let Some(live) = production_branch(s) {
        if live == branch {
            return Err(Error::Usage(format!(
                "branch {branch} is the one target {} publishes: publish it with `git publish`; previews are \
                 for other branches",
                t.name
            )));
        }
    }
    let name = match &args.name {
        Some(n) if preview::is_name(n) => n.clone(),
        Some(n) => {
            return Err(Error::Usage(format!(
                "--name {n:?} is not a preview name: use a-z, 0-9 and - (at most {} characters, no - at \
                 either end)",
                preview::MAX_NAME
            )))
        }
        None => preview::name_for(&branch),
    };
    let rev = preview_rev(s, args, &branch)?;
    let opts = PublishOpts {
        target: Some(t.name.clone()),
        rev,
        dry_run: args.dry_run,
        wait: args.wait,
        preview: Some(PreviewOpts {
            name: name.clone(),
            branch: branch.clone(),
        }),
        ..PublishOpts::default()
    };
    previews::before_publish(s, t, &name, args.dry_run).await?;
    let url = url_of(t, &name).await;
    let report = publish::publish_then(s, &opts, |_| {
        s.ui.note(&format!("preview {name} of branch {branch}: {url}"));
    })
    .await?;
    if s.ui.json {
        s.ui.json(&PreviewReport {
            name: &name,
            branch: &branch,
            url: &url,
            prefix: preview::key_prefix(t, &name),
            publish: &report,
        });
    } else if !report.dry_run {
        s.ui.out(&format!("preview: {url}"));
    }
    Ok(ExitCode::Success)
}

/// What the preview publishes: `--rev`; else the branch's commit (a local branch, or the remote-tracking one
/// a CI checkout has); else, on the current branch, HEAD (or a snapshot build of the working tree).
fn preview_rev(s: &Session, args: &PreviewArgs, branch: &str) -> Result<Option<String>> {
    if let Some(r) = &args.rev {
        return Ok(Some(r.clone()));
    }
    let current = s.repo.current_branch().as_deref() == Some(branch);
    if s.config.source.snapshot.is_some() {
        if !current {
            return Err(Error::Usage(format!(
                "snapshot builds build the working tree: check out {branch} first (`git switch {branch}`), \
                 then run `git publish preview`"
            )));
        }
        return Ok(None);
    }
    if current {
        return Ok(Some("HEAD".into()));
    }
    for r in [
        format!("refs/heads/{branch}"),
        format!("refs/remotes/origin/{branch}"),
    ] {
        if s.repo.read_ref(&r).is_some() {
            return Ok(Some(r));
        }
    }
    Err(Error::Usage(format!(
        "no branch {branch} here (neither refs/heads/{branch} nor refs/remotes/origin/{branch}): fetch it, or \
         pass --rev REV"
    )))
}

/// The branch production is published from: `source.branch`, else the remote's default branch
/// (`refs/remotes/origin/HEAD`).
fn production_branch(s: &Session) -> Option<String> {
    if let Some(b) = &s.config.source.branch {
        return Some(b.trim_start_matches("refs/heads/").to_string());
    }
    let head = s.repo.symbolic_target("refs/remotes/origin/HEAD")?;
    head.strip_prefix("refs/remotes/origin/")
        .map(str::to_string)
}

// ---- list --------------------------------------------------------------------------------------------------

/// One preview, as `list` and `status` show it.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub name: String,
    pub branch: Option<String>,
    pub commit: Option<String>,
    /// When it was last published (RFC 3339), and how long ago in seconds.
    pub at: Option<String>,
    pub age_seconds: Option<u64>,
    pub files: Option<usize>,
    pub bytes: Option<u64>,
    pub url: String,
    /// A publish or a removal under way, or one that stopped half-way.
    pub pending: bool,
}

/// The previews of `t`, from their records (one LIST of the records' directory, then each record).
pub async fn previews_of(s: &Session, t: &Target) -> Result<Vec<Listed>> {
    let store_target = records_target(t);
    let b = backends(&store_target, false, &|n| s.ui.say(n)).await?;
    let (_, dir) = preview::records_dir(t);
    let mut out = Vec::new();
    for name in names_in(&b, t).await? {
        let key = format!("{dir}{name}.json");
        let (st, _) =
            state::read(b.state_store(), &key, &preview::target_name(&t.name, &name)).await?;
        out.push(listed(s, t, &name, st.as_ref()).await);
    }
    Ok(out)
}

async fn listed(s: &Session, t: &Target, name: &str, st: Option<&State>) -> Listed {
    let d = st.and_then(|st| st.deployed.as_ref());
    let meta = d.and_then(|d| d.preview.as_ref());
    let age = d.and_then(|d| age_of(s, d));
    Listed {
        name: name.to_string(),
        branch: meta.map(|m| m.branch.clone()),
        commit: d.map(|d| d.commit.clone()),
        at: d.map(|d| d.at.clone()),
        age_seconds: age.map(|a| a.as_secs()),
        files: meta.map(|m| m.files),
        bytes: meta.map(|m| m.bytes),
        url: url_of(t, name).await,
        pending: st.is_some_and(|st| st.pending.is_some()),
    }
}

fn age_of(s: &Session, d: &Deploy) -> Option<Duration> {
    let at = humantime::parse_rfc3339_weak(&d.at).ok()?;
    let unix = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some(s.clock.since_unix(unix))
}

/// `1h`, `3d`: an age, rounded down to its largest unit.
fn short_age(secs: u64) -> String {
    match secs {
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

async fn list(s: &Session, target: Option<&str>) -> Result<ExitCode> {
    let t = s.config.target(target)?;
    let all = previews_of(s, t).await?;
    if s.ui.json {
        s.ui.json(&serde_json::json!({ "target": t.name, "previews": all }));
        return Ok(ExitCode::Success);
    }
    if all.is_empty() {
        s.ui.out(&format!("target {}: no previews", t.name));
    }
    for p in &all {
        s.ui.out(&line(p));
    }
    Ok(ExitCode::Success)
}

/// `name  branch  commit  age  size  url`.
pub fn line(p: &Listed) -> String {
    let q = quote;
    format!(
        "{}  {}  {}  {}  {}  {}{}",
        p.name,
        p.branch.as_deref().map(q).unwrap_or_else(|| "?".into()),
        p.commit
            .as_deref()
            .map(state::short)
            .unwrap_or_else(|| "-".into()),
        p.age_seconds.map(short_age).unwrap_or_else(|| "-".into()),
        match (p.files, p.bytes) {
            (Some(f), Some(b)) => format!("{f} files, {}", crate::ui::human_bytes(b)),
            _ => "-".into(),
        },
        p.url,
        if p.pending { "  (unfinished)" } else { "" }
    )
}

// ---- rm and prune --------------------------------------------------------------------------------------------

async fn rm(s: &Session, target: Option<&str>, name: &str, dry_run: bool) -> Result<ExitCode> {
    let t = s.config.target(target)?;
    if !preview::is_name(name) {
        return Err(Error::Usage(format!(
            "{:?} is not a preview name (a-z, 0-9 and -): `git publish preview list` shows them",
            quote(name)
        )));
    }
    if remove(s, t, name, None, dry_run).await?.is_none() {
        return Err(Error::Usage(format!(
            "target {} has no preview {name} (`git publish preview list` shows them)",
            t.name
        )));
    }
    Ok(ExitCode::Success)
}

async fn prune(
    s: &Session,
    target: Option<&str>,
    remote: &str,
    older_than: Option<Duration>,
    dry_run: bool,
) -> Result<ExitCode> {
    let t = s.config.target(target)?;
    let branches = s.repo.remote_branches(remote)?;
    let mut removed = Vec::new();
    for p in previews_of(s, t).await? {
        let gone = p.branch.as_ref().is_some_and(|b| !branches.contains(b));
        let stale = older_than.is_some_and(|o| p.age_seconds.is_some_and(|a| a > o.as_secs()));
        if !gone && !stale {
            continue;
        }
        let why = if gone {
            format!(
                "branch {} is gone from {remote}",
                quote(p.branch.as_deref().unwrap_or("?"))
            )
        } else {
            format!(
                "last published {} ago",
                short_age(p.age_seconds.unwrap_or(0))
            )
        };
        s.ui.note(&format!("preview {}: {why}", p.name));
        remove(s, t, &p.name, None, dry_run).await?;
        removed.push(p.name);
    }
    if s.ui.json {
        s.ui.json(&serde_json::json!({ "target": t.name, "removed": removed, "dry_run": dry_run }));
    } else if removed.is_empty() {
        s.ui.out("no preview to prune");
    }
    Ok(ExitCode::Success)
}
