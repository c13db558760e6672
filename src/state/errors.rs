//! A store's error as the user sees it: naming the target.

use crate::error::Error;
use crate::exec::StoreError;

/// `e`, from the store of `target`'s record, as the crate's [`Error`] (the store's hint kept).
pub fn store_err(target: &str, e: StoreError) -> Error {
    match e {
        StoreError::Failed { message, hint } => Error::Store {
            target: target.into(),
            message,
            hint,
        },
        other => Error::Store {
            target: target.into(),
            message: other.to_string(),
            hint: String::new(),
        },
    }
}
