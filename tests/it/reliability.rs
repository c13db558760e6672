//! Nothing lost: SIGKILL at every phase, two publishers racing, injected network/server faults.
//!
//! Trial counts default to what CI can afford and are raised by environment variables for the long runs that
//! `bench/reliability.sh` documents: GIT_PUBLISH_CRASH_TRIALS, GIT_PUBLISH_RACES, GIT_PUBLISH_FAULT_RUNS.

use std::collections::BTreeMap;

use crate::proxy::{Config, Proxy, ALL_FAULTS};
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

/// `origin_path` is given so that no CloudFront read precedes the state read: request numbers stay as counted.
fn config(b: &str, dist: &str) -> String {
    format!(
        "[source]\ndir = \"public\"\n[targets.production]\nurl = \"s3://{b}\"\ndistribution = \"{dist}\"\norigin_path = \"\"\nconcurrency = 1\nmax_invalidation_paths = 100\n"
    )
}

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

/// What a request was doing, from the proxy's point of view (requests are sequential with concurrency = 1).
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

#[test]
fn sigkill_in_every_phase_then_rerun_converges() {
    let n = trials("GIT_PUBLISH_CRASH_TRIALS", 30);
    let (v1, v2) = versions();
    // 1 GET + claim + 24 uploads + 1 delete batch + 1 invalidation + final state = 29 requests.
    let total = 29;
    let mut phases: BTreeMap<&str, usize> = BTreeMap::new();
    let mut resumed = 0;
    for t in 0..n {
        let site = Site::new();
        let b = bucket("crash");
        let dist = distribution(&b);
        site.config(&config(&b, &dist));
        write_all(&site, &v1);
        let c1 = site.commit("v1");
        site.run(&[]).ok();
        write_all(&site, &v2);
        let c2 = site.commit("v2");

        // Cycle through the phases (read, claim, an upload, delete, invalidation, final state write), killing
        // before the request reaches the server on even rounds and after it was applied on odd ones.
        let by_phase = [1, 2, 3 + (t * 5) % 24, total - 2, total - 1, total];
        let k = std::env::var("GIT_PUBLISH_CRASH_AT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(by_phase[t % 6]);
        let after = (t / 6) % 2 == 1;
        let proxy = Proxy::start(
            &moto().endpoint,
            Config {
                kill_at: Some((k, after)),
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
            "trial {t}: expected the kill at request {k} to land"
        );

        // The proxy logs the killed request right after the kill: wait for it.
        let mut reqs = proxy.requests();
        for _ in 0..100 {
            if reqs.iter().any(|r| r.n == k) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            reqs = proxy.requests();
        }
        if std::env::var("DEBUG_PROXY").is_ok() {
            for r in &reqs {
                eprintln!(
                    "trial {t} k={k} after={after}: {} {} {} {} {:?}",
                    r.n, r.method, r.path, r.status, r.fault
                );
            }
        }
        let killed = reqs
            .iter()
            .find(|r| r.n == k)
            .expect("the killed request is logged");
        let state_puts_before = reqs
            .iter()
            .filter(|r| r.n < k && r.method == "PUT" && r.path.contains(".git-publish/state.json"))
            .count();
        let ph = phase(killed, state_puts_before);
        *phases.entry(ph).or_default() += 1;

        // The state never claims a commit whose content is not fully there.
        match deployed(&b).as_deref() {
            Some(c) if c == c1 => {}
            Some(c) if c == c2 => assert_eq!(
                bucket_files(&b),
                v2,
                "trial {t}: state says v2 but content differs"
            ),
            other => panic!("trial {t}: state names {other:?}"),
        }
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
    }
    eprintln!("crash trials: {n}, kills by phase: {phases:?}, re-runs that resumed: {resumed}, objects lost: 0");
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
    for race in 0..n {
        let site = Site::new();
        let b = bucket("race");
        let dist = distribution(&b);
        site.config(&config(&b, &dist));
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
        "races: {n}, exactly one publisher proceeded in each (A won {}, B won {}), loser writes: 0",
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
        site.config(&config(&b, &dist).replace("concurrency = 1", "concurrency = 4"));
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
    site.config(&config(&b, &dist));
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
    site.config(&format!(
        "[source]\ndir = \"public\"\n[targets.production]\nurl = \"s3://{b}\"\n{extra}"
    ));
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
