//! `git publish doctor`'s questions to Cloudflare about a target's zone, read-only:
//! - the token: `GET /user/tokens/verify` (<https://developers.cloudflare.com/api/resources/user/subresources/tokens/methods/verify/>)
//!   answers the token's status (`active`, `disabled`, `expired`); a token Cloudflare does not know answers
//!   401 (error 1000, "Invalid API Token");
//! - the zone: `GET /zones/{zone_id}` (<https://developers.cloudflare.com/api/resources/zones/methods/get/>)
//!   answers the zone's name and status. A token made for purging alone (Zone.Cache Purge) may not read the
//!   zone: that answer (403) says nothing about the purge, so the check is then skipped, not failed.
//!
//! Each answer is a [`Checked`]; `cmd::doctor` prints them. Whether the token may purge is not asked: only a
//! purge would tell, and doctor purges nothing.

use super::purge::{accepted, describe, PurgeError, PurgeErrorKind, Purger, TOKEN_FIX, ZONE_FIX};

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub check: &'static str,
    pub ok: bool,
    /// Not decided (`ok` stays true): `detail` says why.
    pub skipped: bool,
    pub detail: String,
    /// The fix ("" when it passed).
    pub fix: String,
}

impl Checked {
    fn pass(check: &'static str, detail: String) -> Checked {
        Checked {
            check,
            ok: true,
            skipped: false,
            detail,
            fix: String::new(),
        }
    }

    fn fail(check: &'static str, detail: String, fix: impl Into<String>) -> Checked {
        Checked {
            check,
            ok: false,
            skipped: false,
            detail,
            fix: fix.into(),
        }
    }

    fn from_error(check: &'static str, e: PurgeError) -> Checked {
        Checked::fail(check, e.to_string(), e.hint)
    }
}

/// The token's check, then (when it passed) the zone's, with the token and API base from the environment.
pub async fn token_and_zone(zone: &str) -> Vec<Checked> {
    let purger = match Purger::from_env(zone).and_then(|p| p.check_token().map(|()| p)) {
        Ok(p) => p,
        Err(e) => return vec![Checked::from_error(TOKEN, e)],
    };
    let token = token(&purger).await;
    if !token.ok {
        return vec![token];
    }
    vec![token, zone_check(&purger).await]
}

const TOKEN: &str = "Cloudflare token";
const ZONE: &str = "Cloudflare zone";

async fn token(p: &Purger) -> Checked {
    let a = match p.get("user/tokens/verify").await {
        Ok(a) => a,
        Err(e) => return Checked::from_error(TOKEN, e),
    };
    let status = field(&a, "status");
    match (accepted(&a), status.as_deref()) {
        (true, Some("active")) => Checked::pass(TOKEN, "CLOUDFLARE_API_TOKEN is active".into()),
        (true, other) => Checked::fail(
            TOKEN,
            format!(
                "CLOUDFLARE_API_TOKEN is {}",
                other.unwrap_or("not active (no status)")
            ),
            format!(
                "{TOKEN_FIX} that is active (My Profile → API Tokens in Cloudflare's dashboard)"
            ),
        ),
        (false, _) => Checked::fail(
            TOKEN,
            format!("Cloudflare refused CLOUDFLARE_API_TOKEN: {}", describe(&a)),
            TOKEN_FIX,
        ),
    }
}

async fn zone_check(p: &Purger) -> Checked {
    let zone = p.zone();
    let a = match p.get(&format!("zones/{zone}")).await {
        Ok(a) => a,
        Err(e) => return Checked::from_error(ZONE, e),
    };
    if accepted(&a) {
        let name = field(&a, "name").unwrap_or_default();
        let status = field(&a, "status").unwrap_or_default();
        return match status.as_str() {
            "active" | "" => Checked::pass(ZONE, format!("{zone} is {name}, active")),
            other => Checked::fail(
                ZONE,
                format!("{zone} is {name}, {other}: Cloudflare's cache serves an active zone only"),
                "finish the zone's setup in Cloudflare's dashboard (its nameservers)",
            ),
        };
    }
    let e = p.refused(&a);
    match e.kind {
        // A token for purging alone may not read the zone: that is no verdict on the purge.
        PurgeErrorKind::Token => Checked {
            skipped: true,
            ..Checked::pass(
                ZONE,
                format!(
                    "not checked: the token may not read zone {zone} ({}); it needs Zone.Cache Purge \
                     only, which the first publish's purge checks",
                    describe(&a)
                ),
            )
        },
        PurgeErrorKind::Zone => Checked::fail(ZONE, e.to_string(), ZONE_FIX),
        _ => Checked::from_error(ZONE, e),
    }
}

/// A string field of the answer's `result`.
fn field(a: &super::api::Answer, name: &str) -> Option<String> {
    (a.envelope.as_ref())
        .and_then(|e| e.result.as_ref())
        .and_then(|r| r.get(name))
        .and_then(|v| v.as_str())
        .map(str::to_string)
}
