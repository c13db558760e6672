//! Where a publish starts from: the target's record, its distributions and (for a preview) production's
//! record, as one value ([`Start`]), with as few round trips before the claim as the publish can afford.
//!
//! - This clone knows the record (it wrote it last: `records::KnownRecord`, kept with
//!   `refs/publish/<target>`): nothing is read. The publish plans on it and claims with `If-Match` on its ETag;
//!   a 412 then says the record changed, and the publish reads it and plans again (`super::prepare_again`).
//!   The distributions' answer kept in that record plans the invalidation; apply asks CloudFront again beside
//!   the claim and plans again if the answer changed.
//! - Otherwise the record is read, and CloudFront (and production's record, for a preview) asked, at the same
//!   time: one round trip, not one after another.
//!
//! It writes nothing to the site (with `state = …`, a record still in the site is moved once, see
//! [`state::move_record`]; a first publish creates the conditional-write probe object beside the record).

use std::time::{Duration, Instant};

use crate::backends::{Backends, CdnEntry};
use crate::config::{Backend, Locking, Target};
use crate::error::Result;
use crate::state::{self, ResolvedCdn, State, Takeover};

use super::preview::Production;
use super::session::Session;
use crate::settings::PublishOpts;

/// The target's record as a publish starts from it.
pub struct Record {
    /// None: nothing deployed (first publish).
    pub current: Option<State>,
    pub etag: Option<String>,
    pub takeover: Takeover,
    /// The bytes of an unreadable record this publish replaces (`--force-state`).
    pub replaces: Option<state::Content>,
    /// The conditional-write probe object exists (created, or found, while the record was read).
    pub probe_ready: bool,
    /// How long the read took (None: not read).
    pub read_took: Option<Duration>,
    /// Not read: this clone's own record, to claim with `If-Match` on its ETag.
    pub unread: bool,
}

/// Everything a publish needs from the target before it plans.
pub struct Start {
    pub record: Record,
    pub cdns: Vec<CdnEntry>,
    /// What the new record keeps of the distributions' answer.
    pub cdn_answer: Option<ResolvedCdn>,
    /// `cdns` come from the record, not from CloudFront: apply checks them beside the claim.
    pub cdn_kept: bool,
    /// A preview's: production's record.
    pub production: Option<Production>,
}

/// Where the publish starts from (see the module comment). `may_know`: this clone's own record may stand in
/// for a read.
pub async fn start(
    s: &Session,
    opts: &PublishOpts,
    target: &Target,
    backends: &Backends,
    key: &str,
    may_know: bool,
) -> Result<Start> {
    let say = |n| s.ui.say(n);
    let base = s.config.target(opts.target.as_deref())?;
    let production = async {
        match &opts.preview {
            Some(_) => Production::read(backends, base).await.map(Some),
            None => Ok(None),
        }
    };
    let resolve = async {
        match &backends.lookup {
            Some(l) => l.resolve(&say).await,
            None => Ok((Vec::new(), None)),
        }
    };
    let store = backends.state_store().describe();
    if let Some((current, etag)) = may_know
        .then(|| known(s, opts, target, &store, key))
        .flatten()
    {
        let kept = (current.deployed.as_ref()).and_then(|d| d.cdn.as_ref());
        let from_record = (backends.lookup.as_ref())
            .filter(|l| l.asks())
            .zip(kept)
            .and_then(|(l, k)| Some((l.kept(k, &say)?, k.clone())));
        let takeover = state::check_pending(
            &target.name,
            Some(&current),
            target.publish.claim_lease,
            opts.take_over,
            &s.clock,
        )?;
        let record = Record {
            current: Some(current),
            etag: Some(etag),
            takeover,
            replaces: None,
            probe_ready: false,
            read_took: None,
            unread: true,
        };
        let ((cdns, cdn_answer), cdn_kept) = match from_record {
            Some((cdns, kept)) => ((cdns, Some(kept)), true),
            None => (resolve.await?, false),
        };
        return Ok(Start {
            record,
            cdns,
            cdn_answer,
            cdn_kept,
            production: production.await?,
        });
    }
    let (record, resolved, production) = futures::join!(
        read_state(s, opts, target, backends, key),
        resolve,
        production
    );
    let record = record?;
    let (cdns, cdn_answer) = match resolved {
        Ok(r) => r,
        Err(e) => {
            forget_probe(backends, target, key, &record).await;
            return Err(e);
        }
    };
    Ok(Start {
        record,
        cdns,
        cdn_answer,
        cdn_kept: false,
        production: production?,
    })
}

/// This clone's own record of the target, with the invalidations it saw created marked so, and its ETag:
/// only for a publish (not a dry run, which reads what is there) to a store whose conditional writes are
/// known to hold (`If-Match` is what tells a changed record), and only while `refs/publish/<target>` still
/// names the commit it was kept with.
fn known(
    s: &Session,
    opts: &PublishOpts,
    target: &Target,
    store: &str,
    key: &str,
) -> Option<(State, String)> {
    if opts.dry_run || target.store.locking == Locking::None {
        return None;
    }
    let k = crate::records::read_known(&s.repo, &target.name)?;
    if k.key != key || k.store != store {
        return None;
    }
    let mut st = state::parse(k.body.as_bytes(), &target.name, key).ok()?;
    let trusted = !state::probes(target) || st.probe.as_ref().is_some_and(|p| p.conditional_writes);
    if !trusted || st.pending.is_some() {
        return None;
    }
    for (reference, id) in &k.confirmed {
        st.confirm(reference, id);
    }
    tracing::debug!(
        "claiming on this clone's record of {} ({})",
        target.name,
        k.etag
    );
    Some((st, k.etag))
}

/// The distributions could not be resolved (a setting to fix): a first publish that created the probe object
/// while it read the record takes it away again, so that a publish stopped by its settings leaves the target
/// as it found it.
async fn forget_probe(backends: &Backends, target: &Target, key: &str, record: &Record) {
    if record.probe_ready && record.current.is_none() && record.etag.is_none() {
        let probe = state::probe_key(key);
        if let Err(e) = backends.state_store().delete_batch(&[probe]).await {
            tracing::debug!("could not remove the probe object of {}: {e}", target.name);
        }
    }
}

/// Read the target's record (see [`Record`]): the state (None: first publish), its ETag, what to do about a
/// publish it has pending (refuse while a live holder has it, resume, or take over), the bytes of an
/// unreadable state this publish replaces, and whether the conditional-write probe object is there. With
/// `state = …`, a record still in the site is moved there first (see [`state::move_record`]; a dry run reads
/// it where it is).
///
/// A clone that has never published this target (no `refs/publish/<target>`) is most likely making a first
/// publish, which must probe the store before it claims: it creates the probe object (in the record's
/// directory, never a key of the site) while it reads the record, so that over a long link the probe costs
/// no round trip of its own. Not in a dry run, which writes nothing.
async fn read_state(
    s: &Session,
    opts: &PublishOpts,
    target: &Target,
    backends: &Backends,
    key: &str,
) -> Result<Record> {
    warn_state_inside_site(s, target);
    // A preview's record never lived anywhere else: nothing to move.
    let old = match &opts.preview {
        None => state::move_record(backends.stores(), target, opts.dry_run).await?,
        Some(_) => None,
    };
    let store = backends.state_store();
    let first_here = crate::records::read_mirror(&s.repo, &target.name).is_none();
    let speculate = first_here && !opts.dry_run && state::probes(target);
    let probe = async {
        speculate
            && (state::probe_create(store, &state::probe_key(key), &target.name).await).is_ok()
    };
    let timed_read = async {
        let sent = Instant::now();
        let read = state::read_versioned(store, key, &target.name).await;
        (read, sent.elapsed())
    };
    let ((read, read_took), probe_ready) = futures::join!(timed_read, probe);
    let (mut current, etag, replaces) = match read? {
        state::Read::Absent => (None, None, None),
        state::Read::Found(st, etag) => (Some(*st), Some(etag), None),
        state::Read::Unreadable(u) => {
            let (etag, content) = replace_unreadable(s, opts, key, u)?;
            (None, Some(etag), Some(content))
        }
    };
    if current.is_none() && replaces.is_none() && opts.preview.is_none() {
        warn_default_record_in_site(s, target);
    }
    if let (None, Some(old)) = (&current, old) {
        // A dry run does not move the record: plan against it where it still is.
        current = Some(state::parse(&old.body, &target.name, key)?);
    }
    let takeover = state::check_pending(
        &target.name,
        current.as_ref(),
        target.publish.claim_lease,
        opts.take_over,
        &s.clock,
    )?;
    Ok(Record {
        current,
        etag,
        takeover,
        replaces,
        probe_ready,
        read_took: Some(read_took),
        unread: false,
    })
}

/// An unreadable state object is replaced only by a publish that says what is deployed (`--since REV`) or
/// doesn't need to know (`--full`), and only once told to: `--force-state`, or a yes on the terminal. One too
/// large to read is replaced the same way. Its ETag (the claim's `If-Match`) and content (kept beside it by
/// apply).
fn replace_unreadable(
    s: &Session,
    opts: &PublishOpts,
    key: &str,
    u: state::Unreadable,
) -> Result<(String, state::Content)> {
    let says_what_is_deployed = opts.since.is_some() || opts.full;
    if u.is_newer_format() || !says_what_is_deployed {
        return Err(u.error);
    }
    let told = opts.force_state
        || s.ui.confirm(&format!(
            "{key} can't be read ({}). Replace it, keeping its bytes beside it?",
            u.error
        ));
    if !told {
        return Err(u.error);
    }
    s.ui.warn(&format!(
        "{key} can't be read ({}): {} it with a new record; its bytes are kept as {}",
        u.error,
        if opts.dry_run {
            "would replace"
        } else {
            "replacing"
        },
        state::corrupt_copy_key(key, &s.clock)
    ));
    Ok((u.etag, u.content))
}

/// A directory target's first publish with the record where it is by default, `.git-publish/` inside the
/// served directory: say once (there is no record yet) that it and its lock are served with the site unless a
/// web server is told otherwise, as an explicit `state` there is warned about on every publish.
fn warn_default_record_in_site(s: &Session, target: &Target) {
    let (Backend::Local { root }, None) = (&target.store.backend, &target.store.state) else {
        return;
    };
    s.ui.warn(&format!(
        "target {}: the deploy record (.git-publish/state.json, which names commits and publishers) and its \
         lock (.git-publish/lock) are kept inside the served directory {}; a web server serving it serves them \
         too unless told not to. To keep them out, set `state = \"file:///A/PRIVATE/DIR/state.json\"` for \
         the target (README: \"The deploy record is not public\")",
        target.name,
        root.display()
    ));
}

/// `state = "file://…"` inside the served directory is served like the site: say so.
fn warn_state_inside_site(s: &Session, target: &Target) {
    let (Backend::Local { root }, Some(loc)) = (&target.store.backend, &target.store.state) else {
        return;
    };
    if let Backend::Local { root: dir } = &loc.backend {
        if dir.join(&loc.key).starts_with(root) {
            s.ui.warn(&format!(
                "target {}: the deploy record {} is inside the served directory {}, so anyone who can read \
                 the site can read it; set `state` to a path outside it",
                target.name,
                loc.describe(),
                root.display()
            ));
        }
    }
}
