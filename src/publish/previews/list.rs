//! Which previews a target has: the names in its previews' records directory (one LIST, no record read).

use crate::backends::{backends, Backends};
use crate::config::Target;
use crate::error::Result;
use crate::preview;
use crate::state;

use super::super::session::Session;

/// The names of `t`'s previews: one LIST of their records' directory, no record read.
pub async fn preview_names(s: &Session, t: &Target) -> Result<Vec<String>> {
    let b = backends(&records_target(t), false, &|n| s.ui.say(n)).await?;
    names_in(&b, t).await
}

pub async fn names_in(b: &Backends, t: &Target) -> Result<Vec<String>> {
    let (_, dir) = preview::records_dir(t);
    let keys = (b.state_store().list(&dir).await).map_err(|e| state::store_err(&t.name, e))?;
    Ok((keys.iter())
        .filter_map(|key| key.strip_prefix(&dir)?.strip_suffix(".json"))
        .filter(|n| preview::is_name(n))
        .map(str::to_string)
        .collect())
}

/// A target whose store holds the previews' records (the production record's store).
pub fn records_target(t: &Target) -> Target {
    let mut r = t.clone();
    r.cdn.distributions = Vec::new();
    r
}
