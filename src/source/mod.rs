//! The git side: the only module that uses git2, and the one that reads git objects by any other way.
//!
//! Resolves revisions, finds the output subtree of a commit, lists it, diffs two subtrees and reads blob
//! bytes by id. Everything it returns is copied into owned plain types ([`Change`](crate::plan::Change), [`FileEntry`],
//! hex ids as `String`) so that the planner and executor never see git2. The bytes published come from git objects
//! only; the working tree is read for two things and never published from: `worktree.rs` looks at it to warn
//! about uncommitted changes, and `snapshot.rs` commits a build directory from it into objects first.
//!
//! | file          | owns                                                                           |
//! |---------------|--------------------------------------------------------------------------------|
//! | `repo.rs`     | [`Repo`]: open, revisions, refs, config values, the listing of a tree          |
//! | `tree_diff.rs`| the hand-written walk that diffs two trees (checked against `git diff-tree`)   |
//! | `blobs.rs`    | blob bytes, with the one fallback chain libgit2 → loose-object inflate → `git cat-file` |
//! | `worktree.rs` | the one dirty check of the working tree                                        |
//! | `similar.rs`  | which deleted page and which added page hold mostly the same text (renames)   |
//! | `snapshot.rs` | snapshot builds: a build directory committed onto a snapshot ref               |
//!
//! It must not plan, talk to a store, or print: callers decide what a fact means.

mod blobs;
mod repo;
mod similar;
mod snapshot;
#[cfg(test)]
mod test_repo;
mod tree_diff;
mod worktree;

pub use blobs::BlobReader;
pub use repo::*;
pub use snapshot::{Snapshot, SnapshotInfo};
pub use worktree::UncommittedCount;
