//! Google Cloud, as adapters: Cloud Storage as the executor's object store (`storage.rs`, over the
//! `object_store` crate through `crate::objstore`).

pub mod storage;
