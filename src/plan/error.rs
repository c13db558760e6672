//! The planner's errors: a site path that cannot become a key, and a plan a safety limit refuses.
//!
//! Owns [`PlanError`]; its conversion into the crate's `Error`, which is what a user sees, is in
//! `crate::error` (above the planner): the messages here are the same as there (a test checks it), and the
//! hint and the exit code come from there, so a `?` in a caller keeps today's output. Must not hold control
//! flow: a plan that needs the listing of the new tree is [`super::Outcome::NeedsListing`], not an error.

use crate::quote::quote_path;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The site path has `.`/`..`/empty components or is absolute ([`super::key_for`]).
    #[error("`{}` would be published outside the target (key `{}`)", quote_path(.path), quote_path(.key))]
    KeyEscapes { path: String, key: String },
    /// A component of the site path is [`super::STATE_DIR`], at any depth and in any case.
    #[error("`{}` uses the name reserved for git-publish's own state", quote_path(.path))]
    ReservedPath { path: String },
    /// A component of the site path is a name git treats as `.git` (see [`super::paths`]).
    #[error("`{}` has a component `{}` that git treats as `.git`: publishing it could plant a repository", quote_path(.path), quote_path(.component))]
    GitPath { path: String, component: String },
    /// The site path is, or is under, a key the deploy record (or a file beside it) takes.
    #[error("`{}` would overwrite the deploy record: key `{}` is reserved for the record at {}", quote_path(.path), quote_path(.key), quote_path(.record))]
    RecordPath {
        path: String,
        key: String,
        record: String,
    },
    /// The site path is under `_previews/`, where the target's branch previews live.
    #[error("`{}` is under `{}/`, where git-publish keeps the branch previews (`git publish preview`)", quote_path(.path), crate::plan::names::PREVIEWS_DIR)]
    PreviewPath { path: String },
    /// A directory target can't hold the name on Windows (see [`super::paths::not_portable`]).
    #[error("`{}` can't be written to a directory: `{}` {why}", quote_path(.path), quote_path(.component))]
    NotPortable {
        path: String,
        component: String,
        why: &'static str,
    },
    /// Two paths a case-insensitive or normalising filesystem takes for one file.
    #[error("`{}` and `{}` name the same file on a case-insensitive or normalising filesystem (macOS, Windows): one would overwrite the other", quote_path(.first), quote_path(.second))]
    SameFile { first: String, second: String },
    /// The key is longer than S3 accepts.
    #[error("the key of `{}` is {len} bytes long; S3 keys are at most 1,024 bytes", quote_path(.path))]
    KeyTooLong { path: String, len: usize },
    /// More deletes than `max_deletes` / `--max-deletes`: nothing runs.
    #[error("refusing to delete {count} objects from {target}: the limit is {limit}")]
    TooManyDeletes {
        count: usize,
        limit: usize,
        target: String,
    },
    /// The redirect table refuses an entry (see `redirects`).
    #[error("{message}")]
    Redirect { message: String, hint: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{exit, Error};

    /// Each planner error reads as it did when the planner returned [`Error`]: same message, hint and code.
    #[test]
    fn converts_without_changing_what_the_user_sees() {
        let table = [
            (
                PlanError::KeyEscapes {
                    path: "../x".into(),
                    key: "blog/../x".into(),
                },
                exit::USAGE,
            ),
            (
                PlanError::ReservedPath {
                    path: ".git-publish/x".into(),
                },
                exit::USAGE,
            ),
            (
                PlanError::GitPath {
                    path: "a/.GIT/config".into(),
                    component: ".GIT".into(),
                },
                exit::USAGE,
            ),
            (
                PlanError::RecordPath {
                    path: "meta/site.json".into(),
                    key: "meta/site.json".into(),
                    record: "s3://b/meta/site.json".into(),
                },
                exit::USAGE,
            ),
            (
                PlanError::NotPortable {
                    path: "a\\b".into(),
                    component: "a\\b".into(),
                    why: "holds a `\\`",
                },
                exit::USAGE,
            ),
            (
                PlanError::SameFile {
                    first: "A.html".into(),
                    second: "a.html".into(),
                },
                exit::USAGE,
            ),
            (
                PlanError::KeyTooLong {
                    path: "x".into(),
                    len: 1025,
                },
                exit::USAGE,
            ),
            (
                PlanError::TooManyDeletes {
                    count: 6,
                    limit: 5,
                    target: "prod".into(),
                },
                exit::REFUSED,
            ),
            (
                PlanError::Redirect {
                    message: "loop".into(),
                    hint: "remove one".into(),
                },
                exit::USAGE,
            ),
        ];
        for (e, code) in table {
            let user = Error::from(e.clone());
            assert_eq!(e.to_string(), user.to_string());
            assert!(e.hint().is_some(), "{e}");
            assert_eq!(e.hint(), user.hint());
            assert_eq!(user.exit_code(), code, "{e}");
        }
    }
}
