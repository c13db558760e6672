//! The target's URL (`s3://`, `file://`), its endpoint, and the paths in site.toml: parsed and checked here,
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
    S3 { bucket: String, prefix: String },
    Local { root: PathBuf },
}
