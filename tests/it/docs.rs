//! The documents are tested (issue 30): a README that drifts from the tool fails here.
//!
//! - **Transcripts.** Every ```` ```console ```` block of README.md and INSTALL.md is run. The line before it names
//!   its fixture (`<!-- transcript: NAME -->`, see [`fixture`]): a directory, an environment (HOME, git's
//!   identity and dates, `GIT_PUBLISH_NOW` pinned, `git-publish` first on PATH so that `git publish` is the binary
//!   under test) and the names the output is shown with. Each `$ command` runs under `sh -c` with stderr and stdout
//!   in one pipe, as a terminal shows them, and must print exactly the lines below it, after the fixture's paths,
//!   bucket and distribution are replaced by the ones the document shows (`/home/me/blog`, `my-blog`,
//!   `E2QWRUHAPOMQZL`), and durations (`in 0.1s`) and invalidation ids by fixed ones. Not trycmd: its Markdown mode runs each block in
//!   the file's own directory with the binary's name, while these need a fixture per block and `git publish`
//!   run through git.
//! - **`--json` fields.** The field tables of "`--json` documents" list exactly the keys that `git publish
//!   --json` and `git publish status --json` print.
//! - **IAM policy.** The README's policy is what `git publish iam-policy` prints for the configuration shown
//!   above it.
//! - **Names.** Every `npx` that runs git-publish names the package (`--package=@git-publish/cli`), and every
//!   URL of the project is Cargo.toml's `repository`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::*;

fn doc(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
}

/// A ```` ```console ```` block: its fixture and its `$ command` / expected-output pairs.
struct Transcript {
    line: usize,
    fixture: String,
    steps: Vec<(String, Vec<String>)>,
}

fn transcripts(file: &'static str) -> Vec<Transcript> {
    let text = doc(file);
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() != "```console" {
            i += 1;
            continue;
        }
        let start = i;
        let marker = lines[..i].iter().rev().find(|l| !l.trim().is_empty());
        let fixture = marker
            .and_then(|m| m.trim().strip_prefix("<!-- transcript: "))
            .and_then(|m| m.strip_suffix(" -->"))
            .unwrap_or_else(|| {
                panic!(
                    "{file}:{}: a console block without `<!-- transcript: NAME -->` before it",
                    i + 1
                )
            })
            .to_string();
        let mut steps: Vec<(String, Vec<String>)> = Vec::new();
        i += 1;
        while lines[i].trim() != "```" {
            match lines[i].strip_prefix("$ ") {
                Some(cmd) => steps.push((cmd.to_string(), Vec::new())),
                None => steps
                    .last_mut()
                    .unwrap_or_else(|| panic!("{file}:{}: output before the first `$ `", i + 1))
                    .1
                    .push(lines[i].to_string()),
            }
            i += 1;
        }
        out.push(Transcript {
            line: start + 1,
            fixture,
            steps,
        });
        i += 1;
    }
    out
}

/// Where a transcript runs, and how its output is shown in the document.
struct Fixture {
    site: Site,
    /// Directory the commands run in.
    cwd: PathBuf,
    /// (what the run prints, what the document shows instead)
    shown_as: Vec<(String, String)>,
    /// Extra PATH entries (fake generators) before the one holding git-publish.
    path: Vec<PathBuf>,
}

/// A directory holding `git-publish` (a link to the binary under test), so that `git publish` runs it.
fn bin_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(bin(), d.path().join("git-publish")).unwrap();
        d
    })
    .path()
}

/// A fake generator: an executable `name` that writes `files` under `out` when called with `args`.
pub fn fake_generator(dir: &Path, name: &str, args: &str, out: &str, files: &[(&str, &str)]) {
    let mut script = format!(
        "#!/bin/sh\n[ \"$*\" = \"{args}\" ] || {{ echo \"{name}: unexpected $*\" >&2; exit 1; }}\n"
    );
    for (path, body) in files {
        let p = format!("{out}/{path}");
        let parent = Path::new(&p).parent().unwrap().display().to_string();
        script.push_str(&format!(
            "mkdir -p '{parent}' && printf '%s' '{body}' > '{p}'\n"
        ));
    }
    std::fs::create_dir_all(dir).unwrap();
    let f = dir.join(name);
    std::fs::write(&f, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A fresh clone of a Hugo site: `.gitignore` lists `/public/`, nothing is built, `hugo` builds it.
pub fn fresh_hugo(site: &Site) -> PathBuf {
    site.write(
        "hugo.toml",
        "baseURL = 'https://blog.example.com/'\ntitle = 'My blog'\n",
    )
    .write(".gitignore", "/public/\n.hugo_build.lock\n")
    .write(
        "content/posts/hello.md",
        "---\ntitle: Hello\n---\nThe first post.\n",
    );
    site.commit("hugo site");
    let fake = site.tmp.path().join("fake-bin");
    fake_generator(
        &fake,
        "hugo",
        "",
        "public",
        &[
            ("index.html", "<h1>My blog</h1>"),
            ("posts/hello/index.html", "<h1>Hello</h1>"),
        ],
    );
    fake
}

fn fixture(name: &str) -> Fixture {
    let site = Site::new();
    let root = site.tmp.path().to_path_buf();
    let mut f = Fixture {
        cwd: site.dir.clone(),
        shown_as: vec![(
            root.join("site").display().to_string(),
            "/home/me/blog".into(),
        )],
        path: Vec::new(),
        site,
    };
    match name {
        // Nothing but the binary and git: `git publish demo` makes everything else.
        "demo" => {
            f.cwd = root.join("home");
            f.shown_as = vec![(f.cwd.display().to_string(), "/home/me".into())];
        }
        "hugo-fresh" => {
            let fake = fresh_hugo(&f.site);
            f.path.push(fake);
        }
        "moved-page" => moved_page(&mut f),
        other => panic!("unknown transcript fixture {other}"),
    }
    f
}

/// A Hexo-style blog published to S3 + CloudFront (moto), whose post then moved: its title, so its permalink,
/// changed.
fn moved_page(f: &mut Fixture) {
    let b = bucket("docs-moved");
    let d = distribution(&b);
    // site.toml names this run's bucket: out of the commits, so that their ids are the same in every run.
    f.site.write(".git/info/exclude", "site.toml\n");
    f.site
        .write("public/index.html", "<a href=/2024/03/01/hello/>Hello</a>")
        .write("public/2024/03/01/hello/index.html", "<h1>Hello</h1><p>The first post.</p>\n")
        .write(
            "site.toml",
            format!(
                "[source]\ndir = \"public\"\n[targets.production]\nurl = \"s3://{b}\"\ndistribution = \"{d}\"\n\
                 redirect_renames = \"auto\"\n"
            ),
        );
    f.site.commit("Hello");
    f.site.run(&[]).ok();
    f.site
        .remove("public/2024/03/01/hello/index.html")
        .write(
            "public/2024/03/02/hello-again/index.html",
            "<h1>Hello</h1><p>The first post.</p>\n",
        )
        .write(
            "public/index.html",
            "<a href=/2024/03/02/hello-again/>Hello again</a>",
        );
    f.site.commit("Hello again");
    f.shown_as.push((b, "my-blog".into()));
    f.shown_as.push((d, "E2QWRUHAPOMQZL".into()));
}

/// Run `cmd` as the document's reader would: in a shell, output and errors in one stream.
fn run_shown(f: &Fixture, cmd: &str) -> Vec<String> {
    let mut c = Command::new("sh");
    f.site.env(&mut c);
    let mut path: Vec<String> = f.path.iter().map(|p| p.display().to_string()).collect();
    path.push(bin_dir().display().to_string());
    path.push(test_path());
    std::fs::create_dir_all(&f.cwd).unwrap();
    let out = c
        .arg("-c")
        .arg(format!("exec 2>&1; {cmd}"))
        .env("PATH", path.join(":"))
        .env("GIT_PUBLISH_NOW", "2026-03-02T09:00:00Z")
        .current_dir(&f.cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    for (actual, shown) in &f.shown_as {
        text = text.replace(actual.as_str(), shown);
    }
    text.lines().map(normalise).collect()
}

/// What varies from run to run reads the same on both sides: durations (`in 0.1s` as `in 0.0s`) and the ids
/// CloudFront gives invalidations.
fn normalise(line: &str) -> String {
    let duration = regex::Regex::new(r" in \d+\.\ds").unwrap();
    let invalidation = regex::Regex::new(r"invalidation [A-Z0-9]{10,20} created").unwrap();
    let line = duration.replace_all(line.trim_end(), " in 0.0s");
    invalidation
        .replace_all(&line, "invalidation I2J0I21PCUYOIK created")
        .into_owned()
}

#[test]
fn every_transcript_in_the_documents_is_what_the_tool_prints() {
    // GIT_PUBLISH_DOCS_BLESS=1 writes what the tool prints into the documents instead (then read the diff).
    let bless = std::env::var_os("GIT_PUBLISH_DOCS_BLESS").is_some();
    let mut total = 0;
    for file in ["README.md", "INSTALL.md"] {
        let mut lines: Vec<String> = doc(file).lines().map(str::to_string).collect();
        let mut shift = 0isize;
        for t in transcripts(file) {
            total += 1;
            let f = fixture(&t.fixture);
            let mut block = Vec::new();
            for (cmd, want) in &t.steps {
                let got = run_shown(&f, cmd);
                let want: Vec<String> = want.iter().map(|l| normalise(l)).collect();
                assert!(
                    bless || got == want,
                    "{file}:{}: `$ {cmd}` (fixture {}) printed:\n{}\n\nthe document shows:\n{}\n\n\
                     (GIT_PUBLISH_DOCS_BLESS=1 writes what it printed into the document)",
                    t.line,
                    t.fixture,
                    got.join("\n"),
                    want.join("\n")
                );
                block.push(format!("$ {cmd}"));
                block.extend(got);
            }
            let first = (t.line as isize + shift) as usize; // the line after ```console
            let old_len = t.steps.iter().map(|(_, w)| w.len() + 1).sum::<usize>();
            shift += block.len() as isize - old_len as isize;
            lines.splice(first..first + old_len, block);
        }
        if bless {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            std::fs::write(root.join(file), lines.join("\n") + "\n").unwrap();
        }
    }
    assert!(total >= 3, "the README's transcripts were not found");
}

/// The backticked field names in the first column of the table after `heading` in the README.
pub fn documented_fields(readme: &str, heading: &str) -> BTreeSet<String> {
    let after = &readme[readme
        .find(heading)
        .unwrap_or_else(|| panic!("README: no {heading:?}"))..];
    let names = regex::Regex::new(r"`([a-z_]+)`").unwrap();
    after
        .lines()
        .skip_while(|l| !l.starts_with("| field"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .flat_map(|l| {
            let first = l.split('|').nth(1).unwrap_or("");
            names
                .captures_iter(first)
                .map(|c| c[1].to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn the_json_field_tables_list_exactly_the_fields_printed() {
    let readme = doc("README.md");
    let site = Site::new();
    small_blog(&site);
    let out = site.tmp.path().join("www");
    site.config(&format!(
        "[source]\ndir = \"public\"\n[targets.local]\nurl = \"file://{}\"\n",
        out.display()
    ));
    site.commit("site");
    let publish = site.run(&["--json"]).ok().json();
    assert_eq!(
        documented_fields(&readme, "`git publish --json` (also with `--dry-run`)"),
        keys(&publish),
        "README's `git publish --json` table against a real publish"
    );
    let status = site.run(&["status", "--json"]).ok().json();
    assert_eq!(
        documented_fields(&readme, "`git publish status --json` prints"),
        keys(&status[0]),
        "README's `git publish status --json` table against a real status"
    );
}

#[test]
fn the_readme_iam_policy_is_what_iam_policy_prints() {
    let readme = doc("README.md");
    let section = &readme[readme.find("## IAM policy").unwrap()..];
    let block = |lang: &str| {
        let start = section.find(&format!("```{lang}\n")).unwrap() + lang.len() + 4;
        section[start..start + section[start..].find("```").unwrap()].to_string()
    };
    let site = Site::new();
    site.config(&block("toml"));
    let printed = site.run(&["iam-policy"]).ok();
    let want: serde_json::Value = serde_json::from_str(&block("json")).unwrap();
    assert_eq!(
        printed.json(),
        want,
        "README's IAM policy against `git publish iam-policy`"
    );
}

#[test]
fn every_npx_that_runs_git_publish_names_its_package() {
    // `npx git-publish` resolves to the registry's unrelated `git-publish` package (issue 24, finding 5).
    let bare = regex::Regex::new(r"npx\s+(?:-\S+\s+)*git-publish").unwrap();
    let mut files = vec![
        "README.md",
        "INSTALL.md",
        "src/cmd/setup.rs",
        "src/cmd/init.rs",
        "scripts/cross/npm-check",
    ]
    .into_iter()
    .map(|f| (f.to_string(), doc(f)))
    .collect::<Vec<_>>();
    files.push((
        "npm/cli/bin/git-publish.js".into(),
        doc("npm/cli/bin/git-publish.js"),
    ));
    let mut seen = 0;
    for (file, text) in &files {
        for m in bare.find_iter(text) {
            seen += 1;
            // In the sources, `{p}` is the package the npm launcher says it is (GIT_PUBLISH_NPM_PACKAGE).
            assert!(
                m.as_str().contains("--package=@git-publish/cli") || m.as_str().contains("--package={p}"),
                "{file}: `{}` does not name the package: write `npx --package=@git-publish/cli git-publish`",
                m.as_str()
            );
        }
    }
    assert!(
        seen >= 4,
        "expected the documents to show the npx form ({seen} found)"
    );
}

#[test]
fn the_project_url_is_cargo_tomls_repository_everywhere() {
    let home = env!("CARGO_PKG_REPOSITORY");
    assert!(!home.contains("OWNER"), "{home}");
    let github = regex::Regex::new(r"https://github\.com/([A-Za-z0-9_-]+/[A-Za-z0-9_-]+)").unwrap();
    let ours = home.trim_start_matches("https://github.com/");
    for file in [
        "README.md",
        "INSTALL.md",
        "npm/cli/package.json",
        "npm/platforms/linux-x64/package.json",
    ] {
        let text = doc(file);
        let named: BTreeSet<&str> = github
            .captures_iter(&text)
            .map(|c| c.get(1).unwrap().as_str())
            .filter(|r| {
                !r.starts_with("actions/") && !r.starts_with("aws-actions/") && *r != "OWNER/REPO"
            })
            .collect();
        assert!(
            named.iter().all(|r| *r == ours),
            "{file} names {named:?}, Cargo.toml's repository is {home}"
        );
    }
    let v = Command::new(bin()).arg("--version").output().unwrap();
    assert!(
        String::from_utf8_lossy(&v.stdout).contains(home),
        "--version names the project's home"
    );
}
