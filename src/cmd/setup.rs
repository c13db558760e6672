//! `git publish setup`: make what a target needs on AWS, the recommended way, and write its `distribution`
//! into site.toml. Reads what exists (`aws::setup::observe`), plans (`crate::setup::plan`), prints the plan,
//! applies it after `--yes` or a "y" at the terminal (`aws::setup::apply`), then writes site.toml
//! (`config::edit`, keeping comments). `--check` prints the recommended settings as ✓/✗ instead; `doctor`
//! shows the same list ([`recommended`]).
//!
//! A failure part-way prints what was made and stops: every step is found again by the next run (by name,
//! tag or site.toml), which completes the rest.

use serde::Serialize;
use serde_json::{json, Value};

use crate::aws;
use crate::aws::checks::Finding;
use crate::aws::setup::{self as exec_setup, Clients, Inputs, Made};
use crate::backends::{check_env_endpoints, check_resolved_endpoints};
use crate::cli::SetupArgs;
use crate::config::edit::{set_target_keys, TargetKeys};
use crate::config::{Backend, Distribution, Target};
use crate::error::{Error, ExitCode, Result};
use crate::publish::Session;
use crate::setup::{self, Check, ConfigSeen, Seen, SetupPlan, Step, Wants};

/// The `--json` document.
#[derive(Debug, Serialize)]
struct Report<'a> {
    target: &'a str,
    plan: &'a SetupPlan,
    applied: bool,
    done: Vec<String>,
    distribution: Option<Value>,
    error: Option<String>,
}

pub async fn run(s: &Session, args: &SetupArgs) -> Result<ExitCode> {
    let t = s.config.target(args.target.as_deref())?;
    super::iam::not_on_r2(s, t, "setup")?;
    check_env_endpoints(t)?;
    let domain = args.domain.clone().or_else(|| t.domain.clone());
    let previews = preview_domain(t, args)?;
    if args.route53 && domain.is_none() && previews.is_none() {
        return Err(Error::Usage(
            "--route53 needs a domain: pass --domain DOMAIN (or set `domain` for the target in site.toml), or \
             --previews"
                .into(),
        ));
    }
    let sdk = aws::sdk_config(t).await;
    check_resolved_endpoints(t, &sdk)?;
    let w = wants(t, &sdk, args, domain, previews)?;
    let clients = Clients::new(&sdk, aws::s3_client(&sdk, t));
    // A distribution edited between the read the plan was made from and the update (in the console, while
    // setup waited at its question) is read again, and its new differences are shown and asked about.
    for round in 1.. {
        let (seen, code) = observe(s, t, &clients, &w).await?;
        if args.check {
            return Ok(print_checks(s, t, &setup::checks(&w, &seen)));
        }
        let placeholder = seen.distribution.as_ref().map(|d| d.arn.clone());
        let ours = policy_for(t, placeholder.as_deref().unwrap_or("(new distribution)"));
        let plan = setup::plan(&w, &seen, args.adopt, &ours);
        if !s.ui.json {
            print_plan(s, t, &plan);
        }
        let round_of = Round {
            s,
            t,
            args,
            w: &w,
            plan: &plan,
            seen: &seen,
        };
        if plan.steps.is_empty() || !confirmed(s, args) {
            return finish(&round_of, Made::default(), false, None);
        }
        let policy_for = |arn: &str| policy_for(t, arn);
        let inputs = Inputs {
            function_code: &code,
            policy_for: &policy_for,
            adopt: args.adopt,
        };
        let (made, failed) = exec_setup::apply(&clients, &w, &seen, &plan.steps, &inputs).await;
        // site.toml names the distribution even when a later step failed: the next run finds it there.
        let wrote = write_config(s, t, &w, &plan, &made)?;
        let mut made = made;
        if let Some(line) = wrote {
            made.done.push(line);
        }
        if matches!(failed, Some(crate::exec::StoreError::PreconditionFailed)) {
            let id = seen
                .distribution
                .as_ref()
                .map(|d| d.id.as_str())
                .unwrap_or("?");
            let error = changed_meanwhile(t, id);
            if args.yes || round >= 3 || !s.ui.can_ask() {
                return finish(&round_of, made, true, Some(error));
            }
            s.ui.warn(&format!("{error}: reading it again"));
            continue;
        }
        let error = failed.map(|e| store_error(t, e));
        return finish(&round_of, made, true, error);
    }
    unreachable!("the loop returns")
}

/// What exists, and the function's code for it.
async fn observe(s: &Session, t: &Target, clients: &Clients, w: &Wants) -> Result<(Seen, String)> {
    let bucket = exec_setup::observe_bucket(clients, w)
        .await
        .map_err(|e| store_error(t, e))?;
    let (code, table_in_store) = function_code(s, t, bucket.is_some()).await?;
    let mut seen = exec_setup::observe(clients, w, bucket, config_seen(t), &code)
        .await
        .map_err(|e| store_error(t, e))?;
    // `git publish` keeps a function whose table is in a KeyValueStore (one created but never published has
    // no ARN yet: setup publishes the code it has).
    if let setup::FunctionSeen::Differs { arn } = seen.function.clone() {
        if table_in_store && !arn.is_empty() {
            seen.function = setup::FunctionSeen::Live { arn };
        }
    }
    Ok((seen, code))
}

/// Whether to apply the plan: `--yes`, or a "y" at the terminal; never in a dry run or without a terminal.
fn confirmed(s: &Session, args: &SetupArgs) -> bool {
    if args.dry_run {
        false
    } else if args.yes {
        true
    } else if !s.ui.json && s.ui.can_ask() {
        let yes = s.ui.confirm("apply this plan?");
        if !yes {
            s.ui.note("nothing changed");
        }
        yes
    } else {
        s.ui.note("dry run (no terminal to confirm on): nothing changed; run `git publish setup --yes` to apply");
        false
    }
}

fn changed_meanwhile(t: &Target, id: &str) -> Error {
    Error::Store {
        target: t.name.clone(),
        message: format!(
            "CloudFront distribution {id} changed after setup read it (If-Match: its ETag no longer matches): \
             nothing of it was overwritten"
        ),
        hint: "someone edited it at the same time (console, IaC): run `git publish setup` again to see the new \
               differences"
            .into(),
    }
}

/// The previews' domain setup adds (`--previews`), or checks (`--check`, when it is configured).
fn preview_domain(t: &Target, args: &SetupArgs) -> Result<Option<String>> {
    let configured = (t.previews.as_ref()).and_then(|p| p.domain.clone());
    match configured {
        None if args.previews => Err(Error::Usage(format!(
            "--previews needs the previews' domain: add `domain = \"preview.example.com\"` under \
             [targets.{}.previews] in site.toml (preview NAME is then served at https://NAME.preview.example.com/)",
            t.name
        ))),
        d if args.previews || args.check => Ok(d),
        _ => Ok(None),
    }
}

fn wants(
    t: &Target,
    sdk: &aws::SdkConfig,
    args: &SetupArgs,
    domain: Option<String>,
    previews: Option<String>,
) -> Result<Wants> {
    let Backend::S3 { bucket, prefix } = &t.store.backend else {
        let why = (t.store.backend.aws_only(
            &t.name,
            "setup (an S3 bucket and a CloudFront distribution)",
        ))
        .unwrap_or_default();
        return Err(Error::Usage(format!(
            "{why} ({}); pick an s3:// target with --target NAME",
            t.store.url
        )));
    };
    if let Some(ep) = &t.store.endpoint {
        return Err(Error::Usage(format!(
            "target {} uses the S3-compatible endpoint {}: setup makes AWS S3 buckets and CloudFront \
             distributions; create that store's bucket with its own tools",
            t.name,
            crate::config::redact_userinfo(ep)
        )));
    }
    let region = (t.store.region.clone())
        .or_else(|| sdk.region().map(|r| r.to_string()))
        .unwrap_or_else(|| "us-east-1".into());
    let site = crate::identity::Site::new(&t.name, bucket, prefix);
    Ok(Wants {
        region,
        price_class: args.price_class.clone(),
        domain,
        previews,
        function_name: site.function_name(),
        oac_name: site.name(64),
        route53: args.route53,
        record_key: super::bucket_policy::record_key(t),
        site,
    })
}

/// What site.toml says that setup writes: the distribution ids, the managed function, the domain.
fn config_seen(t: &Target) -> ConfigSeen {
    ConfigSeen {
        distributions: (t.cdn.distributions.iter())
            .filter_map(|d| match d {
                Distribution::Id(id) => Some(id.clone()),
                Distribution::Auto => None,
            })
            .collect(),
        cdn_function_managed: t.manages_cdn_function(),
        domain: t.domain.clone(),
    }
}

/// The function's code for the target's live redirect table (none yet when the bucket does not exist), and
/// whether that table lives in a KeyValueStore: then setup publishes the code without the table (directory
/// indexes) if there is no function yet, leaves an existing one alone, and the next `git publish` (with
/// `cdn_function = "manage"`) writes the store and the code that reads it.
async fn function_code(s: &Session, t: &Target, bucket_exists: bool) -> Result<(String, bool)> {
    let table = if bucket_exists {
        super::redirects::live_table(s, Some(&t.name)).await?
    } else {
        Vec::new()
    };
    let generated = crate::plan::cdn_function::generate(&table, &t.forms)?;
    Ok(match generated.kvs {
        None => (generated.code, false),
        Some(_) => (crate::plan::cdn_function::code(&[], &t.forms)?, true),
    })
}

/// The bucket policy's statements for a distribution ARN: it reads the site, not `.git-publish/`.
fn policy_for(t: &Target, arn: &str) -> Value {
    super::bucket_policy::policy(t, &[arn.to_string()]).unwrap_or_else(|_| json!({}))
}

fn store_error(t: &Target, e: crate::exec::StoreError) -> Error {
    let (message, hint) = match e {
        crate::exec::StoreError::Failed { message, hint } => (message, hint),
        other => (other.to_string(), String::new()),
    };
    Error::Store {
        target: t.name.clone(),
        message,
        hint: if hint.is_empty() {
            "fix the cause above and run `git publish setup` again: it finds what exists and completes the rest".into()
        } else {
            hint
        },
    }
}

fn print_plan(s: &Session, t: &Target, plan: &SetupPlan) {
    s.ui.out(&format!("setup of target {} ({})", t.name, t.store.url));
    for e in &plan.exists {
        s.ui.out(&format!("  = {e}"));
    }
    for step in &plan.steps {
        s.ui.out(&format!("  {}", step.describe()));
    }
    for h in &plan.held {
        s.ui.out(&format!("  ! {}: left alone: {}", h.what, h.why));
        s.ui.out(&format!("      fix: {}", h.fix));
    }
    if plan.steps.is_empty() {
        s.ui.out("nothing to change: everything setup makes exists");
    }
}

/// site.toml gets the distribution's id, `cdn_function = "manage"` and the domain, when the plan said so.
fn write_config(
    s: &Session,
    t: &Target,
    w: &Wants,
    plan: &SetupPlan,
    made: &Made,
) -> Result<Option<String>> {
    let Some(Step::WriteConfig { keys }) = plan
        .steps
        .iter()
        .find(|st| matches!(st, Step::WriteConfig { .. }))
    else {
        return Ok(None);
    };
    let Some(d) = &made.distribution else {
        return Ok(None);
    };
    let path = &s.config.path;
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let edit = TargetKeys {
        distribution: Some(d.id.clone()),
        cdn_function_manage: !t.manages_cdn_function(),
        domain: w
            .domain
            .clone()
            .filter(|_| keys.iter().any(|k| k == "domain")),
    };
    let new = set_target_keys(&text, &t.name, &edit).map_err(|message| Error::ConfigInvalid {
        path: path.clone(),
        message,
        hint: format!(
            "add distribution = \"{}\" and cdn_function = \"manage\" to [targets.{}] by hand",
            d.id, t.name
        ),
    })?;
    if new == text {
        return Ok(None);
    }
    crate::config::edit::write_file(path, &new)?;
    Ok(Some(Step::WriteConfig { keys: keys.clone() }.describe()))
}

/// One round of setup: what it was asked, what it found and what it planned from that.
struct Round<'a> {
    s: &'a Session,
    t: &'a Target,
    args: &'a SetupArgs,
    w: &'a Wants,
    plan: &'a SetupPlan,
    seen: &'a Seen,
}

/// Report what the round made (`applied`: it ran its steps) and the error that stopped it, then the next
/// steps.
fn finish(r: &Round, made: Made, applied: bool, error: Option<Error>) -> Result<ExitCode> {
    let Round {
        s,
        t,
        args,
        w,
        plan,
        seen,
    } = *r;
    let dist = made.distribution.as_ref().or(seen.distribution.as_ref());
    if s.ui.json {
        s.ui.json(&Report {
            target: &t.name,
            plan,
            applied,
            done: made.done.clone(),
            distribution: dist
                .map(|d| json!({ "id": d.id, "arn": d.arn, "domain_name": d.domain_name })),
            error: error.as_ref().map(|e| e.to_string()),
        });
    } else if applied {
        for line in &made.done {
            s.ui.out(&format!("  ✓ {}", line.trim_start_matches(['+', '~', ' '])));
        }
        if error.is_some() {
            s.ui.out("stopped part-way: what is marked ✓ exists; run `git publish setup --yes` again to complete the rest");
        }
    }
    if let Some(e) = error {
        return Err(e);
    }
    if !s.ui.json {
        if let Some(d) = dist.filter(|_| applied || plan.steps.is_empty()) {
            next_steps(s, t, args, w, &made, seen, d);
        }
    }
    Ok(ExitCode::Success)
}

fn next_steps(
    s: &Session,
    t: &Target,
    args: &SetupArgs,
    w: &Wants,
    made: &Made,
    seen: &Seen,
    d: &setup::DistSeen,
) {
    s.ui.out(&format!(
        "site: https://{}/ (CloudFront takes a few minutes to deploy a new distribution)",
        d.domain_name
    ));
    if let Some(c) = made
        .certificate
        .as_ref()
        .or(seen.certificate.as_ref())
        .filter(|c| !c.issued)
    {
        s.ui.out("create these DNS records (CNAME) so that ACM issues the certificate, then run setup again to add the alias:");
        for line in setup::validation_lines(c) {
            s.ui.out(&format!("  {line}"));
        }
    } else if let Some(domain) = &w.domain {
        if !args.route53 {
            s.ui.out(&format!(
                "point {domain} at {} (CNAME, or an alias A/AAAA record in Route 53)",
                d.domain_name
            ));
        }
    }
    if let (Some(alias), false) = (w.preview_alias(), args.route53) {
        s.ui.out(&format!(
            "point {alias} at {} (CNAME, or alias A/AAAA records in Route 53): previews are then served at \
             https://NAME.{}/",
            d.domain_name,
            alias.trim_start_matches("*.")
        ));
    }
    s.ui.out("next: `git publish` publishes the site");
    let mut published = t.clone();
    published.cdn.distributions = vec![Distribution::Id(d.id.clone())];
    published.cdn.cdn_function = crate::config::CdnFunction::Manage;
    if let Some(repo) = &args.github {
        github(s, &published, repo, &args.github_branch, &d.arn);
    } else {
        s.ui.out("the publisher's least-privilege IAM policy: `git publish iam-policy` (after this, it covers the function too)");
    }
}

/// `--github OWNER/REPO`: the role's trust policy (GitHub's OIDC provider, this repository's branch only), its
/// permissions, and the workflow step. Printed, not created: creating IAM roles needs far more rights than
/// publishing, and belongs in the account's own tooling.
fn github(s: &Session, t: &Target, repo: &str, branch: &str, dist_arn: &str) {
    let account = dist_arn.split(':').nth(4).unwrap_or("ACCOUNT_ID");
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Federated": format!("arn:aws:iam::{account}:oidc-provider/token.actions.githubusercontent.com") },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                    "token.actions.githubusercontent.com:sub": format!("repo:{repo}:ref:refs/heads/{branch}"),
                }
            }
        }]
    });
    let permissions = crate::cmd::iam::policy(t).unwrap_or_default();
    // IAM role names are per account, like the function's: the same unique name (64 characters at most).
    let role = t.site().name(64);
    s.ui.out(&format!("GitHub Actions for {repo} (branch {branch}): create the role {role} with this trust policy"));
    s.ui.out(&serde_json::to_string_pretty(&trust).unwrap_or_default());
    s.ui.out("and this permission policy:");
    s.ui.out(&serde_json::to_string_pretty(&permissions).unwrap_or_default());
    s.ui.out(&format!(
        "with the AWS CLI (trust.json and permissions.json holding the two documents above):\n  \
         aws iam create-open-id-connect-provider --url https://token.actions.githubusercontent.com \
         --client-id-list sts.amazonaws.com   # once per account\n  \
         aws iam create-role --role-name {role} --assume-role-policy-document file://trust.json\n  \
         aws iam put-role-policy --role-name {role} --policy-name git-publish --policy-document file://permissions.json\n\
         then in .github/workflows/publish.yml:\n\
         permissions:\n  id-token: write\n  contents: read\nsteps:\n  - uses: actions/checkout@v4\n    with:\n      fetch-depth: 0\n  \
         - uses: aws-actions/configure-aws-credentials@v4\n    with:\n      role-to-assume: arn:aws:iam::{account}:role/{role}\n      \
         aws-region: {}\n  - run: npx --package=@git-publish/cli git-publish --target {}",
        t.store.region.as_deref().unwrap_or("us-east-1"),
        t.name
    ));
}

fn print_checks(s: &Session, t: &Target, checks: &[Check]) -> ExitCode {
    let ok = checks.iter().all(|c| c.ok);
    if s.ui.json {
        s.ui.json(&json!({ "target": t.name, "ok": ok, "checks": checks }));
    } else {
        s.ui.out(&format!(
            "recommended setup of target {} ({})",
            t.name, t.store.url
        ));
        for c in checks {
            s.ui.out(&format!(
                "  {} {}: {}",
                if c.ok { "✓" } else { "✗" },
                c.check,
                c.detail
            ));
            if !c.fix.is_empty() {
                s.ui.out(&format!("      fix: {}", c.fix));
            }
        }
    }
    if ok {
        ExitCode::Success
    } else {
        ExitCode::Runtime
    }
}

/// The `--check` list as doctor findings (advice: they don't fail doctor), and the page the distribution
/// answers a 403 with (a custom error response), which tells doctor what an answer through CloudFront means.
#[derive(Debug, Default)]
pub struct Recommended {
    pub findings: Vec<Finding>,
    pub error_page: Option<String>,
}

pub async fn recommended(t: &Target) -> Recommended {
    let Backend::S3 { .. } = &t.store.backend else {
        return Recommended::default();
    };
    let sdk = aws::sdk_config(t).await;
    let args = SetupArgs {
        target: None,
        check: true,
        dry_run: true,
        yes: false,
        adopt: false,
        domain: None,
        route53: false,
        previews: false,
        price_class: setup::PRICE_CLASSES[0].into(),
        github: None,
        github_branch: "main".into(),
    };
    let previews = (t.previews.as_ref()).and_then(|p| p.domain.clone());
    let Ok(w) = wants(t, &sdk, &args, t.domain.clone(), previews) else {
        return Recommended::default();
    };
    let clients = Clients::new(&sdk, aws::s3_client(&sdk, t));
    let seen = match exec_setup::observe_bucket(&clients, &w).await {
        Ok(bucket) => exec_setup::observe(&clients, &w, bucket, config_seen(t), "").await,
        Err(e) => Err(e),
    };
    match seen {
        Ok(seen) => Recommended {
            findings: (setup::checks(&w, &seen).into_iter())
                .map(|c| {
                    if c.ok {
                        Finding::pass(c.check, c.detail)
                    } else {
                        Finding::fail(c.check, c.detail, c.fix)
                    }
                })
                .collect(),
            error_page: (seen.distribution.iter())
                .flat_map(|d| d.settings.error_responses.iter())
                .find(|e| e.code == 403 && !e.page.is_empty())
                .map(|e| e.page.clone()),
        },
        Err(e) => Recommended {
            findings: vec![Finding::skip(
                "recommended setup",
                format!("not checked: {e}"),
            )],
            error_page: None,
        },
    }
}
