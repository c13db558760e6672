//! The keys a target's deploy record takes in the target's own store, given to the planner as data
//! ([`crate::plan::KeyRules`]) so that a site file can never be written over the record: the record, its
//! conditional-write probe, its `.corrupt-<time>` copies, and on a directory the lock file beside it. Pure:
//! config in, keys out (paths are compared as written, `..` resolved, symbolic links not followed).
//!
//! | target                 | `state`                          | reserved keys                                      |
//! |------------------------|----------------------------------|----------------------------------------------------|
//! | `s3://site/blog`          | (none)                           | `blog/.git-publish` and under                      |
//! | `s3://site/blog`          | `s3://site/blog/meta/site.json`     | `…/site.json`, `….probe`, `….corrupt-*`            |
//! | `s3://site/blog`          | `s3://other-bucket/site.json`           | none (another bucket)                              |
//! | `file:///srv/www`      | (none)                           | `.git-publish` and under                           |
//! | `file:///srv/www`      | `file:///srv/www/meta/site.json` | `meta/site.json`, its probe and copies, `meta/lock`|
//! | `file:///srv/www`      | `file:///srv/site.json`          | none (outside the directory)                       |

use std::path::{Component, Path, PathBuf};

use crate::config::{Backend, StateLocation, Target};
use crate::plan::{KeyRules, Reserved};

/// The record's key under a site's `prefix`.
pub fn state_key(prefix: &str) -> String {
    let rel = format!("{}/state.json", crate::plan::STATE_DIR);
    if prefix.is_empty() {
        rel
    } else {
        format!("{prefix}/{rel}")
    }
}

/// The record's key in its store (`super::Stores::record`): `state = …` when set, else inside the site.
pub fn key_of(target: &Target) -> String {
    match &target.store.state {
        Some(loc) => loc.key.clone(),
        None => state_key(target.prefix()),
    }
}

/// What the planner refuses on `target` beyond the names every target refuses: the record's keys (see the
/// module's table), and on a directory (`file://`) the filesystem's rules.
pub fn key_rules(target: &Target) -> KeyRules {
    KeyRules {
        reserved: record_keys(target),
        filesystem: matches!(target.store.backend, Backend::Local { .. }),
        previews: !crate::identity::is_preview(&target.name),
    }
}

fn record_keys(target: &Target) -> Vec<Reserved> {
    let Some(loc) = &target.store.state else {
        // The record's own directory, all of it (the name is refused at any depth anyway; this names it).
        let key = state_key(target.prefix());
        let dir = key.strip_suffix("/state.json").unwrap_or(&key).to_string();
        let backend = target.store.backend.with_prefix("");
        let record = StateLocation { backend, key }.describe();
        return vec![reserved(dir, false, &record)];
    };
    let record = loc.describe();
    let (key, lock) = match (&target.store.backend, &loc.backend) {
        (Backend::S3 { .. } | Backend::Cloud { .. }, _)
            if target.store.backend.with_prefix("") == loc.backend.with_prefix("") =>
        {
            (loc.key.clone(), false)
        }
        (Backend::Local { root }, Backend::Local { root: state_root }) => {
            match relative(&lexical(&state_root.join(&loc.key)), &lexical(root)) {
                Some(key) => (key, true),
                None => return Vec::new(),
            }
        }
        _ => return Vec::new(),
    };
    let mut out = vec![
        reserved(key.clone(), false, &record),
        reserved(super::probe::probe_key(&key), false, &record),
        reserved(format!("{key}.corrupt-"), true, &record),
    ];
    if lock {
        // The local store's compare-and-swap locks a `lock` file beside the record.
        let lock = match key.rsplit_once('/') {
            Some((dir, _)) => format!("{dir}/lock"),
            None => "lock".to_string(),
        };
        out.push(reserved(lock, false, &record));
    }
    out
}

fn reserved(key: String, starts: bool, record: &str) -> Reserved {
    Reserved {
        key,
        starts,
        record: record.to_string(),
    }
}

/// `p` with `.` dropped and `..` taking the component before it away, without touching the filesystem.
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// `path` under `root` as a `/`-separated key, or `None` when it is not under it (or not UTF-8).
fn relative(path: &Path, root: &Path) -> Option<String> {
    let rest = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rest.components().map(|c| c.as_os_str().to_str()).collect();
    let key = parts?.join("/");
    (!key.is_empty()).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str, state: Option<&str>) -> Target {
        let mut text = format!("[source]\ndir = \"public\"\n[targets.t]\nurl = \"{url}\"\n");
        if let Some(s) = state {
            text.push_str(&format!("state = \"{s}\"\n"));
        }
        let config = crate::config::Config::from_str(
            &text,
            Path::new("/repo/site.toml"),
            Path::new("/repo"),
        )
        .unwrap();
        config.target(Some("t")).unwrap().clone()
    }

    fn keys(url: &str, state: Option<&str>) -> Vec<(String, bool)> {
        let rules = key_rules(&target(url, state));
        rules
            .reserved
            .into_iter()
            .map(|r| (r.key, r.starts))
            .collect()
    }

    /// The module's table, row by row.
    #[test]
    fn the_record_keys_of_each_kind_of_target() {
        let k = |s: &str, starts: bool| (s.to_string(), starts);
        assert_eq!(
            keys("s3://site/blog", None),
            [k("blog/.git-publish", false)]
        );
        assert_eq!(
            keys("s3://site/blog", Some("s3://site/blog/meta/site.json")),
            [
                k("blog/meta/site.json", false),
                k("blog/meta/site.json.probe", false),
                k("blog/meta/site.json.corrupt-", true),
            ]
        );
        assert_eq!(
            keys("s3://site/blog", Some("s3://other-bucket/site.json")),
            []
        );
        assert_eq!(keys("file:///srv/www", None), [k(".git-publish", false)]);
        assert_eq!(
            keys(
                "file:///srv/www",
                Some("file:///srv/www/meta/../meta/site.json")
            ),
            [
                k("meta/site.json", false),
                k("meta/site.json.probe", false),
                k("meta/site.json.corrupt-", true),
                k("meta/lock", false),
            ]
        );
        assert_eq!(keys("file:///srv/www", Some("file:///srv/site.json")), []);
        assert_eq!(
            keys("file:///srv/www", Some("file:///srv/www2/site.json")),
            []
        );
        assert!(key_rules(&target("file:///srv/www", None)).filesystem);
        assert!(!key_rules(&target("s3://site", None)).filesystem);
    }
}
