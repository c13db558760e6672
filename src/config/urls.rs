//! The target's URL (`s3://`, `gs://`, `azblob://`, `file://`), its endpoint, and the paths in site.toml: parsed and checked here,
//! with the userinfo of a URL redacted before it is shown.

use std::path::{Path, PathBuf};

/// The one check of a slash-separated path that must stay inside its root (the commit, the repository, the
/// bucket prefix): "" or components that are neither `.` nor `..`, and not empty unless `empty_components`
/// (`source.dir` has always accepted `a//b`). Callers trim the slashes at its ends first.
pub fn is_plain_path(path: &str, empty_components: bool) -> bool {
    path.is_empty()
        || path
            .split('/')
            .all(|c| c != "." && c != ".." && (empty_components || !c.is_empty()))
}

/// `s3://bucket[/prefix]`, `gs://bucket[/prefix]`, `azblob://container[/prefix]`, `file:///abs`, `file:rel` (relative to `base_dir`).
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
        if !is_plain_path(prefix, false) {
            return Err(format!(
                "key prefix `{prefix}` has an empty, `.` or `..` component"
            ));
        }
        return Ok(Backend::S3 {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        });
    }
    for cloud in [Cloud::Gcs, Cloud::AzBlob] {
        if let Some(rest) = url
            .strip_prefix(cloud.scheme())
            .and_then(|r| r.strip_prefix("://"))
        {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            cloud.check_name(bucket)?;
            let prefix = prefix.trim_matches('/');
            if !is_plain_path(prefix, false) {
                return Err(format!(
                    "key prefix `{prefix}` has an empty, `.` or `..` component"
                ));
            }
            return Ok(Backend::Cloud {
                cloud,
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
            });
        }
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
    Err("unsupported scheme (expected s3://, gs://, azblob:// or file:)".into())
}

pub fn check_endpoint(ep: &str, allow_http: bool) -> std::result::Result<(), String> {
    let u = url::Url::parse(ep).map_err(|e| e.to_string())?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err(
            "an endpoint must not hold a user name or password (they would be printed and sent \
             in the clear); credentials come from the AWS credential chain"
                .into(),
        );
    }
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

/// The config file a command reads: `--config` (relative to `cwd`), else `<repository root>/site.toml`.
pub fn path_of(cwd: &Path, config: Option<PathBuf>, root: &Path) -> PathBuf {
    match config {
        Some(p) if p.is_absolute() => p,
        Some(p) => cwd.join(p),
        None => root.join("site.toml"),
    }
}

/// `url` with any user name and password replaced, for messages: never print a password.
pub fn redact_userinfo(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_password(None);
            let _ = u.set_username("REDACTED");
            u.to_string()
        }
        Ok(_) => url.to_string(),
        Err(_) if url.contains('@') => "(an endpoint URL that holds `@`)".into(),
        Err(_) => url.to_string(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    S3 {
        bucket: String,
        prefix: String,
    },
    /// A bucket (or container) of another cloud's object store, reached through `crate::objstore`.
    Cloud {
        cloud: Cloud,
        bucket: String,
        prefix: String,
    },
    Local {
        root: PathBuf,
    },
}

impl Backend {
    /// The bucket (or container) and the key prefix of a store in the cloud; None for a local directory.
    pub fn bucket_and_prefix(&self) -> Option<(&str, &str)> {
        match self {
            Backend::S3 { bucket, prefix } | Backend::Cloud { bucket, prefix, .. } => {
                Some((bucket, prefix))
            }
            Backend::Local { .. } => None,
        }
    }

    /// The same bucket with another prefix (a local directory stays itself).
    pub fn with_prefix(&self, prefix: &str) -> Backend {
        let prefix = prefix.to_string();
        match self {
            Backend::S3 { bucket, .. } => Backend::S3 {
                bucket: bucket.clone(),
                prefix,
            },
            Backend::Cloud { cloud, bucket, .. } => Backend::Cloud {
                cloud: *cloud,
                bucket: bucket.clone(),
                prefix,
            },
            Backend::Local { root } => Backend::Local { root: root.clone() },
        }
    }

    /// Why a command that acts on AWS only (`what`: "an IAM policy", ...) can't act on target `name`: None for
    /// an S3 bucket; for a local directory, that it needs none; for another cloud's store, what to do instead.
    pub fn aws_only(&self, name: &str, what: &str) -> Option<String> {
        match self {
            Backend::S3 { .. } => None,
            Backend::Local { .. } => Some(format!(
                "target {name} is a local directory: it needs no {what}"
            )),
            Backend::Cloud { cloud, bucket, .. } => Some(format!(
                "target {name} is {} ({}://{bucket}): {what} is for AWS only; {}",
                cloud.product(),
                cloud.scheme(),
                cloud.instead()
            )),
        }
    }

    /// The URL's scheme: `s3`, `gs`, `azblob`, `file`.
    pub fn scheme(&self) -> &'static str {
        match self {
            Backend::S3 { .. } => "s3",
            Backend::Cloud { cloud, .. } => cloud.scheme(),
            Backend::Local { .. } => "file",
        }
    }

    /// `scheme://bucket/key` for a store in the cloud, `root/key` for a local directory: for messages.
    pub fn url_of(&self, key: &str) -> String {
        match self {
            Backend::S3 { bucket, .. } => format!("s3://{bucket}/{key}"),
            Backend::Cloud { cloud, bucket, .. } => format!("{}://{bucket}/{key}", cloud.scheme()),
            Backend::Local { root } => root.join(key).display().to_string(),
        }
    }
}

/// The object stores other than S3 a target's URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// Google Cloud Storage, `gs://bucket/prefix`.
    Gcs,
    /// Azure Blob Storage, `azblob://container/prefix` (as `hugo deploy` writes it).
    AzBlob,
}

impl Cloud {
    pub fn scheme(self) -> &'static str {
        match self {
            Cloud::Gcs => "gs",
            Cloud::AzBlob => "azblob",
        }
    }

    /// What an AWS-only command (`iam-policy`, `bucket-policy`, `setup`) tells a target of this store to do
    /// instead.
    pub fn instead(self) -> &'static str {
        match self {
            Cloud::Gcs => "grant the publishing account `roles/storage.objectAdmin` on the bucket (README: \
                           \"Google Cloud Storage\"), and run `git publish doctor` to check it",
            Cloud::AzBlob => "assign the publishing identity `Storage Blob Data Contributor` on the container \
                              (README: \"Azure Blob Storage\"), and run `git publish doctor` to check it",
        }
    }

    /// The store's name for the product, for messages.
    pub fn product(self) -> &'static str {
        match self {
            Cloud::Gcs => "Google Cloud Storage",
            Cloud::AzBlob => "Azure Blob Storage",
        }
    }

    /// The store's naming rules for a bucket or container.
    fn check_name(self, name: &str) -> std::result::Result<(), String> {
        let ends_ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name.ends_with(|c: char| c.is_ascii_alphanumeric());
        let chars = |extra: &[char]| {
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || extra.contains(&c))
        };
        match self {
            // https://cloud.google.com/storage/docs/buckets#naming: 3-63 characters (up to 222 with dots, 63
            // between them), lowercase letters, digits, `-`, `_`, `.`; starting and ending with a letter or digit.
            Cloud::Gcs => {
                let len_ok = (3..=63).contains(&name.len())
                    || (name.contains('.')
                        && name.len() <= 222
                        && name.split('.').all(|p| p.len() <= 63));
                if len_ok && ends_ok && chars(&['-', '_', '.']) && !name.starts_with("goog") {
                    return Ok(());
                }
                Err(format!(
                    "`{name}` is not a valid Cloud Storage bucket name (3-63 lowercase letters, digits, `-`, `_`, \
                     `.`, starting and ending with a letter or digit, not starting with `goog`)"
                ))
            }
            // https://learn.microsoft.com/rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata
            Cloud::AzBlob => {
                if (3..=63).contains(&name.len())
                    && ends_ok
                    && chars(&['-'])
                    && !name.contains("--")
                {
                    return Ok(());
                }
                Err(format!(
                    "`{name}` is not a valid Azure container name (3-63 lowercase letters, digits and single \
                     `-`, starting and ending with a letter or digit)"
                ))
            }
        }
    }
}
