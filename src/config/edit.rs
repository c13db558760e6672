//! Changes to site.toml that keep the user's comments, order and formatting (`toml_edit`): `git publish
//! setup` writes a target's `distribution`, `cdn_function` and `domain`. Text in, text out: the caller reads
//! and writes the file ([`write_file`], shared with `init`, which writes through a symbolic link and keeps
//! the file's mode).

use std::path::Path;

use toml_edit::{value, Array, DocumentMut, Item, Value};

use super::{CdnFunction, Words};
use crate::error::{Error, Result};

/// What to set in `[targets.NAME]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetKeys {
    /// Added to `distribution`: set when absent or "auto", appended when it names other ids.
    pub distribution: Option<String>,
    pub cdn_function_manage: bool,
    pub domain: Option<String>,
}

/// `text` with `keys` set in the target's table. The error names what is in the way.
pub fn set_target_keys(
    text: &str,
    target: &str,
    keys: &TargetKeys,
) -> std::result::Result<String, String> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| format!("site.toml is not valid TOML: {e}"))?;
    let table = doc
        .get_mut("targets")
        .and_then(Item::as_table_like_mut)
        .and_then(|t| t.get_mut(target))
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| format!("site.toml has no [targets.{target}] table"))?;
    if let Some(id) = &keys.distribution {
        let new = match table.get("distribution").and_then(Item::as_value) {
            Some(Value::Array(a)) if a.iter().any(|v| v.as_str() == Some(id)) => None,
            Some(Value::Array(a)) => {
                let mut a: Array = a.clone();
                a.push(id.as_str());
                Some(Value::Array(a))
            }
            Some(Value::String(s)) if s.value() == id => None,
            Some(Value::String(s)) if s.value() != "auto" => {
                let mut a = Array::new();
                a.push(s.value().as_str());
                a.push(id.as_str());
                Some(Value::Array(a))
            }
            _ => Some(Value::from(id.as_str())),
        };
        if let Some(v) = new {
            set(table, "distribution", v);
        }
    }
    if keys.cdn_function_manage {
        set(
            table,
            "cdn_function",
            Value::from(CdnFunction::Manage.word()),
        );
    }
    if let Some(d) = &keys.domain {
        set(table, "domain", Value::from(d.as_str()));
    }
    Ok(doc.to_string())
}

/// Replace the value, keeping the key's comments and the value's trailing comment.
fn set(table: &mut dyn toml_edit::TableLike, key: &str, mut new: Value) {
    match table.get_mut(key) {
        Some(Item::Value(old)) => {
            *new.decor_mut() = old.decor().clone();
            *old = new;
        }
        _ => {
            table.insert(key, value(new));
        }
    }
}

/// Write `text` to `path` at once (a temporary file renamed over it). A symbolic link (a site.toml kept in a
/// dotfiles repository, say) stays a link: the file it points at is written, through a temporary file beside
/// that file. An existing file keeps its permissions; a new one is readable as the umask allows (0644 under
/// 022): site.toml is meant to be committed.
pub fn write_file(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let target = crate::os::link_target(path)
        .map_err(|e| Error::io(format!("following the link {}", path.display()), e))?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let kept = std::fs::metadata(&target).ok().map(|m| m.permissions());
    let mut builder = tempfile::Builder::new();
    crate::os::published_file_mode(&mut builder, false);
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(|e| Error::io(format!("creating a temporary file in {}", dir.display()), e))?;
    tmp.write_all(text.as_bytes())
        .map_err(|e| Error::io(format!("writing {}", target.display()), e))?;
    if let Some(p) = kept {
        tmp.as_file()
            .set_permissions(p)
            .map_err(|e| Error::io(format!("keeping the mode of {}", target.display()), e))?;
    }
    tmp.persist(&target)
        .map_err(|e| Error::io(format!("writing {}", target.display()), e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = "# my blog\n[source]\ndir = \"public\"\n\n[targets.production]\n# where it goes\nurl = \"s3://blog\" # the bucket\ndistribution = \"auto\" # found at publish time\n\n[targets.staging]\nurl = \"s3://blog-staging\"\n";

    #[test]
    fn sets_keys_and_keeps_comments() {
        let keys = TargetKeys {
            distribution: Some("E2QWRUHAPOMQZL".into()),
            cdn_function_manage: true,
            domain: Some("blog.example.com".into()),
        };
        let out = set_target_keys(SITE, "production", &keys).unwrap();
        assert!(
            out.starts_with("# my blog\n[source]\ndir = \"public\"\n"),
            "{out}"
        );
        assert!(
            out.contains("# where it goes\nurl = \"s3://blog\" # the bucket\n"),
            "{out}"
        );
        assert!(
            out.contains("distribution = \"E2QWRUHAPOMQZL\" # found at publish time\n"),
            "{out}"
        );
        assert!(out.contains("cdn_function = \"manage\"\n"), "{out}");
        assert!(out.contains("domain = \"blog.example.com\"\n"), "{out}");
        assert!(
            out.ends_with("[targets.staging]\nurl = \"s3://blog-staging\"\n"),
            "{out}"
        );
        // Setting them again changes nothing.
        assert_eq!(set_target_keys(&out, "production", &keys).unwrap(), out);
    }

    #[test]
    fn another_id_is_kept_beside_the_new_one() {
        let text = "[targets.p]\nurl = \"s3://b\"\ndistribution = \"E1OTHER\"\n";
        let keys = TargetKeys {
            distribution: Some("E2NEW".into()),
            ..Default::default()
        };
        let out = set_target_keys(text, "p", &keys).unwrap();
        assert!(
            out.contains("distribution = [\"E1OTHER\", \"E2NEW\"]"),
            "{out}"
        );
        let again = set_target_keys(&out, "p", &keys).unwrap();
        assert_eq!(again, out);
    }

    /// Finding 12: a symlinked site.toml stays a link and its target is written; the target keeps its mode.
    #[test]
    fn finding_12_a_symlinked_site_toml_is_written_through_the_link_and_keeps_its_mode() {
        let d = tempfile::tempdir().unwrap();
        let real_dir = d.path().join("dotfiles");
        std::fs::create_dir(&real_dir).unwrap();
        let real = real_dir.join("site.toml");
        std::fs::write(&real, "old\n").unwrap();
        crate::os::set_mode(&real, 0o600).unwrap();
        let link = d.path().join("site.toml");
        crate::os::symlink(Path::new("dotfiles/site.toml"), &link).unwrap();
        write_file(&link, "new\n").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new\n");
        if cfg!(unix) {
            assert_eq!(crate::os::mode_of(&real), 0o600);
        }
        // A plain file keeps its mode too; a new one gets the published mode.
        let plain = d.path().join("plain.toml");
        std::fs::write(&plain, "a").unwrap();
        crate::os::set_mode(&plain, 0o640).unwrap();
        write_file(&plain, "b").unwrap();
        if cfg!(unix) {
            assert_eq!(crate::os::mode_of(&plain), 0o640);
        }
        let fresh = d.path().join("fresh.toml");
        write_file(&fresh, "c").unwrap();
        assert_eq!(std::fs::read_to_string(&fresh).unwrap(), "c");
    }

    #[test]
    fn refuses_a_missing_target_and_bad_toml() {
        let keys = TargetKeys::default();
        assert!(set_target_keys(SITE, "nope", &keys)
            .unwrap_err()
            .contains("[targets.nope]"));
        assert!(set_target_keys("[targets", "p", &keys)
            .unwrap_err()
            .contains("not valid TOML"));
    }
}
