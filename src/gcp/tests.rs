//! The Cloud CDN client against the Compute API stand-in (`tests/gcp/cloud_cdn.py`, started on 127.0.0.1 for
//! each test with the limits it needs), asserting from its log exactly which paths each request named.

use std::time::Duration;

use super::compute::TOKEN_FIX;
use super::*;
use crate::exec::api::Limits;
use crate::exec::stand_in::{StandIn, THROTTLE_TWICE};
use crate::exec::{Batch, Cdn, CdnError, InvalidationStatus};

const TOKEN: &str = "test-token";
const SCRIPT: &str = "tests/gcp/cloud_cdn.py";

fn quick() -> Limits {
    Limits {
        first_backoff: Duration::from_millis(20),
        ..Limits::default()
    }
}

fn cdn_on(s: &StandIn, token: &str, map: &str, limits: Limits) -> CloudCdn {
    let base = url::Url::parse(&format!("{}/compute/v1/", s.origin)).unwrap();
    let token = Token::Fixed(token.into());
    let compute = Compute::new("my-project", map, base, token, limits).unwrap();
    CloudCdn::new(compute, Some("blog.example.com".into()))
}

async fn send(cdn: &CloudCdn, paths: &[&str]) -> Result<String, CdnError> {
    let addresses: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
    let batch = Batch {
        reference: "r",
        addresses: &addresses,
    };
    cdn.invalidate(batch).await
}

/// (status, path) of each invalidation request.
fn invalidations(s: &StandIn) -> Vec<(u64, String)> {
    (s.of("POST").iter())
        .map(|r| {
            let path = r["invalidate"].as_str().unwrap_or("?").to_string();
            (r["status"].as_u64().unwrap(), path)
        })
        .collect()
}

#[tokio::test]
async fn each_path_is_one_request_on_the_host_and_the_id_names_every_operation() {
    let s = StandIn::start(SCRIPT, &[]);
    let cdn = cdn_on(&s, TOKEN, "site-map", quick());
    let id = send(&cdn, &["/posts/a/", "/posts/*"]).await.unwrap();
    assert_eq!(
        invalidations(&s),
        [(200, "/posts/a/".into()), (200, "/posts/*".into())]
    );
    let posts = s.of("POST");
    assert!(posts.iter().all(|r| r["host"] == "blog.example.com"
        && r["auth"] == true
        && r["path"] == "/compute/v1/projects/my-project/global/urlMaps/site-map/invalidateCache"));
    let ops: Vec<&str> = id.split(' ').collect();
    assert_eq!(ops.len(), 2);
    assert!(ops.iter().zip(&posts).all(|(o, r)| r["operation"] == *o));
    assert_eq!(
        cdn.status(&id).await.unwrap(),
        InvalidationStatus::Completed
    );
}

#[tokio::test]
async fn status_reads_each_operation_until_it_is_done() {
    let s = StandIn::start(SCRIPT, &["--done-after", "1"]);
    let cdn = cdn_on(&s, TOKEN, "site-map", quick());
    let id = send(&cdn, &["/a.css"]).await.unwrap();
    assert_eq!(
        cdn.status(&id).await.unwrap(),
        InvalidationStatus::InProgress
    );
    assert_eq!(
        cdn.status(&id).await.unwrap(),
        InvalidationStatus::Completed
    );
    let gets = s.of("GET");
    assert_eq!(gets.len(), 2);
    assert!(gets[0]["path"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/global/operations/{id}")));
}

/// The stand-in refuses what Cloud CDN refuses: a wildcard anywhere but a trailing `/*`. The client sends what
/// it is given (the planner makes the paths) and says what was refused.
#[tokio::test]
async fn a_wildcard_in_the_wrong_place_is_refused_with_googles_message() {
    let s = StandIn::start(SCRIPT, &[]);
    let cdn = cdn_on(&s, TOKEN, "site-map", quick());
    let e = send(&cdn, &["/posts*"]).await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("my-project/site-map")
            && text.contains("HTTP 400, invalid")
            && text.contains("'*' only"),
        "{text}"
    );
    assert!(e.hint().contains("invalidateCache"), "{}", e.hint());
    assert_eq!(invalidations(&s), [(400, "/posts*".into())], "sent once");
}

#[tokio::test]
async fn a_429_is_waited_out_and_the_path_sent_again() {
    let s = StandIn::start(SCRIPT, THROTTLE_TWICE);
    let cdn = cdn_on(&s, TOKEN, "site-map", quick());
    send(&cdn, &["/a/", "/b/"]).await.unwrap();
    let got = invalidations(&s);
    let want = [(200, "/a/"), (429, "/b/"), (429, "/b/"), (200, "/b/")];
    assert_eq!(got, want.map(|(c, p)| (c, p.to_string())));
}

/// Google's older form of the rate limit: 403 with the reason `rateLimitExceeded`, not a denial.
#[tokio::test]
async fn a_403_rate_limit_exceeded_is_a_rate_limit_not_a_denial() {
    let args = [THROTTLE_TWICE, &["--rate-status", "403"]].concat();
    let s = StandIn::start(SCRIPT, &args);
    let cdn = cdn_on(&s, TOKEN, "site-map", quick());
    send(&cdn, &["/a/", "/b/"]).await.unwrap();
    let got = invalidations(&s);
    let want = [(200, "/a/"), (403, "/b/"), (403, "/b/"), (200, "/b/")];
    assert_eq!(got, want.map(|(c, p)| (c, p.to_string())));
}

#[tokio::test]
async fn endless_rate_limits_fail_after_the_total_bound_naming_the_url_map() {
    let s = StandIn::start(
        SCRIPT,
        &["--rate", "1", "--window", "600", "--retry-after", "1"],
    );
    let limits = Limits {
        max_total_wait: Duration::from_secs(2),
        ..quick()
    };
    let cdn = cdn_on(&s, TOKEN, "site-map", limits);
    let e = send(&cdn, &["/a/", "/b/"]).await.unwrap_err();
    let CdnError::Throttled(text) = &e else {
        panic!("{e:?}")
    };
    assert!(
        text.contains("my-project/site-map") && text.contains("HTTP 429, rateLimitExceeded"),
        "{text}"
    );
    assert_eq!(
        invalidations(&s).len(),
        4,
        "one accepted, then 429s for 1 + 1 s"
    );
}

#[tokio::test]
async fn a_refused_token_a_denied_project_and_an_unknown_url_map_each_say_the_fix() {
    let s = StandIn::start(SCRIPT, &["--url-map", "site-map"]);
    let e = send(&cdn_on(&s, "other", "site-map", quick()), &["/a"])
        .await
        .unwrap_err();
    assert!(matches!(e, CdnError::Denied { .. }), "{e:?}");
    assert!(e.to_string().contains("HTTP 401, authError"), "{e}");
    assert_eq!(e.hint(), TOKEN_FIX);

    let e = send(&cdn_on(&s, TOKEN, "nope", quick()), &["/a"])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("HTTP 404, notFound"), "{e}");
    assert!(
        e.hint().contains("url_map") && e.hint().contains("[targets.NAME.cloud_cdn]"),
        "{}",
        e.hint()
    );

    let s = StandIn::start(SCRIPT, &["--project", "someone-else"]);
    let e = send(&cdn_on(&s, TOKEN, "site-map", quick()), &["/a"])
        .await
        .unwrap_err();
    assert!(matches!(e, CdnError::Denied { .. }), "{e:?}");
    assert!(
        e.hint().contains("compute.urlMaps.invalidateCache"),
        "{}",
        e.hint()
    );
    assert_eq!(s.requests().len(), 1, "a denial is not tried again");
}

#[tokio::test]
async fn doctor_reads_the_url_map_without_invalidating() {
    let s = StandIn::start(SCRIPT, &["--url-map", "site-map"]);
    cdn_on(&s, TOKEN, "site-map", quick())
        .compute()
        .read_url_map()
        .await
        .unwrap();
    let e = cdn_on(&s, "other", "site-map", quick())
        .compute()
        .read_url_map()
        .await
        .unwrap_err();
    assert_eq!(e.hint(), TOKEN_FIX);
    assert!(s.of("POST").is_empty());
}

#[test]
fn the_profile_is_paths_with_a_trailing_slash_star_one_a_request_and_free() {
    use crate::plan::invalidate::{batches, Addresses, Wildcard};
    assert_eq!(PROFILE.wildcard, Wildcard::TrailingSlashStar);
    assert_eq!(PROFILE.addresses, Addresses::Paths);
    assert_eq!(
        (PROFILE.max_per_request, PROFILE.max_wildcards_per_request),
        (1, 1)
    );
    assert_eq!(PROFILE.free_paths_a_month, None);
    let paths: Vec<String> = ["/a/", "/b/*", "/c", "/d"].map(String::from).to_vec();
    // The planner's batches hold at most one exact path and one wildcard: the adapter sends each alone.
    assert!(batches(&paths, &PROFILE).iter().all(|b| b.len() <= 2));
}

/// The stand-in takes one path a request, as Cloud CDN does: a list is refused.
#[tokio::test]
async fn the_stand_in_refuses_a_second_path_in_one_request() {
    let s = StandIn::start(SCRIPT, &[]);
    let url = url::Url::parse(&format!(
        "{}/compute/v1/projects/my-project/global/urlMaps/site-map/invalidateCache",
        s.origin
    ))
    .unwrap();
    let client = crate::exec::api::Client::for_url(&url).unwrap();
    for body in [
        r#"{"path": ["/a", "/b"]}"#,
        r#"{"path": "/a", "paths": ["/b"]}"#,
    ] {
        let r = (client.send(
            hyper::Method::POST,
            &url,
            TOKEN,
            Some(body.as_bytes()),
            quick().timeout,
        ))
        .await
        .unwrap();
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.json()["error"]["errors"][0]["reason"], "invalid");
    }
}
