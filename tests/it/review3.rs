//! The third adversarial review (issue 24): each test pins one finding and fails on the code before its fix.
//! Findings 8, 11 and 12 are pinned beside their code (the function under node, the similarity budget, the
//! link-following write); the ones here need the real binary, a real repository and moto.

use std::path::Path;

use crate::util::*;

/// Commit a tree whose `public/` holds `files` (name → body) exactly as given: git refuses to add most of
/// these names itself, so the trees are written directly. Returns the commit id.
fn commit_public(site: &Site, files: &[(&str, &str)], msg: &str) -> String {
    // Nested trees for `a/b` names; names with `\` stay one entry, as a Windows checkout would split them.
    fn tree(site: &Site, files: &[(&str, &str)]) -> String {
        let mut dirs: std::collections::BTreeMap<&str, Vec<(&str, &str)>> = Default::default();
        let mut entries = String::new();
        for (name, body) in files {
            match name.split_once('/') {
                Some((d, rest)) => dirs.entry(d).or_default().push((rest, body)),
                None => {
                    let blob = site.git_input(&["hash-object", "-w", "--stdin"], body);
                    entries.push_str(&format!("100644 blob {blob}\t{name}\n"));
                }
            }
        }
        for (d, inner) in dirs {
            entries.push_str(&format!("040000 tree {}\t{d}\n", tree(site, &inner)));
        }
        site.git_input(&["mktree"], entries)
    }
    let public = tree(site, files);
    let root = site.git_input(&["mktree"], format!("040000 tree {public}\tpublic\n"));
    let c = site.git(&["commit-tree", &root, "-p", "HEAD", "-m", msg]);
    site.git(&["update-ref", "HEAD", &c]);
    c
}

/// Every file under `dir`, relative, sorted (empty when `dir` does not exist).
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Commit a site file at `bad` and publish: refused (exit 2) before anything is written, naming the site path
/// and the record.
fn refused_naming_the_record(site: &Site, bad: &str, record: &str) {
    site.write(
        &format!("public/{bad}"),
        "{\"format\": 1, \"planted\": true}",
    );
    site.commit("v2");
    let r = site.run(&[]).fails(2);
    assert!(
        r.stderr.contains(&format!("`{bad}`")),
        "{bad}: {}",
        r.stderr
    );
    assert!(r.stderr.contains(record), "{bad}: {}", r.stderr);
}

/// A site file at the deploy record's key, under it, or at its probe or a corrupt copy's key (finding 4):
/// refused before anything is written, naming the site path and the record, for `state` in the site's own
/// bucket and for a `file://` state inside the target directory; the record and the site stay as they were.
#[test]
fn finding_4_site_file_at_the_record_key_is_refused() {
    for bad in [
        "some/key.json",
        "some/key.json/index.html",
        "some/key.json.probe",
        "some/key.json.corrupt-20270101T000000Z",
    ] {
        let site = Site::new();
        small_blog(&site);
        let b = bucket("review3-state");
        site.config(&format!(
            "[source]\ndir = \"public\"\n[targets.production]\nurl = \"s3://{b}\"\nstate = \"s3://{b}/some/key.json\"\n"
        ));
        let good = site.commit("v1");
        site.run(&[]).ok();
        let before = objects(&b);
        assert!(before.contains_key("some/key.json"), "{before:?}");
        refused_naming_the_record(&site, bad, &format!("s3://{b}/some/key.json"));
        let after = objects(&b);
        assert_eq!(
            after.keys().collect::<Vec<_>>(),
            before.keys().collect::<Vec<_>>(),
            "{bad}"
        );
        assert_eq!(
            after["some/key.json"].body, before["some/key.json"].body,
            "{bad}"
        );
        let record: serde_json::Value =
            serde_json::from_slice(&after["some/key.json"].body).unwrap();
        assert_eq!(record["deployed"]["commit"], good.as_str(), "{bad}");
    }

    // A file:// state inside the target directory: the record, and the lock beside it.
    for bad in ["meta/site.json", "meta/lock"] {
        let site = Site::new();
        small_blog(&site);
        let out = site.tmp.path().join("www");
        std::fs::create_dir(&out).unwrap();
        site.config(&format!(
            "[source]\ndir = \"public\"\n[targets.local]\nurl = \"file://{0}\"\nstate = \"file://{0}/meta/site.json\"\n",
            out.display()
        ));
        site.commit("v1");
        site.run(&[]).ok();
        let record = std::fs::read(out.join("meta/site.json")).unwrap();
        refused_naming_the_record(
            &site,
            bad,
            &out.join("meta/site.json").display().to_string(),
        );
        assert_eq!(std::fs::read(out.join("meta/site.json")).unwrap(), record);
    }
}

/// A hostile tree published to a `file://` target (finding 6): names Windows reads as another directory, a
/// drive, a stream, a device or `.git`, and two names a case-insensitive or normalising filesystem takes for
/// one, are refused before anything is written, on every OS (this runs on Linux); nothing lands in or beside
/// the target directory.
#[test]
fn finding_6_windows_names_and_same_files_are_refused_on_a_directory_target() {
    let hostile: &[&[(&str, &str)]] = &[
        &[("index.html", "ok"), ("..\\..\\x.html", "escaped")],
        &[("index.html", "ok"), ("C:\\x.html", "drive")],
        &[
            ("index.html", "ok"),
            ("w\\.git\\config", "[core]\n\tfsmonitor = \"touch pwned\"\n"),
        ],
        &[("index.html", "ok"), ("x.html::$DATA", "stream")],
        &[("index.html", "ok"), ("nul.txt", "device")],
        &[("index.html", "ok"), ("posts/CON", "device")],
        &[("index.html", "ok"), ("v1./index.html", "trailing dot")],
        &[("index.html", "ok"), ("GIT~1/config", "8.3 alias")],
        &[("A.html", "upper"), ("a.html", "lower")],
        &[("caf\u{e9}.html", "nfc"), ("cafe\u{301}.html", "nfd")],
    ];
    for files in hostile {
        let site = Site::new();
        site.write("README.md", "x");
        site.commit("init");
        let out = site.tmp.path().join("www");
        site.config(&format!(
            "[source]\ndir = \"public\"\n[targets.local]\nurl = \"file://{}\"\n",
            out.display()
        ));
        commit_public(&site, files, "hostile");
        // Everything beside the repository's own .git, which git-publish reads and may note a failure in.
        let outside = || -> Vec<String> {
            (files_under(site.tmp.path()).into_iter())
                .filter(|p| !p.starts_with(".git/"))
                .collect()
        };
        let before = outside();
        let r = site.run(&[]).fails(2);
        assert!(r.stderr.contains("error"), "{files:?}: {}", r.stderr);
        assert!(!r.stderr.contains('\u{1b}'), "{files:?}");
        assert_eq!(files_under(&out), Vec::<String>::new(), "{files:?}");
        assert_eq!(outside(), before, "{files:?}: something was written");
    }
}

/// Open redirects (finding 9): `[[redirects]]` to `/\host` is a configuration error before anything runs, as
/// `//host` was.
#[test]
fn finding_9_a_redirect_to_backslash_host_is_refused() {
    for to in ["/\\\\evil.example/", "//evil.example/"] {
        let site = Site::new();
        small_blog(&site);
        let b = bucket("review3-redirect");
        site.config(&format!(
            "[source]\ndir = \"public\"\n[targets.production]\nurl = \"s3://{b}\"\n\n[[redirects]]\nfrom = \"/old/\"\nto = \"{to}\"\n"
        ));
        site.commit("v1");
        let r = site.run(&[]).fails(2);
        assert!(
            r.stderr.contains("neither `/` nor `\\`"),
            "{to}: {}",
            r.stderr
        );
        assert!(objects(&b).is_empty(), "{to}");
    }
}

/// Escape sequences from a site path or a record never reach the terminal (finding 10): the plan's redirect
/// line, `redirects`, `log` (publisher, commit subject, recorded error) and `status` show them quoted as git
/// quotes a path, and stdout and stderr hold no raw ESC byte.
#[test]
fn finding_10_escape_sequences_from_names_and_records_never_reach_the_terminal() {
    let esc = "\u{1b}]0;pwned\u{7}\u{1b}[2K";
    let site = Site::new();
    small_blog(&site);
    site.write(&format!("public/{esc}/index.html"), "<h1>moved page</h1>");
    let b = bucket("review3-esc");
    site.config(&format!(
        "[source]\ndir = \"public\"\n[targets.production]\nurl = \"s3://{b}\"\nredirect_renames = \"auto\"\n"
    ));
    site.commit(&format!("v1 {esc}"));
    let mut runs = vec![site.run(&["--color", "never"]).ok()];
    site.remove(&format!("public/{esc}/index.html"));
    site.write("public/moved/index.html", "<h1>moved page</h1>");
    site.commit("v2");
    runs.push(site.run(&["--dry-run", "--color", "never"]).ok());
    let plan = &runs[1].stdout;
    assert!(
        plan.contains("\"/\\033]0;pwned\\a\\033[2K/\" → /moved/"),
        "{plan}"
    );
    runs.push(site.run(&[]).ok());
    runs.push(site.run(&["redirects"]).ok());
    assert!(
        runs[3].stdout.contains("\\033]0;pwned"),
        "{}",
        runs[3].stdout
    );

    // A record written by someone else: a publisher and an error holding escape sequences.
    let mut st = state_json(&b, "");
    st["history"][0]["by"] = format!("Mallory{esc}").into();
    st["deployed"]["by"] = format!("Mallory{esc}").into();
    st["pending"] = serde_json::json!({
        "commit": format!("{esc}deadbeef"),
        "tree": "0000000000000000000000000000000000000000",
        "base": null,
        "started": format!("2027-01-01T00:00:00Z{esc}"),
        "error": format!("upload failed{esc}"),
    });
    put_state(&b, serde_json::to_string(&st).unwrap().as_bytes());
    runs.push(site.run(&["log"]).ok());
    let log = &runs.last().unwrap().stdout;
    assert!(
        log.contains("by \"Mallory\\033]0;pwned\\a\\033[2K\""),
        "{log}"
    );
    assert!(log.contains("(\"upload failed\\033]0;pwned"), "{log}");
    assert!(
        log.contains("v1 \\033]0;pwned") || log.contains("\"v1 \\033]0;pwned"),
        "{log}"
    );
    runs.push(site.run(&["status"]).ok());
    for r in &runs {
        assert!(
            !r.stdout.contains('\u{1b}'),
            "raw ESC on stdout:\n{}",
            r.stdout
        );
        assert!(
            !r.stderr.contains('\u{1b}'),
            "raw ESC on stderr:\n{}",
            r.stderr
        );
        assert!(!r.stdout.contains('\u{7}') && !r.stderr.contains('\u{7}'));
    }
}
