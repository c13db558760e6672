//! Settings, once: every way a publish starts (the command line, `rollback`, a hook after a push, `retry`)
//! is turned into [`PublishOpts`] here and nowhere else, so that a new flag is added in one place.

use std::time::Duration;

use crate::cli::{PublishArgs, RollbackArgs};

/// What one publish is asked to do, whoever asked.
#[derive(Debug, Clone, Default)]
pub struct PublishOpts {
    pub target: Option<String>,
    pub rev: Option<String>,
    pub dry_run: bool,
    pub since: Option<String>,
    pub full: bool,
    pub max_deletes: Option<usize>,
    pub take_over: bool,
    /// Replace an unreadable state object with `--since`/`--full` without asking.
    pub force_state: bool,
    pub wait: bool,
    pub wait_timeout: Option<Duration>,
    /// Set by `git publish rollback`: say so even when the commit is not in the history's later entries.
    pub rollback: bool,
    /// A commit a push sent: when what is live already contains it (a force-push back), the publish is a
    /// rollback, and says so (decided where the state is read, in `publish::prepare`).
    pub pushed: bool,
    /// `git publish preview`: publish to the target's preview space for a branch, not to the target.
    pub preview: Option<PreviewOpts>,
}

/// Which preview a publish goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewOpts {
    /// The preview's name (`crate::preview::name_for` of the branch).
    pub name: String,
    pub branch: String,
}

/// Who started a publish, with what they said.
pub enum Invocation<'a> {
    /// `git publish [publish] [flags]`.
    Cli(&'a PublishArgs),
    /// `git publish rollback`: `rev` is the history entry to publish again, `target` the target it is from.
    Rollback {
        args: &'a RollbackArgs,
        target: String,
        rev: String,
    },
    /// A hook after a push: publish `rev` (None: what `git publish` would choose, e.g. a snapshot build of HEAD)
    /// to the default target, or to its preview space for a pushed branch (`install --previews`).
    Hook {
        rev: Option<String>,
        preview: Option<PreviewOpts>,
    },
    /// `git publish retry`: the recorded failure's target and commit; `rollback` when live contains it.
    Retry {
        target: Option<String>,
        commit: String,
        rollback: bool,
    },
}

/// The one place that turns an invocation into [`PublishOpts`].
pub fn publish_opts(inv: Invocation<'_>) -> PublishOpts {
    match inv {
        Invocation::Cli(a) => PublishOpts {
            target: a.target.clone(),
            rev: a.rev.clone(),
            dry_run: a.dry_run,
            since: a.since.clone(),
            full: a.full,
            max_deletes: a.max_deletes,
            take_over: a.take_over,
            force_state: a.force_state,
            wait: a.wait,
            wait_timeout: a.wait_timeout,
            rollback: false,
            pushed: false,
            preview: None,
        },
        Invocation::Rollback { args, target, rev } => PublishOpts {
            target: Some(target),
            rev: Some(rev),
            dry_run: args.dry_run,
            max_deletes: args.max_deletes,
            wait: args.wait,
            rollback: true,
            ..PublishOpts::default()
        },
        Invocation::Hook { rev, preview } => PublishOpts {
            rev,
            pushed: true,
            preview,
            ..PublishOpts::default()
        },
        Invocation::Retry {
            target,
            commit,
            rollback,
        } => PublishOpts {
            target,
            rev: Some(commit),
            rollback,
            ..PublishOpts::default()
        },
    }
}
