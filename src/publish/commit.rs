//! Which commit a publish sends: `--rev`, `source.branch` or HEAD; with snapshot builds, a snapshot (built
//! now from the build directory, or found for `--rev`). Also where a commit's site output is.
//!
//! Git is reached only through `source::Repo`; the build command through `build`. A snapshot build writes a
//! commit (and, unless a dry run, moves the snapshot ref): the only write before the claim. Nothing here
//! reads or writes the target.

use crate::config::SnapshotConfig;
use crate::error::{Error, Result};
use crate::source::Snapshot;
use crate::state::short;

use super::session::Session;
use crate::settings::PublishOpts;

/// The commit chosen: the name it was asked by, its id, its output tree, and the snapshot build that made
/// it (if one ran).
pub struct Chosen {
    pub rev_name: String,
    pub commit: String,
    pub new_tree: String,
    pub snapshot: Option<Snapshot>,
}

/// The commit to publish: `--rev`, else `source.branch`, else HEAD.
pub fn resolve_rev(s: &Session, rev: Option<&str>) -> Result<(String, String)> {
    let name = rev
        .map(str::to_string)
        .or_else(|| s.config.source.branch.clone())
        .unwrap_or_else(|| "HEAD".to_string());
    let id = s.repo.resolve_commit(&name)?;
    Ok((name, id))
}

/// Tree of the site's output in `commit`: the root tree of a snapshot, else `source.dir` inside it.
pub fn output_of(s: &Session, commit: &str) -> Result<String> {
    if s.repo.snapshot_info(commit).is_some() {
        s.repo.output_tree(commit, "")
    } else {
        s.repo.output_tree(commit, &s.config.source.dir)
    }
}

/// The commit to publish, and the snapshot build that made it. With snapshot builds and no `--rev`: run the
/// build, snapshot the build directory and publish that. With `--rev`: see [`snapshot_for_rev`].
pub fn select_commit(s: &Session, opts: &PublishOpts) -> Result<Chosen> {
    let chosen = |rev_name: String, commit: String, snapshot| -> Result<Chosen> {
        Ok(Chosen {
            new_tree: output_of(s, &commit)?,
            rev_name,
            commit,
            snapshot,
        })
    };
    let Some(cfg) = &s.config.source.snapshot else {
        let (name, id) = resolve_rev(s, opts.rev.as_deref())?;
        return chosen(name, id, None);
    };
    if let Some(rev) = &opts.rev {
        return chosen(rev.clone(), snapshot_for_rev(s, cfg, rev)?, None);
    }
    let snap = build_snapshot(s, cfg, opts.dry_run)?;
    chosen(cfg.snapshot_ref.clone(), snap.commit.clone(), Some(snap))
}

/// `--rev` with snapshot builds: a snapshot, the newest snapshot built from that source commit, or a commit
/// that holds its output.
fn snapshot_for_rev(s: &Session, cfg: &SnapshotConfig, rev: &str) -> Result<String> {
    let id = s.repo.resolve_commit(rev)?;
    if s.repo.snapshot_info(&id).is_some() {
        return Ok(id);
    }
    if let Some((snap, dirty)) = s.repo.snapshot_of(&cfg.snapshot_ref, &id) {
        s.ui.note(&format!(
            "{rev} is a source commit: publishing its snapshot {}",
            short(&snap)
        ));
        if dirty {
            s.ui.warn(&format!(
                "snapshot {} was built from a working tree with uncommitted changes",
                short(&snap)
            ));
        }
        return Ok(snap);
    }
    if s.repo.output_tree(&id, &s.config.source.dir).is_ok() {
        return Ok(id);
    }
    Err(Error::NoSnapshotOf {
        rev: rev.to_string(),
        snapshot_ref: cfg.snapshot_ref.clone(),
        dir: s.config.source.dir.clone(),
    })
}

/// Run `build_command` (if any) and commit the build directory as a snapshot (the ref moves unless
/// `dry_run`), saying what was left out and what was made.
fn build_snapshot(s: &Session, cfg: &SnapshotConfig, dry_run: bool) -> Result<Snapshot> {
    let root = s.repo.root();
    if let Some(cmd) = &cfg.build_command {
        s.ui.note(&format!("building: {cmd}"));
        crate::build::run(cmd, &root, cfg.build_env.inherits_aws())?;
    }
    let snap = s.repo.snapshot(
        &root.join(&cfg.build_dir),
        &cfg.build_dir,
        &cfg.snapshot_ref,
        !dry_run,
    )?;
    for sk in &snap.skipped {
        s.ui.warn(&format!(
            "{}/{} is {}: left out of the snapshot",
            cfg.build_dir, sk.path, sk.what
        ));
    }
    if !snap.empty_dirs.is_empty() {
        s.ui.note(&format!(
            "{} empty director{} can't be stored in git and won't be published: {}",
            snap.empty_dirs.len(),
            if snap.empty_dirs.len() == 1 {
                "y"
            } else {
                "ies"
            },
            snap.empty_dirs.join(", ")
        ));
    }
    note_snapshot(s, cfg, &snap);
    Ok(snap)
}

/// Say which snapshot this publish sends: identical to the last one, new on the ref, or new (dry run).
fn note_snapshot(s: &Session, cfg: &SnapshotConfig, snap: &Snapshot) {
    let of = match &snap.source {
        Some(c) => format!(
            "of {}{}",
            short(c),
            if snap.dirty { " (dirty)" } else { "" }
        ),
        None => "(no source commit yet)".to_string(),
    };
    let message = if !snap.created {
        format!(
            "{} is identical to snapshot {}: no new commit",
            cfg.build_dir,
            short(&snap.commit)
        )
    } else if snap.ref_updated {
        format!(
            "snapshot {} {of}: {} files on {}",
            short(&snap.commit),
            snap.files,
            cfg.snapshot_ref
        )
    } else {
        format!(
            "snapshot {} {of}: {} files (dry run: {} not moved)",
            short(&snap.commit),
            snap.files,
            cfg.snapshot_ref
        )
    };
    s.ui.note(&message);
}
