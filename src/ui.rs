//! Everything the user sees: the rendered plan, `--json` documents, progress, warnings and notes.
//!
//! Stdout carries the result (plan lines, JSON); stderr carries progress, notes and errors. Progress bars
//! appear only on a terminal; `--quiet` leaves only errors; inside hooks the caller asks for quiet.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::plan::{Plan, UploadKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

pub struct Ui {
    pub verbosity: Verbosity,
    pub json: bool,
    color: bool,
    bar: Mutex<Option<ProgressBar>>,
}

/// Plans longer than this print only their summary unless `-v` or `--dry-run`.
const LONG_PLAN: usize = 60;

impl Ui {
    pub fn new(verbosity: Verbosity, json: bool, color: Option<bool>) -> Ui {
        let color = color.unwrap_or_else(|| {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        });
        Ui {
            verbosity,
            json,
            color,
            bar: Mutex::new(None),
        }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// A note on stderr (suppressed by `-q`).
    pub fn note(&self, msg: &str) {
        if self.verbosity > Verbosity::Quiet {
            self.eprintln(&format!("git-publish: {msg}"));
        }
    }

    /// A warning on stderr (suppressed by `-q`).
    pub fn warn(&self, msg: &str) {
        if self.verbosity > Verbosity::Quiet {
            self.eprintln(&format!("git-publish: warning: {msg}"));
        }
    }

    fn eprintln(&self, line: &str) {
        match self.bar.lock().ok().and_then(|b| b.clone()) {
            Some(bar) if !bar.is_hidden() => bar.println(line),
            _ => eprintln!("{line}"),
        }
    }

    /// A line of result on stdout (suppressed by `-q` and `--json`).
    pub fn out(&self, line: &str) {
        if self.verbosity > Verbosity::Quiet && !self.json {
            let mut o = std::io::stdout().lock();
            let _ = writeln!(o, "{line}");
        }
    }

    pub fn json<T: Serialize>(&self, value: &T) {
        let mut o = std::io::stdout().lock();
        let _ = serde_json::to_writer_pretty(&mut o, value);
        let _ = writeln!(o);
    }

    /// The plan: `+` new, `~` replace, `=` server-side copy, `*` headers only, `-` delete, `…` delete deferred to
    /// the next publish, `!` invalidate, then a summary line (and a warning when the path budget runs out).
    pub fn plan(&self, plan: &Plan, dry_run: bool) {
        let total = plan.uploads.len() + plan.deletes.len() + plan.invalidations.len();
        let detail = dry_run || self.verbosity >= Verbosity::Verbose || total <= LONG_PLAN;
        if detail {
            for u in &plan.uploads {
                let (mark, code) = match u.kind {
                    UploadKind::New => ("+", "32"),
                    UploadKind::Replace => ("~", "33"),
                    UploadKind::Copy => ("=", "32"),
                    UploadKind::Headers => ("*", "35"),
                };
                let from = match (&u.kind, &u.copy_from) {
                    (UploadKind::Copy, Some(f)) => format!(" (copy of {f})"),
                    _ => String::new(),
                };
                self.out(&format!("{} {}{from}", self.paint(code, mark), u.key));
            }
            for d in &plan.deletes {
                self.out(&format!("{} {}", self.paint("31", "-"), d));
            }
            for d in &plan.deferred {
                self.out(&format!(
                    "{} {} (deleted by the next publish)",
                    self.paint("31", "…"),
                    d
                ));
            }
            let several = plan.cdn.len() > 1;
            for c in &plan.cdn {
                for p in &c.paths {
                    let on = if several {
                        format!("{} ", c.distribution)
                    } else {
                        String::new()
                    };
                    self.out(&format!("{} {on}{}", self.paint("36", "!"), p));
                }
            }
        }
        self.out(&summary_line(plan));
        let b = &plan.budget;
        if b.tightened || b.paid > 0 {
            self.warn(&format!(
                "invalidation budget: {} of {} paths used this month; {} of these {} paths are beyond it{}",
                b.used,
                b.monthly,
                b.paid,
                plan.invalidation.paths,
                if b.tightened {
                    " (preferring wildcards)"
                } else {
                    ""
                }
            ));
        }
        if let Some(line) = churn_line(plan) {
            self.out(&line);
        }
    }

    /// Start a progress bar over `len` items of `bytes` bytes (terminal only).
    pub fn start_progress(&self, phase: &str, len: u64) {
        let target =
            if self.verbosity > Verbosity::Quiet && !self.json && std::io::stderr().is_terminal() {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            };
        if target.is_hidden() && self.verbosity >= Verbosity::Verbose {
            eprintln!("git-publish: {phase}: {len}");
        }
        let bar = ProgressBar::with_draw_target(Some(len), target);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>8} [{bar:30}] {pos}/{len} files, {msg} {elapsed} (eta {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(phase.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Ok(mut b) = self.bar.lock() {
            if let Some(old) = b.take() {
                old.finish_and_clear();
            }
            *b = Some(bar);
        }
    }

    pub fn progress(&self, items: u64, bytes_total: u64) {
        if let Ok(b) = self.bar.lock() {
            if let Some(bar) = b.as_ref() {
                bar.inc(items);
                bar.set_message(human_bytes(bytes_total));
            }
        }
    }

    pub fn finish_progress(&self) {
        if let Ok(mut b) = self.bar.lock() {
            if let Some(bar) = b.take() {
                bar.finish_and_clear();
            }
        }
    }
}

pub fn summary_line(plan: &Plan) -> String {
    let new = plan.count(UploadKind::New);
    let replaced = plan.count(UploadKind::Replace);
    let sent = new + replaced;
    let mut extra = String::new();
    for (n, what) in [
        (plan.count(UploadKind::Copy), "copied in place"),
        (plan.count(UploadKind::Headers), "header updates"),
        (plan.deferred.len(), "deletes deferred"),
    ] {
        if n > 0 {
            extra.push_str(&format!(", {n} {what}"));
        }
    }
    let inv = &plan.invalidation;
    let wild = if inv.wildcards > 0 {
        format!(", {} wildcard", inv.wildcards)
    } else {
        String::new()
    };
    let evicted = if inv.unchanged_evicted > 0 {
        format!(", evicting {} unchanged URLs", inv.unchanged_evicted)
    } else {
        String::new()
    };
    let paid = if plan.budget.paid > 0 {
        format!(", {} paid", plan.budget.paid)
    } else {
        String::new()
    };
    format!(
        "{sent} uploads ({new} new, {replaced} replaced, {}){extra}, {} deletes, {} invalidation paths{wild}{paid}{evicted}",
        human_bytes(plan.upload_bytes()),
        plan.deletes.len(),
        inv.paths,
    )
}

/// Files that differ only in timestamps or build ids: they will be uploaded and invalidated on every build.
pub fn churn_line(plan: &Plan) -> Option<String> {
    const SHOWN: usize = 8;
    let n = plan.churn.len();
    if n == 0 {
        return None;
    }
    let mut names = plan.churn[..n.min(SHOWN)].join(", ");
    if n > SHOWN {
        names.push_str(&format!(", and {} more", n - SHOWN));
    }
    Some(format!(
        "churn: {n} file(s) differ only in timestamps or build ids and will change on every build \
         (each costs an upload and an invalidation): {names}"
    ))
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
    }
}
