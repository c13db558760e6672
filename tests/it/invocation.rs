//! Where a publish takes its commit and its directory from: `source.branch` (the site's branch, wherever
//! HEAD is) and `-C DIR` (run as if started in DIR).

use std::process::{Command, Stdio};

use crate::util::*;

/// git-publish started in `cwd` (not the site's directory) with `args`.
fn run_in(site: &Site, cwd: &std::path::Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(bin());
    site.env(&mut cmd);
    Run::from(
        cmd.args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    )
}

/// With `source.branch`, the branch's tip is published while HEAD is on another branch whose output differs;
/// the record and `status` name the branch's commit.
#[test]
fn source_branch_publishes_that_branch_wherever_head_is() {
    let site = Site::new();
    let b = bucket("branch");
    site.config(&format!(
        "[source]\ndir = \"public\"\nbranch = \"site\"\n[targets.production]\nurl = \"s3://{b}\"\n"
    ));
    site.write("public/index.html", "<h1>from main</h1>");
    site.commit("main");
    site.git(&["checkout", "-q", "-b", "site"]);
    site.write("public/index.html", "<h1>from the site branch</h1>")
        .write("public/only-on-site.html", "site");
    let tip = site.commit("site build");
    site.git(&["checkout", "-q", "main"]);

    let j = site.run(&["--json"]).ok().json();
    assert_eq!(j["commit"], tip.as_str());
    let objs = site_objects(&b);
    assert_eq!(objs["index.html"].body, b"<h1>from the site branch</h1>");
    assert!(objs.contains_key("only-on-site.html"));
    assert_eq!(state_json(&b, "")["deployed"]["commit"], tip.as_str());
    let s = site.run(&["status"]).ok();
    assert!(s.stdout.contains("up to date"), "{}", s.stdout);

    // A new commit on main changes nothing; one on the site branch is published.
    site.write("public/index.html", "<h1>from main, 2</h1>");
    site.commit("main 2");
    let j = site.run(&["--json"]).ok().json();
    assert_eq!(j["status"], "nothing-to-do");
    site.git(&["checkout", "-q", "site"]);
    site.write("public/index.html", "<h1>from the site branch, 2</h1>");
    let tip2 = site.commit("site build 2");
    site.git(&["checkout", "-q", "main"]);
    let j = site.run(&["--json"]).ok().json();
    assert_eq!(j["commit"], tip2.as_str());
    assert_eq!(strings(&j["uploads"]), ["index.html"]);
}

/// `-C DIR` from elsewhere: the site's directory, a subdirectory of it (site.toml is found at the top), a
/// relative DIR; a DIR that does not exist is an error naming it.
#[test]
fn dash_c_runs_as_if_started_in_dir() {
    let site = Site::new();
    let b = bucket("dash-c");
    small_blog(&site);
    site.config(&format!(
        "[source]\ndir = \"public\"\n[targets.production]\nurl = \"s3://{b}\"\n"
    ));
    let c1 = site.commit("v1");
    let elsewhere = site.tmp.path();
    let dir = site.dir.to_str().unwrap();
    let j = run_in(&site, elsewhere, &["-C", dir, "--json"]).ok().json();
    assert_eq!(j["commit"], c1.as_str());
    assert_eq!(state_json(&b, "")["deployed"]["commit"], c1.as_str());

    site.write("public/index.html", "v2");
    let c2 = site.commit("v2");
    let sub = site.path("public/posts");
    let j = run_in(&site, elsewhere, &["-C", sub.to_str().unwrap(), "--json"])
        .ok()
        .json();
    assert_eq!(j["commit"], c2.as_str());
    assert_eq!(strings(&j["uploads"]), ["index.html"]);
    let s = run_in(&site, elsewhere, &["-C", "site", "status"]).ok();
    assert!(s.stdout.contains("up to date"), "{}", s.stdout);

    let r = run_in(&site, elsewhere, &["-C", "no-such-dir", "status"]).fails(2);
    assert!(r.stderr.contains("no-such-dir"), "{}", r.stderr);
}
