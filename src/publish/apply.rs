//! Step 2 of a publish: carry out a [`Prepared`] plan.
//!
//! Claim the target with a conditional write of the state, run the executor (Ctrl-C stops it), and on failure
//! release the claim while keeping the record that the publish is incomplete; on success write the final
//! state, then the `refs/publish/<target>` mirror (through `records`), and say what was done. It makes no
//! decision the plan has not made.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::config::{Backend, Locking};
use crate::error::{Error, Result};
use crate::exec::{Blobs, Event, Executor, Outcome};
use crate::plan::Plan;
use crate::state::{self, Deploy, Holder, Pending, Probe, State};
use crate::ui::human_bytes;

use super::{Prepared, PublishOpts, Session};

/// Apply the plan. `None`: the target already has the commit and there is nothing to do (nothing written).
pub async fn apply(s: &Session, opts: &PublishOpts, p: &Prepared<'_>) -> Result<Option<Outcome>> {
    warn_without_locking(s, p);
    let deployed_now = p.deployed().map(|d| d.commit.as_str());
    let function_changed = p.plan.function.is_some();
    if p.plan.is_empty()
        && !function_changed
        && p.resumed.is_none()
        && deployed_now == Some(p.commit.as_str())
    {
        s.ui.note(&format!(
            "{} already has {}: nothing to do",
            p.target.name,
            state::short(&p.commit)
        ));
        return Ok(None);
    }
    let me = Holder::me(&s.clock);
    let store = p.backends.state_store();
    // A managed function to publish changes what the site serves: it is done under a claim, like a file.
    let claims = !p.plan.is_empty() || function_changed;
    // The probe goes beside the claim (see `claim_probing`), except before a record is written with no claim
    // (nothing to change) or an unreadable one is kept aside and replaced: then it comes first.
    let probed_first = if !claims || p.replaces.is_some() {
        Some(probe_locking(s, p).await?)
    } else {
        None
    };
    keep_replaced_state(s, p).await?;
    let (outcome, mut next, etag, probe) = if !claims {
        // Nothing to change: record the new commit in one conditional write.
        let probe = probed_first.flatten();
        let outcome = Outcome::default();
        let next = State::finished(
            p.current.clone(),
            &p.target.name,
            deploy(s, p, &me, &outcome),
        );
        (outcome, next, p.etag.clone(), probe)
    } else {
        let (outcome, claimed, claim_etag, probe) =
            claim_and_run(s, opts, p, &me, probed_first).await?;
        let next = State::finished(Some(claimed), &p.target.name, deploy(s, p, &me, &outcome));
        (outcome, next, Some(claim_etag), probe)
    };
    if probe.is_some() {
        next.probe = probe;
    }
    let final_etag = state::write(store, &p.key, &p.target.name, &next, etag.as_deref()).await?;
    tracing::debug!("state written ({final_etag})");
    if let Err(e) = crate::records::update_mirror(&s.repo, &p.target.name, &p.commit) {
        s.ui.warn(&format!(
            "could not update refs/publish/{}: {e}",
            p.target.name
        ));
    }
    say_done(s, p, &outcome);
    Ok(Some(outcome))
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
    if p.target.locking == Locking::None {
        s.ui.warn(&format!(
            "target {}: locking = \"none\": the store is not trusted to refuse a second claim; two publishers \
             at once can overwrite each other's files and record",
            p.target.name
        ));
    }
}

/// Whether a publish to this target probes the store (until its state records a pass): not under
/// `locking = "none"`, nor for a local directory, whose conditions are emulated under a lock file.
pub(super) fn probes(target: &crate::config::Target) -> bool {
    !matches!(target.backend, Backend::Local { .. }) && target.locking != Locking::None
}

/// The claim relies on the store refusing conditional writes that fail: probe it before the first claim
/// (until the state records a pass) and stop if it does not. Returns the result for the state to record.
async fn probe_locking(s: &Session, p: &Prepared<'_>) -> Result<Option<Probe>> {
    let passed = (p.current.as_ref())
        .and_then(|c| c.probe.as_ref())
        .is_some_and(|pr| pr.conditional_writes);
    if passed || !probes(&p.target) {
        return Ok(None);
    }
    let store = p.backends.state_store();
    let key = state::probe_key(&p.key);
    if !p.probe_ready {
        state::probe_create(store, &key, &p.target.name).await?;
    }
    match state::probe_refusals(store, &key, &p.target.name).await? {
        None => Ok(Some(Probe {
            at: s.clock.rfc3339(),
            conditional_writes: true,
        })),
        Some(what) => Err(Error::ConditionalWritesIgnored {
            target: p.target.name.clone(),
            store: store.describe(),
            what,
        }),
    }
}

/// Claim while the store is probed (one round trip instead of two over a long link), unless it was probed
/// first (`probed_first`). A claim made on a store the probe then finds ignoring conditions is given back:
/// the record as read is written again, or, on a first publish, the claim deleted; nothing of the site has
/// been written. Returns the claimed state, its ETag, and the probe's result.
async fn claim_probing(
    s: &Session,
    p: &Prepared<'_>,
    pending: Pending,
    probed_first: Option<Option<Probe>>,
) -> Result<(State, String, Option<Probe>)> {
    let store = p.backends.state_store();
    let claim = || {
        state::claim(
            store,
            &p.key,
            &p.target.name,
            p.current.as_ref(),
            p.etag.as_deref(),
            pending.clone(),
        )
    };
    if let Some(probe) = probed_first {
        let (claimed, etag) = claim().await?;
        return Ok((claimed, etag, probe));
    }
    match futures::join!(claim(), probe_locking(s, p)) {
        (Ok((claimed, etag)), Ok(probe)) => Ok((claimed, etag, probe)),
        (Ok((_, etag)), Err(e)) => {
            give_back(p, &etag).await;
            Err(e)
        }
        (Err(_), Err(e @ Error::ConditionalWritesIgnored { .. })) => Err(e),
        (Err(e), _) => Err(e),
    }
}

/// Undo a claim the probe did not back: write the record as read over it, or delete it if there was none.
async fn give_back(p: &Prepared<'_>, etag: &str) {
    let store = p.backends.state_store();
    let undone = match &p.current {
        Some(st) => state::write(store, &p.key, &p.target.name, st, Some(etag))
            .await
            .map(drop),
        None => (store.delete_batch(std::slice::from_ref(&p.key)).await)
            .map_err(|e| state::store_err(&p.target.name, e)),
    };
    if let Err(e) = undone {
        tracing::warn!("could not give back the claim on {}: {e}", p.key);
    }
}

/// Why the executor stopped before the end.
enum Stop {
    Failed(String),
    Interrupted,
}

/// Claim the target, run the executor (stopped by Ctrl-C) and, if it stops early, release the claim with the
/// failure recorded in it. Returns what was done with the claimed state, the claim's ETag, and the probe's
/// result.
async fn claim_and_run(
    s: &Session,
    opts: &PublishOpts,
    p: &Prepared<'_>,
    me: &Holder,
    probed_first: Option<Option<Probe>>,
) -> Result<(Outcome, State, String, Option<Probe>)> {
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
    let (claimed, claim_etag, probe) = claim_probing(s, p, pending.clone(), probed_first).await?;
    // The quicker of the state's two requests is the nearer to one round trip (the read may have opened the
    // connection, the claim may have reused it).
    let round_trip = sent.elapsed().min(p.read_took);
    tracing::debug!("claimed {} ({})", p.key, claim_etag);
    if p.resumed.is_some() {
        // An interrupted publish may have left temporary files in a local target: ours to clean now.
        match store.remove_leftovers().await {
            Ok(0) => {}
            Ok(n) => s.ui.note(&format!(
                "removed {n} temporary file(s) an interrupted publish left"
            )),
            Err(e) => s.ui.warn(&format!(
                "could not remove what an interrupted publish left: {e}"
            )),
        }
    }
    let blobs = Arc::new(s.repo.blob_reader()?);
    match run(s, opts, p, blobs, &claim_started, round_trip).await {
        Ok(outcome) => Ok((outcome, claimed, claim_etag, probe)),
        Err(stop) => {
            let message = match &stop {
                Stop::Failed(m) => m.clone(),
                Stop::Interrupted => "interrupted (Ctrl-C)".to_string(),
            };
            release(p, claimed, pending, &claim_etag, message.clone()).await;
            Err(match stop {
                Stop::Failed(_) => exec_error(&p.target.name, message),
                Stop::Interrupted => Error::Interrupted {
                    target: p.target.name.clone(),
                },
            })
        }
    }
}

/// Run the executor over the plan, showing its progress; Ctrl-C stops it.
async fn run(
    s: &Session,
    opts: &PublishOpts,
    p: &Prepared<'_>,
    blobs: Arc<dyn Blobs>,
    claim_started: &str,
    round_trip: std::time::Duration,
) -> std::result::Result<Outcome, Stop> {
    let executor = Executor {
        store: p.backends.store.as_ref(),
        cdns: p
            .backends
            .cdns
            .iter()
            .map(|(c, cdn)| (c.id.clone(), cdn.as_ref()))
            .collect(),
        blobs,
        concurrency: p.target.concurrency,
        round_trip: Some(round_trip),
        caller_reference: caller_reference(
            &p.target.name,
            p.base_commit.as_deref(),
            &p.commit,
            &p.plan,
            claim_started,
        ),
    };
    // The executor's workers call this: it captures only what is shared between threads.
    let (ui, plan, full) = (&s.ui, &p.plan, opts.full);
    let on = |ev: Event| ui.show_event(ev, plan, full);
    let result = tokio::select! {
        r = executor.run(&p.plan, &on) => r.map_err(|e| Stop::Failed(e.to_string())),
        _ = tokio::signal::ctrl_c() => Err(Stop::Interrupted),
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
    (p.target.publisher.clone())
        .or_else(|| s.repo.config_string("user.name"))
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| me.user.clone())
}

/// The record of this deploy, as the final state keeps it.
fn deploy(s: &Session, p: &Prepared<'_>, me: &Holder, outcome: &Outcome) -> Deploy {
    let snap_info = s.repo.snapshot_info(&p.commit);
    Deploy {
        commit: p.commit.clone(),
        tree: p.new_tree.clone(),
        at: s.clock.rfc3339(),
        by: publisher(s, p, me),
        uploads: p.plan.uploads.len(),
        deletes: p.plan.deletes.len(),
        invalidation_paths: p.plan.invalidation.paths,
        invalidation_ids: outcome.invalidation_ids.clone(),
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
            None if p.target.cdn_function_managed => p.deployed().and_then(|d| d.function.clone()),
            None => None,
        },
        forms: Some(p.target.forms.describe()),
        preview: p.preview.as_ref().and_then(|v| v.meta.clone()),
    }
}

/// The closing line: what was published (or rolled back) where, how fast, and what it took.
fn say_done(s: &Session, p: &Prepared<'_>, outcome: &Outcome) {
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
