//! The executor: carries out a [`Plan`] against two narrow traits, an object store and a CDN.
//!
//! The seams, in `traits.rs` (a leaf every other file here imports): [`ObjectStore`] (with [`StoreProfile`]: keys a delete, headers in place, ETag or generation
//! writes), [`Cdn`] (one [`Batch`] an invalidation, a [`CdnError`] of its own, `status` defaulting to done) and
//! its optional [`EdgeFunction`]. What a CDN accepts in a batch is the planner's `CdnProfile`, given by the
//! adapter. A second CDN needs nothing else: see `purge_only_tests.rs`.
//!
//! It makes no decisions: order, keys, headers and paths all come from the plan. It owns concurrency (an
//! adaptive in-flight limit, [`flow`], capped by the target's `concurrency`), the memory budget (bytes of file
//! content held at once), reading blob bytes (through [`Blobs`]) and reporting progress as [`Event`]s. The one
//! store in this room is a local directory ([`local`]); the AWS adapters (S3, CloudFront, its function and
//! KeyValueStore, setup's calls) live in `crate::aws`, and `crate::backends` picks the adapters for a target.
//! Nothing here names the AWS SDK. [`invalidation`] creates the plan's invalidations (the caller sends them
//! beside the final record). [`http`] is `doctor`'s one plain GET of a public URL.
//! The executor's order and failure paths are unit-tested (`executor_tests.rs`) against an in-memory store
//! and CDN that log every call (`memory.rs`, test-only).

pub mod api;
#[cfg(test)]
mod executor_tests;
pub mod flow;
pub mod http;
mod invalidation;
pub mod local;
#[cfg(test)]
pub mod memory;
#[cfg(test)]
mod purge_only_tests;
#[cfg(test)]
pub mod stand_in;
mod traits;
#[cfg(test)]
mod upload_tests;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use tokio::sync::Semaphore;

use crate::plan::{Encoding, Plan, Upload};
use flow::Flow;
pub use invalidation::{
    invalidate_each, invalidate_with_backoff, invalidations, wait_invalidations, Invalidation,
};
pub use traits::*;

/// What a publish sent: the bytes of its uploads, and its invalidations.
#[derive(Debug, Default, Clone)]
pub struct Sent {
    pub uploaded_bytes: u64,
    /// (distribution, invalidation id), for `--wait` and the report.
    pub invalidations: Vec<(String, String)>,
}

/// Connections the plan's requests want at once, to open them ahead (see [`connect`]): to the store, its
/// largest wave as far as the flow lets it through at its `start` (at least one, for the record), and to
/// the CDN, one per invalidation. `per_delete`: the keys one delete takes ([`StoreProfile`]).
pub fn connections_for(plan: &Plan, start: usize, per_delete: usize) -> (usize, usize) {
    let html = plan.uploads.iter().filter(|u| u.is_html()).count();
    let batches = |n: usize| n.div_ceil(per_delete.max(1));
    let largest = [
        batches(plan.clear_first.len()),
        plan.uploads.len() - html,
        html,
        plan.redirects.puts.len(),
        batches(plan.deletes.len()),
        1,
    ]
    .into_iter()
    .max()
    .unwrap_or(1);
    let cdn = plan.cdn.iter().map(|c| c.batches.len()).sum();
    (largest.min(start.max(1)), cdn)
}

pub struct Executor<'a> {
    pub store: &'a dyn ObjectStore,
    /// One per distribution of the plan (`plan.cdn[i].distribution` = `cdns[i].0`).
    pub cdns: Vec<(String, &'a dyn Cdn)>,
    pub blobs: Arc<dyn Blobs>,
    /// The hard cap on requests in flight; below it the limit adapts ([`flow`]).
    pub concurrency: usize,
    /// The round trip of the requests made before (the state's), for the flow's start ([`flow::start_for`]).
    pub round_trip: Option<Duration>,
}

impl Executor<'_> {
    /// Run the plan's steps in order up to the invalidation: non-HTML uploads, HTML uploads, redirect
    /// objects, deletes, the managed CloudFront function. (The invalidation, [`invalidate_each`], and the
    /// state write, `state`, are the caller's: they go at the same time.)
    pub async fn run(&self, plan: &Plan, on: &(dyn Fn(Event) + Sync)) -> Result<Sent, ExecError> {
        let mut outcome = Sent::default();
        let flow = Flow::timed(self.concurrency, self.round_trip);
        // A file that became a directory (or the reverse) is deleted before anything takes its place.
        self.delete_keys(&plan.clear_first, &flow, on).await?;
        let (assets, pages): (Vec<&Upload>, Vec<&Upload>) =
            plan.uploads.iter().partition(|u| !u.is_html());
        for (phase, group) in [("assets", assets), ("pages", pages)] {
            if group.is_empty() {
                continue;
            }
            on(Event::Phase(phase, group.len()));
            let bytes = self.upload_all(&group, &flow, on).await?;
            outcome.uploaded_bytes += bytes;
        }
        self.put_redirects(&plan.redirects.puts, &flow, on).await?;
        let rest: Vec<String> = (plan.deletes.iter())
            .filter(|k| plan.clear_first.binary_search(k).is_err())
            .cloned()
            .collect();
        self.delete_keys(&rest, &flow, on).await?;
        if let Some(f) = &plan.function {
            // Before the invalidation: the next request of an evicted URL must meet the new table.
            for (distribution, cdn) in &self.cdns {
                (ensure_function(*cdn, f).await).map_err(|source| ExecError::Function {
                    distribution: distribution.clone(),
                    source,
                })?;
            }
        }
        Ok(outcome)
    }

    /// Write the redirect objects, as many at once as the flow allows (like every other request).
    async fn put_redirects(
        &self,
        redirects: &[crate::plan::redirects::RedirectObject],
        flow: &Flow,
        on: &(dyn Fn(Event) + Sync),
    ) -> Result<(), ExecError> {
        if redirects.is_empty() {
            return Ok(());
        }
        on(Event::Phase("redirects", redirects.len()));
        futures::stream::iter(redirects.iter().map(Ok::<_, ExecError>))
            .try_for_each_concurrent(flow.cap(), |r| async move {
                flow.send(self.store, || async {
                    self.store
                        .put_redirect(&r.key, &r.location)
                        .await
                        .map_err(|source| ExecError::Upload {
                            key: r.key.clone(),
                            source,
                        })
                })
                .await?;
                on(Event::Copied { key: &r.key });
                Ok(())
            })
            .await
    }

    /// Delete `keys` in batches of as many as the store takes at once (one request each).
    async fn delete_keys(
        &self,
        keys: &[String],
        flow: &Flow,
        on: &(dyn Fn(Event) + Sync),
    ) -> Result<(), ExecError> {
        if keys.is_empty() {
            return Ok(());
        }
        on(Event::Phase("deletes", keys.len()));
        for batch in keys.chunks(self.store.profile().max_keys_per_delete.max(1)) {
            flow.send(self.store, || async {
                self.store
                    .delete_batch(batch)
                    .await
                    .map_err(ExecError::Delete)
            })
            .await?;
            on(Event::Deleted { count: batch.len() });
        }
        Ok(())
    }

    /// Every upload of a group, as many at once as the flow allows; the total bytes sent.
    async fn upload_all(
        &self,
        group: &[&Upload],
        flow: &Flow,
        on: &(dyn Fn(Event) + Sync),
    ) -> Result<u64, ExecError> {
        let total = std::sync::atomic::AtomicU64::new(0);
        // Memory budget in KiB: small files hold their size, streamed ones a part.
        let budget = Semaphore::new(MEMORY_BUDGET / 1024);
        futures::stream::iter(group.iter().map(Ok::<_, ExecError>))
            .try_for_each_concurrent(flow.cap(), |u| {
                let (total, budget) = (&total, &budget);
                async move {
                    match self.upload_one(u, flow, budget).await? {
                        None => on(Event::Copied { key: &u.key }),
                        Some(bytes) => {
                            total.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
                            on(Event::Uploaded { key: &u.key, bytes });
                        }
                    }
                    Ok(())
                }
            })
            .await?;
        Ok(total.into_inner())
    }

    /// One upload (or server-side copy: `None`); the bytes sent.
    async fn upload_one(
        &self,
        u: &Upload,
        flow: &Flow,
        budget: &Semaphore,
    ) -> Result<Option<u64>, ExecError> {
        // The plan decides the encoding; a store that keeps no headers gets the bytes as they are.
        let encoding = u
            .headers
            .content_encoding
            .filter(|_| self.store.keeps_headers());
        let headers = ObjectHeaders {
            content_type: u.headers.content_type.clone(),
            cache_control: u.headers.cache_control.clone(),
            content_encoding: encoding.map(|e| e.header().to_string()),
            content_disposition: u.headers.content_disposition.clone(),
            metadata: u.headers.metadata.clone(),
            git_blob: u.blob.clone(),
            executable: u.executable,
        };
        // A store whose copy can't set headers (GCS, Azure) gets the bytes again.
        let copy_from = (u.copy_from.as_ref()).filter(|_| self.store.profile().copies_in_place);
        if let Some(from) = copy_from {
            flow.send(self.store, || async {
                self.store
                    .copy(from, &u.key, &headers)
                    .await
                    .map_err(|e| upload_err(u, e))
            })
            .await?;
            return Ok(None);
        }
        let size = if u.size > 0 {
            u.size
        } else {
            self.blobs.size(&u.blob).map_err(|m| blob_err(u, m))?
        };
        let sent = if size >= STREAM_THRESHOLD && encoding.is_none() {
            self.upload_stream(u, size, &headers, flow, budget).await?
        } else {
            self.upload_whole(u, size, encoding, &headers, flow, budget)
                .await?
        };
        Ok(Some(sent))
    }

    /// A large blob in parts of [`PART_SIZE`], holding one part of the memory budget and one flow slot.
    async fn upload_stream(
        &self,
        u: &Upload,
        size: u64,
        headers: &ObjectHeaders,
        flow: &Flow,
        budget: &Semaphore,
    ) -> Result<u64, ExecError> {
        let _permit = budget
            .acquire_many((PART_SIZE / 1024) as u32)
            .await
            .expect("open semaphore");
        flow.send(self.store, || async {
            // A fresh reader for each attempt: a throttled upload starts over.
            let reader = self.blobs.stream(&u.blob).map_err(|m| blob_err(u, m))?;
            self.store
                .put_stream(&u.key, size, reader, headers)
                .await
                .map_err(|e| upload_err(u, e))
        })
        .await?;
        Ok(size)
    }

    /// A blob read whole (and compressed if the plan says so) off the async threads when the flow lets its
    /// request get ready (so that file bytes are held by the requests in flight and a few more, not by every
    /// upload waiting for a slot), then sent in one request.
    async fn upload_whole(
        &self,
        u: &Upload,
        size: u64,
        encoding: Option<Encoding>,
        headers: &ObjectHeaders,
        flow: &Flow,
        budget: &Semaphore,
    ) -> Result<u64, ExecError> {
        // Compressed objects are encoded whole (rules compress text, which is small); the permit is capped at
        // the budget so that one big file can still go alone.
        let kib = (size as usize / 1024).clamp(1, MEMORY_BUDGET / 1024);
        let _permit = budget
            .acquire_many(kib as u32)
            .await
            .expect("open semaphore");
        let read = || async {
            let (blobs, blob) = (self.blobs.clone(), u.blob.clone());
            tokio::task::spawn_blocking(move || {
                let raw = blobs.read(&blob)?;
                match encoding {
                    None => Ok(raw),
                    Some(e) => encode(&raw, e).map_err(|e| format!("compressing: {e}")),
                }
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r)
            .map(Bytes::from)
            .map_err(|m| blob_err(u, m))
        };
        flow.send_with(self.store, read, |body: Bytes| async move {
            let sent = body.len() as u64;
            self.store
                .put(&u.key, body, headers)
                .await
                .map_err(|e| upload_err(u, e))?;
            Ok(sent)
        })
        .await
    }
}

fn blob_err(u: &Upload, message: String) -> ExecError {
    ExecError::Blob {
        key: u.key.clone(),
        blob: u.blob.clone(),
        message,
    }
}

fn upload_err(u: &Upload, source: StoreError) -> ExecError {
    ExecError::Upload {
        key: u.key.clone(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::executor_tests::upload;
    use super::*;

    /// Connections opened ahead: the largest wave the flow's start lets through (at least one, the record's),
    /// and one per invalidation.
    #[test]
    fn connections_for_the_plans_largest_wave() {
        let mut plan = Plan::default();
        assert_eq!(
            connections_for(&plan, 32, 1000),
            (1, 0),
            "the record's write"
        );
        plan.uploads = (0..4).map(|i| upload(&format!("a{i}.png"))).collect();
        plan.uploads
            .extend((0..5).map(|i| upload(&format!("p{i}.html"))));
        assert_eq!(
            connections_for(&plan, 32, 1000),
            (5, 0),
            "a new post: 4 assets, 5 pages"
        );
        assert_eq!(
            connections_for(&plan, 3, 1000),
            (3, 0),
            "as far as the flow's start"
        );
        plan.deletes = (0..2500).map(|i| format!("d{i}")).collect();
        assert_eq!(
            connections_for(&plan, 32, 1000),
            (5, 0),
            "deletes go 1,000 a request"
        );
        plan.cdn = vec![crate::plan::CdnPlan {
            batches: vec![vec!["/a".into()], vec!["/b".into()]],
            ..Default::default()
        }];
        assert_eq!(connections_for(&plan, 32, 1000), (5, 2));
    }

    #[test]
    fn encodings_round_trip_and_are_deterministic() {
        use std::io::Read;
        let body = b"<html>hello hello hello hello</html>".repeat(50);
        let gz = encode(&body, Encoding::Gzip).unwrap();
        assert_eq!(gz, encode(&body, Encoding::Gzip).unwrap());
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body);
        assert!(gz.len() < body.len() / 5);
        let br = encode(&body, Encoding::Br).unwrap();
        let mut out = Vec::new();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body);
    }
}
