//! git-publish: publish a static site committed in git to S3 + CloudFront (or a local directory).
//!
//! Modules import only downward, so the graph has no cycles:
//! `main` → `app` → `cmd/*` → {`hooks`, `publish`} → {`plan`, `exec`, `source`, `state`, `config`, `ui`,
//! `records`, `settings`} → `error`. (Within the lower layer, `ui` renders `exec`'s events and `state` uses
//! `exec`'s store trait.)
//!
//! A publish reads `config`, resolves the commit and diffs through `source` (git), plans (`plan`, pure), claims
//! and transfers (`state`, `exec`), then records (`state`, `records`); `publish` runs those as
//! prepare → apply → wait. `cmd/` holds one file per command; `hooks` publishes after a push.

pub mod app;
pub mod build;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod error;
pub mod exec;
pub mod hooks;
pub mod iam;
pub mod init;
pub mod manpage;
pub mod plan;
pub mod publish;
pub mod records;
pub mod settings;
pub mod source;
pub mod state;
pub mod ui;
