//! Microsoft Azure, as adapters: Blob Storage as the executor's object store (`blob.rs`, over the
//! `object_store` crate through `crate::objstore`), and Front Door's cache purge (`front_door.rs`: the
//! executor's `Cdn` and the profile the planner plans by) over Azure Resource Manager (`arm.rs`), on the HTTP
//! stack already in the binary (`exec::api`), with a token from the environment or the Azure CLI.
//!
//! The purge's tests (`tests.rs`) run against a local stand-in of the API (`tests/azure/front_door.py`); the
//! store's run against Azurite (`tests/it/azure.rs`).

pub mod arm;
pub mod blob;
pub mod front_door;
#[cfg(test)]
mod tests;

pub use arm::{Arm, Endpoint};
pub use front_door::{FrontDoor, PROFILE};
