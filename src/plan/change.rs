//! What the planner is given about one path: a [`Change`] between the deployed tree and the new one. A leaf.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One path whose content differs between the deployed tree and the new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Path relative to the output directory, `/`-separated, UTF-8.
    pub path: String,
    pub kind: ChangeKind,
    /// New blob id (hex) for Added/Modified.
    pub blob: Option<String>,
    /// New size in bytes for Added/Modified.
    pub size: u64,
    /// Old blob id (hex) for Modified/Deleted, when the diff had one base.
    pub old_blob: Option<String>,
    /// The new file is executable (git mode 100755): a local directory keeps the bit.
    pub executable: bool,
}
