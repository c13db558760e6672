//! The claim's round trip. The claim goes with `If-Match` on the record read, or, unread, on this clone's
//! own record (`super::record`); beside it, at the same time and on other connections, goes what need not
//! wait for its answer:
//! - the conditional-write probe's two writes that must fail (a first publish);
//! - CloudFront asked again, when the plan used the distributions' answer the record kept;
//! - the invalidations the record lists as requested and this clone did not see created, sent again (the
//!   same reference and paths answer the same invalidation);
//! - the connections the upload waves and the invalidation will use, opened ahead (`aws::connect`).
//!
//! Nothing of the site is written before the claim's answer. A claim the probe or CloudFront's answer does
//! not back is given back: the record as it was is written over it.

use crate::backends::settings_of;
use crate::error::{Error, Result};
use crate::exec;
use crate::state::{self, Pending, Probe, State};

use super::prepare::Prepared;
use super::session::Session;

/// What the claim's round trip brought back.
pub struct Claim {
    /// The record as claimed, and its ETag.
    pub state: State,
    pub etag: String,
    /// The probe's result for the record to keep.
    pub probe: Option<Probe>,
    /// Requested invalidations sent again and answered: (reference, id).
    pub confirmed: Vec<(String, String)>,
}

/// Whether the conditional-write probe goes beside the claim, or already ran (and what it found).
#[derive(Debug, Clone)]
pub enum Probing {
    Beside,
    /// It ran first; its result for the record (None: nothing to keep).
    Done(Option<Probe>),
}

impl Probing {
    /// The probe's result when it ran first.
    pub fn result(self) -> Option<Probe> {
        match self {
            Probing::Done(probe) => probe,
            Probing::Beside => None,
        }
    }
}

/// Claim the target (see the module comment). `probing`: whether the probe already ran. `Ok(None)`: plan again,
/// on the record read: this clone's own record was not the target's any more (412), or CloudFront's answer
/// changed since the record kept it (the claim given back).
pub async fn claim(
    s: &Session,
    p: &Prepared<'_>,
    pending: Pending,
    probing: Probing,
) -> Result<Option<Claim>> {
    open_ahead(p);
    let claim = async {
        if p.unread {
            claim_known(s, p, pending.clone()).await
        } else {
            let store = p.backends.state_store();
            let (current, etag) = (p.current.as_ref(), p.etag.as_deref());
            state::claim(
                store,
                &p.key,
                &p.target.name,
                current,
                etag,
                pending.clone(),
            )
            .await
            .map(Some)
        }
    };
    let probe = async {
        match probing.clone() {
            Probing::Done(done) => Ok(done),
            Probing::Beside => probe_locking(s, p).await,
        }
    };
    let (claimed, probe, cdns_hold, confirmed) =
        futures::join!(claim, probe, cdns_unchanged(p), resend(s, p));
    match (claimed, probe) {
        (Ok(Some((state, etag))), Ok(probe)) if cdns_hold => Ok(Some(Claim {
            state,
            etag,
            probe,
            confirmed,
        })),
        (Ok(Some((_, etag))), Ok(_)) => {
            s.ui.note(
                "the distributions' origin paths changed since the last publish: planning again",
            );
            give_back(p, &etag).await;
            Ok(None)
        }
        (Ok(None), _) => Ok(None),
        (Ok(Some((_, etag))), Err(e)) => {
            give_back(p, &etag).await;
            Err(e)
        }
        (Err(_), Err(e @ Error::ConditionalWritesIgnored { .. })) => Err(e),
        (Err(e), _) => Err(e),
    }
}

/// Open the connections the plan's requests will want at once (sized by the flow's start, see
/// `exec::connections_for`), while the claim is on its way.
fn open_ahead(p: &Prepared<'_>) {
    let start = exec::flow::start_for(p.read_took, p.target.publish.concurrency);
    let (store, cdn) = exec::connections_for(
        &p.plan,
        start,
        p.backends.store.profile().max_keys_per_delete,
    );
    p.backends.origins.open(store, cdn);
}

/// The claim on this clone's own record, unread: `If-Match` on the ETag it kept. `Ok(None)`: 412, the record
/// changed since.
async fn claim_known(
    s: &Session,
    p: &Prepared<'_>,
    pending: Pending,
) -> Result<Option<(State, String)>> {
    let next = state::claiming(p.current.as_ref(), &p.target.name, pending);
    let store = p.backends.state_store();
    match state::write(store, &p.key, &p.target.name, &next, p.etag.as_deref()).await {
        Ok(etag) => Ok(Some((next, etag))),
        Err(Error::LostRace { .. }) => {
            changed_note(s, p);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The record is not the one this clone kept: say why the plan is made again.
pub(super) fn changed_note(s: &Session, p: &Prepared<'_>) {
    s.ui.note(&format!(
        "the record of {} changed since this clone last published (another publish since): planning again",
        p.target.name
    ));
}

/// Whether CloudFront still answers what the record kept, when the plan used that (an answer that can't be
/// had, or had to be assumed, leaves the kept one standing).
async fn cdns_unchanged(p: &Prepared<'_>) -> bool {
    let Some(lookup) = p.backends.lookup.as_ref().filter(|_| p.cdn_kept) else {
        return true;
    };
    match lookup.resolve(&|_| {}).await {
        Ok((fresh, Some(_))) => settings_of(&fresh) == settings_of(&p.backends.cdns),
        Ok((_, None)) => true,
        Err(e) => {
            tracing::debug!("could not ask CloudFront again ({e}): planning with the kept answer");
            true
        }
    }
}

/// Send again the invalidations the record lists as requested (see `State::invalidations_requested`):
/// the answered ones, as (reference, id).
pub(super) async fn resend(s: &Session, p: &Prepared<'_>) -> Vec<(String, String)> {
    let requested = (p.current.as_ref()).map_or(&[][..], |c| &c.invalidations_requested[..]);
    if requested.is_empty() {
        return Vec::new();
    }
    let list: Vec<exec::Invalidation> = (requested.iter())
        .map(|r| exec::Invalidation {
            distribution: r.distribution.clone(),
            reference: r.reference.clone(),
            paths: r.paths.clone(),
        })
        .collect();
    let cdns: Vec<(String, &dyn exec::Cdn)> = (p.backends.cdns.iter())
        .map(|(c, cdn)| (c.id.clone(), cdn.as_ref()))
        .collect();
    let answers = exec::invalidate_each(&cdns, &list, &|_| {}).await;
    let mut confirmed = Vec::new();
    for (r, answer) in requested.iter().zip(answers) {
        match answer {
            Ok(id) => confirmed.push((r.reference.clone(), id)),
            Err(e) => s.ui.warn(&format!(
                "the invalidation of {} requested by the publish of {} is not known to exist, and sending it \
                 again failed: {e}",
                r.distribution,
                state::short(&r.commit)
            )),
        }
    }
    confirmed
}

/// The claim relies on the store refusing conditional writes that fail: probe it before the first claim
/// (until the state records a pass) and stop if it does not. Returns the result for the state to record.
pub(super) async fn probe_locking(s: &Session, p: &Prepared<'_>) -> Result<Option<Probe>> {
    let passed = (p.current.as_ref())
        .and_then(|c| c.probe.as_ref())
        .is_some_and(|pr| pr.conditional_writes);
    if passed || !state::probes(&p.target) {
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

/// Undo a claim: write the record as it was over it, or delete it if there was none.
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
