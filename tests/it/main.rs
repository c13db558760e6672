//! Integration tests, compiled as one binary: real git, the real binary, moto's S3 + CloudFront server.

mod bad_input;
mod cdn;
mod cdn_function;
mod docs;
mod first_hour;
mod history;
mod hooks;
mod hostile;
mod init;
mod large;
mod multisite;
mod output;
mod preview_docs;
mod preview_hooks;
mod previews;
mod proxy;
mod publish;
mod redirects;
mod reliability;
mod review3;
mod secrets;
mod setup;
mod state_record;
mod util;
