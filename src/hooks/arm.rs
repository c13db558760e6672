//! Arming and disarming the `reference-transaction` shim. Git starts that hook for every ref update, a few
//! times per commit, and starting any hook costs git about as much as a small commit; so, unless a user's
//! hook is chained through ours, the shim is kept disarmed as `reference-transaction.git-publish`. Pre-push
//! copies it into place ([`arm`]) for a push of the site branch, and it is removed again once no push is in
//! flight ([`disarm`], and the shim itself after a rejected or dry-run push). Git looks a hook up each time
//! it runs it, so the `git push` whose pre-push armed it runs it for its own remote-tracking ref update
//! (checked with git 2.39 and 2.47). This module only moves our own shim; it never writes a record.

use std::path::Path;

use super::shim::{self, armed_from_path, exists, is_ours, orig_path, REFERENCE_TRANSACTION_NAME};
use crate::error::{Error, Result};
use crate::records::{has_push_records, remove_stale_push_records};
use crate::source::Repo;
use crate::ui::Ui;

/// Put the `reference-transaction` shim in place for a push that pre-push just recorded. A no-op where it
/// stays in place anyway (a hook of the user's is chained through it, or an older install).
pub fn arm(ui: &Ui, dir: &Path) -> Result<()> {
    let hook = dir.join(REFERENCE_TRANSACTION_NAME);
    let from = armed_from_path(&hook);
    if exists(&orig_path(&hook)) || !exists(&from) {
        return Ok(());
    }
    if exists(&hook) && !is_ours(&hook) {
        ui.warn(&format!(
            "{} is not git-publish's, so this push can't be confirmed and won't be published; run `git-publish install` again to chain it, and `git publish` to publish now",
            hook.display()
        ));
        return Ok(());
    }
    // A fresh copy renamed over the hook even when it is there: a concurrent disarm that removed it first
    // then sees this push's record and arms it again (see hooks/reference-transaction).
    let text =
        std::fs::read(&from).map_err(|e| Error::io(format!("reading {}", from.display()), e))?;
    shim::write_executable(&hook, &text)
}

/// After a push was published: remove the armed `reference-transaction` unless another push is in flight.
pub fn disarm(ui: &Ui, repo: &Repo, dir: &Path) {
    let hook = dir.join(REFERENCE_TRANSACTION_NAME);
    if exists(&orig_path(&hook)) || !exists(&armed_from_path(&hook)) || !is_ours(&hook) {
        return;
    }
    remove_stale_push_records(repo);
    if has_push_records(repo) {
        return;
    }
    let _ = std::fs::remove_file(&hook);
    // A pre-push that recorded a push since the check above armed the hook before or after this removal;
    // in the first case, arm it again.
    if has_push_records(repo) {
        let _ = arm(ui, dir);
    }
}
