//! The shell shims and their files: the two templates (embedded from `hooks/`), the settings written into
//! them at install time, the one function that quotes for the shell, where git looks for hooks, and the
//! names and marker that tell our files apart from a user's. It writes a file only through
//! [`write_executable`], and never decides which files to write: that is `install` and `arm`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::cli::HookMode;
use crate::error::{Error, Result};

/// Marks the files git-publish wrote, so that reinstall and uninstall touch only those.
pub const MARKER: &str = "# git-publish: managed hook";
/// Suffix of a user's hook moved aside by `install` (and put back by `uninstall`).
const ORIG_SUFFIX: &str = ".git-publish-orig";
/// Suffix under which `install` and `uninstall` keep a shim of ours that someone edited.
const EDITED_SUFFIX: &str = ".edited";
/// The last line of every shim we write: this, then the sha256 of the text before it (see [`is_edited`]).
const CHECKSUM_TAG: &str = "# git-publish: sha256 of the text above: ";
/// Suffix of the copy of the `reference-transaction` shim that pre-push arms it from (see `arm`).
const ARMED_FROM_SUFFIX: &str = ".git-publish";

const PRE_PUSH: &str = include_str!("../../hooks/pre-push");
const REFERENCE_TRANSACTION: &str = include_str!("../../hooks/reference-transaction");

/// The name of the shim that is armed only while a push is in flight.
pub const REFERENCE_TRANSACTION_NAME: &str = "reference-transaction";

pub struct Shim {
    pub name: &'static str,
    template: &'static str,
}

pub const SHIMS: [Shim; 2] = [
    Shim {
        name: "pre-push",
        template: PRE_PUSH,
    },
    Shim {
        name: REFERENCE_TRANSACTION_NAME,
        template: REFERENCE_TRANSACTION,
    },
];

/// What the shims are told at install time.
pub struct ShimSettings {
    pub bin: PathBuf,
    pub mode: HookMode,
    pub remote: String,
    pub branch: String,
    pub background: bool,
    pub config: Option<PathBuf>,
    /// Pushes of other branches publish their previews (`install --previews`).
    pub previews: bool,
}

impl ShimSettings {
    /// The text of `shim` with these settings filled in, each as one shell word (see [`fill`]), sealed with
    /// its checksum.
    pub fn render(&self, shim: &Shim) -> String {
        let mode = match self.mode {
            HookMode::PostPush => "post-push",
            HookMode::PrePush => "pre-push",
        };
        let config = self
            .config
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        seal(fill(
            shim.template,
            &[
                ("@BIN@", &self.bin.to_string_lossy()),
                ("@MODE@", mode),
                ("@REMOTE@", &self.remote),
                ("@BRANCH@", &self.branch),
                ("@BACKGROUND@", if self.background { "1" } else { "0" }),
                ("@CONFIG@", &config),
                ("@PREVIEWS@", if self.previews { "1" } else { "0" }),
            ],
        ))
    }

    /// Whether this mode uses `shim` (pre-push mode needs no reference-transaction).
    pub fn needs(&self, shim: &Shim) -> bool {
        shim.name == "pre-push" || self.mode == HookMode::PostPush
    }

    /// The line a user adds to a pre-push hook that another tool manages. Hooks run through another tool's
    /// wrapper can't rely on being git push's child, so it uses pre-push mode, which needs no pairing.
    pub fn manual_line(&self) -> String {
        format!(
            "{} hook pre-push --mode pre-push --remote {} --branch {}{} -- \"$@\"",
            sh_quote(&self.bin.to_string_lossy()),
            sh_quote(&self.remote),
            sh_quote(&self.branch),
            if self.previews { " --previews 1" } else { "" }
        )
    }
}

/// `template` with each `@NAME@` of `values` replaced by its value quoted for the shell, in one pass: a value
/// is never looked at again, so a path that contains `@CONFIG@` stays that path. The templates use each
/// placeholder once, as the value of a shell variable, and refer to the variable after that.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        match values.iter().find(|(name, _)| tail.starts_with(name)) {
            Some((name, value)) => {
                out.push_str(&sh_quote(value));
                rest = &tail[name.len()..];
            }
            None => {
                out.push('@');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Quote `s` as one word for `sh`: the only place that quotes for the shell.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `git rev-parse --path-format=absolute --git-path hooks`: honours core.hooksPath, shared by linked worktrees.
pub fn hooks_dir(cwd: &Path) -> Result<PathBuf> {
    let out = Command::new("git")
        .args(["rev-parse", "--path-format=absolute", "--git-path", "hooks"])
        .current_dir(cwd)
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| Error::io("running `git rev-parse` (is git on PATH?)", e))?;
    if !out.status.success() {
        return Err(Error::Git(format!(
            "git rev-parse --git-path hooks: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Whether the file at `path` was written by git-publish (its head carries [`MARKER`]).
pub fn is_ours(path: &Path) -> bool {
    let mut head = [0u8; 512];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    String::from_utf8_lossy(&head[..n]).contains(MARKER)
}

fn sha256_hex(text: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text))
}

/// `text` with a last line that carries its checksum.
fn seal(text: String) -> String {
    let sum = sha256_hex(text.as_bytes());
    format!("{text}{CHECKSUM_TAG}{sum}\n")
}

/// Whether our file at `path` was changed since we wrote it: its text does not match the checksum on its
/// last line. A file without a checksum line (written before they existed) can't tell, and counts as not
/// edited.
pub fn is_edited(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    let tag = CHECKSUM_TAG.as_bytes();
    let Some(at) = bytes.windows(tag.len()).rposition(|w| w == tag) else {
        return false;
    };
    let sum = sha256_hex(&bytes[..at]);
    bytes[at + tag.len()..] != *format!("{sum}\n").as_bytes()
}

/// A name beside `path` that nothing has, for keeping an edited shim: `<hook>.edited`, else
/// `<hook>.edited-2`, `-3`, …
pub fn edited_path(path: &Path) -> PathBuf {
    std::iter::once(with_suffix(path, EDITED_SUFFIX))
        .chain((2..).map(|n| with_suffix(path, &format!("{EDITED_SUFFIX}-{n}"))))
        .find(|p| !exists(p))
        .expect("one of infinitely many names is unused")
}

/// Whether anything (even a dangling symlink) is at `path`.
pub fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Where a user's hook at `path` is kept while ours is installed.
pub fn orig_path(path: &Path) -> PathBuf {
    with_suffix(path, ORIG_SUFFIX)
}

/// Where the disarmed copy of the shim at `path` is kept.
pub fn armed_from_path(path: &Path) -> PathBuf {
    with_suffix(path, ARMED_FROM_SUFFIX)
}

pub fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to)
        .map_err(|e| Error::io(format!("moving {} to {}", from.display(), to.display()), e))
}

pub fn remove(path: &Path) -> Result<()> {
    std::fs::remove_file(path).map_err(|e| Error::io(format!("removing {}", path.display()), e))
}

/// Replace `path` at once (a temporary file in the same directory, renamed over it) by an executable with
/// `text`: git never sees a half-written hook.
pub fn write_executable(path: &Path, text: &[u8]) -> Result<()> {
    let ctx = || format!("writing {}", path.display());
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".git-publish-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(ctx(), e))?;
    tmp.write_all(text).map_err(|e| Error::io(ctx(), e))?;
    crate::os::make_executable(tmp.path()).map_err(|e| Error::io(ctx(), e))?;
    tmp.persist(path).map_err(|e| Error::io(ctx(), e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shim_settings_are_quoted() {
        let s = ShimSettings {
            bin: PathBuf::from("/opt/it's/git-publish"),
            mode: HookMode::PostPush,
            remote: "origin".into(),
            branch: "main".into(),
            background: false,
            config: None,
            previews: false,
        };
        let text = s.render(&SHIMS[0]);
        assert!(text.contains("bin='/opt/it'\\''s/git-publish'\n"), "{text}");
        assert!(text.contains("mode='post-push'\n"));
        assert!(text.contains("config=''\n"));
        assert!(text.contains(MARKER));
        assert!(s.render(&SHIMS[1]).contains(MARKER));
        assert!(
            s.manual_line()
                .starts_with("'/opt/it'\\''s/git-publish' hook pre-push --mode pre-push"),
            "{}",
            s.manual_line()
        );
    }

    /// Paths a binary may be installed at, and branch names, that mean something to a shell.
    const HOSTILE: [&str; 10] = [
        "/opt/a\"b/git-publish",
        "/opt/it's/git-publish",
        "/opt/$(touch pwned)/git-publish",
        "/opt/`touch pwned`/git-publish",
        "/opt/a\nb/git-publish",
        "/opt/a b  c/git-publish",
        "/opt/a\\b\\/git-publish",
        "/opt/$HOME ${x?} @CONFIG@ '\"\\'/git-publish",
        "-x",
        "",
    ];

    fn shells() -> Vec<&'static str> {
        ["/bin/dash", "/bin/bash", "/bin/sh"]
            .into_iter()
            .filter(|sh| Path::new(sh).exists())
            .collect()
    }

    #[test]
    fn hostile_values_are_one_shell_word_and_the_shims_parse() {
        for value in HOSTILE {
            let s = ShimSettings {
                bin: PathBuf::from(value),
                mode: HookMode::PostPush,
                remote: value.into(),
                branch: value.into(),
                background: true,
                config: Some(PathBuf::from(value)),
                previews: true,
            };
            for shim in &SHIMS {
                let text = s.render(shim);
                assert!(
                    !text.contains("@BIN@") && !text.contains("@BRANCH@"),
                    "{text}"
                );
                for sh in shells() {
                    let out = Command::new(sh)
                        .arg("-n")
                        .arg("-c")
                        .arg(&text)
                        .output()
                        .unwrap();
                    assert!(out.status.success(), "{sh} -n {} for {value:?}", shim.name);
                }
            }
            // Each value reaches the shell byte for byte, and nothing in it runs.
            let script = fill(
                "b=@BIN@\nc=@CONFIG@\nprintf '%s|%s' \"$b\" \"$c\"",
                &[("@BIN@", value), ("@CONFIG@", "x")],
            );
            for sh in shells() {
                let dir = tempfile::tempdir().unwrap();
                let out = Command::new(sh)
                    .arg("-c")
                    .arg(&script)
                    .current_dir(dir.path())
                    .output()
                    .unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&out.stdout),
                    format!("{value}|x"),
                    "{sh}"
                );
                assert!(!dir.path().join("pwned").exists(), "{sh} ran {value:?}");
            }
        }
    }

    #[test]
    fn a_sealed_shim_tells_an_edit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pre-push");
        let text = seal(format!("#!/bin/sh\n{MARKER}\nexit 0\n"));
        std::fs::write(&path, &text).unwrap();
        assert!(!is_edited(&path));
        std::fs::write(&path, text.replace("exit 0", "exit 1")).unwrap();
        assert!(is_edited(&path));
        std::fs::write(&path, format!("{text}echo more\n")).unwrap();
        assert!(is_edited(&path));
        // Written before checksums: can't tell.
        std::fs::write(&path, format!("#!/bin/sh\n{MARKER}\n")).unwrap();
        assert!(!is_edited(&path));
        assert_eq!(edited_path(&path), dir.path().join("pre-push.edited"));
        std::fs::write(dir.path().join("pre-push.edited"), "").unwrap();
        assert_eq!(edited_path(&path), dir.path().join("pre-push.edited-2"));
    }

    #[test]
    fn write_executable_replaces_the_file_whole_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pre-push");
        std::fs::write(&path, "old").unwrap();
        write_executable(&path, b"#!/bin/sh\nexit 0\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"#!/bin/sh\nexit 0\n");
        assert!(crate::os::is_executable(&std::fs::metadata(&path).unwrap()));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["pre-push"]);
    }
}
