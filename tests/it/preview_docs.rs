//! The README's "Previews" section is tested like the rest of the documents (issue 25): the GitHub Actions
//! workflow it shows is `examples/github/previews.yml` byte for byte, every git-publish command in that
//! workflow's `run:` scripts is one the CLI has (each subcommand and flag, against `git publish <cmd> --help`),
//! and the `git publish preview --json` table lists exactly the fields a preview prints.

use std::collections::BTreeSet;
use std::path::Path;

use crate::docs::documented_fields;
use crate::util::*;

const WORKFLOW: &str = "examples/github/previews.yml";

fn read(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
}

#[test]
fn the_readme_quotes_the_previews_workflow_verbatim() {
    let readme = read("README.md");
    let workflow = read(WORKFLOW);
    let block = format!("```yaml\n{workflow}```\n");
    assert!(
        readme.contains(&block),
        "README.md's \"Pull requests on GitHub Actions\" must quote {WORKFLOW} as it is, in a ```yaml block"
    );
    // Pinned by commit, as .github/workflows/release.yml pins them.
    let uses = regex::Regex::new(r"uses: ([^@\s]+)@(\S+)").unwrap();
    let pins: Vec<_> = uses.captures_iter(&workflow).collect();
    assert!(pins.len() >= 4, "{WORKFLOW}: no `uses:` found");
    for c in pins {
        assert!(
            c[2].len() == 40 && c[2].bytes().all(|b| b.is_ascii_hexdigit()),
            "{WORKFLOW}: {} is pinned to {:?}, not to a commit",
            &c[1],
            &c[2]
        );
    }
}

/// The `run:` scripts of a workflow: `run: CMD` on one line, or `run: |` and the lines indented under it.
fn run_scripts(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = line.len() - line.trim_start().len();
        let Some(rest) = line
            .trim_start()
            .trim_start_matches("- ")
            .strip_prefix("run:")
        else {
            i += 1;
            continue;
        };
        let rest = rest.trim();
        if rest != "|" {
            out.push(rest.to_string());
            i += 1;
            continue;
        }
        let mut script = String::new();
        i += 1;
        while i < lines.len()
            && (lines[i].trim().is_empty() || lines[i].len() - lines[i].trim_start().len() > indent)
        {
            script.push_str(lines[i].trim());
            script.push('\n');
            i += 1;
        }
        out.push(script);
    }
    out
}

/// Each git-publish command line in `script`: the words after `git-publish`, up to a shell operator.
fn git_publish_commands(script: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in script.lines() {
        for (at, _) in line.match_indices("git-publish ") {
            if line[..at].ends_with("--package=@git-publish/cli ") || line[..at].ends_with("npx ") {
                let words: Vec<String> = line[at + "git-publish ".len()..]
                    .split_whitespace()
                    .take_while(|w| !matches!(*w, ">" | "&&" | "||" | "|" | ";" | "{"))
                    .map(|w| w.trim_matches('"').to_string())
                    .collect();
                out.push(words);
            }
        }
    }
    out
}

/// The subcommands `git-publish <chain> --help` lists.
fn subcommands(help: &str) -> BTreeSet<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn every_git_publish_command_of_the_previews_workflow_exists() {
    let site = Site::new();
    let mut seen = BTreeSet::new();
    for script in run_scripts(&read(WORKFLOW)) {
        for words in git_publish_commands(&script) {
            let mut chain: Vec<String> = Vec::new();
            let mut help = site.run(&["--help"]).ok().stdout;
            for w in words.iter().take_while(|w| !w.starts_with('-')) {
                if !subcommands(&help).contains(w) {
                    break;
                }
                chain.push(w.clone());
                let mut args: Vec<&str> = chain.iter().map(String::as_str).collect();
                args.push("--help");
                help = site.run(&args).ok().stdout;
            }
            assert!(
                !chain.is_empty(),
                "{WORKFLOW}: `git-publish {}` names no command",
                words.join(" ")
            );
            for flag in words.iter().filter(|w| w.starts_with("--")) {
                let name = flag.split('=').next().unwrap();
                let known =
                    regex::Regex::new(&format!(r"(^|[\s,]){}[\s=,]", regex::escape(name))).unwrap();
                assert!(
                    help.lines().any(|l| known.is_match(&format!("{l} "))),
                    "{WORKFLOW}: `git-publish {}`: {name} is not a flag of `git publish {}`:\n{help}",
                    words.join(" "),
                    chain.join(" ")
                );
            }
            seen.insert(chain.join(" "));
        }
    }
    assert_eq!(
        seen,
        BTreeSet::from(["preview".to_string(), "preview rm".to_string()]),
        "the commands found in {WORKFLOW}'s run: scripts"
    );
}

#[test]
fn the_preview_json_table_lists_exactly_the_fields_printed() {
    let site = Site::new();
    small_blog(&site);
    let out = site.tmp.path().join("www");
    site.config(&format!(
        "[source]\ndir = \"public\"\nbranch = \"main\"\n[targets.local]\nurl = \"file://{}\"\n",
        out.display()
    ));
    site.commit("site");
    site.git(&["switch", "-q", "-c", "draft"]);
    let printed = site.run(&["preview", "--json"]).ok().json();
    let keys: BTreeSet<String> = printed.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        documented_fields(
            &read("README.md"),
            "`git publish preview --json` (also with `--dry-run`)"
        ),
        keys,
        "README's `git publish preview --json` table against a real preview"
    );
}
