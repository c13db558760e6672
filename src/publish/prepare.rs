//! Step 1 of a publish: everything that can be known before anything changes, as one value ([`Prepared`]).
//!
//! It chooses the commit, reads the target's state, works out the base (with `--since`, an interrupted
//! publish to resume, or a stale claim to take over), diffs, plans (listing the new tree only when the planner
//! asks for it), looks for churn and rollbacks, prints the plan and builds the report skeleton. It never
//! writes to the site (a snapshot build may write its commit to git, see `commit.rs`; with `state = …` a record
//! still in the site is moved there once, not in a dry run); a dry run ends here.

use std::borrow::Cow;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::backends::{check_env_endpoints, unresolved, Backends};
use crate::config::{RedirectRenames, Target};
use crate::error::{Error, Result};
use crate::exec::Sent;
use crate::plan::{self, Plan};
use crate::state::{self, Deploy, Pending, State, Takeover};

use super::commit::output_of;
use super::commit::{select_commit, Chosen};
use super::lookups::{churn, copy_sources};
use super::session::{Report, Session};
use crate::settings::PublishOpts;

/// Everything a publish knows once it has planned, before it changes anything.
pub struct Prepared<'s> {
    pub started: Instant,
    /// The target published to: the config's, or the preview space derived from it.
    pub target: Cow<'s, Target>,
    pub commit: String,
    /// The output tree of `commit`.
    pub new_tree: String,
    pub backends: Backends,
    /// The state's key in the store, the state read from it (None: first publish) and its ETag.
    pub key: String,
    pub current: Option<State>,
    pub etag: Option<String>,
    /// What the target holds (None: nothing deployed, or not known).
    pub base_commit: Option<String>,
    /// The interrupted publish this one finishes.
    pub resumed: Option<Pending>,
    pub plan: Plan,
    /// The UTC month of the invalidation budget, and the paths already sent in it.
    pub month: String,
    pub used_this_month: usize,
    /// The commit that was live, when this publish goes back to an earlier deploy.
    pub rollback_from: Option<String>,
    /// An unreadable state object that this publish replaces (`--force-state`): apply keeps it beside the
    /// state before it claims (see [`state::keep_aside`]).
    pub replaces: Option<state::Content>,
    /// The conditional-write probe object exists (created, or found, while the state was read): apply sends
    /// only the probe's two writes that must fail, beside its claim.
    pub probe_ready: bool,
    /// How long the state's read took: a round trip to the store (with the connection's handshake), which
    /// with the claim's sets how many requests the executor starts with. None: not read.
    pub read_took: Option<std::time::Duration>,
    /// The record was not read: this clone's own, claimed with `If-Match` on its ETag; a 412 means it
    /// changed, and the publish plans again on the record read ([`prepare_again`]).
    pub unread: bool,
    /// The distributions were planned with the answer the record kept: apply asks CloudFront again beside
    /// the claim, and plans again if the answer changed.
    pub cdn_kept: bool,
    /// What the new record keeps of the distributions' answer.
    pub cdn_answer: Option<crate::state::ResolvedCdn>,
    /// The name the commit was asked by (for planning again).
    pub rev_name: String,
    /// The report of a dry run; apply and wait fill in the rest.
    pub report: Report,
    /// A preview's publish: its record entry, and production as read (when the plan copies from it, its
    /// record must not have changed before the preview's is written).
    pub preview: Option<PreviewPrepared>,
}

/// What a preview's publish carries from prepare to apply.
pub struct PreviewPrepared {
    pub meta: Option<crate::state::PreviewMeta>,
    pub production: super::preview::Production,
    /// The plan copies from production's keys.
    pub copies_production: bool,
}

impl Prepared<'_> {
    /// The finished report: `status`, and what the executor did (None: nothing was transferred).
    pub fn into_report(self, status: &'static str, outcome: Option<Sent>) -> Report {
        let mut report = self.report;
        report.status = status;
        if let Some(o) = outcome {
            report.uploaded_bytes = o.uploaded_bytes;
            report.invalidation_ids = (o.invalidations.into_iter()).map(|(_, id)| id).collect();
        }
        report.elapsed_ms = self.started.elapsed().as_millis();
        report
    }

    /// The deploy the target holds now (from the state read).
    pub fn deployed(&self) -> Option<&Deploy> {
        self.current.as_ref().and_then(|st| st.deployed.as_ref())
    }
}

/// Prepare a publish: see the module comment.
pub async fn prepare<'s>(s: &'s Session, opts: &PublishOpts) -> Result<Prepared<'s>> {
    let started = Instant::now();
    let base = s.config.target(opts.target.as_deref())?;
    let owned: Cow<'s, Target> = match &opts.preview {
        Some(p) => Cow::Owned(crate::preview::derive(base, &p.name)),
        None => Cow::Borrowed(base),
    };
    let chosen = select_commit(s, opts)?;
    tracing::debug!("selected the commit: {} ms", started.elapsed().as_millis());
    check_env_endpoints(&owned)?;
    let backends = unresolved(&owned).await?;
    plan_from(s, opts, started, owned, chosen, backends, true).await
}

/// A claim made on this clone's own record was refused: the record changed (another publish). Forget it,
/// read the record and plan again, for the same commit (a snapshot build is not run again).
pub async fn prepare_again<'s>(
    s: &'s Session,
    opts: &PublishOpts,
    p: Prepared<'s>,
) -> Result<Prepared<'s>> {
    crate::records::forget_known(&s.repo, &p.target.name);
    let Prepared {
        started,
        target,
        commit,
        new_tree,
        mut backends,
        rev_name,
        report,
        ..
    } = p;
    backends.cdns.clear();
    let chosen = Chosen {
        rev_name,
        commit,
        new_tree,
        snapshot: report.snapshot,
    };
    plan_from(s, opts, started, target, chosen, backends, false).await
}

/// Everything after the commit is chosen: the target's record (this clone's own when `may_know` and it has
/// one, else read), the diff, the plan, the report skeleton.
async fn plan_from<'s>(
    s: &'s Session,
    opts: &PublishOpts,
    started: Instant,
    owned: Cow<'s, Target>,
    chosen: Chosen,
    mut backends: Backends,
    may_know: bool,
) -> Result<Prepared<'s>> {
    let lap = |what: &str| tracing::debug!("{what}: {} ms", started.elapsed().as_millis());
    let target: &Target = &owned;
    let base = s.config.target(opts.target.as_deref())?;
    let early_diff = speculative_diff(s, opts, target, &chosen)?;
    let key = state::key_of(target);
    let start = super::record::start(s, opts, target, &backends, &key, may_know).await?;
    backends.cdns = start.cdns;
    let (record, production) = (start.record, start.production);
    lap("read the state");
    let diffed = diff_against_target(
        s,
        opts,
        target,
        record.current.as_ref(),
        &record.takeover,
        early_diff,
        &chosen,
    )?;
    lap("diffed");
    let deployed = record.current.as_ref().and_then(|st| st.deployed.as_ref());
    super::preview::check_branch(opts, deployed)?;
    let elsewhere = production.as_ref().and_then(|p| p.elsewhere(s, base));
    let alongside = Alongside {
        elsewhere: elsewhere.as_ref(),
        others_this_month: (production.as_ref()).map_or(0, |p| p.paths_used_in(&s.clock.month())),
    };
    let (plan, carried) = plan_with_churn(
        s, opts, target, &backends, deployed, &diffed, &chosen, &alongside,
    )?;
    check_managed_function(&backends, &plan).await?;
    lap("planned");
    let plan_ms = started.elapsed().as_millis();
    let rollback_from = rollback_from(
        s,
        opts,
        &target.name,
        record.current.as_ref(),
        &chosen.commit,
    );
    let header = Header {
        target: &target.name,
        url: backends.store.describe(),
        rev_name: &chosen.rev_name,
        base_commit: diffed.base_commit.as_deref(),
        commit: &chosen.commit,
    };
    announce(s, opts, &header, &plan);
    let mut report = report_skeleton(opts, &header, &plan, diffed.resumed.is_some(), plan_ms);
    report.rollback_from = rollback_from.clone();
    let Chosen {
        rev_name,
        commit,
        new_tree,
        snapshot,
    } = chosen;
    report.snapshot = snapshot;
    let preview = production.map(|production| PreviewPrepared {
        meta: super::preview::meta(s, opts, &new_tree),
        copies_production: copies_from_elsewhere(&plan, target),
        production,
    });
    Ok(Prepared {
        started,
        target: owned,
        commit,
        new_tree,
        backends,
        key,
        current: record.current,
        etag: record.etag,
        base_commit: diffed.base_commit,
        resumed: diffed.resumed,
        plan,
        month: carried.month,
        used_this_month: carried.used_this_month,
        rollback_from,
        replaces: record.replaces,
        probe_ready: record.probe_ready,
        read_took: record.read_took,
        unread: record.unread,
        cdn_kept: start.cdn_kept,
        cdn_answer: start.cdn_answer,
        rev_name,
        report,
        preview,
    })
}

/// Whether the plan copies files from keys outside the target's own prefix (a preview: production's).
fn copies_from_elsewhere(plan: &Plan, target: &Target) -> bool {
    let own = format!("{}/", target.prefix());
    (plan.uploads.iter()).any(|u| u.copy_from.as_deref().is_some_and(|k| !k.starts_with(&own)))
}

/// What a publish plans beside its own diff: files of another prefix to copy from and the paths another
/// record counts this month (a preview: production's).
#[derive(Default)]
struct Alongside<'a> {
    elsewhere: Option<&'a super::preview::Elsewhere>,
    others_this_month: usize,
}

/// A diff started in another thread: the base tree it is against, and the thread.
type EarlyDiff = (String, JoinHandle<Result<Vec<plan::Change>>>);

/// While the state is read from the target (a network round trip), diff against the base it most likely
/// names in another thread: `--since`, else what this clone last saw deployed there
/// (refs/publish/<target>). The result is used only if the state agrees (see [`diff`]).
fn speculative_diff(
    s: &Session,
    opts: &PublishOpts,
    target: &Target,
    new: &Chosen,
) -> Result<Option<EarlyDiff>> {
    let guess = match &opts.since {
        Some(rev) => Some(s.repo.resolve_commit(rev)?),
        None => crate::records::read_mirror(&s.repo, &target.name),
    };
    Ok(guess.and_then(|c| {
        let tree = output_of(s, &c).ok()?;
        let repo = s.repo.reopen().ok()?;
        let (t, n, of) = (tree.clone(), new.new_tree.clone(), new.commit.clone());
        Some((
            tree,
            std::thread::spawn(move || repo.diff(Some(&t), &n, &of)),
        ))
    }))
}

/// The diff from what the target holds (and may hold, when resuming) to the new tree.
struct Diffed {
    base_commit: Option<String>,
    /// The interrupted publish this one finishes.
    resumed: Option<Pending>,
    changes: Vec<plan::Change>,
    /// Deployed files the plan may copy from (see [`copy_sources`]).
    old_listing: Option<Vec<plan::FileEntry>>,
}

/// Work out the base (and an interrupted publish to resume), diff, and find the copy sources.
fn diff_against_target(
    s: &Session,
    opts: &PublishOpts,
    target: &Target,
    current: Option<&State>,
    takeover: &Takeover,
    early: Option<EarlyDiff>,
    new: &Chosen,
) -> Result<Diffed> {
    let (base_commit, base_tree) = base(s, opts, target, current)?;
    let (bases, resumed) = bases_with_resume(s, takeover, &base_tree);
    let changes = diff(s, early, &bases, new)?;
    let old_listing = match (&bases[..], &base_tree) {
        ([_], Some(t)) => copy_sources(s, t, base_commit.as_deref(), &changes),
        _ => None,
    };
    Ok(Diffed {
        base_commit,
        resumed,
        changes,
        old_listing,
    })
}

/// What the target holds now: (commit, its output tree). `--since` names it; else the state's deployed
/// commit, which must be in this repository (with `--full`, an unknown one means "upload everything").
fn base(
    s: &Session,
    opts: &PublishOpts,
    target: &Target,
    current: Option<&State>,
) -> Result<(Option<String>, Option<String>)> {
    if let Some(rev) = &opts.since {
        let c = s.repo.resolve_commit(rev)?;
        let t = output_of(s, &c)?;
        return Ok((Some(c), Some(t)));
    }
    let Some(d) = current.and_then(|st| st.deployed.as_ref()) else {
        return Ok((None, None));
    };
    if s.repo.has_commit(&d.commit) {
        let t = output_of(s, &d.commit).or_else(|e| {
            if s.repo.has_tree(&d.tree) {
                Ok(d.tree.clone())
            } else {
                Err(e)
            }
        })?;
        Ok((Some(d.commit.clone()), Some(t)))
    } else if opts.full {
        s.ui.warn(&format!(
            "deployed commit {} is not in this repository: uploading everything, deleting nothing",
            state::short(&d.commit)
        ));
        Ok((Some(d.commit.clone()), None))
    } else {
        Err(Error::DeployedCommitUnknown {
            commit: d.commit.clone(),
            target: target.name.clone(),
        })
    }
}

/// The trees the target may hold: the base, plus the tree of an interrupted publish (resumed, or taken over
/// from a stale holder), which is returned too.
fn bases_with_resume(
    s: &Session,
    takeover: &Takeover,
    base_tree: &Option<String>,
) -> (Vec<Option<String>>, Option<Pending>) {
    let mut bases = vec![base_tree.clone()];
    let p = match takeover {
        Takeover::None => return (bases, None),
        Takeover::Resume(p) => p,
        Takeover::Stale(p, why) => {
            s.ui.note(why);
            p
        }
    };
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
    (bases, Some(p.clone()))
}

/// The changes from `bases` to `new_tree`: the speculative diff when it was against the one base, else a
/// diff now.
fn diff(
    s: &Session,
    early: Option<EarlyDiff>,
    bases: &[Option<String>],
    new: &Chosen,
) -> Result<Vec<plan::Change>> {
    match (early, bases) {
        (Some((tree, diff)), [Some(base)]) if *base == tree => diff
            .join()
            .map_err(|_| Error::Git("the diff thread panicked".into()))?,
        _ => s.repo.merged_diff(bases, &new.new_tree, &new.commit),
    }
}

/// What the deployed record carries into the next plan. With `--since` the record is not about the base,
/// so the month's count and the deferred deletes start empty.
struct Carried {
    /// The rules the deployed tree was published with.
    old_rules: plan::Rules,
    month: String,
    used_this_month: usize,
    deferred: Vec<String>,
}

impl Carried {
    fn from_deployed(s: &Session, opts: &PublishOpts, deployed: Option<&Deploy>) -> Carried {
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
        let deployed = deployed.filter(|_| opts.since.is_none());
        Carried {
            old_rules,
            used_this_month: deployed.map(|d| d.paths_used_in(&month)).unwrap_or(0),
            deferred: deployed
                .map(|d| d.deferred_deletes.clone())
                .unwrap_or_default(),
            month,
        }
    }
}

fn plan_settings(
    target: &Target,
    opts: &PublishOpts,
    backends: &Backends,
    used_this_month: usize,
) -> plan::Settings {
    plan::Settings {
        prefix: target.prefix().to_string(),
        cdns: backends.cdns.iter().map(|(c, _)| c.clone()).collect(),
        max_deletes: opts.max_deletes.unwrap_or(target.publish.max_deletes),
        max_invalidation_paths: target.cdn.max_invalidation_paths,
        forms: target.forms.clone(),
        invalidate_new_files: target.cdn.invalidate_new_files,
        full: opts.full,
        delay_deletes: target.publish.delay_deletes,
        // No budget where every CDN's invalidations are free (no free allowance a month to stay within).
        monthly_budget: match (backends.cdns.iter())
            .all(|(c, _)| c.profile.free_paths_a_month.is_none())
        {
            true if !backends.cdns.is_empty() => usize::MAX,
            _ => target.cdn.invalidation_budget,
        },
        used_this_month,
        within_prefix: crate::preview::is_preview(&target.name),
        keys: crate::state::key_rules(target),
    }
}

/// Plan the diff with what the deployed record carries over, then look for churn in the plan.
#[allow(clippy::too_many_arguments)]
fn plan_with_churn(
    s: &Session,
    opts: &PublishOpts,
    target: &Target,
    backends: &Backends,
    deployed: Option<&Deploy>,
    d: &Diffed,
    new: &Chosen,
    alongside: &Alongside,
) -> Result<(Plan, Carried)> {
    let carried = Carried::from_deployed(s, opts, deployed);
    let used = carried.used_this_month + alongside.others_this_month;
    let settings = plan_settings(target, opts, backends, used);
    let elsewhere = alongside.elsewhere.map(|e| plan::Elsewhere {
        prefix: &e.prefix,
        files: &e.files,
        rules: &e.rules,
    });
    let recorded = deployed.map(|d| d.redirects.clone()).unwrap_or_default();
    let similar = if target.publish.redirect_renames == RedirectRenames::Off {
        Vec::new()
    } else {
        s.repo.similar_pages(&d.changes, SIMILARITY)
    };
    let req = plan::redirects::Request {
        config: &s.config.redirects,
        recorded: &recorded,
        similar: &similar,
        renames: target.publish.redirect_renames.unasked(),
    };
    // Records from before forms were recorded say nothing: no change.
    let forms_changed =
        (deployed.and_then(|d| d.forms.as_deref())).is_some_and(|f| f != target.forms.describe());
    let input = plan::Input {
        changes: &d.changes,
        listing: None,
        old_listing: d.old_listing.as_deref(),
        rules: &s.config.rules,
        old_rules: &carried.old_rules,
        deferred: &carried.deferred,
        redirects: Some(&req),
        forms_changed,
        elsewhere: elsewhere.as_ref(),
    };
    let mut plan = plan_with_listing(s, &target.name, input, &settings, new)?;
    if !plan.redirects.proposed.is_empty()
        && may_ask(s, opts, target)
        && confirm_renames(s, &plan, target)
    {
        let apply = plan::redirects::Request {
            renames: plan::redirects::RenameMode::Apply,
            ..req
        };
        let input = plan::Input {
            redirects: Some(&apply),
            ..input
        };
        plan = plan_with_listing(s, &target.name, input, &settings, new)?;
    }
    plan.churn = churn(&s.repo, &d.changes, &plan);
    plan.function = managed_function(opts, target, backends, deployed, &plan)?;
    Ok((plan, carried))
}

/// `cdn_function = "manage"`: the function for the table after this publish, when it must be published: its
/// fingerprint differs from the one the deployed record keeps (a new table, other URL forms, another
/// distribution, or none recorded), or `--full`. None when it serves what it served: then nothing about it
/// is sent, and a publish of the deployed commit has nothing to do.
fn managed_function(
    opts: &PublishOpts,
    target: &Target,
    backends: &Backends,
    deployed: Option<&Deploy>,
    plan: &Plan,
) -> Result<Option<plan::Function>> {
    if !target.manages_cdn_function() || backends.cdns.is_empty() {
        return Ok(None);
    }
    let distributions: Vec<&str> = backends.cdns.iter().map(|(c, _)| c.id.as_str()).collect();
    let f = plan::cdn_function::function(
        &target.site(),
        &plan.redirects.table,
        &target.forms,
        &crate::preview::serving(target),
        &distributions,
    )?;
    let recorded = deployed.and_then(|d| d.function.as_deref());
    Ok((opts.full || recorded != Some(f.fingerprint.as_str())).then_some(f))
}

/// A managed function to publish must be this site's, on a distribution that is this site's: checked before
/// anything is written (read-only requests, made only when the function changes).
async fn check_managed_function(backends: &Backends, plan: &Plan) -> Result<()> {
    let Some(f) = &plan.function else {
        return Ok(());
    };
    for (_, cdn) in &backends.cdns {
        (crate::exec::check_function(cdn.as_ref(), f).await).map_err(|e| Error::Cdn {
            cdn: cdn.describe(),
            message: e.to_string(),
            hint: match e.hint() {
                "" => "check the distribution, or set cdn_function = \"off\"".into(),
                hint => hint.to_string(),
            },
        })?;
    }
    Ok(())
}

/// How similar (0..=100, git's rename score) an edited page must be to count as the same page moved.
const SIMILARITY: u8 = 50;

/// `redirect_renames = "ask"` asks only a person at a terminal: never in a dry run, with `--json`, in hooks
/// or CI (no terminal on stdin).
fn may_ask(s: &Session, opts: &PublishOpts, target: &Target) -> bool {
    target.publish.redirect_renames == RedirectRenames::Ask
        && !opts.dry_run
        && !s.ui.json
        && s.ui.can_ask()
}

/// Show the proposed redirects (`? /old/ → /new/`) and ask whether to apply them (default no).
fn confirm_renames(s: &Session, plan: &Plan, target: &Target) -> bool {
    for line in plan.redirects.lines.iter().filter(|l| l.starts_with('?')) {
        crate::ui::stderr_line(line);
    }
    s.ui.confirm(&format!(
        "{} moved (set redirect_renames = \"auto\" in [targets.{}] to stop asking); redirect their \
         old URLs to the new ones?",
        crate::ui::count(plan.redirects.proposed.len() as u64, "page", "pages"),
        target.name
    ))
}

/// The re-plan loop. `input` comes without the listing of the new tree: most plans don't need it (see
/// `plan::Input`). When the planner says it needs it, list the tree and plan again.
fn plan_with_listing(
    s: &Session,
    target: &str,
    input: plan::Input<'_>,
    settings: &plan::Settings,
    new: &Chosen,
) -> Result<Plan> {
    if let plan::Outcome::Planned(plan) = plan::build(target, &input, settings)? {
        return Ok(plan);
    }
    let listing = s.repo.listing(&new.new_tree, &new.commit)?;
    tracing::debug!("listed the new tree");
    let input = plan::Input {
        listing: Some(&listing),
        ..input
    };
    match plan::build(target, &input, settings)? {
        plan::Outcome::Planned(plan) => Ok(plan),
        plan::Outcome::NeedsListing => unreachable!("given the listing, plan::build plans"),
    }
}

/// Going back to a commit this target had before (`rollback`, or `--rev` naming an earlier deploy): the
/// commit that was live, announced. A publish without `--rev` (HEAD, or a fresh build) goes forward, even to a
/// commit deployed before.
fn rollback_from(
    s: &Session,
    opts: &PublishOpts,
    target: &str,
    current: Option<&State>,
    commit: &str,
) -> Option<String> {
    let live = current.and_then(|st| st.deployed.as_ref())?.commit.clone();
    let earlier = current.and_then(|st| st.history.iter().find(|d| d.commit == commit));
    let going_back = opts.rollback
        || (opts.rev.is_some() && earlier.is_some())
        || (opts.pushed && pushed_back(s, current, commit));
    if !going_back || live == commit || opts.since.is_some() {
        return None;
    }
    let when = earlier
        .map(|d| format!(" (deployed {} by {})", d.at, d.by))
        .unwrap_or_default();
    s.ui.note(&format!(
        "rollback: {target} goes back from {} to {}{when}",
        state::short(&live),
        state::short(commit)
    ));
    Some(live)
}

/// Whether live already contains `commit`, which a push sent (a force-push back to an ancestor). Snapshot
/// builds compare the source commits they were built from.
fn pushed_back(s: &Session, current: Option<&State>, commit: &str) -> bool {
    let Some(d) = current.and_then(|st| st.deployed.as_ref()) else {
        return false;
    };
    let source = |c: &str, recorded: Option<&String>| {
        recorded
            .cloned()
            .or_else(|| s.repo.snapshot_info(c).and_then(|i| i.source))
            .unwrap_or_else(|| c.to_string())
    };
    let (live, new) = (
        source(&d.commit, d.source_commit.as_ref()),
        source(commit, None),
    );
    live != new
        && s.repo
            .ahead_behind(&new, &live)
            .is_some_and(|(ahead, _)| ahead == 0)
}

/// What the publish goes from and to, for its first line and its report.
struct Header<'a> {
    target: &'a str,
    url: String,
    rev_name: &'a str,
    base_commit: Option<&'a str>,
    commit: &'a str,
}

/// The publish's first line (target, store, revision, from → to), then the plan.
fn announce(s: &Session, opts: &PublishOpts, h: &Header, plan: &Plan) {
    let from = h
        .base_commit
        .map(|c| s.repo.describe(c))
        .unwrap_or_else(|| "nothing deployed".into());
    s.ui.note(&format!(
        "{}{} → {} ({}): {} → {}",
        h.target,
        if opts.dry_run { " [dry run]" } else { "" },
        h.url,
        h.rev_name,
        from,
        s.repo.describe(h.commit)
    ));
    s.ui.plan(plan, opts.dry_run);
    if let Some(f) = &plan.function {
        let table = match &f.kvs {
            Some(k) => format!(
                ", with its table of {} URLs in the KeyValueStore {}",
                k.entries.len(),
                k.name
            ),
            None => String::new(),
        };
        s.ui.note(&format!(
            "the CloudFront function {} {} what the target records{table}: {}",
            f.name,
            if opts.full {
                "is re-sent regardless of"
            } else {
                "differs from"
            },
            if opts.dry_run {
                "it would be published"
            } else {
                "publishing it"
            }
        ));
    }
}

/// The report of a dry run ("planned"); apply and wait fill in the rest.
fn report_skeleton(
    opts: &PublishOpts,
    h: &Header,
    plan: &Plan,
    resumed: bool,
    plan_ms: u128,
) -> Report {
    Report {
        target: h.target.to_string(),
        url: h.url.clone(),
        base: h.base_commit.map(str::to_string),
        commit: h.commit.to_string(),
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
        resumed,
        uploaded_bytes: 0,
        invalidation_ids: Vec::new(),
        invalidation: plan.invalidation.clone(),
        copies: keys_of(plan, plan::UploadKind::Copy),
        header_updates: keys_of(plan, plan::UploadKind::Headers),
        deferred_deletes: plan.deferred.clone(),
        distributions: plan.cdn.clone(),
        budget: plan.budget.clone(),
        elapsed_ms: 0,
        plan_ms,
        churn: plan.churn.clone(),
        rollback_from: None,
        snapshot: None,
        redirects: plan.redirects.clone(),
    }
}

fn keys_of(plan: &Plan, kind: plan::UploadKind) -> Vec<String> {
    plan.uploads
        .iter()
        .filter(|u| u.kind == kind)
        .map(|u| u.key.clone())
        .collect()
}
