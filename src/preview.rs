//! Previews: a branch's output published beside production, under the target's reserved prefix
//! `_previews/<name>/`, with a record of its own, so that previews and production never block each other.
//!
//! Owns the preview's name ([`name_for`]), the target a preview publishes to ([`derive`]: the same bucket,
//! distribution and rules, another key prefix, another record), where its record lives ([`record_key`]) and
//! its URL ([`url`]). Pure: no IO, no git, no AWS.
//!
//! | branch                     | name                                  |
//! |----------------------------|---------------------------------------|
//! | `draft-post`               | `draft-post`                          |
//! | `Feature/New_Theme`        | `feature-new-theme-<hash>`            |
//! | `feature/new-theme`        | `feature-new-theme-<other hash>`      |
//! | 80 characters of `a`       | 54 `a`s, then `-<hash>`               |
//!
//! A name is a DNS label (`[a-z0-9-]`, at most 63 characters, no `-` at either end), so it is also a
//! subdomain (`<name>.preview.blog.example.com`) and a key prefix that can't escape `_previews/`. When the
//! branch's name is not already one (it had to be folded or cut), the name ends with the first 8 hex digits of
//! a SHA-256 of the full branch name: two branches never share a preview.

use sha2::{Digest, Sha256};

use crate::config::{Backend, StateLocation, Target};

/// The key prefix under a target's own prefix that holds every preview.
pub const PREFIX: &str = crate::plan::PREVIEWS_DIR;
/// The URL path that starts a preview in a browser without a preview domain (a cookie, see the function).
pub const COOKIE_PATH: &str = "/_preview/";
/// Longest name: a DNS label (the planner's, which sizes the function's tables by it).
pub const MAX_NAME: usize = crate::plan::PREVIEW_NAME_MAX;

/// The preview name of `branch` (see the module's table).
pub fn name_for(branch: &str) -> String {
    let mut folded = String::new();
    for c in branch.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            folded.push(c);
        } else if !folded.ends_with('-') {
            folded.push('-');
        }
    }
    let folded = folded.trim_matches('-').to_string();
    if folded == branch && folded.len() <= MAX_NAME {
        return folded;
    }
    let hash = &hex::encode(Sha256::digest(branch.as_bytes()))[..8];
    let mut readable = folded;
    readable.truncate(MAX_NAME - hash.len() - 1);
    match readable.trim_end_matches('-') {
        "" => hash.to_string(),
        r => format!("{r}-{hash}"),
    }
}

/// Whether `name` is a preview name (a DNS label of `[a-z0-9-]`): what `preview rm NAME` accepts, so that a
/// name can't reach outside its prefix (`..`, `/`, `%2f`, control characters).
pub fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A preview target's name, `<target>@<name>`, and the test for one (kept in `identity`, below `state`).
pub use crate::identity::{is_preview, preview_target_name as target_name};

/// The preview's key prefix in the bucket: `<prefix>/_previews/<name>`.
pub fn key_prefix(target: &Target, name: &str) -> String {
    match target.prefix() {
        "" => format!("{PREFIX}/{name}"),
        p => format!("{p}/{PREFIX}/{name}"),
    }
}

/// Where previews' records live: beside the production record, in a `previews/` directory of their own
/// (`<prefix>/.git-publish/previews/`, or `<dir>/<record>.previews/` beside a `state = …` record), so that
/// the record's Deny covers them and listing them lists nothing of the site.
pub fn records_dir(target: &Target) -> (Backend, String) {
    let production = crate::state::key_of(target);
    let backend = match &target.store.state {
        Some(loc) => loc.backend.clone(),
        None => target.store.backend.with_prefix(""),
    };
    let dir = match production.strip_suffix("state.json") {
        Some(dir) if target.store.state.is_none() => format!("{dir}previews/"),
        _ => format!(
            "{}.previews/",
            production.trim_end_matches(".json").trim_end_matches('/')
        ),
    };
    (backend, dir)
}

/// The record key of preview `name`.
pub fn record_key(target: &Target, name: &str) -> String {
    format!("{}{name}.json", records_dir(target).1)
}

/// The target a preview of `target` publishes to: the same store, distributions, rules and limits, the key
/// prefix `<prefix>/_previews/<name>`, and its own record. It never manages the function (production's
/// publish does: the function routes every preview by name) and never defers deletes.
pub fn derive(target: &Target, name: &str) -> Target {
    let mut t = target.clone();
    t.name = target_name(&target.name, name);
    t.store.backend = match &target.store.backend {
        Backend::Local { root } => Backend::Local {
            root: root.join(PREFIX).join(name),
        },
        bucket => bucket.with_prefix(&key_prefix(target, name)),
    };
    let (backend, _) = records_dir(target);
    t.store.state = Some(StateLocation {
        backend,
        key: record_key(target, name),
    });
    t.cdn.cdn_function = crate::config::CdnFunction::Off;
    t.publish.delay_deletes = false;
    t.default = false;
    t
}

/// The preview's URL: `https://<name>.<domain>/` with a preview domain; else, behind a distribution, the
/// path that starts it in a browser (`https://<distribution>/_preview/<name>/`); else (a local directory)
/// its directory.
pub fn url(target: &Target, name: &str, distribution_domain: Option<&str>) -> String {
    if let Some(domain) = target.previews.as_ref().and_then(|p| p.domain.as_deref()) {
        return format!("https://{name}.{domain}/");
    }
    match (&target.store.backend, distribution_domain) {
        (_, Some(d)) => format!("https://{d}{COOKIE_PATH}{name}/"),
        (Backend::Local { root }, None) => {
            root.join(PREFIX).join(name).join("").display().to_string()
        }
        (bucket, None) => format!("{}/", bucket.url_of(&key_prefix(target, name))),
    }
}

/// How the target's managed function serves its previews (`plan::cdn_function::previews`): the preview
/// domain, whether a password is configured, and whether `[targets.NAME.previews]` asks for the
/// viewer-response function that marks previews `noindex`.
pub fn serving(target: &Target) -> crate::plan::cdn_function::Previews {
    let p = target.previews.as_ref();
    crate::plan::cdn_function::Previews {
        domain: p.and_then(|p| p.domain.clone()),
        password: p.is_some_and(|p| p.password_env.is_some() || p.password_file.is_some()),
        response: p.is_some(),
    }
}

/// Whether `path` (a site path of the production tree) is under the previews' reserved prefix.
pub fn is_reserved(path: &str) -> bool {
    path == PREFIX || path.starts_with(&format!("{PREFIX}/"))
}

/// A local record directory as a path (for messages).
pub fn describe_dir(backend: &Backend, dir: &str) -> String {
    backend.url_of(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    fn target(extra: &str) -> Target {
        let text = format!("[targets.p]\n{extra}\n");
        let c = Config::from_str(&text, Path::new("site.toml"), Path::new("/r")).unwrap();
        c.targets["p"].clone()
    }

    /// Names are DNS labels; a branch that folds or is cut gets the hash, so two branches never share one.
    #[test]
    fn names_from_branches() {
        assert_eq!(name_for("draft-post"), "draft-post");
        assert_eq!(name_for("a1"), "a1");
        let a = name_for("Feature/New_Theme");
        let b = name_for("feature/new-theme");
        let c = name_for("feature-new-theme");
        assert!(a.starts_with("feature-new-theme-") && b.starts_with("feature-new-theme-"));
        assert_eq!(c, "feature-new-theme");
        assert!(a != b && b != c && a != c);
        let long = name_for(&"a".repeat(80));
        assert_eq!(long.len(), 63);
        assert!(long.starts_with(&"a".repeat(54)));
        assert_ne!(long, name_for(&"a".repeat(81)));
        assert_eq!(name_for("日本語").len(), 8);
        assert_eq!(
            name_for("-x-"),
            format!("x-{}", &hex::encode(Sha256::digest(b"-x-"))[..8])
        );
        for branch in [
            "Feature/New_Theme",
            "../../etc",
            "a%2fb",
            "x\u{1b}[31m",
            "日本語",
            "--",
        ] {
            let n = name_for(branch);
            assert!(is_name(&n), "{branch:?} -> {n:?}");
        }
        for bad in [
            "",
            "..",
            "a/b",
            "a%2fb",
            "-a",
            "a-",
            "A",
            "a\u{1b}",
            &"a".repeat(64),
        ] {
            assert!(!is_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_preview_is_its_own_prefix_and_record() {
        let t = target("url = \"s3://blog/site\"\ndistribution = \"E2QWRUHAPOMQZL\"\ncdn_function = \"manage\"");
        let p = derive(&t, "draft");
        assert_eq!(p.name, "p@draft");
        assert_eq!(p.prefix(), "site/_previews/draft");
        let loc = p.store.state.as_ref().unwrap();
        assert_eq!(loc.key, "site/.git-publish/previews/draft.json");
        assert!(!p.manages_cdn_function());
        assert_eq!(p.cdn.distributions, t.cdn.distributions);
        let custom = target("url = \"s3://blog\"\nstate = \"s3://records/blog.json\"");
        assert_eq!(record_key(&custom, "x"), "blog.previews/x.json");
        let local = target("url = \"file:///srv/www\"");
        assert_eq!(
            derive(&local, "x").store.backend,
            Backend::Local {
                root: "/srv/www/_previews/x".into()
            }
        );
        assert_eq!(record_key(&local, "x"), ".git-publish/previews/x.json");
        assert!(is_reserved("_previews/x/index.html") && !is_reserved("_previewsx"));
    }

    #[test]
    fn urls() {
        let t = target(
            "url = \"s3://blog\"\n[targets.p.previews]\ndomain = \"preview.blog.example.com\"",
        );
        assert_eq!(
            url(&t, "draft", Some("d1.cloudfront.net")),
            "https://draft.preview.blog.example.com/"
        );
        let t = target("url = \"s3://blog\"");
        assert_eq!(
            url(&t, "draft", Some("d1.cloudfront.net")),
            "https://d1.cloudfront.net/_preview/draft/"
        );
        assert_eq!(url(&t, "draft", None), "s3://blog/_previews/draft/");
    }
}
