//! Integration tests, compiled as one binary: real git, the real binary, moto's S3 + CloudFront server.

mod bad_input;
mod hooks;
mod proxy;
mod publish;
mod reliability;
mod util;
