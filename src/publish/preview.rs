//! The production side of a preview's publish (`git publish preview`, see `crate::preview`). A preview
//! publishes through the same prepare → apply as production, to its own prefix and record; what it needs of
//! production is read here, once, and never written:
//! - the files production holds, so that the preview's uploads whose bytes production already stores are
//!   copied server-side from production's keys (no bytes sent) ([`Production::elsewhere`]);
//! - production's invalidation paths this month, which count in the same monthly budget;
//! - production's record's version, read again after the copies ([`Production::unchanged`]): a production
//!   publish in between may have replaced a source while it was copied, and then the preview's record is not
//!   written (the next preview publish resumes and copies again).

use crate::backends::Backends;
use crate::config::Target;
use crate::error::{Error, Result};
use crate::plan::{FileEntry, Rules};
use crate::state::{self, Deploy, PreviewMeta};

use super::session::Session;
use crate::settings::PublishOpts;

/// What production holds, as its record said when the preview's publish read it.
#[derive(Debug, Clone)]
pub struct Production {
    key: String,
    target: String,
    etag: Option<String>,
    deployed: Option<Deploy>,
    /// A production publish is under way (or failed half-way): its files may be mid-change.
    pending: bool,
}

/// Files of production a preview may copy from: its key prefix, its deployed tree's files, its rules.
pub struct Elsewhere {
    pub prefix: String,
    pub files: Vec<FileEntry>,
    pub rules: Rules,
}

impl Production {
    /// Read production's record (`base`: the target the preview is of), in the store that keeps previews'
    /// records too.
    pub async fn read(backends: &Backends, base: &Target) -> Result<Production> {
        let key = state::key_of(base);
        let read = state::read_versioned(backends.state_store(), &key, &base.name).await?;
        let (st, etag) = match read {
            state::Read::Found(st, etag) => (Some(*st), Some(etag)),
            // Unreadable or absent: nothing to copy from, nothing to count.
            _ => (None, None),
        };
        Ok(Production {
            key,
            target: base.name.clone(),
            etag,
            pending: st.as_ref().is_some_and(|s| s.pending.is_some()),
            deployed: st.and_then(|s| s.deployed),
        })
    }

    /// Production's invalidation paths this month (they count in the same monthly budget).
    pub fn paths_used_in(&self, month: &str) -> usize {
        (self.deployed.as_ref()).map_or(0, |d| d.paths_used_in(month))
    }

    /// What a preview may copy from production: its deployed tree, when it is settled (no publish under way)
    /// and this clone has the tree. Not for a local directory, whose store can't reach outside the preview's
    /// own directory (its keys have no prefix).
    pub fn elsewhere(&self, s: &Session, base: &Target) -> Option<Elsewhere> {
        if matches!(base.store.backend, crate::config::Backend::Local { .. }) {
            return None;
        }
        let d = self.deployed.as_ref().filter(|_| !self.pending)?;
        let files = s.repo.listing(&d.tree, &d.commit).ok()?;
        let rules = match &d.rules {
            Some(specs) => Rules::compile(specs).ok()?,
            None => Rules::default(),
        };
        Some(Elsewhere {
            prefix: base.prefix().to_string(),
            files,
            rules,
        })
    }

    /// Whether production's record is still the one read (no production publish since).
    pub async fn unchanged(&self, backends: &Backends) -> Result<bool> {
        let read = state::read_versioned(backends.state_store(), &self.key, &self.target).await?;
        Ok(match read {
            state::Read::Found(_, etag) => Some(etag) == self.etag,
            state::Read::Absent => self.etag.is_none(),
            state::Read::Unreadable(_) => false,
        })
    }
}

/// A preview's record belongs to one branch: a publish of another branch under the same name is refused
/// (names carry a hash when a branch name folds, so this takes a hand-made `--name`).
pub fn check_branch(opts: &PublishOpts, deployed: Option<&Deploy>) -> Result<()> {
    let (Some(p), Some(meta)) = (&opts.preview, deployed.and_then(|d| d.preview.as_ref())) else {
        return Ok(());
    };
    if meta.branch == p.branch {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "preview {} is branch {}'s; this is branch {}",
        p.name, meta.branch, p.branch
    )))
}

/// The preview's record entry: its name, branch and size.
pub fn meta(s: &Session, opts: &PublishOpts, tree: &str) -> Option<PreviewMeta> {
    let p = opts.preview.as_ref()?;
    let (files, bytes) = s.repo.tree_size(tree).unwrap_or((0, 0));
    Some(PreviewMeta {
        name: p.name.clone(),
        branch: p.branch.clone(),
        files,
        bytes,
    })
}
