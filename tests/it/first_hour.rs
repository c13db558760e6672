//! The first hour of a new user (issue 30): `init` in a fresh Hugo or Hexo clone, whose `.gitignore` ignores the
//! output directory and which has not been built yet, writes a snapshot-build config that publishes on the first
//! `git publish`; the commands init suggests are the ones that run it (the npx form when npm launched it); and
//! `git publish demo` works with nothing but the binary and git.

use std::path::Path;

use crate::docs::{fake_generator, fresh_hugo};
use crate::util::*;

fn path_with(dir: &Path) -> String {
    format!("{}:{}", dir.display(), test_path())
}

/// init in the fresh clone, then the first publish, with the generator (a fake one: `build`) on PATH.
fn init_then_publish(site: &Site, fake: &Path, build: &str) {
    assert!(
        !site.path("public").exists(),
        "a fresh clone has no output yet"
    );
    let out = site.tmp.path().join("www");
    let init = site.run(&["init", "--yes", "--url", "file:../www"]).ok();
    assert!(
        init.stderr
            .contains("public/ is ignored by git, so site.toml sets up snapshot builds"),
        "{}",
        init.stderr
    );
    let toml = std::fs::read_to_string(site.path("site.toml")).unwrap();
    assert!(toml.contains("build_dir = \"public\"\n"), "{toml}");
    assert!(
        toml.contains(&format!("build_command = \"{build}\"\n")),
        "{toml}"
    );
    assert!(!toml.lines().any(|l| l.starts_with("dir =")), "{toml}");
    // Not even committing site.toml is needed: the first publish builds and publishes.
    let run = site.run_with(&[], &[("PATH", &path_with(fake))]).ok();
    assert!(run.stderr.contains("published "), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(out.join("posts/hello/index.html")).unwrap(),
        "<h1>Hello</h1>"
    );
    // git add would refuse public/; the build went to the snapshot ref, not to the branch.
    assert_eq!(site.git(&["status", "--porcelain", "--", "public"]), "");
    site.git(&["rev-parse", "--verify", "refs/heads/site-builds"]);
}

#[test]
fn init_in_a_fresh_hugo_clone_writes_snapshot_builds_that_publish_on_the_first_run() {
    let site = Site::new();
    let fake = fresh_hugo(&site);
    init_then_publish(&site, &fake, "hugo");
}

#[test]
fn init_in_a_fresh_hexo_clone_writes_snapshot_builds_that_publish_on_the_first_run() {
    let site = Site::new();
    site.write("_config.yml", "title: My blog\n")
        .write(
            "package.json",
            r#"{"name":"blog","dependencies":{"hexo":"^7.3.0"}}"#,
        )
        .write(".gitignore", "node_modules/\npublic/\ndb.json\n")
        .write(
            "source/_posts/hello.md",
            "---\ntitle: Hello\n---\nThe first post.\n",
        );
    site.commit("hexo site");
    let fake = site.tmp.path().join("fake-bin");
    fake_generator(
        &fake,
        "npx",
        "hexo generate",
        "public",
        &[
            ("index.html", "<h1>My blog</h1>"),
            ("posts/hello/index.html", "<h1>Hello</h1>"),
        ],
    );
    init_then_publish(&site, &fake, "npx hexo generate");
}

#[test]
fn init_suggests_the_npx_form_when_the_npm_launcher_started_it() {
    let site = Site::new();
    small_blog(&site);
    site.commit("site");
    let plain = site.run(&["init", "--yes", "--url", "file:../www"]).ok();
    assert!(
        plain
            .stderr
            .contains("next: `git publish --dry-run` shows the plan"),
        "{}",
        plain.stderr
    );
    let npm = site
        .run_with(
            &["init", "--yes", "--force", "--url", "file:../www"],
            &[("GIT_PUBLISH_NPM_PACKAGE", "@git-publish/cli")],
        )
        .ok();
    assert!(
        npm.stderr.contains(
            "next: `npx --package=@git-publish/cli git-publish --dry-run` shows the plan; \
             `npx --package=@git-publish/cli git-publish` publishes"
        ),
        "{}",
        npm.stderr
    );
}

#[test]
fn the_demo_publishes_the_embedded_blog_then_only_the_edited_page() {
    let site = Site::new();
    let home = site.tmp.path().join("home");
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(bin());
        site.env(&mut cmd);
        let out = cmd.args(args).current_dir(&home).output().unwrap();
        Run::from(out)
    };
    let first = run(&["demo"]).ok();
    let blog = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/blog/public");
    let www = home.join("git-publish-demo/www");
    let mut n = 0;
    // The example as this repository holds it (git's list, not the demo's own).
    let listed = std::process::Command::new("git")
        .args(["ls-files", "-z", "--", "."])
        .current_dir(&blog)
        .output()
        .unwrap();
    for rel in String::from_utf8(listed.stdout)
        .unwrap()
        .split_terminator('\0')
    {
        let want = std::fs::read_to_string(blog.join(rel)).unwrap();
        let got = std::fs::read_to_string(www.join(rel)).unwrap();
        if rel == "posts/hello-world/index.html" {
            assert_eq!(
                got,
                want.replace("The first post.", "The first post, edited.")
            );
        } else {
            assert_eq!(got, want, "{rel}");
        }
        n += 1;
    }
    assert_eq!(n, 10, "the demo embeds every file of examples/blog/public");
    // The deploy record (and its lock) live beside www, not in it: a web server serving www serves no record.
    assert!(!www.join(".git-publish").exists());
    assert!(home.join("git-publish-demo/record/state.json").is_file());
    assert!(
        !first.stderr.contains("inside the served directory"),
        "{}",
        first.stderr
    );
    assert!(
        first
            .stdout
            .contains("~ posts/hello-world/index.html\n1 upload (0 new, 1 replaced"),
        "{}",
        first.stdout
    );
    let again = run(&["demo"]).fails(2);
    assert!(
        again
            .stderr
            .contains("git-publish-demo already exists and is not empty"),
        "{}",
        again.stderr
    );
}
