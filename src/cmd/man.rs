//! `git-publish man` and `git-publish completions`: the man page `git-publish(1)` (one page per subcommand
//! too) and shell completions, both generated from the clap definitions in [`crate::cli`], so they can't
//! drift from `--help`.
//!
//! `git publish --help` makes git run `man git-publish`: `git-publish man --install` writes the pages where
//! man finds them through PATH (`<bin>/../share/man/man1`, e.g. `~/.cargo/share/man/man1` for
//! `cargo install`) and says what to add to MANPATH when that directory is not searched. This module needs
//! no repository and no config; it must not grow into documentation that clap could generate.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::{Error, Result};
use crate::ui::Ui;

/// Sections clap knows nothing about, appended to the top page (roff).
const EXTRA: &str = r#".SH EXAMPLES
.TP
\fBgit publish init\fR
Write a commented site.toml: detect the generator's output directory, pick the bucket and the CloudFront distribution.
.TP
\fBgit publish \-\-dry\-run\fR
Print the plan (+ upload, ~ replace, \- delete, ! invalidate) and change nothing.
.TP
\fBgit publish\fR
Publish the output directory of HEAD (or source.branch) to the default target: upload exactly the files that changed
since the deployed commit, delete the removed ones, invalidate the CloudFront URLs whose content changed.
.TP
\fBgit publish status \-\-json\fR
What is live on each target and how far it is behind, as one JSON document.
.SH EXIT STATUS
.TP
0
Published, or nothing to do.
.TP
1
Runtime failure (network, AWS, git read, local IO); nothing was recorded as deployed.
.TP
2
Usage, configuration or bad input.
.TP
3
Another publisher holds the target, or won the race for it.
.TP
4
A safety limit (max_deletes) refused the plan; nothing was changed.
.SH ENVIRONMENT
AWS_PROFILE, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and the rest of the standard
AWS credential chain; AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_CLOUDFRONT for S3\-compatible or local
servers. NO_COLOR turns colour off (as \-\-color never does). GIT_PUBLISH_LOG sets the log filter (tracing syntax).
.SH FILES
.TP
site.toml
At the repository root: source directory and targets. Every key is documented in site.toml.example.
.TP
<prefix>/.git\-publish/state.json
In the target: the deployed commit and the claim of a publish in progress.
.TP
refs/publish/<target>
A local mirror of the deployed commit.
.SH SEE ALSO
\fBgit\-publish\-init\fR(1), \fBgit\-publish\-status\fR(1), \fBgit\-push\fR(1)
"#;

/// The top page as roff.
pub fn render() -> Vec<u8> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let man = clap_mangen::Man::new(cmd).manual("Git Manual");
    let mut out = Vec::new();
    // Writing into a Vec can't fail.
    let _ = man.render_title(&mut out);
    let _ = man.render_name_section(&mut out);
    let _ = man.render_synopsis_section(&mut out);
    let _ = man.render_description_section(&mut out);
    let _ = man.render_options_section(&mut out);
    let _ = man.render_subcommands_section(&mut out);
    out.extend_from_slice(EXTRA.as_bytes());
    let _ = man.render_version_section(&mut out);
    out
}

/// `git-publish man [--install [--dir DIR]]`.
pub fn run(install: bool, dir: Option<PathBuf>, ui: &Ui) -> Result<()> {
    if !install {
        let mut o = std::io::stdout().lock();
        return o
            .write_all(&render())
            .map_err(|e| Error::io("writing the man page to stdout", e));
    }
    let dir = match dir {
        Some(d) => d,
        None => default_dir()?,
    };
    let written = install_to(&dir)?;
    let dir = normalize(&dir);
    for p in &written {
        ui.note(&format!("wrote {}", normalize(p).display()));
    }
    let man_root = dir.parent().unwrap_or(&dir);
    if on_manpath(man_root) {
        ui.note("`git publish --help` and `man git-publish` now open it");
    } else {
        ui.warn(&format!(
            "{} is not on man's search path: add `export MANPATH=\"{}:$MANPATH\"` to your shell's profile \
             (the trailing `:` keeps the system pages), then `git publish --help` opens it",
            man_root.display(),
            man_root.display()
        ));
    }
    Ok(())
}

/// Write git-publish.1 and one page per subcommand into `dir` (created if missing). Returns the files.
pub fn install_to(dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let man = clap_mangen::Man::new(sub.clone()).manual("Git Manual");
        let path = man
            .generate_to(dir)
            .map_err(|e| Error::io(format!("writing a man page into {}", dir.display()), e))?;
        written.push(path);
    }
    let top = dir.join("git-publish.1");
    std::fs::write(&top, render())
        .map_err(|e| Error::io(format!("writing {}", top.display()), e))?;
    written.insert(0, top);
    Ok(written)
}

/// `<directory of the binary>/../share/man/man1`: man-db searches it for every PATH entry that has it.
fn default_dir() -> Result<PathBuf> {
    let exe =
        std::env::current_exe().map_err(|e| Error::io("locating the git-publish binary", e))?;
    let bin = exe.parent().unwrap_or(Path::new("."));
    Ok(bin
        .join("../share/man/man1")
        .components()
        .collect::<PathBuf>())
}

/// Whether `man` searches `root` (from `manpath`, which honours MANPATH and derives dirs from PATH).
fn on_manpath(root: &Path) -> bool {
    let Ok(out) = std::process::Command::new("manpath")
        .stderr(std::process::Stdio::null())
        .output()
    else {
        return false;
    };
    let want = normalize(root);
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(':')
        .any(|p| normalize(Path::new(p)) == want)
}

fn normalize(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// `git-publish completions SHELL`. For bash it also defines `_git_publish`, which git's own completion
/// calls for `git publish <TAB>`.
pub fn completions(shell: clap_complete::Shell) {
    let _ = std::io::stdout()
        .lock()
        .write_all(&completion_script(shell));
}

pub fn completion_script(shell: clap_complete::Shell) -> Vec<u8> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "git-publish", &mut out);
    if shell == clap_complete::Shell::Bash {
        // clap_complete 4.6 names the subcommand cases of a hyphenated binary inconsistently
        // (`git__subcmd__publish__subcmd__init)` vs `cmd="git__publish__subcmd__init"`), which leaves
        // subcommand options uncompleted: align them.
        let fixed = String::from_utf8_lossy(&out).replace("git__subcmd__publish", "git__publish");
        out = fixed.into_bytes();
        out.extend_from_slice(BASH_GIT_SHIM.as_bytes());
    }
    out
}

/// git's bash completion calls `_git_<cmd>` for `git <cmd>`: forward to the clap completer as if the user had
/// typed `git-publish ...`.
const BASH_GIT_SHIM: &str = r#"
# `git publish <TAB>` (git's completion calls _git_publish)
_git_publish() {
    local -a words=("git-publish" "${COMP_WORDS[@]:2}")
    local cword=$((COMP_CWORD - 1))
    COMP_WORDS=("${words[@]}")
    COMP_CWORD=$cword
    COMP_LINE="${COMP_WORDS[*]}"
    COMP_POINT=${#COMP_LINE}
    _git__publish git-publish "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_page_names_every_subcommand_and_the_exit_codes() {
        let page = String::from_utf8(render()).unwrap();
        assert!(
            page.starts_with(".ie") || page.contains(".TH git-publish 1"),
            "{page}"
        );
        for needle in [
            "git\\-publish\\-init(1)",
            "status",
            "EXIT STATUS",
            "\\-\\-dry\\-run",
        ] {
            assert!(page.contains(needle), "missing {needle} in\n{page}");
        }
    }

    #[test]
    fn bash_completion_completes_subcommand_options() {
        let script = String::from_utf8(completion_script(clap_complete::Shell::Bash)).unwrap();
        // Every `cmd=` the script assigns has a case of its own.
        for line in script.lines() {
            if let Some(name) = line
                .trim()
                .strip_prefix("cmd=\"")
                .and_then(|l| l.strip_suffix('"'))
            {
                if name.is_empty() {
                    continue;
                }
                assert!(
                    script.contains(&format!("        {name})")),
                    "no case for {name}"
                );
            }
        }
        assert!(script.contains("_git_publish()"));
    }

    #[test]
    fn install_writes_the_top_page_and_one_per_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        let written = install_to(dir.path()).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names[0], "git-publish.1");
        assert!(
            names.contains(&"git-publish-init.1".to_string()),
            "{names:?}"
        );
        assert!(
            names.contains(&"git-publish-status.1".to_string()),
            "{names:?}"
        );
    }
}
