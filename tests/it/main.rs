//! Integration tests, compiled as one binary: real git, the real binary, moto's S3 + CloudFront server.

mod bad_input;
mod cdn;
mod cdn_function;
mod deletes;
mod history;
mod hooks;
mod hostile;
mod init;
mod invocation;
mod large;
mod order;
mod output;
mod production;
mod proxy;
mod publish;
mod redirects;
mod reliability;
mod resume;
mod secrets;
mod setup;
mod state_record;
mod util;
mod wait;
