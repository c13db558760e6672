//! The planner: a pure function from "what changed in git" to "what to do to the target".
//!
//! Inputs are plain owned values (no git2, no AWS types, no IO, no async): the changes between the deployed
//! tree and the new one, the listing of the new tree, and the target's settings. The output is a [`Plan`]
//! value that the executor carries out step by step and that `--dry-run` prints. Same input, same plan:
//! everything is sorted.
//!
//! - keys and headers: [`headers`]
//! - CloudFront paths: [`invalidate`]

pub mod headers;
pub mod invalidate;

use serde::Serialize;

use crate::error::{Error, Result};

/// Where git-publish keeps its own record in a target, relative to the target's prefix.
/// Never uploaded, deleted or invalidated as site content.
pub const STATE_DIR: &str = ".git-publish";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One path whose content differs between the deployed tree and the new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Path relative to the output directory, `/`-separated, UTF-8.
    pub path: String,
    pub kind: ChangeKind,
    /// New blob id (hex) for Added/Modified.
    pub blob: Option<String>,
    /// New size in bytes for Added/Modified.
    pub size: u64,
}

/// One file of the new tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub path: String,
    pub blob: String,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Key prefix, without slashes at either end ("" = bucket root).
    pub prefix: String,
    /// Whether the target has a CDN to invalidate.
    pub cdn: bool,
    pub max_deletes: usize,
    pub max_invalidation_paths: usize,
    pub index_document: String,
    pub invalidate_new_files: bool,
    /// Upload every file of the new tree, not only changed ones (`--full`).
    pub full: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadKind {
    /// The key did not exist in the deployed tree.
    New,
    /// The key existed with other content (or `--full` re-sends it).
    Replace,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Upload {
    pub key: String,
    /// Path inside the output directory.
    pub path: String,
    pub blob: String,
    pub size: u64,
    pub kind: UploadKind,
    pub content_type: String,
}

impl Upload {
    pub fn is_html(&self) -> bool {
        self.content_type.starts_with("text/html")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// In execution order: non-HTML first (assets exist before pages link to them), then HTML.
    pub uploads: Vec<Upload>,
    /// Keys to delete, sorted; run after every upload.
    pub deletes: Vec<String>,
    /// CloudFront paths (URL-encoded), sorted; sent after uploads and deletes.
    pub invalidations: Vec<String>,
    pub invalidation: invalidate::Summary,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.uploads.is_empty() && self.deletes.is_empty() && self.invalidations.is_empty()
    }
    pub fn upload_bytes(&self) -> u64 {
        self.uploads.iter().map(|u| u.size).sum()
    }
}

/// Key of a site path under the target prefix. Rejects paths that would land outside it.
pub fn key_for(prefix: &str, path: &str) -> Result<String> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        let key = if prefix.is_empty() {
            path.to_string()
        } else {
            format!("{prefix}/{path}")
        };
        return Err(Error::KeyEscapes {
            path: path.to_string(),
            key,
        });
    }
    if path == STATE_DIR || path.starts_with(&format!("{STATE_DIR}/")) {
        return Err(Error::ReservedPath {
            path: path.to_string(),
        });
    }
    Ok(if prefix.is_empty() {
        path.to_string()
    } else {
        format!("{prefix}/{path}")
    })
}

/// Build the plan. `changes` is the diff deployed → new (already merged over every base that may be live);
/// `listing` is every file of the new tree.
pub fn build(
    target: &str,
    changes: &[Change],
    listing: &[FileEntry],
    s: &Settings,
) -> Result<Plan> {
    let mut uploads = Vec::new();
    let mut deletes = Vec::new();
    let mut stale = Vec::new();

    for c in changes {
        let key = key_for(&s.prefix, &c.path)?;
        match c.kind {
            ChangeKind::Added | ChangeKind::Modified => {
                let blob = c.blob.clone().unwrap_or_default();
                uploads.push(Upload {
                    key,
                    path: c.path.clone(),
                    blob,
                    size: c.size,
                    kind: if c.kind == ChangeKind::Added {
                        UploadKind::New
                    } else {
                        UploadKind::Replace
                    },
                    content_type: headers::content_type(&c.path),
                });
                if c.kind == ChangeKind::Modified || s.invalidate_new_files {
                    stale.push(c.path.clone());
                }
            }
            ChangeKind::Deleted => {
                deletes.push(key);
                stale.push(c.path.clone());
            }
        }
    }
    if s.full {
        let changed: std::collections::HashSet<&str> =
            changes.iter().map(|c| c.path.as_str()).collect();
        for f in listing
            .iter()
            .filter(|f| !changed.contains(f.path.as_str()))
        {
            uploads.push(Upload {
                key: key_for(&s.prefix, &f.path)?,
                path: f.path.clone(),
                blob: f.blob.clone(),
                size: 0,
                kind: UploadKind::Replace,
                content_type: headers::content_type(&f.path),
            });
        }
    }
    // Safety limit before anything else: nothing runs if this refuses.
    if deletes.len() > s.max_deletes {
        return Err(Error::TooManyDeletes {
            count: deletes.len(),
            limit: s.max_deletes,
            target: target.to_string(),
        });
    }

    uploads.sort_by(|a, b| (a.is_html(), &a.key).cmp(&(b.is_html(), &b.key)));
    deletes.sort();

    let (invalidations, summary) = if s.cdn && !stale.is_empty() {
        let changed: std::collections::HashSet<&str> =
            changes.iter().map(|c| c.path.as_str()).collect();
        let unchanged: Vec<&str> = listing
            .iter()
            .map(|f| f.path.as_str())
            .filter(|p| !changed.contains(p))
            .collect();
        let added: Vec<&str> = changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Added && !s.invalidate_new_files)
            .map(|c| c.path.as_str())
            .collect();
        let stale_refs: Vec<&str> = stale.iter().map(|s| s.as_str()).collect();
        let input = invalidate::Input {
            stale: &stale_refs,
            unchanged: &unchanged,
            added: &added,
            index_document: &s.index_document,
            max_paths: s.max_invalidation_paths,
        };
        invalidate::plan(&input)
    } else {
        (Vec::new(), invalidate::Summary::default())
    };

    Ok(Plan {
        uploads,
        deletes,
        invalidations,
        invalidation: summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            prefix: String::new(),
            cdn: true,
            max_deletes: 500,
            max_invalidation_paths: 15,
            index_document: "index.html".into(),
            invalidate_new_files: false,
            full: false,
        }
    }

    fn ch(path: &str, kind: ChangeKind) -> Change {
        let blob = (kind != ChangeKind::Deleted).then(|| format!("{:040x}", path.len()));
        Change {
            path: path.into(),
            kind,
            blob,
            size: 10,
        }
    }

    fn listing(paths: &[&str]) -> Vec<FileEntry> {
        paths
            .iter()
            .map(|p| FileEntry {
                path: p.to_string(),
                blob: "0".repeat(40),
            })
            .collect()
    }

    #[test]
    fn keys_under_prefix() {
        let table: &[(&str, &str, Option<&str>)] = &[
            ("", "index.html", Some("index.html")),
            ("blog", "index.html", Some("blog/index.html")),
            ("a/b", "x y/ü.html", Some("a/b/x y/ü.html")),
            ("", "../etc/passwd", None),
            ("", "a/./b", None),
            ("", "a//b", None),
            ("", "/abs", None),
            ("", ".git-publish/state.json", None),
            ("", ".git-publishing/x", Some(".git-publishing/x")),
        ];
        for (prefix, path, want) in table {
            assert_eq!(
                key_for(prefix, path).ok().as_deref(),
                *want,
                "{prefix:?} {path:?}"
            );
        }
    }

    #[test]
    fn uploads_deletes_and_order() {
        use ChangeKind::*;
        let changes = vec![
            ch("posts/new/index.html", Added),
            ch("posts/new/cover.jpg", Added),
            ch("index.html", Modified),
            ch("css/site.css", Modified),
            ch("old.html", Deleted),
            ch("feed.xml", Modified),
        ];
        let l = listing(&[
            "posts/new/index.html",
            "posts/new/cover.jpg",
            "index.html",
            "css/site.css",
            "feed.xml",
            "about/index.html",
        ]);
        let mut s = settings();
        s.prefix = "blog".into();
        let p = build("t", &changes, &l, &s).unwrap();
        let keys: Vec<&str> = p.uploads.iter().map(|u| u.key.as_str()).collect();
        // assets first (sorted), then HTML (sorted)
        assert_eq!(
            keys,
            [
                "blog/css/site.css",
                "blog/feed.xml",
                "blog/posts/new/cover.jpg",
                "blog/index.html",
                "blog/posts/new/index.html"
            ]
        );
        assert_eq!(p.uploads[0].kind, UploadKind::Replace);
        assert_eq!(p.uploads[2].kind, UploadKind::New);
        assert_eq!(p.deletes, ["blog/old.html"]);
        // new files are not invalidated; modified and deleted are; index.html also as its directory
        assert_eq!(
            p.invalidations,
            [
                "/",
                "/css/site.css",
                "/feed.xml",
                "/index.html",
                "/old.html"
            ]
        );
    }

    #[test]
    fn content_types_and_blob_ids_flow_through() {
        let changes = vec![ch("a.css", ChangeKind::Added)];
        let p = build("t", &changes, &listing(&["a.css"]), &settings()).unwrap();
        assert_eq!(p.uploads[0].content_type, "text/css; charset=utf-8");
        assert_eq!(p.uploads[0].blob, changes[0].blob.clone().unwrap());
    }

    #[test]
    fn max_deletes_refuses() {
        let changes: Vec<Change> = (0..6)
            .map(|i| ch(&format!("f{i}.html"), ChangeKind::Deleted))
            .collect();
        let mut s = settings();
        s.max_deletes = 5;
        let e = build("prod", &changes, &[], &s).unwrap_err();
        assert!(matches!(
            e,
            Error::TooManyDeletes {
                count: 6,
                limit: 5,
                ..
            }
        ));
        assert!(e.hint().unwrap().contains("--max-deletes"));
        s.max_deletes = 6;
        assert_eq!(build("prod", &changes, &[], &s).unwrap().deletes.len(), 6);
    }

    #[test]
    fn no_cdn_no_invalidations() {
        let mut s = settings();
        s.cdn = false;
        let p = build(
            "t",
            &[ch("a.html", ChangeKind::Modified)],
            &listing(&["a.html"]),
            &s,
        )
        .unwrap();
        assert!(p.invalidations.is_empty());
    }

    #[test]
    fn full_uploads_unchanged_files_too() {
        let mut s = settings();
        s.full = true;
        let p = build(
            "t",
            &[ch("a.html", ChangeKind::Modified)],
            &listing(&["a.html", "b.css"]),
            &s,
        )
        .unwrap();
        assert_eq!(p.uploads.len(), 2);
        assert_eq!(p.invalidations, ["/a.html"]);
    }

    #[test]
    fn invalidate_new_files_option() {
        let mut s = settings();
        s.invalidate_new_files = true;
        let p = build(
            "t",
            &[ch("new.html", ChangeKind::Added)],
            &listing(&["new.html"]),
            &s,
        )
        .unwrap();
        assert_eq!(p.invalidations, ["/new.html"]);
    }

    #[test]
    fn bad_paths_are_errors_not_panics() {
        let e = build("t", &[ch("a/../../x", ChangeKind::Added)], &[], &settings()).unwrap_err();
        assert!(matches!(e, Error::KeyEscapes { .. }));
    }
}
