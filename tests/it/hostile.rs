//! Hostile input (RELIABILITY.md, "Hostile input"): crafted trees, corrupt state, type changes. Each test pins a
//! finding of an adversarial review and fails on the code before its fix.

use std::process::{Command, Stdio};

use crate::util::*;

/// A site on a `file://` target and one on S3, each with the small blog published once.
fn local(site: &Site) -> std::path::PathBuf {
    let out = site.tmp.path().join("www");
    site.config(&format!(
        "[source]\ndir = \"public\"\n[targets.local]\nurl = \"file://{}\"\n",
        out.display()
    ));
    out
}

fn s3_site(site: &Site, name: &str) -> String {
    let b = bucket(name);
    site.config(SiteToml::s3(&b));
    b
}

/// Commit HEAD's tree with `public/` replaced by `public_tree` (git refuses to add such names itself, so the
/// trees are written directly). Returns the commit id.
fn commit_public_tree(site: &Site, public_tree: &str, msg: &str) -> String {
    let mut root = site.git(&["ls-tree", "HEAD"]);
    root = root
        .lines()
        .filter(|l| !l.ends_with("\tpublic"))
        .map(|l| format!("{l}\n"))
        .collect();
    root.push_str(&format!("040000 tree {public_tree}\tpublic\n"));
    let root = site.git_input(&["mktree"], &root);
    let c = site.git(&["commit-tree", &root, "-p", "HEAD", "-m", msg]);
    site.git(&["update-ref", "HEAD", &c]);
    c
}

/// HEAD's `public/` listing plus a directory `name` holding a git repository's files (`config` with an
/// fsmonitor command, `HEAD`).
fn plant_dir(site: &Site, name: &str) -> String {
    let config = site.git_input(
        &["hash-object", "-w", "--stdin"],
        b"[core]\n\tfsmonitor = \"touch /tmp/git-publish-pwned\"\n",
    );
    let head = site.git_input(&["hash-object", "-w", "--stdin"], b"ref: refs/heads/main\n");
    let inner = site.git_input(
        &["mktree"],
        format!("100644 blob {config}\tconfig\n100644 blob {head}\tHEAD\n"),
    );
    let mut public = site.git(&["ls-tree", "HEAD:public"]);
    public.push_str(&format!("\n040000 tree {inner}\t{name}\n"));
    let public = site.git_input(&["mktree"], &public);
    commit_public_tree(site, &public, &format!("plant {name}"))
}

#[test]
fn a_planted_git_directory_is_refused_before_anything_is_written() {
    for (n, name) in [".git", ".GIT", "git~1", ".g\u{200c}it", ".git."]
        .into_iter()
        .enumerate()
    {
        // file:// target: a first publish with the planted directory writes nothing at all.
        let site = Site::new();
        small_blog(&site);
        let out = local(&site);
        site.commit("v1");
        plant_dir(&site, name);
        let r = site.run(&[]).fails(2);
        // Shown as git quotes it: the invisible U+200C as its octal bytes.
        let shown = name.replace('\u{200c}', "\\342\\200\\214");
        assert!(r.stderr.contains(&shown), "{name:?}: {}", r.stderr);
        assert!(r.stderr.contains(".git"), "{name:?}: {}", r.stderr);
        assert!(
            !out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(),
            "{name:?}: wrote {out:?}"
        );

        // S3, after a good first publish: the bad publish uploads nothing and leaves the state as it was.
        let site = Site::new();
        small_blog(&site);
        let b = s3_site(&site, &format!("plant{n}"));
        let good = site.commit("v1");
        site.run(&[]).ok();
        let before = objects(&b);
        site.write("public/feed.xml", "<rss>2</rss>");
        site.commit("v2");
        plant_dir(&site, name);
        site.run(&[]).fails(2);
        assert_eq!(objects(&b).len(), before.len(), "{name:?}");
        assert_eq!(state_json(&b, "")["deployed"]["commit"], good.as_str());
    }
}

#[test]
fn the_reserved_directory_is_refused_at_any_depth_and_in_any_case() {
    for name in [".Git-Publish", ".GIT-PUBLISH"] {
        let site = Site::new();
        small_blog(&site);
        let out = local(&site);
        site.commit("v1");
        plant_dir(&site, name);
        let r = site.run(&[]).fails(2);
        assert!(r.stderr.contains(".git-publish"), "{name:?}: {}", r.stderr);
        assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none());
    }
    // A nested target's record: `blog/.git-publish/state.json` in the site of a target at the bucket's root.
    let site = Site::new();
    small_blog(&site);
    site.write("public/blog/.git-publish/state.json", "{\"format\": 1}");
    let out = local(&site);
    site.commit("v1");
    let r = site.run(&[]).fails(2);
    assert!(r.stderr.contains("blog/.git-publish"), "{}", r.stderr);
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none());
}

/// `x` a file, then a directory `x/` (and the reverse): the plan deletes the old path before it writes the new
/// one, on a local directory (where both can't exist) and on S3 (where they can, but `x` must still go).
#[test]
fn replacing_a_file_with_a_directory_and_back_publishes() {
    let site = Site::new();
    small_blog(&site);
    site.write("public/x", "file x")
        .write("public/y/index.html", "dir y");
    let out = local(&site);
    site.commit("v1");
    site.run(&[]).ok();

    site.remove("public/x")
        .write("public/x/index.html", "dir x");
    site.remove("public/y/index.html");
    std::fs::remove_dir(site.path("public/y")).unwrap();
    site.write("public/y", "file y");
    site.commit("v2");
    site.run(&[]).ok();
    assert_eq!(std::fs::read(out.join("x/index.html")).unwrap(), b"dir x");
    assert_eq!(std::fs::read(out.join("y")).unwrap(), b"file y");
    // and back
    site.remove("public/x/index.html");
    std::fs::remove_dir(site.path("public/x")).unwrap();
    site.write("public/x", "file x again");
    site.remove("public/y")
        .write("public/y/index.html", "dir y again");
    site.commit("v3");
    site.run(&[]).ok();
    assert_eq!(std::fs::read(out.join("x")).unwrap(), b"file x again");
    assert_eq!(
        std::fs::read(out.join("y/index.html")).unwrap(),
        b"dir y again"
    );
    // --full over the same tree is still fine
    site.run(&["--full"]).ok();

    let site = Site::new();
    small_blog(&site);
    site.write("public/x", "file x");
    let b = s3_site(&site, "typechange");
    site.commit("v1");
    site.run(&[]).ok();
    site.remove("public/x")
        .write("public/x/index.html", "dir x");
    site.commit("v2");
    site.run(&[]).ok();
    let objs = site_objects(&b);
    assert!(
        !objs.contains_key("x"),
        "the old file x must be deleted on S3 too"
    );
    assert_eq!(objs["x/index.html"].body, b"dir x");
}

/// A state object that isn't a record (`[]`, `null`, `{}`, not JSON) stops publishes with a hint, `status`
/// says so with a non-zero exit, and `--full` / `--since` replace it once told to (`--force-state`), keeping
/// the unreadable bytes beside it.
#[test]
fn a_corrupt_state_is_reported_and_replaced_with_the_tool_itself() {
    for (n, bad) in [&b"[]"[..], b"null", b"{}", b"{not json"]
        .into_iter()
        .enumerate()
    {
        let site = Site::new();
        small_blog(&site);
        let b = s3_site(&site, &format!("corrupt{n}"));
        let c1 = site.commit("v1");
        site.run(&[]).ok();
        put_state(&b, bad);
        let shown = String::from_utf8_lossy(bad).to_string();

        let r = site.run(&["status"]);
        assert_ne!(r.code, 0, "{shown}: status must fail: {}", r.stdout);
        assert!(r.stderr.contains("state.json"), "{shown}: {}", r.stderr);
        assert!(!r.stdout.contains("up to date"), "{shown}: {}", r.stdout);

        let r = site.run(&[]).fails(1);
        assert!(r.stderr.contains("--force-state"), "{shown}: {}", r.stderr);
        // Without a terminal and without --force-state, --full refuses too, and changes nothing.
        let r = site.run(&["--full"]).fails(1);
        assert!(r.stderr.contains("--force-state"), "{shown}: {}", r.stderr);

        let flags: &[&str] = if n % 2 == 0 {
            &["--full", "--force-state"]
        } else {
            &["--since", &c1, "--force-state"]
        };
        let r = site.run(flags).ok();
        assert!(
            r.stderr.contains("state.json.corrupt-"),
            "{shown}: {}",
            r.stderr
        );
        assert_eq!(state_json(&b, "")["deployed"]["commit"], c1.as_str());
        let kept: Vec<_> = objects(&b)
            .into_iter()
            .filter(|(k, _)| k.starts_with(".git-publish/state.json.corrupt-"))
            .collect();
        assert_eq!(kept.len(), 1, "{shown}");
        assert_eq!(kept[0].1.body, bad);
        site.run(&["status"]).ok();
        site.run(&["log"]).ok();
    }
}

/// Raw tree bytes: entries in the order given (git requires them sorted by name).
fn raw_tree(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, id) in entries {
        out.extend_from_slice(format!("100644 {name}\0").as_bytes());
        out.extend_from_slice(&hex::decode(id).unwrap());
    }
    out
}

#[test]
fn an_unsorted_or_duplicated_tree_is_refused_as_corrupt_and_nothing_is_deleted() {
    for (n, order) in [["b.html", "a.html"], ["a.html", "a.html"]]
        .into_iter()
        .enumerate()
    {
        let site = Site::new();
        site.write("public/a.html", "A").write("public/b.html", "B");
        let b = s3_site(&site, &format!("unsorted{n}"));
        let good = site.commit("v1");
        site.run(&[]).ok();
        let blob = site.git(&["rev-parse", "HEAD:public/a.html"]);
        let tree = site.git_input(
            &["hash-object", "-t", "tree", "-w", "--literally", "--stdin"],
            raw_tree(&[(order[0], &blob), (order[1], &blob)]),
        );
        commit_public_tree(&site, &tree, "crafted");
        let r = site.run(&[]).fails(2);
        assert!(r.stderr.contains("corrupt tree"), "{}", r.stderr);
        assert!(r.stderr.contains("git fsck"), "{}", r.stderr);
        assert_eq!(site_objects(&b).len(), 2, "nothing deleted");
        assert_eq!(state_json(&b, "")["deployed"]["commit"], good.as_str());
    }
}

/// `git publish 2>&1 | head -2`: writes to a closed stdout or stderr never abort a publish half-way (which
/// left a claim that blocked every other host for the lease).
#[test]
fn closed_output_pipes_never_abort_a_publish_or_leave_a_claim() {
    let site = Site::new();
    small_blog(&site);
    for i in 0..150 {
        site.write(
            &format!("public/posts/p{i}/index.html"),
            format!("<h1>{i}</h1>"),
        );
    }
    let b = s3_site(&site, "closedpipe");
    let c = site.commit("v1");
    let mut cmd = Command::new(bin());
    site.env(&mut cmd);
    let mut child = cmd
        .current_dir(&site.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
    let st = state_json(&b, "");
    assert_eq!(st["deployed"]["commit"], c.as_str());
    assert!(st["pending"].is_null(), "{st}");
}

/// Files written to a `file://` target follow the umask (0644 under 022, not 0600) and keep git's executable bit.
#[test]
fn local_files_honour_the_umask_and_the_executable_bit() {
    use std::os::unix::fs::PermissionsExt;
    let site = Site::new();
    small_blog(&site);
    site.write("public/bin/run.sh", "#!/bin/sh\necho hi\n");
    std::fs::set_permissions(
        site.path("public/bin/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let out = local(&site);
    site.commit("v1");
    let mut cmd = Command::new("sh");
    site.env(&mut cmd);
    let r = Run::from(
        cmd.args(["-c", "umask 022 && exec \"$0\"", &bin()])
            .current_dir(&site.dir)
            .output()
            .unwrap(),
    )
    .ok();
    let mode = |p: &str| std::fs::metadata(out.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("index.html"), 0o644, "{}", r.stderr);
    assert_eq!(mode("bin/run.sh"), 0o755);
}

/// A kill -9 during a `file://` publish leaves `.git-publish-tmp-*` files and a claim by a process that is
/// gone; the next publish takes the claim over, resumes, and removes them.
#[test]
fn temp_files_left_by_a_killed_local_publish_are_removed_by_the_next() {
    let site = Site::new();
    small_blog(&site);
    let out = local(&site);
    site.commit("v1");
    site.run(&[]).ok();
    site.write("public/feed.xml", "<rss>2</rss>");
    let c2 = site.commit("v2");
    // What kill -9 leaves: temp files, and the claim of a process that no longer exists, on this host.
    std::fs::write(out.join(".git-publish-tmp-AbC123"), vec![0u8; 4096]).unwrap();
    std::fs::write(out.join("posts/a/.git-publish-tmp-x9"), b"half a page").unwrap();
    let state_path = out.join(".git-publish/state.json");
    let mut st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    st["pending"] = serde_json::json!({
        "commit": c2, "tree": "2222222222222222222222222222222222222222", "base": null,
        "started": "2026-01-01T00:00:00Z",
        "holder": {"host": host, "pid": 0x3fff_fff0u32, "user": "me", "since": "2026-01-01T00:00:00Z", "since_unix": 0}
    });
    std::fs::write(&state_path, serde_json::to_vec(&st).unwrap()).unwrap();
    let r = site.run(&[]).ok();
    assert!(r.stderr.contains("temporary file"), "{}", r.stderr);
    assert!(!out.join(".git-publish-tmp-AbC123").exists());
    assert!(!out.join("posts/a/.git-publish-tmp-x9").exists());
    assert_eq!(
        std::fs::read(out.join("feed.xml")).unwrap(),
        b"<rss>2</rss>"
    );
}

#[test]
fn an_endpoint_with_a_password_is_refused_and_the_password_never_printed() {
    let site = Site::new();
    small_blog(&site);
    site.config(
        "[source]\ndir = \"public\"\n[targets.production]\nurl = \"s3://bucket\"\nendpoint = \"https://user:s3cr3tpass@127.0.0.1:9\"\n",
    );
    site.commit("v1");
    let r = site.run(&["--dry-run"]).fails(2);
    assert!(!r.stderr.contains("s3cr3tpass"), "{}", r.stderr);
    assert!(!r.stdout.contains("s3cr3tpass"), "{}", r.stdout);
    assert!(r.stderr.contains("endpoint"), "{}", r.stderr);
}

/// A file name can't fake a plan line: control characters and escape sequences are quoted as `git diff` does.
#[test]
fn names_with_control_characters_are_quoted_in_the_plan() {
    let site = Site::new();
    small_blog(&site);
    site.write("public/a\n+ evil.html", "x");
    site.write("public/b\u{1b}[2Kc.html", "y");
    // S3: a directory target refuses control characters in names outright (Windows does).
    s3_site(&site, "ctlnames");
    site.commit("v1");
    let r = site.run(&["--dry-run", "--color", "never"]).ok();
    assert!(
        !r.stdout.lines().any(|l| l == "+ evil.html"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains('\u{1b}'), "{:?}", r.stdout);
    assert!(r.stdout.contains("\"a\\n+ evil.html\""), "{}", r.stdout);
}

/// Keys over S3's 1,024-byte limit are refused before anything is written; a `*` inside a name is invalidated
/// as its exact, encoded path (a raw `*` would be a wildcard or truncate the path).
#[test]
fn keys_s3_would_refuse_are_caught_before_anything_is_written() {
    let site = Site::new();
    small_blog(&site);
    let long = (0..5)
        .map(|i| format!("{i}{}", "d".repeat(240)))
        .collect::<Vec<_>>()
        .join("/");
    site.write(&format!("public/{long}/index.html"), "deep");
    let b = s3_site(&site, "longkey");
    site.commit("v1");
    let r = site.run(&[]).fails(2);
    assert!(
        r.stderr.contains("1024") || r.stderr.contains("1,024"),
        "{}",
        r.stderr
    );
    assert!(site_objects(&b).is_empty());

    let site = Site::new();
    small_blog(&site);
    let b = bucket("star");
    let d = distribution(&b);
    site.config(SiteToml::s3(&b).distribution(&d));
    // The file exists before, and changes: a new file is never invalidated, so only a changed one makes the
    // planner write a path with the `*` in it, which must end there (CloudFront takes a `*` as a wildcard, and
    // refuses one mid-path).
    site.write("public/a*b.html", "star");
    site.commit("v1");
    site.run(&[]).ok();
    site.write("public/a*b.html", "star, edited");
    site.commit("v2");
    site.run(&[]).ok();
    assert_eq!(invalidations(&d), [["/a*"]]);
}

#[test]
fn secret_looking_metadata_is_refused() {
    for meta in [
        "metadata = { password = \"hunter2\" }",
        "metadata = { note = \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\" }",
    ] {
        let site = Site::new();
        small_blog(&site);
        site.config(&format!(
            "[source]\ndir = \"public\"\n[targets.production]\nurl = \"s3://bucket\"\n\n[[rules]]\nmatch = \"**\"\n{meta}\n"
        ));
        site.commit("v1");
        let r = site.run(&["--dry-run"]).fails(2);
        assert!(
            r.stderr.contains("metadata") || r.stderr.contains("secret"),
            "{meta}: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("hunter2") && !r.stderr.contains("wJalrXUtnFEMI"),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn a_claim_lease_under_a_minute_is_refused() {
    let site = Site::new();
    small_blog(&site);
    site.config("[source]\ndir = \"public\"\n[targets.production]\nurl = \"s3://bucket\"\nclaim_lease = \"0s\"\n");
    site.commit("v1");
    let r = site.run(&["--dry-run"]).fails(2);
    assert!(r.stderr.contains("claim_lease"), "{}", r.stderr);
}

/// `build_command` runs without the AWS credentials of the publisher (unless `build_env = "inherit"`).
#[test]
fn the_build_command_does_not_see_aws_credentials() {
    let site = Site::new();
    let out = site.tmp.path().join("www");
    site.write("src.md", "# hi");
    site.config(&format!(
        "[source]\nbuild_command = \"mkdir -p out && env > out/env.txt && echo '<h1>x</h1>' > out/index.html\"\nbuild_dir = \"out\"\n[targets.local]\nurl = \"file://{}\"\n",
        out.display()
    ));
    site.write(".gitignore", "out/\n");
    site.commit("v1");
    site.run_with(&[], &[("AWS_SESSION_TOKEN", "tok-secret-123")])
        .ok();
    let env = std::fs::read_to_string(out.join("env.txt")).unwrap();
    assert!(!env.contains("AWS_SECRET_ACCESS_KEY"), "{env}");
    assert!(!env.contains("tok-secret-123"), "{env}");
    assert!(env.contains("PATH="), "{env}");
}

/// The plain-http guard holds whatever set the endpoint: an AWS config profile's `endpoint_url` too.
#[test]
fn plain_http_from_an_aws_profile_is_refused_like_site_toml() {
    let site = Site::new();
    small_blog(&site);
    let aws_config = site.tmp.path().join("aws-config");
    std::fs::write(
        &aws_config,
        "[profile blog]\nregion = us-east-1\nendpoint_url = http://s3.example.com\n",
    )
    .unwrap();
    site.config(
        "[source]\ndir = \"public\"\n[targets.production]\nurl = \"s3://bucket\"\nprofile = \"blog\"\n",
    );
    site.commit("v1");
    let mut cmd = Command::new(bin());
    site.env(&mut cmd);
    let r = Run::from(
        cmd.env_remove("AWS_ENDPOINT_URL")
            .env("AWS_CONFIG_FILE", &aws_config)
            .args(["--dry-run"])
            .current_dir(&site.dir)
            .output()
            .unwrap(),
    )
    .fails(2);
    assert!(r.stderr.contains("http://s3.example.com"), "{}", r.stderr);
    assert!(r.stderr.contains("allow_http"), "{}", r.stderr);
}

/// Runs a command in a child of its own and writes the child's peak resident memory (KiB, `wait4`'s rusage)
/// to the file named first. The child is forked from this small process: a child spawned by the test process
/// itself would report the test process's memory as its own peak when that is larger (the kernel keeps the
/// largest of the old and new address space at exec).
const MAXRSS: &str = r#"
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"#;

/// `args` in the site, with git-publish's peak resident memory in KiB (see [`MAXRSS`]).
fn run_measuring_memory(site: &Site, args: &[&str]) -> (Run, i64) {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let out = site.tmp.path().join("maxrss");
    let mut cmd = Command::new(&python);
    site.env(&mut cmd);
    cmd.args(["-c", MAXRSS])
        .arg(&out)
        .arg(crate::util::bin())
        .args(args)
        .current_dir(&site.dir)
        .stdin(Stdio::null());
    let run = Run::from(cmd.output().unwrap());
    let kib = std::fs::read_to_string(&out)
        .unwrap_or_else(|e| panic!("{} (python at {}): {e}", run.stderr, python.display()))
        .parse()
        .unwrap();
    (run, kib)
}

fn is_state_get(a: &crate::proxy::Asked) -> bool {
    a.method == "GET" && a.path.contains("/.git-publish/state.json")
}

/// A state object far larger than any record is not read whole (a 62 MB one took 354 MB of memory): the size
/// is checked before the body is read. On S3 the proxy answers the record's GET with a 1 GiB body and counts
/// what the client took; in a directory, the peak memory of a run over a 17 MiB record is that of a run over
/// a small one.
#[test]
fn a_huge_state_object_is_refused_without_reading_it() {
    const GIB: u64 = 1 << 30;
    let site = Site::new();
    small_blog(&site);
    let out = local(&site);
    site.commit("v1");
    site.run(&[]).ok();
    let (_, small) = run_measuring_memory(&site, &["status"]);
    let state = out.join(".git-publish/state.json");
    let f = std::fs::OpenOptions::new()
        .append(true)
        .open(&state)
        .unwrap();
    f.set_len(17 << 20).unwrap();
    let (r, huge) = run_measuring_memory(&site, &["status"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        huge < small + (8 << 10),
        "peak memory {huge} KiB over a 17 MiB record, {small} KiB over a small one: the record was read"
    );
    let r = site.run(&["--dry-run"]).fails(1);
    assert!(r.stderr.contains("16 MiB"), "{}", r.stderr);

    let site = Site::new();
    small_blog(&site);
    s3_site(&site, "huge-get");
    site.commit("v1");
    let proxy = crate::proxy::Proxy::start(
        &moto().endpoint,
        crate::proxy::Config {
            endless: Some((is_state_get, GIB)),
            ..Default::default()
        },
    );
    let env = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    for args in [&["status"][..], &["--dry-run"]] {
        let r = site.run_with(args, &env);
        assert_ne!(r.code, 0, "{args:?}: {}", r.stdout);
        assert!(r.stderr.contains("16 MiB"), "{args:?}: {}", r.stderr);
    }
    // The proxy logs an answer once the client has closed the connection.
    let answered = |p: &crate::proxy::Proxy| p.requests().iter().filter(|r| r.sent > 0).count();
    for _ in 0..600 {
        if answered(&proxy) == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let taken: Vec<u64> = (proxy.requests().iter())
        .filter(|r| r.sent > 0)
        .map(|r| r.sent)
        .collect();
    assert_eq!(taken.len(), 2, "{:?}", proxy.requests());
    // What the sockets buffer (a few MiB on loopback) is all that leaves the proxy before the client hangs up.
    assert!(
        taken.iter().all(|&n| n < 64 << 20),
        "bytes of the 1 GiB record the client took: {taken:?}"
    );
    eprintln!(
        "huge record: directory: peak memory {huge} KiB (small record: {small} KiB); S3: bytes of 1 GiB taken: {taken:?}"
    );
}

/// A state object over the 16 MiB cap is unreadable like a corrupt one, and replaced the same way: `--since REV
/// --force-state` / `--full --force-state` keep it as `state.json.corrupt-<time>` by a copy made in the store
/// (CopyObject; a streamed file copy locally), never read into memory, and replace it with `If-Match` on its
/// ETag. Before, the capped read kept no ETag, so `--force-state` failed with the same error.
#[test]
fn a_huge_state_object_is_replaced_with_force_state_like_a_corrupt_one() {
    const HUGE: u64 = 17 << 20;
    let corrupt_copies = |names: Vec<String>| -> Vec<String> {
        (names.into_iter())
            .filter(|k| k.contains(".git-publish/state.json.corrupt-"))
            .collect()
    };

    // file://
    let site = Site::new();
    small_blog(&site);
    let out = local(&site);
    let c1 = site.commit("v1");
    site.run(&[]).ok();
    let state = out.join(".git-publish/state.json");
    let (_, small) = run_measuring_memory(&site, &["--since", &c1, "--force-state"]);
    let f = std::fs::OpenOptions::new()
        .append(true)
        .open(&state)
        .unwrap();
    f.set_len(HUGE).unwrap();
    let r = site.run(&["--full"]).fails(1);
    assert!(r.stderr.contains("--force-state"), "{}", r.stderr);
    // Kept aside by a streamed copy: the peak memory is that of the same run over a small record.
    let (r, huge) = run_measuring_memory(&site, &["--since", &c1, "--force-state"]);
    let r = r.ok();
    assert!(r.stderr.contains("state.json.corrupt-"), "{}", r.stderr);
    assert!(
        huge < small + (8 << 10),
        "peak memory {huge} KiB keeping a 17 MiB record aside, {small} KiB with a small one"
    );
    let names = (std::fs::read_dir(out.join(".git-publish")).unwrap())
        .map(|e| format!(".git-publish/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    let kept = corrupt_copies(names);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::metadata(out.join(&kept[0])).unwrap().len(), HUGE);
    let st: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(st["deployed"]["commit"], c1.as_str());
    site.run(&["status"]).ok();

    // S3
    let site = Site::new();
    small_blog(&site);
    let b = s3_site(&site, "huge");
    let c1 = site.commit("v1");
    site.run(&[]).ok();
    let mut huge = b"{not json".to_vec();
    huge.resize(HUGE as usize, b' ');
    put_state(&b, &huge);
    assert_ne!(site.run(&["status"]).code, 0);
    let r = site.run(&["--full"]).fails(1);
    assert!(r.stderr.contains("--force-state"), "{}", r.stderr);
    let proxy = crate::proxy::Proxy::start(&moto().endpoint, Default::default());
    let r = site
        .run_with(
            &["--full", "--force-state"],
            &[("AWS_ENDPOINT_URL", &proxy.endpoint)],
        )
        .ok();
    assert!(r.stderr.contains("state.json.corrupt-"), "{}", r.stderr);
    // Never read: each GET of the record took what the sockets buffer, and the copy is S3's (CopyObject).
    let log = proxy.requests();
    let reads: Vec<u64> = (log.iter())
        .filter(|q| q.method == "GET" && q.path.contains("/.git-publish/state.json"))
        .map(|q| q.sent)
        .collect();
    assert!(
        !reads.is_empty() && reads.iter().all(|&n| n < 8 << 20),
        "bytes of the 17 MiB record taken by each read: {reads:?}"
    );
    let kept: Vec<&crate::proxy::Logged> = (log.iter())
        .filter(|q| q.method == "PUT" && q.path.contains("state.json.corrupt-"))
        .collect();
    assert!(
        kept.len() == 1
            && (kept[0].head.to_ascii_lowercase()).contains("x-amz-copy-source:")
            && kept[0].body.is_empty(),
        "{kept:?}"
    );
    let objs = objects(&b);
    let kept = corrupt_copies(objs.keys().cloned().collect());
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(
        objs[&kept[0]].body == huge,
        "the kept copy is the huge object"
    );
    assert_eq!(state_json(&b, "")["deployed"]["commit"], c1.as_str());
    site.run(&["status"]).ok();
}
