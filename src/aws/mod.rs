//! Builds the AWS SDK clients (one place for region, profile, endpoint, retries, timeouts) and turns SDK
//! errors into messages that name the bucket/key and the fix. Never prints credentials.

pub mod cdn_function;
pub mod checks;
pub mod cloudfront;
pub mod connect;
pub mod kvs;
mod ownership;
pub mod s3;
pub mod setup;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
pub use aws_config::SdkConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::config::Target;
use crate::exec::StoreError;

/// Shared SDK configuration for a target: standard credential chain, the target's profile and region.
pub async fn sdk_config(target: &Target) -> SdkConfig {
    sdk_config_for(
        target.store.profile.as_deref(),
        target.store.region.as_deref(),
    )
    .await
}

/// How long a new connection may take (TCP and TLS).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// [`sdk_config`] before a target exists (`git publish init`): a profile and region, or the defaults. Every
/// client made from it shares one HTTP client whose connections a publish can open ahead
/// (`super::connect`), where the SDK's default client is not needed for a proxy.
pub async fn sdk_config_for(profile: Option<&str>, region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(6)
                .with_initial_backoff(Duration::from_millis(200)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(Duration::from_secs(60))
                .build(),
        );
    if let Some(client) = connect::sdk_client(CONNECT_TIMEOUT) {
        loader = loader.http_client(client);
    }
    if let Some(p) = profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_string()));
    }
    let config = loader.load().await;
    if config.region().is_none() {
        // S3 answers with a redirect error naming the right region; CloudFront is global.
        return config
            .into_builder()
            .region(Region::from_static("us-east-1"))
            .build();
    }
    config
}

/// The endpoint each service's client will use, as the SDK resolves it from the environment and the profile
/// (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, a profile's `endpoint_url` or its `services` section), with where
/// it came from; the same lookup the generated clients make. `site.toml`'s own `endpoint` is not included.
pub fn resolved_endpoints(sdk: &SdkConfig) -> Vec<(&'static str, String)> {
    use aws_types::service_config::ServiceConfigKey;
    let mut out = Vec::new();
    for service in ["S3", "CloudFront", "ACM", "Route 53"] {
        let key = ServiceConfigKey::builder()
            .service_id(service)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .expect("every field is set");
        let url = (sdk.service_config())
            .and_then(|c| c.load_config(key))
            .or_else(|| sdk.endpoint_url().map(str::to_string));
        if let Some(url) = url.filter(|u| !u.is_empty()) {
            out.push((service, url));
        }
    }
    out
}

/// Whether S3 requests go to a custom (S3-compatible or local) endpoint.
pub fn custom_s3_endpoint(target: &Target) -> Option<String> {
    target
        .store
        .endpoint
        .clone()
        .or_else(|| {
            std::env::var("AWS_ENDPOINT_URL_S3")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .or_else(|| {
            std::env::var("AWS_ENDPOINT_URL")
                .ok()
                .filter(|s| !s.is_empty())
        })
}

/// The URL the S3 client reaches `bucket` at (virtual-hosted or path-style, as [`s3_client`] makes it), from
/// the SDK's own endpoint rules: where connections for the site's requests may be opened ahead.
pub async fn s3_origin(sdk: &SdkConfig, target: &Target, bucket: &str) -> Option<String> {
    use aws_sdk_s3::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    let custom = (target.store.endpoint.clone())
        .or_else(|| service_endpoint(sdk, "S3"))
        .filter(|e| !e.is_empty());
    let params = Params::builder()
        .bucket(bucket)
        .set_region(sdk.region().map(|r| r.to_string()))
        .use_fips(sdk.use_fips().unwrap_or(false))
        .use_dual_stack(sdk.use_dual_stack().unwrap_or(false))
        .force_path_style(custom_s3_endpoint(target).is_some())
        .set_endpoint(custom)
        .build()
        .ok()?;
    let endpoint = DefaultResolver::new()
        .resolve_endpoint(&params)
        .await
        .ok()?;
    Some(endpoint.url().to_string())
}

/// The URL [`cloudfront_client`] reaches CloudFront at.
pub async fn cloudfront_origin(sdk: &SdkConfig) -> Option<String> {
    use aws_sdk_cloudfront::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    let params = Params::builder()
        .region("us-east-1")
        .use_fips(sdk.use_fips().unwrap_or(false))
        .set_endpoint(service_endpoint(sdk, "CloudFront"))
        .build()
        .ok()?;
    let endpoint = DefaultResolver::new()
        .resolve_endpoint(&params)
        .await
        .ok()?;
    Some(endpoint.url().to_string())
}

/// The endpoint the environment or the profile sets for `service` (see [`resolved_endpoints`]).
fn service_endpoint(sdk: &SdkConfig, service: &str) -> Option<String> {
    (resolved_endpoints(sdk).into_iter())
        .find(|(s, _)| *s == service)
        .map(|(_, url)| url)
}

pub fn s3_client(sdk: &SdkConfig, target: &Target) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::config::Builder::from(sdk);
    if let Some(ep) = &target.store.endpoint {
        b = b.endpoint_url(ep);
    }
    if custom_s3_endpoint(target).is_some() {
        // S3-compatible stores: path-style addressing, and no default CRC checksums (several reject them).
        b = b
            .force_path_style(true)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

pub fn cloudfront_client(sdk: &SdkConfig) -> aws_sdk_cloudfront::Client {
    // CloudFront is a global service signed in us-east-1.
    let conf = aws_sdk_cloudfront::config::Builder::from(sdk)
        .region(Region::from_static("us-east-1"))
        .build();
    aws_sdk_cloudfront::Client::from_conf(conf)
}

/// The CloudFront KeyValueStore data API (`cloudfront-keyvaluestore`: keys of a store a managed function
/// reads). Signed with SigV4A, for every region (`*`).
pub fn kvs_client(sdk: &SdkConfig) -> aws_sdk_cloudfrontkeyvaluestore::Client {
    let conf = aws_sdk_cloudfrontkeyvaluestore::config::Builder::from(sdk)
        .region(Region::from_static("us-east-1"))
        .endpoint_resolver(KvsEndpoint::default())
        .build();
    aws_sdk_cloudfrontkeyvaluestore::Client::from_conf(conf)
}

/// The data API's endpoint: from the store's ARN (`https://<account>.cloudfront-kvs.global.api.aws`), or an
/// endpoint override (`AWS_ENDPOINT_URL`, a profile's `endpoint_url`: a local server or a proxy) as given.
/// The service's own rules would put the account id in front of the override's host, which a local
/// address can't take.
#[derive(Debug, Default)]
struct KvsEndpoint(aws_sdk_cloudfrontkeyvaluestore::config::endpoint::DefaultResolver);

impl aws_sdk_cloudfrontkeyvaluestore::config::endpoint::ResolveEndpoint for KvsEndpoint {
    fn resolve_endpoint<'a>(
        &'a self,
        params: &'a aws_sdk_cloudfrontkeyvaluestore::config::endpoint::Params,
    ) -> aws_sdk_cloudfrontkeyvaluestore::config::endpoint::EndpointFuture<'a> {
        use aws_smithy_types::endpoint::{Endpoint, EndpointAuthScheme};
        match params.endpoint() {
            Some(url) => {
                let sigv4a = EndpointAuthScheme::with_capacity("sigv4a", 2)
                    .put("signingName", "cloudfront-keyvaluestore".to_string())
                    .put("signingRegionSet", vec!["*".to_string().into()]);
                let e = (Endpoint::builder().url(url.to_string()))
                    .auth_scheme(sigv4a)
                    .build();
                aws_sdk_cloudfrontkeyvaluestore::config::endpoint::EndpointFuture::ready(Ok(e))
            }
            None => self.0.resolve_endpoint(params),
        }
    }
}

/// What went wrong talking to AWS, in words that name `what` (e.g. `s3://bucket/key`) and a fix.
pub fn classify<E>(
    err: &SdkError<E, HttpResponse>,
    what: &str,
    endpoint: Option<&str>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().unwrap_or_default().to_string();
    let detail = DisplayErrorContext(err).to_string();
    let where_ = endpoint.map(|e| format!(" at {e}")).unwrap_or_default();
    if let Some(e) = precondition(status, &code) {
        return e;
    }
    if let Some(e) = by_code(&code, what, &where_).or_else(|| by_status(status, what)) {
        return e;
    }
    if credentials_missing(&detail) {
        return StoreError::failed(
            format!("no AWS credentials found for {what}"),
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, run `aws configure` / `aws sso login`, or name a \
             profile with `profile = \"NAME\"` in site.toml (or AWS_PROFILE)",
        );
    }
    if let Some(e) = transport(err, what, &where_, &detail) {
        return e;
    }
    let code_part = if code.is_empty() {
        status.map(|s| format!("HTTP {s}")).unwrap_or_default()
    } else {
        code
    };
    StoreError::failed(
        format!("{what}: {code_part} {}", first_line(&detail))
            .trim()
            .to_string(),
        "",
    )
}

/// A conditional write that lost (412), or a conflicting concurrent write the caller retries or reports (409).
/// (CloudFront's TooManyInvalidationsInProgress is the CDN's own error: `cloudfront::cdn_error_of`.)
fn precondition(status: Option<u16>, code: &str) -> Option<StoreError> {
    if status == Some(412) || code == "PreconditionFailed" {
        return Some(StoreError::PreconditionFailed);
    }
    if status == Some(409) && (code == "ConditionalRequestConflict" || code.is_empty()) {
        return Some(StoreError::Conflict);
    }
    None
}

/// Lookup table: the AWS error codes a user can fix, with the message and the fix.
fn by_code(code: &str, what: &str, where_: &str) -> Option<StoreError> {
    let (message, hint) = match code {
        "NoSuchBucket" => (
            format!("bucket of {what} does not exist{where_}"),
            "create the bucket (`aws s3 mb s3://BUCKET`) or fix `url` for the target in site.toml",
        ),
        "AccessDenied" | "AllAccessDisabled" => (
            format!("access denied to {what}"),
            "check which identity is in use (`aws sts get-caller-identity`, `profile` in site.toml, AWS_PROFILE) \
             and that its policy allows this action (`git publish iam-policy` prints the minimal one)",
        ),
        "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "ExpiredToken" | "InvalidToken" | "InvalidClientTokenId" => (
            format!("credentials rejected for {what} ({code})"),
            "refresh or fix the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, `aws sso login`, `profile` in site.toml)",
        ),
        "PermanentRedirect" | "AuthorizationHeaderMalformed" | "IllegalLocationConstraintException" => (
            format!("the bucket of {what} is in another region than the one in use"),
            "set `region` for the target in site.toml (or AWS_REGION) to the bucket's region",
        ),
        "NoSuchDistribution" => (
            format!("{what} does not exist"),
            "fix `distribution` for the target in site.toml (`aws cloudfront list-distributions` lists them)",
        ),
        _ => return None,
    };
    Some(StoreError::failed(message, hint))
}

/// HTTP statuses that say what is wrong when the error code does not.
fn by_status(status: Option<u16>, what: &str) -> Option<StoreError> {
    match status {
        Some(301) => Some(StoreError::failed(
            format!("the bucket of {what} is in another region than the one in use"),
            "set `region` for the target in site.toml (or AWS_REGION) to the bucket's region",
        )),
        Some(403) => Some(StoreError::failed(
            format!("access denied to {what} (HTTP 403)"),
            "check the credentials in use and their IAM policy (`git publish iam-policy`)",
        )),
        _ => None,
    }
}

/// The SDK's ways of saying that no credentials were found.
fn credentials_missing(detail: &str) -> bool {
    let lower = detail.to_ascii_lowercase();
    lower.contains("credential")
        && [
            "no provider",
            "not loaded",
            "failed to load",
            "no credentials",
            "not enabled",
        ]
        .iter()
        .any(|m| lower.contains(m))
}

/// The endpoint could not be reached, or the request timed out.
fn transport<E>(
    err: &SdkError<E, HttpResponse>,
    what: &str,
    where_: &str,
    detail: &str,
) -> Option<StoreError> {
    if let SdkError::DispatchFailure(d) = err {
        let kind = if d.is_timeout() {
            "timed out"
        } else {
            "unreachable"
        };
        return Some(StoreError::failed(
            format!("endpoint{} {kind} for {what}: {}", where_, first_line(detail)),
            "check `endpoint` in site.toml and AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_CLOUDFRONT, \
             and the network; then run again (nothing was recorded as deployed)",
        ));
    }
    if let SdkError::TimeoutError(_) = err {
        return Some(StoreError::failed(
            format!("request for {what} timed out{where_}"),
            "run again; nothing was recorded as deployed",
        ));
    }
    None
}

fn first_line(s: &str) -> String {
    let s = s.lines().next().unwrap_or("");
    if s.len() > 300 {
        format!(
            "{}…",
            &s[..s
                .char_indices()
                .take_while(|(i, _)| *i < 300)
                .last()
                .map(|(i, _)| i)
                .unwrap_or(0)]
        )
    } else {
        s.to_string()
    }
}
