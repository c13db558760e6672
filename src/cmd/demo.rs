//! `git publish demo [DIR]`: the main job, shown on a fresh machine with nothing but the binary and git. It writes
//! the example blog embedded in the binary (the files of `examples/blog/public`) into a new repository,
//! `DIR/site`, commits it and publishes it to a local directory, `DIR/www` (a `file:` target: no AWS account);
//! then edits one post, commits, and publishes again, which uploads that one page and nothing else.
//!
//! Both publishes are the real pipeline (`cmd::publish`), and the commits are made by the real `git`, with a
//! fixed author and date so that the demo prints the same commit ids everywhere (the README shows its output,
//! and `tests/it/docs.rs` checks that it still matches). It refuses a `DIR` that exists and is not empty.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli::PublishArgs;
use crate::error::{Error, ExitCode, Result};
use crate::publish::Session;
use crate::ui::Ui;

/// The example blog, as committed under `examples/blog/public`.
const SITE: &[(&str, &[u8])] = &[
    (
        "404.html",
        include_bytes!("../../examples/blog/public/404.html"),
    ),
    (
        "atom.xml",
        include_bytes!("../../examples/blog/public/atom.xml"),
    ),
    (
        "css/site.css",
        include_bytes!("../../examples/blog/public/css/site.css"),
    ),
    (
        "img/logo.svg",
        include_bytes!("../../examples/blog/public/img/logo.svg"),
    ),
    (
        "index.html",
        include_bytes!("../../examples/blog/public/index.html"),
    ),
    (
        "posts/hello-world/index.html",
        include_bytes!("../../examples/blog/public/posts/hello-world/index.html"),
    ),
    (
        "posts/publishing-with-git/index.html",
        include_bytes!("../../examples/blog/public/posts/publishing-with-git/index.html"),
    ),
    (
        "robots.txt",
        include_bytes!("../../examples/blog/public/robots.txt"),
    ),
    (
        "sitemap.xml",
        include_bytes!("../../examples/blog/public/sitemap.xml"),
    ),
    (
        "tags/git/index.html",
        include_bytes!("../../examples/blog/public/tags/git/index.html"),
    ),
];

/// The post the second commit edits, and the edit.
const EDITED: &str = "posts/hello-world/index.html";
const EDIT: (&str, &str) = ("<p>The first post.</p>", "<p>The first post, edited.</p>");

/// site.toml: publish public/ (as committed) to `www`, the directory beside the repository, with the deploy
/// record in `record`, beside it (not served).
fn site_toml(www: &Path, record: &Path) -> Result<String> {
    let url_of = |p: &Path| {
        url::Url::from_file_path(p).map_err(|()| Error::Demo {
            message: format!("{} is not an absolute path", p.display()),
            hint: "name the demo's directory with a path git-publish can turn into a file:// URL"
                .into(),
        })
    };
    let (url, state) = (url_of(www)?, url_of(&record.join("state.json"))?);
    Ok(format!(
        "# Written by `git publish demo`: publish public/ (as committed) to the directory www beside this \
         repository, with the deploy record in record/ (not served).\n[source]\ndir = \"public\"\n\n\
         [targets.demo]\nurl = \"{url}\"\nstate = \"{state}\"\n"
    ))
}

/// `git publish demo [DIR]` (default `git-publish-demo`, relative to `cwd`).
pub async fn run(cwd: &Path, dir: Option<PathBuf>, ui: Ui) -> Result<ExitCode> {
    let shown = dir.unwrap_or_else(|| PathBuf::from("git-publish-demo"));
    let base = cwd.join(&shown);
    refuse_if_in_use(&base, &shown)?;
    let site = base.join("site");
    for (path, bytes) in SITE {
        write(&site.join("public").join(path), bytes)?;
    }
    write(
        &site.join("site.toml"),
        site_toml(&base.join("www"), &base.join("record"))?.as_bytes(),
    )?;
    git(&site, &["init", "-q"])?;
    // site.toml stays uncommitted: it names this machine's path, and the commits (so their ids, which the README
    // shows) hold only the site.
    git(&site, &["add", "public"])?;
    git(
        &site,
        &["commit", "-q", "--no-verify", "-m", "The example blog"],
    )?;
    ui.note(&format!(
        "demo: committed the example blog in {} (10 files under public/); publishing it to {}",
        shown.join("site").display(),
        shown.join("www").display()
    ));
    let session = Session::open(&site, None, ui)?;
    crate::cmd::publish::run(&session, &PublishArgs::default()).await?;

    let post = site.join("public").join(EDITED);
    let text =
        std::fs::read_to_string(&post).map_err(|e| Error::io(post.display().to_string(), e))?;
    write(&post, text.replacen(EDIT.0, EDIT.1, 1).as_bytes())?;
    git(
        &site,
        &["commit", "-q", "--no-verify", "-am", "Edit a post"],
    )?;
    session.ui.note(&format!(
        "demo: edited public/{EDITED} and committed; publishing again: only that page goes up"
    ));
    crate::cmd::publish::run(&session, &PublishArgs::default()).await?;
    session.ui.note(&format!(
        "demo: done. {} is what a web server would serve; in {}, `git publish log` lists both deploys and \
         `git publish rollback` goes back to the first",
        shown.join("www").display(),
        shown.join("site").display()
    ));
    Ok(ExitCode::Success)
}

/// A directory that exists and holds anything is left alone.
fn refuse_if_in_use(base: &Path, shown: &Path) -> Result<()> {
    let in_use = match std::fs::read_dir(base) {
        Ok(mut entries) => entries.next().is_some(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(_) => true,
    };
    if in_use {
        return Err(Error::Demo {
            message: format!("{} already exists and is not empty", shown.display()),
            hint: "remove it, or name another directory: `git publish demo DIR` (it is created)"
                .into(),
        });
    }
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent.display().to_string(), e))?;
    }
    std::fs::write(path, bytes).map_err(|e| Error::io(path.display().to_string(), e))
}

/// Run git in `dir` with the demo's fixed identity and date, ignoring the environment of a hook (GIT_DIR & co.)
/// and the user's signing and template settings.
fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "init.templateDir=",
        ])
        .args(args);
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_COMMON_DIR",
    ] {
        cmd.env_remove(var);
    }
    for (var, value) in [
        ("GIT_AUTHOR_NAME", "git-publish demo"),
        ("GIT_AUTHOR_EMAIL", "demo@git-publish.invalid"),
        ("GIT_AUTHOR_DATE", "2026-01-01T12:00:00Z"),
        ("GIT_COMMITTER_NAME", "git-publish demo"),
        ("GIT_COMMITTER_EMAIL", "demo@git-publish.invalid"),
        ("GIT_COMMITTER_DATE", "2026-01-01T12:00:00Z"),
    ] {
        cmd.env(var, value);
    }
    let what = format!("git {}", args.join(" "));
    let out = cmd
        .output()
        .map_err(|e| Error::io(format!("running `{what}` (is git installed?)"), e))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(Error::io(
            format!("running `{what}` in {}", dir.display()),
            std::io::Error::other(why),
        ));
    }
    Ok(())
}
