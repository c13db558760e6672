//! Ambiguous writes and resumed publishes: the server applied a request whose answer never came back (the
//! proxy forwards it, then resets the connection), and a publish killed after CloudFront took its
//! invalidation. Nothing is lost, nothing is paid twice.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::proxy::{Asked, Config, Fault, Logged, Proxy, Targeted};
use crate::util::*;

/// A small blog published once to a new bucket and distribution, and a second commit that edits two pages
/// (two uploads, an invalidation). Returns (site, bucket, distribution, first commit, second commit).
fn published_then_edited(name: &str) -> (Site, String, String, String, String) {
    let site = Site::new();
    let b = bucket(name);
    let dist = distribution(&b);
    site.config(SiteToml::s3(&b).distribution(&dist));
    small_blog(&site);
    let c1 = site.commit("v1");
    site.run(&[]).ok();
    site.write("public/index.html", "<h1>Home 2</h1>")
        .write("public/posts/a/index.html", "<h1>A 2</h1>");
    let c2 = site.commit("v2");
    (site, b, dist, c1, c2)
}

fn is_record_put(a: &Asked) -> bool {
    a.method == "PUT" && a.path.contains("/.git-publish/state.json")
}

/// The final record: no claim in it any more.
fn is_final_record(a: &Asked) -> bool {
    is_record_put(a) && String::from_utf8_lossy(a.body).contains("\"pending\": null")
}

fn is_claim(a: &Asked) -> bool {
    is_record_put(a) && String::from_utf8_lossy(a.body).contains("\"holder\": {")
}

fn is_index_upload(a: &Asked) -> bool {
    a.method == "PUT"
        && a.path.split('?').next().unwrap().ends_with("/index.html")
        && !a.path.contains("/posts/")
}

fn is_invalidation(a: &Asked) -> bool {
    a.method == "POST" && a.path.ends_with("/invalidation")
}

/// The proxy's log of the record's writes.
fn record_puts(proxy: &Proxy) -> Vec<Logged> {
    (proxy.requests().into_iter())
        .filter(|r| r.method == "PUT" && r.path.contains("/.git-publish/state.json"))
        .collect()
}

fn lost_answer(when: fn(&Asked) -> bool, times: usize) -> Proxy {
    Proxy::start(
        &moto().endpoint,
        Config {
            targeted: vec![Targeted {
                when,
                fault: Fault::ResetAfter,
                times,
            }],
            ..Default::default()
        },
    )
}

/// The final record's write is applied but its answer is lost: the SDK sends it again, the server refuses the
/// retry (its If-Match names the claim, which the first attempt replaced), and git-publish reads the record
/// back: it is the one it wrote, so the publish succeeded. Before that re-read, this was reported as a lost
/// race and the deploy as failed, though it was recorded.
#[test]
fn a_record_write_applied_but_unanswered_is_a_success() {
    let (site, b, _, _, c2) = published_then_edited("lost-record");
    let proxy = lost_answer(is_final_record, 1);
    site.run_with(&[], &[("AWS_ENDPOINT_URL", &proxy.endpoint)])
        .ok();
    let puts = record_puts(&proxy);
    let last: Vec<(bool, u16)> = puts[1..].iter().map(|r| (r.forwarded, r.status)).collect();
    assert_eq!(
        last,
        [(true, 0), (true, 412)],
        "the record applied without an answer, then its retry refused: {puts:?}"
    );
    let st = state_json(&b, "");
    assert_eq!(st["deployed"]["commit"], c2.as_str());
    assert!(st["pending"].is_null());
}

/// The claim is applied but its answer is lost: the retry is refused (412), the record read back is our
/// claim, so the claim holds and the publish goes on.
#[test]
fn a_claim_applied_but_unanswered_is_held() {
    let (site, b, _, _, c2) = published_then_edited("lost-claim");
    let proxy = lost_answer(is_claim, 1);
    let r = site
        .run_with(&[], &[("AWS_ENDPOINT_URL", &proxy.endpoint)])
        .ok();
    assert!(!r.stderr.contains("being published"), "{}", r.stderr);
    let puts = record_puts(&proxy);
    let claims: Vec<(bool, u16)> = puts[..2].iter().map(|r| (r.forwarded, r.status)).collect();
    assert_eq!(claims, [(true, 0), (true, 412)], "{puts:?}");
    assert_eq!(state_json(&b, "")["deployed"]["commit"], c2.as_str());
}

/// An upload applied every time but never answered: the SDK gives up, the publish fails without recording
/// anything (the claim released with the error), though the object is there; the next publish resumes and
/// records the commit.
#[test]
fn an_upload_applied_but_never_answered_fails_then_resumes() {
    let (site, b, _, c1, c2) = published_then_edited("lost-upload");
    let proxy = lost_answer(is_index_upload, usize::MAX);
    let r = site
        .run_with(&[], &[("AWS_ENDPOINT_URL", &proxy.endpoint)])
        .fails(1);
    assert!(r.stderr.contains("index.html"), "{}", r.stderr);
    let tries = (proxy.requests().iter())
        .filter(|q| q.fault.as_deref() == Some("ResetAfter"))
        .count();
    assert!(tries > 1, "the SDK sent the upload again: {tries}");
    assert_eq!(
        site_objects(&b)["index.html"].body,
        b"<h1>Home 2</h1>",
        "applied"
    );
    let st = state_json(&b, "");
    assert_eq!(st["deployed"]["commit"], c1.as_str());
    assert_eq!(st["pending"]["commit"], c2.as_str());
    assert!(st["pending"]["holder"].is_null(), "the claim was released");
    let r = site.run(&[]).ok();
    assert!(r.stderr.contains("resuming"), "{}", r.stderr);
    assert_eq!(state_json(&b, "")["deployed"]["commit"], c2.as_str());
}

/// The CallerReference of each CreateInvalidation request the proxy saw.
fn caller_references(proxy: &Proxy) -> Vec<String> {
    (proxy.requests().iter())
        .filter(|r| r.method == "POST" && r.path.ends_with("/invalidation"))
        .filter_map(|r| {
            let body = String::from_utf8_lossy(&r.body).into_owned();
            let (_, rest) = body.split_once("<CallerReference>")?;
            Some(rest.split_once("</CallerReference>")?.0.to_string())
        })
        .collect()
}

/// While set, the final record's write is refused (403, never forwarded): the publish killed at its
/// invalidation then leaves its claim held, whatever the order of the two requests.
static REFUSE_FINAL_RECORD: AtomicBool = AtomicBool::new(false);

fn final_record_refused(a: &Asked) -> Option<Vec<u8>> {
    if !REFUSE_FINAL_RECORD.load(Ordering::SeqCst) || !is_final_record(a) {
        return None;
    }
    let body = "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>refused by the test proxy</Message></Error>";
    Some(
        format!(
            "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

/// Killed (SIGKILL) right after CloudFront took the invalidation: the next publish resumes the same claim,
/// sends the same CallerReference, and CloudFront returns the invalidation it already has: one invalidation,
/// paid once, recorded. Twice: once with the final record refused, so that the kill finds the claim held and
/// the resumed publish makes the reference again (from the claim, never from its own clock); once as it
/// comes (the record, written beside the invalidation, usually lands first and lists it as requested).
#[test]
fn a_publish_killed_after_its_invalidation_sends_the_same_one_when_resumed() {
    killed_after_its_invalidation_then_resumed("kill-inv-held", true);
    killed_after_its_invalidation_then_resumed("kill-inv", false);
}

fn killed_after_its_invalidation_then_resumed(name: &str, record_refused: bool) {
    let (site, b, dist, _, c2) = published_then_edited(name);
    let proxy = Proxy::start(
        &moto().endpoint,
        Config {
            kill_on: Some((is_invalidation, true)),
            answer: Some(final_record_refused),
            ..Default::default()
        },
    );
    // Two clocks five minutes apart: a reference made from the time of each run would differ.
    let at = |t: &'static str| {
        [
            ("AWS_ENDPOINT_URL", proxy.endpoint.as_str()),
            ("GIT_PUBLISH_NOW", t),
        ]
    };
    REFUSE_FINAL_RECORD.store(record_refused, Ordering::SeqCst);
    let child = site.spawn(&[], &at("2027-06-01T10:00:00Z"));
    proxy.victim.store(child.id(), Ordering::SeqCst);
    let out = child.wait_with_output().unwrap();
    REFUSE_FINAL_RECORD.store(false, Ordering::SeqCst);
    assert!(!out.status.success(), "the kill did not land");
    assert_eq!(
        invalidations(&dist).len(),
        1,
        "CloudFront took it before the kill"
    );
    // The record is written while the invalidation is created: the kill finds either the claim still held,
    // or the record of c2 listing the invalidation as requested (never as created).
    let held = state_json(&b, "");
    let claimed = held["pending"]["commit"] == c2.as_str();
    let requested = held["deployed"]["commit"] == c2.as_str()
        && held["invalidations_requested"]
            .as_array()
            .is_some_and(|r| r.len() == 1)
        && held["deployed"]["invalidation_ids"]
            .as_array()
            .is_none_or(|i| i.is_empty());
    assert!(claimed || requested, "{held}");
    assert!(claimed || !record_refused, "the claim is not held: {held}");

    let r = site.run_with(&[], &at("2027-06-01T10:05:00Z")).ok();
    if claimed {
        assert!(
            r.stderr.contains("resuming") && r.stderr.contains("process is gone"),
            "{}",
            r.stderr
        );
    }
    let refs = caller_references(&proxy);
    assert!(refs.len() == 2 && refs[0] == refs[1], "{refs:?}");
    let all = invalidations(&dist);
    assert_eq!(all.len(), 1, "one invalidation, not two: {all:?}");
    let st = state_json(&b, "");
    assert_eq!(st["deployed"]["commit"], c2.as_str());
    if claimed {
        // Resumed from the claim, the publish wrote its record beside the invalidation: it lists it as
        // requested, with the same reference (this clone keeps the id it saw created; its next claim writes
        // it into the record).
        assert_eq!(
            st["invalidations_requested"][0]["reference"],
            refs[0].as_str(),
            "{st}"
        );
    } else {
        // Listed as requested by the killed publish: the next one sent it again and recorded it created.
        assert_eq!(
            st["deployed"]["invalidation_ids"].as_array().unwrap().len(),
            1,
            "{st}"
        );
    }
}

/// A publish that fails, then one of another commit that fails too: the second claim is its own, started
/// when it started (`status` shows when), not the time of the publish it resumed. Only a retry of the same
/// publish keeps the first start, for its CallerReference.
#[test]
fn a_failed_publish_of_another_commit_keeps_its_own_start() {
    let (site, b, _, _, c2) = published_then_edited("own-start");
    let proxy = lost_answer(is_index_upload, usize::MAX);
    let at = |t: &'static str| {
        [
            ("AWS_ENDPOINT_URL", proxy.endpoint.as_str()),
            ("GIT_PUBLISH_NOW", t),
        ]
    };
    site.run_with(&[], &at("2027-06-01T10:00:00Z")).fails(1);
    assert_eq!(state_json(&b, "")["pending"]["commit"], c2.as_str());
    site.write("public/index.html", "<h1>Home 3</h1>");
    let c3 = site.commit("v3");
    site.run_with(&[], &at("2027-06-01T11:00:00Z")).fails(1);
    let pending = &state_json(&b, "")["pending"];
    assert_eq!(pending["commit"], c3.as_str());
    assert_eq!(pending["started"], "2027-06-01T11:00:00Z");
    let s = site.run_with(&["status"], &at("2027-06-01T11:30:00Z")).ok();
    assert!(
        s.stdout.contains(&format!(
            "the publish of {} started 2027-06-01T11:00:00Z did not finish",
            &c3[..12]
        )),
        "{}",
        s.stdout
    );
}
