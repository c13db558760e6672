//! What the distribution serves besides the site's files: the host names it answers (`--domain` and the
//! previews' wildcard `*.<previews.domain>`) with the one certificate that covers them all, and the site's own
//! `404.html` for a missing page (custom error responses).
//!
//! **One certificate for every alias.** A CloudFront distribution has exactly one viewer certificate, and
//! CloudFront refuses an alias the certificate does not cover. An ACM certificate can't be changed once
//! requested (no SAN can be added to it). So when an alias is added (the domain, or the previews' wildcard),
//! setup requests one certificate that covers every alias the distribution will have, the ones it already
//! has included, and swaps it in, together with the new alias, once ACM has issued it: until then the
//! distribution keeps serving its aliases with the certificate it has. A second certificate for the wildcard
//! alone could never be attached beside the first one.
//!
//! **404 pages.** Behind an origin access control, S3 answers a missing key with 403 AccessDenied (XML): it
//! would answer 404 only if the distribution could list the bucket. With the site's `404.html` present, the
//! distribution answers 403 and 404 with that page and the status 404 ([`ours`]). Entries the user set for
//! 403 or 404 are kept (shown, and replaced only with `--adopt`); entries for other codes are never touched.
//! The error-caching TTL is [`ERROR_CACHING_TTL`]: CloudFront's own default, which `git publish` relies on
//! when it does not invalidate new files (a page published at a URL that answered 404 is served within
//! 10 seconds); a longer TTL would keep a new page hidden behind a cached 404.
//!
//! | have (403, 404)                     | site has 404.html | setup makes                         |
//! |-------------------------------------|-------------------|-------------------------------------|
//! | none                                | yes               | 403 and 404 → /404.html (404, 10 s) |
//! | none                                | no                | nothing (S3's 403 stays)            |
//! | 404 → /index.html (200) by hand     | yes               | kept; 403 added; `--adopt` replaces |
//! | 403, 404 → /404.html (404, 10 s)    | no longer         | kept (`--check` says ✗)             |
//!
//! The plan's steps for them live here too: the certificate ([`certificate_steps`]) and, with `--route53`,
//! the validation CNAMEs and each host's A/AAAA aliases ([`dns_validation_step`], [`dns_alias_step`]).
//!
//! Pure.

use super::seen::{
    describe_all, CertSeen, DistSettings, ErrorResponse, HostDns, PageSeen, RecordSeen, Seen,
};
use super::types::{Held, SetupPlan, Step, Wants};

/// The page a missing URL answers with, relative to the site's root.
pub const NOT_FOUND_PAGE: &str = "404.html";
/// ErrorCachingMinTTL of the responses setup makes, in seconds (see the module's comment).
pub const ERROR_CACHING_TTL: i64 = 10;
/// The origin's status codes setup answers with the 404 page.
pub const ERROR_CODES: [i32; 2] = [403, 404];

/// What setup makes for origin status `code`: the page at `path`, with 404.
pub fn ours(code: i32, path: &str) -> ErrorResponse {
    ErrorResponse {
        code,
        page: path.to_string(),
        response_code: "404".into(),
        min_ttl: Some(ERROR_CACHING_TTL),
    }
}

/// The URL path of the site's 404 page on a distribution whose origin path is `origin_path` ("" or
/// "/sites"), for a site under `prefix`: the page's key less the origin path. None when the origin path does
/// not hold the site's key.
pub fn page_path(origin_path: &str, prefix: &str) -> Option<String> {
    crate::plan::served_path(prefix, origin_path.trim_matches('/'), NOT_FOUND_PAGE)
        .map(|p| format!("/{p}"))
}

/// The error responses the distribution gets: `base` with this site's for 403 and 404 when the site has its
/// page (`page`: its path), keeping an entry the user set for either code unless `adopt`. Nothing changes
/// without the page.
pub fn error_responses(
    base: &[ErrorResponse],
    page: Option<&str>,
    adopt: bool,
) -> Vec<ErrorResponse> {
    let mut out = base.to_vec();
    let Some(path) = page else { return out };
    for code in ERROR_CODES {
        let want = ours(code, path);
        match out.iter().position(|e| e.code == code) {
            Some(i) if adopt => out[i] = want,
            Some(_) => {}
            None => out.push(want),
        }
    }
    out
}

/// The entries for 403 and 404 that the user set and setup keeps (it would make others).
pub fn kept_by_hand(base: &[ErrorResponse], path: &str) -> Vec<ErrorResponse> {
    (base.iter())
        .filter(|e| ERROR_CODES.contains(&e.code) && **e != ours(e.code, path))
        .cloned()
        .collect()
}

/// Setup's notes on the 404 page of a distribution it manages: error responses set by hand (kept), or a
/// page it can't see.
pub fn hold_error_responses(
    have: &DistSettings,
    page: &PageSeen,
    adopt: bool,
    id: &str,
    p: &mut SetupPlan,
) {
    let path = format!("/{NOT_FOUND_PAGE}");
    match page {
        PageSeen::Present if !adopt => {
            let kept = kept_by_hand(&have.error_responses, &path);
            if !kept.is_empty() {
                p.held.push(Held {
                    what: format!("custom error responses of distribution {id}"),
                    why: format!(
                        "set by hand ({}), kept: setup would answer 403 and 404 with {path} (404)",
                        describe_all(&kept)
                    ),
                    fix: "run `git publish setup --adopt` to replace them with the site's 404 page".into(),
                });
            }
        }
        PageSeen::Present => {}
        PageSeen::Absent => p.exists.push(format!(
            "no {NOT_FOUND_PAGE} in the site: a missing page answers S3's 403 (publish one and run setup \
             again to serve it with 404)"
        )),
        PageSeen::Unknown(why) => p.held.push(Held {
            what: "404 page".into(),
            why: format!("can't tell whether the site has {NOT_FOUND_PAGE}: {why}"),
            fix: "give the credentials s3:ListBucket on the bucket (a missing key then reads as 404), and run \
                  setup again"
                .into(),
        }),
    }
}

impl Wants {
    /// The previews' wildcard alias, `*.<previews.domain>`.
    pub fn preview_alias(&self) -> Option<String> {
        self.previews.as_ref().map(|d| format!("*.{d}"))
    }

    /// The host names setup adds to the distribution: the domain, then the previews' wildcard.
    pub fn hosts(&self) -> Vec<String> {
        self.domain
            .iter()
            .cloned()
            .chain(self.preview_alias())
            .collect()
    }

    /// The key of the site's 404 page in the bucket.
    pub fn not_found_key(&self) -> String {
        match self.site.prefix.as_str() {
            "" => NOT_FOUND_PAGE.to_string(),
            p => format!("{p}/{NOT_FOUND_PAGE}"),
        }
    }
}

/// The aliases a distribution that has `current` will have: those, then each of [`Wants::hosts`] it lacks.
/// The certificate must cover every one.
pub fn wanted_aliases(w: &Wants, current: &[String]) -> Vec<String> {
    let mut out = current.to_vec();
    for host in w.hosts() {
        if !out.iter().any(|a| a.eq_ignore_ascii_case(&host)) {
            out.push(host);
        }
    }
    out
}

/// Whether a certificate for `name` serves `host`: the same name, or a wildcard `*.x` for one more label
/// (`a.x`, never `a.b.x`). A wildcard alias `*.x` is served by the wildcard name `*.x` only.
fn serves(name: &str, host: &str) -> bool {
    let (name, host) = (name.to_ascii_lowercase(), host.to_ascii_lowercase());
    let name = name.trim_end_matches('.');
    let host = host.trim_end_matches('.');
    name == host
        || name.strip_prefix("*.").is_some_and(|rest| {
            host.split_once('.')
                .is_some_and(|(label, tail)| tail == rest && !label.is_empty() && label != "*")
        })
}

/// Whether a certificate with `names` (its domain and alternative names) serves every one of `hosts`.
pub fn covers(names: &[String], hosts: &[String]) -> bool {
    (hosts.iter()).all(|h| names.iter().any(|n| serves(n, h)))
}

// ---- aliases, their certificate, their DNS records ------------------------------------------------------

/// `--route53`: the validation records, while the certificate waits for them.
pub(super) fn dns_validation_step(seen: &Seen, adopt: bool, p: &mut SetupPlan) {
    let Some(dns) = &seen.dns else { return };
    let requested = (p.steps.iter()).any(|s| matches!(s, Step::RequestCertificate { .. }));
    let pending = requested || seen.certificate.as_ref().is_some_and(|c| !c.issued);
    if !pending {
        return;
    }
    match &dns.validation {
        RecordSeen::Same => {}
        RecordSeen::Absent => p.steps.push(Step::DnsValidation {
            zone: dns.zones(),
            replace: false,
        }),
        RecordSeen::Other(_) if adopt => p.steps.push(Step::DnsValidation {
            zone: dns.zones(),
            replace: true,
        }),
        RecordSeen::Other(have) => p.held.push(Held {
            what: format!("Route 53 zone {}: validation records", dns.zones()),
            why: format!("a record of that name holds another value ({have})"),
            fix: "run `git publish setup --adopt` to replace it, or fix it by hand".into(),
        }),
    }
}

/// `--route53`: the A/AAAA aliases of each host (the domain, the previews' wildcard), once the certificate
/// is (or may be) issued; with a certificate still waiting, the next run adds them. Records of that name that
/// point elsewhere (a live site) are replaced only with `adopt`.
pub(super) fn dns_alias_step(seen: &Seen, adopt: bool, p: &mut SetupPlan) {
    let Some(dns) = &seen.dns else { return };
    let requested = (p.steps.iter()).any(|s| matches!(s, Step::RequestCertificate { .. }));
    let issued = requested || seen.certificate.as_ref().is_some_and(|c| c.issued);
    for h in &dns.hosts {
        host_alias_step(h, issued, adopt, p);
    }
}

fn host_alias_step(h: &HostDns, issued: bool, adopt: bool, p: &mut SetupPlan) {
    let domain = &h.host;
    let step = |replace| Step::DnsAlias {
        zone: h.zone.clone(),
        domain: domain.clone(),
        replace,
    };
    match &h.alias {
        RecordSeen::Same => p.exists.push(format!("Route 53 aliases for {domain}")),
        _ if !issued => {}
        RecordSeen::Absent => p.steps.push(step(false)),
        RecordSeen::Other(_) if adopt => p.steps.push(step(true)),
        RecordSeen::Other(have) => p.held.push(Held {
            what: format!("Route 53 records of {domain}"),
            why: format!("{domain} already points elsewhere ({have}); setup would alias it to the distribution"),
            fix: "run `git publish setup --adopt` to replace them (the site they serve goes away), or point \
                  them yourself"
                .into(),
        }),
    }
}

/// The certificate for every alias the distribution will have: found (issued, or held while it waits for
/// validation), or requested when none covers them all. Nothing when no alias is added and none is found.
pub(super) fn certificate_steps(w: &Wants, seen: &Seen, p: &mut SetupPlan) {
    if w.hosts().is_empty() {
        return;
    }
    let current = seen.current_aliases();
    let want = wanted_aliases(w, &current);
    let adding: Vec<&str> = (want.iter())
        .filter(|h| !current.contains(h))
        .map(String::as_str)
        .collect();
    // Only a certificate that covers them all can serve them (`Seen::certificate` promises it).
    match seen
        .certificate
        .as_ref()
        .filter(|c| covers(&c.names, &want))
    {
        None if adding.is_empty() => {}
        None => p.steps.push(Step::RequestCertificate {
            domain: want[0].clone(),
            alt_names: want[1..].to_vec(),
            replaces: (seen.distribution.as_ref())
                .map(|d| d.settings.certificate.clone())
                .filter(|c| !c.is_empty()),
        }),
        Some(c) if c.issued => p
            .exists
            .push(format!("certificate for {} (issued)", c.names.join(", "))),
        Some(c) => p.held.push(Held {
            what: format!("alias {}", adding.join(", ")),
            why: format!("the certificate {} is waiting for DNS validation", c.arn),
            fix: format!(
                "create these DNS records (or pass --route53), then run setup again: {}",
                validation_lines(c).join("; ")
            ),
        }),
    }
}

/// `NAME CNAME VALUE` for each validation record.
pub fn validation_lines(c: &CertSeen) -> Vec<String> {
    (c.validation.iter())
        .map(|(name, value)| format!("{name} CNAME {value}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_covers_its_names_and_one_label_under_a_wildcard() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cert = names(&["blog.example.com", "*.preview.blog.example.com"]);
        for (hosts, want) in [
            (&["blog.example.com"][..], true),
            (&["BLOG.example.com."], true),
            (&["*.preview.blog.example.com"], true),
            (&["draft.preview.blog.example.com"], true),
            (&["a.b.preview.blog.example.com"], false),
            (&["preview.blog.example.com"], false),
            (&["www.blog.example.com"], false),
            (&["blog.example.com", "*.preview.blog.example.com"], true),
            (&["blog.example.com", "www.blog.example.com"], false),
        ] {
            assert_eq!(covers(&cert, &names(hosts)), want, "{hosts:?}");
        }
        // A wildcard alias needs the wildcard name itself.
        assert!(!covers(
            &names(&["*.blog.example.com"]),
            &names(&["*.preview.blog.example.com"])
        ));
    }

    #[test]
    fn error_responses_table() {
        let path = "/404.html";
        let spa = ErrorResponse {
            code: 404,
            page: "/index.html".into(),
            response_code: "200".into(),
            min_ttl: Some(0),
        };
        let five = ErrorResponse {
            code: 500,
            page: String::new(),
            response_code: String::new(),
            min_ttl: Some(0),
        };
        // (have, page, adopt, want)
        for (have, page, adopt, want) in [
            (
                vec![],
                Some(path),
                false,
                vec![ours(403, path), ours(404, path)],
            ),
            (vec![], None, false, vec![]),
            (
                vec![five.clone()],
                Some(path),
                false,
                vec![five.clone(), ours(403, path), ours(404, path)],
            ),
            (
                vec![spa.clone()],
                Some(path),
                false,
                vec![spa.clone(), ours(403, path)],
            ),
            (
                vec![spa.clone()],
                Some(path),
                true,
                vec![ours(404, path), ours(403, path)],
            ),
            (
                vec![ours(403, path), ours(404, path)],
                None,
                false,
                vec![ours(403, path), ours(404, path)],
            ),
        ] {
            assert_eq!(
                error_responses(&have, page, adopt),
                want,
                "{have:?} {page:?} {adopt}"
            );
        }
        assert_eq!(
            kept_by_hand(&[spa.clone(), five.clone(), ours(403, path)], path),
            std::slice::from_ref(&spa)
        );
        assert_eq!(
            ours(403, path).describe(),
            "403 → /404.html (404, cached 10 s)"
        );
        assert_eq!(five.describe(), "500 (cached 0 s)");
    }

    /// The page's path under the distribution's origin path: the site's key less the origin path.
    #[test]
    fn the_page_is_served_under_the_origin_path() {
        assert_eq!(page_path("", "").as_deref(), Some("/404.html"));
        assert_eq!(page_path("/blog", "blog").as_deref(), Some("/404.html"));
        assert_eq!(
            page_path("/sites", "sites/blog").as_deref(),
            Some("/blog/404.html")
        );
        assert_eq!(page_path("", "blog").as_deref(), Some("/blog/404.html"));
        assert_eq!(page_path("/other", "blog"), None);
    }
}
