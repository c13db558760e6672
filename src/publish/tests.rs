//! `prepare` and `publish` on a temporary repository with a local-directory target, the way git-absorb's
//! `run_with_repo` tests a whole command as a function of a repository.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::*;
use crate::ui::Verbosity;

/// A site repository in a temp dir (output in `public/`), publishing to another temp dir.
struct Site {
    dir: TempDir,
    target: TempDir,
    repo: git2::Repository,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let target = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let toml = format!(
            "[source]\ndir = \"public\"\n[targets.local]\nurl = \"file://{}\"\n",
            target.path().display()
        );
        std::fs::write(dir.path().join("site.toml"), toml).unwrap();
        Site { dir, target, repo }
    }

    /// Write `files` (path under public/, content) and commit everything.
    fn commit(&self, files: &[(&str, &str)]) -> String {
        for (path, content) in files {
            let p = self.dir.path().join("public").join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        let mut index = self.repo.index().unwrap();
        index
            .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.write().unwrap();
        let tree = self.repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::now("Test", "test@example.com").unwrap();
        let parent = self.repo.head().ok().map(|h| h.peel_to_commit().unwrap());
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        let id = self
            .repo
            .commit(Some("HEAD"), &sig, &sig, "site", &tree, &parents)
            .unwrap();
        id.to_string()
    }

    fn session(&self) -> Session {
        let ui = Ui::new(Verbosity::Quiet, false, Some(false));
        Session::open(self.dir.path(), None, ui).unwrap()
    }

    /// Every file in the target directory, relative to it.
    fn target_files(&self) -> Vec<PathBuf> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(root, &p, out);
                } else {
                    out.push(p.strip_prefix(root).unwrap().to_path_buf());
                }
            }
        }
        let mut out = Vec::new();
        walk(self.target.path(), self.target.path(), &mut out);
        out.sort();
        out
    }
}

fn sent(p: &Prepared) -> Vec<String> {
    let mut keys: Vec<String> = p.plan.uploads.iter().map(|u| u.key.clone()).collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn first_publish_plans_every_file_and_writes_nothing() {
    let site = Site::new();
    let commit = site.commit(&[("index.html", "<p>hi</p>"), ("css/site.css", "p{}")]);
    let s = site.session();
    let p = prepare(&s, &PublishOpts::default()).await.unwrap();
    assert_eq!(p.commit, commit);
    assert_eq!(p.base_commit, None);
    assert!(p.current.is_none(), "nothing was deployed");
    assert_eq!(sent(&p), ["css/site.css", "index.html"]);
    assert!(p.plan.deletes.is_empty());
    assert_eq!(p.report.status, "planned");
    assert!(
        site.target_files().is_empty(),
        "prepare wrote to the target"
    );
}

#[tokio::test]
async fn second_commit_plans_exactly_the_change() {
    let site = Site::new();
    let first = site.commit(&[("index.html", "<p>hi</p>"), ("about.html", "about")]);
    let s = site.session();
    let report = publish(&s, &PublishOpts::default()).await.unwrap();
    assert_eq!(report.status, "published");
    let second = site.commit(&[("about.html", "about us")]);
    let p = prepare(&s, &PublishOpts::default()).await.unwrap();
    assert_eq!(p.base_commit.as_deref(), Some(first.as_str()));
    assert_eq!(p.commit, second);
    assert_eq!(sent(&p), ["about.html"]);
    assert!(p.plan.deletes.is_empty());
    assert!(p.resumed.is_none());
    assert!(p.rollback_from.is_none());
}

#[tokio::test]
async fn dry_run_writes_nothing_to_the_target() {
    let site = Site::new();
    site.commit(&[("index.html", "<p>hi</p>")]);
    let s = site.session();
    let opts = PublishOpts {
        dry_run: true,
        ..PublishOpts::default()
    };
    let report = publish(&s, &opts).await.unwrap();
    assert_eq!(report.status, "planned");
    assert_eq!(report.uploads, ["index.html"]);
    assert!(
        site.target_files().is_empty(),
        "a dry run wrote to the target"
    );
    assert_eq!(crate::records::read_mirror(&s.repo, "local"), None);
}
