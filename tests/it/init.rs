//! `git publish init`: driven for real in a pseudo-terminal against moto's CloudFront (the distribution list
//! is real), and non-interactively with flags as CI would.

use std::process::Command;

use crate::util::*;

/// A Hexo site: package.json naming hexo, `_config.yml`, the generated `public/` committed.
fn hexo_site() -> Site {
    let site = Site::new();
    small_blog(&site);
    site.write("_config.yml", "title: My blog\n").write(
        "package.json",
        r#"{"name":"blog","dependencies":{"hexo":"^7.3.0"}}"#,
    );
    site.commit("hexo site");
    site
}

fn read(site: &Site, rel: &str) -> String {
    std::fs::read_to_string(site.path(rel)).unwrap()
}

#[test]
fn interactive_init_in_a_terminal_lists_distributions_and_writes_a_working_site_toml() {
    let site = hexo_site();
    let b = bucket("init-pty");
    let mine = distribution_with(&b, "", &["blog.example.com", "www.blog.example.com"]);
    let other_bucket = bucket("init-pty-other");
    let other = distribution_with(&other_bucket, "", &["shop.example.com"]);

    let mut cmd = Command::new(BIN);
    site.env(&mut cmd);
    cmd.arg("init").current_dir(&site.dir);
    let mut p = rexpect::session::spawn_command(cmd, Some(60_000)).unwrap();
    p.exp_string("detected Hexo (package.json depends on hexo): output directory public/")
        .unwrap();
    p.exp_string("Output directory in the commit [public]: ")
        .unwrap();
    p.send_line("").unwrap();
    p.exp_string("Target name [production]: ").unwrap();
    p.send_line("").unwrap();
    p.exp_string("Publish to (s3://BUCKET[/PREFIX], or file:///DIR for a local directory): ")
        .unwrap();
    // A wrong answer is explained and asked again.
    p.send_line("ftp://nope").unwrap();
    p.exp_string("url").unwrap();
    p.exp_string("Publish to (").unwrap();
    p.send_line(&format!("s3://{b}")).unwrap();
    p.exp_string("AWS region of the bucket [us-east-1]: ")
        .unwrap();
    p.send_line("").unwrap();
    p.exp_string("CloudFront distributions:").unwrap();
    // The list shows each distribution with its aliases; ours is marked as the bucket's.
    let (_, line) = p
        .exp_regex(&format!(r"\d+\) {mine}  \S+  blog.example.com, www.blog.example.com  origin {b}\.s3\S*  <- origin is this bucket"))
        .unwrap();
    let number: String = line
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    p.exp_string(&format!(
        "Distribution to invalidate (number or id, `none` for none) [{number}]: "
    ))
    .unwrap();
    p.send_line("").unwrap();
    // The deploy record: a bucket policy, or another bucket (issue 14 item 4).
    p.exp_string("Keep it private with 1) a bucket policy for CloudFront, or 2) a record in another bucket [1]: ")
        .unwrap();
    p.send_line("2").unwrap();
    p.exp_string("Where the record goes").unwrap();
    p.send_line(&format!("s3://{other_bucket}/blog.json"))
        .unwrap();
    p.exp_string("wrote ").unwrap();
    p.exp_eof().unwrap();
    let status = p.process().wait().unwrap();
    assert!(
        matches!(status, rexpect::process::WaitStatus::Exited(_, 0)),
        "{status:?}"
    );

    let text = read(&site, "site.toml");
    assert!(
        text.contains("written by `git publish init` for a Hexo site"),
        "{text}"
    );
    assert!(text.contains("dir = \"public\""), "{text}");
    assert!(text.contains("[targets.production]"), "{text}");
    assert!(text.contains(&format!("url = \"s3://{b}\"")), "{text}");
    assert!(text.contains("region = \"us-east-1\""), "{text}");
    assert!(
        text.contains(&format!(
            "distribution = \"{mine}\"  # blog.example.com, www.blog.example.com"
        )),
        "{text}"
    );
    assert!(!text.contains(&other), "{text}");
    assert!(
        text.contains(&format!("state = \"s3://{other_bucket}/blog.json\"")),
        "{text}"
    );

    // The file works as written: publish with it, on the terminal too (progress bars drawn).
    site.commit("config");
    let mut cmd = Command::new(BIN);
    site.env(&mut cmd);
    cmd.current_dir(&site.dir);
    let mut p = rexpect::session::spawn_command(cmd, Some(60_000)).unwrap();
    p.exp_string("git-publish: published ").unwrap();
    p.exp_string(&format!("to s3://{b} in ")).unwrap();
    p.exp_string("uploaded 6 files").unwrap();
    p.exp_eof().unwrap();
    let status = p.process().wait().unwrap();
    assert!(
        matches!(status, rexpect::process::WaitStatus::Exited(_, 0)),
        "{status:?}"
    );
    assert_eq!(site_objects(&b).len(), 6);
}

#[test]
fn non_interactive_init_takes_flags_and_never_overwrites_without_force() {
    let site = hexo_site();
    let args = [
        "init",
        "--yes",
        "--url",
        "s3://my-bucket/blog",
        "--region",
        "eu-west-1",
        "--distribution",
        "E2QWRUHAPOMQZL",
    ];
    let r = site.run(&args).ok();
    assert!(r.stderr.contains("wrote "), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("keep the deploy record private (chosen by --yes)")
            && r.stderr.contains("iam-policy --bucket-policy"),
        "{}",
        r.stderr
    );
    let first = read(&site, "site.toml");
    assert!(first.contains("url = \"s3://my-bucket/blog\""), "{first}");
    assert!(first.contains("region = \"eu-west-1\""), "{first}");
    assert!(
        first.contains("distribution = \"E2QWRUHAPOMQZL\"\n"),
        "{first}"
    );
    assert!(first.contains("dir = \"public\""), "{first}");

    // Again without --force: refused, file untouched.
    let r = site
        .run(&[
            "init",
            "--yes",
            "--url",
            "s3://other",
            "--distribution",
            "none",
        ])
        .fails(2);
    assert!(
        r.stderr.contains("site.toml already exists"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(read(&site, "site.toml"), first);

    // With --force: replaced; `none` leaves the distribution commented out.
    site.run(&[
        "init",
        "--yes",
        "--force",
        "--url",
        "s3://other",
        "--distribution",
        "none",
        "-t",
        "www",
    ])
    .ok();
    let second = read(&site, "site.toml");
    assert!(second.contains("url = \"s3://other\""), "{second}");
    assert!(second.contains("[targets.www]"), "{second}");
    assert!(second.contains("#distribution = "), "{second}");
    assert!(second.contains("#region = "), "{second}");
}

#[test]
fn init_without_a_terminal_or_url_explains_and_writes_nothing() {
    let site = hexo_site();
    // The rig's stdin is /dev/null: no one to ask.
    let r = site.run(&["init"]).fails(2);
    assert!(r.stderr.contains("stdin is not a terminal"), "{}", r.stderr);
    assert!(r.stderr.contains("--yes with --url"), "{}", r.stderr);
    let r = site.run(&["init", "--yes"]).fails(2);
    assert!(r.stderr.contains("--yes needs --url"), "{}", r.stderr);
    let r = site.run(&["init", "--yes", "--url", "ftp://x"]).fails(2);
    assert!(r.stderr.contains("url"), "{}", r.stderr);
    assert!(!site.path("site.toml").exists());
}

#[test]
fn init_detects_jekyll_and_sets_up_snapshot_builds_when_the_output_is_gitignored() {
    let site = Site::new();
    site.write("_config.yml", "title: x\n")
        .write("Gemfile", "gem \"jekyll\"\n")
        .write(".gitignore", "_site/\n")
        .write("_site/index.html", "<h1>hi</h1>");
    site.commit("jekyll");
    let r = site
        .run(&["init", "--yes", "--url", "file:out", "--distribution", "E1"])
        .ok();
    assert!(r.stderr.contains("detected Jekyll"), "{}", r.stderr);
    // Issue 30: no `git add _site`, which git refuses for an ignored path: snapshot builds instead.
    assert!(
        r.stderr.contains("_site/ is ignored by git, so site.toml sets up snapshot builds: each `git publish` runs \
             `bundle exec jekyll build`"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("git add"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("--distribution is ignored for a local-directory target"),
        "{}",
        r.stderr
    );
    let text = read(&site, "site.toml");
    assert!(text.contains("build_dir = \"_site\"\n"), "{text}");
    assert!(
        text.contains("build_command = \"bundle exec jekyll build\"\n"),
        "{text}"
    );
    assert!(!text.lines().any(|l| l.starts_with("dir =")), "{text}");
    assert!(!text.contains("distribution"), "{text}");
}

#[test]
fn interactive_init_when_distributions_cannot_be_listed_asks_for_the_id() {
    let site = hexo_site();
    let mut cmd = Command::new(BIN);
    site.env(&mut cmd);
    // Nothing listens on port 1: ListDistributions fails at once.
    cmd.arg("init")
        .current_dir(&site.dir)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1");
    let mut p = rexpect::session::spawn_command(cmd, Some(60_000)).unwrap();
    for (prompt, answer) in [
        ("[public]: ", ""),
        ("Target name [production]: ", "www"),
        ("for a local directory): ", "s3://some-bucket/blog"),
        ("AWS region of the bucket [us-east-1]: ", "eu-west-1"),
    ] {
        p.exp_string(prompt).unwrap();
        p.send_line(answer).unwrap();
    }
    p.exp_string("could not list CloudFront distributions")
        .unwrap();
    p.exp_string("CloudFront distribution id (empty: none): ")
        .unwrap();
    p.send_line("E3EXAMPLE").unwrap();
    // The deploy record: the default, a bucket policy, which init explains how to apply.
    p.exp_string("2) a record in another bucket [1]: ").unwrap();
    p.send_line("").unwrap();
    p.exp_string("iam-policy --bucket-policy").unwrap();
    p.exp_eof().unwrap();
    let text = read(&site, "site.toml");
    assert!(text.contains("[targets.www]"), "{text}");
    assert!(text.contains("url = \"s3://some-bucket/blog\""), "{text}");
    assert!(text.contains("region = \"eu-west-1\""), "{text}");
    assert!(text.contains("distribution = \"E3EXAMPLE\"\n"), "{text}");
}
