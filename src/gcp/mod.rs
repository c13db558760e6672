//! Google Cloud, as adapters: Cloud Storage as the executor's object store (`storage.rs`, over the
//! `object_store` crate through `crate::objstore`), and Cloud CDN's cache invalidation (`cdn.rs`: the
//! executor's `Cdn` and the profile the planner plans by) over the Compute Engine API (`compute.rs`), on the
//! HTTP stack already in the binary (`exec::api`), with Application Default Credentials from `gcp_auth`.
//!
//! The invalidation's tests (`tests.rs`) run against a local stand-in of the API (`tests/gcp/cloud_cdn.py`);
//! the store's against gcp-storage-emulator with a layer (`tests/it/gcs.rs`, `tests/gcs/server.py`).

pub mod cdn;
pub mod compute;
pub mod storage;
#[cfg(test)]
mod tests;

pub use cdn::{CloudCdn, PROFILE};
pub use compute::{Compute, Token};
