//! The record's reads, writes and constructors against the in-memory store (`exec::memory`), each test able
//! to fail (issue 29: what a mutation run of the unit tests left alive). Where the store must answer in a way
//! the in-memory one doesn't (a 409 to retry, a write that landed but answered 412), it is scripted
//! (`MemoryStore::answering`); it also tells which headers an object was written with.

use std::path::Path;
use std::time::Instant;

use super::*;
use crate::backends::{Backends, Origins};
use crate::config::Config;
use crate::exec::memory::{Answer, Call, How, Log, MemoryStore};

const KEY: &str = ".git-publish/state.json";

fn deploy(commit: char, at: &str) -> Deploy {
    Deploy {
        tree: "b".repeat(40),
        at: at.into(),
        by: "me".into(),
        ..Deploy::commit_only(commit.to_string().repeat(40))
    }
}

fn published(commit: char) -> State {
    State::finished(None, "t", deploy(commit, "2027-12-31T23:59:59Z"))
}

/// A record written is read back as it was, with the version tag the write answered (the store's own).
#[tokio::test]
async fn a_record_written_reads_back_with_the_tag_the_write_answered() {
    let store = MemoryStore::new(&Log::default());
    let st = published('a');
    let etag = write(&store, KEY, "t", &st, None).await.unwrap();
    let stored = store.get_versioned(KEY).await.unwrap().unwrap();
    assert_eq!(etag, stored.etag);
    assert_eq!(
        read(&store, KEY, "t").await.unwrap(),
        (Some(st), Some(etag))
    );
    assert_eq!(read(&store, "elsewhere", "t").await.unwrap(), (None, None));
}

/// The backends of `target`: the site's store, and the record's own when it sets `state`.
fn backends(target: &Target, site: MemoryStore, records: MemoryStore) -> Backends {
    Backends {
        store: Box::new(site),
        cdns: Vec::new(),
        state: target.store.state.is_some().then(|| Box::new(records) as _),
        lookup: None,
        origins: Origins::default(),
    }
}

fn target(extra: &str) -> Target {
    let text = format!("[targets.t]\nurl = \"s3://blog/site\"\n{extra}\n");
    let c = Config::from_str(&text, Path::new("site.toml"), Path::new("/r")).unwrap();
    c.targets["t"].clone()
}

/// `status` and `log` read the record from `state = …`; until a publish has moved it there, from its old
/// place in the site; without `state`, from the site.
#[tokio::test]
async fn read_for_finds_the_record_at_its_place_then_at_the_old_one() {
    let moved = target("state = \"s3://records/blog.json\"");
    let old_key = state_key("site");
    let (site, records) = (
        MemoryStore::new(&Log::default()),
        MemoryStore::new(&Log::default()),
    );
    write(&site, &old_key, "t", &published('a'), None)
        .await
        .unwrap();
    let at_new = write(&records, &key_of(&moved), "t", &published('b'), None)
        .await
        .unwrap();
    let b = backends(&moved, site, records);
    assert_eq!(
        read_for(b.stores(), &moved).await.unwrap(),
        (Some(published('b')), Some(at_new)),
        "the record at `state` wins over one left at the old place"
    );

    let site = MemoryStore::new(&Log::default());
    let at_old = write(&site, &old_key, "t", &published('a'), None)
        .await
        .unwrap();
    let b = backends(&moved, site, MemoryStore::new(&Log::default()));
    assert_eq!(
        read_for(b.stores(), &moved).await.unwrap(),
        (Some(published('a')), Some(at_old)),
        "not moved yet"
    );

    let plain = target("");
    let site = MemoryStore::new(&Log::default());
    let etag = write(&site, &old_key, "t", &published('c'), None)
        .await
        .unwrap();
    let b = backends(&plain, site, MemoryStore::new(&Log::default()));
    assert_eq!(
        read_for(b.stores(), &plain).await.unwrap(),
        (Some(published('c')), Some(etag))
    );
}

/// A record at the old place is moved to `state = …` (and its probe with it) and returned; a dry run
/// returns it and moves nothing.
#[tokio::test]
async fn move_record_moves_the_old_record_and_says_so() {
    let moved = target("state = \"s3://records/blog.json\"");
    let old_key = state_key("site");
    let site = MemoryStore::new(&Log::default());
    write(&site, &old_key, "t", &published('a'), None)
        .await
        .unwrap();
    let b = backends(&moved, site, MemoryStore::new(&Log::default()));

    let dry = move_record(b.stores(), &moved, true).await.unwrap();
    assert_eq!(dry.unwrap().body, encode(&published('a')));
    assert_eq!(
        read(b.state_store(), &key_of(&moved), "t").await.unwrap().0,
        None
    );

    let old = move_record(b.stores(), &moved, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.body, encode(&published('a')));
    let (st, _) = read(b.state_store(), &key_of(&moved), "t").await.unwrap();
    assert_eq!(st, Some(published('a')));
    assert_eq!(
        b.store
            .get_versioned(&old_key)
            .await
            .unwrap()
            .map(|v| v.body),
        None
    );
    assert!(
        move_record(b.stores(), &moved, false)
            .await
            .unwrap()
            .is_none(),
        "moved once"
    );
}

#[test]
fn the_local_ref_says_which_commit_is_deployed() {
    let st = State::from_local_ref("t", "c".repeat(40));
    assert_eq!(st.deployed, Some(Deploy::commit_only("c".repeat(40))));
    assert_eq!(
        (st.target.as_str(), st.pending, st.history.len()),
        ("t", None, 0)
    );
}

/// An invalidation is confirmed on its deploy only (commit and time: the same commit published again is
/// another deploy), next to the ids the deploy already lists, and never twice.
#[test]
fn a_confirmed_invalidation_goes_to_its_deploy_only_and_once() {
    let first = Deploy {
        invalidation_ids: vec!["I0".into()],
        ..deploy('a', "2027-12-31T23:59:59Z")
    };
    let again = deploy('a', "2028-01-02T00:00:00Z");
    let mut st = State::finished(None, "t", first.clone());
    st = State::finished(Some(st), "t", again.clone());
    let request = |d: &Deploy, reference: &str| Requested {
        commit: d.commit.clone(),
        at: d.at.clone(),
        distribution: "E1".into(),
        reference: reference.into(),
        paths: vec!["/".into()],
    };
    st.invalidations_requested = vec![request(&first, "r1"), request(&first, "r1-again")];

    assert!(st.confirm("r1", "I1"));
    assert_eq!(st.history[1].invalidation_ids, ["I0", "I1"]);
    assert_eq!(st.history[0].invalidation_ids, Vec::<String>::new());
    assert_eq!(
        st.deployed.as_ref().unwrap().invalidation_ids,
        Vec::<String>::new()
    );
    // CloudFront answers the same id to the same reference and paths: it is listed once.
    assert!(st.confirm("r1-again", "I1"));
    assert_eq!(st.history[1].invalidation_ids, ["I0", "I1"]);
}

#[test]
fn a_holder_is_described_as_user_at_host_and_pid() {
    let holder = |user: &str, host: &str| Holder {
        host: host.into(),
        pid: 4242,
        user: user.into(),
        since: "2027-12-31T23:59:59Z".into(),
        since_unix: 0,
    };
    assert_eq!(
        holder("ann", "build-1").describe(),
        "ann@build-1 (pid 4242)"
    );
    assert_eq!(
        holder("a\"b", "x\ny").describe(),
        "\"a\\\"b\"@\"x\\ny\" (pid 4242)"
    );
}

/// The host a claim is stamped with is this machine's name, as the `hostname` command prints it (Linux,
/// macOS and Windows all have one).
#[test]
fn the_host_is_this_machines_name() {
    let out = std::process::Command::new("hostname").output().unwrap();
    assert!(out.status.success());
    assert_eq!(hostname(), String::from_utf8_lossy(&out.stdout).trim_end());
}

/// Only a record of a later format is one a newer git-publish wrote; a corrupt one is not.
#[tokio::test]
async fn an_unreadable_record_is_newer_only_when_its_format_is() {
    let store = MemoryStore::new(&Log::default());
    let newer = format!("{{\"format\": {}, \"target\": \"t\"}}", FORMAT + 1);
    for (body, is_newer) in [(newer.as_str(), true), ("{not json", false)] {
        store
            .put_versioned(KEY, body.as_bytes().to_vec(), Precondition::Absent)
            .await
            .unwrap();
        let Read::Unreadable(u) = read_versioned(&store, KEY, "t").await.unwrap() else {
            panic!("{body} read as a record");
        };
        assert_eq!(u.is_newer_format(), is_newer, "{body}");
        assert_eq!(u.content, Content::Bytes(body.as_bytes().to_vec()));
        store.delete_batch(&[KEY.into()]).await.unwrap();
    }
}

/// An unreadable record is kept beside it as opaque bytes: the bytes read, or a copy the store makes of one
/// too large to read.
#[tokio::test]
async fn keep_aside_writes_the_copy_as_opaque_bytes() {
    let store = MemoryStore::new(&Log::default());
    let copy = format!("{KEY}.corrupt-20271231T235959Z");
    keep_aside(&store, KEY, &copy, &Content::Bytes(b"{not json".to_vec()))
        .await
        .unwrap();
    let kept = store.get_versioned(&copy).await.unwrap().unwrap();
    assert_eq!(kept.body, b"{not json");

    store
        .put_versioned(KEY, b"too large".to_vec(), Precondition::Absent)
        .await
        .unwrap();
    let big_copy = format!("{copy}-2");
    keep_aside(&store, KEY, &big_copy, &Content::TooLarge(17 << 20))
        .await
        .unwrap();
    let kept = store.get_versioned(&big_copy).await.unwrap().unwrap();
    assert_eq!(kept.body, b"too large");

    let written: Vec<(How, String, String)> = (store.writes().into_iter())
        .map(|w| (w.how, w.key, w.headers.content_type))
        .collect();
    let opaque = "application/octet-stream".to_string();
    assert_eq!(
        written,
        [
            (How::Whole, copy, opaque.clone()),
            (How::Copied, big_copy, opaque)
        ]
    );
}

/// A 409 (a concurrent conditional write in flight) is tried again up to three times, 200, 400 and 600 ms
/// apart.
#[tokio::test]
async fn a_conflict_is_retried_three_times_with_growing_pauses() {
    let store = MemoryStore::new(&Log::default()).answering(&[Answer::Conflict; 3]);
    let started = Instant::now();
    let etag = write(&store, KEY, "t", &published('a'), None)
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(store.versioned_puts(), 4);
    assert_eq!(etag, store.get_versioned(KEY).await.unwrap().unwrap().etag);
    assert!(
        waited >= Duration::from_millis(1200),
        "paused {waited:?} in all"
    );
}

/// A fourth 409 in a row fails the write, naming the conflict.
#[tokio::test]
async fn a_fourth_conflict_fails_the_write() {
    let store = MemoryStore::new(&Log::default()).answering(&[Answer::Conflict; 4]);
    let e = write(&store, KEY, "t", &published('a'), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Store { message, .. } if message.contains("conflicting")),
        "{e}"
    );
    assert_eq!(store.versioned_puts(), 4);
    assert_eq!(
        store.get_versioned(KEY).await.unwrap().map(|v| v.etag),
        None
    );
}

/// A 412 to a write that had landed (its answer lost, the retry met it) is a win: the stored tag is
/// returned. A 412 because someone else wrote first is a lost race.
#[tokio::test]
async fn a_refused_write_is_won_only_when_the_record_is_ours() {
    let log = Log::default();
    let store = MemoryStore::new(&log).answering(&[Answer::LandsThenRefused]);
    let etag = write(&store, KEY, "t", &published('a'), None)
        .await
        .unwrap();
    // The 412 was answered and the record read to see whose it is.
    assert_eq!(
        log.calls(),
        [
            Call::PutVersioned(KEY.into()),
            Call::GetVersioned(KEY.into())
        ]
    );
    assert_eq!(etag, store.get_versioned(KEY).await.unwrap().unwrap().etag);

    let e0 = etag;
    let theirs = write(&store, KEY, "t", &published('b'), Some(&e0))
        .await
        .unwrap();
    let e = write(&store, KEY, "t", &published('c'), Some(&e0))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::LostRace { .. }), "{e}");
    let (st, etag) = read(&store, KEY, "t").await.unwrap();
    assert_eq!((st, etag), (Some(published('b')), Some(theirs)));
}

/// A commit id in a message: its first 12 characters (never cut inside one), quoted when it must be.
#[test]
fn short_ids_are_twelve_characters() {
    assert_eq!(short(&"0123456789abcdef".repeat(3)), "0123456789ab");
    assert_eq!(short("abc"), "abc");
    assert_eq!(short(&"é".repeat(13)), "é".repeat(12));
    assert_eq!(short("a\"b"), "\"a\\\"b\"");
}
