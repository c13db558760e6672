//! Publish on push: `git-publish install`/`uninstall`, the entry points of the hook shims, `git publish push`
//! and `git publish retry`.
//!
//! Git has no post-push hook. In the default mode two tiny shell shims (in `hooks/`, embedded by `shim`)
//! stand in for one: `pre-push` records what a `git push` is about to send to the site branch, keyed by that
//! `git push` process (the shims' parent); `reference-transaction`, in state `committed`, sees the
//! remote-tracking ref of the site branch move and, when the same `git push` left a record for that very
//! commit, publishes it. Fetches, dry runs, rejected and up-to-date pushes leave no matching pair, so they
//! publish nothing. Installed with `--previews`, the same pair publishes the preview of any other branch a push
//! sends, and removes it when the push deletes the branch (its remote-tracking ref goes). The shims decide in shell, without starting this binary, for every ref update that can't
//! be a push of the site branch; `reference-transaction` is only in place while such a push is in flight
//! (see `arm`).
//!
//! The rooms, each used only by the ones after it:
//! - `argv`: what a `git push` command line asks for (a dry run?), read as git reads it;
//! - `shim`: the shim text, its settings and shell quoting (each value once, in one pass), the hook files'
//!   names, marker and checksum (an edited shim is kept as `<hook>.edited`, by `install`);
//! - `install`: install and uninstall;
//! - `arm`: arming and disarming `reference-transaction`;
//! - `after_push`: publishing a pushed commit (as a rollback when live already contains it) or a pushed
//!   branch's preview (removing it for a deletion), and reporting a publish that failed after its push;
//! - `spawn`: the detached background publish;
//! - `push`: `git publish push` and `retry` (which compares the failed commit with what is live);
//! - `entry`: `git-publish hook …`, what the shims run.
//!
//! The push and failure records are in [`crate::records`]. This module edits only files it owns (marked
//! with `shim::MARKER`); a user's hook is moved aside next to ours and run first with the same arguments
//! and input; one of ours that someone edited is kept. It never runs git in another repository, and hook
//! output goes to stderr (a hook's stdout is git's stdout). Nothing here is used by publish: the hooks call
//! publish, never the other way round.

mod after_push;
mod argv;
mod arm;
mod entry;
mod install;
mod push;
mod shim;
mod spawn;

pub use after_push::what_failed;
pub use entry::hook;
pub use install::{install, uninstall};
pub use push::{parse_porcelain, push, retry, PushedRef};
