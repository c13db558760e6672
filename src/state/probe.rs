//! The conditional-write probe: before the first claim on a store, whether it refuses the writes whose
//! condition fails (`If-None-Match: *` over an object, `If-Match` with a wrong ETag), which the claim
//! protocol relies on. The probe object lives beside the record, never at a key of the site.

use super::errors::store_err;
use crate::error::Result;
use crate::exec::{ObjectStore, Precondition, StoreError, Versions};

/// Whether a publish to this target probes the store (until its record keeps a pass): not under
/// `locking = "none"`, nor for a local directory, whose conditions are emulated under a lock file.
pub fn probes(target: &crate::config::Target) -> bool {
    !matches!(target.store.backend, crate::config::Backend::Local { .. })
        && target.store.locking != crate::config::Locking::None
}

/// The probe object: `.git-publish/probe` beside a record in our own directory; beside a record elsewhere
/// (`state = "s3://BUCKET/site.json"`), the record's key plus `.probe`, so no key of anyone else's is touched.
pub fn probe_key(state_key: &str) -> String {
    let ours = format!("{}/state.json", crate::plan::STATE_DIR);
    match state_key.strip_suffix("state.json") {
        Some(dir) if state_key == ours || state_key.ends_with(&format!("/{ours}")) => {
            format!("{dir}probe")
        }
        _ => format!("{state_key}.probe"),
    }
}

/// Whether the store refuses writes whose condition fails, which the claim protocol relies on. Makes sure the
/// probe object exists, then writes it with `If-None-Match: *` and with `If-Match` and a wrong ETag: both must
/// answer 412. `Ok(None)`: honoured; `Ok(Some(what))`: the write that should have failed and did not.
pub async fn probe_conditional_writes(
    store: &dyn ObjectStore,
    key: &str,
    target: &str,
) -> Result<Option<String>> {
    probe_create(store, key, target).await?;
    probe_refusals(store, key, target).await
}

/// The probe's first step: make sure the probe object exists (a 412 on the create says it does). A first
/// publish sends it while it reads the record, so that it costs no round trip of its own.
pub async fn probe_create(store: &dyn ObjectStore, key: &str, target: &str) -> Result<()> {
    match store
        .put_versioned(key, PROBE_BODY.to_vec(), Precondition::Absent)
        .await
    {
        Ok(_) | Err(StoreError::PreconditionFailed) => Ok(()),
        Err(e) => Err(store_err(target, e)),
    }
}

/// The probe's second step, once the object exists: the two writes that must fail, at once (a publish sends
/// them beside its claim). `Some(what)`: one succeeded, so the store ignores that condition.
pub async fn probe_refusals(
    store: &dyn ObjectStore,
    key: &str,
    target: &str,
) -> Result<Option<String>> {
    // A version the object can't have, in the store's own kind: an ETag, or a generation (GCS numbers them
    // from the time in microseconds, so never 1).
    let wrong = Precondition::Matches(match store.profile().versions {
        Versions::ETag => "\"00000000000000000000000000000000\"".into(),
        Versions::Generation => "1".into(),
    });
    let (absent, matches) = futures::join!(
        store.put_versioned(key, PROBE_BODY.to_vec(), Precondition::Absent),
        store.put_versioned(key, PROBE_BODY.to_vec(), wrong),
    );
    for (answer, what) in [
        (absent, "`If-None-Match: *` over an existing object"),
        (matches, "`If-Match` with a wrong ETag"),
    ] {
        match answer {
            Err(StoreError::PreconditionFailed) => {}
            Ok(_) => return Ok(Some(format!("a PUT of {key} with {what} succeeded"))),
            Err(e) => return Err(store_err(target, e)),
        }
    }
    Ok(None)
}

const PROBE_BODY: &[u8] = b"git-publish: conditional-write probe (see `git publish doctor`)\n";
