//! `git publish doctor`: checks a target's setup without publishing, each printed with ✓ or ✗ and the fix:
//! the credentials (a signed HeadBucket), the bucket's region against site.toml, each distribution's origin
//! (bucket and origin path against the prefix), whether the store refuses conditional writes that must fail
//! (the probe of `state::probe_conditional_writes`, which the claim relies on), and, when `domain` is set (or
//! `--site-url` given), whether the deploy record is readable at the site's public URL. Exit 1 when a check
//! fails. For a target with a distribution it then lists the recommended settings of `git publish setup
//! --check` as advice.
//!
//! Answers read through CloudFront are judged with the distribution's custom error responses in mind: when
//! it answers a 403 with the site's 404 page (`setup` does, for a site with a `404.html`), a key the
//! distribution may not read answers 404 like a missing one. So no check concludes from an answer through
//! CloudFront that the distribution may read something (the bucket policy's statements say that: "distribution
//! may read"), and a 403 through CloudFront then means CloudFront could not read the 404 page itself: the
//! "404 page" check asks for a page that can't exist and tells a missing page (404) from that permission
//! error (403).
//!
//! For a target behind Cloudflare's cache (`[targets.NAME.cloudflare]`, R2) it checks the token and the zone
//! (`cloudflare::checks`), and its advice names no bucket policy, ACL or CloudFront setting (R2 has none).
//!
//! The AWS calls live in `aws::checks` and the GET of the public URL in `exec::http`; this module orders the
//! checks, judges the public URL's answer and prints them (or `--json`). The only write is the probe object
//! under `.git-publish/`.

use std::time::Duration;

use serde::Serialize;
use url::Url;

use crate::aws::checks::{aws_checks, Finding};
use crate::backends::{backends, check_env_endpoints};
use crate::config::{Backend, Locking, Target};
use crate::error::{Error, ExitCode, Result};
use crate::exec::http;
use crate::publish::Session;
use crate::state;

/// The `--json` document.
#[derive(Debug, Serialize)]
pub struct Doctor {
    pub target: String,
    pub url: String,
    pub ok: bool,
    pub checks: Vec<Finding>,
    /// The recommended settings of `git publish setup --check`: advice, they don't fail doctor.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recommended: Vec<Finding>,
}

/// `site_url`: `--site-url`, the site's root to look for the record under instead of `https://<domain>`.
pub async fn run(s: &Session, target: Option<&str>, site_url: Option<&str>) -> Result<ExitCode> {
    let site_url = site_url.map(parse_site_url).transpose()?;
    let t = s.config.target(target)?;
    check_env_endpoints(t)?;
    let mut checks = aws_checks(t).await;
    if checks.iter().all(|f| f.ok) {
        checks.push(conditional_writes(s, t).await);
    }
    // Cloudflare's token and zone have checks of their own (a token verify, the zone's read); every other
    // CDN answers one read-only call (`Cdn::check_access`).
    match &t.cdn.cloudflare {
        Some(cf) => checks.extend(cloudflare_checks(&cf.zone).await),
        None => checks.extend(cdn_access(t).await),
    }
    let recommended = if t.cdn.distributions.is_empty() {
        super::setup::Recommended::default()
    } else {
        super::setup::recommended(t).await
    };
    let error_page = recommended.error_page.as_deref();
    if let Some(f) = public_record(t, site_url.as_ref(), error_page).await {
        checks.push(f);
    }
    if let (Some(page), Some(Ok(base))) = (error_page, site_base(t, site_url.as_ref())) {
        checks.push(missing_page(&base, page).await);
    }
    let report = Doctor {
        target: t.name.clone(),
        url: t.store.url.clone(),
        ok: checks.iter().all(|f| f.ok),
        checks,
        recommended: recommended.findings,
    };
    if s.ui.json {
        s.ui.json(&report);
    } else {
        render(s, &report);
    }
    Ok(if report.ok {
        ExitCode::Success
    } else {
        ExitCode::Runtime
    })
}

fn render(s: &Session, r: &Doctor) {
    s.ui.out(&format!("{} ({})", r.target, r.url));
    render_findings(s, &r.checks);
    if !r.recommended.is_empty() {
        s.ui.out("  recommended setup (advice, as `git publish setup --check` lists it):");
        render_findings(s, &r.recommended);
    }
    let failed = r.checks.iter().filter(|f| !f.ok).count();
    s.ui.out(&match failed {
        0 => "all checks passed".to_string(),
        1 => "1 check failed".to_string(),
        n => format!("{n} checks failed"),
    });
}

fn render_findings(s: &Session, findings: &[Finding]) {
    for f in findings {
        let mark = match (f.ok, f.skipped) {
            (_, true) => "-",
            (true, false) => "✓",
            (false, false) => "✗",
        };
        // A detail may quote what a store or the site answered: escaped like a message on stderr.
        let detail = crate::quote::scrub(&f.detail);
        s.ui.out(&format!("  {mark} {}: {detail}", f.check));
        if !f.fix.is_empty() {
            s.ui.out(&format!("      fix: {}", crate::quote::scrub(&f.fix)));
        }
    }
}

/// The Cloudflare token (active) and the zone (readable, active), as [`Finding`]s.
async fn cloudflare_checks(zone: &str) -> Vec<Finding> {
    (crate::cloudflare::checks::token_and_zone(zone)
        .await
        .into_iter())
    .map(|c| match (c.ok, c.skipped) {
        (_, true) => Finding::skip(c.check, c.detail),
        (true, false) => Finding::pass(c.check, c.detail),
        (false, false) => Finding::fail(c.check, c.detail, c.fix),
    })
    .collect()
}

/// The probe the first publish runs, on the record's store.
async fn conditional_writes(s: &Session, t: &Target) -> Finding {
    const CHECK: &str = "conditional writes";
    let b = match backends(t, false, &|n| s.ui.say(n)).await {
        Ok(b) => b,
        Err(e) => return Finding::fail(CHECK, e.to_string(), e.hint().unwrap_or_default()),
    };
    let key = state::probe_key(&state::key_of(t));
    let store = b.state_store();
    match state::probe_conditional_writes(store, &key, &t.name).await {
        Ok(None) => Finding::pass(
            CHECK,
            format!("{} refused both writes that must fail (412)", store.describe()),
        ),
        Ok(Some(what)) if t.store.locking == Locking::None => Finding::pass(
            CHECK,
            format!("{what}: accepted because the target sets locking = \"none\" (one publisher at a time)"),
        ),
        Ok(Some(what)) => {
            let detail = format!(
                "{} ignores conditional writes ({what}): two publishers at once could both claim it",
                store.describe()
            );
            let e = crate::error::Error::ConditionalWritesIgnored {
                target: t.name.clone(),
                store: store.describe(),
                what,
            };
            Finding::fail(CHECK, detail, e.hint().unwrap_or_default())
        }
        Err(e) => Finding::fail(CHECK, e.to_string(), e.hint().unwrap_or_default()),
    }
}

/// A CDN reached without CloudFront (Cloud CDN, Front Door): a read-only call with the publish's credentials
/// (`Cdn::check_access`), so a missing token or permission shows here and not after a publish's uploads.
async fn cdn_access(t: &Target) -> Vec<Finding> {
    const CHECK: &str = "CDN credentials";
    let b = match crate::backends::unresolved(t).await {
        Ok(b) => b,
        Err(_) => return Vec::new(), // the store's checks above report it
    };
    let Some(lookup) = b.lookup.as_ref().filter(|l| !l.asks()) else {
        return Vec::new();
    };
    let cdns = match lookup.resolve(&|_| {}).await {
        Ok((cdns, _)) => cdns,
        Err(e) => {
            return vec![Finding::fail(
                CHECK,
                e.to_string(),
                e.hint().unwrap_or_default(),
            )]
        }
    };
    let mut out = Vec::new();
    for (_, cdn) in &cdns {
        out.push(match cdn.check_access().await {
            None => continue,
            Some(Ok(detail)) => Finding::pass(CHECK, detail),
            Some(Err(e)) => Finding::fail(CHECK, e.to_string(), e.hint().to_string()),
        });
    }
    out
}

/// How long the look at the public URL may take, and how much of its body is read (a record starts with
/// `"format"`, well within it).
const PUBLIC_TIMEOUT: Duration = Duration::from_secs(5);
const PUBLIC_BODY_CAP: usize = 64 << 10;

/// The site's root: `--site-url`, else `https://<domain>`; None without either.
fn site_base(t: &Target, site_url: Option<&Url>) -> Option<std::result::Result<Url, String>> {
    Some(match (site_url, &t.domain) {
        (None, None) => return None,
        (Some(u), _) => Ok(u.clone()),
        (None, Some(d)) if d.contains('*') => Err(format!(
            "`domain = \"{d}\"` is a wildcard; name one host with `--site-url https://HOST`"
        )),
        (None, Some(d)) => {
            Url::parse(&format!("https://{d}/")).map_err(|e| format!("https://{d}/: {e}"))
        }
    })
}

/// Whether the record is readable at the site's public URL (`https://<domain>`, or `--site-url`): a GET of
/// the path the record is served at, which must not answer with it. Passes without a request when `state`
/// keeps the record out of what the site serves; nothing to check without a domain or `--site-url`.
/// `error_page`: the page the distribution answers a 403 with (then a denied record answers 404).
async fn public_record(
    t: &Target,
    site_url: Option<&Url>,
    error_page: Option<&str>,
) -> Option<Finding> {
    const CHECK: &str = "public record";
    let base = site_base(t, site_url)?;
    let served = match served_key(t) {
        Served::Outside(why) => return Some(Finding::pass(CHECK, why)),
        Served::NotByTheDistribution(why) => {
            return Some(Finding::skip(CHECK, format!("not checked: {why}")))
        }
        Served::At(path) => path,
    };
    let base = match base {
        Ok(b) => b,
        Err(why) => return Some(Finding::skip(CHECK, format!("not checked: {why}"))),
    };
    let url = under(&base, &served);
    Some(
        match http::get(&url, PUBLIC_BODY_CAP, PUBLIC_TIMEOUT).await {
            Err(e) => Finding::skip(
                CHECK,
                format!("not checked: GET {url}: {e}; it must not answer 200 with the record"),
            ),
            Ok(a) => public_verdict(&url, &a, public_fix(t), error_page),
        },
    )
}

/// Where the site serves the record, if it does.
#[derive(Debug, PartialEq)]
enum Served {
    /// At this path under the site's root.
    At(String),
    /// `state` keeps it out of what the site serves (why, for the report).
    Outside(String),
    /// In the bucket, but outside the distribution's origin path: the distribution check says what is wrong.
    NotByTheDistribution(String),
}

/// The record's path under the site's root: its key (in the site's bucket or directory) less the
/// distribution's origin path (`origin_path`, else the target's prefix, as git-publish assumes when it can't
/// read the distribution). A record that `state` keeps in another bucket, or outside the served directory or
/// origin path, is not served.
fn served_key(t: &Target) -> Served {
    let origin = t.cdn.origin_path.as_deref().unwrap_or(t.prefix());
    let elsewhere = |loc: &crate::config::StateLocation| {
        Served::Outside(format!(
            "the record is kept at {}, outside the site",
            loc.describe()
        ))
    };
    let key = match (&t.store.state, &t.store.backend) {
        (None, _) => state::state_key(t.prefix()),
        (Some(loc), site @ (Backend::S3 { .. } | Backend::Cloud { .. })) => {
            match loc.backend.with_prefix("") == site.with_prefix("") {
                true => loc.key.clone(),
                false => return elsewhere(loc),
            }
        }
        (Some(loc), Backend::Local { root }) => {
            let Backend::Local { root: dir } = &loc.backend else {
                return elsewhere(loc);
            };
            match dir.join(&loc.key).strip_prefix(root) {
                Ok(rel) => (rel.components())
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/"),
                Err(_) => return elsewhere(loc),
            }
        }
    };
    match (crate::plan::served_path("", origin, &key), &t.store.state) {
        (Some(path), _) => Served::At(path),
        (None, Some(loc)) => elsewhere(loc),
        (None, None) => Served::NotByTheDistribution(format!(
            "the origin path \"/{origin}\" does not hold {key}, so the distribution does not serve the record \
             (see the distribution check)"
        )),
    }
}

/// `path` under the site's root `base`.
fn under(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    url.set_path(&format!("{}/{path}", base.path().trim_end_matches('/')));
    url
}

/// What an answer from the record's public URL means: the record itself (any 2xx whose body starts like one)
/// fails; a 4xx, or a 2xx with something else (a single-page app's fallback page, or the site's 404 page
/// served with 200), passes; a redirect is reported as such, not followed; anything else is not a verdict.
/// With `error_page` (the distribution answers 403 with it), a 404 is the denied record answered with that
/// page, and a 403 means CloudFront could not read the page either: both say only that the record is not
/// served, which is what this check asks.
fn public_verdict(url: &Url, a: &http::Answer, fix: String, error_page: Option<&str>) -> Finding {
    const CHECK: &str = "public record";
    let status = a.status;
    match status {
        200..=299 if looks_like_record(&a.head) => Finding::fail(
            CHECK,
            format!(
                "GET {url} answered {status} with the deploy record: anyone can read the deployed commits, who \
                 published them and the last {} deploys",
                state::HISTORY
            ),
            fix,
        ),
        200..=299 => Finding::pass(
            CHECK,
            format!("GET {url} answered {status}, but not with the record (a fallback page?)"),
        ),
        300..=399 => Finding::skip(
            CHECK,
            format!(
                "not checked: GET {url} answered {status}, a redirect to {} (not followed); check where it \
                 leads with `git publish doctor --site-url URL`",
                a.location.as_deref().unwrap_or("nowhere (no Location)")
            ),
        ),
        400..=499 => Finding::pass(
            CHECK,
            format!(
                "GET {url} answered {status}: the record is not public there{}",
                match (status, error_page) {
                    (404, Some(page)) => format!(
                        " (the distribution answers a key it may not read with {page}, as a missing one)"
                    ),
                    (403, Some(page)) => format!(
                        " (and CloudFront could not read {page} to answer with it: see the 404 page check)"
                    ),
                    _ => String::new(),
                }
            ),
        ),
        _ => Finding::skip(
            CHECK,
            format!("not checked: GET {url} answered {status}; it must not answer 200 with the record"),
        ),
    }
}

/// A path no site has: what a missing page answers.
const MISSING: &str = "git-publish-doctor-missing-page.txt";

/// With a custom error response for 403 (`page`), a missing page must answer 404 through CloudFront; a 403
/// then means CloudFront could not read the error page: a permission error (or the page is gone), which the
/// 403 → 404 mapping would otherwise hide.
async fn missing_page(base: &Url, page: &str) -> Finding {
    let url = under(base, MISSING);
    match http::get(&url, PUBLIC_BODY_CAP, PUBLIC_TIMEOUT).await {
        Err(e) => Finding::skip(NOT_FOUND, format!("not checked: GET {url}: {e}")),
        Ok(a) => missing_verdict(&url, a.status, page),
    }
}

const NOT_FOUND: &str = "404 page";

fn missing_verdict(url: &Url, status: u16, page: &str) -> Finding {
    match status {
        404 => Finding::pass(
            NOT_FOUND,
            format!("GET {url} (a page that does not exist) answered 404, with {page}"),
        ),
        403 => Finding::fail(
            NOT_FOUND,
            format!(
                "GET {url} (a page that does not exist) answered 403, although the distribution answers 403 \
                 with {page}: CloudFront could not read {page} (the bucket policy does not let the \
                 distribution read it, or it is not in the bucket)"
            ),
            format!(
                "publish the site's {} and check `git publish setup --check` (\"distribution may read\"); \
                 or remove the custom error responses",
                page.trim_start_matches('/')
            ),
        ),
        200..=299 => Finding::pass(
            NOT_FOUND,
            format!("GET {url} (a page that does not exist) answered {status}: a fallback page"),
        ),
        _ => Finding::skip(
            NOT_FOUND,
            format!("not checked: GET {url} (a page that does not exist) answered {status}"),
        ),
    }
}

/// A record's body: a JSON object that starts with its `format` (serde writes the fields in order).
fn looks_like_record(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    let text = text.trim_start();
    text.starts_with('{') && text[1..].trim_start().starts_with("\"format\"")
}

fn public_fix(t: &Target) -> String {
    match &t.store.backend {
        Backend::S3 { .. } if crate::backends::is_r2(t) => format!(
            "R2 has no bucket policy: keep the record out of the site with `state = \"s3://PRIVATE-BUCKET/KEY\"` \
             under [targets.{}] in site.toml (a bucket with no public access), or block /.git-publish/* with a \
             WAF custom rule on the zone in Cloudflare's dashboard",
            t.name
        ),
        Backend::S3 { .. } => format!(
            "apply the bucket policy of `git publish iam-policy --bucket-policy` (the distribution then reads the \
             site but not .git-publish/*), or keep the record out of the site with \
             `state = \"s3://PRIVATE-BUCKET/KEY\"` under [targets.{}] in site.toml",
            t.name
        ),
        Backend::Cloud { cloud, .. } => format!(
            "keep the record out of the site with `state = \"{}://PRIVATE-BUCKET/KEY\"` under [targets.{}] in \
             site.toml, or stop serving .git-publish/ to visitors",
            cloud.scheme(),
            t.name
        ),
        Backend::Local { .. } => format!(
            "keep the record out of the served directory with `state = \"file:///A/PRIVATE/DIR\"` under \
             [targets.{}] in site.toml, or have the web server refuse .git-publish/",
            t.name
        ),
    }
}

/// `--site-url`: an absolute https URL, or http to a loopback host (a local server); never a user name or
/// password (they would be sent, and printed), a query or a fragment.
fn parse_site_url(raw: &str) -> Result<Url> {
    let bad = |why: &str| {
        Error::Usage(format!(
            "--site-url {}: {why}",
            crate::config::redact_userinfo(raw)
        ))
    };
    let u = Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad("a user name or password is not accepted"));
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(bad(
            "give the URL the site's root is served at, without `?` or `#`",
        ));
    }
    let loopback = match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match u.scheme() {
        "https" if u.host().is_some() => Ok(u),
        "http" if loopback => Ok(u),
        "http" => Err(bad(
            "plain http only to a loopback host (127.0.0.1, ::1, localhost); use https",
        )),
        _ => Err(bad("expected an https:// URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_urls() {
        for ok in [
            "https://preview.example.com",
            "https://example.com/blog/",
            "http://127.0.0.1:4566/bucket",
            "http://localhost:8080",
            "http://[::1]:8080/",
        ] {
            assert!(parse_site_url(ok).is_ok(), "{ok}");
        }
        for (bad, says) in [
            ("http://example.com", "loopback"),
            ("http://10.0.0.1/", "loopback"),
            ("https://user:secret@example.com", "user name"),
            ("http://user@127.0.0.1/", "user name"),
            ("ftp://example.com", "https://"),
            ("example.com", "relative URL"),
            ("https://example.com/?x=1", "without"),
        ] {
            let e = parse_site_url(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(!e.contains("secret"), "{e}");
        }
    }

    fn target(extra: &str) -> Target {
        let text = format!("[targets.p]\n{extra}\n");
        let c =
            crate::config::Config::from_str(&text, "site.toml".as_ref(), "/r".as_ref()).unwrap();
        c.target(None).unwrap().clone()
    }

    /// The record's path under the site's root: its key less the origin path (the prefix when not given), or
    /// not served at all when `state` keeps it elsewhere.
    #[test]
    fn the_record_is_looked_for_where_the_site_serves_it() {
        let dist = "distribution = \"E2QWRUHAPOMQZL\"";
        let at = |p: &str| Served::At(p.into());
        let rec = ".git-publish/state.json";
        for (extra, want) in [
            ("url = \"s3://bkt\"", at(rec)),
            ("url = \"s3://bkt/blog\"", at(rec)),
            (&format!("url = \"s3://bkt/sites/blog\"\n{dist}\norigin_path = \"sites\""), at("blog/.git-publish/state.json")),
            (&format!("url = \"s3://bkt/blog\"\n{dist}\norigin_path = \"other\""), Served::NotByTheDistribution(String::new())),
            ("url = \"s3://bkt\"\nstate = \"s3://private/site.json\"", Served::Outside(String::new())),
            // The same bucket: served unless the origin path leaves it out.
            ("url = \"s3://bkt\"\nstate = \"s3://bkt/deploy/site.json\"", at("deploy/site.json")),
            (&format!("url = \"s3://bkt/www\"\n{dist}\norigin_path = \"www\"\nstate = \"s3://bkt/deploy/site.json\""), Served::Outside(String::new())),
            ("url = \"file:///srv/www\"", at(rec)),
            ("url = \"file:///srv/www\"\nstate = \"file:///srv/www/x/deploy.json\"", at("x/deploy.json")),
            ("url = \"file:///srv/www\"\nstate = \"file:///srv/private\"", Served::Outside(String::new())),
        ] {
            let got = served_key(&target(extra));
            let same = match (&got, &want) {
                (Served::At(a), Served::At(b)) => a == b,
                (Served::Outside(_), Served::Outside(_)) => true,
                (Served::NotByTheDistribution(_), Served::NotByTheDistribution(_)) => true,
                _ => false,
            };
            assert!(same, "{extra}: {got:?}");
        }
        let base = Url::parse("http://127.0.0.1:5000/bucket/").unwrap();
        assert_eq!(
            under(&base, rec).as_str(),
            "http://127.0.0.1:5000/bucket/.git-publish/state.json"
        );
        let base = Url::parse("https://blog.example.com").unwrap();
        assert_eq!(
            under(&base, "a b/c").as_str(),
            "https://blog.example.com/a%20b/c"
        );
    }

    /// 2xx with the record fails; 4xx, and 2xx with something else, pass; redirects and 5xx are not verdicts.
    #[test]
    fn what_an_answer_means() {
        let url = Url::parse("https://blog.example.com/.git-publish/state.json").unwrap();
        let record = b"{\n  \"format\": 1,\n  \"target\": \"p\"".to_vec();
        let page = b"<!DOCTYPE html><title>Home</title>".to_vec();
        for (status, head, location, ok, skipped, says) in [
            (
                200,
                record.clone(),
                None,
                false,
                false,
                "answered 200 with the deploy record",
            ),
            (
                206,
                record,
                None,
                false,
                false,
                "answered 206 with the deploy record",
            ),
            (200, page, None, true, false, "not with the record"),
            (
                403,
                vec![],
                None,
                true,
                false,
                "answered 403: the record is not public",
            ),
            (404, vec![], None, true, false, "answered 404"),
            (
                301,
                vec![],
                Some("https://www.example.com/x"),
                true,
                true,
                "redirect to https://www.example.com/x",
            ),
            (302, vec![], None, true, true, "no Location"),
            (503, vec![], None, true, true, "answered 503"),
        ] {
            let a = http::Answer {
                status,
                location: location.map(str::to_string),
                head,
            };
            let f = public_verdict(&url, &a, "FIX".into(), None);
            assert_eq!((f.ok, f.skipped), (ok, skipped), "{status}: {}", f.detail);
            assert!(f.detail.contains(says), "{status}: {}", f.detail);
            assert!(f.detail.contains(url.as_str()), "{status}: {}", f.detail);
            assert_eq!(f.fix == "FIX", !ok, "{status}");
        }
    }

    /// Issue 25, section 5: behind a 403 → 404-page mapping, a denied record answers 404 (not public: a
    /// pass that says why), and a missing page answering 403 is CloudFront failing to read the page itself, a
    /// permission error the mapping would otherwise hide.
    #[test]
    fn answers_through_a_404_page_mapping() {
        let url = Url::parse("https://blog.example.com/.git-publish/state.json").unwrap();
        let a = |status| http::Answer {
            status,
            location: None,
            head: b"<!DOCTYPE html><title>Not found</title>".to_vec(),
        };
        let f = public_verdict(&url, &a(404), "FIX".into(), Some("/404.html"));
        assert!(
            f.ok && f.detail.contains("may not read with /404.html"),
            "{}",
            f.detail
        );
        let f = public_verdict(&url, &a(403), "FIX".into(), Some("/404.html"));
        assert!(
            f.ok && f.detail.contains("see the 404 page check"),
            "{}",
            f.detail
        );
        let f = public_verdict(&url, &a(403), "FIX".into(), None);
        assert!(f.ok && !f.detail.contains("404 page"), "{}", f.detail);

        let missing = Url::parse("https://blog.example.com/x.txt").unwrap();
        for (status, ok, skipped, says) in [
            (404, true, false, "answered 404, with /404.html"),
            (403, false, false, "could not read /404.html"),
            (200, true, false, "a fallback page"),
            (503, true, true, "not checked"),
        ] {
            let f = missing_verdict(&missing, status, "/404.html");
            assert_eq!((f.ok, f.skipped), (ok, skipped), "{status}: {}", f.detail);
            assert!(f.detail.contains(says), "{status}: {}", f.detail);
            assert_eq!(f.fix.is_empty(), ok, "{status}");
        }
    }

    #[test]
    fn records_are_recognized_by_their_start() {
        assert!(looks_like_record(
            b"{\n  \"format\": 1,\n  \"target\": \"p\""
        ));
        assert!(looks_like_record(b" {\"format\":1}"));
        assert!(!looks_like_record(b"<!DOCTYPE html><html>"));
        assert!(!looks_like_record(b"{\"error\": \"not found\"}"));
        assert!(!looks_like_record(b""));
    }
}
