//! git-publish: publish a static site committed in git to S3 + CloudFront (or a local directory).
//!
//! Data flows one way: `config` → `source` (git2) → `plan` (pure) → `exec` (async backends) → `state` → `ui`.
//! `publish` strings them together; `app` maps the command line onto it.

pub mod app;
pub mod build;
pub mod cli;
pub mod clock;
pub mod config;
pub mod error;
pub mod exec;
pub mod hooks;
pub mod iam;
pub mod init;
pub mod manpage;
pub mod os;
pub mod plan;
pub mod publish;
pub mod records;
pub mod settings;
pub mod source;
pub mod state;
pub mod ui;
