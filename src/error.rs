//! Error types and exit codes.
//!
//! Every failure a user can see ends up as an [`Error`]: a variant that carries the thing that failed
//! (file, key, flag, commit) and, through [`Error::hint`], the fix. `main` prints it once, with its chain,
//! and exits with [`Error::exit_code`]. Exit codes are named here ([`ExitCode`]) and nowhere else.
//! This module depends on nothing else in the crate but [`crate::quote`] (names from a tree or a record in a
//! message are shown quoted); it decides no behaviour, only how a failure is named, hinted and numbered.

use crate::plan::PlanError;
use std::path::PathBuf;

use crate::quote::quote_path;

/// Every exit code of git-publish, documented in the README ("Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ExitCode {
    /// Published, or nothing to do.
    Success = 0,
    /// Runtime failure: network, AWS, git read, local IO. Nothing was recorded as deployed.
    Runtime = 1,
    /// Usage or configuration error, or bad input in the commit (clap also uses 2).
    Usage = 2,
    /// Another publisher holds the target, or won the race for it.
    Busy = 3,
    /// A safety limit refused the plan (e.g. `max_deletes`); nothing was changed.
    Refused = 4,
    /// Interrupted by Ctrl-C (SIGINT), as shells report it: 128 + 2. The target keeps the claim's record
    /// that the publish is incomplete; the next publish resumes it.
    Interrupted = 130,
}

impl From<ExitCode> for i32 {
    fn from(code: ExitCode) -> i32 {
        code as i32
    }
}

/// The exit codes as plain numbers, for code that also passes on another process's status.
pub mod exit {
    use super::ExitCode;

    pub const OK: i32 = ExitCode::Success as i32;
    pub const RUNTIME: i32 = ExitCode::Runtime as i32;
    pub const USAGE: i32 = ExitCode::Usage as i32;
    pub const BUSY: i32 = ExitCode::Busy as i32;
    pub const REFUSED: i32 = ExitCode::Refused as i32;
    pub const INTERRUPTED: i32 = ExitCode::Interrupted as i32;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- configuration ------------------------------------------------------------------------
    #[error("no config file: {path} does not exist")]
    ConfigMissing { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    ConfigRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    ConfigParse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    ConfigInvalid {
        path: PathBuf,
        message: String,
        hint: String,
    },
    #[error("unknown target `{name}` (known: {known})")]
    UnknownTarget { name: String, known: String },
    #[error("several targets ({known}) and none is the default")]
    NoDefaultTarget { known: String },
    #[error("{0}")]
    Usage(String),
    #[error("{path} already exists")]
    ConfigExists { path: PathBuf },
    #[error("init: {message}")]
    Init { message: String, hint: String },
    #[error("demo: {message}")]
    Demo { message: String, hint: String },

    // ---- git -------------------------------------------------------------------------------------
    #[error("not in a git repository: {0}")]
    NotARepo(String),
    #[error("revision `{rev}` not found in {repo}")]
    RevNotFound { rev: String, repo: String },
    #[error("output directory `{dir}` does not exist in commit {commit}")]
    OutputDirMissing { dir: String, commit: String },
    #[error(
        "the deployed commit {commit} (recorded in {target}'s state) is not in this repository"
    )]
    DeployedCommitUnknown { commit: String, target: String },
    #[error(
        "`{}` in the output of {commit} is a {what}; git-publish does not follow or publish it",
        quote_path(.path)
    )]
    UnsupportedEntry {
        path: String,
        what: &'static str,
        commit: String,
    },
    #[error("file name `{}` in {commit} is not valid UTF-8; S3 keys must be UTF-8", quote_path(.path))]
    NonUtf8Path { path: String, commit: String },
    #[error("`{}` would be published outside the target (key `{}`)", quote_path(.path), quote_path(.key))]
    KeyEscapes { path: String, key: String },
    #[error("`{}` uses the name reserved for git-publish's own state", quote_path(.path))]
    ReservedPath { path: String },
    #[error("`{}` has a component `{}` that git treats as `.git`: publishing it could plant a repository", quote_path(.path), quote_path(.component))]
    GitPath { path: String, component: String },
    #[error("the key of `{}` is {len} bytes long; S3 keys are at most 1,024 bytes", quote_path(.path))]
    KeyTooLong { path: String, len: usize },
    #[error("`{}` would overwrite the deploy record: key `{}` is reserved for the record at {}", quote_path(.path), quote_path(.key), quote_path(.record))]
    RecordPath {
        path: String,
        key: String,
        record: String,
    },
    #[error("`{}` can't be written to a directory: `{}` {why}", quote_path(.path), quote_path(.component))]
    NotPortable {
        path: String,
        component: String,
        why: &'static str,
    },
    #[error("`{}` is under `{}/`, where git-publish keeps the branch previews (`git publish preview`)", quote_path(.path), crate::plan::PREVIEWS_DIR)]
    PreviewPath { path: String },
    #[error("`{}` and `{}` name the same file on a case-insensitive or normalising filesystem (macOS, Windows): one would overwrite the other", quote_path(.first), quote_path(.second))]
    SameFile { first: String, second: String },
    #[error("a corrupt tree in {commit}: {why} in {}", quote_path(.dir))]
    CorruptTree {
        commit: String,
        dir: String,
        why: &'static str,
    },
    /// A redirect the table refuses (a loop, a `from` that is a published file).
    #[error("{message}")]
    Redirect { message: String, hint: String },
    #[error("git: {0}")]
    Git(String),

    // ---- snapshot builds and history -----------------------------------------------------------------
    #[error("the build command failed ({status}): {command}")]
    BuildFailed { command: String, status: String },
    #[error("build directory `{dir}` does not exist (source.build_dir)")]
    BuildDirMissing { dir: String },
    #[error("file name `{}` in the build directory `{dir}` is not valid UTF-8; S3 keys must be UTF-8", quote_path(.path))]
    BuildNonUtf8Path { path: String, dir: String },
    #[error("{name} points at {commit}, which is not a git-publish snapshot")]
    SnapshotRefForeign { name: String, commit: String },
    #[error("{rev} has no output: it is not a snapshot, no snapshot on {snapshot_ref} was built from it, and it holds no `{dir}` directory")]
    NoSnapshotOf {
        rev: String,
        snapshot_ref: String,
        dir: String,
    },
    #[error("{target} has {} in its history; cannot go back {steps}", crate::quote::count(*available as u64, "earlier deploy", "earlier deploys"))]
    RollbackOutOfRange {
        target: String,
        steps: usize,
        available: usize,
    },

    // ---- plan limits -----------------------------------------------------------------------------
    #[error("refusing to delete {count} objects from {target}: the limit is {limit}")]
    TooManyDeletes {
        count: usize,
        limit: usize,
        target: String,
    },

    // ---- target / AWS ----------------------------------------------------------------------------
    #[error("{target}: {message}")]
    Store {
        target: String,
        message: String,
        hint: String,
    },
    /// A CDN's request failed. `cdn` names it as its adapter describes it (`exec::Cdn::describe`: "CloudFront
    /// distribution E…", "Cloudflare zone …"); `hint` is the adapter's fix when it has one.
    #[error("{cdn}: {message}")]
    Cdn {
        cdn: String,
        message: String,
        hint: String,
    },
    #[error("{target} is being published by {holder} since {} (commit {commit})", quote_path(.since))]
    Busy {
        target: String,
        holder: String,
        since: String,
        commit: String,
    },
    /// Ctrl-C during the uploads: the claim was released with the record that the publish is incomplete.
    #[error("{target}: publish failed: interrupted (Ctrl-C)")]
    Interrupted { target: String },
    #[error("{target}: another publisher changed the state while this one ran; nothing more was written")]
    LostRace { target: String },
    #[error("{target} was published by {} at {} (commit {commit}) while this publish was planning; nothing was written", quote_path(.by), quote_path(.at))]
    Overtaken {
        target: String,
        by: String,
        at: String,
        commit: String,
    },
    #[error("state of {target} ({key}) is unreadable: {message}")]
    StateCorrupt {
        target: String,
        key: String,
        message: String,
    },
    #[error("state of {target} ({key}) was written by a newer git-publish (format {found}; this one reads formats up to {supported})")]
    StateTooNew {
        target: String,
        key: String,
        found: u32,
        supported: u32,
    },
    #[error("{store} ignores conditional writes ({what}): two publishers could overwrite each other's claim; nothing was published")]
    ConditionalWritesIgnored {
        target: String,
        store: String,
        what: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The exit code of a run that ended with this error.
    pub fn exit(&self) -> ExitCode {
        use Error::*;
        match self {
            ConfigMissing { .. }
            | ConfigRead { .. }
            | ConfigParse { .. }
            | ConfigInvalid { .. }
            | UnknownTarget { .. }
            | NoDefaultTarget { .. }
            | Usage(_)
            | ConfigExists { .. }
            | Init { .. }
            | Demo { .. }
            | NotARepo(_)
            | RevNotFound { .. }
            | OutputDirMissing { .. }
            | DeployedCommitUnknown { .. }
            | UnsupportedEntry { .. }
            | NonUtf8Path { .. }
            | KeyEscapes { .. }
            | ReservedPath { .. }
            | GitPath { .. }
            | CorruptTree { .. }
            | KeyTooLong { .. }
            | RecordPath { .. }
            | NotPortable { .. }
            | SameFile { .. }
            | PreviewPath { .. }
            | Redirect { .. }
            | BuildDirMissing { .. }
            | BuildNonUtf8Path { .. }
            | SnapshotRefForeign { .. }
            | NoSnapshotOf { .. }
            | RollbackOutOfRange { .. } => ExitCode::Usage,
            TooManyDeletes { .. } | ConditionalWritesIgnored { .. } => ExitCode::Refused,
            Interrupted { .. } => ExitCode::Interrupted,
            Busy { .. } | LostRace { .. } | Overtaken { .. } => ExitCode::Busy,
            Git(_)
            | BuildFailed { .. }
            | Store { .. }
            | Cdn { .. }
            | StateCorrupt { .. }
            | StateTooNew { .. }
            | Io { .. } => ExitCode::Runtime,
        }
    }

    pub fn exit_code(&self) -> i32 {
        self.exit().into()
    }

    /// The fix, in one or two sentences naming the flag, key or command to use. (A lookup table: one arm per
    /// variant, which is why it is long.)
    pub fn hint(&self) -> Option<String> {
        use Error::*;
        Some(match self {
            ConfigMissing { .. } => "create one from the documented example: `cp site.toml.example site.toml` \
                 (or run `git publish init`), or point at another file with `--config PATH`"
                .into(),
            ConfigParse { .. } => "fix the line above; every key is documented in site.toml.example".into(),
            ConfigInvalid { hint, .. } => hint.clone(),
            Redirect { hint, .. } => hint.clone(),
            ConfigExists { .. } => "edit it (every key is documented in site.toml.example), or overwrite it with \
                 `git publish init --force`"
                .into(),
            Init { hint, .. } | Demo { hint, .. } => hint.clone(),
            UnknownTarget { .. } => "use one of the known names with `--target NAME`, or add `[targets.NAME]` to site.toml".into(),
            NoDefaultTarget { .. } => "pass `--target NAME`, or mark one target with `default = true` in site.toml".into(),
            NotARepo(_) => "run git-publish inside the site's git repository".into(),
            RevNotFound { .. } => "check the name with `git log --oneline`; for `--rev` give a commit, branch or tag; \
                 for `source.branch` in site.toml give an existing branch"
                .into(),
            OutputDirMissing { .. } => "set `source.dir` in site.toml to the directory that holds the generated site \
                 (\"\" for the whole tree), and check that it was committed"
                .into(),
            DeployedCommitUnknown { .. } => "fetch it (`git fetch --unshallow`, or `git fetch origin`), or tell git-publish \
                 what is deployed with `--since REV` (or `--full` to upload everything)"
                .into(),
            UnsupportedEntry { .. } => "replace it with a regular file in the generator's output (or remove it) and commit".into(),
            NonUtf8Path { .. } => "rename the file to a UTF-8 name and commit".into(),
            KeyEscapes { .. } => "rename the file: path components `.` and `..` are not allowed".into(),
            ReservedPath { .. } => "rename `.git-publish` in the output (at any depth, in any case); that name holds git-publish's deployed-commit record".into(),
            CorruptTree { .. } => "git itself refuses such a tree (`git fsck`): rebuild the commit with git (e.g. \
                 `git commit` of a fresh checkout of the output); nothing was written"
                .into(),
            GitPath { .. } => "remove that directory from the generator's output (git itself refuses such names) and commit; nothing was written".into(),
            RecordPath { .. } => "rename or remove that file in the output, or move the record elsewhere with `state` \
                 in site.toml; nothing was written"
                .into(),
            NotPortable { .. } => "rename the file in the generator's output (git for Windows refuses such names \
                 too) and commit; nothing was written"
                .into(),
            PreviewPath { .. } => "rename that directory in the generator's output and commit (production's \
                 files never go where previews are); nothing was written"
                .into(),
            SameFile { .. } => "rename one of the two in the generator's output (they differ only in case or in \
                 Unicode normalisation) and commit; nothing was written"
                .into(),
            KeyTooLong { .. } => "shorten the file's path (or the target's key prefix) and commit; nothing was written".into(),
            BuildFailed { .. } => "run the command by hand from the repository root and fix it, or change \
                 `source.build_command` in site.toml; nothing was committed or published"
                .into(),
            BuildDirMissing { .. } => "set `source.build_dir` in site.toml to the directory your generator writes, \
                 or set `source.build_command` so that git-publish runs the build first"
                .into(),
            BuildNonUtf8Path { .. } => "make the generator write UTF-8 file names (or remove that file from the build \
                 directory); nothing was committed"
                .into(),
            SnapshotRefForeign { .. } => "that ref holds other commits: set `source.snapshot_ref` in site.toml to a \
                 ref of its own (e.g. \"refs/heads/site-builds\")"
                .into(),
            NoSnapshotOf { snapshot_ref, .. } => format!(
                "give a snapshot commit (`git log {snapshot_ref}`), or check out that commit and run `git publish` \
                 to build and publish it; in another clone, fetch the snapshot ref first"
            ),
            RollbackOutOfRange { .. } => "`git publish log` lists the deploys you can go back to; use a smaller \
                 --steps, or `git publish --rev REV` for any commit"
                .into(),
            TooManyDeletes { .. } => "check the plan with `--dry-run`; if it is right, allow it with `--max-deletes N` \
                 (or raise `max_deletes` for the target in site.toml)"
                .into(),
            Store { hint, .. } | Cdn { hint, .. } => {
                if hint.is_empty() {
                    return None;
                }
                hint.clone()
            }
            Busy { .. } => "wait for it to finish (`git publish status` shows it); if that publisher is gone for good, \
                 take over with `--take-over`"
                .into(),
            LostRace { .. } | Overtaken { .. } => "run `git publish status`, then publish again".into(),
            Interrupted { .. } => "nothing was recorded as deployed; fix the cause and run `git publish` again: it resumes".into(),
            StateCorrupt { .. } => "inspect the object; if the deployed commit is known, replace the state with \
                 `git publish --since REV --force-state` (or `--full --force-state`); its bytes are kept beside it"
                .into(),
            StateTooNew { .. } => "upgrade git-publish on this machine (INSTALL.md; `git-publish --version` \
                 says which this is), then publish again; the record is left as it is, and `--force-state` never \
                 replaces one a newer git-publish wrote"
                .into(),
            ConditionalWritesIgnored { target, .. } => format!(
                "use a store that honours `If-None-Match` and `If-Match` (AWS S3 does; check with `git publish doctor`), \
                 or, if only one publisher ever writes to it, set `locking = \"none\"` under [targets.{target}] in site.toml"
            ),
            _ => return None,
        })
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Print an error once, on stderr: message, then the fix. Returns its exit code.
pub fn report(e: &Error) -> i32 {
    use crate::quote::scrub;
    stderr_line(&format!("git-publish: error: {}", scrub(&e.to_string())));
    if let Some(h) = e.hint() {
        stderr_line(&format!("  hint: {}", scrub(&h)));
    }
    e.exit_code()
}

/// One line on stderr. A closed stderr (`git publish 2>&1 | head -2`) is ignored: losing a message must never
/// abort a publish half-way (Rust's `eprintln!` panics there, which left a claim on the target). Lives here,
/// the bottom of the module graph, so that every module (and [`report`]) can use it.
pub fn stderr_line(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

impl PlanError {
    /// The fix, as the user sees it (the hint of the [`Error`] this becomes).
    pub fn hint(&self) -> Option<String> {
        Error::from(self.clone()).hint()
    }
}

impl From<PlanError> for Error {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::KeyEscapes { path, key } => Error::KeyEscapes { path, key },
            PlanError::ReservedPath { path } => Error::ReservedPath { path },
            PlanError::GitPath { path, component } => Error::GitPath { path, component },
            PlanError::KeyTooLong { path, len } => Error::KeyTooLong { path, len },
            PlanError::RecordPath { path, key, record } => Error::RecordPath { path, key, record },
            PlanError::PreviewPath { path } => Error::PreviewPath { path },
            PlanError::NotPortable {
                path,
                component,
                why,
            } => Error::NotPortable {
                path,
                component,
                why,
            },
            PlanError::SameFile { first, second } => Error::SameFile { first, second },
            PlanError::TooManyDeletes {
                count,
                limit,
                target,
            } => Error::TooManyDeletes {
                count,
                limit,
                target,
            },
            PlanError::Redirect { message, hint } => Error::Redirect { message, hint },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers are a public interface (README "Exit codes"): scripts and the hooks test them.
    #[test]
    fn exit_codes_are_stable() {
        let codes = [
            (ExitCode::Success, 0),
            (ExitCode::Runtime, 1),
            (ExitCode::Usage, 2),
            (ExitCode::Busy, 3),
            (ExitCode::Refused, 4),
            (ExitCode::Interrupted, 130),
        ];
        for (code, n) in codes {
            assert_eq!(i32::from(code), n, "{code:?}");
        }
        assert_eq!(exit::INTERRUPTED, 130);
    }

    #[test]
    fn ctrl_c_exits_130_and_a_failed_upload_1() {
        let interrupted = Error::Interrupted {
            target: "production".into(),
        };
        assert_eq!(interrupted.exit(), ExitCode::Interrupted);
        assert_eq!(interrupted.exit_code(), 130);
        let failed = Error::Store {
            target: "production".into(),
            message: "publish failed: uploading a: boom".into(),
            hint: String::new(),
        };
        assert_eq!(failed.exit_code(), exit::RUNTIME);
    }
}
