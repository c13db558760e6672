//! Integration tests, compiled as one binary: real git, the real binary, moto's S3 + CloudFront server.

mod bad_input;
mod cdn;
mod cdn_function;
mod history;
mod hooks;
mod hostile;
mod init;
mod large;
mod multisite;
mod output;
mod previews;
mod proxy;
mod publish;
mod redirects;
mod reliability;
mod review3;
mod roundtrips;
mod secrets;
mod setup;
mod state_record;
mod util;
