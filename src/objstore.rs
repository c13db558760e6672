//! One adapter for the object stores the `object_store` crate reaches (Google Cloud Storage, Azure Blob
//! Storage): [`CloudStore`] implements the executor's [`ObjectStore`] over an `object_store` client that
//! `gcp/` or `azure/` builds, with that store's truth in its [`StoreProfile`] and the fixes its errors name in
//! its [`Hints`].
//!
//! Owns turning the executor's requests into the crate's (headers as `Attributes`, a conditional write as
//! `PutMode`, a stream as a multipart upload holding one part) and the crate's errors into [`StoreError`]s.
//! Neither store has a redirect field: redirects are HTML pages (the trait's default). Neither can change an
//! object's headers by copying it onto itself, so [`StoreProfile::copies_in_place`] is false and the executor
//! sends the bytes again; [`ObjectStore::copy`] here reads the source and writes it with the new headers.

use std::borrow::Cow;
use std::io::Read;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{
    Attribute, AttributeValue, Attributes, ObjectStore as Client, ObjectStoreExt, PutMode,
    PutMultipartOptions, PutOptions, PutPayload, UpdateVersion,
};

use crate::exec::{
    read_part, too_large, ObjectHeaders, ObjectStore, Precondition, StoreError, StoreProfile,
    Versioned, Versions, MAX_VERSIONED_BYTES,
};

/// The fixes a store's errors name, in its own words (its roles, its variables).
#[derive(Debug, Clone, Copy)]
pub struct Hints {
    /// No credentials, or expired ones (401).
    pub credentials: &'static str,
    /// The bucket or container does not exist.
    pub missing: &'static str,
    /// Signed in, but not allowed (403).
    pub permission: &'static str,
}

/// How a store names user metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataNames {
    /// As given (`x-goog-meta-git-blob`).
    AsGiven,
    /// C# identifiers, as Azure requires: `-` becomes `_` (`x-ms-meta-git_blob`).
    Identifiers,
}

/// An `object_store` client as the executor's store.
pub struct CloudStore {
    client: Arc<dyn Client>,
    /// `gs://bucket` or `azblob://container`: what [`ObjectStore::describe`] and errors name.
    root: String,
    prefix: String,
    profile: StoreProfile,
    hints: Hints,
    names: MetadataNames,
}

impl CloudStore {
    pub fn new(
        client: Arc<dyn Client>,
        root: String,
        prefix: &str,
        profile: StoreProfile,
        hints: Hints,
        names: MetadataNames,
    ) -> Self {
        CloudStore {
            client,
            root,
            prefix: prefix.to_string(),
            profile,
            hints,
            names,
        }
    }

    fn what(&self, key: &str) -> String {
        format!("{}/{key}", self.root)
    }

    fn path(&self, key: &str) -> Result<Path, StoreError> {
        Path::parse(key).map_err(|e| {
            StoreError::failed(
                format!("{}: not a key this store takes: {e}", self.what(key)),
                "rename the file in the site's tree",
            )
        })
    }

    fn error(&self, key: &str, e: object_store::Error) -> StoreError {
        classify(&self.what(key), e, &self.hints)
    }
}

/// What the crate's error means for the executor and the claim: a failed condition (412, or 409 for a
/// create Azure refuses), throttling left over after the crate's retries, or a failure with its fix.
pub fn classify(what: &str, e: object_store::Error, hints: &Hints) -> StoreError {
    use object_store::Error as E;
    match e {
        E::Precondition { .. } | E::AlreadyExists { .. } => StoreError::PreconditionFailed,
        E::Unauthenticated { .. } => StoreError::failed(
            format!("{what}: not signed in: {}", chain(&e)),
            hints.credentials,
        ),
        E::PermissionDenied { .. } => StoreError::failed(
            format!("{what}: access denied: {}", chain(&e)),
            hints.permission,
        ),
        E::NotFound { .. } => {
            StoreError::failed(format!("{what}: not found: {}", chain(&e)), hints.missing)
        }
        other => {
            let text = chain(&other);
            if is_throttled(&text) {
                return StoreError::Throttled(format!("{what}: {text}"));
            }
            StoreError::failed(
                format!("{what}: {text}"),
                "run again; if it persists, run `git publish doctor`",
            )
        }
    }
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !out.contains(&t) {
            out = format!("{out}: {t}");
        }
        source = s.source();
    }
    out
}

/// Whether the crate gave up on a throttled request: its retries end in the answer's status, shown as
/// `429 Too Many Requests` or `503 Service Unavailable`.
fn is_throttled(text: &str) -> bool {
    text.contains("429 Too Many Requests") || text.contains("503 Service Unavailable")
}

/// The executor's headers as the crate's attributes (git-publish's own metadata included, named as the
/// store requires).
fn attributes(h: &ObjectHeaders, names: MetadataNames) -> Attributes {
    let mut a = Attributes::new();
    a.insert(Attribute::ContentType, h.content_type.clone().into());
    let optional = [
        (Attribute::CacheControl, &h.cache_control),
        (Attribute::ContentEncoding, &h.content_encoding),
        (Attribute::ContentDisposition, &h.content_disposition),
    ];
    for (attr, value) in optional {
        if let Some(v) = value {
            a.insert(attr, v.clone().into());
        }
    }
    for (k, v) in h.all_metadata() {
        let k = match names {
            MetadataNames::AsGiven => k.to_string(),
            MetadataNames::Identifiers => k.replace('-', "_"),
        };
        a.insert(
            Attribute::Metadata(Cow::Owned(k)),
            AttributeValue::from(v.to_string()),
        );
    }
    a
}

#[async_trait]
impl ObjectStore for CloudStore {
    fn describe(&self) -> String {
        match self.prefix.is_empty() {
            true => self.root.clone(),
            false => format!("{}/{}", self.root, self.prefix),
        }
    }

    async fn put(&self, key: &str, body: Bytes, headers: &ObjectHeaders) -> Result<(), StoreError> {
        let opts = PutOptions {
            attributes: attributes(headers, self.names),
            ..PutOptions::default()
        };
        (self.client)
            .put_opts(&self.path(key)?, PutPayload::from_bytes(body), opts)
            .await
            .map_err(|e| self.error(key, e))?;
        Ok(())
    }

    /// A multipart upload (GCS's XML multipart upload, Azure's blocks), one part of `PART_SIZE` read at a
    /// time; an upload that fails is aborted.
    async fn put_stream(
        &self,
        key: &str,
        _size: u64,
        reader: Box<dyn Read + Send>,
        headers: &ObjectHeaders,
    ) -> Result<(), StoreError> {
        let opts = PutMultipartOptions {
            attributes: attributes(headers, self.names),
            ..PutMultipartOptions::default()
        };
        let path = self.path(key)?;
        let mut upload = (self.client)
            .put_multipart_opts(&path, opts)
            .await
            .map_err(|e| self.error(key, e))?;
        let mut reader = reader;
        let sent = async {
            loop {
                let (part, rest) = read_part(reader).await.map_err(|e| {
                    StoreError::failed(format!("reading {}: {e}", self.what(key)), "run again")
                })?;
                reader = rest;
                if part.is_empty() {
                    break;
                }
                let last = part.len() < crate::exec::PART_SIZE;
                upload
                    .put_part(PutPayload::from(part))
                    .await
                    .map_err(|e| self.error(key, e))?;
                if last {
                    break;
                }
            }
            upload.complete().await.map_err(|e| self.error(key, e))
        }
        .await;
        if let Err(e) = sent {
            let _ = upload.abort().await;
            return Err(e);
        }
        Ok(())
    }

    /// The source read and written again with `headers`: neither store's copy replaces headers. The executor
    /// does not call it for this store (see the profile); it is here for the trait's other callers.
    async fn copy(&self, from: &str, to: &str, headers: &ObjectHeaders) -> Result<(), StoreError> {
        let got = (self.client)
            .get(&self.path(from)?)
            .await
            .map_err(|e| self.error(from, e))?;
        let body = got.bytes().await.map_err(|e| self.error(from, e))?;
        self.put(to, body, headers).await
    }

    fn profile(&self) -> StoreProfile {
        self.profile
    }

    async fn delete_batch(&self, keys: &[String]) -> Result<(), StoreError> {
        let paths = keys
            .iter()
            .map(|k| self.path(k))
            .collect::<Result<Vec<_>, _>>()?;
        let results: Vec<_> = (self.client)
            .delete_stream(futures::stream::iter(paths.into_iter().map(Ok)).boxed())
            .collect()
            .await;
        let failed: Vec<String> = (results.into_iter())
            .filter_map(|r| match r {
                Err(object_store::Error::NotFound { .. }) | Ok(_) => None,
                Err(e) => Some(chain(&e)),
            })
            .collect();
        match failed.first() {
            None => Ok(()),
            Some(first) => Err(StoreError::failed(
                format!(
                    "{} of {} deletes failed in {}: {first}",
                    failed.len(),
                    keys.len(),
                    self.root
                ),
                self.hints.permission,
            )),
        }
    }

    /// The crate lists whole path segments: the directory `prefix` is in, filtered to the keys that start
    /// with it.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let dir = prefix.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let dir_path = self.path(dir)?;
        let mut stream = self.client.list(Some(&dir_path));
        let mut out = Vec::new();
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(|e| self.error(prefix, e))?;
            let key = meta.location.to_string();
            if key.starts_with(prefix) {
                out.push(key);
            }
        }
        out.sort();
        Ok(out)
    }

    async fn get_versioned(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        let got = match self.client.get(&self.path(key)?).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.error(key, e)),
        };
        let tag = match self.profile.versions {
            Versions::ETag => got.meta.e_tag.clone(),
            Versions::Generation => got.meta.version.clone(),
        }
        .unwrap_or_default();
        if got.meta.size > MAX_VERSIONED_BYTES {
            return Err(too_large(&self.what(key), got.meta.size, tag));
        }
        let body = got.bytes().await.map_err(|e| self.error(key, e))?;
        Ok(Some(Versioned {
            body: body.to_vec(),
            etag: tag,
        }))
    }

    /// `PutMode::Create` (GCS: `x-goog-if-generation-match: 0`; Azure: `If-None-Match: *`), or
    /// `PutMode::Update` with the record's generation (GCS) or ETag (Azure). Returns the new one.
    async fn put_versioned(
        &self,
        key: &str,
        body: Vec<u8>,
        cond: Precondition,
    ) -> Result<String, StoreError> {
        let mode = match (cond, self.profile.versions) {
            (Precondition::Absent, _) => PutMode::Create,
            (Precondition::Matches(tag), Versions::ETag) => PutMode::Update(UpdateVersion {
                e_tag: Some(tag),
                version: None,
            }),
            (Precondition::Matches(tag), Versions::Generation) => PutMode::Update(UpdateVersion {
                e_tag: None,
                version: Some(tag),
            }),
        };
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, "application/json".into());
        attributes.insert(Attribute::CacheControl, "no-store".into());
        let opts = PutOptions {
            mode,
            attributes,
            ..PutOptions::default()
        };
        let done = (self.client)
            .put_opts(&self.path(key)?, PutPayload::from(body), opts)
            .await
            .map_err(|e| self.error(key, e))?;
        let tag = match self.profile.versions {
            Versions::ETag => done.e_tag,
            Versions::Generation => done.version,
        };
        Ok(tag.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HINTS: Hints = Hints {
        credentials: "sign in",
        missing: "create it",
        permission: "grant it",
    };

    fn source() -> Box<dyn std::error::Error + Send + Sync> {
        "answer".into()
    }

    #[test]
    fn a_refused_condition_is_someone_else_whether_412_or_409() {
        let refused = [
            object_store::Error::Precondition {
                path: "k".into(),
                source: source(),
            },
            object_store::Error::AlreadyExists {
                path: "k".into(),
                source: source(),
            },
        ];
        for e in refused {
            assert!(matches!(
                classify("gs://b/k", e, &HINTS),
                StoreError::PreconditionFailed
            ));
        }
    }

    #[test]
    fn each_refusal_names_its_fix() {
        let table = [
            (
                object_store::Error::Unauthenticated {
                    path: "k".into(),
                    source: source(),
                },
                "sign in",
            ),
            (
                object_store::Error::PermissionDenied {
                    path: "k".into(),
                    source: source(),
                },
                "grant it",
            ),
            (
                object_store::Error::NotFound {
                    path: "k".into(),
                    source: source(),
                },
                "create it",
            ),
        ];
        for (e, want) in table {
            match classify("gs://b/k", e, &HINTS) {
                StoreError::Failed { message, hint } => {
                    assert!(message.starts_with("gs://b/k: "), "{message}");
                    assert_eq!(hint, want);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn throttling_left_after_the_crates_retries_goes_back_to_the_flow() {
        let e = object_store::Error::Generic {
            store: "GCS",
            source: "Server returned non-2xx status code: 429 Too Many Requests: slow down".into(),
        };
        assert!(matches!(
            classify("gs://b/k", e, &HINTS),
            StoreError::Throttled(_)
        ));
        let e = object_store::Error::Generic {
            store: "GCS",
            source: "Server returned non-2xx status code: 500 Internal Server Error".into(),
        };
        assert!(matches!(
            classify("gs://b/k", e, &HINTS),
            StoreError::Failed { .. }
        ));
    }

    #[test]
    fn every_header_and_the_git_blob_become_attributes() {
        let h = ObjectHeaders {
            content_type: "text/html".into(),
            cache_control: Some("max-age=60".into()),
            content_encoding: Some("gzip".into()),
            content_disposition: None,
            metadata: [("a".to_string(), "1".to_string())].into(),
            git_blob: "abc".into(),
            executable: false,
        };
        let a = attributes(&h, MetadataNames::AsGiven);
        let get = |k: Attribute| a.get(&k).map(|v| v.as_ref().to_string());
        assert_eq!(get(Attribute::ContentType).as_deref(), Some("text/html"));
        assert_eq!(get(Attribute::CacheControl).as_deref(), Some("max-age=60"));
        assert_eq!(get(Attribute::ContentEncoding).as_deref(), Some("gzip"));
        assert_eq!(get(Attribute::ContentDisposition), None);
        assert_eq!(
            get(Attribute::Metadata("git-blob".into())).as_deref(),
            Some("abc")
        );
        assert_eq!(get(Attribute::Metadata("a".into())).as_deref(), Some("1"));
        let azure = attributes(&h, MetadataNames::Identifiers);
        let name = Attribute::Metadata("git_blob".into());
        assert_eq!(
            azure.get(&name).map(|v| v.as_ref().to_string()).as_deref(),
            Some("abc")
        );
    }
}
