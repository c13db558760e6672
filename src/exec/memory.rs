//! Test doubles for the executor's order: an [`ObjectStore`] and a [`Cdn`] held in memory, which write every
//! call they get into one shared, ordered [`Log`], and fail where a test says (a key whose upload fails, a
//! delete batch that fails, an invalidation that fails). With them, a unit test can run [`super::Executor`]
//! and [`super::invalidate_each`] and read back what was sent in which order, without a server.
//!
//! The store also keeps what a test of one store call needs, so no test wraps it: how each object came and
//! with which headers ([`MemoryStore::writes`]), how many uploads were in flight at most while each is held
//! ([`MemoryStore::holding`]), scripted answers to the record's conditional writes
//! ([`MemoryStore::answering`]), and redirects as HTML pages ([`MemoryStore::with_redirect_pages`]).
//!
//! Test-only (`#[cfg(test)]`); nothing here decides anything: the calls are the executor's.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::{
    Blobs, Cdn, CdnError, InvalidationStatus, ObjectHeaders, ObjectStore, Precondition, StoreError,
    StoreProfile, Versioned,
};

/// One call a double received, in the words of the trait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `put` or `put_stream` of a key.
    Put(String),
    Copy {
        from: String,
        to: String,
    },
    Redirect {
        key: String,
        to: String,
    },
    Delete(Vec<String>),
    List(String),
    GetVersioned(String),
    PutVersioned(String),
    /// A CDN's `invalidate`: which CDN (its `describe`), and the paths.
    Invalidate {
        cdn: String,
        paths: Vec<String>,
    },
    Status {
        cdn: String,
        id: String,
    },
    CheckFunction {
        cdn: String,
        name: String,
    },
    EnsureFunction {
        cdn: String,
        name: String,
    },
}

/// Every call of every double sharing it, in the order they were made (a failing call included: it was
/// sent).
#[derive(Debug, Clone, Default)]
pub struct Log(Arc<Mutex<Vec<Call>>>);

impl Log {
    pub fn push(&self, call: Call) {
        self.0.lock().expect("log lock").push(call);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.0.lock().expect("log lock").clone()
    }

    /// Where the first call matching `f` is, if any.
    pub fn first(&self, f: impl Fn(&Call) -> bool) -> Option<usize> {
        self.calls().iter().position(f)
    }

    /// Where the last call matching `f` is, if any.
    pub fn last(&self, f: impl Fn(&Call) -> bool) -> Option<usize> {
        self.calls().iter().rposition(f)
    }
}

/// How an object reached a [`MemoryStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// `put`: the bytes in one request.
    Whole,
    /// `put_stream`: read in parts.
    Streamed,
    /// `copy` inside the store.
    Copied,
    /// `put_redirect` (a store with a redirect field).
    Redirect,
}

/// One object written: its key, how it came, its headers (none for a redirect).
#[derive(Debug, Clone)]
pub struct Write {
    pub key: String,
    pub how: How,
    pub headers: ObjectHeaders,
}

/// What a scripted `put_versioned` answers instead of the store's own answer ([`MemoryStore::answering`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 409: a concurrent conditional write is in flight (nothing written).
    Conflict,
    /// The write lands, then its answer is lost and the retry meets its own write: 412.
    LandsThenRefused,
}

/// An object store in memory: each object's bytes and version tag (a new one on every write, as S3's ETag
/// changes when an object is rewritten, so that `If-Match` sees a rewrite).
#[derive(Default)]
pub struct MemoryStore {
    log: Log,
    objects: Mutex<Objects>,
    failing_uploads: BTreeSet<String>,
    failing_deletes: BTreeSet<String>,
    writes: Mutex<Vec<Write>>,
    /// How long each `put` and `put_stream` is held before it is answered.
    hold: Duration,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    answers: Mutex<VecDeque<Answer>>,
    redirect_pages: bool,
    /// What it says it can do (S3's profile unless [`MemoryStore::with_profile`]).
    profile: Option<StoreProfile>,
}

impl MemoryStore {
    pub fn new(log: &Log) -> MemoryStore {
        MemoryStore {
            log: log.clone(),
            ..MemoryStore::default()
        }
    }

    /// An upload (put, stream, copy or redirect) to `key` fails.
    pub fn failing_upload(mut self, key: &str) -> MemoryStore {
        self.failing_uploads.insert(key.to_string());
        self
    }

    /// A delete batch holding `key` fails (the whole batch, as a request that got an error).
    pub fn failing_delete(mut self, key: &str) -> MemoryStore {
        self.failing_deletes.insert(key.to_string());
        self
    }

    /// Each `put` and `put_stream` is held `hold` long before it is answered, so that uploads sent together
    /// overlap and [`MemoryStore::most_in_flight`] counts them.
    pub fn holding(mut self, hold: Duration) -> MemoryStore {
        self.hold = hold;
        self
    }

    /// The first `put_versioned`s answer as `answers` says, in order; the later ones as the store does.
    pub fn answering(self, answers: &[Answer]) -> MemoryStore {
        *self.answers.lock().expect("answers lock") = answers.iter().copied().collect();
        self
    }

    /// Redirects are written as HTML pages ([`super::put_redirect_page`], the trait's default), as a store
    /// without a redirect field does.
    pub fn with_redirect_pages(mut self) -> MemoryStore {
        self.redirect_pages = true;
        self
    }

    /// Every object written, in order.
    pub fn writes(&self) -> Vec<Write> {
        self.writes.lock().expect("writes lock").clone()
    }

    /// How `key` was written, each time.
    pub fn how(&self, key: &str) -> Vec<How> {
        (self.writes().into_iter())
            .filter(|w| w.key == key)
            .map(|w| w.how)
            .collect()
    }

    /// The headers `key` was first written with.
    pub fn headers(&self, key: &str) -> ObjectHeaders {
        let w = self.writes().into_iter().find(|w| w.key == key);
        w.unwrap_or_else(|| panic!("{key} was not written")).headers
    }

    /// The most `put`s and `put_stream`s in flight at once (see [`MemoryStore::holding`]).
    pub fn most_in_flight(&self) -> usize {
        self.most_in_flight.load(Ordering::SeqCst)
    }

    /// How many `put_versioned` calls it got (scripted ones included).
    pub fn versioned_puts(&self) -> usize {
        let calls = self.log.calls();
        (calls.iter().filter(|c| matches!(c, Call::PutVersioned(_)))).count()
    }

    /// Note a write of `key`; a `put` or `put_stream` is then held (see [`MemoryStore::holding`]).
    async fn arrive(&self, key: &str, how: How, headers: &ObjectHeaders) {
        (self.writes.lock().expect("writes lock")).push(Write {
            key: key.into(),
            how,
            headers: headers.clone(),
        });
        if matches!(how, How::Whole | How::Streamed) {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(self.hold).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// A store that says `profile` (another delete batch size, no header change in place).
    pub fn with_profile(mut self, profile: StoreProfile) -> MemoryStore {
        self.profile = Some(profile);
        self
    }

    /// The keys it holds, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.objects().by_key.keys().cloned().collect()
    }

    fn objects(&self) -> std::sync::MutexGuard<'_, Objects> {
        self.objects.lock().expect("store lock")
    }

    /// Log the call, then fail it if `key` is one whose uploads fail, else store `body` there.
    fn upload(&self, call: Call, key: &str, body: Bytes) -> Result<(), StoreError> {
        self.log.push(call);
        if self.failing_uploads.contains(key) {
            return Err(StoreError::failed(format!("injected: upload of {key}"), ""));
        }
        self.objects().insert(key, body);
        Ok(())
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    fn describe(&self) -> String {
        "memory".into()
    }

    fn profile(&self) -> StoreProfile {
        self.profile.unwrap_or(StoreProfile::DEFAULT)
    }

    async fn put(&self, key: &str, body: Bytes, headers: &ObjectHeaders) -> Result<(), StoreError> {
        self.arrive(key, How::Whole, headers).await;
        self.upload(Call::Put(key.into()), key, body)
    }

    async fn put_stream(
        &self,
        key: &str,
        _: u64,
        mut reader: Box<dyn Read + Send>,
        headers: &ObjectHeaders,
    ) -> Result<(), StoreError> {
        self.arrive(key, How::Streamed, headers).await;
        let mut body = Vec::new();
        reader
            .read_to_end(&mut body)
            .map_err(|e| StoreError::failed(e.to_string(), ""))?;
        self.upload(Call::Put(key.into()), key, body.into())
    }

    async fn copy(&self, from: &str, to: &str, headers: &ObjectHeaders) -> Result<(), StoreError> {
        self.arrive(to, How::Copied, headers).await;
        let call = Call::Copy {
            from: from.into(),
            to: to.into(),
        };
        let body = self.objects().by_key.get(from).map(|(b, _)| b.clone());
        let Some(body) = body else {
            self.log.push(call);
            return Err(StoreError::failed(format!("no object {from} to copy"), ""));
        };
        self.upload(call, to, body)
    }

    async fn put_redirect(&self, key: &str, location: &str) -> Result<(), StoreError> {
        if self.redirect_pages {
            return super::put_redirect_page(self, key, location).await;
        }
        self.arrive(key, How::Redirect, &ObjectHeaders::default())
            .await;
        let call = Call::Redirect {
            key: key.into(),
            to: location.into(),
        };
        self.upload(call, key, Bytes::from(location.to_string()))
    }

    async fn delete_batch(&self, keys: &[String]) -> Result<(), StoreError> {
        self.log.push(Call::Delete(keys.to_vec()));
        if let Some(k) = keys.iter().find(|k| self.failing_deletes.contains(*k)) {
            return Err(StoreError::failed(format!("injected: delete of {k}"), ""));
        }
        let mut objects = self.objects();
        for k in keys {
            objects.by_key.remove(k);
        }
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.log.push(Call::List(prefix.into()));
        Ok(self
            .keys()
            .into_iter()
            .filter(|k| k.starts_with(prefix))
            .collect())
    }

    async fn get_versioned(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        self.log.push(Call::GetVersioned(key.into()));
        Ok(self
            .objects()
            .by_key
            .get(key)
            .map(|(body, etag)| Versioned {
                body: body.to_vec(),
                etag: etag.clone(),
            }))
    }

    async fn put_versioned(
        &self,
        key: &str,
        body: Vec<u8>,
        cond: Precondition,
    ) -> Result<String, StoreError> {
        self.log.push(Call::PutVersioned(key.into()));
        let answer = self.answers.lock().expect("answers lock").pop_front();
        if answer == Some(Answer::Conflict) {
            return Err(StoreError::Conflict);
        }
        let mut objects = self.objects();
        let now = objects.by_key.get(key).map(|(_, etag)| etag);
        let holds = match &cond {
            Precondition::Absent => now.is_none(),
            Precondition::Matches(e) => now == Some(e),
        };
        if !holds {
            return Err(StoreError::PreconditionFailed);
        }
        let etag = objects.insert(key, body.into());
        match answer {
            Some(Answer::LandsThenRefused) => Err(StoreError::PreconditionFailed),
            _ => Ok(etag),
        }
    }
}

/// The objects of a [`MemoryStore`], each with the tag of the write that put it there.
#[derive(Default)]
struct Objects {
    writes: u64,
    by_key: BTreeMap<String, (Bytes, String)>,
}

impl Objects {
    /// Store `body` at `key` with a new tag, and return the tag.
    fn insert(&mut self, key: &str, body: Bytes) -> String {
        self.writes += 1;
        let etag = format!("\"v{}\"", self.writes);
        self.by_key.insert(key.to_string(), (body, etag.clone()));
        etag
    }
}

/// A CDN in memory, named by `describe`: invalidations get ids in order and complete at once; the managed
/// function is accepted.
pub struct MemoryCdn {
    name: String,
    log: Log,
    created: Mutex<usize>,
    failing_path: Option<String>,
}

impl MemoryCdn {
    pub fn new(name: &str, log: &Log) -> MemoryCdn {
        MemoryCdn {
            name: name.into(),
            log: log.clone(),
            created: Mutex::new(0),
            failing_path: None,
        }
    }

    /// An invalidation holding `path` fails.
    pub fn failing_invalidation(mut self, path: &str) -> MemoryCdn {
        self.failing_path = Some(path.into());
        self
    }
}

#[async_trait]
impl Cdn for MemoryCdn {
    fn describe(&self) -> String {
        self.name.clone()
    }

    async fn invalidate(&self, batch: super::Batch<'_>) -> Result<String, CdnError> {
        let paths = batch.addresses;
        self.log.push(Call::Invalidate {
            cdn: self.name.clone(),
            paths: paths.to_vec(),
        });
        if let Some(p) = paths
            .iter()
            .find(|p| self.failing_path.as_ref() == Some(*p))
        {
            return Err(CdnError::failed(
                format!("injected: invalidation of {p}"),
                "",
            ));
        }
        let mut n = self.created.lock().expect("cdn lock");
        *n += 1;
        Ok(format!("{}-I{n}", self.name))
    }

    async fn status(&self, id: &str) -> Result<InvalidationStatus, CdnError> {
        self.log.push(Call::Status {
            cdn: self.name.clone(),
            id: id.into(),
        });
        Ok(InvalidationStatus::Completed)
    }

    fn edge_function(&self) -> Option<&dyn super::EdgeFunction> {
        Some(self)
    }
}

#[async_trait]
impl super::EdgeFunction for MemoryCdn {
    async fn check_function(&self, f: &crate::plan::Function) -> Result<(), CdnError> {
        self.log.push(Call::CheckFunction {
            cdn: self.name.clone(),
            name: f.name.clone(),
        });
        Ok(())
    }

    async fn ensure_function(&self, f: &crate::plan::Function) -> Result<bool, CdnError> {
        self.log.push(Call::EnsureFunction {
            cdn: self.name.clone(),
            name: f.name.clone(),
        });
        Ok(true)
    }
}

/// Blob bytes by id, for the executor's reads.
#[derive(Default)]
pub struct MemoryBlobs(pub BTreeMap<String, Vec<u8>>);

impl MemoryBlobs {
    fn get(&self, id: &str) -> Result<&Vec<u8>, String> {
        self.0.get(id).ok_or_else(|| format!("no blob {id}"))
    }
}

impl Blobs for MemoryBlobs {
    fn read(&self, id: &str) -> Result<Vec<u8>, String> {
        self.get(id).cloned()
    }
    fn size(&self, id: &str) -> Result<u64, String> {
        self.get(id).map(|b| b.len() as u64)
    }
    fn stream(&self, id: &str) -> Result<Box<dyn Read + Send>, String> {
        let body = self.get(id)?.clone();
        Ok(Box::new(std::io::Cursor::new(body)))
    }
}
