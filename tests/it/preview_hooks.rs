//! Publish on push with previews (`git-publish install --previews`, issue 25): real `git` pushing to a local
//! bare remote, a local-directory target. A push of a branch other than the site branch publishes that
//! branch's preview (under `_previews/<name>/`, with its own record), a deletion of the branch on the remote
//! removes it, the site branch still publishes production, and without `--previews` a branch push publishes
//! nothing. `git publish push` does the same after `install --previews`; a preview that fails after its push
//! is recorded, shown by `status` and finished by `retry`, as production's are.

use std::path::{Path, PathBuf};

use crate::util::*;

/// A site on `main` with a bare remote `origin` and a local-directory target, production published by a
/// push of `main` (with the hooks installed with `install_args`).
struct Remote {
    site: Site,
    out: PathBuf,
}

impl Remote {
    fn new(install_args: &[&str]) -> Remote {
        let site = Site::new();
        let remote = site.tmp.path().join("remote.git");
        let out = site.tmp.path().join("www");
        site.git(&["init", "-q", "--bare", remote.to_str().unwrap()]);
        site.git(&["remote", "add", "origin", remote.to_str().unwrap()]);
        site.write("public/index.html", "<h1>Home</h1>")
            .write("public/posts/a/index.html", "<h1>A</h1>")
            .config(&format!(
                "[source]\ndir = \"public\"\nbranch = \"main\"\n[targets.local]\nurl = \"file://{}\"\n",
                out.display()
            ));
        site.commit("v1");
        let mut args = vec!["install"];
        args.extend_from_slice(install_args);
        site.run(&args).ok();
        site.git(&["push", "-q", "origin", "main"]);
        Remote { site, out }
    }

    /// A branch `name` from main with a new post, committed (not pushed).
    fn branch(&self, name: &str) -> String {
        self.site.git(&["switch", "-q", "-c", name, "main"]);
        self.site.write(
            &format!("public/posts/{name}/index.html"),
            format!("<h1>{name}</h1>"),
        );
        let c = self.site.commit(name);
        self.site.git(&["switch", "-q", "main"]);
        c
    }

    /// `git` in the site, whatever its result (stderr holds what the hooks said).
    fn git(&self, args: &[&str]) -> Run {
        let mut cmd = std::process::Command::new(&self.site.git);
        self.site.env(&mut cmd);
        Run::from(
            cmd.args(args)
                .current_dir(&self.site.dir)
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap(),
        )
    }

    /// The commit preview `name`'s record says is deployed, if it has a record.
    fn preview(&self, name: &str) -> Option<String> {
        let record = self.out.join(format!(".git-publish/previews/{name}.json"));
        let st: serde_json::Value = serde_json::from_slice(&std::fs::read(record).ok()?).unwrap();
        Some(st["deployed"]["commit"].as_str()?.to_string())
    }

    /// Production's record and every file outside `_previews/` and the previews' records, byte for byte.
    fn production(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        walk(&self.out, &self.out, &mut out);
        out.retain(|(k, _)| !k.starts_with("_previews/") && !k.contains("/previews/"));
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            let key = p.strip_prefix(root).unwrap().display().to_string();
            out.push((key, std::fs::read(&p).unwrap()));
        }
    }
}

/// The done-when: pushing a branch publishes its preview, pushing it again updates it, deleting it
/// on the remote removes it (also when git reports the deletion twice, for a packed ref), and the production
/// branch still publishes production; production's files and record never change for a preview.
#[test]
fn a_pushed_branch_gets_its_preview_and_its_deletion_removes_it() {
    let r = Remote::new(&["--previews"]);
    let live = r.site.git(&["rev-parse", "main"]);
    let production = r.production();
    let draft = r.branch("draft");
    let push = r.git(&["push", "origin", "draft"]).ok();
    assert_eq!(r.preview("draft"), Some(draft.clone()), "{}", push.stderr);
    assert!(
        push.stderr.contains("preview draft of branch draft:"),
        "the URL is said first: {}",
        push.stderr
    );
    assert_eq!(
        std::fs::read_to_string(r.out.join("_previews/draft/posts/draft/index.html")).unwrap(),
        "<h1>draft</h1>"
    );
    assert_eq!(r.production(), production);

    // An update of the branch is the preview's update.
    r.site.git(&["switch", "-q", "draft"]);
    r.site.write("public/index.html", "<h1>Home, draft</h1>");
    let draft2 = r.site.commit("draft 2");
    r.git(&["push", "-q", "origin", "draft"]).ok();
    assert_eq!(r.preview("draft"), Some(draft2));
    assert_eq!(r.production(), production);

    // The production branch still publishes production, and only production.
    r.site.git(&["switch", "-q", "main"]);
    r.site
        .write("public/posts/a/index.html", "<h1>A, edited</h1>");
    let live2 = r.site.commit("edit a");
    r.git(&["push", "-q", "origin", "main"]).ok();
    let st = r.site.run(&["status", "--json"]).ok().json();
    assert_eq!(st[0]["deployed"]["commit"], live2.as_str());
    assert_ne!(live, live2);
    let production = r.production();

    // Deleting the branch on the remote removes its preview: its files and its record. A packed
    // remote-tracking ref makes git report the deletion twice; it is removed once, without an error.
    r.site.git(&["pack-refs", "--all"]);
    let del = r.git(&["push", "origin", "--delete", "draft"]).ok();
    assert!(
        del.stderr.contains("removed preview draft"),
        "{}",
        del.stderr
    );
    assert!(!del.stderr.contains("error"), "{}", del.stderr);
    assert_eq!(r.preview("draft"), None);
    let mut left = Vec::new();
    walk(
        &r.out.join("_previews"),
        &r.out.join("_previews"),
        &mut left,
    );
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(r.production(), production);
    // Nothing of the push is left behind (no job, no failure; `records` is the copy of the records this
    // clone wrote, kept to claim without reading them).
    let left: Vec<_> = std::fs::read_dir(r.site.path(".git/git-publish"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    let left: Vec<_> = left.into_iter().filter(|n| n != "records").collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Without `--previews` the hooks are what they were: a branch push publishes nothing, and its deletion
/// removes nothing.
#[test]
fn without_previews_a_branch_push_publishes_nothing() {
    let r = Remote::new(&[]);
    let production = r.production();
    r.branch("draft");
    r.git(&["push", "-q", "origin", "draft"]).ok();
    assert_eq!(r.preview("draft"), None);
    assert!(!r.out.join("_previews").exists());
    assert_eq!(r.production(), production);
    // A preview published by hand stays when its branch goes: only `install --previews` removes it.
    r.site.run(&["preview", "--branch", "draft"]).ok();
    assert!(r.preview("draft").is_some());
    r.git(&["push", "-q", "origin", "--delete", "draft"]).ok();
    assert!(r.preview("draft").is_some());
}

/// One push of several branches (and the site branch) publishes each once; `install` again without
/// `--previews` turns it off, for the hooks and for `git publish push`.
#[test]
fn one_push_of_several_branches_publishes_each_preview_once() {
    let r = Remote::new(&["--previews"]);
    let a = r.branch("one");
    let b = r.branch("Two/Names");
    r.site.write("public/index.html", "<h1>Home 2</h1>");
    let main = r.site.commit("home 2");
    r.git(&["push", "-q", "origin", "main", "one", "Two/Names"])
        .ok();
    assert_eq!(r.preview("one"), Some(a));
    let two = serde_json::from_str::<serde_json::Value>(
        &r.site.run(&["preview", "list", "--json"]).ok().stdout,
    )
    .unwrap();
    let names: Vec<&str> = (two["previews"].as_array().unwrap().iter())
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{two:#}");
    let folded = names.iter().find(|n| n.starts_with("two-names-")).unwrap();
    assert_eq!(r.preview(folded), Some(b));
    let st = r.site.run(&["status", "--json"]).ok().json();
    assert_eq!(st[0]["deployed"]["commit"], main.as_str());
    assert_eq!(st[0]["deployed"]["uploads"], 1, "{st:#}");

    r.site.run(&["install"]).ok();
    let c = r.branch("three");
    r.git(&["push", "-q", "origin", "three"]).ok();
    assert_eq!(r.preview("three"), None);
    r.site.run(&["push", "origin", "--delete", "one"]).ok();
    assert!(r.preview("one").is_some(), "no previews: nothing removed");
    let _ = c;
}

/// `git publish push` after `install --previews` does what the hooks do: it publishes the previews of the
/// other branches it pushed and removes those of the branches it deleted.
#[test]
fn the_push_wrapper_publishes_and_removes_previews() {
    let r = Remote::new(&["--previews"]);
    let production = r.production();
    let c = r.branch("wrapped");
    let push = r.site.run(&["push", "origin", "wrapped"]).ok();
    assert_eq!(r.preview("wrapped"), Some(c), "{}", push.stderr);
    let dry = r
        .site
        .run(&["push", "--dry-run", "origin", "--delete", "wrapped"])
        .ok();
    assert!(
        dry.stderr
            .contains("would go on to removing the preview of branch wrapped"),
        "{}",
        dry.stderr
    );
    assert!(r.preview("wrapped").is_some());
    r.site.run(&["push", "origin", "--delete", "wrapped"]).ok();
    assert_eq!(r.preview("wrapped"), None);
    assert_eq!(r.production(), production);
}

/// A preview whose publish fails after its push (a file is in the way of `_previews/`) is reported on the
/// push, recorded beside production's failures without replacing them, shown by `status`, and finished by
/// `retry`; so is the removal after a deletion.
#[test]
fn a_preview_that_fails_after_its_push_is_recorded_and_retried() {
    let r = Remote::new(&["--previews"]);
    let c = r.branch("broken");
    std::fs::write(r.out.join("_previews"), "in the way").unwrap();
    let push = r.git(&["push", "origin", "broken"]).ok();
    assert!(
        push.stderr
            .contains("the push succeeded, but publishing the preview of branch broken"),
        "{}",
        push.stderr
    );
    assert!(push.stderr.contains("git publish retry"), "{}", push.stderr);
    let st = r.site.run(&["status"]).ok();
    assert!(
        st.stdout
            .contains("FAILED:  publishing the preview of branch broken"),
        "{}",
        st.stdout
    );
    let j = r.site.run(&["status", "--json"]).ok().json();
    assert_eq!(j[0]["preview_push_failures"][0]["commit"], c.as_str());
    assert_eq!(j[0]["preview_push_failures"][0]["preview"], "broken");
    assert_eq!(j[0]["push_failure"], serde_json::Value::Null);

    std::fs::remove_file(r.out.join("_previews")).unwrap();
    r.site.run(&["retry"]).ok();
    assert_eq!(r.preview("broken"), Some(c));
    let j = r.site.run(&["status", "--json"]).ok().json();
    assert_eq!(j[0]["preview_push_failures"], serde_json::json!([]));

    // The removal after a deletion, the same way (a file in the way of the preview's directory).
    let dir = r.out.join("_previews/broken");
    let aside = r.out.join("aside");
    std::fs::rename(&dir, &aside).unwrap();
    std::fs::write(&dir, "in the way").unwrap();
    let del = r.git(&["push", "origin", "--delete", "broken"]).ok();
    std::fs::remove_file(&dir).unwrap();
    std::fs::rename(&aside, &dir).unwrap();
    assert!(
        del.stderr
            .contains("removing the preview of branch broken failed"),
        "{}",
        del.stderr
    );
    assert!(r.preview("broken").is_some());
    r.site.run(&["retry"]).ok();
    assert_eq!(r.preview("broken"), None);
    let j = r.site.run(&["status", "--json"]).ok().json();
    assert_eq!(j[0]["preview_push_failures"], serde_json::json!([]));
}

/// `--background`: the preview is published by the same detached publisher as production's.
#[test]
fn background_previews_are_published_by_the_detached_publisher() {
    let r = Remote::new(&["--previews", "--background"]);
    let c = r.branch("later");
    let push = r.git(&["push", "origin", "later"]).ok();
    assert!(
        push.stderr
            .contains("publishing the preview of branch later"),
        "{}",
        push.stderr
    );
    assert!(push.stderr.contains("in the background"), "{}", push.stderr);
    for _ in 0..600 {
        if r.preview("later").is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(r.preview("later"), Some(c));
}
