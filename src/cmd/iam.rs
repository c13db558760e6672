//! `git publish iam-policy`: the least-privilege IAM policy for one target, built from its config.
//!
//! [`policy`] is pure (no AWS calls): what git-publish does decides what it needs. [`run`] prints it as JSON.
//! This module must not reach AWS or change anything.
//!
//! | what git-publish does                                  | needs                                         |
//! |--------------------------------------------------------|-----------------------------------------------|
//! | PutObject (files, state), multipart for big files      | `s3:PutObject`, `s3:AbortMultipartUpload` on the prefix |
//! | GetObject of the state; CopyObject reads its source    | `s3:GetObject` on the prefix                  |
//! | DeleteObjects                                          | `s3:DeleteObject` on the prefix               |
//! | a missing state object must read as 404, not 403       | `s3:ListBucket` on the bucket                 |
//! | origin path of each distribution; invalidate; `--wait` | `cloudfront:GetDistribution`, `CreateInvalidation`, `GetInvalidation` on the distribution |
//! | `distribution = "auto"`                                | `cloudfront:ListDistributions` (no resource scoping exists) |
//! | `cdn_function = "manage"`                              | `cloudfront:*Function` on its function (and, with `[targets.NAME.previews]`, its viewer-response function), `GetDistributionConfig`, `ListTagsForResource` (whose it is), `UpdateDistribution` |
//! | a redirect table (or previews' password hashes) in a KeyValueStore | `cloudfront:{Create,Describe}KeyValueStore`, `cloudfront-keyvaluestore:{DescribeKeyValueStore,GetKey,ListKeys,UpdateKeys}` (store ids are random: any store) |

use serde_json::{json, Value};

use crate::config::{Backend, Distribution, Target};
use crate::error::{Error, ExitCode, Result};
use crate::publish::Session;

/// `git publish iam-policy [--target NAME] [--previews]`: the policy of the target (or of a role that
/// publishes its previews only), on stdout.
pub fn run(s: &Session, target: Option<&str>, previews: bool) -> Result<ExitCode> {
    let t = s.config.target(target)?;
    not_on_r2(s, t, "iam-policy")?;
    let made = if previews {
        previews_policy(t)
    } else {
        policy(t)
    };
    let policy = made.map_err(|message| Error::ConfigInvalid {
        path: s.config.path.clone(),
        message,
        hint: "name an s3:// target with --target NAME".into(),
    })?;
    s.ui.json(&policy);
    Ok(ExitCode::Success)
}

/// `iam-policy`, `iam-policy --bucket-policy` and `setup` make AWS's IAM, bucket policies and CloudFront, which
/// an R2 target has none of: refused, naming the target and what to make in Cloudflare's dashboard instead.
pub fn not_on_r2(s: &Session, t: &Target, command: &str) -> Result<()> {
    if !crate::backends::is_r2(t) {
        return Ok(());
    }
    let bucket = match &t.store.backend {
        Backend::S3 { bucket, .. } => bucket.as_str(),
        // Not R2: `aws_only` names what they are.
        Backend::Local { .. } | Backend::Cloud { .. } => return Ok(()),
    };
    let zone = (t.cdn.cloudflare.as_ref())
        .map_or("the site's zone".into(), |c| format!("zone {}", c.zone));
    Err(Error::ConfigInvalid {
        path: s.config.path.clone(),
        message: format!(
            "target {} is a Cloudflare R2 bucket: `git publish {command}` makes AWS IAM policies, bucket policies \
             and CloudFront distributions, which R2 and Cloudflare's cache do not use",
            t.name
        ),
        hint: format!(
            "in Cloudflare's dashboard, make an R2 API token with Object Read & Write on bucket {bucket} (R2 → \
             Manage API tokens; its access key id and secret go in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) \
             and an API token with Zone.Cache Purge on {zone} (My Profile → API Tokens; it goes in \
             CLOUDFLARE_API_TOKEN); `git publish doctor` checks both"
        ),
    })
}

/// The policy document, or why there is none.
pub fn policy(target: &Target) -> std::result::Result<Value, String> {
    let (bucket, base) = s3_arn(target, "IAM policy")?;
    let objects = format!("{base}/*");
    // No `s3:prefix` condition: S3 decides 404-versus-403 for a GetObject without that key in the request
    // context, so a condition would turn the first publish's "no state yet" into Access Denied.
    let list = json!({
        "Sid": "ReadStateAsMissingNotForbidden",
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": format!("arn:aws:s3:::{bucket}"),
    });
    let mut statements = vec![
        json!({
            "Sid": "PublishSiteObjects",
            "Effect": "Allow",
            "Action": ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            "Resource": objects,
        }),
        list,
    ];
    statements.extend(cloudfront_statements(&target.cdn.distributions));
    if target.manages_cdn_function() && !target.cdn.distributions.is_empty() {
        statements.extend(function_statements(target));
    }
    Ok(json!({ "Version": "2012-10-17", "Statement": statements }))
}

/// The target's bucket and the ARN of its key prefix (`arn:aws:s3:::BUCKET[/PREFIX]`, objects under it are
/// `…/*`); a local directory has no `what` (a policy).
pub fn s3_arn<'t>(
    target: &'t Target,
    what: &str,
) -> std::result::Result<(&'t str, String), String> {
    let Backend::S3 { bucket, prefix } = &target.store.backend else {
        return Err((target.store.backend.aws_only(&target.name, what)).unwrap_or_default());
    };
    Ok(match prefix.as_str() {
        "" => (bucket, format!("arn:aws:s3:::{bucket}")),
        p => (bucket, format!("arn:aws:s3:::{bucket}/{p}")),
    })
}

/// Invalidating the distributions (each by id, or any for `auto`), and finding one for `auto`.
fn cloudfront_statements(distributions: &[Distribution]) -> Vec<Value> {
    let mut statements = Vec::new();
    let ids: Vec<&str> = distributions
        .iter()
        .filter_map(|d| match d {
            Distribution::Id(id) => Some(id.as_str()),
            Distribution::Auto => None,
        })
        .collect();
    let auto = distributions.contains(&Distribution::Auto);
    if !distributions.is_empty() {
        let resources: Vec<String> = if auto {
            vec!["arn:aws:cloudfront::*:distribution/*".into()]
        } else {
            ids.iter()
                .map(|id| format!("arn:aws:cloudfront::*:distribution/{id}"))
                .collect()
        };
        statements.push(json!({
            "Sid": "InvalidateDistribution",
            "Effect": "Allow",
            "Action": [
                "cloudfront:CreateInvalidation",
                "cloudfront:GetDistribution",
                "cloudfront:GetInvalidation"
            ],
            "Resource": resources,
        }));
    }
    if auto {
        statements.push(json!({
            "Sid": "FindDistribution",
            "Effect": "Allow",
            "Action": ["cloudfront:ListDistributions"],
            "Resource": "*",
        }));
    }
    statements
}

/// `cdn_function = "manage"`: the target's own function, and the distribution config it is associated in.
fn function_statements(target: &Target) -> Vec<Value> {
    let arn = |name: String| format!("arn:aws:cloudfront::*:function/{name}");
    let function = match target.previews {
        None => json!(arn(target.cdn_function_name())),
        Some(_) => json!([
            arn(target.cdn_function_name()),
            arn(target.site().response_function_name())
        ]),
    };
    let distributions: Vec<String> = (target.cdn.distributions.iter())
        .map(|d| match d {
            Distribution::Id(id) => format!("arn:aws:cloudfront::*:distribution/{id}"),
            Distribution::Auto => "arn:aws:cloudfront::*:distribution/*".into(),
        })
        .collect();
    vec![
        json!({
            "Sid": "ManageViewerRequestFunction",
            "Effect": "Allow",
            "Action": [
                "cloudfront:CreateFunction",
                "cloudfront:DescribeFunction",
                "cloudfront:GetFunction",
                "cloudfront:PublishFunction",
                "cloudfront:UpdateFunction"
            ],
            "Resource": function,
        }),
        json!({
            "Sid": "AssociateViewerRequestFunction",
            "Effect": "Allow",
            // The tag is read before the association changes: only the site's distribution is changed.
            "Action": [
                "cloudfront:GetDistributionConfig",
                "cloudfront:ListTagsForResource",
                "cloudfront:UpdateDistribution"
            ],
            "Resource": distributions,
        }),
        // A redirect table too large for the code (and the previews' password hashes) live in a
        // KeyValueStore named like the function.
        json!({
            "Sid": "RedirectTableKeyValueStore",
            "Effect": "Allow",
            "Action": [
                "cloudfront:CreateKeyValueStore",
                "cloudfront:DescribeKeyValueStore",
                "cloudfront-keyvaluestore:DescribeKeyValueStore",
                "cloudfront-keyvaluestore:GetKey",
                "cloudfront-keyvaluestore:ListKeys",
                "cloudfront-keyvaluestore:UpdateKeys"
            ],
            "Resource": "arn:aws:cloudfront::*:key-value-store/*",
        }),
    ]
}

/// A role that publishes previews only (`git publish preview`, `preview rm`/`prune`), e.g. the one a
/// workflow for pull requests assumes: it writes and deletes under `<prefix>/_previews/` and the previews'
/// records, reads production (CopyObject's source, production's record), and an explicit Deny keeps every
/// other write out, whatever else is attached to the role. What IAM can't narrow: CloudFront invalidations are
/// per distribution, so such a role may invalidate production's paths too (it costs, it changes no content);
/// ListBucket can't be narrowed either without turning a missing record into Access Denied. It can't change
/// the CloudFront Function or its KeyValueStore: previews are served by the function production's publish
/// keeps, and a preview's password, which needs the store, is not set by such a role.
pub fn previews_policy(target: &Target) -> std::result::Result<Value, String> {
    let (bucket, base) = s3_arn(target, "IAM policy")?;
    let previews = format!("{base}/{}/*", crate::preview::PREFIX);
    let (records_backend, dir) = crate::preview::records_dir(target);
    let records = match records_backend {
        Backend::S3 { bucket: b, .. } => format!("arn:aws:s3:::{b}/{dir}*"),
        Backend::Local { .. } | Backend::Cloud { .. } => {
            return Err(format!(
                "target {} keeps its record outside S3",
                target.name
            ))
        }
    };
    let writes = ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:PutObject"];
    let mut statements = vec![
        json!({
            "Sid": "PublishPreviews",
            "Effect": "Allow",
            "Action": ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            "Resource": [previews, records],
        }),
        json!({
            "Sid": "ReadProductionToCopyFromIt",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": format!("{base}/*"),
        }),
        json!({
            "Sid": "ListPreviewsAndReadMissingRecordsAsMissing",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": format!("arn:aws:s3:::{bucket}"),
        }),
        json!({
            "Sid": "NeverWriteProduction",
            "Effect": "Deny",
            "Action": writes,
            "NotResource": [previews, records],
        }),
    ];
    let mut cf = cloudfront_statements(&target.cdn.distributions);
    for s in &mut cf {
        if s["Sid"] == "InvalidateDistribution" {
            s["Sid"] = json!("InvalidatePreviewPaths");
        }
    }
    statements.extend(cf);
    Ok(json!({ "Version": "2012-10-17", "Statement": statements }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::identity::Site;
    use std::path::Path;

    fn target(extra: &str) -> Target {
        let text = format!("[targets.p]\n{extra}\n");
        let c = Config::from_str(&text, Path::new("site.toml"), Path::new("/r")).unwrap();
        c.target(None).unwrap().clone()
    }

    #[test]
    fn bucket_root_with_distribution() {
        let p = policy(&target(
            "url = \"s3://blog\"\ndistribution = \"E2QWRUHAPOMQZL\"",
        ))
        .unwrap();
        let s = &p["Statement"];
        assert_eq!(s[0]["Resource"], "arn:aws:s3:::blog/*");
        assert_eq!(s[1]["Resource"], "arn:aws:s3:::blog");
        assert!(s[1].get("Condition").is_none());
        assert_eq!(
            s[2]["Resource"],
            json!(["arn:aws:cloudfront::*:distribution/E2QWRUHAPOMQZL"])
        );
        assert_eq!(s.as_array().unwrap().len(), 3);
    }

    #[test]
    fn prefix_and_auto() {
        let p = policy(&target("url = \"s3://blog/site\"\ndistribution = \"auto\"")).unwrap();
        let s = &p["Statement"];
        assert_eq!(s[0]["Resource"], "arn:aws:s3:::blog/site/*");
        assert_eq!(s[1]["Resource"], "arn:aws:s3:::blog");
        assert_eq!(s[3]["Action"], json!(["cloudfront:ListDistributions"]));
    }

    #[test]
    fn managed_function_adds_its_own_statements() {
        let p = policy(&target(
            "url = \"s3://blog\"\ndistribution = \"E2QWRUHAPOMQZL\"\ncdn_function = \"manage\"",
        ))
        .unwrap();
        let s = &p["Statement"];
        let name = format!("git-publish-p-blog-{}", Site::new("p", "blog", "").id());
        assert_eq!(
            s[3]["Resource"],
            format!("arn:aws:cloudfront::*:function/{name}")
        );
        assert!(s[4]["Action"].to_string().contains("ListTagsForResource"));
        assert_eq!(
            s[4]["Resource"],
            json!(["arn:aws:cloudfront::*:distribution/E2QWRUHAPOMQZL"])
        );
        assert!(s[4]["Action"].to_string().contains("UpdateDistribution"));
        assert_eq!(s[5]["Resource"], "arn:aws:cloudfront::*:key-value-store/*");
        assert!(s[5]["Action"]
            .to_string()
            .contains("cloudfront-keyvaluestore:UpdateKeys"));
        assert!(s[5]["Action"]
            .to_string()
            .contains("cloudfront-keyvaluestore:GetKey"));
        // With [targets.NAME.previews], the viewer-response function too.
        let p = policy(&target(
            "url = \"s3://blog\"\ndistribution = \"E2QWRUHAPOMQZL\"\ncdn_function = \"manage\"\n\
             [targets.p.previews]",
        ))
        .unwrap();
        let site = Site::new("p", "blog", "");
        assert_eq!(
            p["Statement"][3]["Resource"],
            json!([
                format!("arn:aws:cloudfront::*:function/{name}"),
                format!(
                    "arn:aws:cloudfront::*:function/{}",
                    site.response_function_name()
                )
            ])
        );
    }

    /// Issue 25: the previews' role writes only under `_previews/` and the previews' records, and an explicit
    /// Deny keeps production's keys (the site, its record) out of reach even beside a broader policy.
    #[test]
    fn a_previews_role_can_never_write_production() {
        let p = previews_policy(&target(
            "url = \"s3://blog/site\"\ndistribution = \"E2QWRUHAPOMQZL\"\ncdn_function = \"manage\"",
        ))
        .unwrap();
        let st: Vec<Value> = p["Statement"].as_array().unwrap().clone();
        let allow = st.iter().find(|s| s["Sid"] == "PublishPreviews").unwrap();
        assert_eq!(
            allow["Resource"],
            json!([
                "arn:aws:s3:::blog/site/_previews/*",
                "arn:aws:s3:::blog/site/.git-publish/previews/*"
            ])
        );
        let deny = st.iter().find(|s| s["Effect"] == "Deny").unwrap();
        assert_eq!(deny["NotResource"], allow["Resource"]);
        let text = p.to_string();
        assert!(
            !text.contains("Function") && !text.contains("keyvaluestore"),
            "{text}"
        );
        // Every write it allows is under the previews.
        for s in st.iter().filter(|s| s["Effect"] == "Allow") {
            let writes = s["Action"].to_string().contains("Put")
                || s["Action"].to_string().contains("Delete");
            assert!(!writes || s["Sid"] == "PublishPreviews", "{s}");
        }
        let custom = previews_policy(&target(
            "url = \"s3://blog\"\nstate = \"s3://records/blog.json\"",
        ))
        .unwrap();
        assert!(
            custom
                .to_string()
                .contains("arn:aws:s3:::records/blog.previews/*"),
            "{custom}"
        );
    }

    #[test]
    fn no_cdn_no_cloudfront_and_local_has_none() {
        let p = policy(&target("url = \"s3://blog\"")).unwrap();
        assert_eq!(p["Statement"].as_array().unwrap().len(), 2);
        assert!(policy(&target("url = \"file:///srv/www\"")).is_err());
    }
}
