//! The names the planner reserves or limits: the record's directory, the previews' directory, temporary files,
//! the longest key and preview name. A leaf: every part of the planner may read them.

/// Where git-publish keeps its own record in a target, relative to the target's prefix.
/// Never uploaded, deleted or invalidated as site content.
pub const STATE_DIR: &str = ".git-publish";
/// The top-level directory of a target that holds its branch previews (`crate::preview`): production never
/// writes there.
pub const PREVIEWS_DIR: &str = "_previews";
/// The longest preview name: a DNS label (`crate::preview::name_for` makes them).
pub const PREVIEW_NAME_MAX: usize = 63;

/// The prefix of the temporary files a directory target writes beside each file and renames into place
/// (`exec::local`); left over after a crash, they are removed, so a site file can't be named so.
pub const TEMP_PREFIX: &str = ".git-publish-tmp-";

/// S3's limit on a key's length, in UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 1024;
