//! `site.toml`: schema, parsing and validation.
//!
//! Owns turning the file's text into validated [`Config`] values: unknown keys, wrong types and bad values are
//! errors that name the file, line and column; secrets are refused outright. Defaults live here and nowhere else.
//! It does no IO beyond reading the file (see [`Config::load`]); [`Config::from_str`] is pure, for tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::plan::invalidate::UrlForms;
use crate::plan::rules::{RuleSpec, Rules};

pub const DEFAULT_MAX_DELETES: usize = 500;
pub const DEFAULT_MAX_INVALIDATION_PATHS: usize = 15;
/// The hard cap on store requests in flight; below it the executor adapts the number (`exec::flow`).
pub const DEFAULT_CONCURRENCY: usize = 256;
pub const DEFAULT_INDEX_DOCUMENT: &str = "index.html";
pub const DEFAULT_CLAIM_LEASE: Duration = Duration::from_secs(3600);
/// CloudFront's free tier: 1,000 invalidation paths a month (per account).
pub const DEFAULT_INVALIDATION_BUDGET: usize = 1000;
pub const DEFAULT_DIRECTORY_URLS: &[&str] = &["/dir/", "/dir/index.html"];
/// Where snapshot builds are committed when `source.snapshot_ref` is not set.
pub const DEFAULT_SNAPSHOT_REF: &str = "refs/heads/site-builds";

/// Raw file schema. Field names are the documented keys of site.toml.example.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    source: RawSource,
    #[serde(default)]
    targets: BTreeMap<String, RawTarget>,
    #[serde(default)]
    rules: Vec<RuleSpec>,
}

/// `distribution = "E..."`, `"auto"`, or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawDistribution {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSource {
    branch: Option<String>,
    dir: Option<String>,
    build_dir: Option<String>,
    build_command: Option<String>,
    snapshot_ref: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    url: String,
    region: Option<String>,
    profile: Option<String>,
    endpoint: Option<String>,
    distribution: Option<RawDistribution>,
    domain: Option<String>,
    origin_path: Option<String>,
    #[serde(default)]
    default: bool,
    concurrency: Option<usize>,
    max_deletes: Option<usize>,
    max_invalidation_paths: Option<usize>,
    index_document: Option<String>,
    invalidate_new_files: Option<bool>,
    allow_http: Option<bool>,
    claim_lease: Option<String>,
    directory_urls: Option<Vec<String>>,
    pretty_urls: Option<bool>,
    invalidation_budget: Option<usize>,
    delay_deletes: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from (for messages).
    pub path: PathBuf,
    pub source: SourceConfig,
    pub targets: BTreeMap<String, Target>,
    /// `[[rules]]`, compiled (shared by every target).
    pub rules: Rules,
}

#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Branch whose commits hold the output; `None` = the current branch (HEAD).
    pub branch: Option<String>,
    /// Output directory inside the commit, without leading/trailing slashes; "" = whole tree.
    /// With snapshot builds it defaults to `build_dir` (used for deployed commits that are not snapshots).
    pub dir: String,
    /// Snapshot builds: the generated output is not committed; each publish commits this directory (relative
    /// to the repository root) to `snapshot_ref` and publishes that commit.
    pub snapshot: Option<SnapshotConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotConfig {
    /// Directory relative to the repository root, without leading/trailing slashes.
    pub build_dir: String,
    /// Shell command run from the repository root before the snapshot (`sh -c`).
    pub build_command: Option<String>,
    /// Full ref name holding the chain of snapshot commits.
    pub snapshot_ref: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    S3 { bucket: String, prefix: String },
    Local { root: PathBuf },
}

#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub url: String,
    pub backend: Backend,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint: Option<String>,
    /// CloudFront distributions to invalidate (empty: none).
    pub distributions: Vec<Distribution>,
    /// The site's domain: picks the distribution with this alias for `distribution = "auto"`.
    pub domain: Option<String>,
    /// The distributions' origin path, when given (then it is not read from CloudFront); no slashes at the ends.
    pub origin_path: Option<String>,
    pub default: bool,
    pub concurrency: usize,
    pub max_deletes: usize,
    pub max_invalidation_paths: usize,
    /// Which URLs serve a file (`index_document`, `directory_urls`, `pretty_urls`).
    pub forms: UrlForms,
    pub invalidate_new_files: bool,
    pub claim_lease: Duration,
    /// Accept plain-http endpoints that are not loopback.
    pub allow_http: bool,
    /// Invalidation paths a month before they are paid (`invalidation_budget`).
    pub invalidation_budget: usize,
    pub delay_deletes: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Distribution {
    Id(String),
    /// Found at publish time: the distribution whose origin is the bucket (or whose alias is `domain`).
    Auto,
}

impl Distribution {
    pub fn describe(&self) -> &str {
        match self {
            Distribution::Id(id) => id,
            Distribution::Auto => "auto",
        }
    }
}

impl Target {
    /// Key prefix inside the bucket ("" for the bucket root or a local directory).
    pub fn prefix(&self) -> &str {
        match &self.backend {
            Backend::S3 { prefix, .. } => prefix,
            Backend::Local { .. } => "",
        }
    }
}

/// Key names that would hold secrets. They are refused with a pointer to the credential chain.
const SECRET_KEYS: &[&str] = &[
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "access_key",
    "access_key_id",
    "secret_key",
    "secret_access_key",
    "secret",
    "session_token",
    "token",
    "password",
];

impl Config {
    /// Read and validate `path`. `base_dir` resolves relative `file:` URLs (the repository root).
    pub fn load(path: &Path, base_dir: &Path) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::ConfigMissing {
                    path: path.to_path_buf(),
                })
            }
            Err(source) => {
                return Err(Error::ConfigRead {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        Config::from_str(&text, path, base_dir)
    }

    /// Pure parse + validate of the file's text.
    pub fn from_str(text: &str, path: &Path, base_dir: &Path) -> Result<Config> {
        check_secrets(text, path)?;
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            // Name the key when the error sits on a `key = value` line.
            let key = text
                .lines()
                .nth(line - 1)
                .and_then(|l| l.split_once('='))
                .map(|(k, _)| k.trim())
                .filter(|k| !k.is_empty() && !k.starts_with('['));
            let message = match key {
                Some(k) if !e.message().contains(k) => format!("`{k}`: {}", e.message().trim()),
                _ => e.message().trim().to_string(),
            };
            Error::ConfigParse {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        })?;
        let invalid = |message: String, hint: &str| Error::ConfigInvalid {
            path: path.to_path_buf(),
            message,
            hint: hint.to_string(),
        };

        let snapshot = validate_snapshot(&raw.source, &raw.targets, path)?;
        let dir = raw
            .source
            .dir
            .clone()
            .or_else(|| snapshot.as_ref().map(|s| s.build_dir.clone()))
            .unwrap_or_default();
        let dir = dir.trim_matches('/').to_string();
        if dir.split('/').any(|c| c == ".." || c == ".") {
            return Err(invalid(
                format!("source.dir = {dir:?} must be a plain path inside the commit"),
                "use a path such as \"public\" (no `.` or `..` components)",
            ));
        }
        if let Some(b) = &raw.source.branch {
            if b.trim().is_empty() {
                return Err(invalid(
                    "source.branch is empty".into(),
                    "name a branch, or remove the key to use the current branch",
                ));
            }
        }

        if raw.targets.is_empty() {
            return Err(invalid(
                "no targets: add a [targets.NAME] table with a `url`".into(),
                "see site.toml.example, e.g. [targets.production] url = \"s3://my-bucket\"",
            ));
        }
        let mut targets = BTreeMap::new();
        for (name, t) in raw.targets {
            let target = validate_target(&name, t, path, base_dir)?;
            targets.insert(name, target);
        }
        let defaults: Vec<&String> = targets
            .values()
            .filter(|t| t.default)
            .map(|t| &t.name)
            .collect();
        if defaults.len() > 1 {
            return Err(invalid(
                format!(
                    "more than one target has `default = true`: {}",
                    join(defaults.iter().map(|s| s.as_str()))
                ),
                "keep `default = true` on one target only",
            ));
        }
        let rules = Rules::compile(&raw.rules).map_err(|why| {
            invalid(
                why,
                "fix the [[rules]] entry (see the rules section of site.toml.example)",
            )
        })?;
        Ok(Config {
            path: path.to_path_buf(),
            source: SourceConfig {
                branch: raw.source.branch,
                dir,
                snapshot,
            },
            targets,
            rules,
        })
    }

    /// The target named `name`, or the default one.
    pub fn target(&self, name: Option<&str>) -> Result<&Target> {
        let known = || join(self.targets.keys().map(|s| s.as_str()));
        match name {
            Some(n) => self.targets.get(n).ok_or_else(|| Error::UnknownTarget {
                name: n.to_string(),
                known: known(),
            }),
            None => {
                if self.targets.len() == 1 {
                    return Ok(self.targets.values().next().expect("one target"));
                }
                self.targets
                    .values()
                    .find(|t| t.default)
                    .ok_or_else(|| Error::NoDefaultTarget { known: known() })
            }
        }
    }
}

/// `build_dir`, `build_command`, `snapshot_ref`: only meaningful together, checked here so that a bad value
/// stops before anything is built or written.
fn validate_snapshot(
    src: &RawSource,
    targets: &BTreeMap<String, RawTarget>,
    path: &Path,
) -> Result<Option<SnapshotConfig>> {
    let invalid = |message: String, hint: &str| Error::ConfigInvalid {
        path: path.to_path_buf(),
        message,
        hint: hint.to_string(),
    };
    let Some(build_dir) = &src.build_dir else {
        for (key, set) in [
            ("build_command", src.build_command.is_some()),
            ("snapshot_ref", src.snapshot_ref.is_some()),
        ] {
            if set {
                return Err(invalid(
                    format!("source.{key} is set but source.build_dir is not"),
                    "set `build_dir` to the directory the build writes (e.g. \"public\"), or remove the key",
                ));
            }
        }
        return Ok(None);
    };
    let build_dir = build_dir.trim_matches('/').to_string();
    if build_dir.is_empty()
        || build_dir
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == ".." || c == ".git")
    {
        return Err(invalid(
            format!("source.build_dir = {build_dir:?} must be a directory inside the repository"),
            "use a relative path such as \"public\" (not \"\", no `.`, `..` or `.git` components)",
        ));
    }
    if let Some(c) = &src.build_command {
        if c.trim().is_empty() {
            return Err(invalid(
                "source.build_command is empty".into(),
                "give the command that writes build_dir (e.g. \"hexo generate\"), or remove the key",
            ));
        }
    }
    let snapshot_ref = src
        .snapshot_ref
        .clone()
        .unwrap_or_else(|| DEFAULT_SNAPSHOT_REF.to_string());
    let bad_ref = !snapshot_ref.starts_with("refs/")
        || snapshot_ref.ends_with('/')
        || snapshot_ref.ends_with(".lock")
        || snapshot_ref.contains("..")
        || snapshot_ref.contains("//")
        || snapshot_ref.contains("@{")
        || snapshot_ref
            .chars()
            .any(|c| c.is_ascii_control() || " ~^:?*[\\".contains(c));
    if bad_ref {
        return Err(invalid(
            format!("source.snapshot_ref = {snapshot_ref:?} is not a valid full ref name"),
            "use a name such as \"refs/heads/site-builds\" (a branch you can push) or \"refs/site/builds\"",
        ));
    }
    // refs/publish/<target> mirrors each target's deployed commit: a snapshot ref there (or below it) would
    // collide with that file in the ref store.
    for name in targets.keys() {
        let mirror = format!("refs/publish/{name}");
        if snapshot_ref == mirror || snapshot_ref.starts_with(&format!("{mirror}/")) {
            return Err(invalid(
                format!("source.snapshot_ref = {snapshot_ref:?} collides with {mirror}, the local mirror of target `{name}`"),
                "choose a ref outside refs/publish/<target>, e.g. \"refs/heads/site-builds\"",
            ));
        }
    }
    Ok(Some(SnapshotConfig {
        build_dir,
        build_command: src.build_command.clone(),
        snapshot_ref,
    }))
}

fn validate_target(name: &str, t: RawTarget, path: &Path, base_dir: &Path) -> Result<Target> {
    let invalid = |message: String, hint: String| Error::ConfigInvalid {
        path: path.to_path_buf(),
        message,
        hint,
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return Err(invalid(
            format!("target name {name:?} may only hold letters, digits, `-`, `_` and `.`"),
            "rename the [targets.NAME] table".into(),
        ));
    }
    let backend = parse_url(&t.url, base_dir).map_err(|why| {
        invalid(
            format!("targets.{name}.url = {:?}: {why}", t.url),
            "use \"s3://BUCKET\" or \"s3://BUCKET/PREFIX\" for S3, \"file:///absolute/dir\" or \"file:relative/dir\" for a local directory".into(),
        )
    })?;
    let allow_http = t.allow_http.unwrap_or(false);
    if let Some(ep) = &t.endpoint {
        check_endpoint(ep, allow_http).map_err(|why| {
            invalid(
                format!("targets.{name}.endpoint = {ep:?}: {why}"),
                "give a URL such as \"https://s3.example.com\"; plain http is accepted for 127.0.0.1/localhost, \
                 or anywhere with `allow_http = true`"
                    .into(),
            )
        })?;
    }
    let listed = match t.distribution {
        None => Vec::new(),
        Some(RawDistribution::One(d)) => vec![d],
        Some(RawDistribution::Many(v)) => v,
    };
    let mut distributions = Vec::new();
    for d in &listed {
        if d == "auto" {
            if listed.len() > 1 {
                return Err(invalid(
                    format!("targets.{name}.distribution: \"auto\" finds one distribution and cannot be listed with others"),
                    "use `distribution = \"auto\"` alone, or list the ids".into(),
                ));
            }
            distributions.push(Distribution::Auto);
            continue;
        }
        let ok = d.len() >= 8
            && d.len() <= 32
            && d.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !ok {
            return Err(invalid(
                format!("targets.{name}.distribution = {d:?} is not a CloudFront distribution id"),
                "use the id shown by `aws cloudfront list-distributions` (like \"E2QWRUHAPOMQZL\"), \"auto\", or remove the key".into(),
            ));
        }
        if !distributions.contains(&Distribution::Id(d.clone())) {
            distributions.push(Distribution::Id(d.clone()));
        }
    }
    if !distributions.is_empty() && matches!(backend, Backend::Local { .. }) {
        return Err(invalid(
            format!("targets.{name}.distribution is set but the target is a local directory"),
            "remove `distribution`, or use an s3:// url".into(),
        ));
    }
    if let Some(d) = &t.domain {
        let ok = !d.is_empty()
            && d.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '*');
        if !ok {
            return Err(invalid(
                format!("targets.{name}.domain = {d:?} is not a host name"),
                "give the site's host name, like \"blog.example.com\" (no scheme, no path)".into(),
            ));
        }
        if distributions != [Distribution::Auto] {
            return Err(invalid(
                format!("targets.{name}.domain is only used with `distribution = \"auto\"`"),
                "set `distribution = \"auto\"`, or remove `domain`".into(),
            ));
        }
    }
    for (key, v) in [("region", &t.region), ("profile", &t.profile)] {
        if let Some(v) = v {
            if v.trim().is_empty() || v.contains(char::is_whitespace) {
                return Err(invalid(
                    format!("targets.{name}.{key} = {v:?} is not valid"),
                    format!("remove `{key}` or give a name without spaces"),
                ));
            }
        }
    }
    let concurrency = t.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    if concurrency == 0 || concurrency > 256 {
        return Err(invalid(
            format!("targets.{name}.concurrency = {concurrency} is out of range"),
            "use 1..=256".into(),
        ));
    }
    let max_invalidation_paths = t
        .max_invalidation_paths
        .unwrap_or(DEFAULT_MAX_INVALIDATION_PATHS);
    if max_invalidation_paths == 0 {
        return Err(invalid(
            format!("targets.{name}.max_invalidation_paths must be at least 1"),
            "use 1 to always send a single wildcard, or a larger budget".into(),
        ));
    }
    let index_document = t
        .index_document
        .unwrap_or_else(|| DEFAULT_INDEX_DOCUMENT.to_string());
    if index_document.is_empty() || index_document.contains('/') {
        return Err(invalid(
            format!("targets.{name}.index_document = {index_document:?} must be a file name"),
            "e.g. \"index.html\"".into(),
        ));
    }
    let origin_path = match t.origin_path {
        None => None,
        Some(p) => {
            let p = p.trim_matches('/').to_string();
            if p.split('/').any(|c| c == ".." || c == ".") || p.contains("//") {
                return Err(invalid(
                    format!("targets.{name}.origin_path = {p:?} must be a plain key prefix"),
                    "give the distribution's origin path, like \"/site\" (or \"\" for the bucket root)".into(),
                ));
            }
            if distributions.is_empty() {
                return Err(invalid(
                    format!(
                        "targets.{name}.origin_path is set but the target has no `distribution`"
                    ),
                    "set `distribution`, or remove `origin_path`".into(),
                ));
            }
            Some(p)
        }
    };
    let mut forms = UrlForms {
        index_document: index_document.clone(),
        dir_slash: false,
        dir_bare: false,
        dir_index: false,
        pretty: t.pretty_urls.unwrap_or(false),
    };
    let dir_urls = t.directory_urls.unwrap_or_else(|| {
        DEFAULT_DIRECTORY_URLS
            .iter()
            .map(|s| s.to_string())
            .collect()
    });
    if dir_urls.is_empty() {
        return Err(invalid(
            format!("targets.{name}.directory_urls is empty"),
            "list at least one of \"/dir/\", \"/dir\", \"/dir/index.html\"".into(),
        ));
    }
    for u in &dir_urls {
        match u.as_str() {
            "/dir/" => forms.dir_slash = true,
            "/dir" => forms.dir_bare = true,
            "/dir/index.html" => forms.dir_index = true,
            other => {
                return Err(invalid(
                    format!("targets.{name}.directory_urls: unknown form {other:?}"),
                    "use \"/dir/\", \"/dir\" and/or \"/dir/index.html\" (literally: they name the forms; \
                     `index.html` stands for `index_document`)"
                        .into(),
                ))
            }
        }
    }
    let claim_lease = match &t.claim_lease {
        None => DEFAULT_CLAIM_LEASE,
        Some(s) => humantime::parse_duration(s).map_err(|e| {
            invalid(
                format!("targets.{name}.claim_lease = {s:?}: {e}"),
                "use a duration such as \"30m\" or \"2h\"".into(),
            )
        })?,
    };
    Ok(Target {
        name: name.to_string(),
        url: t.url,
        backend,
        region: t.region,
        profile: t.profile,
        endpoint: t.endpoint.map(|e| e.trim_end_matches('/').to_string()),
        distributions,
        domain: t.domain,
        origin_path,
        default: t.default,
        concurrency,
        max_deletes: t.max_deletes.unwrap_or(DEFAULT_MAX_DELETES),
        max_invalidation_paths,
        forms,
        invalidate_new_files: t.invalidate_new_files.unwrap_or(false),
        claim_lease,
        allow_http,
        invalidation_budget: t.invalidation_budget.unwrap_or(DEFAULT_INVALIDATION_BUDGET),
        delay_deletes: t.delay_deletes.unwrap_or(false),
    })
}

/// `s3://bucket[/prefix]`, `file:///abs`, `file:rel` (relative to `base_dir`).
pub fn parse_url(url: &str, base_dir: &Path) -> std::result::Result<Backend, String> {
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !valid_bucket {
            return Err(format!("`{bucket}` is not a valid S3 bucket name (3-63 lowercase letters, digits, `.`, `-`)"));
        }
        let prefix = prefix.trim_matches('/');
        if !prefix.is_empty()
            && prefix
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(format!(
                "key prefix `{prefix}` has an empty, `.` or `..` component"
            ));
        }
        return Ok(Backend::S3 {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        });
    }
    if url.starts_with("file://") {
        let parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
        let root = parsed
            .to_file_path()
            .map_err(|_| "not an absolute local path (file:///dir)".to_string())?;
        return Ok(Backend::Local { root });
    }
    if let Some(rel) = url.strip_prefix("file:") {
        if rel.is_empty() {
            return Err("empty path".into());
        }
        return Ok(Backend::Local {
            root: base_dir.join(rel),
        });
    }
    Err("unsupported scheme (expected s3:// or file:)".into())
}

pub fn check_endpoint(ep: &str, allow_http: bool) -> std::result::Result<(), String> {
    let u = url::Url::parse(ep).map_err(|e| e.to_string())?;
    match u.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match u.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if loopback || allow_http {
                Ok(())
            } else {
                Err(
                    "plain http to a non-loopback host would send signed requests unencrypted"
                        .into(),
                )
            }
        }
        s => Err(format!("unsupported scheme `{s}`")),
    }
}

/// Refuse anything that looks like a credential before parsing, with the line and column.
fn check_secrets(text: &str, path: &Path) -> Result<()> {
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') {
            continue;
        }
        if let Some((k, _)) = trimmed.split_once('=') {
            let key = k.trim().trim_matches('"').to_ascii_lowercase();
            let last = key.rsplit('.').next().unwrap_or(&key).to_string();
            if SECRET_KEYS.contains(&last.as_str()) {
                let column = line.len() - trimmed.len() + 1;
                return Err(Error::ConfigInvalid {
                    path: path.to_path_buf(),
                    message: format!("line {}, column {column}: `{}` looks like a secret; site.toml never holds credentials", i + 1, k.trim()),
                    hint: "remove it and provide credentials the standard AWS way: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, \
                           `aws configure` / `aws sso login` with `profile = \"NAME\"`, or an instance/role"
                        .into(),
                });
            }
        }
        if let Some(pos) = find_access_key_id(line) {
            return Err(Error::ConfigInvalid {
                path: path.to_path_buf(),
                message: format!("line {}, column {}: this looks like an AWS access key id; site.toml never holds credentials", i + 1, pos + 1),
                hint: "remove it and use the standard AWS credential chain (environment, profile, role)".into(),
            });
        }
    }
    Ok(())
}

/// Position of something shaped like an AWS access key id (AKIA/ASIA + 16 upper-case alphanumerics).
fn find_access_key_id(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    (0..b.len().saturating_sub(19)).find(|&i| {
        (b[i..].starts_with(b"AKIA") || b[i..].starts_with(b"ASIA"))
            && b[i + 4..i + 20]
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            && b.get(i + 20).is_none_or(|c| !c.is_ascii_alphanumeric())
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::from_str(text, Path::new("site.toml"), Path::new("/repo"))
    }

    const MINIMAL: &str = "[targets.production]\nurl = \"s3://my-bucket/blog\"\n";

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.source.dir, "");
        assert_eq!(c.source.branch, None);
        let t = c.target(None).unwrap();
        assert_eq!(
            t.backend,
            Backend::S3 {
                bucket: "my-bucket".into(),
                prefix: "blog".into()
            }
        );
        assert_eq!(t.max_deletes, DEFAULT_MAX_DELETES);
        assert_eq!(t.max_invalidation_paths, DEFAULT_MAX_INVALIDATION_PATHS);
        assert_eq!(t.forms.index_document, "index.html");
        assert!(t.forms.dir_slash && t.forms.dir_index && !t.forms.dir_bare && !t.forms.pretty);
    }

    #[test]
    fn urls() {
        let base = Path::new("/repo");
        let table: &[(&str, std::result::Result<Backend, ()>)] = &[
            (
                "s3://bucket",
                Ok(Backend::S3 {
                    bucket: "bucket".into(),
                    prefix: "".into(),
                }),
            ),
            (
                "s3://bucket/",
                Ok(Backend::S3 {
                    bucket: "bucket".into(),
                    prefix: "".into(),
                }),
            ),
            (
                "s3://b.example.com/a/b/",
                Ok(Backend::S3 {
                    bucket: "b.example.com".into(),
                    prefix: "a/b".into(),
                }),
            ),
            (
                "file:///srv/www",
                Ok(Backend::Local {
                    root: "/srv/www".into(),
                }),
            ),
            (
                "file:out/site",
                Ok(Backend::Local {
                    root: "/repo/out/site".into(),
                }),
            ),
            ("s3://Bucket", Err(())),
            ("s3://ab", Err(())),
            ("s3://bucket/a/../b", Err(())),
            ("s3://bucket/a//b", Err(())),
            ("http://bucket", Err(())),
            ("file://relative", Err(())),
            ("", Err(())),
        ];
        for (url, want) in table {
            let got = parse_url(url, base).map_err(|_| ());
            assert_eq!(&got, want, "{url}");
        }
    }

    #[test]
    fn errors_name_line_and_column() {
        let cases: &[(&str, &str)] = &[
            (
                "[targets.p]\nurl = \"s3://bucket\"\nbogus = 1\n",
                "site.toml:3:1",
            ),
            ("[targets.p]\nurl = 42\n", "site.toml:2:7"),
            ("[targets.p\nurl = \"s3://bucket\"\n", "site.toml:1:"),
            (
                "[source]\ndirr = \"public\"\n[targets.p]\nurl = \"s3://bucket\"\n",
                "site.toml:2:1",
            ),
        ];
        for (text, want) in cases {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.starts_with(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn invalid_values() {
        let cases: &[(&str, &str)] = &[
            ("", "no targets"),
            ("[targets.p]\nurl = \"s3://Bad_Bucket\"\n", "targets.p.url"),
            ("[targets.p]\nurl = \"s3://bucket\"\nendpoint = \"http://10.1.2.3:9000\"\n", "targets.p.endpoint"),
            ("[targets.p]\nurl = \"s3://bucket\"\ndistribution = \"nope\"\n", "targets.p.distribution"),
            ("[targets.p]\nurl = \"file:///x\"\ndistribution = \"E2QWRUHAPOMQZL\"\n", "local directory"),
            ("[targets.p]\nurl = \"s3://bucket\"\nmax_invalidation_paths = 0\n", "max_invalidation_paths"),
            ("[targets.p]\nurl = \"s3://bucket\"\nconcurrency = 0\n", "concurrency"),
            ("[targets.p]\nurl = \"s3://bucket\"\nclaim_lease = \"soon\"\n", "claim_lease"),
            ("[targets.a]\nurl = \"s3://bucket\"\ndefault = true\n[targets.b]\nurl = \"s3://bucket\"\ndefault = true\n", "more than one"),
            ("[source]\ndir = \"../x\"\n[targets.p]\nurl = \"s3://bucket\"\n", "source.dir"),
            ("[targets.\"a b\"]\nurl = \"s3://bucket\"\n", "target name"),
            ("[targets.p]\nurl = \"s3://bucket\"\ndistribution = [\"auto\", \"E2QWRUHAPOMQZL\"]\n", "cannot be listed"),
            ("[targets.p]\nurl = \"s3://bucket\"\ndistribution = \"E2QWRUHAPOMQZL\"\ndomain = \"a.b\"\n", "targets.p.domain"),
            ("[targets.p]\nurl = \"s3://bucket\"\ndistribution = \"auto\"\ndomain = \"https://a.b/\"\n", "targets.p.domain"),
            ("[targets.p]\nurl = \"s3://bucket\"\ndirectory_urls = [\"/dir.html\"]\n", "targets.p.directory_urls"),
            ("[targets.p]\nurl = \"s3://bucket\"\ndirectory_urls = []\n", "targets.p.directory_urls"),
            ("[targets.p]\nurl = \"s3://bucket\"\norigin_path = \"/site\"\n", "targets.p.origin_path"),
            ("[targets.p]\nurl = \"s3://bucket\"\ndistribution = \"auto\"\norigin_path = \"/a/../b\"\n", "targets.p.origin_path"),
            ("[targets.p]\nurl = \"s3://bucket\"\n[[rules]]\nmatch = \"*.css\"\n", "rules[1]"),
            ("[targets.p]\nurl = \"s3://bucket\"\n[[rules]]\nmatch = \"a[\"\nkeep = true\n", "rules[1]"),
            ("[source]\nbuild_command = \"make\"\n[targets.p]\nurl = \"s3://bucket\"\n", "source.build_command is set"),
            ("[source]\nsnapshot_ref = \"refs/x\"\n[targets.p]\nurl = \"s3://bucket\"\n", "source.snapshot_ref is set"),
            ("[source]\nbuild_dir = \"\"\n[targets.p]\nurl = \"s3://bucket\"\n", "source.build_dir"),
            ("[source]\nbuild_dir = \"../out\"\n[targets.p]\nurl = \"s3://bucket\"\n", "source.build_dir"),
            ("[source]\nbuild_dir = \".git/x\"\n[targets.p]\nurl = \"s3://bucket\"\n", "source.build_dir"),
            ("[source]\nbuild_dir = \"public\"\nbuild_command = \" \"\n[targets.p]\nurl = \"s3://bucket\"\n", "build_command is empty"),
            ("[source]\nbuild_dir = \"public\"\nsnapshot_ref = \"site\"\n[targets.p]\nurl = \"s3://bucket\"\n", "snapshot_ref"),
            ("[source]\nbuild_dir = \"public\"\nsnapshot_ref = \"refs/heads/a b\"\n[targets.p]\nurl = \"s3://bucket\"\n", "snapshot_ref"),
            ("[source]\nbuild_dir = \"public\"\nsnapshot_ref = \"refs/publish/p/builds\"\n[targets.p]\nurl = \"s3://bucket\"\n", "collides"),
        ];
        for (text, want) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.exit_code(), crate::error::exit::USAGE);
            assert!(e.to_string().contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn distributions_and_url_forms() {
        let c = parse("[targets.p]\nurl = \"s3://bucket\"\ndistribution = [\"E2QWRUHAPOMQZL\", \"E3QWRUHAPOMQZL\"]\ndirectory_urls = [\"/dir\"]\npretty_urls = true\ninvalidation_budget = 200\ndelay_deletes = true\n").unwrap();
        let t = c.target(None).unwrap();
        assert_eq!(
            t.distributions,
            [
                Distribution::Id("E2QWRUHAPOMQZL".into()),
                Distribution::Id("E3QWRUHAPOMQZL".into())
            ]
        );
        assert!(t.forms.dir_bare && !t.forms.dir_slash && !t.forms.dir_index && t.forms.pretty);
        assert_eq!((t.invalidation_budget, t.delay_deletes), (200, true));
        let c = parse("[targets.p]\nurl = \"s3://bucket\"\ndistribution = \"auto\"\ndomain = \"blog.example.com\"\n").unwrap();
        assert_eq!(c.target(None).unwrap().distributions, [Distribution::Auto]);
    }

    #[test]
    fn loopback_http_endpoint_is_fine() {
        for ep in [
            "http://127.0.0.1:9000",
            "http://localhost:9000",
            "http://[::1]:9000",
            "https://s3.example.com",
        ] {
            parse(&format!(
                "[targets.p]\nurl = \"s3://bucket\"\nendpoint = \"{ep}\"\n"
            ))
            .unwrap();
        }
        parse("[targets.p]\nurl = \"s3://bucket\"\nendpoint = \"http://minio.lan:9000\"\nallow_http = true\n").unwrap();
    }

    #[test]
    fn secrets_are_refused() {
        for text in [
            "[targets.p]\nurl = \"s3://bucket\"\naws_secret_access_key = \"abc\"\n",
            "[targets.p]\nurl = \"s3://bucket\"\n  secret_key = \"abc\"\n",
            "[targets.p]\nurl = \"s3://bucket\"\nprofile = \"AKIAIOSFODNN7EXAMPLE\"\n",
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.to_string().contains("never holds credentials"), "{e}");
            assert!(e.hint().unwrap().contains("AWS"));
        }
    }

    #[test]
    fn snapshot_settings() {
        let c = parse("[source]\nbuild_dir = \"/public/\"\n[targets.p]\nurl = \"s3://bucket\"\n")
            .unwrap();
        let snap = c.source.snapshot.unwrap();
        assert_eq!(snap.build_dir, "public");
        assert_eq!(snap.snapshot_ref, DEFAULT_SNAPSHOT_REF);
        assert_eq!(snap.build_command, None);
        // dir follows build_dir unless set (it is where non-snapshot commits hold the output)
        assert_eq!(c.source.dir, "public");
        let c = parse("[source]\ndir = \"site\"\nbuild_dir = \"out\"\nbuild_command = \"make\"\nsnapshot_ref = \"refs/site/builds\"\n[targets.p]\nurl = \"s3://bucket\"\n").unwrap();
        assert_eq!(c.source.dir, "site");
        let snap = c.source.snapshot.unwrap();
        assert_eq!(snap.build_command.as_deref(), Some("make"));
        assert_eq!(snap.snapshot_ref, "refs/site/builds");
        assert_eq!(parse(MINIMAL).unwrap().source.snapshot, None);
    }

    #[test]
    fn target_selection() {
        let c = parse("[targets.a]\nurl = \"s3://bucket\"\n[targets.b]\nurl = \"s3://bucket\"\n")
            .unwrap();
        assert!(matches!(c.target(None), Err(Error::NoDefaultTarget { .. })));
        assert_eq!(c.target(Some("b")).unwrap().name, "b");
        assert!(matches!(
            c.target(Some("c")),
            Err(Error::UnknownTarget { .. })
        ));
        let c = parse("[targets.a]\nurl = \"s3://bucket\"\n[targets.b]\nurl = \"s3://bucket\"\ndefault = true\n").unwrap();
        assert_eq!(c.target(None).unwrap().name, "b");
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    /// The documented example must stay valid.
    #[test]
    fn site_toml_example_parses() {
        let text = include_str!("../site.toml.example");
        let c = Config::from_str(text, Path::new("site.toml.example"), Path::new("/repo")).unwrap();
        assert_eq!(c.source.dir, "public");
        assert_eq!(c.target(None).unwrap().name, "production");
        // every commented-out key is a real key: uncomment them all and parse again
        let all: String = text
            .lines()
            .map(|l| match l.strip_prefix('#') {
                Some(rest)
                    if (rest.contains(" = ")
                        || rest.starts_with("[targets.")
                        || rest.starts_with("[[rules]]"))
                        && !rest.starts_with(' ') =>
                {
                    rest.to_string()
                }
                _ => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        Config::from_str(&all, Path::new("site.toml.example"), Path::new("/repo")).unwrap();
    }
}
