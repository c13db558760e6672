//! [`Cdn`] on CloudFront: CreateInvalidation with a caller-supplied reference (idempotent retries) and
//! GetInvalidation for `--wait`.

use async_trait::async_trait;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use aws_sdk_cloudfront::Client;

use super::aws::classify;
use super::{Cdn, InvalidationStatus, StoreError};

pub struct CloudFront {
    client: Client,
    distribution: String,
}

impl CloudFront {
    pub fn new(client: Client, distribution: &str) -> Self {
        CloudFront {
            client,
            distribution: distribution.to_string(),
        }
    }

    fn what(&self) -> String {
        format!("CloudFront distribution {}", self.distribution)
    }
}

#[async_trait]
impl Cdn for CloudFront {
    fn describe(&self) -> String {
        format!("cloudfront:{}", self.distribution)
    }

    async fn invalidate(
        &self,
        caller_reference: &str,
        paths: &[String],
    ) -> Result<String, StoreError> {
        let build_err =
            |e: aws_sdk_cloudfront::error::BuildError| StoreError::failed(e.to_string(), "");
        let batch = InvalidationBatch::builder()
            .caller_reference(caller_reference)
            .paths(
                Paths::builder()
                    .quantity(paths.len() as i32)
                    .set_items(Some(paths.to_vec()))
                    .build()
                    .map_err(build_err)?,
            )
            .build()
            .map_err(build_err)?;
        let out = self
            .client
            .create_invalidation()
            .distribution_id(&self.distribution)
            .invalidation_batch(batch)
            .send()
            .await
            .map_err(|e| classify(&e, &self.what(), None))?;
        Ok(out
            .invalidation()
            .map(|i| i.id().to_string())
            .unwrap_or_default())
    }

    async fn status(&self, id: &str) -> Result<InvalidationStatus, StoreError> {
        let out = self
            .client
            .get_invalidation()
            .distribution_id(&self.distribution)
            .id(id)
            .send()
            .await
            .map_err(|e| classify(&e, &self.what(), None))?;
        let status = out
            .invalidation()
            .map(|i| i.status().to_string())
            .unwrap_or_default();
        Ok(if status.eq_ignore_ascii_case("completed") {
            InvalidationStatus::Completed
        } else {
            InvalidationStatus::InProgress
        })
    }
}

/// One distribution of the account, as `git publish init` shows it (plain owned data, no SDK types).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributionInfo {
    pub id: String,
    /// `dxxxx.cloudfront.net`
    pub domain: String,
    /// Alternate domain names (CNAMEs), e.g. `blog.example.com`.
    pub aliases: Vec<String>,
    /// Origin domain names, e.g. `my-bucket.s3.amazonaws.com`.
    pub origins: Vec<String>,
    pub comment: String,
    pub enabled: bool,
}

/// Every distribution of the account (ListDistributions, all pages): what
/// `aws cloudfront list-distributions --query 'DistributionList.Items[].[Id,Aliases.Items]'` shows.
pub async fn list_distributions(client: &Client) -> Result<Vec<DistributionInfo>, StoreError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .list_distributions()
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| classify(&e, "CloudFront (ListDistributions)", None))?;
        let Some(list) = page.distribution_list() else {
            break;
        };
        for d in list.items() {
            out.push(DistributionInfo {
                id: d.id().to_string(),
                domain: d.domain_name().to_string(),
                aliases: d.aliases().map(|a| a.items().to_vec()).unwrap_or_default(),
                origins: d
                    .origins()
                    .map(|o| {
                        o.items()
                            .iter()
                            .map(|o| o.domain_name().to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
                comment: d.comment().to_string(),
                enabled: d.enabled(),
            });
        }
        match list
            .next_marker()
            .filter(|m| list.is_truncated() && !m.is_empty())
        {
            Some(m) => marker = Some(m.to_string()),
            None => break,
        }
    }
    // Every real distribution has an origin. A summary without one is a thin answer (some emulators):
    // complete it from GetDistribution.
    for d in out.iter_mut().filter(|d| d.origins.is_empty()) {
        // Best effort: a distribution that can't be read is still listed, by id and domain.
        let Ok(got) = client.get_distribution().id(&d.id).send().await else {
            continue;
        };
        if let Some(c) = got.distribution().and_then(|x| x.distribution_config()) {
            d.aliases = c.aliases().map(|a| a.items().to_vec()).unwrap_or_default();
            d.origins = c
                .origins()
                .map(|o| {
                    o.items()
                        .iter()
                        .map(|o| o.domain_name().to_string())
                        .collect()
                })
                .unwrap_or_default();
            d.comment = c.comment().to_string();
            d.enabled = c.enabled();
        }
    }
    Ok(out)
}
