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

use serde::de::{self, Deserializer, Visitor};
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
    let known = fields_of::<RuleSpec>();
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

/// The field names (as written) that serde's derive gives a struct: the list it hands `deserialize_struct`.
fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct Capture<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Capture<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("only its fields were wanted"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    // Always an error: the capture answers nothing but the field list.
    let _ = T::deserialize(Capture(&mut fields));
    fields
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
        let known = fields_of::<RuleSpec>();
        for key in written.keys() {
            assert!(known.contains(&key.as_str()), "{key} is not in {known:?}");
        }
        assert_eq!(known.len(), written.len(), "{known:?}");
    }
}
