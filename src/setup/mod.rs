//! `git publish setup`, the decisions: from what exists ([`Seen`], read by `aws::setup`) and what the target
//! wants ([`Wants`]), the list of [`Step`]s that makes the recommended S3 + CloudFront setup, what is held back
//! and why ([`Held`]), the distribution's settings ([`DistSettings`], [`desired`], [`diff`]), the merged bucket
//! policy ([`policy`]) and the `--check` list ([`checks`]).
//!
//! One account holds many sites. Setup changes only what is this site's (`crate::identity`: its names, tags,
//! comments and Sids carry the site's id) or what `--adopt` lets it take over; everything else is reported in
//! [`SetupPlan::held`] and left as it is. A bucket made by setup for another site (another prefix) gets this
//! site's own policy statements and tag beside the other site's, and nothing else. A distribution setup leaves
//! alone is never written into site.toml.
//!
//! Pure: no IO, no async, no AWS types. `aws::setup` reads [`Seen`] and carries the steps out; `cmd::setup`
//! prints them, asks, and writes site.toml. To change a recommended setting, edit [`desired`] and [`checks`]
//! and their table in `tests.rs`.

use serde_json::Value;

pub use crate::identity::{Site, TAG_KEY};

mod checks;
pub mod policy;
mod seen;
mod serving;
#[cfg(test)]
mod tests;
mod types;

pub use checks::{checks, Check};
pub use seen::*;
use serving::{certificate_steps, dns_alias_step, dns_validation_step};
pub use serving::{
    covers, error_responses, page_path, validation_lines, wanted_aliases, ERROR_CACHING_TTL,
    NOT_FOUND_PAGE,
};
pub use types::*;

/// The distribution setup makes for `w`: origin access control `oac`, viewer-request function `function`
/// (an ARN), the aliases (`--domain`, `--previews`) with the certificate `cert` once it is issued and covers
/// them all, and the site's 404 page when `page` says the site has one (`serving`). Settings setup does not
/// manage keep their value from `current`, and so do four it would otherwise set, unless `adopt`: an origin
/// access control already on the origin (any one serves), a viewer-request function added by hand (not a
/// git-publish one), error responses for 403 or 404 set by hand, and `enabled` (a distribution disabled for
/// teardown stays disabled).
pub fn desired(
    w: &Wants,
    current: Option<&DistSettings>,
    oac: &str,
    function: &str,
    cert: Option<&CertSeen>,
    page: &PageSeen,
    adopt: bool,
) -> DistSettings {
    let base = current.cloned().unwrap_or_default();
    let want = wanted_aliases(w, &base.aliases);
    let (aliases, certificate) = match cert {
        Some(c) if c.issued && covers(&c.names, &want) => (want, c.arn.clone()),
        _ => (base.aliases.clone(), base.certificate.clone()),
    };
    // The origin path setup sets serves the site's key at /404.html.
    let page_path = (*page == PageSeen::Present)
        .then(|| page_path(&w.origin_path(), &w.site.prefix))
        .flatten();
    let keeps_oac = current.is_some_and(|c| !c.oac.is_empty() && !c.custom_origin);
    DistSettings {
        origin_domain: w.origin_domain(),
        origin_path: w.origin_path(),
        oac: if keeps_oac {
            base.oac.clone()
        } else {
            oac.to_string()
        },
        legacy_oai: false,
        custom_origin: false,
        default_root: ROOT_OBJECT.into(),
        viewer_protocol: match base.viewer_protocol.as_str() {
            "https-only" => "https-only".into(),
            _ => HTTPS_REDIRECT.into(),
        },
        compress: true,
        cache_policy: if current.is_some() && !base.cache_policy.is_empty() {
            base.cache_policy.clone()
        } else {
            CACHING_OPTIMIZED.into()
        },
        viewer_function: match current {
            Some(c) if !adopt && hand_made_function(&c.viewer_function) => {
                c.viewer_function.clone()
            }
            _ => function.to_string(),
        },
        http_version: HTTP_VERSION.into(),
        ipv6: true,
        price_class: match current {
            Some(c) if c.price_class != w.price_class && !c.price_class.is_empty() => {
                c.price_class.clone()
            }
            _ => w.price_class.clone(),
        },
        aliases,
        certificate,
        enabled: current.is_none_or(|c| c.enabled || adopt),
        error_responses: error_responses(&base.error_responses, page_path.as_deref(), adopt),
    }
}

/// A viewer-request function that git-publish did not make (git-publish's are all `git-publish-…`).
fn hand_made_function(arn: &str) -> bool {
    !arn.is_empty() && !arn.contains(":function/git-publish-")
}

/// The settings that differ between `have` and `want`, in a fixed order.
pub fn diff(have: &DistSettings, want: &DistSettings) -> Vec<SettingChange> {
    fn flag(b: bool) -> String {
        if b { "on" } else { "off" }.into()
    }
    fn or_none(s: &str) -> String {
        if s.is_empty() {
            "(none)".into()
        } else {
            s.to_string()
        }
    }
    let pairs: [(&'static str, String, String); 16] = [
        (
            "origin",
            or_none(&have.origin_domain),
            or_none(&want.origin_domain),
        ),
        (
            "origin path",
            or_none(&have.origin_path),
            or_none(&want.origin_path),
        ),
        (
            "origin access control",
            or_none(&have.oac),
            or_none(&want.oac),
        ),
        (
            "legacy origin access identity",
            flag(have.legacy_oai),
            flag(want.legacy_oai),
        ),
        (
            "custom (website) origin",
            flag(have.custom_origin),
            flag(want.custom_origin),
        ),
        (
            "default root object",
            or_none(&have.default_root),
            or_none(&want.default_root),
        ),
        (
            "viewer protocol",
            or_none(&have.viewer_protocol),
            or_none(&want.viewer_protocol),
        ),
        ("compression", flag(have.compress), flag(want.compress)),
        (
            "cache policy",
            or_none(&have.cache_policy),
            or_none(&want.cache_policy),
        ),
        (
            "viewer-request function",
            or_none(&have.viewer_function),
            or_none(&want.viewer_function),
        ),
        (
            "HTTP versions",
            or_none(&have.http_version),
            or_none(&want.http_version),
        ),
        ("IPv6", flag(have.ipv6), flag(want.ipv6)),
        (
            "price class",
            or_none(&have.price_class),
            or_none(&want.price_class),
        ),
        (
            "aliases",
            or_none(&have.aliases.join(" ")),
            or_none(&want.aliases.join(" ")),
        ),
        (
            "certificate",
            or_none(&have.certificate),
            or_none(&want.certificate),
        ),
        (
            "custom error responses",
            or_none(&describe_all(&have.error_responses)),
            or_none(&describe_all(&want.error_responses)),
        ),
    ];
    let mut out: Vec<SettingChange> = pairs
        .into_iter()
        .filter(|(_, a, b)| a != b)
        .map(|(setting, from, to)| SettingChange { setting, from, to })
        .collect();
    if have.enabled != want.enabled {
        out.push(SettingChange {
            setting: "enabled",
            from: flag(have.enabled),
            to: flag(want.enabled),
        });
    }
    out
}

/// The placeholder ids a dry run shows for what does not exist yet.
pub const NEW_OAC: &str = "(new origin access control)";
pub const NEW_FUNCTION: &str = "(new function)";
pub const NEW_CERTIFICATE: &str = "(new certificate, once issued)";

/// The steps for `w` given what exists. `adopt`: a bucket, distribution, function or DNS record that setup
/// did not create for this site may be changed (without it, such a one is reported in [`SetupPlan::held`]
/// with its differences). Another site's distribution is never changed, not even with `adopt`.
pub fn plan(w: &Wants, seen: &Seen, adopt: bool, policy_ours: &Value) -> SetupPlan {
    let mut p = SetupPlan::default();
    let bucket = match &seen.bucket {
        None => {
            p.steps.push(Step::CreateBucket {
                bucket: w.site.bucket.clone(),
                region: w.region.clone(),
            });
            BucketRights::All
        }
        Some(b) => bucket_steps(w, b, adopt, &mut p),
    };
    let oac = oac_step(w, seen, adopt, &mut p);
    let function_arn = function_step(w, seen, adopt, &mut p);
    certificate_steps(w, seen, &mut p);
    dns_validation_step(seen, adopt, &mut p);
    // A certificate requested now serves the aliases once issued: the plan shows the aliases it will get.
    let requested = CertSeen {
        arn: NEW_CERTIFICATE.into(),
        names: wanted_aliases(w, &seen.current_aliases()),
        issued: true,
        validation: Vec::new(),
    };
    let asked = (p.steps.iter()).any(|s| matches!(s, Step::RequestCertificate { .. }));
    let cert = if asked {
        Some(&requested)
    } else {
        seen.certificate.as_ref()
    };
    for f in &seen.foreign {
        p.exists
            .push(format!("distribution {f}: another site's, left alone"));
    }
    let dist = DistInputs {
        oac: &oac,
        function: &function_arn,
        cert,
        page: &seen.not_found_page,
    };
    if let Some(settings) = distribution_steps(w, seen, adopt, &dist, &mut p) {
        if bucket != BucketRights::None {
            policy_step(w, seen, policy_ours, &mut p);
        } else {
            hold_policy(w, seen, policy_ours, &mut p);
        }
        dns_alias_step(seen, adopt, &mut p);
        config_step(w, seen, &settings, &function_arn, &mut p);
    } else {
        // The origin access control and the function would only serve the distribution left alone.
        (p.steps).retain(|s| !matches!(s, Step::CreateOac { .. } | Step::PublishFunction { .. }));
    }
    p
}

/// What the distribution's settings are made from.
struct DistInputs<'a> {
    oac: &'a str,
    function: &'a str,
    cert: Option<&'a CertSeen>,
    page: &'a PageSeen,
}

/// The origin access control the distribution will use: the one already on it (kept: any one serves),
/// else this site's (found by name, or created).
fn oac_step(w: &Wants, seen: &Seen, adopt: bool, p: &mut SetupPlan) -> String {
    let on_it = (seen.distribution.as_ref())
        .filter(|d| d.owner.ours() || (adopt && d.owner == DistOwner::None))
        .map(|d| &d.settings)
        .filter(|s| !s.oac.is_empty() && !s.custom_origin);
    if let Some(s) = on_it {
        return s.oac.clone();
    }
    match &seen.oac {
        Some(id) => {
            p.exists
                .push(format!("origin access control {} ({id})", w.oac_name));
            id.clone()
        }
        None => {
            p.steps.push(Step::CreateOac {
                name: w.oac_name.clone(),
            });
            NEW_OAC.into()
        }
    }
}

/// The function's step, and the ARN the distribution will run.
fn function_step(w: &Wants, seen: &Seen, adopt: bool, p: &mut SetupPlan) -> String {
    let publish = |exists: bool| Step::PublishFunction {
        name: w.function_name.clone(),
        exists,
        adopt,
    };
    match &seen.function {
        FunctionSeen::Live { arn } => {
            p.exists.push(format!(
                "CloudFront Function {} (live, same code)",
                w.function_name
            ));
            arn.clone()
        }
        FunctionSeen::Differs { arn } => {
            p.steps.push(publish(true));
            arn.clone()
        }
        FunctionSeen::Missing => {
            p.steps.push(publish(false));
            NEW_FUNCTION.into()
        }
        FunctionSeen::Foreign { .. } if adopt => {
            p.steps.push(publish(true));
            NEW_FUNCTION.into()
        }
        FunctionSeen::Foreign { comment } => {
            p.held.push(Held {
                what: format!("CloudFront Function {}", w.function_name),
                why: format!(
                    "it exists and is not this site's (its comment {comment:?} does not name {})",
                    w.site.mark()
                ),
                fix: "run `git publish setup --adopt` to take it over, or delete it".into(),
            });
            String::new()
        }
    }
}

/// What setup may change on an existing bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BucketRights {
    /// Its settings, tags and policy (this site's, or `--adopt`).
    All,
    /// This site's own statements and tag only (a bucket setup made for another site).
    Statements,
    /// Nothing.
    None,
}

/// Bucket settings and tag; what setup may change on the bucket.
fn bucket_steps(w: &Wants, b: &BucketSeen, adopt: bool, p: &mut SetupPlan) -> BucketRights {
    let bucket = &w.site.bucket;
    let secure = Step::SecureBucket {
        bucket: bucket.clone(),
        block_public: !b.blocks_public,
        owner_enforced: !b.owner_enforced,
        encryption: !b.encrypted,
    };
    let insecure = !b.blocks_public || !b.owner_enforced || !b.encrypted;
    let tag = Step::TagBucket {
        bucket: bucket.clone(),
    };
    if b.owner == BucketOwner::This || adopt {
        if insecure {
            p.steps.push(secure);
        }
        if b.owner != BucketOwner::This {
            p.steps.push(tag);
        } else if !insecure {
            p.exists
                .push(format!("bucket {bucket} (created by setup, secured)"));
        }
        return BucketRights::All;
    }
    let (line, rights) = match b.owner {
        BucketOwner::OtherSite => {
            p.steps.push(tag);
            (
                format!("bucket {bucket} (made by setup for another site: this site adds its own statements and tag only)"),
                BucketRights::Statements,
            )
        }
        _ => (
            format!("bucket {bucket} (not created by setup)"),
            BucketRights::None,
        ),
    };
    p.exists.push(line);
    if insecure {
        p.held.push(Held {
            what: format!("bucket {bucket}"),
            why: secure.describe().trim_start_matches("~ ").to_string(),
            fix: "run `git publish setup --adopt` to let setup change a bucket it did not create for this site"
                .into(),
        });
    }
    rights
}

/// Create, update (this site's, or adopted), or hold the distribution. The settings it will have when the
/// later steps (policy, DNS, site.toml) apply; None when it is left alone (another site's, or one setup did
/// not create, without `--adopt`): then nothing else about it is done or written.
fn distribution_steps(
    w: &Wants,
    seen: &Seen,
    adopt: bool,
    i: &DistInputs,
    p: &mut SetupPlan,
) -> Option<DistSettings> {
    let Some(d) = &seen.distribution else {
        let settings = desired(w, None, i.oac, i.function, i.cert, i.page, adopt);
        p.steps.push(Step::CreateDistribution {
            settings: Box::new(settings.clone()),
        });
        return Some(settings);
    };
    let want = desired(
        w,
        Some(&d.settings),
        i.oac,
        i.function,
        i.cert,
        i.page,
        adopt,
    );
    let changes = diff(&d.settings, &want);
    if let DistOwner::Other(tag) = &d.owner {
        p.held.push(Held {
            what: format!("distribution {}", d.id),
            why: format!("it belongs to another site ({TAG_KEY} = {tag:?})"),
            fix: "name this site's own distribution in site.toml, or remove that id: setup then makes one"
                .into(),
        });
        return None;
    }
    if d.owner == DistOwner::None && !adopt {
        p.exists
            .push(format!("distribution {} (not created by setup)", d.id));
        let why = if changes.is_empty() {
            "it serves this site as recommended, but setup did not create it for this site"
                .to_string()
        } else {
            let lines: Vec<String> = (changes.iter())
                .map(|c| format!("{}: {} → {}", c.setting, c.from, c.to))
                .collect();
            format!("setup would change: {}", lines.join("; "))
        };
        p.held.push(Held {
            what: format!("distribution {}", d.id),
            why,
            fix: "run `git publish setup --adopt` to let setup change it and manage it for this site (it shows \
                  this diff first)"
                .into(),
        });
        return None;
    }
    serving::hold_error_responses(&d.settings, i.page, adopt, &d.id, p);
    if changes.is_empty() {
        p.exists
            .push(format!("distribution {} ({})", d.id, d.domain_name));
    } else {
        p.steps.push(Step::UpdateDistribution {
            id: d.id.clone(),
            changes,
        });
    }
    if d.owner != DistOwner::This {
        p.steps.push(Step::TagDistribution { id: d.id.clone() });
    }
    Some(want)
}

/// The merged policy with this site's statements: a step, or nothing when it is as it should be.
fn policy_step(w: &Wants, seen: &Seen, ours: &Value, p: &mut SetupPlan) {
    let existing = seen.bucket.as_ref().and_then(|b| b.policy.as_ref());
    let merged = policy::merge(existing, ours);
    // A new distribution has a new ARN, which the policy must name.
    if existing == Some(&merged) && seen.distribution.is_some() {
        p.exists.push(format!(
            "bucket policy of {} (lets the distribution read the site, not the deploy record)",
            w.site.bucket
        ));
        return;
    }
    p.steps.push(Step::PutBucketPolicy {
        bucket: w.site.bucket.clone(),
        statements: statement_names(existing, &merged, ours),
    });
}

/// The statements a bucket setup may not change would need.
fn hold_policy(w: &Wants, seen: &Seen, ours: &Value, p: &mut SetupPlan) {
    let existing = seen.bucket.as_ref().and_then(|b| b.policy.as_ref());
    let merged = policy::merge(existing, ours);
    if existing == Some(&merged) && seen.distribution.is_some() {
        return;
    }
    p.held.push(Held {
        what: format!("bucket policy of {}", w.site.bucket),
        why: format!(
            "the distribution can't read the bucket without statements {}",
            statement_names(existing, &merged, ours).join(", ")
        ),
        fix: "run `git publish setup --adopt`, or add the statements of `git publish iam-policy \
              --bucket-policy` to the bucket policy yourself"
            .into(),
    });
}

fn statement_names(existing: Option<&Value>, merged: &Value, ours: &Value) -> Vec<String> {
    let changed = policy::changed(existing, merged);
    if !changed.is_empty() {
        return changed;
    }
    (ours["Statement"].as_array().into_iter().flatten())
        .filter_map(|s| policy::sid(s).map(str::to_string))
        .collect()
}

/// site.toml gets the distribution (made or taken over for this site), `cdn_function = "manage"` when the
/// distribution will run this site's function, and the domain.
fn config_step(w: &Wants, seen: &Seen, settings: &DistSettings, function: &str, p: &mut SetupPlan) {
    let mut keys = Vec::new();
    let id = seen.distribution.as_ref().map(|d| d.id.as_str());
    match id {
        Some(id) if seen.config.distributions.iter().any(|d| d == id) => {}
        _ => keys.push("distribution".to_string()),
    }
    let runs_ours = !function.is_empty() && settings.viewer_function == function;
    if !runs_ours && !settings.viewer_function.is_empty() {
        p.held.push(Held {
            what: "viewer-request function".into(),
            why: format!(
                "the distribution runs {} (not git-publish's): directory indexes and redirects are that \
                 function's job, and site.toml does not get cdn_function = \"manage\"",
                settings.viewer_function
            ),
            fix: "run `git publish setup --adopt` to replace it with git-publish's function".into(),
        });
    }
    if !seen.config.cdn_function_managed && runs_ours {
        keys.push("cdn_function = \"manage\"".into());
    }
    if w.domain.is_some() && seen.config.domain != w.domain {
        keys.push("domain".into());
    }
    if !keys.is_empty() {
        p.steps.push(Step::WriteConfig { keys });
    }
}
