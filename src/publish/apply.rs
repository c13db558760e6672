//! Step 2 of a publish: carry out a [`Prepared`] plan.
//!
//! Claim the target with a conditional write of the state (`claim.rs`), run the executor (Ctrl-C stops it),
//! and on failure release the claim while keeping the record that the publish is incomplete. On success the
//! final record and the invalidation go at the same time (see [`finish`]), then the `refs/publish/<target>`
//! mirror and this clone's copy of the record (through `records`), and say what was done. It makes no
//! decision the plan has not made.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::config::Locking;
use crate::error::{Error, Result};
use crate::exec::{self, Event, Executor, Invalidation, Sent};
use crate::plan::Plan;
use crate::records::KnownRecord;
use crate::state::{self, Deploy, Holder, Pending, Probe, Requested, State};
use crate::ui::human_bytes;

use super::claim::{self, Claim};
use super::prepare::Prepared;
use super::session::Session;
use crate::settings::PublishOpts;

/// What [`apply`] did.
pub enum Applied {
    /// Published (`Some`), or nothing to do (`None`: nothing written).
    Done(Option<Sent>),
    /// The record was not what this clone knew (or CloudFront's answer changed): nothing of the site was
    /// written; plan again on the record read (`super::prepare_again`).
    Replan,
}

/// Apply the plan (see the module comment).
pub async fn apply(s: &Session, opts: &PublishOpts, p: &Prepared<'_>) -> Result<Applied> {
    warn_without_locking(s, p);
    let deployed_now = p.deployed().map(|d| d.commit.as_str());
    let function_changed = p.plan.function.is_some();
    if p.plan.is_empty()
        && !function_changed
        && p.resumed.is_none()
        && deployed_now == Some(p.commit.as_str())
    {
        return settle(s, p).await;
    }
    // A write is coming: whatever happens, the record this clone kept is not the target's any more.
    crate::records::forget_known(&s.repo, &p.target.name);
    let me = Holder::me(&s.clock);
    // A managed function to publish changes what the site serves: it is done under a claim, like a file.
    let claims = !p.plan.is_empty() || function_changed;
    // The probe goes beside the claim (see `claim::claim`), except before a record is written with no claim
    // (nothing to change) or an unreadable one is kept aside and replaced: then it comes first.
    let probing = if !claims || p.replaces.is_some() {
        claim::Probing::Done(claim::probe_locking(s, p).await?)
    } else {
        claim::Probing::Beside
    };
    keep_replaced_state(s, p).await?;
    let ran = if claims {
        claim_and_run(s, opts, p, &me, probing).await?
    } else {
        // Nothing to change: record the new commit in one conditional write.
        let confirmed = claim::resend(s, p).await;
        Some(Ran {
            outcome: Sent::default(),
            base: p.current.clone(),
            etag: p.etag.clone(),
            probe: probing.result(),
            confirmed,
            invalidations: Vec::new(),
            claimed: false,
        })
    };
    let Some(ran) = ran else {
        return Ok(Applied::Replan);
    };
    finish(s, opts, p, &me, ran).await
}

/// What the executor did under the claim, and what the final record is written over.
struct Ran {
    outcome: Sent,
    /// The record the final one replaces (the claim), and its ETag.
    base: Option<State>,
    etag: Option<String>,
    probe: Option<Probe>,
    /// Requested invalidations sent again and answered: (reference, id).
    confirmed: Vec<(String, String)>,
    /// This publish's invalidations, to create while the final record is written.
    invalidations: Vec<Invalidation>,
    /// Whether a claim was written first (else the final record is the publish's only write).
    claimed: bool,
}

/// The target already has the commit and nothing is to change. Unread, this clone's own record must still be
/// the target's (one GET) before "nothing to do" can be said. Invalidations the record lists as requested
/// are sent again, and the record says which were created.
async fn settle(s: &Session, p: &Prepared<'_>) -> Result<Applied> {
    let store = p.backends.state_store();
    if p.unread {
        let now =
            (store.get_versioned(&p.key).await).map_err(|e| state::store_err(&p.target.name, e))?;
        if now.map(|v| v.etag) != p.etag {
            claim::changed_note(s, p);
            return Ok(Applied::Replan);
        }
    }
    let confirmed = claim::resend(s, p).await;
    if let (false, Some(current)) = (confirmed.is_empty(), &p.current) {
        let mut next = current.clone();
        for (reference, id) in &confirmed {
            next.confirm(reference, id);
        }
        match state::write(store, &p.key, &p.target.name, &next, p.etag.as_deref()).await {
            Ok(etag) => keep_record(s, p, &next, etag, Vec::new()),
            Err(Error::LostRace { .. }) if p.unread => {
                claim::changed_note(s, p);
                return Ok(Applied::Replan);
            }
            Err(e) => return Err(e),
        }
        s.ui.note(&format!(
            "{} an earlier publish requested {} created",
            crate::ui::count(confirmed.len() as u64, "invalidation", "invalidations"),
            if confirmed.len() == 1 { "is" } else { "are" }
        ));
    }
    s.ui.note(&format!(
        "{} already has {}: nothing to do",
        p.target.name,
        state::short(&p.commit)
    ));
    Ok(Applied::Done(None))
}

/// The final record and this publish's invalidation, at the same time: the record lists the invalidation
/// as requested (never as created: it may not be, yet), with the ids of the requested invalidations that
/// were seen answered. What this clone saw answered is kept with its copy of the record, and its next claim
/// writes it into the record.
///
/// Why this is safe: the record is written only after every upload, delete and the managed function were
/// answered, as before, so it never names a commit whose files are not all there. CloudFront's invalidation
/// needs the same: it goes after them too, and only its relation to the record changes. A kill before the
/// record is written leaves the claim, and the next publish resumes with the same `CallerReference` (the
/// same invalidation). A kill after the record is written and before CloudFront created the invalidation
/// leaves it requested in the record, and the next publish sends it again (the same invalidation, if it was
/// created after all). An invalidation that fails leaves it requested too, and the publish says so and
/// exits non-zero.
async fn finish(
    s: &Session,
    opts: &PublishOpts,
    p: &Prepared<'_>,
    me: &Holder,
    ran: Ran,
) -> Result<Applied> {
    let Ran {
        mut outcome,
        base,
        etag,
        probe,
        confirmed,
        invalidations,
        claimed,
    } = ran;
    let mut base = base;
    for (reference, id) in &confirmed {
        if let Some(b) = base.as_mut() {
            b.confirm(reference, id);
        }
    }
    let d = deploy(s, p, me);
    let requested: Vec<Requested> = (invalidations.iter())
        .map(|i| Requested {
            commit: d.commit.clone(),
            at: d.at.clone(),
            distribution: i.distribution.clone(),
            reference: i.reference.clone(),
            paths: i.paths.clone(),
        })
        .collect();
    let mut next = State::finished(base, &p.target.name, d);
    next.invalidations_requested.extend(requested);
    if probe.is_some() {
        next.probe = probe;
    }
    let store = p.backends.state_store();
    let write = state::write(store, &p.key, &p.target.name, &next, etag.as_deref());
    let (written, created) = futures::join!(write, invalidate(s, opts, p, &invalidations));
    let final_etag = match written {
        // The record's only write, on the ETag this clone kept: another publish since. Nothing was written:
        // read it and plan again, as a claim's 412 does.
        Err(Error::LostRace { .. }) if !claimed && p.unread => {
            claim::changed_note(s, p);
            return Ok(Applied::Replan);
        }
        w => w?,
    };
    tracing::debug!("state written ({final_etag})");
    if let Err(e) = crate::records::update_mirror(&s.repo, &p.target.name, &p.commit) {
        s.ui.warn(&format!(
            "could not update refs/publish/{}: {e}",
            p.target.name
        ));
    }
    let answered: Vec<(String, String)> = (invalidations.iter().zip(&created))
        .filter_map(|(i, c)| Some((i.reference.clone(), c.as_ref().ok()?.clone())))
        .collect();
    keep_record(s, p, &next, final_etag, answered);
    for (i, c) in invalidations.iter().zip(&created) {
        if let Ok(id) = c {
            outcome
                .invalidations
                .push((i.distribution.clone(), id.clone()));
        }
    }
    say_done(s, p, &outcome);
    if let Some((i, Err(e))) = invalidations.iter().zip(created).find(|(_, c)| c.is_err()) {
        let cdn = (p.backends.cdns.iter()).find(|(c, _)| c.id == i.distribution);
        return Err(Error::Cdn {
            cdn: cdn.map_or(i.distribution.clone(), |(_, cdn)| cdn.describe()),
            message: format!("invalidating: {e}"),
            hint: exec::with_hint(
                &e,
                "the files are published and recorded; the record keeps the invalidation as requested, \
                 and the next publish sends it again (`git publish` with nothing new does just that)",
            ),
        });
    }
    Ok(Applied::Done(Some(outcome)))
}

/// Create this publish's invalidations (one answer each), showing them as the executor's events.
async fn invalidate(
    s: &Session,
    opts: &PublishOpts,
    p: &Prepared<'_>,
    list: &[Invalidation],
) -> Vec<std::result::Result<String, exec::CdnError>> {
    if list.is_empty() {
        return Vec::new();
    }
    let (ui, plan, full) = (&s.ui, &p.plan, opts.full);
    let on = |ev: Event| ui.show_event(ev, plan, full);
    on(Event::Phase("invalidation", p.plan.invalidation.paths));
    exec::invalidate_each(&cdns_of(p), list, &on).await
}

/// The target's distributions as the executor takes them.
fn cdns_of<'a>(p: &'a Prepared<'_>) -> Vec<(String, &'a dyn exec::Cdn)> {
    (p.backends.cdns.iter())
        .map(|(c, cdn)| (c.id.clone(), cdn.as_ref()))
        .collect()
}

/// Keep the record as written (its ETag and bytes, and the invalidations seen answered since) beside
/// `refs/publish/<target>`, so that the next publish from this clone claims without reading it.
fn keep_record(
    s: &Session,
    p: &Prepared<'_>,
    st: &State,
    etag: String,
    confirmed: Vec<(String, String)>,
) {
    let Some(commit) = st.deployed.as_ref().map(|d| d.commit.clone()) else {
        return;
    };
    let known = KnownRecord {
        commit,
        store: p.backends.state_store().describe(),
        key: p.key.clone(),
        etag,
        body: String::from_utf8(state::encode(st)).unwrap_or_default(),
        confirmed,
    };
    crate::records::write_known(&s.repo, &p.target.name, &known);
}

/// Before an unreadable state is replaced (`--force-state`), keep its bytes beside it.
async fn keep_replaced_state(s: &Session, p: &Prepared<'_>) -> Result<()> {
    let Some(content) = &p.replaces else {
        return Ok(());
    };
    let copy = state::corrupt_copy_key(&p.key, &s.clock);
    state::keep_aside(p.backends.state_store(), &p.key, &copy, content)
        .await
        .map_err(|e| state::store_err(&p.target.name, e))?;
    s.ui.note(&format!("kept the unreadable state as {copy}"));
    Ok(())
}

/// `locking = "none"`: say on every publish that the store's conditional writes are not relied upon.
fn warn_without_locking(s: &Session, p: &Prepared<'_>) {
    if p.target.store.locking == Locking::None {
        s.ui.warn(&format!(
            "target {}: locking = \"none\": the store is not trusted to refuse a second claim; two publishers \
             at once can overwrite each other's files and record",
            p.target.name
        ));
    }
}

/// Why the executor stopped before the end.
enum Stop {
    Failed(String),
    Interrupted,
}

/// Claim the target, run the executor (stopped by Ctrl-C) and, if it stops early, release the claim with the
/// failure recorded in it. `None`: plan again (see [`Applied::Replan`]).
async fn claim_and_run(
    s: &Session,
    opts: &PublishOpts,
    p: &Prepared<'_>,
    me: &Holder,
    probing: claim::Probing,
) -> Result<Option<Ran>> {
    let store = p.backends.state_store();
    // Reuse the interrupted claim's start time when resuming the same publish, so that the CloudFront
    // CallerReference is the same and a retried invalidation is not paid twice.
    let claim_started = match &p.resumed {
        Some(r) if r.commit == p.commit && r.base == p.base_commit => r.started.clone(),
        _ => s.clock.rfc3339(),
    };
    let pending = Pending {
        commit: p.commit.clone(),
        tree: p.new_tree.clone(),
        base: p.base_commit.clone(),
        started: claim_started.clone(),
        holder: Some(me.clone()),
        error: None,
    };
    let sent = std::time::Instant::now();
    let Some(claimed) = claim::claim(s, p, pending.clone(), probing).await? else {
        return Ok(None);
    };
    // The quicker of the state's two requests is the nearer to one round trip (the read may have opened the
    // connection, the claim may have reused it).
    let took = sent.elapsed();
    let round_trip = p.read_took.map_or(took, |r| r.min(took));
    tracing::debug!("claimed {} ({})", p.key, claimed.etag);
    if p.resumed.is_some() {
        // An interrupted publish may have left temporary files in a local target: ours to clean now.
        match store.remove_leftovers().await {
            Ok(0) => {}
            Ok(n) => s.ui.note(&format!(
                "removed {} an interrupted publish left",
                crate::ui::count(n as u64, "temporary file", "temporary files")
            )),
            Err(e) => s.ui.warn(&format!(
                "could not remove what an interrupted publish left: {e}"
            )),
        }
    }
    let Claim {
        state: claimed_state,
        etag,
        probe,
        confirmed,
    } = claimed;
    let base = caller_reference(
        &p.target.name,
        p.base_commit.as_deref(),
        &p.commit,
        &p.plan,
        &claim_started,
    );
    let ids: Vec<&str> = p.backends.cdns.iter().map(|(c, _)| c.id.as_str()).collect();
    match run(s, opts, p, round_trip).await {
        Ok(outcome) => Ok(Some(Ran {
            outcome,
            base: Some(claimed_state),
            etag: Some(etag),
            probe,
            confirmed,
            invalidations: exec::invalidations(&p.plan, &ids, &base),
            claimed: true,
        })),
        Err(stop) => {
            let message = match &stop {
                Stop::Failed(m) => m.clone(),
                Stop::Interrupted => "interrupted (Ctrl-C)".to_string(),
            };
            release(p, claimed_state, pending, &etag, message.clone()).await;
            Err(match stop {
                Stop::Failed(_) => exec_error(&p.target.name, message),
                Stop::Interrupted => Error::Interrupted {
                    target: p.target.name.clone(),
                },
            })
        }
    }
}

/// Run the executor over the plan up to the invalidation, showing its progress; Ctrl-C stops it.
async fn run(
    s: &Session,
    opts: &PublishOpts,
    p: &Prepared<'_>,
    round_trip: std::time::Duration,
) -> std::result::Result<Sent, Stop> {
    let blobs = s
        .repo
        .blob_reader()
        .map_err(|e| Stop::Failed(e.to_string()))?;
    let executor = Executor {
        store: p.backends.store.as_ref(),
        cdns: cdns_of(p),
        blobs: Arc::new(blobs),
        concurrency: p.target.publish.concurrency,
        round_trip: Some(round_trip),
    };
    // The executor's workers call this: it captures only what is shared between threads.
    let (ui, plan, full) = (&s.ui, &p.plan, opts.full);
    let on = |ev: Event| ui.show_event(ev, plan, full);
    // `biased`, Ctrl-C first: its handler is installed by its first poll, which must come before the
    // executor's first poll sends the first upload (unbiased, select! polls in random order, and a Ctrl-C
    // right after that upload killed the process instead of releasing the claim).
    let result = tokio::select! {
        biased;
        _ = tokio::signal::ctrl_c() => Err(Stop::Interrupted),
        r = executor.run(&p.plan, &on) => r.map_err(|e| Stop::Failed(e.to_string())),
    };
    s.ui.finish_progress();
    let outcome = result?;
    production_unchanged(p).await?;
    Ok(outcome)
}

/// A preview that copied files from production: production's record must be the one read before the copies
/// (a production publish in between may have replaced a source while it was copied). If it is not, the
/// preview's record is not written; its next publish resumes and copies again.
async fn production_unchanged(p: &Prepared<'_>) -> std::result::Result<(), Stop> {
    let Some(v) = p.preview.as_ref().filter(|v| v.copies_production) else {
        return Ok(());
    };
    match v.production.unchanged(&p.backends).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Stop::Failed(
            "production was published while this preview copied files from it: a copied file may be the \
             newer version; run `git publish preview` again (it copies them again)"
                .into(),
        )),
        Err(e) => Err(Stop::Failed(format!("could not read production's record again: {e}"))),
    }
}

/// Release the claim but keep the record that this publish is incomplete (and why).
async fn release(p: &Prepared<'_>, claimed: State, pending: Pending, etag: &str, message: String) {
    let mut failed = claimed;
    failed.pending = Some(Pending {
        holder: None,
        error: Some(message),
        ..pending
    });
    let store = p.backends.state_store();
    if let Err(e) = state::write(store, &p.key, &p.target.name, &failed, Some(etag)).await {
        tracing::warn!("could not record the failure in the state: {e}");
    }
}

/// The name this deploy is recorded under: `publisher`, else git's `user.name`, else the OS user. Never the
/// host or the pid: the record may be readable by anyone (only the claim, while held, names them).
fn publisher(s: &Session, p: &Prepared<'_>, me: &Holder) -> String {
    (p.target.publish.publisher.clone())
        .or_else(|| s.repo.config_string("user.name"))
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| me.user.clone())
}

/// The record of this deploy, as the final state keeps it. Its invalidations are only requested when it is
/// written (see [`finish`]): their ids come later.
fn deploy(s: &Session, p: &Prepared<'_>, me: &Holder) -> Deploy {
    let snap_info = s.repo.snapshot_info(&p.commit);
    Deploy {
        commit: p.commit.clone(),
        tree: p.new_tree.clone(),
        at: s.clock.rfc3339(),
        by: publisher(s, p, me),
        uploads: p.plan.uploads.len(),
        deletes: p.plan.deletes.len(),
        invalidation_paths: p.plan.invalidation.paths,
        invalidation_ids: Vec::new(),
        rules: Some(s.config.rules.specs().to_vec()),
        deferred_deletes: p.plan.deferred.clone(),
        invalidation_month: p.month.clone(),
        invalidation_paths_month: p.used_this_month + p.plan.invalidation.paths,
        rollback_from: p.rollback_from.clone(),
        source_commit: snap_info.as_ref().and_then(|i| i.source.clone()),
        dirty: snap_info.as_ref().is_some_and(|i| i.dirty),
        redirects: p.plan.redirects.table.clone(),
        // A function left out of the plan serves what the deployed record says it serves.
        function: match &p.plan.function {
            Some(f) => Some(f.fingerprint.clone()),
            None if p.target.manages_cdn_function() => {
                p.deployed().and_then(|d| d.function.clone())
            }
            None => None,
        },
        forms: Some(p.target.forms.describe()),
        preview: p.preview.as_ref().and_then(|v| v.meta.clone()),
        cdn: p.cdn_answer.clone(),
    }
}

/// The closing line: what was published (or rolled back) where, how fast, and what it took.
fn say_done(s: &Session, p: &Prepared<'_>, outcome: &Sent) {
    let plan = &p.plan;
    let url = &p.report.url;
    let copied = plan.uploads.iter().filter(|u| !u.sends_bytes()).count();
    let (label, what) = if p.rollback_from.is_some() {
        (
            "rolled",
            format!("{url} back to {}", state::short(&p.commit)),
        )
    } else {
        ("published", format!("{} to {url}", state::short(&p.commit)))
    };
    s.ui.done(
        label,
        &format!(
            "{what} in {:.1}s: uploaded {} ({}), copied {copied} in place, deleted {}, invalidated {}",
            p.started.elapsed().as_secs_f64(),
            crate::ui::count((plan.uploads.len() - copied) as u64, "file", "files"),
            human_bytes(outcome.uploaded_bytes),
            plan.deletes.len(),
            crate::ui::count(plan.invalidation.paths as u64, "path", "paths")
        ),
    );
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
