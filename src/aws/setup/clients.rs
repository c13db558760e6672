//! The clients setup uses, and reading the status and code of an SDK error.

use aws_config::{Region, SdkConfig};

use crate::exec::StoreError;

/// The clients setup uses.
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub cloudfront: aws_sdk_cloudfront::Client,
    pub acm: aws_sdk_acm::Client,
    pub route53: aws_sdk_route53::Client,
}

impl Clients {
    pub fn new(sdk: &SdkConfig, s3: aws_sdk_s3::Client) -> Clients {
        // ACM certificates for CloudFront live in us-east-1; CloudFront and Route 53 are global.
        let acm = aws_sdk_acm::config::Builder::from(sdk)
            .region(Region::from_static("us-east-1"))
            .build();
        let route53 = aws_sdk_route53::config::Builder::from(sdk)
            .region(Region::from_static("us-east-1"))
            .build();
        Clients {
            s3,
            cloudfront: crate::aws::cloudfront_client(sdk),
            acm: aws_sdk_acm::Client::from_conf(acm),
            route53: aws_sdk_route53::Client::from_conf(route53),
        }
    }
}

pub(super) fn build_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::failed(e.to_string(), "")
}

pub(super) fn status<E, R>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> Option<u16>
where
    R: HasStatus,
{
    e.raw_response().map(HasStatus::status_code)
}

pub(super) trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_smithy_runtime_api::client::orchestrator::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

pub(super) fn code<E: aws_sdk_s3::error::ProvideErrorMetadata>(
    e: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> String {
    e.as_service_error()
        .and_then(|s| s.code())
        .unwrap_or_default()
        .to_string()
}
