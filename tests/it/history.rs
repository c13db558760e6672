//! Snapshot builds (output not committed), rollback, the deploy log and churn reports.

use std::os::unix::fs::PermissionsExt;

use crate::util::*;

const SNAPSHOT_REF: &str = "refs/heads/site-builds";

/// A source repository whose output (public/) is ignored, publishing to a local directory.
fn snapshot_site(extra_source: &str) -> (Site, std::path::PathBuf) {
    let site = Site::new();
    let out = site.tmp.path().join("www");
    site.write(".gitignore", "public/\n")
        .write("src/post.md", "# post\n");
    site.config(&format!(
        "[source]\nbuild_dir = \"public\"\n{extra_source}\n[targets.local]\nurl = \"file://{}\"\n",
        out.display()
    ));
    site.commit("source");
    (site, out)
}

fn raw_git(site: &Site, args: &[&str]) -> Vec<u8> {
    let mut cmd = std::process::Command::new(&site.git);
    site.env(&mut cmd);
    let o = cmd.args(args).current_dir(&site.dir).output().unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// What must not change: HEAD, the index file's bytes, `git status --porcelain`.
fn repo_fingerprint(site: &Site) -> (String, Vec<u8>, String) {
    (
        site.git(&["rev-parse", "HEAD"]),
        std::fs::read(site.path(".git/index")).unwrap(),
        site.git(&["status", "--porcelain", "--ignored"]),
    )
}

#[test]
fn snapshot_commits_the_build_dir_as_is_without_touching_index_worktree_or_head() {
    let (site, out) = snapshot_site("");
    // Filters that `blob_path` would apply inside the worktree: they must not touch snapshot bytes.
    site.git(&["config", "core.autocrlf", "true"]);
    site.write(".gitattributes", "* text=auto\n");
    let source = site.commit("attributes");
    site.write("public/index.html", "<h1>Home</h1>\n")
        .write("public/posts/2024/a/index.html", "<h1>A</h1>\n")
        .write("public/crlf.txt", "line one\r\nline two\r\n")
        .write("public/bin/run.sh", "#!/bin/sh\necho hi\n");
    std::fs::set_permissions(
        site.path("public/bin/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::create_dir_all(site.path("public/empty/nested")).unwrap();
    std::os::unix::fs::symlink("../src/post.md", site.path("public/link.md")).unwrap();
    let before = repo_fingerprint(&site);

    let r = site.run(&["--json"]).ok();
    let j = r.json();
    assert_eq!(
        repo_fingerprint(&site),
        before,
        "HEAD, index or status changed"
    );

    let snap = site.git(&["rev-parse", SNAPSHOT_REF]);
    assert_eq!(j["commit"], snap.as_str());
    assert_eq!(j["snapshot"]["source"], source.as_str());
    assert_eq!(j["snapshot"]["dirty"], false);
    assert_eq!(j["snapshot"]["created"], true);
    assert_eq!(j["snapshot"]["files"], 4);
    assert_eq!(j["snapshot"]["empty_dirs"][0], "empty/nested");
    assert_eq!(j["snapshot"]["skipped"][0]["path"], "link.md");
    assert!(
        r.stderr
            .contains("public/link.md is a symbolic link to ../src/post.md"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("empty director"), "{}", r.stderr);

    // The tree: exact bytes, the executable bit, no symlink, no empty dir.
    let tree = site.git(&["ls-tree", "-r", SNAPSHOT_REF]);
    let entries: Vec<(String, String)> = tree
        .lines()
        .map(|l| {
            let (meta, path) = l.split_once('\t').unwrap();
            (
                meta.split(' ').next().unwrap().to_string(),
                path.to_string(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("100755".to_string(), "bin/run.sh".to_string()),
            ("100644".into(), "crlf.txt".into()),
            ("100644".into(), "index.html".into()),
            ("100644".into(), "posts/2024/a/index.html".into()),
        ]
    );
    assert_eq!(
        raw_git(
            &site,
            &["cat-file", "blob", &format!("{SNAPSHOT_REF}:crlf.txt")]
        ),
        b"line one\r\nline two\r\n"
    );
    let msg = site.git(&["log", "-1", "--format=%B", SNAPSHOT_REF]);
    assert!(
        msg.starts_with(&format!("Build of {}", &source[..7])),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("Git-Publish-Source: {source}")),
        "{msg}"
    );
    assert!(!msg.lines().next().unwrap().contains("dirty"), "{msg}");
    assert_eq!(site.git(&["rev-list", "--count", SNAPSHOT_REF]), "1");
    // Published exactly.
    assert_eq!(
        std::fs::read(out.join("crlf.txt")).unwrap(),
        b"line one\r\nline two\r\n"
    );
    assert!(!out.join("link.md").exists());

    // Same output again: no new commit, nothing to publish.
    let j = site.run(&["--json"]).ok().json();
    assert_eq!(j["status"], "nothing-to-do");
    assert_eq!(j["snapshot"]["created"], false);
    assert_eq!(site.git(&["rev-parse", SNAPSHOT_REF]), snap);
    assert_eq!(repo_fingerprint(&site), before);

    // Changed output with an uncommitted source change: a child snapshot that says "dirty".
    site.write("src/post.md", "# post, edited\n")
        .write("public/index.html", "<h1>Home v2</h1>\n");
    let before = repo_fingerprint(&site);
    let j = site.run(&["--json"]).ok().json();
    assert_eq!(repo_fingerprint(&site), before);
    assert_eq!(strings(&j["uploads"]), ["index.html"]);
    assert_eq!(j["snapshot"]["dirty"], true);
    let snap2 = site.git(&["rev-parse", SNAPSHOT_REF]);
    assert_eq!(site.git(&["rev-parse", &format!("{SNAPSHOT_REF}^")]), snap);
    let subject = site.git(&["log", "-1", "--format=%s", SNAPSHOT_REF]);
    assert_eq!(subject, format!("Build of {} (dirty)", &source[..7]));
    assert_eq!(j["commit"], snap2.as_str());

    // A dry run builds nothing new into the ref.
    site.write("public/index.html", "<h1>Home v3</h1>\n");
    let j = site.run(&["--dry-run", "--json"]).ok().json();
    assert_eq!(strings(&j["uploads"]), ["index.html"]);
    assert_eq!(site.git(&["rev-parse", SNAPSHOT_REF]), snap2);
}

#[test]
fn non_utf8_name_in_the_build_dir_is_an_error_naming_it_and_nothing_changes() {
    use std::os::unix::ffi::OsStrExt;
    let (site, out) = snapshot_site("");
    site.write("public/index.html", "<h1>Home</h1>");
    let bad = site
        .path("public/posts")
        .join(std::ffi::OsStr::from_bytes(b"caf\xe9.html"));
    std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
    std::fs::write(&bad, "latin-1 name").unwrap();
    let before = repo_fingerprint(&site);
    let r = site.run(&[]).fails(2);
    assert!(r.stderr.contains("posts/caf\u{fffd}.html"), "{}", r.stderr);
    assert!(r.stderr.contains("not valid UTF-8"), "{}", r.stderr);
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
    assert_eq!(repo_fingerprint(&site), before);
    assert_eq!(
        raw_git(&site, &["for-each-ref", SNAPSHOT_REF]),
        b"",
        "no snapshot ref"
    );
    assert!(!out.exists(), "target untouched");
}

#[test]
fn build_command_runs_from_the_root_without_git_variables_and_failures_stop_everything() {
    let (site, out) = snapshot_site(
        "build_command = \"mkdir -p public && echo built > public/index.html && (env | grep '^GIT_' | sort > public/env.txt; true)\"",
    );
    site.commit("config");
    // As inside a hook: GIT_DIR and GIT_INDEX_FILE set by git.
    let git_dir = site.path(".git");
    let r = site
        .run_with(
            &["--json"],
            &[
                ("GIT_DIR", git_dir.to_str().unwrap()),
                ("GIT_INDEX_FILE", "/nonexistent/index"),
            ],
        )
        .ok();
    assert!(
        r.stderr.contains("building: mkdir -p public"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_to_string(out.join("index.html")).unwrap(),
        "built\n"
    );
    let env = std::fs::read_to_string(out.join("env.txt")).unwrap();
    assert!(!env.contains("GIT_DIR="), "{env}");
    assert!(!env.contains("GIT_INDEX_FILE="), "{env}");

    // A failing build: exit 1, no snapshot, nothing published.
    site.config(&format!(
        "[source]\nbuild_dir = \"public\"\nbuild_command = \"echo broken > public/index.html; exit 3\"\n[targets.local]\nurl = \"file://{}\"\n",
        out.display()
    ));
    let tip = site.git(&["rev-parse", SNAPSHOT_REF]);
    let r = site.run(&[]).fails(1);
    assert!(
        r.stderr.contains("the build command failed"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("source.build_command"), "{}", r.stderr);
    assert_eq!(site.git(&["rev-parse", SNAPSHOT_REF]), tip);
    assert_eq!(
        std::fs::read_to_string(out.join("index.html")).unwrap(),
        "built\n"
    );
}

#[test]
fn a_foreign_snapshot_ref_is_refused() {
    let (site, _out) = snapshot_site("snapshot_ref = \"refs/heads/main\"");
    site.write("public/index.html", "x");
    let r = site.run(&[]).fails(2);
    assert!(
        r.stderr.contains("not a git-publish snapshot"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("source.snapshot_ref"), "{}", r.stderr);
}

/// Snapshot builds to S3 + CloudFront: v1, v2, then rollback.
fn s3_snapshot_site(b: &str, dist: &str) -> Site {
    let site = Site::new();
    site.write(".gitignore", "public/\n");
    site.config(&format!(
        "[source]\nbuild_dir = \"public\"\n[targets.production]\nurl = \"s3://{b}\"\ndistribution = \"{dist}\"\n"
    ));
    site
}

#[test]
fn rollback_restores_old_bytes_invalidates_changed_urls_and_is_logged() {
    let b = bucket("rollback");
    let dist = distribution(&b);
    let site = s3_snapshot_site(&b, &dist);
    site.write("src/a.md", "a v1");
    let src1 = site.commit("source v1");
    site.write("public/index.html", "<h1>Home</h1>")
        .write("public/posts/a/index.html", "<h1>A v1</h1>")
        .write("public/css/site.css", "body{}");
    let j1 = site.run(&["--json"]).ok().json();
    let snap1 = j1["commit"].as_str().unwrap().to_string();
    let v1 = site_objects(&b);

    site.write("src/a.md", "a v2");
    let src2 = site.commit("source v2");
    site.write("public/posts/a/index.html", "<h1>A v2</h1>")
        .write("public/posts/b/index.html", "<h1>B</h1>");
    let j2 = site.run(&["--json"]).ok().json();
    let snap2 = j2["commit"].as_str().unwrap().to_string();
    assert_ne!(snap1, snap2);

    // --rev with a source commit publishes its snapshot (dry run: nothing changes).
    let j = site
        .run(&["--rev", &src1, "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(j["commit"], snap1.as_str());
    assert_eq!(j["rollback_from"], snap2.as_str());

    let r = site.run(&["rollback", "--json"]).ok();
    assert!(
        r.stderr.contains("rollback: production goes back from"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("rolled s3://{b} back to")),
        "{}",
        r.stderr
    );
    let j = r.json();
    assert_eq!(j["commit"], snap1.as_str());
    assert_eq!(j["base"], snap2.as_str());
    assert_eq!(j["rollback_from"], snap2.as_str());
    assert_eq!(strings(&j["uploads"]), ["posts/a/index.html"]);
    assert_eq!(strings(&j["deletes"]), ["posts/b/index.html"]);
    // Old bytes back, exactly.
    let now = site_objects(&b);
    assert_eq!(
        now.keys().collect::<Vec<_>>(),
        v1.keys().collect::<Vec<_>>()
    );
    for (k, o) in &v1 {
        assert_eq!(now[k].body, o.body, "{k}");
    }
    // The changed and removed URLs are invalidated, nothing else (moto lists invalidations in no promised order).
    let want = [
        "/posts/a/",
        "/posts/a/index.html",
        "/posts/b/",
        "/posts/b/index.html",
    ];
    assert_eq!(strings(&j["invalidations"]), want);
    let inv = invalidations(&dist);
    assert_eq!(inv.len(), 2, "{inv:?}");
    assert!(inv.iter().any(|i| i == &want), "{inv:?}");

    // The log: newest first, with the rollback and the source commits.
    let log = site.run(&["log", "--json"]).ok().json();
    let e = log["entries"].as_array().unwrap();
    assert_eq!(e.len(), 3);
    assert_eq!(log["live"], snap1.as_str());
    assert_eq!(e[0]["commit"], snap1.as_str());
    assert_eq!(e[0]["rollback_from"], snap2.as_str());
    assert_eq!(e[0]["source_commit"], src1.as_str());
    assert_eq!(e[1]["commit"], snap2.as_str());
    assert_eq!(e[1]["source_commit"], src2.as_str());
    assert_eq!(e[1]["uploads"], 2);
    assert_eq!(e[1]["invalidation_paths"], 2);
    assert_eq!(e[1]["invalidation_ids"].as_array().unwrap().len(), 1);
    let text = site.run(&["log"]).ok().stdout;
    assert!(text.contains("(live)"), "{text}");
    assert!(
        text.contains(&format!("rollback from {}", &snap2[..12])),
        "{text}"
    );

    // Status: live snapshot, the source it was built from, one source commit behind HEAD.
    let st = site.run(&["status", "--json"]).ok().json();
    assert_eq!(st[0]["live_source"], src1.as_str());
    assert_eq!(st[0]["behind"], 1);
    assert_eq!(st[0]["unpublished_snapshot"], snap2.as_str());
    let text = site.run(&["status"]).ok().stdout;
    assert!(text.contains("built from"), "{text}");
    assert!(text.contains("rollback from"), "{text}");

    // Out of range.
    let r = site.run(&["rollback", "--steps", "9"]).fails(2);
    assert!(r.stderr.contains("earlier deploy"), "{}", r.stderr);
}

#[test]
fn history_lives_in_the_target_and_another_clone_can_read_it_and_roll_back() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("www");
    let a = Site::new();
    a.write(".gitignore", "public/\n");
    a.config(&format!(
        "[source]\nbuild_dir = \"public\"\n[targets.local]\nurl = \"file://{}\"\n",
        out.display()
    ));
    a.commit("source");
    a.write("public/index.html", "one");
    let s1 = a.run(&["--json"]).ok().json()["commit"]
        .as_str()
        .unwrap()
        .to_string();
    a.write("public/index.html", "two");
    a.run(&[]).ok();

    // Another clone: it gets the snapshot branch as origin/site-builds, and the history from the target.
    let b = Site::new();
    b.git(&["remote", "add", "origin", a.dir.to_str().unwrap()]);
    b.git(&["fetch", "-q", "origin"]);
    b.git(&["checkout", "-q", "-B", "main", "origin/main"]);
    let log = b.run(&["log", "--json"]).ok().json();
    assert_eq!(log["entries"].as_array().unwrap().len(), 2);
    let r = b.run(&["rollback", "--json"]).ok().json();
    assert_eq!(r["commit"], s1.as_str());
    assert_eq!(
        std::fs::read_to_string(out.join("index.html")).unwrap(),
        "one"
    );
    // ... and the first clone sees that rollback too.
    let log = a.run(&["log", "--json"]).ok().json();
    assert_eq!(log["entries"].as_array().unwrap().len(), 3);
    assert_eq!(log["live"], s1.as_str());
    // Publishing the current build again goes forward: not a rollback, no new snapshot.
    let j = a.run(&["--json"]).ok().json();
    assert_eq!(j["rollback_from"], serde_json::Value::Null);
    assert_eq!(j["snapshot"]["created"], false);
    assert_eq!(
        std::fs::read_to_string(out.join("index.html")).unwrap(),
        "two"
    );
}

#[test]
fn files_that_differ_only_in_timestamps_or_build_ids_are_reported_as_churn() {
    let site = Site::new();
    let out = site.tmp.path().join("www");
    let page = |build: &str, body: &str| {
        format!("<html><script src=/js/app.{build}.js></script><p>{body}</p></html>")
    };
    site.write(
        "public/sitemap.xml",
        "<urlset><url><loc>/a/</loc><lastmod>2024-05-01T10:00:00.000Z</lastmod></url></urlset>",
    )
    .write("public/index.html", page("3f2a9c1b", "home"))
    .write("public/a/index.html", page("3f2a9c1b", "a"))
    .write("public/logo.png", [0x89u8, b'P', 0, 1]);
    site.config(&format!(
        "[source]\ndir = \"public\"\n[targets.local]\nurl = \"file://{}\"\n",
        out.display()
    ));
    site.commit("v1");
    site.run(&[]).ok();
    site.write(
        "public/sitemap.xml",
        "<urlset><url><loc>/a/</loc><lastmod>2024-05-02T08:12:00.000Z</lastmod></url></urlset>",
    )
    .write("public/index.html", page("9e8d7c6b", "home"))
    .write("public/a/index.html", page("9e8d7c6b", "a, edited"))
    .write("public/logo.png", [0x89u8, b'P', 0, 2]);
    site.commit("v2");
    let j = site.run(&["--dry-run", "--json"]).ok().json();
    assert_eq!(strings(&j["churn"]), ["index.html", "sitemap.xml"]);
    let r = site.run(&[]).ok();
    assert!(
        r.stdout
            .contains("churn: 2 files differ only in timestamps or build ids"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("index.html, sitemap.xml"), "{}", r.stdout);
}
