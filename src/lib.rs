//! git-publish: publish a static site committed in git to S3 + CloudFront (or a local directory).
//!
//! Modules import downward, never back:
//! `main` → `app` → `cmd/*` → {`hooks`, `publish`} → {`plan`, `setup`, `exec`, `source`, `state`, `config`,
//! `ui`, `records`, `settings`} → `error` → `quote` (how a name from a tree or a record is shown). Inside the
//! lower layer a few imports go sideways, one way only: `ui` renders `exec`'s events, `state` writes through
//! `exec`'s store trait, `exec` reads blobs from `source` and carries out `setup`'s steps, and `config`
//! compiles `plan`'s rules.
//!
//! A publish (`publish`, as prepare → apply → wait) reads `config`, resolves the commit and diffs through
//! `source` (git), plans with `plan` (pure), claims and transfers with `state` and `exec`, then records the
//! result in `state` and `records`. `cmd/` has one file per command; `hooks` publishes after a push.

pub mod app;
pub mod aws;
pub mod azure;
pub mod backends;
pub mod build;
pub mod cli;
pub mod clock;
pub mod cloudflare;
pub mod cmd;
pub mod config;
pub mod error;
pub mod exec;
pub mod gcp;
pub mod hooks;
pub mod identity;
pub mod objstore;
pub mod os;
pub mod plan;
pub mod preview;
pub mod publish;
pub mod quote;
pub mod records;
pub mod settings;
pub mod setup;
pub mod source;
pub mod state;
pub mod ui;
