//! Microsoft Azure, as adapters: Blob Storage as the executor's object store (`blob.rs`, over the
//! `object_store` crate through `crate::objstore`).

pub mod blob;
