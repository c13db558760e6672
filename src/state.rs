//! The deployed-commit record that lives in the target (`<prefix>/.git-publish/state.json`, or where the
//! target's `state` puts it, out of what the site serves; see [`move_record`]): read first,
//! claimed with a conditional write before anything changes, written last after everything succeeded.
//!
//! Protocol (works with S3's primitives; the local-directory store emulates them under a lock file):
//! 1. GET the state (ETag e0; absent on a first publish). A clone that wrote the record last keeps e0 and the
//!    record's bytes (`records::KnownRecord`) and skips this GET: a 412 at step 2 then says the record
//!    changed, and that publish reads it and plans again.
//! 2. PUT it back with `pending` = "publishing B by host/pid since T", `If-Match: e0` (`If-None-Match: *`
//!    when absent). 412: someone else moved first; re-read and report who.
//! 3. Uploads, deletes (and the managed CloudFront function).
//! 4. PUT `deployed` = B, `pending` = none, with `If-Match: e1`, at the same time as B's CloudFront
//!    invalidation: the record lists it as requested ([`State::invalidations_requested`]), never as created,
//!    and a later publish moves it to the deploy's `invalidation_ids` once CloudFront has answered it.
//!
//! While `pending` is set the target may hold any mix of the deployed tree and B's, so the next publish diffs
//! against both (see `source::Repo::merged_diff`) and says it is resuming.
//!
//! This module owns the record's types, their constructors (empty, from the local mirror ref, finished) and
//! the conditional reads and writes. It does not decide what to publish, touch git, or print.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::config::Target;
use crate::error::{Error, Result};
use crate::exec::{ObjectStore, Precondition, StoreError, Versioned};
use crate::plan::rules::RuleSpec;

mod errors;
mod format;
mod probe;
#[cfg(test)]
mod record_tests;
mod reserved;
pub use errors::store_err;
pub use format::FORMAT;
pub use probe::{probe_conditional_writes, probe_create, probe_key, probe_refusals, probes};
pub use reserved::{key_of, key_rules, state_key};

/// How many past deploys the record keeps.
pub const HISTORY: usize = 20;

/// The two stores the record may be in: the site's, and the one `state = …` names (the site's when unset).
#[derive(Clone, Copy)]
pub struct Stores<'a> {
    pub site: &'a dyn ObjectStore,
    pub record: &'a dyn ObjectStore,
}

/// With `state = …` set, a record still at the old place (the site's `.git-publish/state.json`) is moved
/// once, through the same conditional writes: read it, write it to the new place with `If-None-Match: *`
/// (412: already there, from an earlier move that stopped before its delete), and only then delete the old
/// one. A crash between the two leaves both; the next run finds the new one there and finishes the delete.
/// Returns whether a record was found at the old place.
pub async fn move_record(
    stores: Stores<'_>,
    target: &Target,
    dry_run: bool,
) -> Result<Option<Versioned>> {
    if target.store.state.is_none() {
        return Ok(None);
    }
    let err = |e| store_err(&target.name, e);
    let old_key = state_key(target.prefix());
    let Some(old) = stores.site.get_versioned(&old_key).await.map_err(err)? else {
        return Ok(None);
    };
    // Moved as it is, even when it can't be read (a publish then reports it at its new place), but never one
    // a newer git-publish wrote: nothing is written for that.
    if let Err(e @ Error::StateTooNew { .. }) = parse(&old.body, &target.name, &old_key) {
        return Err(e);
    }
    if dry_run {
        return Ok(Some(old));
    }
    let new_key = key_of(target);
    let to = stores.record;
    match to
        .put_versioned(&new_key, old.body.clone(), Precondition::Absent)
        .await
    {
        Ok(_) | Err(StoreError::PreconditionFailed) => {}
        Err(e) => return Err(err(e)),
    }
    let old_probe = probe_key(&old_key);
    (stores.site.delete_batch(&[old_key, old_probe]).await).map_err(err)?;
    Ok(Some(old))
}

/// Read the record for the commands that only read it (`status`, `log`): from `state = …`, or, until a
/// publish has moved it there, from its old place in the site.
pub async fn read_for(
    stores: Stores<'_>,
    target: &Target,
) -> Result<(Option<State>, Option<String>)> {
    let (st, etag) = read(stores.record, &key_of(target), &target.name).await?;
    if st.is_some() || target.store.state.is_none() {
        return Ok((st, etag));
    }
    let old = state_key(target.prefix());
    read(stores.site, &old, &target.name).await
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    /// The record's format ([`FORMAT`] when this build writes it; 1 when a record doesn't say).
    #[serde(default = "format::unnumbered")]
    pub format: u32,
    pub target: String,
    #[serde(default)]
    pub deployed: Option<Deploy>,
    #[serde(default)]
    pub pending: Option<Pending>,
    #[serde(default)]
    pub history: Vec<Deploy>,
    /// The conditional-write probe's result (see [`probe_conditional_writes`]): recorded once it passed, so
    /// that it runs on the first publish only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<Probe>,
    /// Invalidations that deploys requested and that no record has seen created: a publish sends its
    /// invalidation while its final record is written, so that record can only say it was requested. The
    /// next publish (or the same clone's next claim, which saw the answer) moves each one to its deploy's
    /// `invalidation_ids` once CloudFront has answered it, sending it again first when it was not seen
    /// answered (the same reference and paths return the same invalidation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalidations_requested: Vec<Requested>,
}

/// An invalidation a deploy requested (see [`State::invalidations_requested`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Requested {
    /// The deploy that requested it: its commit and when it was recorded (`Deploy::at`).
    pub commit: String,
    pub at: String,
    pub distribution: String,
    /// CloudFront's `CallerReference`: sent again with the same paths, it answers the same invalidation.
    pub reference: String,
    pub paths: Vec<String>,
}

/// When the store was seen to refuse conditional writes that must fail.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Probe {
    pub at: String,
    pub conditional_writes: bool,
}

impl State {
    /// The state of a target nothing was ever published to.
    pub fn empty(target: &str) -> State {
        State {
            format: FORMAT,
            target: target.to_string(),
            deployed: None,
            pending: None,
            history: Vec::new(),
            probe: None,
            invalidations_requested: Vec::new(),
        }
    }

    /// What the local mirror `refs/publish/<target>` says, when the target itself can't be read: only the
    /// deployed commit is known.
    pub fn from_local_ref(target: &str, commit: String) -> State {
        State {
            deployed: Some(Deploy::commit_only(commit)),
            ..State::empty(target)
        }
    }

    /// The state after `deploy` finished: it is live, first in the history, and nothing is pending.
    /// `current` is what the target held (None on a first publish).
    pub fn finished(current: Option<State>, target: &str, deploy: Deploy) -> State {
        let mut st = current.unwrap_or_else(|| State::empty(target));
        st.format = FORMAT;
        st.pending = None;
        st.history.insert(0, deploy.clone());
        st.history.truncate(HISTORY);
        st.deployed = Some(deploy);
        st
    }

    /// CloudFront answered the requested invalidation `reference` with `id`: it is no longer only requested,
    /// and its deploy (as `deployed` and in the history) lists the id. False if no such request is recorded.
    pub fn confirm(&mut self, reference: &str, id: &str) -> bool {
        let Some(i) = (self.invalidations_requested.iter()).position(|r| r.reference == reference)
        else {
            return false;
        };
        let r = self.invalidations_requested.remove(i);
        let of_it = |d: &&mut Deploy| d.commit == r.commit && d.at == r.at;
        for d in self.deployed.iter_mut().chain(self.history.iter_mut()) {
            if of_it(&d) && !d.invalidation_ids.iter().any(|x| x == id) {
                d.invalidation_ids.push(id.to_string());
            }
        }
        true
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Deploy {
    pub commit: String,
    pub tree: String,
    pub at: String,
    pub by: String,
    #[serde(default)]
    pub uploads: usize,
    #[serde(default)]
    pub deletes: usize,
    #[serde(default)]
    pub invalidation_paths: usize,
    #[serde(default)]
    pub invalidation_ids: Vec<String>,
    /// The `[[rules]]` this tree was published with: the next publish recomputes every unchanged object's
    /// headers from them (metadata follows config) without per-key data.
    /// Read tolerantly: a rule key this build doesn't know is ignored ([`format::tolerant_rules`]).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "format::tolerant_rules"
    )]
    pub rules: Option<Vec<RuleSpec>>,
    /// Site paths removed by this publish whose delete waits for the next one (`delay_deletes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deferred_deletes: Vec<String>,
    /// Invalidation paths sent this calendar month (UTC, `YYYY-MM` in `invalidation_month`), this one included.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub invalidation_month: String,
    #[serde(default)]
    pub invalidation_paths_month: usize,
    /// Set when this deploy went back to an earlier one: the commit that was live before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_from: Option<String>,
    /// For a snapshot build: the source commit it was built from (kept here so that every clone can show it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
    /// For a snapshot build: the working tree had uncommitted changes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dirty: bool,
    /// The redirect table this tree was published with (`[[redirects]]` and renamed pages): renames survive
    /// later publishes through it, and the next publish writes only what changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirects: Vec<crate::plan::redirects::Redirect>,
    /// The fingerprint of what the managed CloudFront function served after this deploy (its code, its
    /// KeyValueStore table, its name and distributions: `plan::cdn_function::fingerprint`). A publish whose
    /// fingerprint differs publishes the function, even of the deployed commit; one that matches sends
    /// nothing about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// The URL forms this tree was published with (`UrlForms::describe`): a publish with other forms
    /// invalidates the whole site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forms: Option<String>,
    /// A preview's deploy: its name, its branch and its size (`git publish preview list`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<PreviewMeta>,
    /// What the target's `distribution` setting resolved to when this deploy was planned (ids and origin
    /// paths), so that the next publish can plan without asking CloudFront first (it checks the answer beside
    /// its claim). Not kept when the origin path had to be assumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cdn: Option<ResolvedCdn>,
}

/// The distributions a target's settings resolved to (see [`Deploy::cdn`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResolvedCdn {
    /// The settings they were resolved from (`backends::CdnLookup::spec`): another value means
    /// another answer.
    pub from: String,
    pub distributions: Vec<ResolvedDistribution>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResolvedDistribution {
    pub id: String,
    pub origin_path: String,
}

/// What a preview's record says about it beyond a deploy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PreviewMeta {
    pub name: String,
    pub branch: String,
    /// Files and bytes of its tree.
    pub files: usize,
    pub bytes: u64,
}

impl Deploy {
    /// A deploy of which only the commit is known (read from the local mirror ref).
    pub fn commit_only(commit: String) -> Deploy {
        Deploy {
            commit,
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
            redirects: vec![],
            function: None,
            forms: None,
            preview: None,
            cdn: None,
        }
    }

    /// Invalidation paths already sent in `month` (UTC `YYYY-MM`, see `Clock::month`) by the deploys up to
    /// this one: the count restarts when the month (or the year) changes.
    pub fn paths_used_in(&self, month: &str) -> usize {
        if self.invalidation_month == month {
            self.invalidation_paths_month
        } else {
            0
        }
    }
}

/// A publish that started and has not finished: in progress (holder set) or failed/killed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pending {
    pub commit: String,
    pub tree: String,
    pub base: Option<String>,
    pub started: String,
    #[serde(default)]
    pub holder: Option<Holder>,
    /// Why it stopped, when the publisher could still say so.
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Holder {
    pub host: String,
    pub pid: u32,
    pub user: String,
    pub since: String,
    pub since_unix: u64,
}

impl Holder {
    pub fn me(clock: &Clock) -> Holder {
        Holder {
            host: hostname(),
            pid: std::process::id(),
            user: std::env::var("USER")
                .or_else(|_| std::env::var("USERNAME"))
                .unwrap_or_else(|_| "unknown".into()),
            since: clock.rfc3339(),
            since_unix: clock.unix(),
        }
    }

    /// `user@host (pid N)`, the names quoted as [`quote_path`](crate::quote::quote_path) shows them (a
    /// record is anyone's writing).
    pub fn describe(&self) -> String {
        let q = crate::quote::quote_path;
        format!("{}@{} (pid {})", q(&self.user), q(&self.host), self.pid)
    }

    /// How long the claim has been held, by `clock` (zero if it claims to start in the future).
    pub fn age(&self, clock: &Clock) -> Duration {
        clock.since_unix(self.since_unix)
    }

    /// Provably gone: same host and no such process.
    pub fn is_dead_here(&self) -> bool {
        if self.host != hostname() {
            return false;
        }
        if self.pid == std::process::id() {
            return false;
        }
        crate::os::is_gone(self.pid)
    }
}

pub fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// What the claim check decided about an existing `pending` record.
#[derive(Debug, Clone, PartialEq)]
pub enum Takeover {
    /// No pending record.
    None,
    /// A failed or killed publish left it (holder gone or released): resume.
    Resume(Pending),
    /// A holder that is provably dead or past its lease: take over, saying why, and resume.
    Stale(Pending, String),
}

/// Decide what to do with `state.pending` before claiming. `force` = `--take-over`.
pub fn check_pending(
    target: &str,
    state: Option<&State>,
    lease: Duration,
    force: bool,
    clock: &Clock,
) -> Result<Takeover> {
    let Some(p) = state.and_then(|s| s.pending.clone()) else {
        return Ok(Takeover::None);
    };
    let Some(h) = p.holder.clone() else {
        return Ok(Takeover::Resume(p));
    };
    if h.is_dead_here() {
        let why = format!(
            "the claim by {} since {} is stale: that process is gone",
            h.describe(),
            h.since
        );
        return Ok(Takeover::Stale(p, why));
    }
    if h.host != hostname() && h.age(clock) > lease {
        let why = format!(
            "the claim by {} since {} is older than the lease ({}); taking it over",
            h.describe(),
            h.since,
            humantime::format_duration(lease)
        );
        return Ok(Takeover::Stale(p, why));
    }
    if force {
        let why = format!(
            "taking over the claim by {} since {} (--take-over)",
            h.describe(),
            h.since
        );
        return Ok(Takeover::Stale(p, why));
    }
    Err(Error::Busy {
        target: target.to_string(),
        holder: h.describe(),
        since: h.since,
        commit: short(&p.commit),
    })
}

/// Read and parse the record.
pub async fn read(
    store: &dyn ObjectStore,
    key: &str,
    target: &str,
) -> Result<(Option<State>, Option<String>)> {
    match read_versioned(store, key, target).await? {
        Read::Absent => Ok((None, None)),
        Read::Found(st, etag) => Ok((Some(*st), Some(etag))),
        Read::Unreadable(u) => Err(u.error),
    }
}

/// What is stored at the state's key.
pub enum Read {
    /// Nothing: a first publish.
    Absent,
    /// A record, and its ETag.
    Found(Box<State>, String),
    /// Something that isn't a record this build can use (corrupt, foreign, or from a newer git-publish).
    Unreadable(Unreadable),
}

/// A state object that can't be read as a record, kept so that `--since`/`--full` can replace it once told
/// to (`--force-state`), after saving its bytes beside it ([`keep_aside`]).
pub struct Unreadable {
    pub content: Content,
    pub etag: String,
    pub error: Error,
}

/// What an unreadable state object holds, for keeping it beside the record before it is replaced.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// Its bytes, as read.
    Bytes(Vec<u8>),
    /// Not read: more than a record can be ([`crate::exec::MAX_VERSIONED_BYTES`]); its size.
    TooLarge(u64),
}

impl Unreadable {
    /// Whether replacing it may lose a record a newer git-publish wrote (never replaced).
    pub fn is_newer_format(&self) -> bool {
        matches!(self.error, Error::StateTooNew { .. })
    }
}

/// Read the state, keeping an unreadable object's bytes (or, for one too large to read, its size) and ETag
/// instead of failing.
pub async fn read_versioned(store: &dyn ObjectStore, key: &str, target: &str) -> Result<Read> {
    let v = match store.get_versioned(key).await {
        Ok(Some(v)) => v,
        Ok(None) => return Ok(Read::Absent),
        // Not a record this build can use: reported, and replaceable, like a corrupt one (never read whole).
        Err(e @ StoreError::TooLarge { .. }) => {
            let message = e.to_string();
            let StoreError::TooLarge { size, etag, .. } = e else {
                unreachable!()
            };
            return Ok(Read::Unreadable(Unreadable {
                content: Content::TooLarge(size),
                etag,
                error: Error::StateCorrupt {
                    target: target.into(),
                    key: key.into(),
                    message,
                },
            }));
        }
        Err(e) => return Err(store_err(target, e)),
    };
    Ok(match parse(&v.body, target, key) {
        Ok(st) => Read::Found(Box::new(st), v.etag),
        Err(error) => Read::Unreadable(Unreadable {
            content: Content::Bytes(v.body),
            etag: v.etag,
            error,
        }),
    })
}

/// Keep an unreadable state object at `copy` before it is replaced: the bytes read, or, for one too large to
/// read, a copy the store makes itself (S3 CopyObject; a streamed file copy locally), so it is never held in
/// memory.
pub async fn keep_aside(
    store: &dyn ObjectStore,
    key: &str,
    copy: &str,
    content: &Content,
) -> std::result::Result<(), StoreError> {
    let headers = crate::exec::ObjectHeaders {
        content_type: "application/octet-stream".into(),
        ..Default::default()
    };
    match content {
        Content::Bytes(body) => {
            let body = bytes::Bytes::from(body.clone());
            store.put(copy, body, &headers).await
        }
        Content::TooLarge(_) => store.copy(key, copy, &headers).await,
    }
}

/// Where an unreadable state's bytes are kept when it is replaced: `<key>.corrupt-<UTC time>` (no `:` in it,
/// so that it is a valid file name everywhere).
pub fn corrupt_copy_key(key: &str, clock: &crate::clock::Clock) -> String {
    let t: String = clock
        .rfc3339()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    format!("{key}.corrupt-{t}")
}

/// Read a record: refused as too new when its format is later than [`FORMAT`] (before anything else in it is
/// read), as corrupt when it isn't a record.
pub fn parse(body: &[u8], target: &str, key: &str) -> Result<State> {
    let corrupt = |e: serde_json::Error| Error::StateCorrupt {
        target: target.into(),
        key: key.into(),
        message: e.to_string(),
    };
    let numbered: format::Numbered = serde_json::from_slice(body).map_err(corrupt)?;
    if numbered.format > FORMAT {
        return Err(Error::StateTooNew {
            target: target.into(),
            key: key.into(),
            found: numbered.format,
            supported: FORMAT,
        });
    }
    serde_json::from_slice(body).map_err(corrupt)
}

/// The record's bytes as [`write`] stores them.
pub fn encode(state: &State) -> Vec<u8> {
    serde_json::to_vec_pretty(state).expect("state serializes")
}

/// Conditional write of the whole record. 412 becomes `LostRace`.
pub async fn write(
    store: &dyn ObjectStore,
    key: &str,
    target: &str,
    state: &State,
    etag: Option<&str>,
) -> Result<String> {
    let body = encode(state);
    let cond = match etag {
        Some(e) => Precondition::Matches(e.to_string()),
        None => Precondition::Absent,
    };
    let mut attempts = 0;
    loop {
        match store.put_versioned(key, body.clone(), cond.clone()).await {
            Ok(etag) => return Ok(etag),
            Err(StoreError::PreconditionFailed) => {
                // A retried request whose first attempt did land (e.g. the connection dropped after the
                // server applied it) fails its own precondition: that is a win, not a lost race.
                if let Ok(Some(now)) = store.get_versioned(key).await {
                    if now.body == body {
                        return Ok(now.etag);
                    }
                }
                return Err(Error::LostRace {
                    target: target.into(),
                });
            }
            Err(StoreError::Conflict) if attempts < 3 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(200 * attempts)).await;
            }
            Err(e) => return Err(store_err(target, e)),
        }
    }
}

/// The claim's record: `current` (None: a first publish) with `pending` set.
pub fn claiming(current: Option<&State>, target: &str, pending: Pending) -> State {
    let mut next = current.cloned().unwrap_or_else(|| State::empty(target));
    next.format = FORMAT;
    next.pending = Some(pending);
    next
}

/// Claim the target: write `pending` with us as holder over the record we read (etag). On a lost race,
/// re-read to name who won.
pub async fn claim(
    store: &dyn ObjectStore,
    key: &str,
    target: &str,
    current: Option<&State>,
    etag: Option<&str>,
    pending: Pending,
) -> Result<(State, String)> {
    let next = claiming(current, target, pending);
    match write(store, key, target, &next, etag).await {
        Ok(e) => Ok((next, e)),
        Err(Error::LostRace { .. }) => {
            let (now, _) = read(store, key, target).await?;
            // Finished between our read and our claim: name who published what, and when.
            if let Some(d) = now
                .as_ref()
                .filter(|s| s.pending.is_none())
                .and_then(|s| s.deployed.as_ref())
            {
                return Err(Error::Overtaken {
                    target: target.into(),
                    by: d.by.clone(),
                    at: d.at.clone(),
                    commit: short(&d.commit),
                });
            }
            if let Some(Pending {
                holder: Some(h),
                commit,
                ..
            }) = now.and_then(|s| s.pending)
            {
                return Err(Error::Busy {
                    target: target.into(),
                    holder: h.describe(),
                    since: h.since,
                    commit: short(&commit),
                });
            }
            Err(Error::LostRace {
                target: target.into(),
            })
        }
        Err(e) => Err(e),
    }
}

/// A commit id for messages: its first 12 characters (a record may hold anything there: never cut inside a
/// character), quoted as [`quote_path`](crate::quote::quote_path) shows a name.
pub fn short(id: &str) -> String {
    let end = id.char_indices().nth(12).map_or(id.len(), |(i, _)| i);
    crate::quote::quote_path(&id[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_with(holder: Option<Holder>) -> State {
        State {
            format: FORMAT,
            target: "t".into(),
            deployed: None,
            pending: Some(Pending {
                commit: "b".repeat(40),
                tree: "c".repeat(40),
                base: None,
                started: "2027-12-31T23:00:00Z".into(),
                holder,
                error: None,
            }),
            history: vec![],
            probe: None,
            invalidations_requested: vec![],
        }
    }

    #[test]
    fn parse_rejects_newer_and_corrupt() {
        assert!(matches!(
            parse(b"{\"format\": 2, \"target\": \"t\"}", "t", "k"),
            Err(Error::StateTooNew { found: 2, .. })
        ));
        assert!(matches!(
            parse(b"{not json", "t", "k"),
            Err(Error::StateCorrupt { .. })
        ));
        assert!(matches!(
            parse(b"{\"format\": 1}", "t", "k"),
            Err(Error::StateCorrupt { .. })
        ));
        let s = parse(
            b"{\"format\": 1, \"target\": \"t\", \"future_field\": 1}",
            "t",
            "k",
        )
        .unwrap();
        assert_eq!(s.deployed, None);
    }

    /// Records written before they were numbered say no format: they are format 1 and read as before; a
    /// record this build writes says its format.
    #[test]
    fn a_record_without_a_format_is_format_1() {
        let st = parse(b"{\"target\": \"t\", \"history\": []}", "t", "k").unwrap();
        assert_eq!(st.format, 1);
        assert_eq!(st.target, "t");
        let written: serde_json::Value =
            serde_json::from_slice(&encode(&State::empty("t"))).unwrap();
        assert_eq!(written["format"], FORMAT);
    }

    /// A later format is refused, naming the record's key, its format and the fix (upgrade; `--force-state`
    /// doesn't replace it), with the exit code of an unreadable record, and before the rest is read: what a
    /// newer format holds may not be a record of this build's at all.
    #[test]
    fn a_newer_format_is_refused_naming_the_record_and_the_fix() {
        let newer = FORMAT + 1;
        for body in [
            format!("{{\"format\": {newer}, \"target\": \"t\"}}"),
            format!("{{\"format\": {newer}, \"target\": 7, \"history\": \"elsewhere\"}}"),
        ] {
            let e = parse(body.as_bytes(), "blog", "sites/blog.json").unwrap_err();
            assert!(matches!(e, Error::StateTooNew { .. }), "{body}: {e}");
            let (said, hint) = (e.to_string(), e.hint().unwrap());
            assert!(said.contains("sites/blog.json"), "{said}");
            assert!(
                said.contains(&format!("newer git-publish (format {newer}")),
                "{said}"
            );
            assert!(hint.contains("upgrade git-publish"), "{hint}");
            assert!(hint.contains("`--force-state` never replaces"), "{hint}");
            let corrupt = parse(b"{not json", "blog", "sites/blog.json").unwrap_err();
            assert_eq!(e.exit_code(), corrupt.exit_code());
        }
        assert!(parse(
            format!("{{\"format\": {FORMAT}, \"target\": \"t\"}}").as_bytes(),
            "t",
            "k"
        )
        .is_ok());
    }

    /// A newer build may record a rule key this one doesn't know: the record is still read (that rule
    /// without the key), where site.toml refuses the same key.
    #[test]
    fn a_recorded_rule_with_an_unknown_key_is_read_without_it() {
        let body = br#"{"format": 1, "target": "t", "deployed": {"commit": "c", "tree": "t", "at": "a",
            "by": "b", "rules": [{"match": "*.css", "cache_control": "max-age=60", "content_language": "en"},
            {"match": "uploads/**", "keep": true, "served_from": {"edge": true}}]}}"#;
        let st = parse(body, "t", "k").unwrap();
        let rules = st.deployed.unwrap().rules.unwrap();
        assert_eq!(
            rules,
            [
                RuleSpec {
                    glob: "*.css".into(),
                    cache_control: Some("max-age=60".into()),
                    ..RuleSpec::default()
                },
                RuleSpec {
                    glob: "uploads/**".into(),
                    keep: true,
                    ..RuleSpec::default()
                },
            ]
        );
        let in_site_toml = "[[rules]]\nmatch = \"*.css\"\ncontent_language = \"en\"\n";
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct SiteToml {
            rules: Vec<RuleSpec>,
        }
        let e = toml::from_str::<SiteToml>(in_site_toml).unwrap_err();
        assert!(
            e.to_string().contains("unknown field `content_language`"),
            "{e}"
        );
    }

    /// The lease is measured with the injected clock, across a year boundary and on a leap day.
    #[test]
    fn pending_decisions() {
        let lease = Duration::from_secs(3600);
        for start in ["2027-12-31T23:59:59Z", "2028-02-29T00:00:00Z"] {
            let clock = Clock::at(start).unwrap();
            let later = |secs: u64| Clock::fixed(clock.now() + Duration::from_secs(secs));
            assert_eq!(
                check_pending("t", None, lease, false, &clock).unwrap(),
                Takeover::None
            );
            // released by a failed publish: resume
            assert!(matches!(
                check_pending("t", Some(&state_with(None)), lease, false, &clock).unwrap(),
                Takeover::Resume(_)
            ));
            // a live holder on this host: busy, unless forced, however old the claim
            let mut me = Holder::me(&clock);
            assert_eq!(me.since, start);
            me.pid = crate::os::parent_pid(); // alive, not us
            let s = state_with(Some(me.clone()));
            assert!(matches!(
                check_pending("t", Some(&s), lease, false, &later(7200)),
                Err(Error::Busy { .. })
            ));
            assert!(matches!(
                check_pending("t", Some(&s), lease, true, &clock).unwrap(),
                Takeover::Stale(..)
            ));
            // a dead holder on this host: stale
            let mut dead = me.clone();
            dead.pid = 0x3fff_fff0;
            assert!(matches!(
                check_pending("t", Some(&state_with(Some(dead))), lease, false, &clock).unwrap(),
                Takeover::Stale(..)
            ));
            // another host: busy within the lease (up to its last second), stale after it
            let mut other = me.clone();
            other.host = "elsewhere".into();
            let other = state_with(Some(other));
            for (secs, busy) in [(0, true), (3600, true), (3601, false), (400 * 86400, false)] {
                let r = check_pending("t", Some(&other), lease, false, &later(secs));
                assert_eq!(
                    matches!(r, Err(Error::Busy { .. })),
                    busy,
                    "{start} + {secs} s"
                );
            }
            // a claim stamped in the future (clock skew between hosts) is young, not negative
            let skewed = Clock::fixed(clock.now() - Duration::from_secs(600));
            assert!(matches!(
                check_pending("t", Some(&other), lease, false, &skewed),
                Err(Error::Busy { .. })
            ));
        }
    }

    /// The free-tier count restarts with the UTC month, including across a year boundary.
    #[test]
    fn monthly_budget_rolls_over_with_the_utc_month() {
        let at = |t: &str| Clock::at(t).unwrap().month();
        let d = Deploy {
            invalidation_month: at("2027-12-31T23:59:59Z"),
            invalidation_paths_month: 990,
            ..deploy()
        };
        assert_eq!(d.paths_used_in(&at("2027-12-01T00:00:00Z")), 990);
        assert_eq!(d.paths_used_in(&at("2027-12-31T23:59:59Z")), 990);
        assert_eq!(d.paths_used_in(&at("2028-01-01T00:00:00Z")), 0);
        assert_eq!(
            d.paths_used_in(&at("2026-12-15T00:00:00Z")),
            0,
            "a year earlier"
        );
        let leap = Deploy {
            invalidation_month: at("2028-02-29T12:00:00Z"),
            invalidation_paths_month: 7,
            ..deploy()
        };
        assert_eq!(leap.paths_used_in(&at("2028-02-01T00:00:00Z")), 7);
        assert_eq!(leap.paths_used_in(&at("2028-03-01T00:00:00Z")), 0);
        // Records from before the month was kept count nothing.
        assert_eq!(deploy().paths_used_in(&at("2028-02-29T12:00:00Z")), 0);
    }

    fn deploy() -> Deploy {
        Deploy {
            tree: "b".repeat(40),
            at: "2027-12-31T23:59:59Z".into(),
            by: "me".into(),
            ..Deploy::commit_only("a".repeat(40))
        }
    }

    /// A requested invalidation answered by CloudFront leaves the list and goes to its deploy's ids, as
    /// `deployed` and in the history; one not in the list changes nothing.
    #[test]
    fn confirming_a_requested_invalidation_records_it_with_its_deploy() {
        let d = deploy();
        let mut st = State::finished(None, "t", d.clone());
        let later = Deploy {
            at: "2028-01-01T00:00:00Z".into(),
            ..Deploy::commit_only("c".repeat(40))
        };
        let request = |d: &Deploy, reference: &str| Requested {
            commit: d.commit.clone(),
            at: d.at.clone(),
            distribution: "E1".into(),
            reference: reference.into(),
            paths: vec!["/a".into()],
        };
        st.invalidations_requested = vec![request(&d, "r1")];
        st = State::finished(Some(st), "t", later.clone());
        st.invalidations_requested.push(request(&later, "r2"));

        assert!(!st.confirm("r0", "I0"), "not requested");
        assert!(st.confirm("r1", "I1"));
        assert_eq!(st.history[1].invalidation_ids, ["I1"]);
        assert!(st.deployed.as_ref().unwrap().invalidation_ids.is_empty());
        assert!(st.confirm("r2", "I2"));
        assert_eq!(st.deployed.as_ref().unwrap().invalidation_ids, ["I2"]);
        assert_eq!(st.history[0].invalidation_ids, ["I2"]);
        assert!(st.invalidations_requested.is_empty());
        assert!(!st.confirm("r2", "I2"), "only once");
    }

    #[test]
    fn corrupt_copies_are_named_by_utc_time() {
        let c = Clock::at("2027-12-31T23:59:59Z").unwrap();
        assert_eq!(
            corrupt_copy_key(".git-publish/state.json", &c),
            ".git-publish/state.json.corrupt-20271231T235959Z"
        );
    }

    #[test]
    fn keys() {
        assert_eq!(state_key(""), ".git-publish/state.json");
        assert_eq!(state_key("blog"), "blog/.git-publish/state.json");
        assert_eq!(probe_key(".git-publish/state.json"), ".git-publish/probe");
        assert_eq!(
            probe_key("blog/.git-publish/state.json"),
            "blog/.git-publish/probe"
        );
        assert_eq!(probe_key("sites/blog.json"), "sites/blog.json.probe");
        assert_eq!(probe_key("sites/state.json"), "sites/state.json.probe");
    }
}
