//! Every key of site.toml, once: its section, name, kind, default and one line of meaning ([`KEYS`]).
//!
//! The serde schema (`RawConfig`, `RawSource`, `RawTarget`, `RawPreviews`, `RuleSpec`, `RedirectSpec`, all with
//! `deny_unknown_fields`), `site.toml.example` and `git publish init`'s template are checked against this
//! table by the tests below (and `cmd/init.rs`'s): each names the same keys, every key is documented in the
//! example, and a commented-out `#key = value` line shows the table's default. The defaults themselves are
//! checked against the parser: setting a key to its table default changes nothing.
//!
//! A new key: a row here, a field in the schema (and `Target`), a documented line in site.toml.example.

/// Where a key sits in site.toml.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The top of the file, before any table.
    Top,
    /// `[source]`
    Source,
    /// `[targets.NAME]`
    Target,
    /// `[targets.NAME.previews]`
    Previews,
    /// `[targets.NAME.cloudflare]`
    Cloudflare,
    /// `[targets.NAME.cloud_cdn]`
    CloudCdn,
    /// `[targets.NAME.front_door]`
    FrontDoor,
    /// Each `[[rules]]` entry.
    Rules,
    /// Each `[[redirects]]` entry.
    Redirects,
}

impl Section {
    /// How the key is named in messages: `source.build_env`, `targets.NAME.url`…
    pub fn path(self, key: &str) -> String {
        match self {
            Section::Top => key.to_string(),
            Section::Source => format!("source.{key}"),
            Section::Target => format!("targets.NAME.{key}"),
            Section::Previews => format!("targets.NAME.previews.{key}"),
            Section::Cloudflare => format!("targets.NAME.cloudflare.{key}"),
            Section::CloudCdn => format!("targets.NAME.cloud_cdn.{key}"),
            Section::FrontDoor => format!("targets.NAME.front_door.{key}"),
            Section::Rules => format!("rules[N].{key}"),
            Section::Redirects => format!("redirects[N].{key}"),
        }
    }
}

/// The kind of value a key takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string.
    Str,
    /// A path relative to the repository (or the commit).
    Path,
    /// `s3://…` or `file:…`.
    Url,
    Bool,
    /// A whole number.
    Int,
    /// A duration such as "30m" or "2h".
    Duration,
    /// One of these words (the mode's enum in `config/modes.rs` lists them once; a test compares).
    Words(&'static [&'static str]),
    /// A list of these words.
    WordList(&'static [&'static str]),
    /// A string or a list of strings (`distribution`).
    StrOrList,
    /// A table of string values (`metadata`).
    Table,
}

/// One key of site.toml.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub section: Section,
    pub name: &'static str,
    pub kind: Kind,
    /// The default as a TOML value (what a `#key = value` line shows); None: none, or one worked out at run
    /// time (the current branch, the AWS chain's region…), said in `meaning`.
    pub default: Option<&'static str>,
    pub meaning: &'static str,
}

const fn key(
    section: Section,
    name: &'static str,
    kind: Kind,
    default: Option<&'static str>,
    meaning: &'static str,
) -> Key {
    Key {
        section,
        name,
        kind,
        default,
        meaning,
    }
}

use serde::de::{self, Deserialize, Deserializer, Visitor};

use Kind::*;
use Section::*;

/// Every key of site.toml, by section, in the order site.toml.example shows them.
pub const KEYS: &[Key] = &[
    key(Top, "publisher", Str, None, "the name deploys are recorded under, for every target without its own"),
    key(Source, "branch", Str, None, "the branch whose commits hold the site (default: the checked-out branch)"),
    key(Source, "dir", Path, Some("\"\""), "the directory inside each commit that holds the site (default: build_dir, else the whole tree)"),
    key(Source, "build_dir", Path, None, "snapshot builds: the directory the build writes, committed to snapshot_ref by each publish"),
    key(Source, "build_command", Str, None, "snapshot builds: the command that writes build_dir (`sh -c`, from the repository root)"),
    key(Source, "build_env", Words(&["clean", "inherit"]), Some("\"clean\""), "snapshot builds: whether the build sees the publisher's AWS_* variables"),
    key(Source, "snapshot_ref", Str, Some("\"refs/heads/site-builds\""), "snapshot builds: the ref the snapshots are committed to"),
    key(Target, "url", Url, None, "where the site goes: s3://BUCKET[/PREFIX] or file:DIR (required)"),
    key(Target, "region", Str, None, "the bucket's AWS region (default: the AWS chain's, else us-east-1)"),
    key(Target, "profile", Str, None, "the AWS profile (default: AWS_PROFILE, else the default chain)"),
    key(Target, "endpoint", Url, None, "an S3-compatible endpoint (MinIO, R2, B2…)"),
    key(Target, "allow_http", Bool, Some("false"), "accept a plain-http endpoint that is not loopback"),
    key(Target, "distribution", StrOrList, None, "the CloudFront distribution(s) to invalidate: ids, or \"auto\""),
    key(Target, "domain", Str, None, "the site's host name: picks the distribution for \"auto\""),
    key(Target, "origin_path", Path, None, "the distributions' origin path (default: read from CloudFront)"),
    key(Target, "default", Bool, Some("false"), "use this target when no --target is given"),
    key(Target, "concurrency", Int, Some("256"), "the most store requests in flight (below it the number adapts)"),
    key(Target, "max_deletes", Int, Some("500"), "refuse a publish that would delete more objects"),
    key(Target, "max_invalidation_paths", Int, Some("15"), "the most CloudFront paths per publish before wildcards"),
    key(Target, "invalidation_budget", Int, Some("1000"), "invalidation paths a month before they are paid"),
    key(Target, "index_document", Str, Some("\"index.html\""), "the file a directory URL serves"),
    key(Target, "directory_urls", WordList(&["/dir/", "/dir", "/dir/index.html"]), Some("[\"/dir/\", \"/dir/index.html\"]"), "which URLs serve a directory's index document"),
    key(Target, "pretty_urls", Bool, Some("false"), "about.html is also served as /about"),
    key(Target, "invalidate_new_files", Bool, Some("false"), "also invalidate brand-new files"),
    key(Target, "delay_deletes", Bool, Some("false"), "delete removed files one publish later"),
    key(Target, "redirect_renames", Words(&["ask", "auto", "off"]), Some("\"ask\""), "redirect the URLs of moved pages: ask, auto or off"),
    key(Target, "cdn_function", Words(&["manage", "off"]), Some("\"off\""), "keep the distribution's viewer-request CloudFront Function"),
    key(Target, "claim_lease", Duration, Some("\"1h\""), "how old another host's claim must be to be taken over"),
    key(Target, "state", Url, None, "where the deploy record is kept (default: <url>/.git-publish/state.json)"),
    key(Target, "publisher", Str, None, "the name deploys are recorded under (default: git's user.name, else the OS user)"),
    key(Target, "locking", Words(&["conditional", "none"]), Some("\"conditional\""), "whether the store must honour conditional writes"),
    key(Previews, "domain", Str, None, "previews are served at https://NAME.<domain>/"),
    key(Previews, "password_env", Str, None, "the environment variable holding the previews' password"),
    key(Previews, "password_file", Path, None, "the file holding the previews' password"),
    key(Cloudflare, "zone", Str, None, "the Cloudflare zone (its id) whose cache is purged by URL on `domain`; the store is R2"),
    key(CloudCdn, "project", Str, None, "the Google Cloud project (its id) of the URL map"),
    key(CloudCdn, "url_map", Str, None, "the URL map (load balancer) whose Cloud CDN cache is invalidated by path"),
    key(CloudCdn, "host", Str, None, "invalidate on this host only (default: every host of the URL map)"),
    key(FrontDoor, "subscription", Str, None, "the Azure subscription (its id) of the Front Door profile"),
    key(FrontDoor, "resource_group", Str, None, "the resource group of the Front Door profile"),
    key(FrontDoor, "profile", Str, None, "the Front Door (Standard or Premium) profile"),
    key(FrontDoor, "endpoint", Str, None, "the profile's endpoint whose cache is purged by path (on `domain` when set)"),
    key(Rules, "match", Str, None, "the glob a file's path must match (required)"),
    key(Rules, "cache_control", Str, None, "the Cache-Control header"),
    key(Rules, "content_type", Str, None, "overrides the type guessed from the extension"),
    key(Rules, "content_encoding", Words(&["gzip", "br"]), None, "store the bytes compressed, with the header"),
    key(Rules, "content_disposition", Str, None, "the Content-Disposition header"),
    key(Rules, "metadata", Table, None, "x-amz-meta-* headers"),
    key(Rules, "exclude", Bool, Some("false"), "never uploaded, deleted or invalidated"),
    key(Rules, "keep", Bool, Some("false"), "never deleted"),
    key(Redirects, "from", Str, None, "the old URL path (required)"),
    key(Redirects, "to", Str, None, "where it goes: a URL path or an absolute URL (required)"),
    key(Redirects, "status", Int, Some("301"), "301 or 302"),
];

/// The keys of one section.
pub fn of(section: Section) -> impl Iterator<Item = &'static Key> {
    KEYS.iter().filter(move |k| k.section == section)
}

/// The row for `name` in `section`.
pub fn find(section: Section, name: &str) -> Option<&'static Key> {
    of(section).find(|k| k.name == name)
}

/// A `key = value` line of a site.toml text (or a commented-out `#key = value` one), with its section.
/// The field names (as written) that serde's derive gives a struct: the list it hands `deserialize_struct`
/// (the key table's test holds the schema to the table with it; the record's reader, to what it knows).
pub fn schema_fields<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
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
#[derive(Debug)]
pub(crate) struct Line {
    pub number: usize,
    pub section: Option<Section>,
    pub name: String,
    pub value: String,
    pub commented: bool,
    /// A comment line sits right above it (or above the block of key lines it belongs to).
    pub documented: bool,
}

/// The key lines of a site.toml text, with what section each is in: `#key = value` (no space after `#`)
/// counts as a commented-out key, `#[targets.x]` as a commented-out table.
#[cfg(test)]
pub(crate) fn key_lines(text: &str) -> Vec<Line> {
    let mut section = Some(Top);
    let mut documented = false;
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let (commented, l) = match raw.strip_prefix('#') {
            Some(rest) if !rest.starts_with(' ') && !rest.is_empty() => (true, rest),
            Some(_) => {
                documented = true;
                continue;
            }
            None => (false, raw),
        };
        let l = l.trim();
        if l.is_empty() {
            documented = false;
            continue;
        }
        if let Some(header) = l.strip_prefix('[') {
            let header = header.trim_matches(|c| c == '[' || c == ']');
            section = match header {
                "source" => Some(Source),
                "rules" => Some(Rules),
                "redirects" => Some(Redirects),
                h if h.starts_with("targets.") && h.ends_with(".previews") => Some(Previews),
                h if h.starts_with("targets.") && h.ends_with(".cloudflare") => Some(Cloudflare),
                h if h.starts_with("targets.") && h.ends_with(".cloud_cdn") => Some(CloudCdn),
                h if h.starts_with("targets.") && h.ends_with(".front_door") => Some(FrontDoor),
                h if h.starts_with("targets.") => Some(Target),
                _ => None,
            };
            continue;
        }
        let Some((name, value)) = l.split_once('=') else {
            continue;
        };
        let value = value.split(" #").next().unwrap_or(value);
        lines.push(Line {
            number: i + 1,
            section,
            name: name.trim().to_string(),
            value: value.trim().to_string(),
            commented,
            documented,
        });
    }
    lines
}

/// What is wrong with a site.toml template (site.toml.example, `init`'s): a key the table lacks, or a
/// commented-out line that does not show the table's default (outside `[[rules]]` and `[[redirects]]`, whose
/// entries are examples). Empty: nothing.
#[cfg(test)]
pub(crate) fn template_problems(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for l in key_lines(text) {
        let Some(section) = l.section else {
            problems.push(format!(
                "line {}: `{}` in an unknown table",
                l.number, l.name
            ));
            continue;
        };
        let Some(row) = find(section, &l.name) else {
            problems.push(format!(
                "line {}: `{}` is not in config/keys.rs::KEYS",
                l.number,
                section.path(&l.name)
            ));
            continue;
        };
        // `[[rules]]` and `[[redirects]]` entries are examples, not defaults.
        let example = matches!(section, Rules | Redirects);
        if let (true, false, Some(default)) = (l.commented, example, row.default) {
            if l.value != default {
                problems.push(format!(
                    "line {}: #{} = {} but the default is {default}",
                    l.number, l.name, l.value
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{BuildEnv, CdnFunction, DirectoryUrl, Locking, RedirectRenames, Words};
    use crate::config::{RawCloudCdn, RawCloudflare, RawConfig, RawFrontDoor, RawPreviews};
    use crate::config::{RawSource, RawTarget};
    use crate::plan::redirects::RedirectSpec;
    use crate::plan::rules::RuleSpec;

    const EXAMPLE: &str = include_str!("../../site.toml.example");

    /// The field names serde knows for `T`, sorted.
    fn fields_of<'de, T: Deserialize<'de>>() -> Vec<&'static str> {
        let mut v = schema_fields::<T>().to_vec();
        v.sort_unstable();
        v
    }

    fn names(section: Section) -> Vec<&'static str> {
        let mut v: Vec<&str> = of(section).map(|k| k.name).collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn the_schema_and_the_table_name_the_same_keys() {
        let with = |mut v: Vec<&'static str>, tables: &[&'static str]| {
            v.extend_from_slice(tables);
            v.sort_unstable();
            v
        };
        assert_eq!(
            fields_of::<RawConfig>(),
            with(names(Top), &["redirects", "rules", "source", "targets"])
        );
        assert_eq!(fields_of::<RawSource>(), names(Source));
        assert_eq!(
            fields_of::<RawTarget>(),
            with(
                names(Target),
                &["cloud_cdn", "cloudflare", "front_door", "previews"]
            )
        );
        assert_eq!(fields_of::<RawPreviews>(), names(Previews));
        assert_eq!(fields_of::<RawCloudflare>(), names(Cloudflare));
        assert_eq!(fields_of::<RawCloudCdn>(), names(CloudCdn));
        assert_eq!(fields_of::<RawFrontDoor>(), names(FrontDoor));
        assert_eq!(fields_of::<RuleSpec>(), names(Rules));
        assert_eq!(fields_of::<RedirectSpec>(), names(Redirects));
        for (i, k) in KEYS.iter().enumerate() {
            assert!(!k.meaning.is_empty(), "{}", k.name);
            let twice = KEYS[..i]
                .iter()
                .any(|o| o.section == k.section && o.name == k.name);
            assert!(!twice, "{} is listed twice", k.name);
        }
    }

    #[test]
    fn the_modes_words_are_the_tables() {
        fn words<M: Words>() -> Vec<&'static str> {
            M::WORDS.iter().map(|(w, _)| *w).collect()
        }
        let kind = |section, name| find(section, name).expect("a row").kind;
        let sorted = |mut v: Vec<&'static str>| {
            v.sort_unstable();
            v
        };
        for (section, name, want) in [
            (Target, "redirect_renames", words::<RedirectRenames>()),
            (Target, "cdn_function", words::<CdnFunction>()),
            (Target, "locking", words::<Locking>()),
            (Source, "build_env", words::<BuildEnv>()),
            (Target, "directory_urls", words::<DirectoryUrl>()),
        ] {
            let (Kind::Words(w) | Kind::WordList(w)) = kind(section, name) else {
                panic!("{name} is not a kind of words");
            };
            assert_eq!(sorted(w.to_vec()), sorted(want), "{name}");
        }
    }

    #[test]
    fn the_example_documents_every_key_with_its_default() {
        let problems = template_problems(EXAMPLE);
        assert!(
            problems.is_empty(),
            "site.toml.example:\n{}",
            problems.join("\n")
        );
        let lines = key_lines(EXAMPLE);
        for k in KEYS {
            let line = lines
                .iter()
                .find(|l| l.section == Some(k.section) && l.name == k.name);
            let line = line.unwrap_or_else(|| {
                panic!("site.toml.example has no `{}` line", k.section.path(k.name))
            });
            assert!(
                line.documented,
                "site.toml.example:{}: `{}` has no comment above it",
                line.number, k.name
            );
        }
    }

    /// Setting a key to the table's default parses to the same config as leaving it out.
    #[test]
    fn the_tables_defaults_are_the_parsers() {
        let parse = |text: &str| {
            let c =
                crate::config::Config::from_str(text, Path::new("site.toml"), Path::new("/repo"))
                    .unwrap_or_else(|e| panic!("{text}: {e}"));
            format!("{:?}", (&c.source, &c.targets, &c.rules, &c.redirects))
        };
        let target = "[targets.p]\nurl = \"s3://bucket\"\n";
        let snapshot = "[source]\nbuild_dir = \"public\"\n";
        let rule = "[[rules]]\nmatch = \"*.css\"\ncache_control = \"no-cache\"\n";
        let redirect = "[[redirects]]\nfrom = \"/a/\"\nto = \"/b/\"\n";
        let mut checked = 0;
        for k in KEYS {
            let Some(default) = k.default else { continue };
            let set = format!("{} = {default}\n", k.name);
            let (without, with) = match k.section {
                Source if k.name == "dir" => {
                    (target.to_string(), format!("[source]\n{set}{target}"))
                }
                Source => (
                    format!("{snapshot}{target}"),
                    format!("{snapshot}{set}{target}"),
                ),
                Target => (target.to_string(), format!("{target}{set}")),
                Rules => (format!("{target}{rule}"), format!("{target}{rule}{set}")),
                Redirects => (
                    format!("{target}{redirect}"),
                    format!("{target}{redirect}{set}"),
                ),
                Top | Previews | Cloudflare | CloudCdn | FrontDoor => {
                    panic!("{}: a default here needs a case in this test", k.name)
                }
            };
            assert_eq!(parse(&without), parse(&with), "{}", k.name);
            checked += 1;
        }
        assert!(checked > 15);
    }
}
