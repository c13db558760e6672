//! `git publish iam-policy --bucket-policy`: the S3 bucket policy for CloudFront origin access control (OAC),
//! built from the target's config: the distributions may read the site, and may not read the deploy record.
//!
//! The record (`<prefix>/.git-publish/`) lives among the site's objects, so a policy that lets CloudFront read
//! `<prefix>/*` serves it to anyone. Two ways to keep it out: an Allow on everything but it (`NotResource`), or
//! an Allow on the prefix plus an explicit Deny on the record. This module writes the second: an explicit Deny
//! wins over every Allow, so it still holds when someone later adds a broader Allow (the console's "copy
//! policy" for OAC grants the whole bucket), while a `NotResource` Allow is undone by any Allow beside it. The
//! Deny names the CloudFront service principal only (any distribution), so the publisher's own access, granted
//! by its IAM policy (`iam-policy`), is untouched.
//!
//! A bucket may hold several sites (prefixes): each site's statements carry its id in their Sid
//! (`GitPublish<id>ReadsTheSite`, `GitPublish<id>DeniesTheRecord`), so that `setup`'s merge replaces only its
//! own (see `setup::policy`). A record kept with `state = "s3://…"` in the site's own bucket is denied at its
//! key (and the `.probe` and `.corrupt-*` copies beside it); one in another bucket needs no Deny here.
//!
//! [`policy`] is pure; [`run`] prints it. This module must not reach AWS or change anything.

use serde_json::{json, Value};

use crate::cli::BucketPolicyArgs;
use crate::config::{Backend, Distribution, StateLocation, Target};
use crate::error::{Error, ExitCode, Result};
use crate::publish::Session;

/// `git publish iam-policy --bucket-policy [--account-id ID | --distribution-arn ARN...]`.
pub fn run(s: &Session, target: Option<&str>, args: &BucketPolicyArgs) -> Result<ExitCode> {
    let t = s.config.target(target)?;
    super::iam::not_on_r2(s, t, "iam-policy --bucket-policy")?;
    let invalid = |(message, hint): (String, String)| Error::ConfigInvalid {
        path: s.config.path.clone(),
        message,
        hint,
    };
    if let (Backend::Cloud { .. }, Some(why)) = (
        &t.store.backend,
        t.store.backend.aws_only(&t.name, "a bucket policy"),
    ) {
        return Err(invalid((
            why,
            "name an s3:// target with --target NAME".into(),
        )));
    }
    let arns = distribution_arns(t, args).map_err(invalid)?;
    let policy = policy(t, &arns)
        .map_err(|m| invalid((m, "name an s3:// target with --target NAME".into())))?;
    s.ui.json(&policy);
    Ok(ExitCode::Success)
}

/// The ARNs of the distributions that may read the site: `--distribution-arn`, else the target's
/// `distribution` ids in `--account-id`'s account. The error comes with its hint.
pub fn distribution_arns(
    t: &Target,
    args: &BucketPolicyArgs,
) -> std::result::Result<Vec<String>, (String, String)> {
    if !args.distribution_arn.is_empty() {
        for arn in &args.distribution_arn {
            parse_arn(arn).ok_or_else(|| {
                (
                    format!("--distribution-arn {arn:?} is not a CloudFront distribution ARN"),
                    "give it as arn:aws:cloudfront::123456789012:distribution/E2QWRUHAPOMQZL (shown by \
                     `aws cloudfront get-distribution --id ID`)"
                        .into(),
                )
            })?;
        }
        return Ok(args.distribution_arn.clone());
    }
    let ids: Vec<&str> = (t.cdn.distributions.iter())
        .filter_map(|d| match d {
            Distribution::Id(id) => Some(id.as_str()),
            Distribution::Auto => None,
        })
        .collect();
    if ids.is_empty() {
        return Err((
            format!("target {} names no distribution id", t.name),
            "pass --distribution-arn ARN for each distribution (with `distribution = \"auto\"` the id is \
             only found at publish time)"
                .into(),
        ));
    }
    let Some(account) = args.account_id.as_deref() else {
        return Err((
            "the bucket policy names each distribution by ARN, which holds the account id".into(),
            "pass --account-id 123456789012 (`aws sts get-caller-identity`), or --distribution-arn ARN".into(),
        ));
    };
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err((
            format!("--account-id {account:?} is not an AWS account id"),
            "give the 12 digits shown by `aws sts get-caller-identity`".into(),
        ));
    }
    Ok(ids
        .iter()
        .map(|id| format!("arn:aws:cloudfront::{account}:distribution/{id}"))
        .collect())
}

/// `(account, distribution id)` of a distribution ARN.
fn parse_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:cloudfront::")?;
    let (account, id) = rest.split_once(":distribution/")?;
    let ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && !id.is_empty();
    ok.then_some((account, id))
}

/// The bucket policy: CloudFront (these distributions) reads `<prefix>/*`; no distribution reads the deploy
/// record (`<prefix>/.git-publish/*`, or a `state` key in this bucket).
pub fn policy(target: &Target, arns: &[String]) -> std::result::Result<Value, String> {
    let (_, base) = super::iam::s3_arn(target, "bucket policy")?;
    let site = target.site();
    let cloudfront = json!({ "Service": "cloudfront.amazonaws.com" });
    let mut statements = vec![json!({
        "Sid": site.sid("ReadsTheSite"),
        "Effect": "Allow",
        "Principal": cloudfront,
        "Action": "s3:GetObject",
        "Resource": format!("{base}/*"),
        "Condition": { "StringEquals": { "AWS:SourceArn": arns } },
    })];
    if let Some(record) = record_resource(target) {
        statements.push(json!({
            "Sid": site.sid("DeniesTheRecord"),
            "Effect": "Deny",
            "Principal": cloudfront,
            "Action": "s3:GetObject",
            "Resource": record,
        }));
    }
    Ok(json!({ "Version": "2012-10-17", "Statement": statements }))
}

/// The deploy record's key when it is kept in the target's own bucket (None: elsewhere).
pub fn record_key(target: &Target) -> Option<String> {
    let Backend::S3 { bucket, prefix } = &target.store.backend else {
        return None;
    };
    match &target.store.state {
        None => Some(match prefix.as_str() {
            "" => format!("{}/state.json", crate::plan::STATE_DIR),
            p => format!("{p}/{}/state.json", crate::plan::STATE_DIR),
        }),
        Some(StateLocation {
            backend: Backend::S3 { bucket: b, .. },
            key,
        }) if b == bucket => Some(key.clone()),
        Some(_) => None,
    }
}

/// The Deny's resource: the record's directory, or a `state` key in this bucket with its siblings.
fn record_resource(target: &Target) -> Option<String> {
    let Backend::S3 { bucket, .. } = &target.store.backend else {
        return None;
    };
    let key = record_key(target)?;
    Some(match key.strip_suffix("state.json") {
        // Our own directory: everything in it (the probe too).
        Some(dir) if target.store.state.is_none() => format!("arn:aws:s3:::{bucket}/{dir}*"),
        _ => format!("arn:aws:s3:::{bucket}/{key}*"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    fn target(extra: &str) -> Target {
        let (path, root) = (Path::new("site.toml"), Path::new("/r"));
        let c = Config::from_str(&format!("[targets.p]\n{extra}\n"), path, root).unwrap();
        c.targets["p"].clone()
    }

    fn args(account: Option<&str>, arns: &[&str]) -> BucketPolicyArgs {
        BucketPolicyArgs {
            bucket_policy: true,
            account_id: account.map(str::to_string),
            distribution_arn: arns.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn allows_the_site_and_denies_the_record() {
        let t = target(
            "url = \"s3://blog/site\"\ndistribution = [\"E2QWRUHAPOMQZL\", \"E3ABCDEFGHIJKL\"]",
        );
        let arns = distribution_arns(&t, &args(Some("123456789012"), &[])).unwrap();
        assert_eq!(
            arns[1],
            "arn:aws:cloudfront::123456789012:distribution/E3ABCDEFGHIJKL"
        );
        let p = policy(&t, &arns).unwrap();
        let s = &p["Statement"];
        assert_eq!(s[0]["Effect"], "Allow");
        assert_eq!(s[0]["Resource"], "arn:aws:s3:::blog/site/*");
        assert_eq!(
            s[0]["Condition"]["StringEquals"]["AWS:SourceArn"],
            json!(arns)
        );
        assert_eq!(s[1]["Effect"], "Deny");
        assert_eq!(s[1]["Resource"], "arn:aws:s3:::blog/site/.git-publish/*");
        assert_eq!(
            s[1]["Principal"],
            json!({"Service": "cloudfront.amazonaws.com"})
        );
        let root = target("url = \"s3://blog\"");
        let p = policy(&root, &arns).unwrap();
        assert_eq!(
            p["Statement"][1]["Resource"],
            "arn:aws:s3:::blog/.git-publish/*"
        );
        assert!(policy(&target("url = \"file:///srv\""), &arns).is_err());
    }

    /// Finding 2 (and 4) of the third review: the statements carry the site's id, and a record kept with
    /// `state` in the site's own bucket is denied at its key (its `.probe` and `.corrupt-*` copies too); one
    /// in another bucket needs no Deny.
    #[test]
    fn finding_2_statements_are_the_sites_own_and_deny_its_record() {
        let arns = ["arn:aws:cloudfront::123456789012:distribution/E1".to_string()];
        let staging = target("url = \"s3://blog/staging\"");
        let p = policy(&staging, &arns).unwrap();
        let id = staging.site().id();
        assert_eq!(
            p["Statement"][0]["Sid"],
            format!("GitPublish{id}ReadsTheSite")
        );
        assert_eq!(
            p["Statement"][1]["Sid"],
            format!("GitPublish{id}DeniesTheRecord")
        );
        assert_ne!(
            policy(&target("url = \"s3://blog\""), &arns).unwrap()["Statement"][0]["Sid"],
            p["Statement"][0]["Sid"]
        );
        let same = target("url = \"s3://blog/site\"\nstate = \"s3://blog/records/site.json\"");
        let p = policy(&same, &arns).unwrap();
        assert_eq!(
            p["Statement"][1]["Resource"],
            "arn:aws:s3:::blog/records/site.json*"
        );
        assert_eq!(record_key(&same).as_deref(), Some("records/site.json"));
        let other = target("url = \"s3://blog\"\nstate = \"s3://records/site.json\"");
        assert_eq!(
            policy(&other, &arns).unwrap()["Statement"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(record_key(&other), None);
    }

    #[test]
    fn the_account_comes_from_a_flag_or_the_arn() {
        let t = target("url = \"s3://blog\"\ndistribution = \"auto\"");
        let (msg, hint) = distribution_arns(&t, &args(Some("123456789012"), &[])).unwrap_err();
        assert!(msg.contains("no distribution id") && hint.contains("--distribution-arn"));
        let arn = "arn:aws:cloudfront::123456789012:distribution/E2QWRUHAPOMQZL";
        assert_eq!(distribution_arns(&t, &args(None, &[arn])).unwrap(), [arn]);
        let bad = distribution_arns(&t, &args(None, &["arn:aws:s3:::blog"])).unwrap_err();
        assert!(bad.0.contains("not a CloudFront distribution ARN"));
        let t = target("url = \"s3://blog\"\ndistribution = \"E2QWRUHAPOMQZL\"");
        assert!(distribution_arns(&t, &args(None, &[]))
            .unwrap_err()
            .1
            .contains("--account-id"));
        assert!(distribution_arns(&t, &args(Some("12"), &[]))
            .unwrap_err()
            .0
            .contains("not an AWS account id"));
    }
}
