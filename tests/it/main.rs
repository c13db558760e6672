//! Integration tests, compiled as one binary: real git, the real binary, moto's S3 + CloudFront server.

mod azure;
mod bad_input;
mod cdn;
mod cdn_function;
mod cloud_cdn;
mod cloudflare;
mod clouds;
mod deletes;
mod docs;
mod first_hour;
mod front_door;
mod gcs;
mod history;
mod hooks;
mod hostile;
mod init;
mod invocation;
mod large;
mod multisite;
mod order;
mod output;
mod preview_docs;
mod preview_hooks;
mod preview_serving;
mod previews;
mod production;
mod proxy;
mod publish;
mod redirects;
mod reliability;
mod resume;
mod review3;
mod roundtrips;
mod secrets;
mod setup;
mod setup_previews;
/// The cloud API stand-ins' launcher, shared with the unit tests.
#[path = "../../src/exec/stand_in.rs"]
mod stand_in;
mod state_record;
mod stores;
mod util;
mod wait;
