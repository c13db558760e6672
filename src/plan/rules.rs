//! Header rules from `site.toml` (`[[rules]]`): which headers, encoding and fate each site path gets.
//!
//! An ordered list; the FIRST rule whose glob matches a path decides everything for that path (later rules are
//! not merged in). Globs match the path inside the output directory (the key without the target's prefix),
//! with globset's syntax: `*` stays within one directory, `**` crosses directories, `{a,b}` alternates.
//! A path no rule matches gets the defaults: the content type from its extension ([`super::headers`]), no
//! Cache-Control, no encoding.
//!
//! | rule key              | effect                                                                   |
//! |-----------------------|--------------------------------------------------------------------------|
//! | `cache_control`       | `Cache-Control` header                                                   |
//! | `content_type`        | overrides the type guessed from the extension                            |
//! | `content_encoding`    | `"gzip"` / `"br"`: the stored bytes are compressed, header set           |
//! | `content_disposition` | `Content-Disposition` header                                             |
//! | `metadata`            | `x-amz-meta-*` headers                                                    |
//! | `exclude`             | never uploaded, never deleted, never invalidated                         |
//! | `keep`                | never deleted (e.g. `uploads/**` filled by another system)                |
//!
//! Owns compiling and validating the rules and answering, per path, "which headers, excluded, kept?". Pure:
//! no IO; it must not decide uploads or invalidations (that is `steps.rs` and [`super::invalidate`]). The rules
//! of each deploy are recorded in the state, so the next publish can recompute the headers every unchanged
//! object got and update those whose headers changed (the rule-driven updates step of [`super::build`]).
//! To change how a rule applies: edit [`Rules::headers`] (or [`RuleSpec`] and [`Rules::compile`]) and add a
//! row to the table of `tests::first_match_decides_everything` (or `tests::bad_rules_name_the_rule`).

use std::collections::BTreeMap;

use globset::{GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};

use super::headers;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Gzip,
    Br,
}

impl Encoding {
    /// The `Content-Encoding` header value.
    pub fn header(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Br => "br",
        }
    }
}

/// One `[[rules]]` table as written in site.toml (and recorded in the state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    #[serde(rename = "match")]
    pub glob: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<Encoding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exclude: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep: bool,
}

/// The headers an object is stored with (besides git-publish's own `git-blob` metadata).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Headers {
    pub content_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<Encoding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// Spellings of the state directory's name that the tree check refuses too (it folds case).
const STATE_NAMES: &[&str] = &[".git-publish", ".GIT-PUBLISH", ".Git-Publish"];

/// Whether a rule's pattern names the state directory: one of its `/`-separated components matches
/// [`STATE_NAMES`] but not an ordinary directory name (`x-dir`, or `.x-dir` for patterns of dot files). So `.git-publish/**`, `**/.git-publish/*`,
/// `blog/.git-publish/*` and `.git-*/**` are refused, while `**`, `*.json` or `**/*.json` (which reach the state
/// only as they reach every directory alike) are fine: the state is never uploaded from the tree, so a rule has
/// nothing to do there, and one aimed at it would silently do nothing (an `exclude` would not hide the record).
fn singles_out_state(glob: &str) -> bool {
    glob.split('/').any(|c| {
        let Ok(g) = GlobBuilder::new(c)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
        else {
            return false;
        };
        let m = g.compile_matcher();
        STATE_NAMES.iter().any(|n| m.is_match(n)) && !m.is_match("x-dir") && !m.is_match(".x-dir")
    })
}

/// Metadata names git-publish writes itself.
pub const RESERVED_METADATA: &[&str] = &["git-blob"];

/// Compiled rules.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    specs: Vec<RuleSpec>,
    matchers: Vec<GlobMatcher>,
}

impl Rules {
    /// Compile and validate. The error names the rule (1-based, in file order) and what to fix.
    pub fn compile(specs: &[RuleSpec]) -> Result<Rules, String> {
        let mut matchers = Vec::new();
        for (i, r) in specs.iter().enumerate() {
            let at = format!("rules[{}] (match = {:?})", i + 1, r.glob);
            let glob = r.glob.trim_start_matches('/');
            if glob.is_empty() {
                return Err(format!("{at}: `match` is empty"));
            }
            let m = GlobBuilder::new(glob)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| format!("{at}: {e}"))?
                .compile_matcher();
            if singles_out_state(glob) {
                return Err(format!(
                    "{at}: the pattern picks out `{dir}/`, where git-publish keeps the state record; rules never \
                     apply there (it is neither uploaded from the tree nor excluded by a rule)",
                    dir = super::names::STATE_DIR
                ));
            }
            matchers.push(m);
            let sets_header = r.cache_control.is_some()
                || r.content_type.is_some()
                || r.content_encoding.is_some()
                || r.content_disposition.is_some()
                || !r.metadata.is_empty();
            if r.exclude && (sets_header || r.keep) {
                return Err(format!(
                    "{at}: `exclude = true` publishes nothing, so headers or `keep` on the same rule mean nothing"
                ));
            }
            if !r.exclude && !r.keep && !sets_header {
                return Err(format!("{at}: the rule sets nothing"));
            }
            check_values(&at, r)?;
        }
        Ok(Rules {
            specs: specs.to_vec(),
            matchers,
        })
    }

    pub fn specs(&self) -> &[RuleSpec] {
        &self.specs
    }

    /// The rule that decides `path` (the first match).
    pub fn rule_for(&self, path: &str) -> Option<&RuleSpec> {
        self.matchers
            .iter()
            .position(|m| m.is_match(path))
            .map(|i| &self.specs[i])
    }

    pub fn excluded(&self, path: &str) -> bool {
        self.rule_for(path).is_some_and(|r| r.exclude)
    }

    pub fn kept(&self, path: &str) -> bool {
        self.rule_for(path).is_some_and(|r| r.keep)
    }

    /// Headers for a published path.
    pub fn headers(&self, path: &str) -> Headers {
        let rule = self.rule_for(path);
        let pick = |f: fn(&RuleSpec) -> &Option<String>| rule.and_then(|r| f(r).clone());
        Headers {
            content_type: pick(|r| &r.content_type).unwrap_or_else(|| headers::content_type(path)),
            cache_control: pick(|r| &r.cache_control),
            content_encoding: rule.and_then(|r| r.content_encoding),
            content_disposition: pick(|r| &r.content_disposition),
            metadata: rule.map(|r| r.metadata.clone()).unwrap_or_default(),
        }
    }
}

/// The header values and metadata of one rule are single-line printable header values with valid names.
fn check_values(at: &str, r: &RuleSpec) -> Result<(), String> {
    for (name, v) in [
        ("cache_control", &r.cache_control),
        ("content_type", &r.content_type),
        ("content_disposition", &r.content_disposition),
    ] {
        if let Some(v) = v {
            if v.trim().is_empty() || v.chars().any(|c| c.is_control()) {
                return Err(format!(
                    "{at}: `{name}` must be a non-empty single-line header value"
                ));
            }
        }
    }
    for (k, v) in &r.metadata {
        let ok_name = !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok_name || RESERVED_METADATA.contains(&k.as_str()) {
            return Err(format!(
                "{at}: metadata name {k:?} must be lower-case letters, digits and `-` (and not {})",
                RESERVED_METADATA.join(", ")
            ));
        }
        if !v.is_ascii() || v.chars().any(|c| c.is_control()) {
            return Err(format!(
                "{at}: metadata {k:?} must be printable ASCII on one line"
            ));
        }
        if let Some(why) = looks_secret(k, v) {
            return Err(format!(
                "{at}: metadata {k:?} looks like a secret ({why}); metadata is sent as public `x-amz-meta-*` \
                 headers that anyone fetching the file can read"
            ));
        }
    }
    Ok(())
}

/// Why a metadata entry looks like a credential (its value is never shown): a secret-sounding name, an AWS
/// access key id, or a 40-character secret access key.
fn looks_secret(name: &str, value: &str) -> Option<&'static str> {
    const NAMES: &[&str] = &[
        "password",
        "passwd",
        "secret",
        "token",
        "credential",
        "api-key",
        "apikey",
        "private-key",
    ];
    if NAMES.iter().any(|n| name.contains(n)) {
        return Some("its name");
    }
    let words = value.split(|c: char| !(c.is_ascii_alphanumeric() || c == '/' || c == '+'));
    for w in words {
        let key_id = w.len() == 20
            && (w.starts_with("AKIA") || w.starts_with("ASIA"))
            && w.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if key_id {
            return Some("an AWS access key id");
        }
        let secret_key = w.len() == 40
            && w.chars().any(|c| c.is_ascii_lowercase())
            && w.chars().any(|c| c.is_ascii_uppercase())
            && w.chars()
                .any(|c| c.is_ascii_digit() || c == '/' || c == '+');
        if secret_key {
            return Some("a 40-character secret access key");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_metadata_is_named_not_shown() {
        let secret = [
            ("password", "hunter2"),
            ("db-token", "x"),
            ("note", "AKIAIOSFODNN7EXAMPLE"),
            ("note", "key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ];
        for (k, v) in secret {
            assert!(looks_secret(k, v).is_some(), "{k}={v}");
        }
        let fine = [
            ("owner", "docs"),
            ("build", "0123456789abcdef0123456789abcdef01234567"),
            ("keywords", "rust, static sites"),
        ];
        for (k, v) in fine {
            assert_eq!(looks_secret(k, v), None, "{k}={v}");
        }
    }

    fn rules(toml_text: &str) -> Result<Rules, String> {
        #[derive(Deserialize)]
        struct F {
            rules: Vec<RuleSpec>,
        }
        let f: F = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        Rules::compile(&f.rules)
    }

    const SITE: &str = r#"
        [[rules]]
        match = "uploads/**"
        keep = true
        [[rules]]
        match = "**/.DS_Store"
        exclude = true
        [[rules]]
        match = "assets/**/*.{css,js}"
        cache_control = "public, max-age=31536000, immutable"
        content_encoding = "br"
        [[rules]]
        match = "**/*.{html,xml,json}"
        cache_control = "public, max-age=60"
        content_encoding = "gzip"
        [[rules]]
        match = "downloads/*"
        content_disposition = "attachment"
        content_type = "application/octet-stream"
        metadata = { origin = "build" }
        [[rules]]
        match = "*.css"
        cache_control = "no-cache"
    "#;

    /// (path, cache_control, content_type, encoding, disposition, excluded, kept)
    #[test]
    fn first_match_decides_everything() {
        type Row = (
            &'static str,
            Option<&'static str>,
            &'static str,
            Option<Encoding>,
            Option<&'static str>,
            bool,
            bool,
        );
        let r = rules(SITE).unwrap();
        let imm = Some("public, max-age=31536000, immutable");
        let short = Some("public, max-age=60");
        let html = "text/html; charset=utf-8";
        let table: &[Row] = &[
            (
                "uploads/a/cat.jpg",
                None,
                "image/jpeg",
                None,
                None,
                false,
                true,
            ),
            (
                ".DS_Store",
                None,
                "application/octet-stream",
                None,
                None,
                true,
                false,
            ),
            (
                "a/b/.DS_Store",
                None,
                "application/octet-stream",
                None,
                None,
                true,
                false,
            ),
            (
                "assets/css/site.css",
                imm,
                "text/css; charset=utf-8",
                Some(Encoding::Br),
                None,
                false,
                false,
            ),
            (
                "assets/app.js",
                imm,
                "text/javascript; charset=utf-8",
                Some(Encoding::Br),
                None,
                false,
                false,
            ),
            (
                "index.html",
                short,
                html,
                Some(Encoding::Gzip),
                None,
                false,
                false,
            ),
            (
                "posts/a/index.html",
                short,
                html,
                Some(Encoding::Gzip),
                None,
                false,
                false,
            ),
            // first match wins: the html rule, not the downloads rule
            (
                "downloads/a.html",
                short,
                html,
                Some(Encoding::Gzip),
                None,
                false,
                false,
            ),
            (
                "downloads/a.zip",
                None,
                "application/octet-stream",
                None,
                Some("attachment"),
                false,
                false,
            ),
            // `*` does not cross directories
            (
                "downloads/x/a.zip",
                None,
                "application/zip",
                None,
                None,
                false,
                false,
            ),
            (
                "top.css",
                Some("no-cache"),
                "text/css; charset=utf-8",
                None,
                None,
                false,
                false,
            ),
            (
                "css/deep.css",
                None,
                "text/css; charset=utf-8",
                None,
                None,
                false,
                false,
            ),
            ("img/a.png", None, "image/png", None, None, false, false),
        ];
        for (path, cc, ct, enc, disp, excl, keep) in table {
            let h = r.headers(path);
            assert_eq!(h.cache_control.as_deref(), *cc, "{path} cache_control");
            assert_eq!(h.content_type, *ct, "{path} content_type");
            assert_eq!(h.content_encoding, *enc, "{path} encoding");
            assert_eq!(
                h.content_disposition.as_deref(),
                *disp,
                "{path} disposition"
            );
            assert_eq!(r.excluded(path), *excl, "{path} excluded");
            assert_eq!(r.kept(path), *keep, "{path} kept");
        }
        assert_eq!(
            r.headers("downloads/a.zip").metadata,
            BTreeMap::from([("origin".to_string(), "build".to_string())])
        );
    }

    #[test]
    fn bad_rules_name_the_rule() {
        let table = [
            ("match = \"[\"\ncache_control = \"x\"", "rules[1]"),
            ("match = \"*\"", "sets nothing"),
            (
                "match = \"*\"\nexclude = true\ncache_control = \"x\"",
                "exclude",
            ),
            ("match = \"*\"\ncache_control = \"a\\nb\"", "single-line"),
            (
                "match = \"*\"\nmetadata = { Git-Blob = \"x\" }",
                "metadata name",
            ),
            (
                "match = \"*\"\nmetadata = { git-blob = \"x\" }",
                "metadata name",
            ),
            (
                "match = \"*\"\ncontent_encoding = \"zstd\"",
                "unknown variant",
            ),
            ("match = \"*\"\ncache = \"x\"", "unknown field"),
            // rules aimed at the state record (issue 14 item 4)
            (
                "match = \".git-publish/**\"\nexclude = true",
                ".git-publish/",
            ),
            (
                "match = \"/.git-publish/state.json\"\nexclude = true",
                ".git-publish/",
            ),
            (
                "match = \"**/.git-publish/*\"\nkeep = true",
                ".git-publish/",
            ),
            (
                "match = \".git-*/**\"\ncache_control = \"x\"",
                ".git-publish/",
            ),
            (
                "match = \".GIT-PUBLISH/*\"\nexclude = true",
                ".git-publish/",
            ),
            (
                "match = \"{.git-publish,x}/**\"\nexclude = true",
                ".git-publish/",
            ),
            (
                "match = \"blog/.git-publish/*\"\nexclude = true",
                ".git-publish/",
            ),
        ];
        for (body, want) in table {
            let e = rules(&format!("[[rules]]\n{body}")).unwrap_err();
            assert!(e.contains(want), "{body}: {e}");
        }
    }

    /// Patterns that match the state only as they match everything alike are not aimed at it.
    #[test]
    fn broad_rules_may_cover_the_state_dir() {
        for glob in [
            "**",
            "**/*",
            "**/*.json",
            "*",
            ".git-publish.html",
            "**/*-dir/*",
            "**/.*",
            ".*/**",
        ] {
            let r = rules(&format!(
                "[[rules]]\nmatch = {glob:?}\ncache_control = \"x\""
            ));
            assert!(r.is_ok(), "{glob}: {r:?}");
        }
    }

    #[test]
    fn no_rules_means_defaults() {
        let r = Rules::default();
        assert_eq!(
            r.headers("a.css"),
            Headers {
                content_type: "text/css; charset=utf-8".into(),
                ..Headers::default()
            }
        );
        assert!(!r.excluded("a.css") && !r.kept("a.css"));
    }
}
