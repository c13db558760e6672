//! Google Cloud, as adapters: Cloud CDN's cache invalidation (`cdn.rs`: the executor's `Cdn` and the profile
//! the planner plans by) over the Compute Engine API (`compute.rs`), on the HTTP stack already in the binary
//! (`exec::api`), with Application Default Credentials from `gcp_auth`.
//!
//! Its tests (`tests.rs`) run against a local stand-in of the API (`tests/gcp/cloud_cdn.py`).

pub mod cdn;
pub mod compute;
#[cfg(test)]
mod tests;

pub use cdn::{CloudCdn, PROFILE};
pub use compute::{Compute, Token};
