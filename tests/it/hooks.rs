//! Publish on push: the installed hooks and `git publish push`, with real `git` pushing to local bare
//! repositories and a local-directory target. Every test asserts how many times publish ran and with which
//! commit, from the target's state history (one entry per publish).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::*;

/// A site repository with a bare remote `origin` and a local-directory target.
struct Pushed {
    site: Site,
    remote: PathBuf,
    out: PathBuf,
}

impl Pushed {
    /// The site with its first commit (not pushed), hooks not installed.
    fn new() -> Pushed {
        let site = Site::new();
        let remote = site.tmp.path().join("remote.git");
        let out = site.tmp.path().join("out");
        site.git(&["init", "-q", "--bare", remote.to_str().unwrap()]);
        site.git(&["remote", "add", "origin", remote.to_str().unwrap()]);
        site.write("public/index.html", "<h1>v1</h1>")
            .config(&format!(
                "[source]\ndir = \"public\"\n[targets.local]\nurl = \"file://{}\"\n",
                out.display()
            ));
        site.commit("v1");
        Pushed { site, remote, out }
    }

    fn installed(args: &[&str]) -> Pushed {
        let p = Pushed::new();
        let mut a = vec!["install"];
        a.extend_from_slice(args);
        p.site.run(&a).ok();
        p
    }

    /// Commits published so far, oldest first (the target's history; one entry per publish).
    fn published(&self) -> Vec<String> {
        let Ok(bytes) = std::fs::read(self.out.join(".git-publish/state.json")) else {
            return vec![];
        };
        let st: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let mut v: Vec<String> = st["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["commit"].as_str().unwrap().to_string())
            .collect();
        v.reverse();
        v
    }

    /// A new commit on the current branch.
    fn change(&self, body: &str) -> String {
        self.site.write("public/index.html", body);
        self.site.commit(body)
    }

    /// Run `program args` in `dir` with the rig's environment, whatever the result.
    fn exec_in(&self, program: &str, dir: &Path, args: &[&str]) -> Run {
        let mut cmd = Command::new(program);
        self.site.env(&mut cmd);
        Run::from(
            cmd.args(args)
                .current_dir(dir)
                .stdin(Stdio::null())
                .output()
                .unwrap(),
        )
    }

    fn git_in(&self, dir: &Path, args: &[&str]) -> Run {
        self.exec_in(&self.site.git, dir, args)
    }

    /// Run git in the site and return the result, whatever it is.
    fn git(&self, args: &[&str]) -> Run {
        self.git_in(&self.site.dir, args)
    }

    fn remote_ref(&self, name: &str) -> Option<String> {
        let r = self.git(&[
            "--git-dir",
            self.remote.to_str().unwrap(),
            "rev-parse",
            "--verify",
            "-q",
            name,
        ]);
        (r.code == 0).then(|| r.stdout.trim().to_string())
    }

    fn hooks(&self) -> PathBuf {
        self.site.path(".git/hooks")
    }

    /// A second clone of the remote that pushes behind our back.
    fn other_clone(&self) -> PathBuf {
        let dir = self.site.tmp.path().join("other");
        self.git(&[
            "clone",
            "-q",
            "-b",
            "main",
            self.remote.to_str().unwrap(),
            dir.to_str().unwrap(),
        ])
        .ok();
        dir
    }
}

/// Names, bytes and modes of the files in a directory.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap_or_default(),
                m.permissions().mode(),
            )
        })
        .collect();
    v.sort();
    v
}

fn write_hook(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o750)).unwrap();
}

#[test]
fn first_push_and_fast_forward_publish_once_each() {
    let p = Pushed::installed(&[]);
    let c1 = p.site.git(&["rev-parse", "HEAD"]);
    let r = p.git(&["push", "-q", "origin", "main"]).ok();
    assert_eq!(p.published(), [c1.as_str()], "{}", r.stderr);
    assert!(
        r.stdout.is_empty(),
        "hook output must go to stderr: {}",
        r.stdout
    );
    let c2 = p.change("v2");
    p.git(&["push", "-q", "origin", "main"]).ok();
    assert_eq!(p.published(), [c1, c2.clone()]);
    assert_eq!(
        std::fs::read_to_string(p.out.join("index.html")).unwrap(),
        "v2"
    );
    // No records of finished pushes are left behind (the copy of each target's record stays, in `records/`).
    let left: Vec<_> = std::fs::read_dir(p.site.path(".git/git-publish"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n != "records")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn up_to_date_push_publishes_nothing() {
    let p = Pushed::installed(&[]);
    p.git(&["push", "-q", "origin", "main"]).ok();
    assert_eq!(p.published().len(), 1);
    let r = p.git(&["push", "origin", "main"]).ok();
    assert!(r.stderr.contains("up-to-date"), "{}", r.stderr);
    assert_eq!(p.published().len(), 1);
}

#[test]
fn dry_run_then_no_verify_of_the_same_commit_publish_nothing() {
    let p = Pushed::installed(&[]);
    p.git(&["push", "--dry-run", "origin", "main"]).ok();
    assert_eq!(p.published(), Vec::<String>::new());
    p.git(&["push", "--no-verify", "origin", "main"]).ok();
    assert_eq!(
        p.remote_ref("main"),
        Some(p.site.git(&["rev-parse", "HEAD"]))
    );
    assert_eq!(p.published(), Vec::<String>::new());
}

#[test]
fn rejected_push_because_the_remote_moved_on_publishes_nothing() {
    let p = Pushed::installed(&[]);
    p.git(&["push", "-q", "origin", "main"]).ok();
    let other = p.other_clone();
    std::fs::write(other.join("public/index.html"), "theirs").unwrap();
    p.git_in(&other, &["commit", "-qam", "theirs"]).ok();
    p.git_in(&other, &["push", "-q", "origin", "main"]).ok();
    p.change("ours");
    let r = p.git(&["push", "origin", "main"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert_eq!(p.published().len(), 1);
}

#[test]
fn push_refused_by_the_remote_pre_receive_publishes_nothing() {
    let p = Pushed::installed(&[]);
    write_hook(
        &p.remote.join("hooks/pre-receive"),
        "#!/bin/sh\necho refused >&2\nexit 1\n",
    );
    let r = p.git(&["push", "origin", "main"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert_eq!(p.remote_ref("main"), None);
    assert_eq!(p.published(), Vec::<String>::new());
    // A later fetch by the same pid can't match the stale record: it is not even there any more after the
    // next pre-push, and the tracking ref never moved.
    p.git(&["fetch", "-q", "origin"]).ok();
    assert_eq!(p.published(), Vec::<String>::new());
}

/// The remote refuses updates of `refs/heads/<name>` (git's per-ref `update` hook).
fn refuse_ref(p: &Pushed, name: &str) {
    write_hook(
        &p.remote.join("hooks/update"),
        &format!(
            "#!/bin/sh\n[ \"$1\" = refs/heads/{name} ] && {{ echo no >&2; exit 1; }}\nexit 0\n"
        ),
    );
}

#[test]
fn atomic_push_with_one_ref_rejected_publishes_nothing() {
    let p = Pushed::installed(&[]);
    p.site.git(&["branch", "other"]);
    refuse_ref(&p, "other");
    let r = p.git(&["push", "--atomic", "origin", "main", "other"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert_eq!(p.remote_ref("main"), None);
    assert_eq!(p.published(), Vec::<String>::new());
}

#[test]
fn non_atomic_partial_push_publishes_only_the_accepted_site_ref() {
    let p = Pushed::installed(&[]);
    let c1 = p.site.git(&["rev-parse", "HEAD"]);
    p.site.git(&["branch", "other"]);
    refuse_ref(&p, "other");
    let r = p.git(&["push", "origin", "main", "other"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert_eq!(p.published(), [c1]);

    // And the other way round: the site branch rejected, another branch accepted.
    p.change("v2");
    p.site.git(&["branch", "-f", "other"]);
    refuse_ref(&p, "main");
    let r = p.git(&["push", "origin", "main", "other"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert_eq!(p.published().len(), 1);
}

#[test]
fn fetch_and_pull_moving_the_tracking_ref_publish_nothing() {
    let p = Pushed::installed(&[]);
    p.git(&["push", "-q", "origin", "main"]).ok();
    let other = p.other_clone();
    for body in ["theirs 1", "theirs 2"] {
        std::fs::write(other.join("public/index.html"), body).unwrap();
        p.git_in(&other, &["commit", "-qam", body]).ok();
        p.git_in(&other, &["push", "-q", "origin", "main"]).ok();
        if body == "theirs 1" {
            p.git(&["fetch", "-q", "origin"]).ok();
        } else {
            p.git(&["pull", "-q", "--ff-only", "origin", "main"]).ok();
        }
    }
    assert_eq!(
        p.site.git(&["rev-parse", "origin/main"]),
        p.remote_ref("main").unwrap()
    );
    assert_eq!(p.published().len(), 1);
}

#[test]
fn force_push_publishes_once() {
    let p = Pushed::installed(&[]);
    p.change("v2");
    p.git(&["push", "-q", "origin", "main"]).ok();
    p.site.git(&["reset", "-q", "--hard", "HEAD~1"]);
    let c3 = p.change("v3");
    p.git(&["push", "-q", "--force", "origin", "main"]).ok();
    let published = p.published();
    assert_eq!(published.len(), 2);
    assert_eq!(published[1], c3);
}

#[test]
fn branch_delete_tags_and_pushes_to_a_url_publish_nothing() {
    let p = Pushed::installed(&[]);
    p.git(&["push", "-q", "origin", "main"]).ok();
    p.site.git(&["tag", "v1"]);
    p.git(&["push", "-q", "origin", "v1"]).ok();
    assert_eq!(p.published().len(), 1);

    let c2 = p.change("v2");
    let r = p.git(&["push", p.remote.to_str().unwrap(), "main"]).ok();
    assert_eq!(p.remote_ref("main"), Some(c2));
    assert!(r.stderr.contains("git publish push"), "{}", r.stderr);
    assert_eq!(p.published().len(), 1);

    p.git(&[
        "--git-dir",
        p.remote.to_str().unwrap(),
        "symbolic-ref",
        "HEAD",
        "refs/heads/none",
    ])
    .ok();
    let r = p.git(&["push", "origin", "--delete", "main"]).ok();
    assert_eq!(p.remote_ref("main"), None);
    assert!(r.stderr.contains("does not unpublish"), "{}", r.stderr);
    assert_eq!(p.published().len(), 1);
}

#[test]
fn push_from_a_linked_worktree_and_from_a_subdirectory() {
    let p = Pushed::installed(&[]);
    let wt = p.site.tmp.path().join("wt");
    p.site
        .git(&["worktree", "add", "-q", "-b", "draft", wt.to_str().unwrap()]);
    std::fs::write(wt.join("public/index.html"), "from the worktree").unwrap();
    p.git_in(&wt, &["commit", "-qam", "wt"]).ok();
    let c_wt = p
        .git_in(&wt, &["rev-parse", "HEAD"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let r = p.git_in(&wt, &["push", "-q", "origin", "HEAD:main"]).ok();
    assert_eq!(p.published(), [c_wt.as_str()], "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(p.out.join("index.html")).unwrap(),
        "from the worktree"
    );

    p.site.git(&["merge", "-q", "--ff-only", "draft"]);
    let c2 = p.change("from a subdirectory");
    p.git_in(&p.site.path("public"), &["push", "-q", "origin", "main"])
        .ok();
    assert_eq!(p.published(), [c_wt, c2]);
}

#[test]
fn a_foreign_hook_is_chained_with_the_same_arguments_and_input_and_its_failure_aborts_the_push() {
    let p = Pushed::new();
    let log = p.site.tmp.path().join("foreign.log");
    let fail = p.site.tmp.path().join("fail");
    write_hook(
        &p.hooks().join("pre-push"),
        &format!(
            "#!/bin/sh\necho \"args: $*\" >> {log}\ncat >> {log}\n[ -e {fail} ] && exit 1\nexit 0\n",
            log = log.display(),
            fail = fail.display()
        ),
    );
    p.site.run(&["install"]).ok();
    let c1 = p.site.git(&["rev-parse", "HEAD"]);
    p.git(&["push", "-q", "origin", "main"]).ok();
    assert_eq!(p.published(), [c1.as_str()]);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        logged,
        format!(
            "args: origin {}\nrefs/heads/main {c1} refs/heads/main {}\n",
            p.remote.display(),
            "0".repeat(40)
        )
    );

    std::fs::write(&fail, "").unwrap();
    p.change("v2");
    let r = p.git(&["push", "origin", "main"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert_eq!(p.remote_ref("main"), Some(c1.clone()));
    assert_eq!(p.published(), [c1]);
}

#[test]
fn install_twice_writes_the_same_files_and_uninstall_restores_byte_for_byte() {
    let p = Pushed::new();
    write_hook(&p.hooks().join("pre-push"), "#!/bin/sh\n# mine\nexit 0\n");
    write_hook(
        &p.hooks().join("reference-transaction"),
        "#!/bin/sh\nexit 0\r\n",
    );
    write_hook(&p.hooks().join("post-commit"), "#!/bin/sh\nexit 0\n");
    let before = snapshot(&p.hooks());

    p.site.run(&["install"]).ok();
    let once = snapshot(&p.hooks());
    assert_ne!(once, before);
    p.site.run(&["install"]).ok();
    assert_eq!(snapshot(&p.hooks()), once);

    p.site.run(&["uninstall"]).ok();
    assert_eq!(snapshot(&p.hooks()), before);
    // Uninstalling again changes nothing.
    p.site.run(&["uninstall"]).ok();
    assert_eq!(snapshot(&p.hooks()), before);
}

#[test]
fn switching_to_pre_push_mode_removes_the_reference_transaction_hook() {
    let p = Pushed::installed(&[]);
    assert!(p.hooks().join("reference-transaction.git-publish").exists());
    p.site.run(&["install", "--mode", "pre-push"]).ok();
    assert!(!p.hooks().join("reference-transaction").exists());
    assert!(!p.hooks().join("reference-transaction.git-publish").exists());
    p.site.run(&["uninstall"]).ok();
    assert!(!p.hooks().join("pre-push").exists());
}

#[test]
fn reference_transaction_is_armed_only_while_a_push_of_the_site_branch_is_in_flight() {
    let p = Pushed::new();
    let before = snapshot(&p.hooks());
    p.site.run(&["install"]).ok();
    let hook = p.hooks().join("reference-transaction");
    // Commits, checkouts and fetches don't make git start any hook of ours.
    assert!(!hook.exists());
    assert!(p.hooks().join("reference-transaction.git-publish").exists());
    let c1 = p.site.git(&["rev-parse", "HEAD"]);
    p.git(&["push", "-q", "origin", "main"]).ok();
    assert_eq!(p.published(), [c1.as_str()]);
    assert!(!hook.exists(), "disarmed after the push was published");

    // A push that never moves the tracking ref (a dry run) leaves it armed until the next ref update.
    p.change("v2");
    p.git(&["push", "--dry-run", "origin", "main"]).ok();
    assert!(hook.exists());
    p.change("v3");
    assert!(!hook.exists(), "a commit disarms a hook no push needs");

    // While another push is in flight (a live process with a record), a ref update leaves it armed.
    let mut inflight = Command::new("sleep").arg("60").spawn().unwrap();
    let rec = p
        .site
        .path(&format!(".git/git-publish/push-{}", inflight.id()));
    std::fs::create_dir_all(rec.parent().unwrap()).unwrap();
    std::fs::write(&rec, "{}").unwrap();
    std::fs::copy(p.hooks().join("reference-transaction.git-publish"), &hook).unwrap();
    p.change("v4");
    assert!(hook.exists(), "armed for the push in flight");
    inflight.kill().unwrap();
    inflight.wait().unwrap();
    let c5 = p.change("v5");
    assert!(!hook.exists());

    p.git(&["push", "-q", "origin", "main"]).ok();
    assert_eq!(p.published(), [c1, c5]);
    assert!(!hook.exists());

    // Uninstalling while armed leaves the hooks directory as it was before install.
    p.change("v6");
    p.git(&["push", "--dry-run", "origin", "main"]).ok();
    assert!(hook.exists());
    p.site.run(&["uninstall"]).ok();
    assert_eq!(snapshot(&p.hooks()), before);
}

#[test]
fn with_snapshot_builds_a_push_builds_and_publishes_the_pushed_commit() {
    let p = Pushed::new();
    p.site.write(".gitignore", "out/\n").config(&format!(
        "[source]\nbuild_dir = \"out\"\nbuild_command = \"mkdir -p out && cp public/index.html out/\"\n[targets.local]\nurl = \"file://{}\"\n",
        p.out.display()
    ));
    let c1 = p.site.commit("snapshot builds");
    p.site.run(&["install"]).ok();
    let r = p.git(&["push", "origin", "main"]).ok();
    assert_eq!(p.published().len(), 1, "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(p.out.join("index.html")).unwrap(),
        "<h1>v1</h1>"
    );
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.out.join(".git-publish/state.json")).unwrap())
            .unwrap();
    assert_eq!(st["history"][0]["source_commit"], c1.as_str(), "{st}");

    // A pushed commit that is not checked out has no build to take: nothing is built from the wrong working
    // tree; the push succeeds, and the failure is reported and recorded.
    p.site.git(&["checkout", "-q", "-b", "topic"]);
    p.change("v2");
    p.site.git(&["checkout", "-q", "main"]);
    let r = p.git(&["push", "origin", "topic:main"]).ok();
    assert!(r.stderr.contains("no snapshot"), "{}", r.stderr);
    assert!(r.stderr.contains("NOT up to date"), "{}", r.stderr);
    assert_eq!(p.published().len(), 1);
}

/// git-publish copied to a path the test controls, installed from there.
fn install_from_copy(p: &Pushed) -> PathBuf {
    install_from_copy_in(p, "bin")
}

/// git-publish copied into the directory `dir` (a name) of the test's temporary directory, installed from
/// there.
fn install_from_copy_in(p: &Pushed, dir: &str) -> PathBuf {
    let bin = p.site.tmp.path().join(dir).join("git-publish");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(crate::util::bin(), &bin).unwrap();
    // Another test thread forking while the copy was open for writing keeps it "busy" for a moment (ETXTBSY).
    for _ in 0..100 {
        let mut cmd = Command::new(&bin);
        p.site.env(&mut cmd);
        match cmd.arg("install").current_dir(&p.site.dir).output() {
            Ok(out) => {
                Run::from(out).ok();
                return bin;
            }
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Err(e) => panic!("{}: {e}", bin.display()),
        }
    }
    panic!("{} stayed busy", bin.display());
}

#[test]
fn commits_checkouts_and_fetches_do_not_start_git_publish() {
    let p = Pushed::new();
    let bin = install_from_copy(&p);
    let log = p.site.tmp.path().join("calls.log");
    write_hook(
        &bin,
        &format!("#!/bin/sh\necho \"$*\" >> {}\n", log.display()),
    );
    p.change("v2");
    p.site.git(&["checkout", "-q", "-b", "topic"]);
    p.change("v3");
    p.site.git(&["checkout", "-q", "main"]);
    p.git(&["push", "-q", "origin", "topic"]).ok();
    p.git(&["fetch", "-q", "origin"]).ok();
    assert!(
        !log.exists(),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[test]
fn git_commit_and_push_still_succeed_when_git_publish_is_broken_or_missing() {
    let p = Pushed::new();
    let bin = install_from_copy(&p);
    // Broken: crashes on every call.
    write_hook(&bin, "#!/bin/sh\nkill -SEGV $$\n");
    let c2 = p.change("v2");
    p.git(&["push", "-q", "origin", "main"]).ok();
    assert_eq!(p.remote_ref("main"), Some(c2));
    // Missing, and not on PATH either.
    std::fs::remove_file(&bin).unwrap();
    let c3 = p.change("v3");
    let r = p.git(&["push", "origin", "main"]).ok();
    assert!(r.stderr.contains("not found"), "{}", r.stderr);
    assert_eq!(p.remote_ref("main"), Some(c3));
    assert_eq!(p.published(), Vec::<String>::new());
}

#[test]
fn a_failed_publish_after_a_push_is_reported_recorded_and_retried() {
    let p = Pushed::installed(&[]);
    // The target directory can't be created: a file is in the way.
    std::fs::write(&p.out, "in the way").unwrap();
    let c1 = p.site.git(&["rev-parse", "HEAD"]);
    let r = p.git(&["push", "origin", "main"]).ok();
    assert_eq!(p.remote_ref("main"), Some(c1.clone()));
    assert!(
        r.stderr.contains("the push succeeded, but publishing"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("git publish retry"), "{}", r.stderr);

    let st = p.site.run(&["status"]);
    assert!(st.stdout.contains("FAILED"), "{}\n{}", st.stdout, st.stderr);
    let j = p.site.run(&["status", "--json"]).json();
    assert_eq!(j[0]["push_failure"]["commit"], c1.as_str());

    std::fs::remove_file(&p.out).unwrap();
    p.site.run(&["retry"]).ok();
    assert_eq!(p.published(), [c1]);
    let j = p.site.run(&["status", "--json"]).ok().json();
    assert_eq!(j[0]["push_failure"], serde_json::Value::Null);
    p.site.run(&["retry"]).ok();
    assert_eq!(p.published().len(), 1);
}

#[test]
fn background_publish_detaches_and_logs() {
    let p = Pushed::installed(&["--background"]);
    let c1 = p.site.git(&["rev-parse", "HEAD"]);
    let r = p.git(&["push", "origin", "main"]).ok();
    assert!(r.stderr.contains("in the background"), "{}", r.stderr);
    let log = p.site.path(".git/git-publish/publish.log");
    for _ in 0..600 {
        if p.published().len() == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(p.published(), [c1]);
    for _ in 0..600 {
        if std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("published")
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(std::fs::read_to_string(&log).unwrap().contains("published"));
}

#[test]
fn pre_push_mode_publishes_before_the_push_and_a_failure_aborts_it() {
    let p = Pushed::installed(&["--mode", "pre-push"]);
    let c1 = p.site.git(&["rev-parse", "HEAD"]);
    p.git(&["push", "--dry-run", "origin", "main"]).ok();
    assert_eq!(p.published(), Vec::<String>::new());
    p.git(&["push", "-q", "origin", "main"]).ok();
    assert_eq!(p.published(), [c1.as_str()]);

    std::fs::remove_dir_all(&p.out).unwrap();
    std::fs::write(&p.out, "in the way").unwrap();
    p.change("v2");
    let r = p.git(&["push", "origin", "main"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("push is aborted"), "{}", r.stderr);
    assert_eq!(p.remote_ref("main"), Some(c1));
}

#[test]
fn git_publish_push_publishes_what_the_push_updated() {
    let p = Pushed::new();
    let c1 = p.site.git(&["rev-parse", "HEAD"]);
    // To a URL: no remote-tracking ref, the wrapper still knows.
    p.site
        .run(&["push", p.remote.to_str().unwrap(), "main"])
        .ok();
    assert_eq!(p.published(), [c1.as_str()]);
    // Up to date: nothing. git's report is shown as `git push` shows it, not as porcelain (issue 30).
    let r = p.site.run(&["push", "origin", "main"]).ok();
    assert_eq!(p.published().len(), 1);
    assert!(
        r.stderr.contains(" = [up to date]      main -> main\n")
            && !r.stderr.contains("refs/heads/main:refs/heads/main")
            && !r.stderr.lines().any(|l| l == "Done"),
        "{}",
        r.stderr
    );
    // Dry run: nothing.
    p.change("v2");
    p.site.run(&["push", "--dry-run", "origin", "main"]).ok();
    assert_eq!(p.published().len(), 1);
    // Rejected: non-zero, nothing.
    write_hook(&p.remote.join("hooks/pre-receive"), "#!/bin/sh\nexit 1\n");
    let r = p.site.run(&["push", "origin", "main"]);
    assert_ne!(r.code, 0);
    assert_eq!(p.published().len(), 1);
    std::fs::remove_file(p.remote.join("hooks/pre-receive")).unwrap();
    // With the hooks installed too: published once, not twice.
    p.site.run(&["install"]).ok();
    let c2 = p.site.git(&["rev-parse", "HEAD"]);
    p.site.run(&["push", "origin", "main"]).ok();
    assert_eq!(p.published(), [c1, c2]);
}

#[test]
fn hooks_owned_by_another_tool_or_a_global_hooks_path_are_left_alone() {
    let p = Pushed::new();
    p.site.git(&["config", "core.hooksPath", ".husky/_"]);
    let r = p.site.run(&["install"]).fails(2);
    assert!(r.stderr.contains("husky"), "{}", r.stderr);
    assert!(
        r.stderr.contains("hook pre-push --mode pre-push"),
        "{}",
        r.stderr
    );
    assert!(!p.site.path(".husky").exists());
    p.site.git(&["config", "--unset", "core.hooksPath"]);

    let global = p.site.tmp.path().join("global-hooks");
    p.site.git(&[
        "config",
        "--global",
        "core.hooksPath",
        global.to_str().unwrap(),
    ]);
    let r = p.site.run(&["install"]).fails(2);
    assert!(r.stderr.contains("global"), "{}", r.stderr);
    assert!(!global.exists());
    p.site.run(&["install", "--force"]).ok();
    assert!(global.join("pre-push").exists());
    let c1 = p.site.git(&["rev-parse", "HEAD"]);
    let r = p.git(&["push", "-q", "origin", "main"]).ok();
    assert_eq!(p.published(), [c1], "{}", r.stderr);
}

#[test]
fn a_hook_generated_by_lefthook_is_not_touched() {
    let p = Pushed::new();
    let hook = p.hooks().join("pre-push");
    write_hook(
        &hook,
        "#!/bin/sh\n# generated by lefthook\nexec lefthook run pre-push \"$@\"\n",
    );
    let before = snapshot(&p.hooks());
    let r = p.site.run(&["install"]).fails(2);
    assert!(r.stderr.contains("lefthook"), "{}", r.stderr);
    assert_eq!(snapshot(&p.hooks()), before);
}

#[test]
fn the_hook_subcommand_refuses_an_unknown_hook_name() {
    let p = Pushed::new();
    let r = p.site.run(&["hook", "post-commit", "--", "x"]).fails(2);
    assert!(r.stderr.contains("'post-commit'"), "{}", r.stderr);
    for name in ["pre-push", "reference-transaction", "publish"] {
        assert!(r.stderr.contains(name), "{}", r.stderr);
    }
}

#[test]
fn the_command_lines_of_already_installed_shims_are_still_accepted() {
    // Shims installed by earlier versions call the binary with exactly these arguments; with nothing to do
    // (no input, no record), each exits 0.
    let p = Pushed::new();
    let hook = |name: &str, flags: &[&str], args: &[&str]| {
        let mut argv = vec!["hook", name];
        argv.extend_from_slice(flags);
        argv.push("--");
        argv.extend_from_slice(args);
        p.site.run(&argv).ok();
    };
    let hooks = p.hooks();
    let dir = hooks.to_str().unwrap();
    let site = ["--remote", "origin", "--branch", "main"];
    for bg in ["0", "1"] {
        let shim = [
            &site[..],
            &["--background", bg, "--site-config", "", "--hooks-dir", dir],
        ]
        .concat();
        let pre_push = [&["--pid", "1", "--mode", "post-push"], &shim[..]].concat();
        hook("pre-push", &pre_push, &["origin", "/elsewhere.git"]);
        let new = "0123456789012345678901234567890123456789";
        hook(
            "reference-transaction",
            &[&["--pid", "1"], &shim[..]].concat(),
            &[new],
        );
    }
    // The line `install` suggests for hooks that another tool manages.
    let manual = [&["--mode", "pre-push"], &site[..]].concat();
    hook("pre-push", &manual, &["origin", "/elsewhere.git"]);
    assert_eq!(p.published(), Vec::<String>::new());
}

// ---- issue 19: pushes never publish what didn't happen -----------------------------------------------------

/// Dry runs spelled the ways git accepts them: abbreviated long options, `-n` bundled with other short flags,
/// after the refspecs, and through an alias.
const DRY_RUNS: [&[&str]; 6] = [
    &["--dry", "origin", "main"],
    &["--dry-ru", "origin", "main"],
    &["--dr", "origin", "main"],
    &["-nv", "origin", "main"],
    &["-vn", "origin", "main"],
    &["origin", "main", "--dry"],
];

#[test]
fn abbreviated_and_bundled_dry_runs_publish_nothing_in_pre_push_mode() {
    let p = Pushed::installed(&["--mode", "pre-push"]);
    p.site.git(&["config", "alias.pd", "push --dry"]);
    for args in DRY_RUNS
        .iter()
        .copied()
        .chain([&["pd", "origin", "main"][..]])
    {
        let mut argv = if args[0] == "pd" {
            vec![]
        } else {
            vec!["push"]
        };
        argv.extend_from_slice(args);
        let r = p.git(&argv).ok();
        assert_eq!(p.remote_ref("main"), None, "{argv:?}");
        assert_eq!(
            p.published(),
            Vec::<String>::new(),
            "{argv:?}: {}",
            r.stderr
        );
    }
    // A push whose command line can't be read (here: no such process) is not published, and is aborted.
    let c1 = p.site.git(&["rev-parse", "HEAD"]);
    let mut cmd = Command::new(crate::util::bin());
    p.site.env(&mut cmd);
    let mut child = cmd
        .args([
            "hook",
            "pre-push",
            "--pid",
            "999999999",
            "--mode",
            "pre-push",
        ])
        .args([
            "--remote", "origin", "--branch", "main", "--", "origin", "x",
        ])
        .current_dir(&p.site.dir)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let line = format!("refs/heads/main {c1} refs/heads/main {}\n", "0".repeat(40));
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), line.as_bytes()).unwrap();
    let r = Run::from(child.wait_with_output().unwrap()).fails(1);
    assert!(
        r.stderr
            .contains("can't tell whether this push is a dry run"),
        "{}",
        r.stderr
    );
    assert_eq!(p.published(), Vec::<String>::new());
    // `--no-dry-run` after `-n` is a real push, as git takes it.
    p.git(&["push", "-n", "--no-dry", "-q", "origin", "main"])
        .ok();
    assert_eq!(p.remote_ref("main"), Some(c1.clone()));
    assert_eq!(p.published(), [c1]);
}

#[test]
fn git_publish_push_publishes_nothing_for_abbreviated_or_bundled_dry_runs() {
    let p = Pushed::new();
    for args in DRY_RUNS {
        let mut argv = vec!["push"];
        argv.extend_from_slice(args);
        let r = p.site.run(&argv).ok();
        assert_eq!(p.remote_ref("main"), None, "{argv:?}");
        assert!(!r.stderr.contains("published"), "{argv:?}: {}", r.stderr);
        assert_eq!(p.published(), Vec::<String>::new(), "{argv:?}");
    }
}

impl Pushed {
    /// Run git-publish in `dir` (another clone).
    fn run_in(&self, dir: &Path, args: &[&str]) -> Run {
        self.exec_in(&crate::util::bin(), dir, args)
    }

    /// The target's history entries, oldest first.
    fn history(&self) -> Vec<serde_json::Value> {
        let bytes = std::fs::read(self.out.join(".git-publish/state.json")).unwrap();
        let st: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let mut v = st["history"].as_array().unwrap().clone();
        v.reverse();
        v
    }
}

#[test]
fn retry_never_publishes_over_what_is_live_without_saying_so() {
    let p = Pushed::installed(&[]);
    // Clone A (ours) records a failed publish of c1: a file is in the way of the target.
    std::fs::write(&p.out, "in the way").unwrap();
    let c1 = p.site.git(&["rev-parse", "HEAD"]);
    p.git(&["push", "origin", "main"]).ok();
    std::fs::remove_file(&p.out).unwrap();
    // Clone B pushes and publishes c2, a descendant of c1.
    let other = p.other_clone();
    std::fs::write(other.join("public/b.html"), "b").unwrap();
    p.git_in(&other, &["add", "-A"]).ok();
    p.git_in(&other, &["commit", "-qm", "b"]).ok();
    p.git_in(&other, &["push", "-q", "origin", "main"]).ok();
    p.run_in(&other, &[]).ok();
    let c2 = p.remote_ref("main").unwrap();
    assert_eq!(p.published(), [c2.as_str()]);

    // Live contains c1: retry publishes nothing, and forgets the failure.
    p.git(&["fetch", "-q", "origin"]).ok();
    let r = p.site.run(&["retry"]).ok();
    assert_eq!(p.published(), [c2.as_str()], "{}", r.stderr);
    assert!(r.stderr.contains("already live"), "{}", r.stderr);
    let j = p.site.run(&["status", "--json"]).ok().json();
    assert_eq!(j[0]["push_failure"], serde_json::Value::Null);

    // Clone A force-pushes c3 (not in c2), whose publish fails: the target's state is unreadable.
    let state = p.out.join(".git-publish/state.json");
    let saved = std::fs::read(&state).unwrap();
    std::fs::write(&state, "not json").unwrap();
    let c3 = p.change("v3");
    p.git(&["push", "-q", "--force", "origin", "main"]).ok();
    std::fs::write(&state, &saved).unwrap();
    assert_ne!(c3, c1);
    // Live moved elsewhere: refused without --force, naming both commits.
    let r = p.site.run(&["retry"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(&c3[..7]) && r.stderr.contains(&c2[..7]),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(p.published(), [c2.as_str()]);
    p.site.run(&["retry", "--force"]).ok();
    assert_eq!(p.published(), [c2, c3]);
}

#[test]
fn a_force_push_of_an_older_commit_is_published_as_a_rollback() {
    let p = Pushed::installed(&[]);
    let c1 = p.site.git(&["rev-parse", "HEAD"]);
    p.git(&["push", "-q", "origin", "main"]).ok();
    let c2 = p.change("v2");
    let c3 = p.change("v3");
    p.git(&["push", "-q", "origin", "main"]).ok();
    assert_eq!(p.published(), [c1.as_str(), c3.as_str()]);
    // c2 was never live, and is an ancestor of what is.
    let r = p
        .git(&["push", "--force", "origin", &format!("{c2}:main")])
        .ok();
    assert_eq!(p.published(), [c1.as_str(), c3.as_str(), c2.as_str()]);
    assert!(r.stderr.contains("rollback"), "{}", r.stderr);
    assert_eq!(p.history()[2]["rollback_from"], c3.as_str());
    // The same through `git publish push`.
    p.site.run(&["uninstall"]).ok();
    let r = p
        .site
        .run(&["push", "--force", "origin", &format!("{c1}:main")])
        .ok();
    assert!(r.stderr.contains("rollback"), "{}", r.stderr);
    assert_eq!(p.history()[3]["rollback_from"], c2.as_str());
}

#[test]
fn hostile_binary_paths_are_quoted_once_in_the_shims() {
    let p = Pushed::new();
    let dir = "it's \"$(touch pwned-1)\" `touch pwned-2` a\\b\nc $HOME";
    let bin = install_from_copy_in(&p, dir);
    for shim in ["pre-push", "reference-transaction.git-publish"] {
        let path = p.hooks().join(shim);
        for sh in ["/bin/dash", "/bin/bash"] {
            let r = Run::from(Command::new(sh).arg("-n").arg(&path).output().unwrap());
            assert_eq!(r.code, 0, "{sh} -n {shim}: {}", r.stderr);
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("bin='"), "{text}");
    }
    let c1 = p.site.git(&["rev-parse", "HEAD"]);
    let r = p.git(&["push", "origin", "main"]).ok();
    assert_eq!(p.published(), [c1.as_str()], "{}", r.stderr);
    // The fallback message names the path and runs nothing in it.
    std::fs::remove_file(&bin).unwrap();
    let c2 = p.change("v2");
    let r = p.git(&["push", "origin", "main"]).ok();
    assert_eq!(p.remote_ref("main"), Some(c2));
    assert!(r.stderr.contains("not found"), "{}", r.stderr);
    assert!(r.stderr.contains("`touch pwned-2`"), "{}", r.stderr);
    for d in [&p.site.dir, &p.hooks(), &p.site.tmp.path().to_path_buf()] {
        for f in ["pwned-1", "pwned-2"] {
            assert!(!d.join(f).exists(), "{} ran", d.join(f).display());
        }
    }
    assert_eq!(p.published(), [c1]);
}

#[test]
fn git_publish_push_reads_refspecs_whose_source_has_a_colon() {
    let p = Pushed::new();
    let c2 = p.change("fix: typo");
    let c3 = p.change("more: stuff");
    p.change("tip");
    // A new branch, then a fast-forward; both sources contain `:`.
    let r = p
        .site
        .run(&["push", "origin", "HEAD^{/fix: typo}:refs/heads/main"])
        .ok();
    assert_eq!(p.remote_ref("main"), Some(c2.clone()));
    assert_eq!(p.published(), [c2.as_str()], "{}", r.stderr);
    let r = p
        .site
        .run(&["push", "origin", "HEAD^{/more: stuff}:main"])
        .ok();
    assert_eq!(p.remote_ref("main"), Some(c3.clone()));
    assert_eq!(p.published(), [c2, c3], "{}", r.stderr);
}

/// The files in the hooks directory whose name starts with `prefix`, and their text.
fn hook_files(p: &Pushed, prefix: &str) -> Vec<(String, String)> {
    snapshot(&p.hooks())
        .into_iter()
        .filter(|(name, _, _)| name.starts_with(prefix))
        .map(|(name, bytes, _)| (name, String::from_utf8_lossy(&bytes).into_owned()))
        .collect()
}

#[test]
fn edits_to_installed_hooks_survive_reinstall_and_uninstall() {
    let p = Pushed::installed(&[]);
    let hook = p.hooks().join("pre-push");
    let edit = |path: &Path, line: &str| {
        let mut text = std::fs::read_to_string(path).unwrap();
        text.push_str(line);
        std::fs::write(path, text).unwrap();
    };
    edit(&hook, "# my first edit\n");
    let r = p.site.run(&["install"]).ok();
    assert!(r.stderr.contains("pre-push.edited"), "{}", r.stderr);
    assert!(!std::fs::read_to_string(&hook)
        .unwrap()
        .contains("my first edit"));
    edit(&hook, "# my second edit\n");
    edit(
        &p.hooks().join("reference-transaction.git-publish"),
        "# my third edit\n",
    );
    let r = p.site.run(&["uninstall"]).ok();
    assert!(r.stderr.contains(".edited"), "{}", r.stderr);
    assert!(!hook.exists());
    let kept: String = [
        hook_files(&p, "pre-push.edited"),
        hook_files(&p, "reference-transaction.git-publish.edited"),
    ]
    .concat()
    .into_iter()
    .map(|(_, text)| text)
    .collect();
    for e in ["my first edit", "my second edit", "my third edit"] {
        assert!(kept.contains(e), "{e}: {kept}");
    }
    // Unedited hooks are still replaced and removed without a trace.
    let before = snapshot(&p.hooks());
    p.site.run(&["install"]).ok();
    p.site.run(&["install"]).ok();
    p.site.run(&["uninstall"]).ok();
    assert_eq!(snapshot(&p.hooks()), before);
}

#[test]
fn everything_after_push_goes_to_git_push() {
    let p = Pushed::new();
    let c1 = p.site.git(&["rev-parse", "HEAD"]);
    // `-v` after `push` is git push's: git says where it pushes.
    let r = p.site.run(&["push", "-v", "origin", "main"]).ok();
    assert!(r.stderr.contains("Pushing to"), "{}", r.stderr);
    assert_eq!(p.published(), [c1.as_str()]);
    // git-publish's own options after `push` are git push's too, which refuses them: nothing is pushed.
    let c2 = p.change("v2");
    let r = p.site.run(&["push", "--json", "origin", "main"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert_eq!(p.remote_ref("main"), Some(c1.clone()));
    // Before `push`, they are git-publish's.
    let r = p.site.run(&["-v", "push", "origin", "main"]).ok();
    assert!(!r.stderr.contains("Pushing to"), "{}", r.stderr);
    assert_eq!(p.published(), [c1, c2]);
}

#[test]
fn relative_git_dir_and_work_tree_are_resolved_against_the_current_directory() {
    let p = Pushed::installed(&[]);
    let top = p.site.tmp.path();
    let env = [("GIT_DIR", "site/.git"), ("GIT_WORK_TREE", "site")];
    let run = |program: &str, args: &[&str]| {
        let mut cmd = Command::new(program);
        p.site.env(&mut cmd);
        Run::from(
            cmd.args(args)
                .envs(env)
                .current_dir(top)
                .stdin(Stdio::null())
                .output()
                .unwrap(),
        )
    };
    let r = run(&crate::util::bin(), &["--dry-run"]).ok();
    assert!(r.stderr.contains("dry run"), "{}", r.stderr);
    // A push started that way publishes from its hook.
    let c1 = p.site.git(&["rev-parse", "HEAD"]);
    let r = run(&p.site.git, &["push", "origin", "main"]).ok();
    assert_eq!(p.published(), [c1], "{}", r.stderr);
}

#[test]
fn a_publish_that_cannot_start_from_the_hook_is_recorded_for_status() {
    let p = Pushed::installed(&["--background"]);
    // The background publish can't open its log: a directory is in the way.
    std::fs::create_dir_all(p.site.path(".git/git-publish/publish.log")).unwrap();
    let c1 = p.site.git(&["rev-parse", "HEAD"]);
    let r = p.git(&["push", "origin", "main"]).ok();
    assert_eq!(p.remote_ref("main"), Some(c1.clone()));
    assert!(r.stderr.contains("NOT up to date"), "{}", r.stderr);
    let j = p.site.run(&["status", "--json"]).ok().json();
    assert_eq!(j[0]["push_failure"]["commit"], c1.as_str(), "{j}");
    assert_eq!(p.published(), Vec::<String>::new());
}

// ---- issue 19, item 6: the smaller findings ----------------------------------------------------------------

/// Run git-publish with `args` in the site, killed after `secs` seconds (a hang is a failure).
fn run_within(p: &Pushed, args: &[&str], secs: u64) -> Run {
    let mut child = p.site.spawn(args, &[]);
    for _ in 0..secs * 20 {
        if child.try_wait().unwrap().is_some() {
            return Run::from(child.wait_with_output().unwrap());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    panic!(
        "git-publish {args:?} hung: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_config_that_is_huge_or_not_a_regular_file_is_refused_at_once() {
    let p = Pushed::new();
    let fifo = p.site.tmp.path().join("fifo.toml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo reads the NUL-terminated path, which lives for the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let huge = p.site.tmp.path().join("huge.toml");
    let mut text = String::from("[source]\ndir = \"public\"\n");
    while text.len() <= 1 << 20 {
        text.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    std::fs::write(&huge, text).unwrap();
    for (path, says) in [
        ("/dev/zero", "not a regular file"),
        (fifo.to_str().unwrap(), "not a regular file"),
        (p.site.tmp.path().to_str().unwrap(), "not a regular file"),
        (huge.to_str().unwrap(), "1 MiB"),
    ] {
        let r = run_within(&p, &["--config", path, "--dry-run"], 10).fails(2);
        assert!(r.stderr.contains(says), "{path}: {}", r.stderr);
    }
}

#[test]
fn delayed_deletes_count_against_max_deletes_when_they_are_planned() {
    let p = Pushed::new();
    let target = |extra: &str| {
        format!(
            "[source]\ndir = \"public\"\n[targets.local]\nurl = \"file://{}\"\ndelay_deletes = true\nmax_deletes = 2\n{extra}",
            p.out.display()
        )
    };
    for i in 0..5 {
        p.site.write(&format!("public/old{i}.html"), "old");
    }
    p.site.config(&target(""));
    p.site.commit("five old pages");
    p.site.run(&[]).ok();
    // Removing 5 files is refused now, although their deletes would only run next time.
    for i in 0..5 {
        p.site.remove(&format!("public/old{i}.html"));
    }
    p.site.commit("remove them");
    let r = p.site.run(&[]).fails(4);
    assert!(r.stderr.contains("max_deletes"), "{}", r.stderr);
    // Allowed once, they are deferred; the next, unrelated publish carries them out unrefused.
    p.site.run(&["--max-deletes", "5"]).ok();
    p.change("unrelated");
    let r = p.site.run(&[]).ok();
    assert!(!p.out.join("old0.html").exists(), "{}", r.stderr);
}

#[test]
fn init_writes_site_toml_as_the_umask_says() {
    use std::os::unix::fs::PermissionsExt;
    let p = Pushed::new();
    let out = p.out.display().to_string();
    for (umask, mode) in [("022", 0o644), ("077", 0o600), ("002", 0o664)] {
        // A new file each time: `--force` over an existing site.toml keeps that file's mode (config::edit).
        let _ = std::fs::remove_file(p.site.path("site.toml"));
        let mut cmd = Command::new("/bin/sh");
        p.site.env(&mut cmd);
        let script = format!(
            "umask {umask} && exec \"$0\" init --yes --force --dir public --url file://{out}"
        );
        let r = Run::from(
            cmd.args(["-c", &script, &crate::util::bin()])
                .current_dir(&p.site.dir)
                .stdin(Stdio::null())
                .output()
                .unwrap(),
        )
        .ok();
        let got = std::fs::metadata(p.site.path("site.toml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            got & 0o777,
            mode,
            "umask {umask}: {:o}; {}",
            got & 0o777,
            r.stderr
        );
    }
}
