//! Nothing lost: SIGKILL at every phase, two publishers racing, injected network/server faults.
//!
//! Trial counts default to what CI can afford and are raised by environment variables for the long runs that
//! `bench/reliability.sh` documents: GIT_PUBLISH_CRASH_TRIALS, GIT_PUBLISH_RACES, GIT_PUBLISH_FAULT_RUNS.

use std::collections::BTreeMap;

use crate::proxy::{Asked, Config, Proxy, ALL_FAULTS};
use crate::util::*;

fn trials(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Site files by key -> bytes.
type Files = BTreeMap<String, Vec<u8>>;

fn write_all(site: &Site, files: &Files) {
    let _ = std::fs::remove_dir_all(site.path("public"));
    for (k, v) in files {
        site.write(&format!("public/{k}"), v);
    }
}

/// v1: 40 files; v2: 12 modified, 8 deleted, 12 added.
fn versions() -> (Files, Files) {
    let mut v1 = Files::new();
    for i in 0..40 {
        let key = match i % 4 {
            0 => format!("posts/p{i}/index.html"),
            1 => format!("img/i{i}.png"),
            2 => format!("css/c{i}.css"),
            _ => format!("page{i}.html"),
        };
        v1.insert(key, format!("v1 {i}").into_bytes());
    }
    let mut v2 = v1.clone();
    let keys: Vec<String> = v1.keys().cloned().collect();
    for k in keys.iter().take(12) {
        v2.insert(k.clone(), format!("v2 {k}").into_bytes());
    }
    for k in keys.iter().skip(12).take(8) {
        v2.remove(k);
    }
    for i in 0..12 {
        v2.insert(format!("new/n{i}.html"), format!("new {i}").into_bytes());
    }
    (v1, v2)
}

/// The target's lines beside its distribution: `origin_path` is given so that no CloudFront read precedes the
/// state read: request numbers stay as counted.
const COUNTED: &str = "origin_path = \"\"\nconcurrency = 1\nmax_invalidation_paths = 100";

fn bucket_files(b: &str) -> Files {
    site_objects(b)
        .into_iter()
        .map(|(k, o)| (k, o.body))
        .collect()
}

fn deployed(b: &str) -> Option<String> {
    state_json(b, "")["deployed"]["commit"]
        .as_str()
        .map(str::to_string)
}

/// What a request was doing, from the proxy's point of view (requests are sequential with concurrency = 1,
/// but for the last two: the final state write and the invalidation go at the same time).
fn phase(req: &crate::proxy::Logged, state_puts_before: usize) -> &'static str {
    let state = req.path.contains(".git-publish/state.json");
    match (req.method.as_str(), state) {
        ("GET", true) => "read-state",
        ("PUT", true) if state_puts_before == 0 => "claim",
        ("PUT", true) => "state-write",
        ("PUT", false) => "upload",
        ("POST", _) if req.path.contains("delete") => "delete",
        ("POST", _) if req.path.contains("invalidation") => "invalidation",
        _ => "other",
    }
}

fn is_state(a: &Asked) -> bool {
    (a.method == "GET" || a.method == "PUT") && a.path.contains(".git-publish/state.json")
}
fn is_state_read(a: &Asked) -> bool {
    a.method == "GET" && is_state(a)
}
fn is_state_write(a: &Asked) -> bool {
    a.method == "PUT" && is_state(a)
}
fn is_upload(a: &Asked) -> bool {
    a.method == "PUT" && !a.path.contains(".git-publish/")
}
fn is_delete(a: &Asked) -> bool {
    a.method == "POST" && a.path.contains("delete")
}
fn is_invalidation(a: &Asked) -> bool {
    a.method == "POST" && a.path.contains("/invalidation")
}

/// The kill of trial `t`: the phase, the request (what it is, which one of those) and whether after the
/// server applied it. Phases cycle every two trials; even trials publish on the record this clone kept
/// (claimed without reading it), odd ones, and every kill at the read, on the record read.
fn kill_of(t: usize) -> (&'static str, crate::proxy::Matches, usize, bool) {
    let after = (t / 12) % 2 == 1;
    match (t / 2) % 6 {
        0 => ("read-state", is_state_read, 1, after),
        1 => ("claim", is_state_write, 1, after),
        2 => ("upload", is_upload, 1 + (t * 5) % 24, after),
        3 => ("delete", is_delete, 1, after),
        4 => ("invalidation", is_invalidation, 1, after),
        _ => ("state-write", is_state_write, 2, after),
    }
}

/// Every invalidation id of `dist` in moto.
fn invalidation_ids(dist: &str) -> Vec<String> {
    rt().block_on(async {
        let list = (cloudfront()
            .list_invalidations()
            .distribution_id(dist)
            .send()
            .await)
            .unwrap();
        (list
            .invalidation_list()
            .map(|l| l.items())
            .unwrap_or_default()
            .iter())
        .map(|i| i.id().to_string())
        .collect()
    })
}

/// The record never says an invalidation was created that CloudFront does not have (ids of the deployed
/// commit and the history), and what it lists as requested carries the paths to send again.
fn check_invalidations_recorded(b: &str, dist: &str, t: usize) {
    let st = state_json(b, "");
    let known = invalidation_ids(dist);
    let deploys =
        std::iter::once(&st["deployed"]).chain(st["history"].as_array().into_iter().flatten());
    for d in deploys {
        for id in d["invalidation_ids"].as_array().into_iter().flatten() {
            let id = id.as_str().unwrap();
            assert!(
                known.iter().any(|k| k == id),
                "trial {t}: the record names {id}, not created: {st:#}"
            );
        }
    }
    for r in st["invalidations_requested"]
        .as_array()
        .into_iter()
        .flatten()
    {
        assert!(
            !r["paths"].as_array().unwrap().is_empty(),
            "trial {t}: {st:#}"
        );
    }
}

#[test]
fn sigkill_in_every_phase_then_rerun_converges() {
    let n = trials("GIT_PUBLISH_CRASH_TRIALS", 30);
    let (v1, v2) = versions();
    let mut phases: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut resumed, mut unread) = (0, 0);
    for t in 0..n {
        let site = Site::new();
        let b = bucket("crash");
        let dist = distribution(&b);
        site.config(SiteToml::s3(&b).distribution(&dist).with(COUNTED));
        write_all(&site, &v1);
        let c1 = site.commit("v1");
        site.run(&[]).ok();
        write_all(&site, &v2);
        let c2 = site.commit("v2");

        // The kill lands in one phase (read, claim, an upload, delete, invalidation, final state write), before
        // the request reaches the server or after it was applied. Half the publishes claim on the record this
        // clone kept (no read); the other half forget it first and read.
        let (want, is, nth, after) = kill_of(t);
        let reads = t % 2 == 1 || want == "read-state";
        if reads {
            let _ = std::fs::remove_dir_all(site.path(".git/git-publish/records"));
        } else {
            unread += 1;
        }
        let proxy = Proxy::start(
            &moto().endpoint,
            Config {
                kill_when: Some((is, nth, after)),
                ..Default::default()
            },
        );
        let child = site.spawn(&[], &[("AWS_ENDPOINT_URL", &proxy.endpoint)]);
        proxy
            .victim
            .store(child.id(), std::sync::atomic::Ordering::SeqCst);
        let out = child.wait_with_output().unwrap();
        assert!(
            !out.status.success(),
            "trial {t}: expected the kill at the {want} request to land"
        );

        // The proxy logs the killed request right after the kill: wait for it.
        let killed_of = |reqs: &[crate::proxy::Logged]| {
            reqs.iter()
                .find(|r| r.fault.as_deref().is_some_and(|f| f.starts_with("kill")))
                .cloned()
        };
        let mut reqs = proxy.requests();
        for _ in 0..100 {
            if killed_of(&reqs).is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            reqs = proxy.requests();
        }
        if std::env::var("DEBUG_PROXY").is_ok() {
            for r in &reqs {
                eprintln!(
                    "trial {t} {want} after={after}: {} {} {} {} {:?}",
                    r.n, r.method, r.path, r.status, r.fault
                );
            }
        }
        let killed = killed_of(&reqs).expect("the killed request is logged");
        let state_puts_before = reqs
            .iter()
            .filter(|r| {
                r.n < killed.n && r.method == "PUT" && r.path.contains(".git-publish/state.json")
            })
            .count();
        let ph = phase(&killed, state_puts_before);
        assert_eq!(ph, want, "trial {t}: the kill landed elsewhere");
        *phases.entry(ph).or_default() += 1;

        // The state never claims a commit whose content is not fully there, nor an invalidation not created.
        match deployed(&b).as_deref() {
            Some(c) if c == c1 => {}
            Some(c) if c == c2 => assert_eq!(
                bucket_files(&b),
                v2,
                "trial {t}: state says v2 but content differs"
            ),
            other => panic!("trial {t}: state names {other:?}"),
        }
        check_invalidations_recorded(&b, &dist, t);
        let claimed = !state_json(&b, "")["pending"].is_null();

        let r = site.run(&[]).ok();
        if claimed {
            assert!(
                r.stderr.contains("resuming"),
                "trial {t} ({ph}, after={after}): no resume note\n{}",
                r.stderr
            );
            assert!(
                r.stderr.contains("process is gone"),
                "trial {t}: stale claim not explained\n{}",
                r.stderr
            );
            resumed += 1;
        }
        assert_eq!(
            bucket_files(&b),
            v2,
            "trial {t} ({ph}): bucket differs from the tree after the re-run"
        );
        assert_eq!(deployed(&b).as_deref(), Some(c2.as_str()));
        assert!(state_json(&b, "")["pending"].is_null());
        check_invalidations_recorded(&b, &dist, t);
        // v2's invalidation exists: created before the kill, by the re-run that resumed, or sent again by the
        // re-run because the record listed it as requested.
        let mut want_paths: Vec<String> = v1
            .keys()
            .filter(|k| v2.get(*k) != v1.get(*k))
            .map(|k| format!("/{k}"))
            .collect();
        want_paths.sort();
        let created = invalidations(&dist);
        assert!(
            created
                .iter()
                .any(|p| want_paths.iter().all(|w| p.contains(w))),
            "trial {t} ({ph}, after={after}): no invalidation of v2's changes: {created:?}"
        );
    }
    eprintln!(
        "crash trials: {n} ({unread} claimed on the record this clone kept, without reading it), kills by phase: \
         {phases:?}, re-runs that resumed: {resumed}, objects lost: 0"
    );
    for ph in [
        "read-state",
        "claim",
        "upload",
        "delete",
        "invalidation",
        "state-write",
    ] {
        assert!(
            phases.contains_key(ph),
            "no kill landed in {ph}: {phases:?}"
        );
    }
}

#[test]
fn two_publishers_racing_exactly_one_proceeds() {
    let n = trials("GIT_PUBLISH_RACES", 20);
    let (v1, v2) = versions();
    let mut wins = [0usize; 2];
    let mut sequential = 0;
    for race in 0..n {
        let site = Site::new();
        let b = bucket("race");
        let dist = distribution(&b);
        site.config(SiteToml::s3(&b).distribution(&dist).with(COUNTED));
        write_all(&site, &v1);
        site.commit("v1");
        site.run(&[]).ok();
        site.git(&["checkout", "-q", "-b", "a"]);
        write_all(&site, &v2);
        let ca = site.commit("a");
        site.git(&["checkout", "-q", "main"]);
        let mut vb = v1.clone();
        vb.insert("index.html".into(), b"b".to_vec());
        vb.insert("b/only.html".into(), b"b".to_vec());
        write_all(&site, &vb);
        let cb = site.commit("b");
        // Odd races read the record before claiming; even ones claim on the record this clone kept.
        let reads = race % 2 == 1;
        if reads {
            let _ = std::fs::remove_dir_all(site.path(".git/git-publish/records"));
        }

        let delay = std::time::Duration::from_millis(15);
        // Both read the state before either claims it: the race is real on every round, even on a loaded machine.
        let gate = Some(std::sync::Arc::new(std::sync::Barrier::new(2)));
        let pa = Proxy::start(
            &moto().endpoint,
            Config {
                delay,
                gate: gate.clone(),
                ..Default::default()
            },
        );
        let pb = Proxy::start(
            &moto().endpoint,
            Config {
                delay,
                gate,
                ..Default::default()
            },
        );
        let a = site.spawn(&["--rev", &ca], &[("AWS_ENDPOINT_URL", &pa.endpoint)]);
        let bproc = site.spawn(&["--rev", &cb], &[("AWS_ENDPOINT_URL", &pb.endpoint)]);
        let (ra, rb) = (
            Run::from(a.wait_with_output().unwrap()),
            Run::from(bproc.wait_with_output().unwrap()),
        );

        let codes = (ra.code, rb.code);
        let replanned = |r: &Run| r.stderr.contains("planning again");
        if codes == (0, 0) && !reads {
            // Claimed on the record they kept: the loser's claim was refused (412), it read the record and
            // planned again, and the winner had finished by then: the loser published after it, on its
            // record, as a publish started later does. Never both at once.
            let (second, commit, files) = match (replanned(&ra), replanned(&rb)) {
                (true, false) => (&ra, &ca, &v2),
                (false, true) => (&rb, &cb, &vb),
                _ => panic!(
                    "race {race}: both published\nA: {}\nB: {}",
                    ra.stderr, rb.stderr
                ),
            };
            assert!(!second.stderr.contains("resuming"), "{}", second.stderr);
            assert_eq!(deployed(&b).as_deref(), Some(commit.as_str()));
            assert_eq!(&bucket_files(&b), files, "race {race}");
            sequential += 1;
            continue;
        }
        let (winner, loser, loser_proxy, win_commit, win_files) = match codes {
            (0, 3) => (&ra, &rb, &pb, &ca, &v2),
            (3, 0) => (&rb, &ra, &pa, &cb, &vb),
            _ => panic!(
                "race {race}: exit codes {codes:?}\nA: {}\nB: {}",
                ra.stderr, rb.stderr
            ),
        };
        let _ = winner;
        wins[if codes.0 == 0 { 0 } else { 1 }] += 1;
        assert!(
            (loser.stderr.contains("is being published by") && loser.stderr.contains(" since "))
                || (loser.stderr.contains("was published by")
                    && loser.stderr.contains("nothing was written")),
            "race {race}: loser's message: {}",
            loser.stderr
        );
        // The loser wrote nothing: no write reached the server except a refused claim.
        let writes: Vec<_> = loser_proxy
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET" && r.forwarded && r.status != 412)
            .collect();
        assert!(writes.is_empty(), "race {race}: the loser wrote {writes:?}");
        assert_eq!(deployed(&b).as_deref(), Some(win_commit.as_str()));
        assert_eq!(&bucket_files(&b), win_files, "race {race}");
    }
    eprintln!(
        "races: {n}, exactly one publisher proceeded in each (A won {}, B won {}), loser writes: 0; \
         {sequential} more where the loser of a claim on the kept record planned again after the winner \
         finished and published after it",
        wins[0], wins[1]
    );
}

#[test]
fn injected_faults_either_complete_or_leave_state_unadvanced_and_rerun_converges() {
    let n = trials("GIT_PUBLISH_FAULT_RUNS", 8);
    let (v1, v2) = versions();
    let (mut completed, mut failed, mut faults, mut requests) = (0, 0, 0, 0);
    for seed in 0..n as u64 {
        let site = Site::new();
        let b = bucket("fault");
        let dist = distribution(&b);
        site.config(
            SiteToml::s3(&b)
                .distribution(&dist)
                .with(&COUNTED.replace("concurrency = 1", "concurrency = 4")),
        );
        write_all(&site, &v1);
        let c1 = site.commit("v1");
        site.run(&[]).ok();
        write_all(&site, &v2);
        let c2 = site.commit("v2");

        let proxy = Proxy::start(
            &moto().endpoint,
            Config {
                fault_rate: 0.2,
                faults: ALL_FAULTS.to_vec(),
                seed: seed * 7919 + 1,
                ..Default::default()
            },
        );
        let r = site.run_with(&[], &[("AWS_ENDPOINT_URL", &proxy.endpoint)]);
        faults += proxy.faults_injected();
        requests += proxy.requests().len();
        if r.code == 0 {
            completed += 1;
            assert_eq!(
                bucket_files(&b),
                v2,
                "seed {seed}: completed but content differs"
            );
            assert_eq!(deployed(&b).as_deref(), Some(c2.as_str()));
        } else if deployed(&b).as_deref() == Some(c2.as_str()) {
            // Only the invalidation failed, after every file was up: the record lists it as requested.
            failed += 1;
            assert_eq!(
                bucket_files(&b),
                v2,
                "seed {seed}: state advanced, content differs"
            );
            assert!(r.stderr.contains("invalidating"), "{}", r.stderr);
            assert!(!state_json(&b, "")["invalidations_requested"]
                .as_array()
                .unwrap()
                .is_empty());
        } else {
            failed += 1;
            assert_eq!(
                deployed(&b).as_deref(),
                Some(c1.as_str()),
                "seed {seed}: failed but state advanced"
            );
            assert!(r.stderr.contains("git-publish: error:"), "{}", r.stderr);
        }
        site.run(&[]).ok();
        assert_eq!(bucket_files(&b), v2, "seed {seed}: re-run did not converge");
        assert_eq!(deployed(&b).as_deref(), Some(c2.as_str()));
    }
    let rate = 100.0 * faults as f64 / requests.max(1) as f64;
    eprintln!(
        "fault runs: {n}, requests: {requests}, faults injected: {faults} ({rate:.0}%), completed: {completed}, \
         failed cleanly: {failed}, converged after re-run: {n}"
    );
    assert!(rate >= 10.0, "fault rate {rate:.1}% below 10%");
}

#[test]
fn cloudfront_throttling_is_retried_with_backoff() {
    let (v1, v2) = versions();
    let site = Site::new();
    let b = bucket("throttle");
    let dist = distribution(&b);
    site.config(SiteToml::s3(&b).distribution(&dist).with(COUNTED));
    write_all(&site, &v1);
    site.commit("v1");
    site.run(&[]).ok();
    write_all(&site, &v2);
    site.commit("v2");
    let proxy = Proxy::start(
        &moto().endpoint,
        Config {
            throttle_invalidations: 2,
            ..Default::default()
        },
    );
    let r = site
        .run_with(&[], &[("AWS_ENDPOINT_URL", &proxy.endpoint)])
        .ok();
    let throttled = proxy
        .requests()
        .iter()
        .filter(|r| r.fault.as_deref() == Some("throttle"))
        .count();
    assert_eq!(throttled, 2);
    assert!(
        r.stderr.contains("too many invalidations in progress"),
        "{}",
        r.stderr
    );
    assert_eq!(invalidations(&dist).len(), 1);
}

/// A site on a new bucket (target lines `extra`) with [`versions`]' v1 published and v2 committed: (site,
/// bucket, v1's commit, v2's commit).
fn v1_published_v2_committed(name: &str, extra: &str) -> (Site, String, String, String) {
    let site = Site::new();
    let b = bucket(name);
    site.config(SiteToml::s3(&b).with(extra));
    let (v1, v2) = versions();
    write_all(&site, &v1);
    let c1 = site.commit("v1");
    site.run(&[]).ok();
    write_all(&site, &v2);
    let c2 = site.commit("v2");
    (site, b, c1, c2)
}

/// Ctrl-C during the uploads exits 130 (not 1, as before ExitCode), releases the claim with the failure
/// recorded in the state, and the next publish resumes.
#[test]
fn ctrl_c_during_the_uploads_exits_130_and_the_next_publish_resumes() {
    let (site, b, _, c2) = v1_published_v2_committed("sigint", "concurrency = 1\n");

    // Every request takes 2 s. The signal is sent once the first upload has reached the proxy: the executor,
    // which listens for Ctrl-C from its start, is running then (a fixed wait could land before it on a loaded
    // machine), and the upload is still held.
    ctrl_c_at_the_first_upload(
        &site,
        Config {
            delay: std::time::Duration::from_secs(2),
            ..Default::default()
        },
    );

    let pending = &state_json(&b, "")["pending"];
    assert_eq!(pending["commit"], c2.as_str());
    assert_eq!(pending["error"], "interrupted (Ctrl-C)");
    assert!(pending["holder"].is_null(), "the claim was not released");
    let r = site.run(&[]).ok();
    assert!(r.stderr.contains("resuming"), "{}", r.stderr);
    assert_eq!(deployed(&b).as_deref(), Some(c2.as_str()));
}

/// Publish through a proxy with `config`, and send Ctrl-C once the first upload has reached it: the publish
/// exits 130, saying it was interrupted. Returns the proxy.
fn ctrl_c_at_the_first_upload(site: &Site, config: Config) -> Proxy {
    let proxy = Proxy::start(&moto().endpoint, config);
    let child = site.spawn(&[], &[("AWS_ENDPOINT_URL", &proxy.endpoint)]);
    assert!(
        wait_for_upload(&proxy),
        "no upload reached the proxy: {:?}",
        proxy.arrivals()
    );
    // SAFETY: sending a signal to the child process under test.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let r = Run::from(child.wait_with_output().unwrap()).fails(130);
    assert!(r.stderr.contains("interrupted (Ctrl-C)"), "{}", r.stderr);
    proxy
}

/// Whether an upload of a site file reaches `proxy` within a minute (polled: the test waits on an event, the
/// assertion is not about time).
fn wait_for_upload(proxy: &Proxy) -> bool {
    (0..1200).any(|_| {
        let up = (proxy.arrivals().iter())
            .any(|(_, m, path)| m == "PUT" && !path.contains("/.git-publish/"));
        if !up {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        up
    })
}

fn is_site_upload(a: &crate::proxy::Asked) -> bool {
    a.method == "PUT" && !a.path.contains("/.git-publish/")
}

/// Ctrl-C after the claim, before any upload reached the store (the first one is held at the proxy, never
/// forwarded): exits 130, releases the claim with the failure recorded, writes nothing of the site, and the
/// next publish resumes.
#[test]
fn ctrl_c_between_the_claim_and_the_uploads_writes_nothing_and_releases_the_claim() {
    let (site, b, c1, c2) = v1_published_v2_committed("sigint-claim", "");
    let (v1, v2) = versions();

    let proxy = ctrl_c_at_the_first_upload(
        &site,
        Config {
            hold: Some(is_site_upload),
            ..Default::default()
        },
    );
    let claimed = proxy.requests().into_iter().any(|r| {
        r.method == "PUT" && r.path.contains(".git-publish/state.json") && r.status == 200
    });
    assert!(
        claimed,
        "the upload came before the claim: {:?}",
        proxy.requests()
    );

    assert_eq!(bucket_files(&b), v1, "a site file was written");
    let st = state_json(&b, "");
    assert_eq!(st["deployed"]["commit"], c1.as_str());
    assert_eq!(st["pending"]["commit"], c2.as_str());
    assert_eq!(st["pending"]["error"], "interrupted (Ctrl-C)");
    assert!(
        st["pending"]["holder"].is_null(),
        "the claim was not released"
    );
    let r = site.run(&[]).ok();
    assert!(r.stderr.contains("resuming"), "{}", r.stderr);
    assert_eq!(bucket_files(&b), v2);
    assert_eq!(deployed(&b).as_deref(), Some(c2.as_str()));
}
