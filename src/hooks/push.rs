//! The two commands that publish a push without the shims: `git publish push` runs `git push --porcelain`
//! (telling the hooks to stand aside) and publishes what it updated on the site branch (and, after
//! `install --previews`, the previews of the other branches it updated or deleted), and `git publish retry`
//! publishes the commit whose publish failed after its push (and the previews that failed). Also what a
//! `git push` report says (refs updated; a dry run is told from the command line, by `argv`). It installs and
//! arms nothing.

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};

use super::after_push::{
    failed_after_push, live_commit, publish_and_clear, run_job, standing, what_failed, Job,
    Standing,
};
use super::argv;
use super::install::PREVIEWS_KEY;
use crate::error::{exit, Error, Result};
use crate::publish::Session;
use crate::records::{
    clear_failure_if_covered, read_failure, read_preview_failures, BranchPush, Failure,
};
use crate::settings::{publish_opts, Invocation};
use crate::state;

/// Set by `git publish push` for its `git push`: the hooks then leave publishing to it.
const SKIP_ENV: &str = "GIT_PUBLISH_SKIP_HOOKS";

/// One ref of `git push --porcelain`: `<flag>\t<from>:<to>\t<summary>`.
#[derive(Debug, PartialEq, Eq)]
pub struct PushedRef {
    pub flag: char,
    /// The source as the user named it (any revision, which may contain `:`).
    pub from: String,
    /// The full name of the remote ref (a ref name never contains `:`).
    pub to: String,
    /// The new commit as git abbreviated it (`old..new`, `old...new`), when the summary names one.
    pub new: Option<String>,
}

impl PushedRef {
    /// Fast-forward, forced or new: the remote ref now points at `from`'s commit.
    pub fn updated(&self) -> bool {
        matches!(self.flag, ' ' | '+' | '*')
    }
}

/// The ref lines of `git push --porcelain` output. The `from:to` field is split at its last colon: `to` is a
/// ref name, which can't contain one, while `from` can (`HEAD^{/fix: typo}`).
pub fn parse_porcelain(out: &str) -> Vec<PushedRef> {
    out.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let flag = f.next()?.chars().next()?;
            let (from, to) = f.next()?.rsplit_once(':')?;
            let new = f
                .next()
                .and_then(|summary| summary.split(' ').next())
                .and_then(|range| range.rsplit_once(".."))
                .map(|(_, new)| new.trim_start_matches('.').to_string());
            Some(PushedRef {
                flag,
                from: from.to_string(),
                to: to.to_string(),
                new,
            })
        })
        .collect()
}

/// The commit an updated ref now points at: the id git reported, else its source resolved here.
fn pushed_commit(s: &Session, r: &PushedRef) -> Result<String> {
    r.new
        .as_deref()
        .and_then(|id| s.repo.resolve_commit(id).ok())
        .map_or_else(|| s.repo.resolve_commit(&r.from), Ok)
}

/// `git publish push ARGS`: push, then publish each update of the site branch (and, after
/// `install --previews`, publish or remove the previews of the other branches it updated or deleted). The exit
/// code is git push's if it failed, else that of the first failed publish.
pub async fn push(s: &Session, args: &[String]) -> Result<i32> {
    let branch = site_branch(s)?;
    let target = s.config.target(None)?.name.clone();
    let previews = s.repo.config_bool(PREVIEWS_KEY).unwrap_or(false);
    let dry_run = argv::is_dry_run(args).map_err(|why| {
        Error::Usage(format!(
            "git publish push can't tell whether these `git push` arguments are a dry run ({why}), so it pushed nothing; push with `git push` and publish with `git publish`"
        ))
    })?;
    let (out, status) = run_git_push(s, args)?;
    let mut code = if status.success() {
        exit::OK
    } else {
        status.code().unwrap_or(exit::RUNTIME).max(1)
    };
    let jobs = pushed_jobs(s, &parse_porcelain(&out), &branch, previews)?;
    if jobs.is_empty() {
        s.ui.note(&format!(
            "the push did not update {}: nothing to publish",
            if previews { "any branch" } else { &branch }
        ));
        return Ok(code);
    }
    for job in jobs {
        if dry_run {
            s.ui.note(&format!(
                "dry run: a real push would go on to {} (target {target})",
                job.describe()
            ));
        } else if let Err(c) = publish_and_report(s, &target, &job).await {
            if code == exit::OK {
                code = c;
            }
        }
    }
    Ok(code)
}

/// What the refs a push reported ask for: each update of the site branch, and, with `previews`, each update
/// or deletion of another branch.
fn pushed_jobs(s: &Session, refs: &[PushedRef], branch: &str, previews: bool) -> Result<Vec<Job>> {
    let mut jobs = Vec::new();
    for r in refs {
        let Some(name) = r.to.strip_prefix("refs/heads/") else {
            continue;
        };
        let deleted = r.flag == '-';
        if name == branch {
            if r.updated() {
                jobs.push(Job::Site(pushed_commit(s, r)?));
            }
        } else if previews && (r.updated() || deleted) {
            let commit = match deleted {
                true => "0".repeat(40),
                false => pushed_commit(s, r)?,
            };
            jobs.push(Job::Preview(BranchPush {
                branch: name.to_string(),
                commit,
            }));
        }
    }
    Ok(jobs)
}

/// The branch whose pushes are published: source.branch, else the current branch.
fn site_branch(s: &Session) -> Result<String> {
    s.config
        .source
        .branch
        .clone()
        .or_else(|| s.repo.current_branch())
        .ok_or_else(|| {
            Error::Usage(
                "no site branch: HEAD is detached and site.toml has no source.branch; set source.branch".into(),
            )
        })
}

/// `git push --porcelain ARGS` with the hooks told to stand aside; git's report is shown on stderr and
/// returned with the exit status.
fn run_git_push(s: &Session, args: &[String]) -> Result<(String, ExitStatus)> {
    let mut child = Command::new("git")
        .arg("push")
        .arg("--porcelain")
        .args(args)
        .current_dir(s.repo.root())
        .env(SKIP_ENV, "1")
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::io("running `git push` (is git on PATH?)", e))?;
    let mut out = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    let status = child
        .wait()
        .map_err(|e| Error::io("waiting for `git push`", e))?;
    // Show git's report as `git push` shows it (stdout is kept for --json and results).
    let _ = std::io::stderr()
        .lock()
        .write_all(human_report(&out).as_bytes());
    Ok((out, status))
}

/// `git push --porcelain`'s report in the form a plain `git push` prints: `To URL`, then one line per ref,
/// `<flag> <summary> <from> -> <to>` with `refs/heads/` and `refs/tags/` left out, and no `Done`.
pub fn human_report(porcelain: &str) -> String {
    let short = |r: &str| {
        (r.strip_prefix("refs/heads/")
            .or_else(|| r.strip_prefix("refs/tags/")))
        .unwrap_or(r)
        .to_string()
    };
    let mut out = String::new();
    for line in porcelain.lines() {
        let mut f = line.split('\t');
        let (Some(flag), Some(refs), Some(summary)) = (f.next(), f.next(), f.next()) else {
            if line.starts_with("To ") {
                out.push_str(line);
                out.push('\n');
            }
            continue;
        };
        let (from, to) = refs.rsplit_once(':').unwrap_or(("", refs));
        let refs = match (flag, from) {
            ("-", _) | (_, "") => short(to),
            _ => format!("{} -> {}", short(from), short(to)),
        };
        // git puts the reason last: `! [rejected]        x -> x (fetch first)`.
        let (summary, reason) = match summary.split_once(" (") {
            Some((s, r)) => (s, format!(" ({r}")),
            None => (summary, String::new()),
        };
        out.push_str(&format!(" {flag} {summary:<17} {refs}{reason}\n"));
    }
    out
}

/// Carry out `job`, which the push asked of `target`; a failure is reported and recorded, and its exit code
/// returned as the error.
async fn publish_and_report(s: &Session, target: &str, job: &Job) -> std::result::Result<(), i32> {
    let Err(e) = run_job(s, job).await else {
        return Ok(());
    };
    let failure = Failure {
        target: Some(target.to_string()),
        commit: job.commit().to_string(),
        error: e.to_string(),
        at: s.clock.rfc3339(),
        preview: job.preview().map(str::to_string),
    };
    Err(failed_after_push(
        Some(&s.repo),
        &failure,
        &e,
        "`git publish status` shows it, `git publish retry` finishes it",
    ))
}

/// `git publish retry`: publish the commit whose publish failed after its push, to the same target, unless
/// what is live has moved on since: a live descendant of it covers it (the failure is forgotten), and a
/// live commit elsewhere is replaced only with `force`. An ancestor of live is only published with `force`,
/// and as a rollback. Then each preview whose publish (or removal) failed after its push is done again.
pub async fn retry(s: &Session, force: bool) -> Result<i32> {
    let production = read_failure(&s.repo);
    let previews = read_preview_failures(&s.repo);
    if production.is_none() && previews.is_empty() {
        s.ui.note("no failed publish is recorded: nothing to retry (`git publish` publishes the site branch)");
        return Ok(exit::OK);
    }
    if let Some(f) = production {
        retry_production(s, &f, force).await?;
    }
    for f in previews {
        let Some(branch) = f.preview.clone() else {
            continue;
        };
        s.ui.note(&format!(
            "retrying {} that failed at {} ({})",
            what_failed(&f),
            f.at,
            f.error
        ));
        run_job(
            s,
            &Job::Preview(BranchPush {
                branch,
                commit: f.commit.clone(),
            }),
        )
        .await?;
    }
    Ok(exit::OK)
}

/// Retry production's failed publish `f` (see [`retry`]).
async fn retry_production(s: &Session, f: &Failure, force: bool) -> Result<()> {
    let target = s.config.target(f.target.as_deref())?.name.clone();
    let live = live_commit(s, Some(&target)).await?;
    let (commit, ago) = (state::short(&f.commit), &f.at);
    let rollback = match standing(&s.repo, &f.commit, live.as_deref()) {
        Standing::Forward => false,
        Standing::Contained { live } if !force => {
            clear_failure_if_covered(&s.repo, &target, &live, false);
            s.ui.note(&format!(
                "{commit}, whose publish failed at {ago}, is already live on {target}: {} contains it; the failure is cleared, nothing to retry",
                s.repo.describe(&live)
            ));
            return Ok(());
        }
        Standing::Contained { .. } => true,
        Standing::Elsewhere { live } if !force => {
            return Err(Error::Usage(format!(
                "{target} has moved on since the publish of {commit} failed at {ago}: live is {}, which does not contain {commit} (`git fetch` first if this clone lacks it); `git publish retry --force` replaces it with {commit}, `git publish` publishes the site branch",
                s.repo.describe(&live)
            )));
        }
        Standing::Elsewhere { .. } => false,
    };
    s.ui.note(&format!(
        "retrying the publish of {commit} that failed at {ago} ({})",
        f.error
    ));
    let opts = publish_opts(Invocation::Retry {
        target: f.target.clone(),
        commit: f.commit.clone(),
        rollback,
    });
    publish_and_clear(s, &opts).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porcelain_lines() {
        let out = "To ../remote.git\n*\trefs/heads/main:refs/heads/main\t[new branch]\n\
                   !\trefs/heads/x:refs/heads/x\t[rejected] (fetch first)\n\
                   =\trefs/heads/y:refs/heads/y\t[up to date]\n\
                   +\tHEAD:refs/heads/z\tabc...def (forced update)\n\
                   -\t:refs/heads/old\t[deleted]\n \tHEAD^{/fix: a:b}:refs/heads/w\t1234..5678\nDone\n";
        // Issue 30: shown as git shows a push, not as the raw porcelain.
        assert_eq!(
            human_report(out),
            "To ../remote.git\n \
             * [new branch]      main -> main\n \
             ! [rejected]        x -> x (fetch first)\n \
             = [up to date]      y -> y\n \
             + abc...def         HEAD -> z (forced update)\n \
             - [deleted]         old\n   \
             1234..5678        HEAD^{/fix: a:b} -> w\n"
        );
        let refs = parse_porcelain(out);
        let got: Vec<(char, &str, &str, bool)> = refs
            .iter()
            .map(|r| (r.flag, r.from.as_str(), r.to.as_str(), r.updated()))
            .collect();
        let new: Vec<Option<&str>> = refs.iter().map(|r| r.new.as_deref()).collect();
        assert_eq!(new, [None, None, None, Some("def"), None, Some("5678")]);
        assert_eq!(
            got,
            [
                ('*', "refs/heads/main", "refs/heads/main", true),
                ('!', "refs/heads/x", "refs/heads/x", false),
                ('=', "refs/heads/y", "refs/heads/y", false),
                ('+', "HEAD", "refs/heads/z", true),
                ('-', "", "refs/heads/old", false),
                (' ', "HEAD^{/fix: a:b}", "refs/heads/w", true),
            ]
        );
    }
}
