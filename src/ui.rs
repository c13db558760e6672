//! Everything the user sees: the rendered plan, `--json` documents, progress, warnings and notes.
//!
//! Stdout carries the result (plan lines, JSON); stderr carries progress, notes and errors. Progress bars
//! appear only on a terminal; `--quiet` leaves only errors; inside hooks the caller asks for quiet.
//! The executor's [`Event`]s and the backends' [`Notice`]s are turned into output here ([`Ui::show_event`],
//! [`Ui::say`]). It renders what it is given and decides nothing about the publish.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::exec::{Event, Notice};
use crate::plan::{Plan, UploadKind};
pub use crate::quote::quote_path;
use crate::quote::scrub;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

pub struct Ui {
    pub verbosity: Verbosity,
    pub json: bool,
    /// Colour on stdout (the plan).
    color: bool,
    /// Colour on stderr (warnings, the summary).
    color_err: bool,
    bar: Mutex<Option<ProgressBar>>,
    /// Sparse progress lines when stderr is not a terminal.
    plain: Mutex<Option<PlainProgress>>,
}

/// Progress on a non-terminal (CI logs, pipes): one line per phase, then one every 10% (phases of 100+
/// files) or every 10 s, never one per file.
struct PlainProgress {
    phase: String,
    files: u64,
    bytes: Option<u64>,
    files_done: u64,
    bytes_done: u64,
    started: Instant,
    last_line: Instant,
    last_decile: u64,
}

/// The terminal bar of an upload phase: bytes drive the bar, rate and ETA; `msg` counts files.
const BAR_BYTES: &str =
    "{prefix:>9} [{bar:30}] {msg} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}";
/// The terminal bar of a phase without bytes (deletes, invalidation).
const BAR_ITEMS: &str = "{prefix:>9} [{bar:30}] {pos}/{len} {elapsed}";

/// A plain progress line every this often at least.
const PLAIN_EVERY: Duration = Duration::from_secs(10);
/// Phases with fewer files than this print no 10% lines (only the time-based ones).
const PLAIN_DECILES_FROM: u64 = 100;

/// Plans longer than this print only their summary unless `-v` or `--dry-run`.
const LONG_PLAN: usize = 60;

impl Ui {
    /// `color`: `Some` from `--color always|never`, `None` for auto (a terminal, and `NO_COLOR` unset or empty).
    pub fn new(verbosity: Verbosity, json: bool, color: Option<bool>) -> Ui {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let auto = |terminal: bool| color.unwrap_or(terminal && !no_color);
        Ui {
            verbosity,
            json,
            color: auto(std::io::stdout().is_terminal()),
            color_err: auto(std::io::stderr().is_terminal()),
            bar: Mutex::new(None),
            plain: Mutex::new(None),
        }
    }

    /// A note on stderr (suppressed by `-q`).
    pub fn note(&self, msg: &str) {
        if self.verbosity > Verbosity::Quiet {
            self.eprintln(&format!("git-publish: {}", scrub(msg)));
        }
    }

    /// Whether a person can be asked: stdin and stderr are terminals (never in hooks or CI).
    pub fn can_ask(&self) -> bool {
        use std::io::IsTerminal;
        std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
    }

    /// Ask a yes/no question on the terminal, the answer on stdin, default no; `false` when nobody can be
    /// asked ([`Ui::can_ask`]).
    pub fn confirm(&self, question: &str) -> bool {
        if !self.can_ask() {
            return false;
        }
        let prompt = format!("git-publish: {} [y/N] ", scrub(question));
        match ask(&mut std::io::stdin().lock(), &prompt) {
            Ok(Some(answer)) => matches!(answer.to_ascii_lowercase().as_str(), "y" | "yes"),
            _ => false,
        }
    }

    /// A warning on stderr (suppressed by `-q`).
    pub fn warn(&self, msg: &str) {
        if self.verbosity > Verbosity::Quiet {
            let w = paint(self.color_err, "33", "warning:");
            self.eprintln(&format!("git-publish: {w} {}", scrub(msg)));
        }
    }

    /// The closing line of a publish on stderr (suppressed by `-q`), its first word in bold green.
    pub fn done(&self, first: &str, rest: &str) {
        if self.verbosity > Verbosity::Quiet {
            let f = paint(self.color_err, "1;32", first);
            self.eprintln(&format!("git-publish: {f} {}", scrub(rest)));
        }
    }

    fn eprintln(&self, line: &str) {
        match self.bar.lock().ok().and_then(|b| b.clone()) {
            Some(bar) if !bar.is_hidden() => bar.println(line),
            _ => stderr_line(line),
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
        for line in render_plan(plan, detail, self.color) {
            self.out(&line);
        }
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
        if !plan.redirects.proposed.is_empty() {
            self.note(&format!(
                "{} found (`?` above) but not redirected: set redirect_renames = \"auto\" in the target, or publish from a terminal and answer yes",
                count(plan.redirects.proposed.len() as u64, "moved page", "moved pages")
            ));
        }
    }

    /// A notice from the backends (e.g. how `distribution = "auto"` was resolved).
    pub fn say(&self, notice: Notice) {
        match notice {
            Notice::Note(m) => self.note(&m),
            Notice::Warn(m) => self.warn(&m),
        }
    }

    /// Show what the executor reports while it carries out `plan`: a progress bar (or lines) per phase, and
    /// each invalidation created. With `full`, the upload phases show no byte totals (the plan does not know
    /// the sizes of unchanged files that `--full` re-sends).
    pub fn show_event(&self, ev: Event, plan: &Plan, full: bool) {
        // The bytes a wave sends (server-side copies send none), and whether it only copies (a rename).
        let wave = |html: bool| -> (u64, bool) {
            let of = || plan.uploads.iter().filter(move |u| u.is_html() == html);
            let sent = of().filter(|u| u.sends_bytes()).map(|u| u.size).sum();
            (sent, of().all(|u| !u.sends_bytes()))
        };
        match ev {
            Event::Phase(name @ ("assets" | "pages"), n) => {
                let (sent, copies_only) = wave(name == "pages");
                match (copies_only, full) {
                    (true, _) => {
                        self.start_progress(&format!("copying {name} in place"), n as u64, None)
                    }
                    (false, true) => self.start_progress(name, n as u64, None),
                    (false, false) => self.start_progress(name, n as u64, Some(sent)),
                }
            }
            Event::Phase(name, n) => self.start_progress(name, n as u64, None),
            Event::Copied { .. } => self.progress(1, 0),
            Event::Uploaded { bytes, .. } => self.progress(1, bytes),
            Event::Deleted { count } => self.progress(count as u64, 0),
            Event::Throttled { delay } => self.warn(&format!(
                "CloudFront: too many invalidations in progress; retrying in {}s",
                delay.as_secs()
            )),
            Event::Invalidated { id, paths } => {
                self.finish_progress();
                self.note(&format!("invalidation {id} created ({paths} paths)"));
            }
        }
    }

    /// Start a phase of `len` items (`bytes` in all for uploads): a bar on a terminal, sparse lines
    /// otherwise, nothing with `-q` or `--json`.
    pub fn start_progress(&self, phase: &str, len: u64, bytes: Option<u64>) {
        self.finish_progress();
        if self.verbosity == Verbosity::Quiet || self.json {
            return;
        }
        if !std::io::stderr().is_terminal() {
            self.start_plain(phase, len, bytes);
            return;
        }
        let (total, template) = match bytes {
            // Bytes drive the bar, the rate and the ETA; files are counted in the message.
            Some(b) => (b, BAR_BYTES),
            None => (len, BAR_ITEMS),
        };
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(phase.to_string());
        if bytes.is_some() {
            bar.set_message(format!("0/{len} files"));
            bar.set_length(total.max(1));
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Ok(mut b) = self.bar.lock() {
            *b = Some(bar);
        }
        if let Ok(mut p) = self.plain.lock() {
            *p = Some(PlainProgress::new(phase, len, bytes));
        }
    }

    /// Progress without a terminal: a first line now, then sparse ones (see [`PlainProgress`]).
    fn start_plain(&self, phase: &str, len: u64, bytes: Option<u64>) {
        let what = match bytes {
            Some(b) => format!("{} ({})", count(len, "file", "files"), human_bytes(b)),
            None if phase == "invalidation" => count(len, "path", "paths"),
            None if phase == "deletes" => count(len, "object", "objects"),
            None => count(len, "file", "files"),
        };
        stderr_line(&format!("git-publish: {}: {what}", phase_label(phase)));
        if let Ok(mut p) = self.plain.lock() {
            *p = Some(PlainProgress::new(phase_label(phase), len, bytes));
        }
    }

    /// `items` more done, `bytes` more transferred.
    pub fn progress(&self, items: u64, bytes: u64) {
        let Ok(mut plain) = self.plain.lock() else {
            return;
        };
        let Some(p) = plain.as_mut() else {
            return;
        };
        p.files_done += items;
        p.bytes_done += bytes;
        if let Ok(b) = self.bar.lock() {
            if let Some(bar) = b.as_ref() {
                match p.bytes {
                    Some(_) => {
                        bar.inc(bytes);
                        bar.set_message(format!("{}/{} files", p.files_done, p.files));
                    }
                    None => bar.inc(items),
                }
                return;
            }
        }
        if let Some(line) = p.line_due(Instant::now()) {
            stderr_line(&format!("git-publish: {line}"));
        }
    }

    pub fn finish_progress(&self) {
        if let Ok(mut b) = self.bar.lock() {
            if let Some(bar) = b.take() {
                bar.finish_and_clear();
            }
        }
        if let Ok(mut p) = self.plain.lock() {
            *p = None;
        }
    }
}

fn paint(on: bool, code: &str, s: &str) -> String {
    if on {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn phase_label(phase: &str) -> &str {
    match phase {
        "assets" => "uploading assets",
        "pages" => "uploading pages",
        "redirects" => "writing redirects",
        "deletes" => "deleting",
        "invalidation" => "invalidating",
        other => other,
    }
}

impl PlainProgress {
    fn new(phase: &str, files: u64, bytes: Option<u64>) -> PlainProgress {
        let now = Instant::now();
        PlainProgress {
            phase: phase.to_string(),
            files,
            bytes,
            files_done: 0,
            bytes_done: 0,
            started: now,
            last_line: now,
            last_decile: 0,
        }
    }

    /// The next plain line, if one is due at `now`: when a new 10% is reached (phases of 100+ files), or
    /// 10 s after the last line. Never for the last item (the phase or summary line follows).
    fn line_due(&mut self, now: Instant) -> Option<String> {
        if self.files == 0 || self.files_done >= self.files {
            return None;
        }
        let decile = self.files_done * 10 / self.files;
        let by_count = self.files >= PLAIN_DECILES_FROM && decile > self.last_decile;
        let by_time = now.duration_since(self.last_line) >= PLAIN_EVERY;
        if !by_count && !by_time {
            return None;
        }
        self.last_decile = decile;
        self.last_line = now;
        let mut line = format!(
            "{}: {}/{} ({}%)",
            self.phase,
            self.files_done,
            self.files,
            self.files_done * 100 / self.files
        );
        if self.bytes.is_some() || self.bytes_done > 0 {
            let secs = now.duration_since(self.started).as_secs_f64().max(0.001);
            let of = self
                .bytes
                .map(|t| format!(" of {}", human_bytes(t)))
                .unwrap_or_default();
            line.push_str(&format!(
                ", {}{of}, {}/s",
                human_bytes(self.bytes_done),
                human_bytes((self.bytes_done as f64 / secs) as u64)
            ));
        }
        Some(line)
    }
}

/// The plan as lines: with `detail`, one line per upload, delete and invalidation path; always the summary.
/// The plan's lines. Keys are quoted as git quotes paths ([`quote_path`]), so a file name can't fake a line.
/// The one prompt of every command (`Ui::confirm`'s yes/no, `init`'s questions): `prompt` on stderr, then a
/// line of `input`, trimmed; `None` when the input ended before a line.
pub fn ask(input: &mut impl std::io::BufRead, prompt: &str) -> std::io::Result<Option<String>> {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{prompt}");
    let _ = err.flush();
    drop(err);
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    Ok(Some(line.trim().to_string()))
}

pub fn render_plan(plan: &Plan, detail: bool, color: bool) -> Vec<String> {
    let quoted = quote_path;
    let mut lines = Vec::new();
    if detail {
        for u in &plan.uploads {
            let (mark, code) = match u.kind {
                UploadKind::New => ("+", "32"),
                UploadKind::Replace => ("~", "33"),
                UploadKind::Copy => ("=", "32"),
                UploadKind::Headers => ("*", "35"),
            };
            let from = match (&u.kind, &u.copy_from) {
                (UploadKind::Copy, Some(f)) => format!(" (copy of {})", quoted(f)),
                _ => String::new(),
            };
            lines.push(format!(
                "{} {}{from}",
                paint(color, code, mark),
                quoted(&u.key)
            ));
        }
        for d in &plan.deletes {
            lines.push(format!("{} {}", paint(color, "31", "-"), quoted(d)));
        }
        for r in &plan.redirects.lines {
            let (mark, rest) = r.split_at(1);
            lines.push(format!("{}{rest}", paint(color, "34", mark)));
        }
        for d in &plan.deferred {
            lines.push(format!(
                "{} {} (deleted by the next publish)",
                paint(color, "31", "…"),
                quoted(d)
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
                let p = match p.as_str() {
                    crate::plan::invalidate::EVERYTHING => "everything it has cached",
                    p => p,
                };
                lines.push(format!("{} {on}{}", paint(color, "36", "!"), p));
            }
        }
    }
    lines.push(summary_line(plan));
    lines
}

pub fn summary_line(plan: &Plan) -> String {
    let new = plan.count(UploadKind::New);
    let replaced = plan.count(UploadKind::Replace);
    let sent = new + replaced;
    let mut extra = String::new();
    for (n, one, many) in [
        (
            plan.count(UploadKind::Copy),
            "copied in place",
            "copied in place",
        ),
        (
            plan.count(UploadKind::Headers),
            "header update",
            "header updates",
        ),
        (plan.deferred.len(), "delete deferred", "deletes deferred"),
        (plan.redirects.puts.len(), "redirect", "redirects"),
        (
            plan.redirects.proposed.len(),
            "redirect proposed",
            "redirects proposed",
        ),
    ] {
        if n > 0 {
            extra.push_str(&format!(", {}", count(n as u64, one, many)));
        }
    }
    let inv = &plan.invalidation;
    let wild = if inv.wildcards > 0 {
        format!(", {}", count(inv.wildcards as u64, "wildcard", "wildcards"))
    } else {
        String::new()
    };
    let evicted = if inv.unchanged_evicted > 0 {
        format!(
            ", evicting {}",
            count(
                inv.unchanged_evicted as u64,
                "unchanged URL",
                "unchanged URLs"
            )
        )
    } else {
        String::new()
    };
    let paid = if plan.budget.paid > 0 {
        format!(", {} paid", plan.budget.paid)
    } else {
        String::new()
    };
    format!(
        "{} ({new} new, {replaced} replaced, {}){extra}, {}, {}{wild}{paid}{evicted}",
        count(sent as u64, "upload", "uploads"),
        human_bytes(plan.upload_bytes()),
        count(plan.deletes.len() as u64, "delete", "deletes"),
        count(inv.paths as u64, "invalidation path", "invalidation paths"),
    )
}

/// Files that differ only in timestamps or build ids: they will be uploaded and invalidated on every build.
pub fn churn_line(plan: &Plan) -> Option<String> {
    const SHOWN: usize = 8;
    let n = plan.churn.len();
    if n == 0 {
        return None;
    }
    let shown: Vec<_> = plan.churn[..n.min(SHOWN)]
        .iter()
        .map(|k| quote_path(k))
        .collect();
    let mut names = shown.join(", ");
    if n > SHOWN {
        names.push_str(&format!(", and {} more", n - SHOWN));
    }
    Some(format!(
        "churn: {} only in timestamps or build ids and will change on every build \
         (each costs an upload and an invalidation): {names}",
        count(n as u64, "file differs", "files differ")
    ))
}

pub use crate::error::stderr_line;

/// `1 file`, `2 files` (kept in `quote`, which `error` can use too).
pub use crate::quote::count;

/// Bytes in binary units with one decimal ("1.5 KiB"). Not indicatif's `HumanBytes`: that one prints two
/// decimals ("1.50 KiB"), and these strings are part of the output users and tests read.
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

    use crate::plan::{self, Change, ChangeKind, FileEntry, Settings};

    /// A new post on a small blog: a new page and image, the home page and feed replaced, an old draft
    /// deleted.
    fn new_post_plan(max_invalidation_paths: usize) -> Plan {
        let files = [
            ("index.html", "h1", 2048),
            ("feed.xml", "f1", 900),
            ("posts/a/index.html", "a1", 4000),
            ("posts/new/index.html", "n1", 5000),
            ("posts/new/cover.jpg", "c1", 120_000),
            ("css/site.css", "s1", 700),
        ];
        let listing: Vec<FileEntry> = files
            .iter()
            .map(|(p, b, _)| FileEntry {
                path: p.to_string(),
                blob: b.to_string(),
                executable: false,
            })
            .collect();
        let change = |path: &str, kind, blob: Option<&str>, size| Change {
            path: path.into(),
            kind,
            blob: blob.map(str::to_string),
            size,
            old_blob: None,
            executable: false,
        };
        let changes = vec![
            change("index.html", ChangeKind::Modified, Some("h1"), 2048),
            change("feed.xml", ChangeKind::Modified, Some("f1"), 900),
            change("posts/new/index.html", ChangeKind::Added, Some("n1"), 5000),
            change(
                "posts/new/cover.jpg",
                ChangeKind::Added,
                Some("c1"),
                120_000,
            ),
            change("posts/draft/index.html", ChangeKind::Deleted, None, 0),
        ];
        let settings = Settings {
            prefix: "blog".into(),
            cdns: vec![plan::CdnSettings {
                id: "E1".into(),
                origin_path: "blog".into(),
                profile: crate::aws::cloudfront::PROFILE,
            }],
            max_deletes: 500,
            max_invalidation_paths,
            forms: plan::invalidate::UrlForms::default(),
            invalidate_new_files: false,
            full: false,
            delay_deletes: false,
            monthly_budget: 1000,
            used_this_month: 0,
            within_prefix: false,
            keys: Default::default(),
        };
        let none = plan::rules::Rules::default();
        let input = plan::Input {
            changes: &changes,
            listing: Some(&listing),
            old_listing: None,
            rules: &none,
            old_rules: &none,
            deferred: &[],
            redirects: None,
            forms_changed: false,
            elsewhere: None,
        };
        plan::build("production", &input, &settings)
            .unwrap()
            .planned()
            .unwrap()
    }

    #[test]
    fn plan_rendering() {
        let plan = new_post_plan(15);
        insta::assert_snapshot!("plan_detail", render_plan(&plan, true, false).join("\n"));
        insta::assert_snapshot!(
            "plan_summary_only",
            render_plan(&plan, false, false).join("\n")
        );
        // Escapes made visible: + green, ~ yellow, - red, ! cyan.
        let coloured = render_plan(&plan, true, true)
            .join("\n")
            .replace('\x1b', "ESC");
        insta::assert_snapshot!("plan_colour", coloured);
    }

    /// Finding 10: the churn line names files the way the plan does, quoted when they hold escapes.
    #[test]
    fn finding_10_the_churn_line_quotes_names() {
        let plan = Plan {
            churn: vec!["ok.html".into(), "b\u{1b}[2Kc.html".into()],
            ..Plan::default()
        };
        let line = churn_line(&plan).unwrap();
        assert!(line.ends_with(": ok.html, \"b\\033[2Kc.html\""), "{line}");
        assert!(!line.contains('\u{1b}'));
    }

    #[test]
    fn plan_rendering_with_wildcards() {
        let plan = new_post_plan(2);
        insta::assert_snapshot!("plan_wildcards", render_plan(&plan, true, false).join("\n"));
    }

    #[test]
    fn bar_templates_parse() {
        for t in [BAR_BYTES, BAR_ITEMS] {
            assert!(ProgressStyle::with_template(t).is_ok(), "{t}");
        }
    }

    #[test]
    fn plain_progress_is_sparse() {
        let t0 = Instant::now();
        let mut p = PlainProgress {
            phase: "uploading pages".into(),
            files: 1000,
            bytes: Some(1000 * 1024),
            files_done: 0,
            bytes_done: 0,
            started: t0,
            last_line: t0,
            last_decile: 0,
        };
        let mut lines = Vec::new();
        for _ in 0..1000 {
            p.files_done += 1;
            p.bytes_done += 1024;
            lines.extend(p.line_due(t0 + Duration::from_secs(1)));
        }
        // 10%, 20%, ... 90%: nine lines for a thousand files, none for the last one.
        assert_eq!(lines.len(), 9, "{lines:#?}");
        assert!(
            lines[0].starts_with("uploading pages: 100/1000 (10%), 100.0 KiB of 1000.0 KiB"),
            "{}",
            lines[0]
        );

        // A small phase prints only every 10 s.
        let mut small = PlainProgress {
            files: 20,
            files_done: 0,
            last_decile: 0,
            last_line: t0,
            ..p
        };
        small.files_done = 5;
        assert_eq!(small.line_due(t0 + Duration::from_secs(3)), None);
        assert!(small.line_due(t0 + Duration::from_secs(11)).is_some());
        assert_eq!(small.line_due(t0 + Duration::from_secs(12)), None);
    }

    #[test]
    fn bytes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
    }
}
