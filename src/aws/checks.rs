//! The read-only AWS calls of `git publish doctor`: are the credentials accepted (HeadBucket), which region
//! the bucket is in (GetBucketLocation) against the one configured, and does each distribution serve the
//! target's bucket and prefix (through [`super::cloudfront::resolve`], whose warnings become failures).
//!
//! Each check comes back as a [`Finding`] (passed or not, what was seen, the fix); this module decides
//! nothing else, writes nothing and prints nothing (`cmd::doctor` does).

use std::cell::RefCell;

use serde::Serialize;

use crate::config::{Backend, Target};

use super::cloudfront::{self, Notice};
use crate::aws::{self, classify};
use crate::exec::StoreError;

/// One check's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: String,
    pub ok: bool,
    pub detail: String,
    /// How to fix it ("" when it passed).
    pub fix: String,
    /// Not checked (`ok` stays true); `detail` says why and how to check by hand.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
}

impl Finding {
    pub fn pass(check: &str, detail: String) -> Finding {
        Finding {
            check: check.into(),
            ok: true,
            detail,
            fix: String::new(),
            skipped: false,
        }
    }

    pub fn skip(check: &str, detail: String) -> Finding {
        Finding {
            skipped: true,
            ..Finding::pass(check, detail)
        }
    }

    pub fn fail(check: &str, detail: String, fix: String) -> Finding {
        Finding {
            check: check.into(),
            ok: false,
            detail,
            fix,
            skipped: false,
        }
    }

    fn from_error(check: &str, e: StoreError) -> Finding {
        match e {
            StoreError::Failed { message, hint } => Finding::fail(check, message, hint),
            other => Finding::fail(check, other.to_string(), String::new()),
        }
    }
}

/// Credentials, region and each distribution's origin of an S3 target (nothing for a local directory).
pub async fn aws_checks(target: &Target) -> Vec<Finding> {
    let Backend::S3 { bucket, prefix } = &target.store.backend else {
        return Vec::new();
    };
    let sdk = aws::sdk_config(target).await;
    let client = aws::s3_client(&sdk, target);
    let endpoint = aws::custom_s3_endpoint(target);
    let what = format!("s3://{bucket}");
    let head = client.head_bucket().bucket(bucket).send().await;
    let credentials = match head {
        Ok(_) => Finding::pass("credentials", format!("HeadBucket {what} answered")),
        Err(e) => Finding::from_error("credentials", classify(&e, &what, endpoint.as_deref())),
    };
    if !credentials.ok {
        return vec![credentials];
    }
    let mut out = vec![credentials, region(&client, target, bucket).await];
    let cf = aws::cloudfront_client(&sdk);
    for d in &target.cdn.distributions {
        let said = RefCell::new(Vec::new());
        let say = |n: Notice| {
            if let Notice::Warn(w) = n {
                said.borrow_mut().push(w);
            }
        };
        let check = format!("distribution {}", d.describe());
        let found = cloudfront::resolve(&cf, target, bucket, prefix, d, &say).await;
        let warnings = said.into_inner();
        out.push(match found {
            Err(e) => Finding::fail(&check, e.to_string(), e.hint().unwrap_or_default()),
            Ok(_) if !warnings.is_empty() => Finding::fail(
                &check,
                warnings.join("; "),
                "point the distribution's origin at the bucket, with the target's prefix as its origin path, \
                 or set `origin_path` in site.toml"
                    .into(),
            ),
            Ok((settings, _)) => Finding::pass(
                &check,
                format!(
                    "{} serves s3://{bucket} with origin path \"/{}\"",
                    settings.id, settings.origin_path
                ),
            ),
        });
    }
    out
}

/// The bucket's region (GetBucketLocation; empty means us-east-1) against `region` in site.toml, or the
/// region the SDK would use; `region = "auto"` (R2) is not compared.
async fn region(client: &aws_sdk_s3::Client, target: &Target, bucket: &str) -> Finding {
    let what = format!("s3://{bucket}");
    if target.store.region.as_deref() == Some("auto") {
        // No AWS region is called `auto`: it is what Cloudflare R2 takes, whose buckets have no region to
        // compare (GetBucketLocation answers a location hint, not a region).
        return Finding::pass(
            "region",
            format!(
                "region = \"auto\", as Cloudflare R2 takes it (no region to compare {what} with)"
            ),
        );
    }
    let got = match client.get_bucket_location().bucket(bucket).send().await {
        Ok(out) => (out.location_constraint())
            .map(|c| c.as_str().to_string())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "us-east-1".into()),
        Err(e) => {
            let ep = aws::custom_s3_endpoint(target);
            return Finding::from_error("region", classify(&e, &what, ep.as_deref()));
        }
    };
    let configured = target.store.region.clone();
    match configured {
        Some(r) if r != got => Finding::fail(
            "region",
            format!("{what} is in {got}, but site.toml says region = \"{r}\""),
            format!(
                "set `region = \"{got}\"` under [targets.{}] in site.toml",
                target.name
            ),
        ),
        Some(_) => Finding::pass("region", format!("{what} is in {got}, as configured")),
        None => Finding::pass(
            "region",
            format!("{what} is in {got} (no `region` in site.toml; set it to skip a redirect)"),
        ),
    }
}
