//! The executor: carries out a [`Plan`] against two narrow traits, an object store and a CDN.
//!
//! It makes no decisions: order, keys, headers and paths all come from the plan. It owns concurrency (bounded),
//! reading blob bytes (through [`Blobs`]) and reporting progress as [`Event`]s. Backends live in submodules:
//! S3 ([`s3`]), a local directory ([`local`]), CloudFront ([`cloudfront`]); [`aws`] builds the SDK clients.
//! Only those backend modules touch the AWS SDK.

pub mod aws;
pub mod cloudfront;
pub mod local;
pub mod s3;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;

use crate::plan::{Plan, Upload};

/// Headers stored with an object.
#[derive(Debug, Clone, Default)]
pub struct ObjectHeaders {
    pub content_type: String,
    /// The git blob id, stored as `x-amz-meta-git-blob` so a later check doesn't depend on ETags.
    pub git_blob: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Create only if absent (`If-None-Match: *`).
    Absent,
    /// Replace only if unchanged (`If-Match: etag`).
    Matches(String),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The precondition did not hold: someone else wrote first (HTTP 412).
    #[error("precondition failed")]
    PreconditionFailed,
    /// A concurrent conditional write is in flight (HTTP 409): re-read and retry.
    #[error("conflicting concurrent write")]
    Conflict,
    #[error("{message}")]
    Failed { message: String, hint: String },
}

impl StoreError {
    pub fn failed(message: impl Into<String>, hint: impl Into<String>) -> Self {
        StoreError::Failed {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// A versioned small object (the state record).
#[derive(Debug, Clone)]
pub struct Versioned {
    pub body: Vec<u8>,
    pub etag: String,
}

/// Where the site's files go. Keys are full keys (prefix included).
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Human-readable location, e.g. `s3://bucket/prefix` (never credentials).
    fn describe(&self) -> String;
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        headers: &ObjectHeaders,
    ) -> Result<(), StoreError>;
    /// Delete up to 1,000 keys; every per-key failure is an error naming the keys.
    async fn delete_batch(&self, keys: &[String]) -> Result<(), StoreError>;
    async fn get_versioned(&self, key: &str) -> Result<Option<Versioned>, StoreError>;
    /// Conditional write; returns the new version tag.
    async fn put_versioned(
        &self,
        key: &str,
        body: Vec<u8>,
        cond: Precondition,
    ) -> Result<String, StoreError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidationStatus {
    InProgress,
    Completed,
}

/// A CDN in front of the store.
#[async_trait]
pub trait Cdn: Send + Sync {
    fn describe(&self) -> String;
    /// Create one invalidation (≤ 3,000 paths). The same `caller_reference` with the same paths returns the
    /// existing invalidation, so retries after a crash are safe. Returns its id.
    async fn invalidate(
        &self,
        caller_reference: &str,
        paths: &[String],
    ) -> Result<String, StoreError>;
    async fn status(&self, id: &str) -> Result<InvalidationStatus, StoreError>;
}

/// Reads blob bytes by id (implemented by the git source).
pub trait Blobs: Send + Sync + 'static {
    fn read(&self, id: &str) -> Result<Vec<u8>, String>;
}

impl Blobs for crate::source::BlobReader {
    fn read(&self, id: &str) -> Result<Vec<u8>, String> {
        crate::source::BlobReader::read(self, id)
    }
}

/// Progress reported while executing.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    Phase(&'static str, usize),
    Uploaded {
        key: &'a str,
        bytes: u64,
    },
    Deleted {
        count: usize,
    },
    Invalidated {
        id: &'a str,
        paths: usize,
    },
    /// CloudFront refused for now (TooManyInvalidationsInProgress); retrying after `delay`.
    Throttled {
        delay: Duration,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("uploading {key}: {source}")]
    Upload { key: String, source: StoreError },
    #[error("reading blob {blob} for {key}: {message}")]
    Blob {
        key: String,
        blob: String,
        message: String,
    },
    #[error("deleting: {0}")]
    Delete(StoreError),
    #[error("invalidating: {0}")]
    Invalidate(StoreError),
}

/// CloudFront accepts at most 3,000 paths per invalidation.
pub const MAX_PATHS_PER_INVALIDATION: usize = 3000;
/// S3 DeleteObjects takes at most 1,000 keys.
pub const MAX_KEYS_PER_DELETE: usize = 1000;

#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub uploaded_bytes: u64,
    pub invalidation_ids: Vec<String>,
}

pub struct Executor<'a> {
    pub store: &'a dyn ObjectStore,
    pub cdn: Option<&'a dyn Cdn>,
    pub blobs: Arc<dyn Blobs>,
    pub concurrency: usize,
    /// Base for CallerReference (target + commits); the batch number is appended.
    pub caller_reference: String,
}

impl Executor<'_> {
    /// Run the plan's steps in order: non-HTML uploads, HTML uploads, deletes, invalidation.
    /// (The state write that follows is the caller's: see `state`.)
    pub async fn run(
        &self,
        plan: &Plan,
        on: &(dyn Fn(Event) + Sync),
    ) -> Result<Outcome, ExecError> {
        let mut outcome = Outcome::default();
        let (assets, pages): (Vec<&Upload>, Vec<&Upload>) =
            plan.uploads.iter().partition(|u| !u.is_html());
        for (phase, group) in [("assets", assets), ("pages", pages)] {
            if group.is_empty() {
                continue;
            }
            on(Event::Phase(phase, group.len()));
            let bytes = self.upload_all(&group, on).await?;
            outcome.uploaded_bytes += bytes;
        }
        if !plan.deletes.is_empty() {
            on(Event::Phase("deletes", plan.deletes.len()));
            for batch in plan.deletes.chunks(MAX_KEYS_PER_DELETE) {
                self.store
                    .delete_batch(batch)
                    .await
                    .map_err(ExecError::Delete)?;
                on(Event::Deleted { count: batch.len() });
            }
        }
        if let (Some(cdn), false) = (self.cdn, plan.invalidations.is_empty()) {
            on(Event::Phase("invalidation", plan.invalidations.len()));
            for (i, batch) in plan
                .invalidations
                .chunks(MAX_PATHS_PER_INVALIDATION)
                .enumerate()
            {
                let reference = format!("{}-{}", self.caller_reference, i);
                let id = invalidate_with_backoff(cdn, &reference, batch)
                    .await
                    .map_err(ExecError::Invalidate)?;
                on(Event::Invalidated {
                    id: &id,
                    paths: batch.len(),
                });
                outcome.invalidation_ids.push(id);
            }
        }
        Ok(outcome)
    }

    async fn upload_all(
        &self,
        group: &[&Upload],
        on: &(dyn Fn(Event) + Sync),
    ) -> Result<u64, ExecError> {
        let total = std::sync::atomic::AtomicU64::new(0);
        futures::stream::iter(group.iter().map(Ok::<_, ExecError>))
            .try_for_each_concurrent(self.concurrency, |u| {
                let total = &total;
                async move {
                    let blobs = self.blobs.clone();
                    let blob = u.blob.clone();
                    let body = tokio::task::spawn_blocking(move || blobs.read(&blob))
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|r| r)
                        .map_err(|message| ExecError::Blob {
                            key: u.key.clone(),
                            blob: u.blob.clone(),
                            message,
                        })?;
                    let len = body.len() as u64;
                    let headers = ObjectHeaders {
                        content_type: u.content_type.clone(),
                        git_blob: u.blob.clone(),
                    };
                    self.store
                        .put(&u.key, body, &headers)
                        .await
                        .map_err(|source| ExecError::Upload {
                            key: u.key.clone(),
                            source,
                        })?;
                    total.fetch_add(len, std::sync::atomic::Ordering::Relaxed);
                    on(Event::Uploaded {
                        key: &u.key,
                        bytes: len,
                    });
                    Ok(())
                }
            })
            .await?;
        Ok(total.into_inner())
    }
}

/// CloudFront answers `TooManyInvalidationsInProgress` when 3,000 paths / 15 wildcards are in flight: wait
/// and retry (bounded), beyond what the SDK's own retries do.
async fn invalidate_with_backoff(
    cdn: &dyn Cdn,
    reference: &str,
    paths: &[String],
) -> Result<String, StoreError> {
    let mut delay = Duration::from_secs(2);
    let mut attempt = 0;
    loop {
        match cdn.invalidate(reference, paths).await {
            Err(StoreError::Conflict) if attempt < 8 => {
                tracing::warn!(
                    "too many invalidations in progress; retrying in {}s",
                    delay.as_secs()
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(60));
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Poll until every invalidation completes, or `timeout` passes.
pub async fn wait_invalidations(
    cdn: &dyn Cdn,
    ids: &[String],
    timeout: Duration,
    poll: Duration,
    on_wait: &(dyn Fn(usize, Duration) + Sync),
) -> Result<bool, StoreError> {
    let start = std::time::Instant::now();
    let mut pending: Vec<&String> = ids.iter().collect();
    loop {
        let mut still = Vec::new();
        for id in pending {
            if cdn.status(id).await? == InvalidationStatus::InProgress {
                still.push(id);
            }
        }
        pending = still;
        if pending.is_empty() {
            return Ok(true);
        }
        if start.elapsed() >= timeout {
            return Ok(false);
        }
        on_wait(pending.len(), start.elapsed());
        tokio::time::sleep(poll).await;
    }
}
