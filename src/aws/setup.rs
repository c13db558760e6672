//! `git publish setup`, the AWS side: read what exists into a [`Seen`] ([`observe`]), and carry out the
//! [`Step`]s `setup::plan` chose ([`apply`]), each with the SDK calls it takes: S3 (bucket, Block Public Access,
//! ownership, encryption, tags, policy), CloudFront (origin access control, function, distribution, tags;
//! updates with the ETag read: If-Match), ACM (the certificate, in us-east-1: `acm.rs`) and Route 53
//! (`--route53`: `dns.rs`).
//!
//! Decides nothing: which steps, and the settings and policy they write, come from `crate::setup`.

mod acm;
mod apply;
mod clients;
mod dns;
mod observe;

pub use apply::{apply, Inputs, Made};
pub use clients::Clients;
pub use observe::{observe, observe_bucket, settings_of};
