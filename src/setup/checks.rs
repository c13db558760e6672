//! `--check` (and `doctor`): each recommended setting of what exists, ✓ or ✗ with its fix, for a distribution
//! setup made or any other. Who may read what is judged by what the bucket policy's statements actually
//! grant (`policy`), for this site's prefix and deploy record.
//!
//! Pure: reads a [`Seen`], no IO.

use serde::Serialize;
use serde_json::Value;

use super::policy::{denies_read, grants_read, is_public, statements};
use super::seen::describe_all;
use super::seen::{DistSeen, DistSettings, PageSeen, Seen};
use super::serving::{covers, kept_by_hand, page_path, ERROR_CODES};
use super::types::{Wants, ROOT_OBJECT};

/// One recommended setting, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub ok: bool,
    pub detail: String,
    pub fix: String,
}

fn check(check: &'static str, ok: bool, detail: impl Into<String>, fix: &str) -> Check {
    Check {
        check,
        ok,
        detail: detail.into(),
        fix: if ok { String::new() } else { fix.to_string() },
    }
}

/// The recommended settings, each ✓ or ✗ with its fix, for what exists (a distribution setup made or any
/// other).
pub fn checks(w: &Wants, seen: &Seen) -> Vec<Check> {
    const ADOPT: &str =
        "`git publish setup --adopt` (shows the diff first), or change it in the console";
    let mut out = Vec::new();
    let Some(b) = &seen.bucket else {
        out.push(check(
            "bucket",
            false,
            format!("{} does not exist", w.site.bucket),
            "`git publish setup`",
        ));
        return out;
    };
    out.push(check(
        "block public access",
        b.blocks_public,
        if b.blocks_public {
            "all four settings on"
        } else {
            "not all four settings are on"
        },
        ADOPT,
    ));
    let statements = statements(b.policy.as_ref());
    let public = statements.iter().find(|s| is_public(s));
    out.push(check(
        "bucket not public",
        public.is_none(),
        match public {
            Some(s) => format!(
                "the bucket policy lets anyone in: statement {}",
                s.get("Sid").and_then(Value::as_str).unwrap_or("(no Sid)")
            ),
            None => "no statement lets anyone in".to_string(),
        },
        "remove that statement: with origin access control only the distribution reads the bucket",
    ));
    out.push(check(
        "ACLs off",
        b.owner_enforced,
        if b.owner_enforced {
            "object ownership BucketOwnerEnforced"
        } else {
            "ACLs are enabled"
        },
        ADOPT,
    ));
    let Some(d) = &seen.distribution else {
        out.push(check(
            "distribution",
            false,
            "none serves this bucket",
            "`git publish setup`",
        ));
        return out;
    };
    out.extend(access_checks(w, d, &statements));
    out.extend(serving_checks(w, &d.settings));
    out.extend(previews_check(w, seen, &d.settings));
    out.push(not_found_check(w, seen, &d.settings));
    out
}

/// With `[targets.NAME.previews] domain = D`: `*.D` is an alias of the distribution, and its certificate
/// covers it.
fn previews_check(w: &Wants, seen: &Seen, s: &DistSettings) -> Option<Check> {
    let alias = w.preview_alias()?;
    let aliased = s.aliases.iter().any(|a| a.eq_ignore_ascii_case(&alias));
    let cert = (seen.serving_certificate.as_ref()).filter(|c| c.arn == s.certificate);
    let covered = cert.is_some_and(|c| covers(&c.names, std::slice::from_ref(&alias)));
    let detail = match (aliased, cert) {
        (false, _) => format!("{alias} is not an alias of the distribution"),
        (true, None) => format!("{alias} is an alias, but the distribution has no ACM certificate"),
        (true, Some(c)) if !covered => format!(
            "{alias} is an alias, but the certificate {} covers {} only",
            c.arn,
            c.names.join(", ")
        ),
        (true, Some(c)) => format!("{alias} with certificate {}", c.arn),
    };
    Some(check(
        "previews",
        aliased && covered,
        detail,
        "`git publish setup --previews` (with --route53, the DNS records too; the alias waits for the \
         certificate)",
    ))
}

/// A missing page answers 404 with the site's own `404.html` (custom error responses for 403 and 404), when
/// the site has one; error responses set by hand count as chosen.
fn not_found_check(w: &Wants, seen: &Seen, s: &DistSettings) -> Check {
    const CHECK: &str = "404 page";
    let Some(path) = page_path(&s.origin_path, &w.site.prefix) else {
        return check(
            CHECK,
            false,
            format!(
                "the origin path \"{}\" does not serve the site's 404.html",
                s.origin_path
            ),
            "`git publish setup --adopt` sets the origin path to the site's prefix",
        );
    };
    let mapped: Vec<_> = (s.error_responses.iter())
        .filter(|e| ERROR_CODES.contains(&e.code))
        .cloned()
        .collect();
    let to_page = !mapped.is_empty() && mapped.iter().all(|e| e.page == path);
    let unmapped: Vec<String> = (ERROR_CODES.iter())
        .filter(|code| !mapped.iter().any(|e| e.code == **code))
        .map(|code| code.to_string())
        .collect();
    let mut c = match &seen.not_found_page {
        PageSeen::Present if !unmapped.is_empty() => check(
            CHECK,
            false,
            format!(
                "the site has {path}, but the distribution has no error response for {}: a missing page \
                 answers S3's 403 AccessDenied (published after setup ran?)",
                unmapped.join(" and ")
            ),
            "`git publish setup` adds the custom error responses for 403 and 404",
        ),
        PageSeen::Present if !kept_by_hand(&mapped, &path).is_empty() => check(
            CHECK,
            true,
            format!(
                "set by hand: {} (setup keeps them; `git publish setup --adopt` would answer 403 and 404 with \
                 {path})",
                describe_all(&mapped)
            ),
            "",
        ),
        PageSeen::Present => check(
            CHECK,
            true,
            format!("a missing page answers 404 with {path}: {}", describe_all(&mapped)),
            "",
        ),
        PageSeen::Absent if to_page => check(
            CHECK,
            false,
            format!(
                "the distribution answers 403 and 404 with {path}, but the site has no 404.html: CloudFront \
                 then answers 403"
            ),
            "publish a 404.html, or remove the custom error responses",
        ),
        PageSeen::Absent => check(
            CHECK,
            true,
            format!(
                "the site has no 404.html: a missing page answers S3's 403 (publish one, then run `git publish \
                 setup` to serve it with 404){}",
                match mapped.as_slice() {
                    [] => String::new(),
                    m => format!("; error responses set by hand: {}", describe_all(m)),
                }
            ),
            "",
        ),
        PageSeen::Unknown(why) => check(
            CHECK,
            false,
            format!("can't tell whether the site has 404.html: {why}"),
            "give the credentials s3:ListBucket on the bucket (a missing key then reads as 404)",
        ),
    };
    if w.previews.is_some() && to_page {
        // CloudFront fetches a custom error page without running the viewer-request function (AWS: "The
        // function doesn't execute ... When fetching a custom error page"), so no preview prefix is added.
        c.detail.push_str(&format!(
            "; on a preview host too: CloudFront fetches the error page without the viewer-request function, \
             so a preview shows production's {path}"
        ));
    }
    c
}

/// Who may read the bucket: this distribution, through an origin access control, the site's objects under
/// its prefix (a sample key stands for them), and not the record.
fn access_checks(w: &Wants, d: &DistSeen, statements: &[Value]) -> Vec<Check> {
    let mut out = Vec::new();
    let s = &d.settings;
    out.push(origin_check(s));
    let object = |key: &str| match w.site.prefix.as_str() {
        "" => format!("arn:aws:s3:::{}/{key}", w.site.bucket),
        p => format!("arn:aws:s3:::{}/{p}/{key}", w.site.bucket),
    };
    let page = object(ROOT_OBJECT);
    let reads = grants_read(statements, &d.arn, &page);
    out.push(check(
        "distribution may read",
        reads,
        if reads {
            format!("the bucket policy lets {} read {page}", d.id)
        } else {
            format!(
                "no bucket policy statement lets {} read {page} (the principal, action, resource and every \
                 condition are read)",
                d.id
            )
        },
        "`git publish setup --adopt`, or add `git publish iam-policy --bucket-policy`'s statements",
    ));
    let record = (w.record_key.as_ref()).map(|k| format!("arn:aws:s3:::{}/{k}", w.site.bucket));
    let denied = record.as_ref().is_none_or(|r| denies_read(statements, r));
    out.push(check(
        "deploy record private",
        denied,
        match &record {
            None => "kept outside the bucket (state = …)".to_string(),
            Some(r) if denied => format!("the bucket policy denies every distribution {r}"),
            Some(r) => format!("the distribution may serve {r}"),
        },
        "`git publish setup` merges a Deny for it, or set `state = \"s3://…\"` in another bucket",
    ));
    out
}

fn origin_check(s: &DistSettings) -> Check {
    let oac = !s.oac.is_empty() && !s.custom_origin;
    check(
        "origin access control",
        oac && !s.legacy_oai,
        match (s.custom_origin, s.legacy_oai, s.oac.is_empty()) {
            (true, _, _) => format!(
                "{} is a custom origin (the S3 website endpoint needs a public bucket)",
                s.origin_domain
            ),
            (_, true, _) => "the origin uses a legacy origin access identity (OAI)".to_string(),
            (_, _, true) => "the S3 origin has no origin access control".to_string(),
            _ => format!("origin access control {}", s.oac),
        },
        "use the bucket's REST endpoint with an origin access control: `git publish setup --adopt`",
    )
}

/// How the distribution serves: HTTPS, compression, the root object, directory URLs, the alias.
fn serving_checks(w: &Wants, s: &DistSettings) -> Vec<Check> {
    let mut out = Vec::new();
    out.push(check(
        "HTTPS",
        s.viewer_protocol != "allow-all",
        format!("viewer protocol {}", s.viewer_protocol),
        "set the viewer protocol policy to redirect-to-https",
    ));
    out.push(check(
        "compression",
        s.compress,
        if s.compress { "on" } else { "off" },
        "turn on \"Compress objects automatically\" in the default cache behaviour",
    ));
    out.push(check(
        "default root object",
        s.default_root == ROOT_OBJECT,
        format!("\"{}\"", s.default_root),
        "set the default root object to index.html",
    ));
    let function = !s.viewer_function.is_empty() || s.custom_origin;
    out.push(check(
        "directory indexes",
        function,
        if s.custom_origin {
            "the website endpoint serves /dir/ itself".to_string()
        } else if function {
            format!("viewer-request function {}", s.viewer_function)
        } else {
            "no viewer-request function: /dir/ answers 403 behind origin access control".to_string()
        },
        "`git publish setup` associates the function, or set cdn_function = \"manage\"",
    ));
    if let Some(domain) = &w.domain {
        let aliased = s.aliases.contains(domain) && !s.certificate.is_empty();
        out.push(check(
            "alias",
            aliased,
            if aliased {
                format!("{domain} with certificate {}", s.certificate)
            } else {
                format!("{domain} is not an alias of the distribution")
            },
            "`git publish setup --domain DOMAIN` (after the certificate is issued)",
        ));
    }
    out
}
