//! Google Cloud Storage (`gs://bucket/prefix`) as the executor's store: the client built from Application
//! Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's ADC file, the metadata server), or pointed
//! at an emulator by `STORAGE_EMULATOR_HOST` without credentials, as Google's own clients do; and GCS's
//! truth as a [`StoreProfile`]: conditional writes on generation numbers (`x-goog-if-generation-match: 0` to
//! create, the record's generation to replace), no header change in place, 100 keys a delete (the JSON API's
//! batch limit, <https://cloud.google.com/storage/docs/batch>).

use std::sync::Arc;

use object_store::gcp::{GcpCredential, GoogleCloudStorageBuilder};
use object_store::StaticCredentialProvider;

use crate::exec::{StoreProfile, Versions};
use crate::objstore::{CloudStore, Hints, MetadataNames};

/// The variable Google's client libraries read to reach an emulator (`host:port` or a URL).
pub const EMULATOR_VAR: &str = "STORAGE_EMULATOR_HOST";

pub const PROFILE: StoreProfile = StoreProfile {
    max_keys_per_delete: 100,
    copies_in_place: false,
    versions: Versions::Generation,
};

pub const HINTS: Hints = Hints {
    credentials: "sign in with `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS \
                  to a service account's key file",
    missing: "create the bucket (`gcloud storage buckets create gs://BUCKET`), or fix `url` in site.toml",
    permission: "grant the account `roles/storage.objectAdmin` on the bucket (storage.objects.create, get, \
                 list, delete)",
};

/// The emulator's URL from `STORAGE_EMULATOR_HOST` (`host:port` gets `http://`), if set.
pub fn emulator_url() -> Option<String> {
    let v = std::env::var(EMULATOR_VAR).ok().filter(|v| !v.is_empty())?;
    Some(match v.contains("://") {
        true => v.trim_end_matches('/').to_string(),
        false => format!("http://{}", v.trim_end_matches('/')),
    })
}

/// The store of `gs://bucket/prefix`. `allow_http` lets the emulator's URL be plain http (checked by the
/// caller, `backends::check_env_endpoints`).
pub fn store(bucket: &str, prefix: &str) -> Result<CloudStore, String> {
    let mut builder = GoogleCloudStorageBuilder::from_env().with_bucket_name(bucket);
    if let Some(url) = emulator_url() {
        let anonymous = GcpCredential {
            bearer: String::new(),
        };
        builder = builder
            .with_base_url(&url)
            .with_credentials(Arc::new(StaticCredentialProvider::new(anonymous)))
            .with_client_options(object_store::ClientOptions::new().with_allow_http(true));
    }
    let client = builder.build().map_err(|e| e.to_string())?;
    Ok(CloudStore::new(
        Arc::new(client),
        format!("gs://{bucket}"),
        prefix,
        PROFILE,
        HINTS,
        MetadataNames::AsGiven,
    ))
}
