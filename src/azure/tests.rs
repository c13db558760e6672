//! The Front Door client against the Resource Manager stand-in (`tests/azure/front_door.py`, started on
//! 127.0.0.1 for each test with the limits it needs), asserting from its log exactly which paths each request
//! named.

use std::time::Duration;

use super::arm::TOKEN_FIX;
use super::*;
use crate::exec::api::Limits;
use crate::exec::stand_in::{StandIn, THROTTLE_TWICE};
use crate::exec::{Batch, Cdn, CdnError, InvalidationStatus};

const TOKEN: &str = "test-token";
const SCRIPT: &str = "tests/azure/front_door.py";

fn quick() -> Limits {
    Limits {
        first_backoff: Duration::from_millis(20),
        ..Limits::default()
    }
}

fn endpoint(name: &str) -> Endpoint {
    Endpoint {
        subscription: "00000000-0000-0000-0000-000000000000".into(),
        resource_group: "site-rg".into(),
        profile: "site-fd".into(),
        endpoint: name.into(),
    }
}

fn door_on(s: &StandIn, token: &str, name: &str, limits: Limits) -> FrontDoor {
    let base = url::Url::parse(&format!("{}/", s.origin)).unwrap();
    let arm = Arm::new(endpoint(name), base, token.into(), limits).unwrap();
    FrontDoor::new(arm, vec!["blog.example.com".into()])
}

async fn send(door: &FrontDoor, paths: &[String]) -> Result<String, CdnError> {
    door.invalidate(Batch {
        reference: "r",
        addresses: paths,
    })
    .await
}

fn paths(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("/posts/{i}/")).collect()
}

/// (status, number of paths) of each purge request.
fn shape(s: &StandIn) -> Vec<(u64, usize)> {
    (s.of("POST").iter())
        .map(|r| {
            let n = r["contentPaths"].as_array().map_or(0, Vec::len);
            (r["status"].as_u64().unwrap(), n)
        })
        .collect()
}

fn purged(s: &StandIn) -> Vec<String> {
    (s.of("POST").iter())
        .filter(|r| r["status"] == 202)
        .flat_map(|r| r["contentPaths"].as_array().cloned().unwrap_or_default())
        .map(|p| p.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_batch_is_sent_in_requests_of_100_on_the_domain_and_polled_until_done() {
    let s = StandIn::start(SCRIPT, &["--done-after", "1"]);
    let door = door_on(&s, TOKEN, "site", quick());
    let mut want = paths(150);
    want.extend(["/tags/*".to_string(), "/*".to_string()]);
    let id = send(&door, &want).await.unwrap();
    assert_eq!(shape(&s), [(202, 100), (202, 52)]);
    assert_eq!(purged(&s), want);
    let posts = s.of("POST");
    assert!(posts.iter().all(|r| r["domains"] == serde_json::json!(["blog.example.com"])
        && r["auth"] == true
        && r["path"]
            == "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/site-rg/providers/Microsoft.Cdn/profiles/site-fd/afdEndpoints/site/purge"));
    assert_eq!(id.split(' ').count(), 2);
    // Each operation is in progress on its first read: the first, then the second holds the batch back.
    assert_eq!(
        door.status(&id).await.unwrap(),
        InvalidationStatus::InProgress
    );
    assert_eq!(
        door.status(&id).await.unwrap(),
        InvalidationStatus::InProgress
    );
    assert_eq!(
        door.status(&id).await.unwrap(),
        InvalidationStatus::Completed
    );
    assert_eq!(s.of("GET").len(), 5, "1, then 1 + 1, then 1 + 1");
}

/// The stand-in refuses more than 100 paths and a wildcard anywhere but `/dir/*`: the client's requests of
/// 100 never meet the first; the second is refused with Azure's message.
#[tokio::test]
async fn a_wildcard_in_the_wrong_place_is_refused_with_azures_message() {
    let s = StandIn::start(SCRIPT, &[]);
    let door = door_on(&s, TOKEN, "site", quick());
    let e = send(&door, &["/posts*".to_string()]).await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("site-fd/site")
            && text.contains("HTTP 400, BadRequest")
            && text.contains("wildcard"),
        "{text}"
    );
    assert_eq!(shape(&s), [(400, 1)], "sent once");
}

#[tokio::test]
async fn a_429_is_waited_out_as_retry_after_says_and_the_request_sent_again() {
    let s = StandIn::start(SCRIPT, THROTTLE_TWICE);
    let door = door_on(&s, TOKEN, "site", quick());
    let want = paths(120);
    send(&door, &want).await.unwrap();
    assert_eq!(purged(&s), want, "every path once, in order");
    assert_eq!(shape(&s), [(202, 100), (429, 20), (429, 20), (202, 20)]);
}

#[tokio::test]
async fn endless_429s_fail_after_the_total_bound_naming_the_endpoint() {
    let s = StandIn::start(
        SCRIPT,
        &["--rate", "1", "--window", "600", "--retry-after", "1"],
    );
    let limits = Limits {
        max_total_wait: Duration::from_secs(2),
        ..quick()
    };
    let door = door_on(&s, TOKEN, "site", limits);
    let e = send(&door, &paths(101)).await.unwrap_err();
    let CdnError::Throttled(text) = &e else {
        panic!("{e:?}")
    };
    assert!(
        text.contains("site-fd/site") && text.contains("HTTP 429, TooManyRequests"),
        "{text}"
    );
    assert_eq!(shape(&s).len(), 4);
}

#[tokio::test]
async fn a_refused_token_a_denied_purge_and_an_unknown_endpoint_each_say_the_fix() {
    let s = StandIn::start(SCRIPT, &["--endpoint", "site"]);
    let e = send(&door_on(&s, "other", "site", quick()), &paths(1))
        .await
        .unwrap_err();
    assert!(matches!(e, CdnError::Denied { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("HTTP 401, InvalidAuthenticationToken"),
        "{e}"
    );
    assert_eq!(e.hint(), TOKEN_FIX);

    let e = send(&door_on(&s, TOKEN, "nope", quick()), &paths(1))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("HTTP 404, ResourceNotFound"), "{e}");
    assert!(
        e.hint().contains("[targets.NAME.front_door]"),
        "{}",
        e.hint()
    );

    let s = StandIn::start(SCRIPT, &["--deny-purge"]);
    let e = send(&door_on(&s, TOKEN, "site", quick()), &paths(1))
        .await
        .unwrap_err();
    assert!(matches!(e, CdnError::Denied { .. }), "{e:?}");
    assert!(
        e.hint().contains("afdEndpoints/purge/action"),
        "{}",
        e.hint()
    );
    assert_eq!(s.requests().len(), 1, "a denial is not tried again");
}

/// The operation's URL comes from the answer: the token is sent to the base's origin only.
#[tokio::test]
async fn an_operation_url_on_another_host_gets_no_token() {
    let s = StandIn::start(SCRIPT, &[]);
    let door = door_on(&s, TOKEN, "site", quick());
    let e = door
        .status("https://elsewhere.example.com/op")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("is not on"), "{e}");
    assert!(s.requests().is_empty());
}

#[tokio::test]
async fn doctor_reads_the_endpoint_without_purging() {
    let s = StandIn::start(SCRIPT, &["--endpoint", "site"]);
    door_on(&s, TOKEN, "site", quick())
        .arm()
        .read_endpoint()
        .await
        .unwrap();
    let e = door_on(&s, TOKEN, "nope", quick())
        .arm()
        .read_endpoint()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("ResourceNotFound"), "{e}");
    assert!(s.of("POST").is_empty());
}

#[test]
fn the_profile_is_paths_with_dir_star_100_a_request() {
    use crate::plan::invalidate::{Addresses, Wildcard};
    assert_eq!(PROFILE.wildcard, Wildcard::TrailingSlashStar);
    assert_eq!(PROFILE.addresses, Addresses::Paths);
    assert_eq!(PROFILE.max_per_request, 100);
    assert_eq!(PROFILE.free_paths_a_month, None);
}

/// The stand-in takes at most 100 paths a request, as Front Door does.
#[tokio::test]
async fn the_stand_in_refuses_101_paths_in_one_request() {
    let s = StandIn::start(SCRIPT, &[]);
    let url = url::Url::parse(&format!(
        "{}/subscriptions/x/resourceGroups/rg/providers/Microsoft.Cdn/profiles/p/afdEndpoints/e/purge?api-version=2024-02-01",
        s.origin
    ))
    .unwrap();
    let client = crate::exec::api::Client::for_url(&url).unwrap();
    let body = serde_json::to_vec(&serde_json::json!({ "contentPaths": paths(101) })).unwrap();
    let r = (client.send(
        hyper::Method::POST,
        &url,
        TOKEN,
        Some(&body),
        quick().timeout,
    ))
    .await
    .unwrap();
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("At most 100"));
}
