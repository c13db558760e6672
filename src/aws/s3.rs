//! [`ObjectStore`] on S3 (or an S3-compatible store): PutObject (multipart above a threshold), DeleteObjects in
//! batches with per-key errors checked, CopyObject (renames, header updates), conditional PutObject for the state
//! record. No LIST, no HEAD. Counts the attempts S3 throttled or left unanswered ([`ObjectStore::congestion`])
//! for the executor's adaptive limit; how many to send at once is not decided here.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Delete, MetadataDirective, ObjectIdentifier,
};
use aws_sdk_s3::Client;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    FinalizerInterceptorContextRef, InterceptorContext,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority, RetryReason,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::retry::ErrorKind;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::classify;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use std::io::Read;

use crate::exec::{
    read_part, ObjectHeaders, ObjectStore, Precondition, StoreError, StoreProfile, Versioned,
    Versions, PART_SIZE,
};

/// Everything but unreserved characters and `/` is encoded in a CopySource key.
const COPY_SOURCE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The object's headers on each of S3's writes (PutObject, CreateMultipartUpload, CopyObject): one place per
/// header, so a new kind of header is one line here.
macro_rules! with_headers {
    ($req:expr, $h:expr) => {{
        let h: &ObjectHeaders = $h;
        let mut req = $req
            .content_type(&h.content_type)
            .set_cache_control(h.cache_control.clone())
            .set_content_encoding(h.content_encoding.clone())
            .set_content_disposition(h.content_disposition.clone());
        for (k, v) in h.all_metadata() {
            req = req.metadata(k, v);
        }
        req
    }};
}

pub struct S3Store {
    /// For the state record and multipart uploads: the SDK retries throttled attempts itself.
    client: Client,
    /// For the requests the executor's flow sends (and retries when throttled): see [`ThrottledToFlow`].
    flow_client: Client,
    bucket: String,
    prefix: String,
    endpoint: Option<String>,
    congestion: Arc<AtomicU64>,
    /// Redirects as HTML pages, not the redirect header (see [`S3Store::with_redirect_pages`]).
    redirect_pages: bool,
}

/// Counts every attempt (retries included) answered 503/429 or not answered at all (timeout, reset).
#[derive(Debug)]
struct CongestionCounter(Arc<AtomicU64>);

impl Intercept for CongestionCounter {
    fn name(&self) -> &'static str {
        "CongestionCounter"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let congested = match context.response() {
            Some(r) => matches!(r.status().as_u16(), 429 | 503),
            None => context.output_or_error().is_some_and(|r| r.is_err()),
        };
        if congested {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The error codes the SDK retries as throttling (`aws_runtime::retries::classifiers::THROTTLING_ERRORS`):
/// [`ThrottledToFlow`] leaves them to the flow, so [`S3Store::error`] must call them throttled too.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Leaves a throttled attempt (503, 429, or a throttling error code) to the executor's flow instead of the
/// SDK's retry: the SDK would wait out its backoff inside the request, holding the request's slot in flight
/// (fewer requests in flight than the limit allows) and hiding the store's answer time from the flow. The
/// flow cuts the limit, frees the slot, and tries the request again after a short pause. Other retryable
/// errors (timeouts, resets, 500s) are still the SDK's.
#[derive(Debug)]
struct ThrottledToFlow;

impl ClassifyRetry for ThrottledToFlow {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        self.classify_retry_v2(ctx, &RetryAction::NoActionIndicated)
    }

    fn classify_retry_v2(&self, ctx: &InterceptorContext, previous: &RetryAction) -> RetryAction {
        let status = ctx.response().map(|r| r.status().as_u16());
        let throttling = matches!(
            previous,
            RetryAction::RetryIndicated(RetryReason::RetryableError {
                kind: ErrorKind::ThrottlingError,
                ..
            })
        );
        if throttling || matches!(status, Some(429 | 503)) {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "ThrottledToFlow"
    }

    fn priority(&self) -> RetryClassifierPriority {
        // After the SDK's own classifiers, to see what they made of the answer.
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

impl S3Store {
    pub fn new(client: Client, bucket: &str, prefix: &str, endpoint: Option<String>) -> Self {
        let congestion = Arc::new(AtomicU64::new(0));
        let conf = client
            .config()
            .to_builder()
            .interceptor(CongestionCounter(congestion.clone()))
            .build();
        let flow_conf = conf.to_builder().retry_classifier(ThrottledToFlow).build();
        S3Store {
            flow_client: Client::from_conf(flow_conf),
            client: Client::from_conf(conf),
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            endpoint,
            congestion,
            redirect_pages: false,
        }
    }

    /// A store with no redirect header (Cloudflare R2 refuses `x-amz-website-redirect-location`): a redirect
    /// is written as a small HTML page that redirects ([`crate::exec::redirect_page`]).
    pub fn with_redirect_pages(self) -> Self {
        S3Store {
            redirect_pages: true,
            ..self
        }
    }

    fn what(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, key)
    }

    /// [`classify`], with throttling kept apart so that the executor tries again instead of failing the file.
    fn error<E>(&self, err: &SdkError<E, HttpResponse>, key: &str) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let e = classify(err, &self.what(key), self.endpoint.as_deref());
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = err.code().unwrap_or_default();
        if matches!(status, Some(429 | 503)) || THROTTLING_CODES.contains(&code) {
            return StoreError::Throttled(e.to_string());
        }
        e
    }

    /// Parts one after the other (an upload holds one slot of the executor's in-flight limit, parts included),
    /// then the completion; an upload that fails is aborted.
    async fn put_multipart(
        &self,
        key: &str,
        reader: Box<dyn Read + Send>,
        h: &ObjectHeaders,
    ) -> Result<(), StoreError> {
        let req = with_headers!(
            self.client
                .create_multipart_upload()
                .bucket(&self.bucket)
                .key(key),
            h
        );
        let created = req.send().await.map_err(|e| self.error(&e, key))?;
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        let result = self.send_parts(key, &upload_id, reader).await;
        if result.is_err() {
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }

    async fn send_parts(
        &self,
        key: &str,
        upload_id: &str,
        mut reader: Box<dyn Read + Send>,
    ) -> Result<(), StoreError> {
        let mut parts = Vec::new();
        for n in 1.. {
            let (chunk, rest) = read_part(reader).await.map_err(|e| {
                StoreError::failed(
                    format!("reading the blob for {}: {e}", self.what(key)),
                    "run again",
                )
            })?;
            reader = rest;
            if chunk.is_empty() && n > 1 {
                break;
            }
            let last = chunk.len() < PART_SIZE;
            let out = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(n)
                .body(ByteStream::from(chunk))
                .send()
                .await
                .map_err(|e| self.error(&e, key))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(n)
                    .set_e_tag(out.e_tag().map(str::to_string))
                    .build(),
            );
            if last {
                break;
            }
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| self.error(&e, key))?;
        Ok(())
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    fn congestion(&self) -> u64 {
        self.congestion.load(Ordering::Relaxed)
    }

    fn describe(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    async fn put_stream(
        &self,
        key: &str,
        _size: u64,
        reader: Box<dyn Read + Send>,
        h: &ObjectHeaders,
    ) -> Result<(), StoreError> {
        self.put_multipart(key, reader, h).await
    }

    async fn put(
        &self,
        key: &str,
        body: bytes::Bytes,
        h: &ObjectHeaders,
    ) -> Result<(), StoreError> {
        let req = with_headers!(
            self.flow_client.put_object().bucket(&self.bucket).key(key),
            h
        );
        req.body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.error(&e, key))?;
        Ok(())
    }

    /// A zero-byte object whose `x-amz-website-redirect-location` the S3 website endpoint answers with a
    /// 301 (REST/OAC origins ignore it: there the CloudFront function answers, see `cdn-function`).
    async fn put_redirect(&self, key: &str, location: &str) -> Result<(), StoreError> {
        if self.redirect_pages {
            return crate::exec::put_redirect_page(self, key, location).await;
        }
        self.flow_client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("text/html; charset=utf-8")
            .website_redirect_location(location)
            .body(ByteStream::from(Vec::new()))
            .send()
            .await
            .map_err(|e| self.error(&e, key))?;
        Ok(())
    }

    async fn copy(&self, from: &str, to: &str, h: &ObjectHeaders) -> Result<(), StoreError> {
        // CopySource is `bucket/key`, URL-encoded (keys may hold spaces, `+`, non-ASCII).
        let source = format!(
            "{}/{}",
            self.bucket,
            percent_encoding::utf8_percent_encode(from, COPY_SOURCE)
        );
        let req = with_headers!(
            self.flow_client
                .copy_object()
                .bucket(&self.bucket)
                .key(to)
                .copy_source(source)
                .metadata_directive(MetadataDirective::Replace),
            h
        );
        req.send().await.map_err(|e| self.error(&e, to))?;
        Ok(())
    }

    /// DeleteObjects takes 1,000 keys; CopyObject onto itself with `MetadataDirective: REPLACE` sets
    /// headers; conditional writes compare ETags.
    fn profile(&self) -> StoreProfile {
        StoreProfile {
            max_keys_per_delete: 1000,
            copies_in_place: true,
            versions: Versions::ETag,
        }
    }

    async fn delete_batch(&self, keys: &[String]) -> Result<(), StoreError> {
        let objects = keys
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::failed(e.to_string(), ""))?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| StoreError::failed(e.to_string(), ""))?;
        let out = self
            .flow_client
            .delete_objects()
            .bucket(&self.bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| self.error(&e, &keys[0]))?;
        let errors = out.errors();
        if !errors.is_empty() {
            let list: Vec<String> = errors
                .iter()
                .take(10)
                .map(|e| {
                    format!(
                        "{} ({})",
                        e.key().unwrap_or("?"),
                        e.code().unwrap_or("error")
                    )
                })
                .collect();
            return Err(StoreError::failed(
                format!(
                    "{} of {} deletes failed in s3://{}: {}",
                    errors.len(),
                    keys.len(),
                    self.bucket,
                    list.join(", ")
                ),
                "check `s3:DeleteObject` permission for these keys, then run again",
            ));
        }
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = (self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix))
            .set_continuation_token(token.clone())
            .send()
            .await
            .map_err(|e| self.error(&e, prefix))?;
            out.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) && Some(t) != token.as_deref() => {
                    token = Some(t.to_string())
                }
                _ => break,
            }
        }
        out.sort();
        Ok(out)
    }

    async fn get_versioned(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        let res = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        match res {
            Ok(out) => {
                let etag = out.e_tag().unwrap_or_default().to_string();
                let size = out.content_length().unwrap_or(0).max(0) as u64;
                if size > crate::exec::MAX_VERSIONED_BYTES {
                    return Err(crate::exec::too_large(&self.what(key), size, etag));
                }
                let body = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| {
                        StoreError::failed(format!("reading {}: {e}", self.what(key)), "run again")
                    })?
                    .into_bytes()
                    .to_vec();
                Ok(Some(Versioned { body, etag }))
            }
            Err(e) => {
                if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                    return Ok(None);
                }
                Err(classify(&e, &self.what(key), self.endpoint.as_deref()))
            }
        }
    }

    async fn put_versioned(
        &self,
        key: &str,
        body: Vec<u8>,
        cond: Precondition,
    ) -> Result<String, StoreError> {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .cache_control("no-store")
            .body(ByteStream::from(body));
        let replacing = matches!(cond, Precondition::Matches(_));
        req = match cond {
            Precondition::Absent => req.if_none_match("*"),
            Precondition::Matches(etag) => req.if_match(etag),
        };
        let out = req.send().await.map_err(|e| {
            // `If-Match` on a key that is gone answers 404 NoSuchKey (S3, R2), not 412: the object is not the
            // one expected either, so the caller reads it again as after a 412.
            let gone = e.raw_response().is_some_and(|r| r.status().as_u16() == 404)
                && e.code() != Some("NoSuchBucket");
            match replacing && gone {
                true => StoreError::PreconditionFailed,
                false => classify(&e, &self.what(key), self.endpoint.as_deref()),
            }
        })?;
        Ok(out.e_tag().unwrap_or_default().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::interceptors::context::Input;
    use aws_smithy_types::body::SdkBody;

    #[test]
    fn throttled_answers_are_left_to_the_flow_and_other_retries_to_the_sdk() {
        // (status of the answer, what the SDK's classifiers made of it, what is left of that)
        let throttling = RetryAction::throttling_error();
        let transient = RetryAction::transient_error();
        let table = [
            (503, &throttling, RetryAction::RetryForbidden),
            (503, &transient, RetryAction::RetryForbidden),
            (
                429,
                &RetryAction::NoActionIndicated,
                RetryAction::RetryForbidden,
            ),
            (400, &throttling, RetryAction::RetryForbidden),
            (500, &transient, RetryAction::NoActionIndicated),
            (
                200,
                &RetryAction::NoActionIndicated,
                RetryAction::NoActionIndicated,
            ),
        ];
        for (status, previous, want) in table {
            let mut ctx = InterceptorContext::new(Input::doesnt_matter());
            ctx.set_response(HttpResponse::new(
                status.try_into().expect("status"),
                SdkBody::empty(),
            ));
            assert_eq!(
                ThrottledToFlow.classify_retry_v2(&ctx, previous),
                want,
                "HTTP {status} after {previous}"
            );
        }
    }
}
