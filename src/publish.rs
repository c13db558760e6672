//! The publish pipeline, end to end: config → source → plan → claim → exec → state → report.
//!
//! This is the only place that strings the modules together. Every check happens before the claim, so a
//! refused or invalid publish changes nothing; the deployed commit is recorded only after everything succeeded.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::config::{Backend, Config, Distribution, Target};
use crate::error::{Error, Result};
use crate::exec::{self, Cdn, Event, Executor, ObjectStore};
use crate::plan::{self, Plan};
use crate::source::{Repo, Snapshot};
use crate::state::{self, Deploy, Holder, Pending, State, Takeover};
use crate::ui::{human_bytes, Ui};

pub use crate::settings::PublishOpts;

/// The `--json` document of a publish (stable: fields are only ever added).
#[derive(Debug, Serialize)]
pub struct Report {
    pub target: String,
    pub url: String,
    pub base: Option<String>,
    pub commit: String,
    pub uploads: Vec<String>,
    pub deletes: Vec<String>,
    pub invalidations: Vec<String>,
    pub dry_run: bool,
    /// "published", "nothing-to-do" or "planned" (dry run).
    pub status: &'static str,
    pub resumed: bool,
    pub uploaded_bytes: u64,
    pub invalidation_ids: Vec<String>,
    pub invalidation: plan::invalidate::Summary,
    /// Keys copied server-side (renames, duplicates) and keys whose headers were replaced in place.
    pub copies: Vec<String>,
    pub header_updates: Vec<String>,
    /// Site paths whose delete waits for the next publish (`delay_deletes`).
    pub deferred_deletes: Vec<String>,
    /// Per distribution: paths, batches and what they cost.
    pub distributions: Vec<plan::CdnPlan>,
    pub budget: plan::Budget,
    pub elapsed_ms: u128,
    /// Milliseconds from the start of the publish to the plan being ready.
    pub plan_ms: u128,
    /// Keys that differ from the deployed version only in timestamps or build ids.
    pub churn: Vec<String>,
    /// The commit that was live before, when this publish went back to an earlier deploy.
    pub rollback_from: Option<String>,
    /// What the snapshot build did (snapshot builds only).
    pub snapshot: Option<Snapshot>,
}

pub struct Session {
    pub repo: Repo,
    pub config: Config,
    pub ui: Ui,
    /// Where "now" comes from (deploy times, the claim lease, the monthly invalidation budget).
    pub clock: Clock,
}

impl Session {
    /// Open the repository from `cwd` and load the config (`--config` or `<repo root>/site.toml`).
    pub fn open(cwd: &std::path::Path, config: Option<PathBuf>, ui: Ui) -> Result<Session> {
        let repo = Repo::open(cwd)?;
        let root = repo.root();
        let path = match config {
            Some(p) if p.is_absolute() => p,
            Some(p) => cwd.join(p),
            None => root.join("site.toml"),
        };
        let config = Config::load(&path, &root)?;
        let clock = Clock::from_env()?;
        Ok(Session {
            repo,
            config,
            ui,
            clock,
        })
    }
}

/// The backends of one target.
pub struct Backends {
    pub store: Box<dyn ObjectStore>,
    /// Each distribution to invalidate, with its origin path (resolved only when asked for).
    pub cdns: Vec<(plan::CdnSettings, Box<dyn Cdn>)>,
}

/// Endpoints from the environment get the same check as `endpoint` in site.toml: plain http only to loopback
/// unless `allow_http = true`, so signed requests never cross a network unencrypted by accident.
pub fn check_env_endpoints(target: &Target) -> Result<()> {
    if matches!(target.backend, Backend::Local { .. }) {
        return Ok(());
    }
    for var in [
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_CLOUDFRONT",
    ] {
        if let Some(v) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
            crate::config::check_endpoint(&v, target.allow_http).map_err(|why| Error::Usage(format!(
                "{var}={v}: {why}; use https, a loopback address, or set `allow_http = true` for target `{}` in site.toml",
                target.name
            )))?;
        }
    }
    Ok(())
}

/// Build the target's backends. With `with_cdn`, the distributions are resolved through the CloudFront API:
/// `"auto"` is looked up (ListDistributions), and every distribution's origin path is read (GetDistribution).
pub async fn backends(target: &Target, with_cdn: bool, ui: &Ui) -> Result<Backends> {
    match &target.backend {
        Backend::Local { root } => Ok(Backends {
            store: Box::new(exec::local::LocalStore::new(root)),
            cdns: Vec::new(),
        }),
        Backend::S3 { bucket, prefix } => {
            let sdk = exec::aws::sdk_config(target).await;
            let client = exec::aws::s3_client(&sdk, target);
            let store = exec::s3::S3Store::new(
                client,
                bucket,
                prefix,
                exec::aws::custom_s3_endpoint(target),
            );
            let mut cdns: Vec<(plan::CdnSettings, Box<dyn Cdn>)> = Vec::new();
            if with_cdn && !target.distributions.is_empty() {
                let cf = exec::aws::cloudfront_client(&sdk);
                for d in &target.distributions {
                    let cdn_err = |e: exec::StoreError| {
                        let hint = match &e {
                            exec::StoreError::Failed { hint, .. } if !hint.is_empty() => hint.clone(),
                            _ => "check `distribution` for the target in site.toml and the credentials' \
                                  cloudfront:GetDistribution / ListDistributions permissions \
                                  (`git publish iam-policy` prints them)"
                                .into(),
                        };
                        Error::Cdn {
                            distribution: d.describe().to_string(),
                            message: e.to_string(),
                            hint,
                        }
                    };
                    let info = match d {
                        // The origin path is given: nothing to ask CloudFront.
                        Distribution::Id(id) if target.origin_path.is_some() => {
                            exec::cloudfront::DistInfo {
                                id: id.clone(),
                                domain: String::new(),
                                aliases: Vec::new(),
                                origins: Vec::new(),
                                enabled: true,
                            }
                        }
                        Distribution::Id(id) => match exec::cloudfront::get(&cf, id).await {
                            Ok(info) => info,
                            Err(e) => {
                                // Publishing must not depend on a read permission older setups lack: fall back to
                                // the assumption of earlier versions (the origin path is the target's prefix).
                                warn_origin_unknown(ui, id, prefix, &e);
                                exec::cloudfront::DistInfo {
                                    id: id.clone(),
                                    domain: String::new(),
                                    aliases: Vec::new(),
                                    origins: vec![(String::new(), prefix.clone())],
                                    enabled: true,
                                }
                            }
                        },
                        Distribution::Auto => {
                            let all = exec::cloudfront::list(&cf).await.map_err(cdn_err)?;
                            let one = exec::cloudfront::pick_auto(&all, bucket, target.domain.as_deref())
                                .map_err(|message| Error::Cdn {
                                    distribution: "auto".into(),
                                    message,
                                    hint: format!(
                                        "set `distribution = \"E…\"` (or a list of ids) for targets.{} in site.toml, \
                                         or `domain = \"…\"` to pick the one with that alias",
                                        target.name
                                    ),
                                })?
                                .clone();
                            ui.note(&format!(
                                "distribution = \"auto\": {} ({})",
                                one.id,
                                if one.aliases.is_empty() {
                                    one.domain.clone()
                                } else {
                                    one.aliases.join(", ")
                                }
                            ));
                            one
                        }
                    };
                    let origin_path = match &target.origin_path {
                        Some(p) => p.clone(),
                        None => info.origin_path(bucket),
                    };
                    if plan::served_path(prefix, &origin_path, "x").is_none() {
                        ui.warn(&format!(
                            "distribution {} serves the origin path /{origin_path}, which does not hold s3://{bucket}/{prefix}: \
                             nothing will be invalidated there",
                            info.id
                        ));
                    }
                    cdns.push((
                        plan::CdnSettings {
                            id: info.id.clone(),
                            origin_path,
                        },
                        Box::new(exec::cloudfront::CloudFront::new(cf.clone(), &info.id)),
                    ));
                }
            }
            Ok(Backends {
                store: Box::new(store),
                cdns,
            })
        }
    }
}

fn warn_origin_unknown(ui: &Ui, id: &str, prefix: &str, e: &exec::StoreError) {
    ui.warn(&format!(
        "could not read distribution {id}'s origin path ({e}); assuming \"/{prefix}\". Set `origin_path` for the \
         target in site.toml, or allow cloudfront:GetDistribution (`git publish iam-policy`)"
    ));
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
/// build, snapshot the build directory and publish that. With `--rev`: a snapshot, the newest snapshot
/// built from that source commit, or a commit that holds its output.
fn select_commit(s: &Session, opts: &PublishOpts) -> Result<(String, String, Option<Snapshot>)> {
    let Some(cfg) = &s.config.source.snapshot else {
        let (name, id) = resolve_rev(s, opts.rev.as_deref())?;
        return Ok((name, id, None));
    };
    if let Some(rev) = &opts.rev {
        let id = s.repo.resolve_commit(rev)?;
        if s.repo.snapshot_info(&id).is_some() {
            return Ok((rev.clone(), id, None));
        }
        if let Some((snap, dirty)) = s.repo.snapshot_of(&cfg.snapshot_ref, &id) {
            s.ui.note(&format!(
                "{rev} is a source commit: publishing its snapshot {}",
                state::short(&snap)
            ));
            if dirty {
                s.ui.warn(&format!(
                    "snapshot {} was built from a working tree with uncommitted changes",
                    state::short(&snap)
                ));
            }
            return Ok((rev.clone(), snap, None));
        }
        if s.repo.output_tree(&id, &s.config.source.dir).is_ok() {
            return Ok((rev.clone(), id, None));
        }
        return Err(Error::NoSnapshotOf {
            rev: rev.clone(),
            snapshot_ref: cfg.snapshot_ref.clone(),
            dir: s.config.source.dir.clone(),
        });
    }
    let root = s.repo.root();
    if let Some(cmd) = &cfg.build_command {
        s.ui.note(&format!("building: {cmd}"));
        crate::build::run(cmd, &root)?;
    }
    let snap = s.repo.snapshot(
        &root.join(&cfg.build_dir),
        &cfg.build_dir,
        &cfg.snapshot_ref,
        !opts.dry_run,
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
    let of = match &snap.source {
        Some(c) => format!(
            "of {}{}",
            state::short(c),
            if snap.dirty { " (dirty)" } else { "" }
        ),
        None => "(no source commit yet)".to_string(),
    };
    if !snap.created {
        s.ui.note(&format!(
            "{} is identical to snapshot {}: no new commit",
            cfg.build_dir,
            state::short(&snap.commit)
        ));
    } else if snap.ref_updated {
        s.ui.note(&format!(
            "snapshot {} {of}: {} files on {}",
            state::short(&snap.commit),
            snap.files,
            cfg.snapshot_ref
        ));
    } else {
        s.ui.note(&format!(
            "snapshot {} {of}: {} files (dry run: {} not moved)",
            state::short(&snap.commit),
            snap.files,
            cfg.snapshot_ref
        ));
    }
    Ok((cfg.snapshot_ref.clone(), snap.commit.clone(), Some(snap)))
}

pub async fn publish(s: &Session, opts: &PublishOpts) -> Result<Report> {
    let started = Instant::now();
    let target = s.config.target(opts.target.as_deref())?;
    let dir = &s.config.source.dir;
    let lap = |what: &str| tracing::debug!("{what}: {} ms", started.elapsed().as_millis());
    let (rev_name, commit, snapshot) = select_commit(s, opts)?;
    let new_tree = output_of(s, &commit)?;
    lap("selected the commit");

    // While the state is read from the target (a network round trip), diff against the base it most likely
    // names in another thread: `--since`, else what this clone last saw deployed there
    // (refs/publish/<target>). The result is used only if the state agrees.
    let guess = match &opts.since {
        Some(rev) => Some(s.repo.resolve_commit(rev)?),
        None => crate::records::read_mirror(&s.repo, &target.name),
    };
    let early_diff = guess.and_then(|c| {
        let tree = output_of(s, &c).ok()?;
        let repo = s.repo.reopen().ok()?;
        let (t, n, of) = (tree.clone(), new_tree.clone(), commit.clone());
        Some((
            tree,
            std::thread::spawn(move || repo.diff(Some(&t), &n, &of)),
        ))
    });

    check_env_endpoints(target)?;
    let backends = backends(target, true, &s.ui).await?;
    let store = backends.store.as_ref();
    let key = state::state_key(target.prefix());
    let (current, etag) = state::read(store, &key, &target.name).await?;
    lap("read the state");
    let takeover = state::check_pending(
        &target.name,
        current.as_ref(),
        target.claim_lease,
        opts.take_over,
        &s.clock,
    )?;

    // What the target holds now.
    let (base_commit, base_tree) = match &opts.since {
        Some(rev) => {
            let c = s.repo.resolve_commit(rev)?;
            let t = output_of(s, &c)?;
            (Some(c), Some(t))
        }
        None => match current.as_ref().and_then(|st| st.deployed.as_ref()) {
            None => (None, None),
            Some(d) => {
                if s.repo.has_commit(&d.commit) {
                    let t = output_of(s, &d.commit).or_else(|e| {
                        if s.repo.has_tree(&d.tree) {
                            Ok(d.tree.clone())
                        } else {
                            Err(e)
                        }
                    })?;
                    (Some(d.commit.clone()), Some(t))
                } else if opts.full {
                    s.ui.warn(&format!(
                        "deployed commit {} is not in this repository: uploading everything, deleting nothing",
                        state::short(&d.commit)
                    ));
                    (Some(d.commit.clone()), None)
                } else {
                    return Err(Error::DeployedCommitUnknown {
                        commit: d.commit.clone(),
                        target: target.name.clone(),
                    });
                }
            }
        },
    };
    let mut bases = vec![base_tree.clone()];
    let mut resumed_pending = None;
    match &takeover {
        Takeover::None => {}
        Takeover::Resume(p) | Takeover::Stale(p, _) => {
            if let Takeover::Stale(_, why) = &takeover {
                s.ui.note(why);
            }
            let how = p
                .error
                .as_deref()
                .map(|e| format!(" (it failed: {e})"))
                .unwrap_or_default();
            s.ui.note(&format!(
                "resuming: the publish of {} started {} did not finish{how}; re-doing what it may have left half done",
                state::short(&p.commit),
                p.started
            ));
            if s.repo.has_tree(&p.tree) {
                bases.push(Some(p.tree.clone()));
            } else {
                s.ui.warn(&format!(
                    "the interrupted publish's commit {} is not in this repository: files only it added may remain in the target",
                    state::short(&p.commit)
                ));
            }
            resumed_pending = Some(p.clone());
        }
    }
    let changes = match (early_diff, &bases[..]) {
        (Some((tree, diff)), [Some(base)]) if *base == tree => diff
            .join()
            .map_err(|_| Error::Git("the diff thread panicked".into()))??,
        _ => s.repo.merged_diff(&bases, &new_tree, &commit)?,
    };
    lap("diffed");
    let old_listing = match (&bases[..], &base_tree) {
        ([_], Some(t)) => copy_sources(s, t, base_commit.as_deref(), &changes),
        _ => None,
    };
    lap("found copy sources");
    let deployed = current.as_ref().and_then(|st| st.deployed.as_ref());
    let old_rules = match deployed.and_then(|d| d.rules.as_ref()) {
        None => plan::Rules::default(),
        Some(specs) => plan::Rules::compile(specs).unwrap_or_else(|e| {
            s.ui.warn(&format!(
                "the deployed rules recorded in the state no longer compile ({e}): headers of unchanged files are re-applied"
            ));
            plan::Rules::default()
        }),
    };
    let month = s.clock.month();
    let used_this_month = deployed
        .filter(|_| opts.since.is_none())
        .map(|d| d.paths_used_in(&month))
        .unwrap_or(0);
    let deferred: Vec<String> = deployed
        .filter(|_| opts.since.is_none())
        .map(|d| d.deferred_deletes.clone())
        .unwrap_or_default();

    let settings = plan::Settings {
        prefix: target.prefix().to_string(),
        cdns: backends.cdns.iter().map(|(c, _)| c.clone()).collect(),
        max_deletes: opts.max_deletes.unwrap_or(target.max_deletes),
        max_invalidation_paths: target.max_invalidation_paths,
        forms: target.forms.clone(),
        invalidate_new_files: target.invalidate_new_files,
        full: opts.full,
        delay_deletes: target.delay_deletes,
        monthly_budget: target.invalidation_budget,
        used_this_month,
    };
    // Planned without the listing of the new tree first: most plans don't need it (see plan::Input).
    let mut listing = None;
    let mut plan = loop {
        let input = plan::Input {
            changes: &changes,
            listing: listing.as_deref(),
            old_listing: old_listing.as_deref(),
            rules: &s.config.rules,
            old_rules: &old_rules,
            deferred: &deferred,
        };
        match plan::build(&target.name, &input, &settings)? {
            plan::Outcome::NeedsListing if listing.is_none() => {
                listing = Some(s.repo.listing(&new_tree, &commit)?);
                lap("listed the new tree");
            }
            plan::Outcome::NeedsListing => unreachable!("given the listing, plan::build plans"),
            plan::Outcome::Planned(plan) => break plan,
        }
    };
    lap("planned");
    plan.churn = churn(&s.repo, &changes, &plan);
    lap("checked for churn");
    let plan_ms = started.elapsed().as_millis();

    // Going back to a commit this target had before (`rollback`, or `--rev` naming an earlier deploy). A
    // publish without `--rev` (HEAD, or a fresh build) goes forward, even to a commit deployed before.
    let live = current
        .as_ref()
        .and_then(|st| st.deployed.as_ref())
        .map(|d| d.commit.clone());
    let earlier = current
        .as_ref()
        .and_then(|st| st.history.iter().find(|d| d.commit == commit));
    let going_back = opts.rollback || (opts.rev.is_some() && earlier.is_some());
    let rollback_from = match (&live, going_back) {
        (Some(l), true) if *l != commit && opts.since.is_none() => Some(l.clone()),
        _ => None,
    };
    if let Some(from) = &rollback_from {
        let when = earlier
            .map(|d| format!(" (deployed {} by {})", d.at, d.by))
            .unwrap_or_default();
        s.ui.note(&format!(
            "rollback: {} goes back from {} to {}{when}",
            target.name,
            state::short(from),
            state::short(&commit)
        ));
    }

    let url = store.describe();
    let from = base_commit
        .as_deref()
        .map(|c| s.repo.describe(c))
        .unwrap_or_else(|| "nothing deployed".into());
    s.ui.note(&format!(
        "{}{} → {} ({}): {} → {}",
        target.name,
        if opts.dry_run { " [dry run]" } else { "" },
        url,
        rev_name,
        from,
        s.repo.describe(&commit)
    ));
    s.ui.plan(&plan, opts.dry_run);
    // Publishing HEAD: say so if the working tree holds more than the commit. This reads every file's
    // metadata (seconds on a 100,000-file site), so it starts once the plan is out and runs beside the
    // uploads; started earlier, it slowed the planning down by competing for the disk and the CPU.
    let dirty_check = DirtyCheck {
        check: (opts.rev.is_none()
            && s.config.source.snapshot.is_none()
            && s.repo.resolve_commit("HEAD").ok().as_deref() == Some(commit.as_str()))
        .then(|| s.repo.start_uncommitted_count(dir))
        .flatten(),
        dir: dir.clone(),
    };

    let mut report = Report {
        target: target.name.clone(),
        url,
        base: base_commit.clone(),
        commit: commit.clone(),
        uploads: plan
            .uploads
            .iter()
            .filter(|u| u.sends_bytes())
            .map(|u| u.key.clone())
            .collect(),
        deletes: plan.deletes.clone(),
        invalidations: plan.invalidations.clone(),
        dry_run: opts.dry_run,
        status: "planned",
        resumed: resumed_pending.is_some(),
        uploaded_bytes: 0,
        invalidation_ids: Vec::new(),
        invalidation: plan.invalidation.clone(),
        copies: keys_of(&plan, plan::UploadKind::Copy),
        header_updates: keys_of(&plan, plan::UploadKind::Headers),
        deferred_deletes: plan.deferred.clone(),
        distributions: plan.cdn.clone(),
        budget: plan.budget.clone(),
        elapsed_ms: 0,
        plan_ms,
        churn: plan.churn.clone(),
        rollback_from: rollback_from.clone(),
        snapshot: snapshot.clone(),
    };
    if opts.dry_run {
        dirty_check.report(&s.ui);
        report.elapsed_ms = started.elapsed().as_millis();
        return Ok(report);
    }

    let deployed_now = current
        .as_ref()
        .and_then(|st| st.deployed.as_ref())
        .map(|d| d.commit.as_str());
    if plan.is_empty() && resumed_pending.is_none() && deployed_now == Some(commit.as_str()) {
        s.ui.note(&format!(
            "{} already has {}: nothing to do",
            target.name,
            state::short(&commit)
        ));
        report.status = "nothing-to-do";
        dirty_check.report(&s.ui);
        report.elapsed_ms = started.elapsed().as_millis();
        return Ok(report);
    }

    let me = Holder::me(&s.clock);
    let snap_info = s.repo.snapshot_info(&commit);
    let deploy_record = |outcome: &exec::Outcome| Deploy {
        commit: commit.clone(),
        tree: new_tree.clone(),
        at: s.clock.rfc3339(),
        by: format!("{}@{}", me.user, me.host),
        uploads: plan.uploads.len(),
        deletes: plan.deletes.len(),
        invalidation_paths: plan.invalidation.paths,
        invalidation_ids: outcome.invalidation_ids.clone(),
        rules: Some(s.config.rules.specs().to_vec()),
        deferred_deletes: plan.deferred.clone(),
        invalidation_month: month.clone(),
        invalidation_paths_month: used_this_month + plan.invalidation.paths,
        rollback_from: rollback_from.clone(),
        source_commit: snap_info.as_ref().and_then(|i| i.source.clone()),
        dirty: snap_info.as_ref().is_some_and(|i| i.dirty),
    };

    let (outcome, final_etag) = if plan.is_empty() {
        // Nothing to transfer: record the new commit in one conditional write.
        let outcome = exec::Outcome::default();
        let next = finished_state(current.clone(), &target.name, deploy_record(&outcome));
        let e = state::write(store, &key, &target.name, &next, etag.as_deref()).await?;
        (outcome, e)
    } else {
        // Reuse the interrupted claim's start time when resuming the same publish, so that the CloudFront
        // CallerReference is the same and a retried invalidation is not paid twice.
        let claim_started = match &resumed_pending {
            Some(p) if p.commit == commit && p.base == base_commit => p.started.clone(),
            _ => s.clock.rfc3339(),
        };
        let pending = Pending {
            commit: commit.clone(),
            tree: new_tree.clone(),
            base: base_commit.clone(),
            started: claim_started.clone(),
            holder: Some(me.clone()),
            error: None,
        };
        let (claimed, claim_etag) = state::claim(
            store,
            &key,
            &target.name,
            current.as_ref(),
            etag.as_deref(),
            pending.clone(),
        )
        .await?;
        tracing::debug!("claimed {} ({})", key, claim_etag);

        let executor = Executor {
            store,
            cdns: backends
                .cdns
                .iter()
                .map(|(c, cdn)| (c.id.clone(), cdn.as_ref()))
                .collect(),
            blobs: Arc::new(s.repo.blob_reader()?),
            concurrency: target.concurrency,
            caller_reference: caller_reference(
                &target.name,
                base_commit.as_deref(),
                &commit,
                &plan,
                &claim_started,
            ),
        };
        let ui = &s.ui;
        let phase_bytes = |html: bool| -> u64 {
            plan.uploads
                .iter()
                .filter(|u| u.is_html() == html)
                .map(|u| u.size)
                .sum()
        };
        let on = |ev: Event| match ev {
            Event::Phase(name, n) => {
                let bytes = match name {
                    // The plan does not know the sizes of unchanged files that --full re-sends.
                    _ if opts.full => None,
                    "assets" => Some(phase_bytes(false)),
                    "pages" => Some(phase_bytes(true)),
                    _ => None,
                };
                ui.start_progress(name, n as u64, bytes)
            }
            Event::Copied { .. } => ui.progress(1, 0),
            Event::Uploaded { bytes, .. } => ui.progress(1, bytes),
            Event::Deleted { count } => ui.progress(count as u64, 0),
            Event::Throttled { delay } => ui.warn(&format!(
                "CloudFront: too many invalidations in progress; retrying in {}s",
                delay.as_secs()
            )),
            Event::Invalidated { id, paths } => {
                ui.finish_progress();
                ui.note(&format!("invalidation {id} created ({paths} paths)"));
            }
        };
        let result = tokio::select! {
            r = executor.run(&plan, &on) => r.map_err(|e| e.to_string()),
            _ = tokio::signal::ctrl_c() => Err("interrupted (Ctrl-C)".to_string()),
        };
        s.ui.finish_progress();
        let outcome = match result {
            Ok(o) => o,
            Err(message) => {
                // Release the claim but keep the record that this publish is incomplete.
                let mut failed = claimed.clone();
                failed.pending = Some(Pending {
                    holder: None,
                    error: Some(message.clone()),
                    ..pending
                });
                if let Err(e) =
                    state::write(store, &key, &target.name, &failed, Some(&claim_etag)).await
                {
                    tracing::warn!("could not record the failure in the state: {e}");
                }
                return Err(exec_error(&target.name, message));
            }
        };
        let next = finished_state(Some(claimed), &target.name, deploy_record(&outcome));
        let e = state::write(store, &key, &target.name, &next, Some(&claim_etag)).await?;
        (outcome, e)
    };
    tracing::debug!("state written ({final_etag})");

    if let Err(e) = crate::records::update_mirror(&s.repo, &target.name, &commit) {
        s.ui.warn(&format!(
            "could not update refs/publish/{}: {e}",
            target.name
        ));
    }

    let copied = plan.uploads.iter().filter(|u| !u.sends_bytes()).count();
    let (label, what) = if rollback_from.is_some() {
        (
            "rolled",
            format!("{} back to {}", report.url, state::short(&commit)),
        )
    } else {
        (
            "published",
            format!("{} to {}", state::short(&commit), report.url),
        )
    };
    s.ui.done(
        label,
        &format!(
            "{what} in {:.1}s: uploaded {} files ({}), copied {copied} in place, deleted {}, invalidated {} paths",
            started.elapsed().as_secs_f64(),
            plan.uploads.len() - copied,
            human_bytes(outcome.uploaded_bytes),
            plan.deletes.len(),
            plan.invalidation.paths
        ),
    );

    if opts.wait && !outcome.invalidations.is_empty() {
        let timeout = opts.wait_timeout.unwrap_or(Duration::from_secs(900));
        for (dist, cdn) in &backends.cdns {
            let ids: Vec<String> = outcome
                .invalidations
                .iter()
                .filter(|(d, _)| *d == dist.id)
                .map(|(_, id)| id.clone())
                .collect();
            if ids.is_empty() {
                continue;
            }
            let ui = &s.ui;
            let done = exec::wait_invalidations(
                cdn.as_ref(),
                &ids,
                timeout,
                Duration::from_secs(5),
                &|n, t| {
                    ui.note(&format!(
                        "waiting for {n} invalidation(s) of {} ({}s of {}s)",
                        dist.id,
                        t.as_secs(),
                        timeout.as_secs()
                    ))
                },
            )
            .await
            .map_err(|e| Error::Cdn {
                distribution: dist.id.clone(),
                message: format!("checking the invalidation: {e}"),
                hint: "the publish itself succeeded; check it later with `aws cloudfront get-invalidation`".into(),
            })?;
            if !done {
                return Err(Error::Cdn {
                    distribution: dist.id.clone(),
                    message: format!("invalidation not completed after {}s (the publish itself succeeded)", timeout.as_secs()),
                    hint: "check it later with `aws cloudfront get-invalidation`, or raise --wait-timeout".into(),
                });
            }
            s.ui.note(&format!("invalidation of {} completed", dist.id));
        }
    }

    dirty_check.report(&s.ui);
    report.status = "published";
    report.uploaded_bytes = outcome.uploaded_bytes;
    report.invalidation_ids = outcome.invalidation_ids;
    report.elapsed_ms = started.elapsed().as_millis();
    Ok(report)
}

/// The working-tree check of a publish of HEAD, reported at the end (it takes longer than planning on a
/// big site).
struct DirtyCheck {
    check: Option<crate::source::UncommittedCount>,
    dir: String,
}

impl DirtyCheck {
    fn report(self, ui: &Ui) {
        let Some(dirty) = self.check.and_then(|c| c.wait()) else {
            return;
        };
        if dirty > 0 {
            let shown = if self.dir.is_empty() {
                "the working tree"
            } else {
                self.dir.as_str()
            };
            ui.warn(&format!(
                "{dirty} uncommitted change(s) in {shown} are not published (git-publish publishes commits; commit them first)"
            ));
        }
    }
}

/// Smallest new file worth looking through the whole deployed tree for (a duplicate whose bytes are already
/// stored, to copy server-side). A copy and an upload are one request each, so a copy only saves sending
/// bytes; listing a 100,000-file tree costs about as long as sending a few MB.
const COPY_SEARCH_MIN: u64 = 1 << 20;

/// Files of the deployed tree (`base_tree`, of `base_commit`) that the plan may copy from: the deleted
/// ones, which finds renames at no cost, and the whole tree when a new file is big enough to be worth a
/// search for an identical file already stored.
fn copy_sources(
    s: &Session,
    base_tree: &str,
    base_commit: Option<&str>,
    changes: &[plan::Change],
) -> Option<Vec<plan::FileEntry>> {
    use plan::ChangeKind::*;
    let sends = |c: &&plan::Change| c.kind != Deleted;
    if !changes.iter().any(|c| sends(&c)) {
        return None;
    }
    let deleted: Vec<plan::FileEntry> = changes
        .iter()
        .filter(|c| c.kind == Deleted)
        .filter_map(|c| {
            Some(plan::FileEntry {
                path: c.path.clone(),
                blob: c.old_blob.clone()?,
            })
        })
        .collect();
    let renamed: std::collections::HashSet<&str> =
        deleted.iter().map(|f| f.blob.as_str()).collect();
    // Only a new path can be a duplicate worth looking for; a changed file at the same path is sent.
    let worth_a_search = changes.iter().any(|c| {
        c.kind == Added
            && c.size >= COPY_SEARCH_MIN
            && c.blob.as_deref().is_some_and(|b| !renamed.contains(b))
    });
    if worth_a_search {
        if let Ok(all) = s.repo.listing(base_tree, base_commit.unwrap_or("")) {
            return Some(all);
        }
    }
    Some(deleted)
}

fn keys_of(plan: &Plan, kind: plan::UploadKind) -> Vec<String> {
    plan.uploads
        .iter()
        .filter(|u| u.kind == kind)
        .map(|u| u.key.clone())
        .collect()
}

/// Most bytes read per file, and in total, to look for churn (old and new versions of replaced text files).
const CHURN_FILE_CAP: u64 = 1 << 20;
const CHURN_TOTAL_CAP: u64 = 64 << 20;

/// Keys of replaced text files whose only differences from the deployed version are timestamps or build ids.
fn churn(repo: &Repo, changes: &[plan::Change], plan: &Plan) -> Vec<String> {
    let old_blobs: std::collections::HashMap<&str, &str> = changes
        .iter()
        .filter_map(|c| Some((c.path.as_str(), c.old_blob.as_deref()?)))
        .collect();
    let mut budget = CHURN_TOTAL_CAP;
    let mut out = Vec::new();
    for u in &plan.uploads {
        let texty = u.headers.content_type.starts_with("text/")
            || ["xml", "json", "javascript"]
                .iter()
                .any(|t| u.headers.content_type.contains(t));
        if u.kind != plan::UploadKind::Replace || !texty || u.size > CHURN_FILE_CAP {
            continue;
        }
        let Some(&old) = old_blobs.get(u.path.as_str()) else {
            continue;
        };
        if old == u.blob {
            continue;
        }
        let (Some(o), Some(n)) = (
            repo.read_blob_capped(old, CHURN_FILE_CAP),
            repo.read_blob_capped(&u.blob, CHURN_FILE_CAP),
        ) else {
            continue;
        };
        let cost = (o.len() + n.len()) as u64;
        if cost > budget {
            break;
        }
        budget -= cost;
        if plan::churn::is_churn(&o, &n) {
            out.push(u.key.clone());
        }
    }
    out.sort();
    out
}

fn finished_state(current: Option<State>, target: &str, deploy: Deploy) -> State {
    let mut st = current.unwrap_or(State {
        format: state::FORMAT,
        target: target.to_string(),
        deployed: None,
        pending: None,
        history: Vec::new(),
    });
    st.format = state::FORMAT;
    st.pending = None;
    st.history.insert(0, deploy.clone());
    st.history.truncate(state::HISTORY);
    st.deployed = Some(deploy);
    st
}

fn exec_error(target: &str, message: String) -> Error {
    Error::Store {
        target: target.to_string(),
        message: format!("publish failed: {message}"),
        hint: "nothing was recorded as deployed; fix the cause and run `git publish` again: it resumes".into(),
    }
}

/// Deterministic per (target, base, commit, paths, claim): a retry of the same invalidation is free.
fn caller_reference(
    target: &str,
    base: Option<&str>,
    commit: &str,
    plan: &Plan,
    claim_started: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [target, base.unwrap_or("-"), commit, claim_started] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for p in &plan.invalidations {
        h.update(p.as_bytes());
        h.update([0]);
    }
    format!("git-publish-{}", &hex::encode(h.finalize())[..32])
}

// ---- status ---------------------------------------------------------------------------------------------

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
    /// A publish that failed after its push succeeded (recorded locally by the hooks or `git publish push`).
    pub push_failure: Option<crate::records::Failure>,
    /// Snapshot builds: the source commit the live snapshot was built from.
    pub live_source: Option<String>,
    /// Snapshot builds: the tip of the snapshot ref when it is not what is live (built, not published).
    pub unpublished_snapshot: Option<String>,
}

pub async fn status(s: &Session, only: Option<&str>) -> Result<Vec<TargetStatus>> {
    let names: Vec<String> = match only {
        Some(n) => vec![s.config.target(Some(n))?.name.clone()],
        None => s.config.targets.keys().cloned().collect(),
    };
    let head = resolve_rev(s, None).ok().map(|(_, id)| id);
    let mut out = Vec::new();
    for name in names {
        let target = s.config.target(Some(&name))?;
        let backends = backends(target, false, &s.ui).await?;
        let key = state::state_key(target.prefix());
        let (mut st, source, error) = match state::read(backends.store.as_ref(), &key, &name).await
        {
            Ok((st, _)) => (st, "target", None),
            Err(e) => {
                let local = crate::records::read_mirror(&s.repo, &name);
                let st = local.map(|c| State {
                    format: state::FORMAT,
                    target: name.clone(),
                    deployed: Some(Deploy {
                        commit: c,
                        tree: String::new(),
                        at: String::new(),
                        by: String::new(),
                        uploads: 0,
                        deletes: 0,
                        invalidation_paths: 0,
                        invalidation_ids: vec![],
                        rules: None,
                        deferred_deletes: vec![],
                        invalidation_month: String::new(),
                        invalidation_paths_month: 0,
                        rollback_from: None,
                        source_commit: None,
                        dirty: false,
                    }),
                    pending: None,
                    history: vec![],
                });
                (st, "local-ref", Some(e.to_string()))
            }
        };
        let deployed = st.as_mut().and_then(|s| s.deployed.take());
        let pending = st.and_then(|s| s.pending);
        // A live snapshot is compared with HEAD through the source commit it was built from.
        let live_source = deployed.as_ref().and_then(|d| {
            d.source_commit
                .clone()
                .or_else(|| s.repo.snapshot_info(&d.commit).and_then(|i| i.source))
        });
        let is_snapshot = deployed.as_ref().is_some_and(|d| {
            d.source_commit.is_some() || s.repo.snapshot_info(&d.commit).is_some()
        });
        let compare = if is_snapshot {
            live_source.clone()
        } else {
            deployed.as_ref().map(|d| d.commit.clone())
        };
        let (ahead, behind) = match (&head, &compare) {
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
        out.push(TargetStatus {
            target: name.clone(),
            url: backends.store.describe(),
            deployed,
            pending,
            head: head.clone(),
            behind,
            ahead,
            source,
            error,
            push_failure: crate::records::read_failure(&s.repo)
                .filter(|f| f.target.as_deref().is_none_or(|t| t == name)),
            live_source,
            unpublished_snapshot,
        });
    }
    Ok(out)
}

pub fn render_status(s: &Session, list: &[TargetStatus]) {
    for t in list {
        s.ui.out(&format!("{} ({})", t.target, t.url));
        if let Some(e) = &t.error {
            s.ui.out(&format!("  could not read the target: {e}"));
            s.ui.out("  (showing the local mirror refs/publish/<target>)");
        }
        match &t.deployed {
            None => s.ui.out("  live:    nothing deployed yet"),
            Some(d) => {
                let when = if d.at.is_empty() {
                    String::new()
                } else {
                    format!(", {} by {}", d.at, d.by)
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
        }
        if let Some(tip) = &t.unpublished_snapshot {
            s.ui.out(&format!(
                "  pending: snapshot {} is built but not published here",
                s.repo.describe(tip)
            ));
        }
        match (t.behind, t.ahead, &t.head) {
            (Some(0), Some(0), _) => s.ui.out("  up to date"),
            (Some(b), Some(a), Some(h)) => {
                let mut parts = vec![format!("{b} commit(s) behind {}", state::short(h))];
                if a > 0 {
                    parts.push(format!("{a} deployed commit(s) not in it"));
                }
                s.ui.out(&format!("  {}", parts.join(", ")));
            }
            _ => {}
        }
        if let Some(p) = &t.pending {
            match &p.holder {
                Some(h) => s.ui.out(&format!(
                    "  pending: publishing {} by {} since {}",
                    state::short(&p.commit),
                    h.describe(),
                    h.since
                )),
                None => s.ui.out(&format!(
                    "  FAILED:  the publish of {} started {} did not finish{}; run `git publish` to finish it",
                    state::short(&p.commit),
                    p.started,
                    p.error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()
                )),
            }
        }
        if let Some(f) = &t.push_failure {
            s.ui.out(&format!(
                "  FAILED:  publishing {} after its push failed at {} ({}); run `git publish retry` to finish it",
                state::short(&f.commit),
                f.at,
                f.error
            ));
        }
    }
}

// ---- log and rollback -------------------------------------------------------------------------------------

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
    let backends = backends(target, false, &s.ui).await?;
    let key = state::state_key(target.prefix());
    let (st, _) = state::read(backends.store.as_ref(), &key, &target.name).await?;
    let st = st.unwrap_or(State {
        format: state::FORMAT,
        target: target.name.clone(),
        deployed: None,
        pending: None,
        history: vec![],
    });
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
            d.at,
            s.repo.describe(&d.commit),
            d.by
        ));
        let mut facts = vec![format!(
            "{} uploaded, {} deleted, {} invalidation paths",
            d.uploads, d.deletes, d.invalidation_paths
        )];
        if !d.invalidation_ids.is_empty() {
            facts.push(format!("invalidation {}", d.invalidation_ids.join(", ")));
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
            p.started,
            p.error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ));
    }
}

/// Publish entry `steps` of the target's history again (1 = the deploy before the live one).
pub async fn rollback(s: &Session, args: &crate::cli::RollbackArgs) -> Result<Report> {
    let steps = args.steps;
    if steps == 0 {
        return Err(Error::Usage(
            "--steps must be at least 1 (entry 0 of `git publish log` is what is live)".into(),
        ));
    }
    let log = log(s, args.target.as_deref()).await?;
    let Some(entry) = log.entries.get(steps) else {
        return Err(Error::RollbackOutOfRange {
            target: log.target,
            steps,
            available: log.entries.len().saturating_sub(1),
        });
    };
    if !s.repo.has_commit(&entry.commit) {
        return Err(Error::Usage(format!(
            "{} (entry {steps} of `git publish log --target {}`) is not in this repository: fetch it first \
             (for snapshot builds, fetch the snapshot ref, e.g. `git fetch origin site-builds:site-builds`)",
            entry.commit, log.target
        )));
    }
    let opts = crate::settings::publish_opts(crate::settings::Invocation::Rollback {
        args,
        target: log.target.clone(),
        rev: entry.commit.clone(),
    });
    publish(s, &opts).await
}
