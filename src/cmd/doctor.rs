//! `git publish doctor`: checks a target's setup without publishing, each printed with ✓ or ✗ and the fix:
//! the credentials (a signed HeadBucket), the bucket's region against site.toml, each distribution's origin
//! (bucket and origin path against the prefix), whether the store refuses conditional writes that must fail
//! (the probe of `state::probe_conditional_writes`, which the claim relies on), and, when `domain` is set,
//! whether the deploy record is readable at the site's public URL. Exit 1 when a check fails. For a target
//! with a distribution it then lists the recommended settings of `git publish setup --check` as advice.
//!
//! The AWS calls live in `exec::checks`; this module orders the checks and prints them (or `--json`). The
//! only write is the probe object under `.git-publish/`.

use serde::Serialize;

use crate::config::{Locking, Target};
use crate::error::{ExitCode, Result};
use crate::exec::backends::{backends, check_env_endpoints};
use crate::exec::checks::{aws_checks, Finding};
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

pub async fn run(s: &Session, target: Option<&str>) -> Result<ExitCode> {
    let t = s.config.target(target)?;
    check_env_endpoints(t)?;
    let mut checks = aws_checks(t).await;
    if checks.iter().all(|f| f.ok) {
        checks.push(conditional_writes(s, t).await);
    }
    if let Some(f) = public_record(t) {
        checks.push(f);
    }
    let recommended = if t.distributions.is_empty() {
        Vec::new()
    } else {
        super::setup::recommended(t).await
    };
    let report = Doctor {
        target: t.name.clone(),
        url: t.url.clone(),
        ok: checks.iter().all(|f| f.ok),
        checks,
        recommended,
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
        n => format!("{n} check(s) failed"),
    });
}

fn render_findings(s: &Session, findings: &[Finding]) {
    for f in findings {
        let mark = match (f.ok, f.skipped) {
            (_, true) => "-",
            (true, false) => "✓",
            (false, false) => "✗",
        };
        s.ui.out(&format!("  {mark} {}: {}", f.check, f.detail));
        if !f.fix.is_empty() {
            s.ui.out(&format!("      fix: {}", f.fix));
        }
    }
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
        Ok(Some(what)) if t.locking == Locking::None => Finding::pass(
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

/// Whether the record is readable at the site's public URL. git-publish carries no HTTP client of its own
/// (the SDK's is not meant for arbitrary URLs), so this says how to check by hand, or that the record is kept
/// outside the site (`state`).
fn public_record(t: &Target) -> Option<Finding> {
    const CHECK: &str = "public record";
    let domain = t.domain.as_ref()?;
    if let Some(loc) = &t.state {
        return Some(Finding::pass(
            CHECK,
            format!("the record is kept at {}, outside the site", loc.describe()),
        ));
    }
    let served = state::state_key(t.prefix());
    let served = t
        .origin_path
        .as_deref()
        .and_then(|o| served.strip_prefix(&format!("{o}/")))
        .unwrap_or(".git-publish/state.json");
    Some(Finding::skip(
        CHECK,
        format!(
            "not checked (no HTTP client): `curl -sI https://{domain}/{served}` must not answer 200; \
             if it does, apply `git publish iam-policy --bucket-policy` or set `state`"
        ),
    ))
}
