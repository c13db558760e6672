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
