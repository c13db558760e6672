//! `site.toml`: schema, parsing and validation.
//!
//! Owns turning the file's text into validated [`Config`] values: unknown keys, wrong types and bad values are
//! errors that name the file, line and column (or the key); secrets are refused outright. The schema, the
//! defaults and the validated types are in `config/types.rs`, and nowhere else; URLs and endpoints in `config/urls.rs`. Each `[targets.NAME]` is checked by one table of rows (key, check, message, hint) in
//! `config/target_checks.rs`; `[source]` by the `validate_*` steps below. Settings spelled as one of a few
//! words are enums parsed here once (`config/modes.rs`); every key of the file is one row of
//! `config/keys.rs::KEYS`, which the schema, site.toml.example and `init`'s template are tested against.
//! It does no IO beyond reading the file (see [`Config::load`]); [`Config::from_str`] is pure, for tests. It
//! must not touch git or a store.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::plan::redirects::check_specs;
use crate::plan::rules::Rules;

pub mod edit;
pub mod keys;
mod modes;
pub use modes::{BuildEnv, CdnFunction, DirectoryUrl, Locking, Mode, RedirectRenames, Words};

mod target_checks;
mod types;
mod urls;
pub use target_checks::is_valid_target_name;
use target_checks::validate_target;
pub use types::*;
pub use urls::*;

/// The most a config file may hold: a site.toml is a few KiB.
const MAX_CONFIG_BYTES: u64 = 1 << 20;
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

/// The text of the config file at `path`: a regular file of at most [`MAX_CONFIG_BYTES`]. It is opened
/// without blocking (a FIFO with no writer would wait forever) and checked before it is read, so
/// `--config /dev/zero` or a FIFO is refused at once.
fn read_config_text(path: &Path) -> Result<String> {
    use std::io::Read;
    let read_error = |source| Error::ConfigRead {
        path: path.to_path_buf(),
        source,
    };
    let file = match crate::os::open_nonblocking(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::ConfigMissing {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(read_error(e)),
    };
    let meta = file.metadata().map_err(read_error)?;
    let refuse = |message: String| invalid(path, message, "point --config at a site.toml file");
    if !meta.is_file() {
        return Err(refuse(
            "not a regular file (a directory, device or FIFO)".into(),
        ));
    }
    let too_big = || {
        refuse(format!(
            "larger than 1 MiB ({} bytes); a site.toml is a few KiB",
            meta.len()
        ))
    };
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(too_big());
    }
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_big());
    }
    Ok(text)
}

impl Config {
    /// Read and validate `path`. `base_dir` resolves relative `file:` URLs (the repository root).
    pub fn load(path: &Path, base_dir: &Path) -> Result<Config> {
        let text = read_config_text(path)?;
        Config::from_str(&text, path, base_dir)
    }

    /// Pure parse + validate of the file's text.
    pub fn from_str(text: &str, path: &Path, base_dir: &Path) -> Result<Config> {
        check_secrets(text, path)?;
        let raw: RawConfig = toml::from_str(text).map_err(|e| parse_error(&e, text, path))?;
        let source = validate_source(&raw.source, &raw.targets, path)?;
        check_publisher(raw.publisher.as_deref(), path)?;
        let mut targets = validate_targets(raw.targets, path, base_dir)?;
        for t in targets.values_mut() {
            t.publish.publisher = t.publish.publisher.take().or_else(|| raw.publisher.clone());
        }
        check_shared_state(&targets, path)?;
        let rules = Rules::compile(&raw.rules).map_err(|why| {
            invalid(
                path,
                why,
                "fix the [[rules]] entry (see the rules section of site.toml.example)",
            )
        })?;
        let redirects = check_specs(&raw.redirects).map_err(|(m, h)| invalid(path, m, &h))?;
        Ok(Config {
            path: path.to_path_buf(),
            source,
            targets,
            rules,
            redirects,
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

/// The top-level `publisher`: a name on one line (it is shown in `log` and `status`).
fn check_publisher(publisher: Option<&str>, path: &Path) -> Result<()> {
    match publisher {
        Some(p) if p.trim().is_empty() || p.chars().any(char::is_control) => Err(invalid(
            path,
            format!("publisher = {p:?} is not a name"),
            "give the name every deploy is recorded under, like \"Site Bot\", or remove the key",
        )),
        _ => Ok(()),
    }
}

/// Two targets with the same `state` would overwrite each other's record (and claim).
fn check_shared_state(targets: &BTreeMap<String, Target>, path: &Path) -> Result<()> {
    // Where each record is: `state`, or inside the site. Only pairs where one sets `state` are refused (two
    // targets on the same url share their record by design).
    let place = |t: &Target| match (&t.store.state, &t.store.backend) {
        (Some(loc), _) => loc.describe(),
        (None, b @ (Backend::S3 { .. } | Backend::Cloud { .. })) => {
            let prefix = b.bucket_and_prefix().map_or("", |(_, p)| p);
            let key = StateLocation::parse(&b.with_prefix("").url_of(prefix), Path::new("/"));
            key.map(|l| l.describe()).unwrap_or_default()
        }
        (None, Backend::Local { root }) => StateLocation {
            backend: Backend::Local { root: root.clone() },
            key: format!("{}/state.json", crate::plan::STATE_DIR),
        }
        .describe(),
    };
    let mut seen: BTreeMap<String, &Target> = BTreeMap::new();
    for t in targets.values() {
        let Some(other) = seen.insert(place(t), t) else {
            continue;
        };
        if let Some(loc) = t.store.state.as_ref().or(other.store.state.as_ref()) {
            let other = &other.name;
            return Err(invalid(
                path,
                format!(
                    "targets {other} and {} both keep their deploy record at state = {}",
                    t.name,
                    loc.describe()
                ),
                "give each target its own `state` key (e.g. \"s3://BUCKET/production.json\" and \
                 \"s3://BUCKET/staging.json\")",
            ));
        }
    }
    Ok(())
}

/// A refusal of a value in `path`, with the hint that fixes it.
fn invalid(path: &Path, message: String, hint: &str) -> Error {
    Error::ConfigInvalid {
        path: path.to_path_buf(),
        message,
        hint: hint.to_string(),
    }
}

/// A TOML syntax or schema error, at its line and column, naming the key when it sits on a `key = value` line.
fn parse_error(e: &toml::de::Error, text: &str, path: &Path) -> Error {
    let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
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
}

/// `[source]`: the snapshot settings first, then `dir` (which defaults to `build_dir`) and `branch`.
fn validate_source(
    src: &RawSource,
    targets: &BTreeMap<String, RawTarget>,
    path: &Path,
) -> Result<SourceConfig> {
    let snapshot = validate_snapshot(src, targets, path)?;
    if let (Some(dir), Some(snap)) = (&src.dir, &snapshot) {
        if dir.trim_matches('/') != snap.build_dir {
            return Err(invalid(
                path,
                format!(
                    "source.dir = {dir:?} and source.build_dir = {:?} are both set: with snapshot builds the \
                     published directory is build_dir, and dir would only be read in commits that are not snapshots",
                    snap.build_dir
                ),
                "remove `dir` from [source] (it defaults to build_dir)",
            ));
        }
    }
    let dir = (src.dir.clone())
        .or_else(|| snapshot.as_ref().map(|s| s.build_dir.clone()))
        .unwrap_or_default();
    let dir = dir.trim_matches('/').to_string();
    if !is_plain_path(&dir, true) {
        return Err(invalid(
            path,
            format!("source.dir = {dir:?} must be a plain path inside the commit"),
            "use a path such as \"public\" (no `.` or `..` components)",
        ));
    }
    if src.branch.as_ref().is_some_and(|b| b.trim().is_empty()) {
        return Err(invalid(
            path,
            "source.branch is empty".into(),
            "name a branch, or remove the key to use the current branch",
        ));
    }
    Ok(SourceConfig {
        branch: src.branch.clone(),
        dir,
        snapshot,
    })
}

/// Every `[targets.NAME]` (see `target_checks`), and at most one default.
fn validate_targets(
    raw: BTreeMap<String, RawTarget>,
    path: &Path,
    base_dir: &Path,
) -> Result<BTreeMap<String, Target>> {
    if raw.is_empty() {
        return Err(invalid(
            path,
            "no targets: add a [targets.NAME] table with a `url`".into(),
            "see site.toml.example, e.g. [targets.production] url = \"s3://my-bucket\"",
        ));
    }
    let mut targets = BTreeMap::new();
    for (name, t) in raw {
        let target = validate_target(&name, t, path, base_dir)?;
        targets.insert(name, target);
    }
    let defaults: Vec<&str> = (targets.values())
        .filter(|t| t.default)
        .map(|t| t.name.as_str())
        .collect();
    if defaults.len() > 1 {
        return Err(invalid(
            path,
            format!(
                "more than one target has `default = true`: {}",
                join(defaults.into_iter())
            ),
            "keep `default = true` on one target only",
        ));
    }
    Ok(targets)
}

/// `build_dir`, `build_command`, `snapshot_ref`: only meaningful together, checked here so that a bad value
/// stops before anything is built or written.
fn validate_snapshot(
    src: &RawSource,
    targets: &BTreeMap<String, RawTarget>,
    path: &Path,
) -> Result<Option<SnapshotConfig>> {
    let Some(build_dir) = &src.build_dir else {
        for (key, set) in [
            ("build_command", src.build_command.is_some()),
            ("build_env", src.build_env.is_some()),
            ("snapshot_ref", src.snapshot_ref.is_some()),
        ] {
            if set {
                return Err(invalid(
                    path,
                    format!("source.{key} is set but source.build_dir is not"),
                    "set `build_dir` to the directory the build writes (e.g. \"public\"), or remove the key",
                ));
            }
        }
        return Ok(None);
    };
    let build_dir = build_dir.trim_matches('/').to_string();
    if build_dir.is_empty()
        || !is_plain_path(&build_dir, false)
        || build_dir.split('/').any(|c| c == ".git")
    {
        return Err(invalid(
            path,
            format!("source.build_dir = {build_dir:?} must be a directory inside the repository"),
            "use a relative path such as \"public\" (not \"\", no `.`, `..` or `.git` components)",
        ));
    }
    if src
        .build_command
        .as_ref()
        .is_some_and(|c| c.trim().is_empty())
    {
        return Err(invalid(
            path,
            "source.build_command is empty".into(),
            "give the command that writes build_dir (e.g. \"hexo generate\"), or remove the key",
        ));
    }
    let build_env = BuildEnv::from_setting(src.build_env.as_deref()).map_err(|word| {
        invalid(
            path,
            format!("source.build_env = {word} is not \"clean\" or \"inherit\""),
            BUILD_ENV_HINT,
        )
    })?;
    Ok(Some(SnapshotConfig {
        build_dir,
        build_command: src.build_command.clone(),
        build_env,
        snapshot_ref: validate_snapshot_ref(src, targets, path)?,
    }))
}

/// How to fix a bad `source.build_env` (names every word of [`BuildEnv`]: `modes_hints_name_their_words`).
const BUILD_ENV_HINT: &str =
    "use \"clean\" (the default: the build runs without the AWS_* credentials) or \"inherit\"";

/// `source.snapshot_ref` (or its default): a full ref name git accepts, outside every `refs/publish/<target>`.
fn validate_snapshot_ref(
    src: &RawSource,
    targets: &BTreeMap<String, RawTarget>,
    path: &Path,
) -> Result<String> {
    let snapshot_ref =
        (src.snapshot_ref.clone()).unwrap_or_else(|| DEFAULT_SNAPSHOT_REF.to_string());
    if !snapshot_ref.starts_with("refs/") || !git2::Reference::is_valid_name(&snapshot_ref) {
        return Err(invalid(
            path,
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
                path,
                format!("source.snapshot_ref = {snapshot_ref:?} collides with {mirror}, the local mirror of target `{name}`"),
                "choose a ref outside refs/publish/<target>, e.g. \"refs/heads/site-builds\"",
            ));
        }
    }
    Ok(snapshot_ref)
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
            t.store.backend,
            Backend::S3 {
                bucket: "my-bucket".into(),
                prefix: "blog".into()
            }
        );
        assert_eq!(t.publish.max_deletes, DEFAULT_MAX_DELETES);
        assert_eq!(t.cdn.max_invalidation_paths, DEFAULT_MAX_INVALIDATION_PATHS);
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
            (
                "gs://my_bucket.example/a/b/",
                Ok(Backend::Cloud {
                    cloud: crate::config::Cloud::Gcs,
                    bucket: "my_bucket.example".into(),
                    prefix: "a/b".into(),
                }),
            ),
            (
                "azblob://site-1",
                Ok(Backend::Cloud {
                    cloud: crate::config::Cloud::AzBlob,
                    bucket: "site-1".into(),
                    prefix: "".into(),
                }),
            ),
            ("gs://Bucket", Err(())),
            ("gs://goog-site", Err(())),
            ("gs://-site", Err(())),
            ("gs://bucket/a/../b", Err(())),
            ("azblob://ab", Err(())),
            ("azblob://a--b", Err(())),
            ("azblob://my_site", Err(())),
            ("azblob://site.example", Err(())),
            ("azblob://site/a//b", Err(())),
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

    /// Every bad value is refused with exit code 2 and a message naming it. This is the one table of bad
    /// configs: each row of [`target_checks::TARGET_CHECKS`] must refuse at least one of them (found by its
    /// hint), so a new row fails here until it has an example.
    #[test]
    fn aws_only_commands_name_a_gs_or_azblob_target_and_what_to_do_instead() {
        for (url, instead) in [
            ("gs://site", "roles/storage.objectAdmin"),
            ("azblob://site", "Storage Blob Data Contributor"),
        ] {
            let c = parse(&format!("[targets.www]\nurl = \"{url}\"\n")).unwrap();
            let why = c.targets["www"]
                .store
                .backend
                .aws_only("www", "an IAM policy")
                .unwrap();
            assert!(
                why.starts_with("target www is ") && why.contains(url),
                "{why}"
            );
            assert!(
                why.contains("an IAM policy is for AWS only") && why.contains(instead),
                "{why}"
            );
        }
        let s3 = parse(MINIMAL).unwrap();
        assert_eq!(
            s3.targets["production"]
                .store
                .backend
                .aws_only("production", "x"),
            None
        );
    }

    #[test]
    fn every_check_refuses_its_examples() {
        let cases: &[(&str, &str)] = &[
            ("", "no targets"),
            ("[targets.p]\nurl = \"s3://Bad_Bucket\"\n", "targets.p.url"),
            ("[targets.p]\nurl = \"s3://bucket\"\nendpoint = \"http://10.1.2.3:9000\"\n", "targets.p.endpoint"),
            ("[targets.p]\nurl = \"s3://bucket\"\ndistribution = \"nope\"\n", "targets.p.distribution"),
            ("[targets.p]\nurl = \"file:///x\"\ndistribution = \"E2QWRUHAPOMQZL\"\n", "local directory"),
            ("[targets.p]\nurl = \"gs://bucket\"\ndistribution = \"E2QWRUHAPOMQZL\"\n", "a Google Cloud Storage gs:// url"),
            ("[targets.p]\nurl = \"azblob://site\"\nstate = \"s3://records/site.json\"\n", "same kind as `url`"),
            ("[targets.p]\nurl = \"azblob://a_b\"\n", "not a valid Azure container name"),
            ("[targets.p]\nurl = \"s3://bucket\"\nmax_invalidation_paths = 0\n", "max_invalidation_paths"),
            ("[targets.p]\nurl = \"s3://bucket\"\nconcurrency = 0\n", "concurrency"),
            ("[targets.p]\nurl = \"s3://bucket\"\nclaim_lease = \"soon\"\n", "claim_lease"),
            ("[targets.p]\nurl = \"s3://bucket\"\nclaim_lease = \"0s\"\n", "claim_lease"),
            ("[targets.p]\nurl = \"s3://bucket\"\nendpoint = \"https://u:p@s3.example.com\"\n", "targets.p.endpoint"),
            ("[targets.p]\nurl = \"s3://bucket\"\nredirect_renames = \"yes\"\n", "redirect_renames"),
            ("[targets.p]\nurl = \"s3://bucket\"\ncdn_function = \"on\"\n", "cdn_function"),
            ("[targets.p]\nurl = \"s3://bucket\"\n[[redirects]]\nfrom = \"/a/\"\nto = \"/b/\"\n[[redirects]]\nfrom = \"/b\"\nto = \"/a/index.html\"\n", "loops back"),
            ("[targets.p]\nurl = \"s3://bucket\"\n[[redirects]]\nfrom = \"/a/\"\nto = \"/b/\"\nstatus = 200\n", "status = 200"),
            ("[targets.a]\nurl = \"s3://bucket\"\ndefault = true\n[targets.b]\nurl = \"s3://bucket\"\ndefault = true\n", "more than one"),
            ("[source]\ndir = \"../x\"\n[targets.p]\nurl = \"s3://bucket\"\n", "source.dir"),
            ("[targets.\"a b\"]\nurl = \"s3://bucket\"\n", "target name"),
            ("[targets.p]\nurl = \"s3://bucket\"\ndistribution = [\"auto\", \"E2QWRUHAPOMQZL\"]\n", "cannot be listed"),
            ("[targets.p]\nurl = \"s3://bucket\"\ndistribution = \"auto\"\ndomain = \"https://a.b/\"\n", "targets.p.domain"),
            ("[targets.p]\nurl = \"s3://bucket\"\ndirectory_urls = [\"/dir.html\"]\n", "targets.p.directory_urls"),
            ("[targets.p]\nurl = \"s3://bucket\"\ndirectory_urls = []\n", "targets.p.directory_urls"),
            ("[targets.p]\nurl = \"s3://bucket\"\norigin_path = \"/site\"\n", "targets.p.origin_path"),
            ("[targets.p]\nurl = \"s3://bucket\"\ndistribution = \"auto\"\norigin_path = \"/a/../b\"\n", "targets.p.origin_path"),
            ("[targets.p]\nurl = \"s3://bucket\"\n[[rules]]\nmatch = \"*.css\"\n", "rules[1]"),
            ("[targets.p]\nurl = \"s3://bucket\"\n[[rules]]\nmatch = \"a[\"\nkeep = true\n", "rules[1]"),
            // The record reads recorded rules tolerantly (state/format.rs); site.toml does not.
            ("[targets.p]\nurl = \"s3://bucket\"\n[[rules]]\nmatch = \"*.css\"\ncache_controll = \"no-cache\"\n", "unknown field `cache_controll`"),
            ("[source]\nbuild_command = \"make\"\n[targets.p]\nurl = \"s3://bucket\"\n", "source.build_command is set"),
            ("[source]\nsnapshot_ref = \"refs/x\"\n[targets.p]\nurl = \"s3://bucket\"\n", "source.snapshot_ref is set"),
            ("[source]\nbuild_dir = \"out\"\nbuild_env = \"all\"\n[targets.p]\nurl = \"s3://bucket\"\n", "source.build_env"),
            ("[source]\nbuild_dir = \"\"\n[targets.p]\nurl = \"s3://bucket\"\n", "source.build_dir"),
            // Issue 30: `dir` was silently ignored beside a different build_dir.
            ("[source]\ndir = \"site\"\nbuild_dir = \"public\"\n[targets.p]\nurl = \"s3://bucket\"\n", "are both set"),
            ("[source]\nbuild_dir = \"../out\"\n[targets.p]\nurl = \"s3://bucket\"\n", "source.build_dir"),
            ("[source]\nbuild_dir = \".git/x\"\n[targets.p]\nurl = \"s3://bucket\"\n", "source.build_dir"),
            ("[source]\nbuild_dir = \"public\"\nbuild_command = \" \"\n[targets.p]\nurl = \"s3://bucket\"\n", "build_command is empty"),
            ("[source]\nbuild_dir = \"public\"\nsnapshot_ref = \"site\"\n[targets.p]\nurl = \"s3://bucket\"\n", "snapshot_ref"),
            ("[source]\nbuild_dir = \"public\"\nsnapshot_ref = \"refs/heads/a b\"\n[targets.p]\nurl = \"s3://bucket\"\n", "snapshot_ref"),
            ("[source]\nbuild_dir = \"public\"\nsnapshot_ref = \"refs/publish/p/builds\"\n[targets.p]\nurl = \"s3://bucket\"\n", "collides"),
            ("[targets.p]\nurl = \"s3://bucket\"\nregion = \"eu west 1\"\n", "targets.p.region"),
            ("[targets.p]\nurl = \"s3://bucket\"\nprofile = \" \"\n", "targets.p.profile"),
            ("[targets.p]\nurl = \"s3://bucket\"\nindex_document = \"a/index.html\"\n", "targets.p.index_document"),
            ("[targets.p]\nurl = \"s3://bucket\"\nconcurrency = 257\n", "concurrency = 257 is out of range"),
            ("[targets.p]\nurl = \"s3://bucket\"\ndistribution = [\"E2QWRUHAPOMQZL\", \"auto\"]\n", "cannot be listed"),
            ("[targets.p]\nurl = \"s3://bucket\"\ndistribution = [\"bad\", \"auto\"]\n", "\"bad\" is not a CloudFront distribution id"),
            ("[targets.p]\nurl = \"s3://bucket\"\ndirectory_urls = [\"/dir/\", \"/x\"]\n", "unknown form \"/x\""),
            ("[source]\nbuild_dir = \"public\"\nsnapshot_ref = \"refs/heads/x.lock\"\n[targets.p]\nurl = \"s3://bucket\"\n", "snapshot_ref"),
            ("[source]\nbuild_dir = \"public\"\nsnapshot_ref = \"refs/heads/a..b\"\n[targets.p]\nurl = \"s3://bucket\"\n", "snapshot_ref"),
            ("[source]\nbuild_dir = \"public\"\nsnapshot_ref = \"refs/heads/a/\"\n[targets.p]\nurl = \"s3://bucket\"\n", "snapshot_ref"),
            ("[source]\nbuild_dir = \"public\"\nsnapshot_ref = \"refs/heads/a@{1}\"\n[targets.p]\nurl = \"s3://bucket\"\n", "snapshot_ref"),
            ("[source]\nbuild_dir = \"a//b\"\n[targets.p]\nurl = \"s3://bucket\"\n", "source.build_dir"),
            ("[source]\ndir = \"a/./b\"\n[targets.p]\nurl = \"s3://bucket\"\n", "source.dir"),
            ("[targets.p]\nurl = \"s3://bucket\"\ndistribution = \"auto\"\norigin_path = \"a//b\"\n", "targets.p.origin_path"),
            ("[targets.p]\nurl = \"s3://bucket\"\nsecret = \"x\"\n", "never holds credentials"),
            // issue 14 items 4 and 5: publisher, locking, rules naming the state
            ("[targets.p]\nurl = \"s3://bucket\"\npublisher = \" \"\n", "targets.p.publisher"),
            ("publisher = \"a\\nb\"\n[targets.p]\nurl = \"s3://bucket\"\n", "publisher = \"a\\nb\" is not a name"),
            ("[targets.p]\nurl = \"s3://bucket\"\nlocking = \"off\"\n", "targets.p.locking"),
            ("[targets.a]\nurl = \"s3://bucket\"\nstate = \"s3://private/s.json\"\ndefault = true\n[targets.b]\nurl = \"s3://bucket/b\"\nstate = \"s3://private/s.json\"\n", "both keep their deploy record"),
            ("[targets.a]\nurl = \"s3://bucket\"\ndefault = true\n[targets.b]\nurl = \"s3://bucket/b\"\nstate = \"s3://bucket\"\n", "both keep their deploy record"),
            ("[targets.p]\nurl = \"s3://bucket\"\nstate = \"s3://A\"\n", "targets.p.state"),
            ("[targets.p]\nurl = \"s3://bucket\"\nstate = \"file:///var/lib/site\"\n", "targets.p.state must be"),
            ("[targets.p]\nurl = \"s3://bucket\"\n[[rules]]\nmatch = \".git-publish/**\"\nexclude = true\n", "the state record"),
            ("[targets.p]\nurl = \"s3://bucket\"\n[[rules]]\nmatch = \"**/.git-publish/*\"\ncache_control = \"no-store\"\n", "the state record"),
            // previews
            ("[targets.p]\nurl = \"s3://bucket\"\n[targets.p.previews]\ndomain = \"*.preview.example.com\"\n", "targets.p.previews.domain"),
            ("[targets.p]\nurl = \"s3://bucket\"\n[targets.p.previews]\npassword_env = \"A\"\npassword_file = \"f\"\n", "are both set"),
            ("[targets.p]\nurl = \"s3://bucket\"\n[targets.p.previews]\npassword = \"hunter2\"\n", "never holds credentials"),
            ("[targets.p]\nurl = \"s3://bucket\"\n[targets.p.previews]\npasword_env = \"A\"\n", "unknown field"),
            // cloudflare
            ("[targets.p]\nurl = \"s3://bucket\"\ndomain = \"a.example.com\"\n[targets.p.cloudflare]\n", "targets.p.cloudflare.zone is missing"),
            ("[targets.p]\nurl = \"s3://bucket\"\ndomain = \"a.example.com\"\n[targets.p.cloudflare]\nzone = \"xyz\"\n", "is not a zone id"),
            ("[targets.p]\nurl = \"s3://bucket\"\n[targets.p.cloudflare]\nzone = \"023e105f4ecef8ad9ca31a8372d0c353\"\n", "needs the target's `domain`"),
            ("[targets.p]\nurl = \"s3://bucket\"\ndomain = \"a.example.com\"\ndistribution = \"auto\"\n[targets.p.cloudflare]\nzone = \"023e105f4ecef8ad9ca31a8372d0c353\"\n", "cannot be combined with `distribution`"),
            // cloud_cdn
            ("[targets.p]\nurl = \"s3://bucket\"\n[targets.p.cloud_cdn]\nurl_map = \"site\"\n", "targets.p.cloud_cdn.project is missing"),
            ("[targets.p]\nurl = \"s3://bucket\"\n[targets.p.cloud_cdn]\nproject = \"My_Project\"\nurl_map = \"site\"\n", "is not a project id"),
            ("[targets.p]\nurl = \"s3://bucket\"\n[targets.p.cloud_cdn]\nproject = \"my-blog-123\"\n", "targets.p.cloud_cdn.url_map is missing"),
            ("[targets.p]\nurl = \"s3://bucket\"\n[targets.p.cloud_cdn]\nproject = \"my-blog-123\"\nurl_map = \"Site Map\"\n", "is not a URL map's name"),
            ("[targets.p]\nurl = \"s3://bucket\"\n[targets.p.cloud_cdn]\nproject = \"my-blog-123\"\nurl_map = \"site\"\nhost = \"a/b\"\n", "is not a host name"),
            ("[targets.p]\nurl = \"file:///x\"\n[targets.p.cloud_cdn]\nproject = \"my-blog-123\"\nurl_map = \"site\"\n", "cloud_cdn.needs a bucket url"),
            // front_door
            ("[targets.p]\nurl = \"s3://bucket\"\n[targets.p.front_door]\nresource_group = \"rg\"\nprofile = \"fd\"\nendpoint = \"site\"\n", "targets.p.front_door.subscription is missing"),
            ("[targets.p]\nurl = \"s3://bucket\"\n[targets.p.front_door]\nsubscription = \"1234\"\nresource_group = \"rg\"\nprofile = \"fd\"\nendpoint = \"site\"\n", "subscription = \"1234\" is not valid"),
            ("[targets.p]\nurl = \"s3://bucket\"\n[targets.p.front_door]\nsubscription = \"00000000-0000-0000-0000-000000000000\"\nresource_group = \"rg\"\nprofile = \"fd\"\nendpoint = \"a/b\"\n", "endpoint = \"a/b\" is not valid"),
            ("[targets.p]\nurl = \"file:///x\"\n[targets.p.front_door]\nsubscription = \"00000000-0000-0000-0000-000000000000\"\nresource_group = \"rg\"\nprofile = \"fd\"\nendpoint = \"site\"\n", "front_door.needs a bucket url"),
            // one CDN a target
            ("[targets.p]\nurl = \"s3://bucket\"\ndistribution = \"auto\"\n[targets.p.cloud_cdn]\nproject = \"my-blog-123\"\nurl_map = \"site\"\n", "more than one cdn: `distribution` and [cloud_cdn]"),
            ("[targets.p]\nurl = \"s3://bucket\"\n[targets.p.cloud_cdn]\nproject = \"my-blog-123\"\nurl_map = \"site\"\n[targets.p.front_door]\nsubscription = \"00000000-0000-0000-0000-000000000000\"\nresource_group = \"rg\"\nprofile = \"fd\"\nendpoint = \"site\"\n", "more than one cdn: [cloud_cdn] and [front_door]"),
        ];
        let rows = target_checks::TARGET_CHECKS;
        let mut covered = vec![false; rows.len()];
        for (text, want) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.exit_code(), crate::error::exit::USAGE);
            assert!(e.to_string().contains(want), "{text:?}: {e}");
            if let Some(i) = rows
                .iter()
                .position(|r| e.hint().as_deref() == Some(r.hint))
            {
                assert!(e.to_string().contains(rows[i].key), "{text:?}: {e}");
                covered[i] = true;
            }
        }
        for (row, covered) in rows.iter().zip(covered) {
            assert!(covered, "no example is refused by the `{}` row", row.key);
            let same_hint = rows.iter().filter(|r| r.hint == row.hint).count();
            assert_eq!(
                same_hint, 1,
                "rows are told apart by their hint: {}",
                row.hint
            );
        }
    }

    /// A bad word is refused with a hint that names every accepted word.
    #[test]
    fn modes_hints_name_their_words() {
        fn names_all<M: Words>(hint: &str) {
            for (word, _) in M::WORDS {
                assert!(hint.contains(&format!("{word:?}")), "{word:?} in {hint}");
            }
        }
        let hint = |key: &str| {
            let mut rows = target_checks::TARGET_CHECKS.iter().filter(|r| r.key == key);
            rows.next_back().expect("a row").hint
        };
        names_all::<RedirectRenames>(hint("redirect_renames"));
        names_all::<CdnFunction>(hint("cdn_function"));
        names_all::<Locking>(hint("locking"));
        names_all::<DirectoryUrl>(hint("directory_urls"));
        names_all::<BuildEnv>(BUILD_ENV_HINT);
    }

    #[test]
    fn plain_paths() {
        for (path, strict, loose) in [
            ("", true, true),
            ("public", true, true),
            ("a/b.c/d", true, true),
            ("a//b", false, true),
            ("..", false, false),
            ("a/./b", false, false),
            ("a/../b", false, false),
            ("...", true, true),
        ] {
            assert_eq!(is_plain_path(path, false), strict, "{path}");
            assert_eq!(is_plain_path(path, true), loose, "{path}");
        }
    }

    #[test]
    fn snapshot_refs_git_accepts_are_accepted() {
        for r in [
            "refs/heads/site-builds",
            "refs/site/builds",
            "refs/heads/a.b/c-d_e",
        ] {
            let text = format!("[source]\nbuild_dir = \"public\"\nsnapshot_ref = \"{r}\"\n[targets.p]\nurl = \"s3://bucket\"\n");
            assert_eq!(
                parse(&text).unwrap().source.snapshot.unwrap().snapshot_ref,
                r
            );
        }
    }

    #[test]
    fn distributions_and_url_forms() {
        let c = parse("[targets.p]\nurl = \"s3://bucket\"\ndistribution = [\"E2QWRUHAPOMQZL\", \"E3QWRUHAPOMQZL\"]\ndirectory_urls = [\"/dir\"]\npretty_urls = true\ninvalidation_budget = 200\ndelay_deletes = true\n").unwrap();
        let t = c.target(None).unwrap();
        assert_eq!(
            t.cdn.distributions,
            [
                Distribution::Id("E2QWRUHAPOMQZL".into()),
                Distribution::Id("E3QWRUHAPOMQZL".into())
            ]
        );
        assert!(t.forms.dir_bare && !t.forms.dir_slash && !t.forms.dir_index && t.forms.pretty);
        assert_eq!(
            (t.cdn.invalidation_budget, t.publish.delay_deletes),
            (200, true)
        );
        let c = parse("[targets.p]\nurl = \"s3://bucket\"\ndistribution = \"auto\"\ndomain = \"blog.example.com\"\n").unwrap();
        assert_eq!(
            c.target(None).unwrap().cdn.distributions,
            [Distribution::Auto]
        );
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
        // dir follows build_dir (a different dir is refused: every_check_refuses_its_examples); the same is fine
        assert_eq!(c.source.dir, "public");
        let c = parse("[source]\ndir = \"out/\"\nbuild_dir = \"out\"\nbuild_command = \"make\"\nsnapshot_ref = \"refs/site/builds\"\n[targets.p]\nurl = \"s3://bucket\"\n").unwrap();
        assert_eq!(c.source.dir, "out");
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
                        || rest.starts_with("[[rules]]")
                        || rest.starts_with("[[redirects]]"))
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
