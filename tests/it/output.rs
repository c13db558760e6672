//! What scripts and people see: the `--json` documents (snapshots, normalised for commit ids, temp paths and
//! times) and the progress lines on a non-terminal.

use serde_json::Value;

use crate::util::*;

/// A site publishing to a local directory (no AWS), with two commits: the first publish, then a new post,
/// an edited page and a removed one.
struct Local {
    site: Site,
    out: std::path::PathBuf,
}

fn local_site() -> Local {
    let site = Site::new();
    let out = site.tmp.path().join("www");
    small_blog(&site);
    site.config(&format!(
        "[source]\ndir = \"public\"\n[targets.local]\nurl = \"file://{}\"\n",
        out.display()
    ));
    Local { site, out }
}

/// Replace what differs between runs: commit ids (by their order of appearance), the temp path, times and
/// the month (the date the test runs on must never matter), the user and host.
fn normalise(v: &Value, l: &Local, commits: &[(&str, &str)]) -> Value {
    let mut text = serde_json::to_string(v).unwrap();
    for (id, name) in commits {
        text = text.replace(id, name);
    }
    text = text.replace(&l.out.display().to_string(), "[dir]");
    text = text.replace(&l.site.dir.display().to_string(), "[repo]");
    let mut v: Value = serde_json::from_str(&text).unwrap();
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    match k.as_str() {
                        "elapsed_ms" | "plan_ms" => *x = Value::from(0),
                        "at" | "since" | "started" if x.is_string() => *x = Value::from("[time]"),
                        "since_unix" if x.is_number() => *x = Value::from(0),
                        "invalidation_month" if x.is_string() => *x = Value::from("[month]"),
                        "by" if x.is_string() => *x = Value::from("[user@host]"),
                        "tree" if x.is_string() => *x = Value::from("[tree]"),
                        _ => walk(x),
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

#[test]
fn json_of_publish_dry_run_and_status() {
    let l = local_site();
    let c1 = l.site.commit("first");
    let first = l.site.run(&["--json"]).ok().json();
    let names = [(c1.as_str(), "[commit-1]")];
    insta::assert_json_snapshot!("publish_first", normalise(&first, &l, &names));

    l.site
        .write("public/posts/c/index.html", "<h1>C</h1>")
        .write("public/index.html", "<h1>Home</h1><a href=/posts/c/>c</a>")
        .remove("public/posts/b/index.html");
    let c2 = l.site.commit("new post");
    let names = [(c1.as_str(), "[commit-1]"), (c2.as_str(), "[commit-2]")];

    let planned = l.site.run(&["--dry-run", "--json"]).ok().json();
    insta::assert_json_snapshot!("publish_dry_run", normalise(&planned, &l, &names));
    let second = l.site.run(&["--json"]).ok().json();
    insta::assert_json_snapshot!("publish_second", normalise(&second, &l, &names));
    let again = l.site.run(&["--json"]).ok().json();
    insta::assert_json_snapshot!("publish_nothing_to_do", normalise(&again, &l, &names));

    let status = l.site.run(&["status", "--json"]).ok().json();
    insta::assert_json_snapshot!("status", normalise(&status, &l, &names));
}

#[test]
fn json_is_the_only_thing_on_stdout() {
    let l = local_site();
    l.site.commit("first");
    let r = l.site.run(&["--json"]).ok();
    // One document, nothing before or after it; the notes went to stderr.
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert!(v.is_object());
    assert!(r.stdout.trim_start().starts_with('{'));
    assert!(r.stdout.trim_end().ends_with('}'));
}

#[test]
fn progress_on_a_non_terminal_is_one_line_per_phase_and_quiet_is_silent() {
    let l = local_site();
    // 150 pages: enough for the 10% lines.
    for i in 0..150 {
        l.site.write(
            &format!("public/posts/p{i}/index.html"),
            format!("<h1>{i}</h1>"),
        );
    }
    l.site.commit("many pages");
    let r = l.site.run(&[]).ok();
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(
        lines.contains(&"git-publish: uploading assets: 3 files (20 B)"),
        "{}",
        r.stderr
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("git-publish: uploading pages: 153 files (")),
        "{}",
        r.stderr
    );
    // One line per 10% (the README's words): 10% to 90%, each once, in order (100% is the summary's). A
    // line every 10 s may come between them on a slow machine; none of them is a new tenth.
    let tenths: Vec<usize> = (lines.iter())
        .filter_map(|l| l.strip_prefix("git-publish: uploading pages: "))
        .filter_map(|l| l.split_once(" (")?.1.split_once("%)"))
        .map(|(pct, _)| pct.parse::<usize>().unwrap() / 10)
        .collect();
    let mut seen = tenths.clone();
    seen.dedup();
    assert_eq!(seen, (1..=9).collect::<Vec<_>>(), "{}", r.stderr);
    // Never a line per file.
    assert!(!r.stderr.contains("posts/p1/"), "{}", r.stderr);
    assert!(
        lines.last().unwrap().starts_with("git-publish: published "),
        "{}",
        r.stderr
    );
    assert!(
        lines.last().unwrap().contains("uploaded 156 files"),
        "{}",
        r.stderr
    );
    // The plan was long: only its summary on stdout.
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);

    l.site.write("public/feed.xml", "<rss>2</rss>");
    l.site.commit("feed");
    let q = l.site.run(&["-q"]).ok();
    assert_eq!(q.stderr, "");
    assert_eq!(q.stdout, "");
}

#[test]
fn colour_follows_the_flag_and_no_color() {
    let l = local_site();
    l.site.commit("first");
    // NO_COLOR is set by the rig: plain, even with a plan.
    let plain = l.site.run(&["--dry-run"]).ok();
    assert!(!plain.stdout.contains('\x1b'), "{}", plain.stdout);
    let coloured = l.site.run(&["--dry-run", "--color", "always"]).ok();
    assert!(
        coloured.stdout.contains("\x1b[32m+\x1b[0m index.html"),
        "{}",
        coloured.stdout
    );
    let never = l.site.run(&["--dry-run", "--color", "never"]).ok();
    assert!(!never.stdout.contains('\x1b'));
}
