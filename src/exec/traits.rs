//! The seams: what the executor asks of an object store ([`ObjectStore`], its [`StoreProfile`] and
//! [`StoreError`]) and of a CDN ([`Cdn`], [`EdgeFunction`], [`CdnError`]), what it reads blobs through
//! ([`Blobs`]), the headers an object is stored with, and what it reports ([`Event`], [`ExecError`]).
//! A leaf of `exec`: the executor, the flow, the invalidations and every adapter import it, and it imports
//! none of them.

use std::io::Read;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::plan::Encoding;

/// Headers stored with an object.
#[derive(Debug, Clone, Default)]
pub struct ObjectHeaders {
    pub content_type: String,
    pub cache_control: Option<String>,
    /// `Content-Encoding` (the bytes given are already encoded).
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    /// `x-amz-meta-*`, from the rules.
    pub metadata: std::collections::BTreeMap<String, String>,
    /// The git blob id, stored as `x-amz-meta-git-blob` so a later check doesn't depend on ETags.
    pub git_blob: String,
    /// Git mode 100755: a local directory writes the file executable (S3 ignores it).
    pub executable: bool,
}

impl ObjectHeaders {
    /// Every user metadata entry, git-publish's own included.
    pub fn all_metadata(&self) -> impl Iterator<Item = (&str, &str)> {
        self.metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(std::iter::once(("git-blob", self.git_blob.as_str())))
    }
}

/// Write a redirect to `location` at `key` as a small HTML page ([`redirect_page`]): the default
/// [`ObjectStore::put_redirect`], and the form a store without a redirect field uses (R2).
pub async fn put_redirect_page<S: ObjectStore + ?Sized>(
    store: &S,
    key: &str,
    location: &str,
) -> Result<(), StoreError> {
    let headers = ObjectHeaders {
        content_type: "text/html; charset=utf-8".into(),
        ..ObjectHeaders::default()
    };
    store
        .put(key, redirect_page(location).into_bytes().into(), &headers)
        .await
}

/// A page that sends the browser to `location` (and tells search engines where the page lives now), for
/// stores that can't answer with a redirect status.
pub fn redirect_page(location: &str) -> String {
    let l = location
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n<meta http-equiv=\"refresh\" content=\"0; url={l}\">\n\
         <link rel=\"canonical\" href=\"{l}\">\n<title>Moved</title></head>\n\
         <body><p>This page has moved to <a href=\"{l}\">{l}</a>.</p></body></html>\n"
    )
}

/// Compress `body` as the plan decided. Deterministic (no timestamps), so the same blob gives the same bytes.
pub fn encode(body: &[u8], enc: Encoding) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    match enc {
        Encoding::Gzip => {
            let mut e = flate2::GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), flate2::Compression::best());
            e.write_all(body)?;
            e.finish()
        }
        Encoding::Br => {
            let mut out = Vec::new();
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 64 * 1024, 11, 22);
                w.write_all(body)?;
                w.flush()?;
            }
            Ok(out)
        }
    }
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
    /// The store asked us to slow down (503 SlowDown, 429) and the SDK's retries gave up: try again later.
    #[error("{0}")]
    Throttled(String),
    /// A versioned object larger than [`MAX_VERSIONED_BYTES`]: not read. Its ETag, so that it can still be
    /// replaced conditionally (`--force-state`).
    #[error("{what} is {size} bytes, more than the {} MiB a deploy record can be", MAX_VERSIONED_BYTES >> 20)]
    TooLarge {
        what: String,
        size: u64,
        etag: String,
    },
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

/// Why a CDN refused or failed a request: its own type, so that [`StoreError::Conflict`] means only a store's
/// concurrent write.
#[derive(Debug, thiserror::Error)]
pub enum CdnError {
    /// The CDN asked us to slow down and the retries gave up: try again later.
    #[error("{0}")]
    Throttled(String),
    /// Too many invalidations in progress (CloudFront's TooManyInvalidationsInProgress): wait and send again.
    #[error("conflicting concurrent write")]
    TooManyInProgress,
    /// Not allowed: the message and the fix (a policy to attach).
    #[error("{message}")]
    Denied { message: String, hint: String },
    #[error("{message}")]
    Failed { message: String, hint: String },
}

impl CdnError {
    pub fn failed(message: impl Into<String>, hint: impl Into<String>) -> Self {
        CdnError::Failed {
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// The fix the CDN's adapter suggests ("" when it has none).
    pub fn hint(&self) -> &str {
        match self {
            CdnError::Denied { hint, .. } | CdnError::Failed { hint, .. } => hint,
            _ => "",
        }
    }
}

/// The fix for `e`: the adapter's own (a token to set, a permission to grant), then `then`, what the caller's
/// step leaves behind and how to go on; `then` alone when the adapter has none.
pub fn with_hint(e: &CdnError, then: &str) -> String {
    match e.hint() {
        "" => then.to_string(),
        own => format!("{own}; {then}"),
    }
}

/// An adapter's requests may be classified as a store's are (`aws::classify`), then taken as the CDN's.
impl From<StoreError> for CdnError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Throttled(m) => CdnError::Throttled(m),
            StoreError::Failed { message, hint } => CdnError::Failed { message, hint },
            other => CdnError::failed(other.to_string(), ""),
        }
    }
}

/// The most a versioned object (the state record) may hold: a record keeps 20 deploys and the deferred deletes
/// of one publish, a few MiB at the very most. A bigger object is not read (a 62 MB one was read whole, to
/// 354 MB of memory): it is reported as too large, naming it, and nothing else is read or written.
pub const MAX_VERSIONED_BYTES: u64 = 16 << 20;

/// The error for a versioned object over [`MAX_VERSIONED_BYTES`], with its version tag.
pub fn too_large(what: &str, size: u64, etag: String) -> StoreError {
    StoreError::TooLarge {
        what: what.to_string(),
        size,
        etag,
    }
}

/// What an [`ObjectStore`] can do, as data (see [`ObjectStore::profile`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreProfile {
    /// Keys one [`ObjectStore::delete_batch`] takes (S3's DeleteObjects: 1,000).
    pub max_keys_per_delete: usize,
    /// Headers are changed in place by copying an object onto itself ([`ObjectStore::copy`] with
    /// `from == to`), not by sending its bytes again.
    pub copies_in_place: bool,
    /// What a conditional write compares ([`Precondition::Matches`] carries it as a string).
    pub versions: Versions,
}

/// What a store's conditional writes compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versions {
    /// An entity tag (`If-Match`, `If-None-Match: *`): S3, a local directory (a hash of the bytes).
    ETag,
    /// A generation number (`ifGenerationMatch`, 0 for absent): GCS.
    Generation,
}

impl StoreProfile {
    /// S3's: 1,000 keys a delete, headers in place, ETags.
    pub const DEFAULT: StoreProfile = StoreProfile {
        max_keys_per_delete: 1000,
        copies_in_place: true,
        versions: Versions::ETag,
    };
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
    async fn put(&self, key: &str, body: Bytes, headers: &ObjectHeaders) -> Result<(), StoreError>;
    /// Upload a large object from a reader, holding at most a part (`PART_SIZE`) in memory.
    async fn put_stream(
        &self,
        key: &str,
        size: u64,
        reader: Box<dyn Read + Send>,
        headers: &ObjectHeaders,
    ) -> Result<(), StoreError>;
    /// Copy `from` to `to` inside the store with `headers` replacing the source's (S3 CopyObject with
    /// `MetadataDirective: REPLACE`; `from == to` updates headers in place).
    async fn copy(&self, from: &str, to: &str, headers: &ObjectHeaders) -> Result<(), StoreError>;
    /// Whether objects keep their headers (false for a local directory: there the bytes are stored as they
    /// are in git, never pre-compressed, since no header would tell a web server they are).
    fn keeps_headers(&self) -> bool {
        true
    }
    /// What the store can do, as data: how many keys one delete takes, whether headers are set in place, its
    /// conditional writes. The default is the most common (S3's limits); a store says its own.
    fn profile(&self) -> StoreProfile {
        StoreProfile::DEFAULT
    }
    /// Remove what an interrupted publish (kill -9) left behind that is not part of the site, e.g. a local
    /// directory's temporary files. Called by a publish that resumes one, while it holds the claim. Returns
    /// how many leftovers it removed.
    async fn remove_leftovers(&self) -> Result<usize, StoreError> {
        Ok(0)
    }
    /// How many requests so far were throttled (503, 429) or got no answer (timeouts, resets), counting every
    /// attempt: the adaptive in-flight limit backs off when this grows.
    fn congestion(&self) -> u64 {
        0
    }
    /// Write a redirect to `location` (a URL path or an absolute URL) at `key`. The default, for stores with
    /// no redirect field (a local directory), is a small HTML page that redirects (see [`redirect_page`]).
    async fn put_redirect(&self, key: &str, location: &str) -> Result<(), StoreError> {
        put_redirect_page(self, key, location).await
    }
    /// Delete up to [`StoreProfile::max_keys_per_delete`] keys; every per-key failure is an error naming the
    /// keys.
    async fn delete_batch(&self, keys: &[String]) -> Result<(), StoreError>;
    /// Every key that starts with `prefix`, sorted. A publish never lists (the diff says what to send); only
    /// previews' records and a preview's removal do, each under its own reserved prefix.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
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

/// One invalidation request: a reference a retry repeats (an idempotency token the CDN may ignore) and the
/// addresses, paths or absolute URLs as the CDN's profile says.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    pub reference: &'a str,
    pub addresses: &'a [String],
}

/// A CDN in front of the store.
#[async_trait]
pub trait Cdn: Send + Sync {
    fn describe(&self) -> String;
    /// Send one batch of the plan (within the CDN's [`crate::plan::invalidate::CdnProfile`]). Returns an id
    /// for [`Cdn::status`]. A CDN that can (CloudFront) makes the batch's `reference` its idempotency token: the
    /// same reference with the same addresses returns the existing invalidation, so retries after a crash are
    /// safe; one that can't ignores it (a purge sent twice purges twice).
    async fn invalidate(&self, batch: Batch<'_>) -> Result<String, CdnError>;
    /// Whether the invalidation `id` is done. The default, for CDNs whose purge is done when it is answered:
    /// completed.
    async fn status(&self, id: &str) -> Result<InvalidationStatus, CdnError> {
        let _ = id;
        Ok(InvalidationStatus::Completed)
    }
    /// `doctor`'s read-only look at the CDN with the credentials a publish would use: what was read ("URL map
    /// x"), or why not. The default, for a CDN `doctor` checks elsewhere (CloudFront, in `aws::checks`) or not
    /// at all: None.
    async fn check_access(&self) -> Option<Result<String, CdnError>> {
        None
    }
    /// The managed edge function, for a CDN that can run one (CloudFront: a Function and its KeyValueStore).
    /// The default: none.
    fn edge_function(&self) -> Option<&dyn EdgeFunction> {
        None
    }
}

/// A CDN's optional capability: running the managed viewer-request function (`cdn_function = "manage"`).
#[async_trait]
pub trait EdgeFunction: Send + Sync {
    /// Publish the viewer-request function `f` (only if the live code or the KeyValueStore it reads
    /// differs; the store's keys only where they differ) and make the distribution run it. Returns whether
    /// anything changed.
    async fn ensure_function(&self, f: &crate::plan::Function) -> Result<bool, CdnError>;
    /// Before anything is written: whether [`EdgeFunction::ensure_function`] may change what it would (the
    /// function, its store and the distribution are this site's). Read-only.
    async fn check_function(&self, f: &crate::plan::Function) -> Result<(), CdnError>;
}

/// Publish `f` on `cdn` ([`EdgeFunction::ensure_function`]); a CDN without an edge function refuses it.
pub async fn ensure_function(cdn: &dyn Cdn, f: &crate::plan::Function) -> Result<bool, CdnError> {
    match cdn.edge_function() {
        Some(e) => e.ensure_function(f).await,
        None => Err(CdnError::failed(
            format!("{} can't run a CloudFront function", cdn.describe()),
            "remove `cdn_function` from the target",
        )),
    }
}

/// Check `f` on `cdn` ([`EdgeFunction::check_function`]); nothing to check on a CDN without an edge function
/// (publishing it fails later, at [`ensure_function`]).
pub async fn check_function(cdn: &dyn Cdn, f: &crate::plan::Function) -> Result<(), CdnError> {
    match cdn.edge_function() {
        Some(e) => e.check_function(f).await,
        None => Ok(()),
    }
}

/// Reads blob bytes by id (implemented by the git source).
pub trait Blobs: Send + Sync + 'static {
    fn read(&self, id: &str) -> Result<Vec<u8>, String>;
    fn size(&self, id: &str) -> Result<u64, String>;
    /// A reader for blobs too large to hold in memory.
    fn stream(&self, id: &str) -> Result<Box<dyn Read + Send>, String>;
}

impl Blobs for crate::source::BlobReader {
    fn read(&self, id: &str) -> Result<Vec<u8>, String> {
        crate::source::BlobReader::read(self, id)
    }
    fn size(&self, id: &str) -> Result<u64, String> {
        crate::source::BlobReader::size(self, id)
    }
    fn stream(&self, id: &str) -> Result<Box<dyn Read + Send>, String> {
        crate::source::BlobReader::stream(self, id)
    }
}

/// Blobs at least this large are streamed in parts of [`PART_SIZE`] instead of read whole.
pub const STREAM_THRESHOLD: u64 = 16 * 1024 * 1024;
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Bytes of file content held in memory at once across all concurrent uploads (two streamed parts). With
/// 48 MiB the images at the start of a 20,000-file first publish (~1,400 files of ~110 KB, 150 in flight and
/// more read ahead) left ~60 MB of heap behind, and the process peaked over the 100 MiB goal; 16 MiB is still
/// ~150 such images in flight.
pub const MEMORY_BUDGET: usize = 16 * 1024 * 1024;

/// Read up to `PART_SIZE` bytes (fewer only at the end) from a blocking reader, off the async threads.
pub async fn read_part(
    mut reader: Box<dyn Read + Send>,
) -> std::io::Result<(Vec<u8>, Box<dyn Read + Send>)> {
    tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; PART_SIZE];
        let mut filled = 0;
        while filled < buf.len() {
            let n = reader.read(&mut buf[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        buf.truncate(filled);
        Ok((buf, reader))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Something the user should read while a backend is set up (e.g. a CDN's distributions resolved); the
/// caller prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Note(String),
    Warn(String),
}

/// Progress reported while executing.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    Phase(&'static str, usize),
    Uploaded {
        key: &'a str,
        bytes: u64,
    },
    Copied {
        key: &'a str,
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
    Invalidate(CdnError),
    /// The managed viewer-request function could not be published or associated: the distribution, and the
    /// store's own hint (the IAM policy for an access denial, else how to do without the function).
    #[error(
        "publishing the CloudFront function of distribution {distribution}: {source}{}",
        function_hint(source)
    )]
    Function {
        distribution: String,
        source: CdnError,
    },
}

fn function_hint(e: &CdnError) -> String {
    match e.hint() {
        "" => " (set `cdn_function = \"off\"` for the target to publish without it)".into(),
        hint => format!(" ({hint})"),
    }
}

impl ExecError {
    /// Whether the store throttled the request (worth trying again after a pause).
    pub fn is_throttled(&self) -> bool {
        matches!(
            self,
            ExecError::Upload {
                source: StoreError::Throttled(_),
                ..
            } | ExecError::Delete(StoreError::Throttled(_))
        )
    }
}
