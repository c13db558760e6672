//! The record's format number, and reading records that other builds of git-publish wrote.
//!
//! A record says which format it is written in (`"format"`). This build writes [`FORMAT`] and reads every
//! format up to it; a record without the number predates it and is format 1. A record of a later format is
//! refused before anything is written (`Error::StateTooNew`, which names the record and asks for an upgrade;
//! `--force-state` never replaces it), because this build can't know what it would lose by rewriting it.
//!
//! Within a format, records are read tolerantly: a field this build does not know (one a newer build added) is
//! ignored, and so is an unknown key inside a recorded `[[rules]]` entry ([`tolerant_rules`]), although
//! site.toml refuses unknown keys in the same entries. So a newer build that adds a field an older one may
//! ignore keeps the number; one whose records an older build would misread raises it.

use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::plan::rules::RuleSpec;

/// The format this build writes, and the highest it reads.
pub const FORMAT: u32 = 1;

/// The format of a record that does not say (written before records were numbered).
pub(super) fn unnumbered() -> u32 {
    1
}

/// A record's format, read before the rest of it.
#[derive(Deserialize)]
pub(super) struct Numbered {
    #[serde(default = "unnumbered")]
    pub format: u32,
}

/// `Deploy::rules` as recorded: each entry read as `[[rules]]` is, less the keys this build doesn't know.
/// `RuleSpec` refuses unknown keys (that is site.toml's schema); a record a newer build wrote with a new rule
/// key is still this build's record.
pub(super) fn tolerant_rules<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<RuleSpec>>, D::Error> {
    let Some(recorded) = Option::<Vec<Map<String, Value>>>::deserialize(d)? else {
        return Ok(None);
    };
    let known = crate::config::keys::schema_fields::<RuleSpec>();
    let read = |mut rule: Map<String, Value>| {
        rule.retain(|k, _| known.contains(&k.as_str()));
        RuleSpec::deserialize(Value::Object(rule)).map_err(de::Error::custom)
    };
    recorded
        .into_iter()
        .map(read)
        .collect::<Result<_, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tolerant reader keeps only the keys it finds in `RuleSpec`'s field list: every key a rule can be
    /// written with must be in it, or a recorded rule would silently lose it.
    #[test]
    fn every_rule_key_is_known_to_the_tolerant_reader() {
        let every = RuleSpec {
            glob: "*".into(),
            cache_control: Some("c".into()),
            content_type: Some("t".into()),
            content_encoding: Some(crate::plan::rules::Encoding::Gzip),
            content_disposition: Some("d".into()),
            metadata: [("k".to_string(), "v".to_string())].into(),
            exclude: true,
            keep: true,
        };
        let Value::Object(written) = serde_json::to_value(&every).unwrap() else {
            panic!("a rule is written as an object")
        };
        let known = crate::config::keys::schema_fields::<RuleSpec>();
        for key in written.keys() {
            assert!(known.contains(&key.as_str()), "{key} is not in {known:?}");
        }
        assert_eq!(known.len(), written.len(), "{known:?}");
    }
}
