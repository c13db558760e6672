//! Azure, as adapters: Front Door's cache purge (`front_door.rs`: the executor's `Cdn` and the profile the
//! planner plans by) over Azure Resource Manager (`arm.rs`), on the HTTP stack already in the binary
//! (`exec::api`), with a token from the environment or the Azure CLI.
//!
//! Its tests (`tests.rs`) run against a local stand-in of the API (`tests/azure/front_door.py`).

pub mod arm;
pub mod front_door;
#[cfg(test)]
mod tests;

pub use arm::{Arm, Endpoint};
pub use front_door::{FrontDoor, PROFILE};
