//! The settings of site.toml whose value is one of a few words (`redirect_renames`, `cdn_function`,
//! `locking`, `source.build_env`, the forms of `directory_urls`): each an enum, its words listed once
//! ([`Words::WORDS`]) and parsed once, when the config is read. Nothing after [`crate::config`] compares these
//! words as strings; the rows that refuse a bad word (`config/target_checks.rs`, `validate_snapshot`) parse
//! with [`Mode::from_setting`], and a test checks that each row's hint names every accepted word.

use crate::plan::redirects::RenameMode;

/// A value spelled as one of a fixed list of words.
pub trait Words: Copy + PartialEq + 'static {
    /// Every word the value accepts, and what it means.
    const WORDS: &'static [(&'static str, Self)];

    /// The value `word` names; None for any other word.
    fn parse(word: &str) -> Option<Self> {
        Self::WORDS
            .iter()
            .find(|(w, _)| *w == word)
            .map(|(_, m)| *m)
    }

    /// The word that spells this value in site.toml.
    fn word(self) -> &'static str {
        let found = Self::WORDS.iter().find(|(_, m)| *m == self);
        found.map(|(w, _)| *w).expect("every value has a word")
    }
}

/// A setting of a fixed list of words with a default (used when the key is absent).
pub trait Mode: Words + Default {
    /// The setting as written: the default when absent, else the word's mode, else `Err` with the word quoted
    /// (for the message naming the key).
    fn from_setting(value: Option<&str>) -> std::result::Result<Self, String> {
        match value {
            None => Ok(Self::default()),
            Some(word) => Self::parse(word).ok_or_else(|| format!("{word:?}")),
        }
    }
}

impl<T: Words + Default> Mode for T {}

/// `redirect_renames` in a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedirectRenames {
    /// Redirect renamed pages without asking.
    Auto,
    /// Show them in the plan; ask on a terminal.
    #[default]
    Ask,
    /// No redirects for renamed pages.
    Off,
}

impl Words for RedirectRenames {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("ask", RedirectRenames::Ask),
        ("auto", RedirectRenames::Auto),
        ("off", RedirectRenames::Off),
    ];
}

impl RedirectRenames {
    /// What the planner does with renames when nobody is asked.
    pub fn unasked(self) -> RenameMode {
        match self {
            RedirectRenames::Auto => RenameMode::Apply,
            RedirectRenames::Ask => RenameMode::Propose,
            RedirectRenames::Off => RenameMode::Off,
        }
    }
}

/// `cdn_function` in a target: whether git-publish keeps the distribution's viewer-request function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CdnFunction {
    Manage,
    #[default]
    Off,
}

impl Words for CdnFunction {
    const WORDS: &'static [(&'static str, Self)] =
        &[("manage", CdnFunction::Manage), ("off", CdnFunction::Off)];
}

/// How the claim protocol relies on the store's conditional writes (`locking`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Locking {
    /// `If-None-Match`/`If-Match` must be honoured; the first publish probes the store and stops if not.
    #[default]
    Conditional,
    /// Documented opt-in for stores that ignore them: no probe, a warning on every publish.
    None,
}

impl Words for Locking {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("conditional", Locking::Conditional),
        ("none", Locking::None),
    ];
}

/// `source.build_env`: which environment a snapshot build runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BuildEnv {
    /// Without the publisher's `AWS_*` variables.
    #[default]
    Clean,
    /// With them.
    Inherit,
}

impl Words for BuildEnv {
    const WORDS: &'static [(&'static str, Self)] =
        &[("clean", BuildEnv::Clean), ("inherit", BuildEnv::Inherit)];
}

impl BuildEnv {
    /// Whether the build keeps the `AWS_*` variables.
    pub fn inherits_aws(self) -> bool {
        self == BuildEnv::Inherit
    }
}

/// One form of `directory_urls`: how a URL names a directory's index page (the words are literal: they name
/// the forms, `index.html` stands for `index_document`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectoryUrl {
    /// `/dir/`
    Slash,
    /// `/dir`
    Bare,
    /// `/dir/index.html`
    Index,
}

impl Words for DirectoryUrl {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("/dir/", DirectoryUrl::Slash),
        ("/dir", DirectoryUrl::Bare),
        ("/dir/index.html", DirectoryUrl::Index),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<M: Words + std::fmt::Debug>() {
        for (word, mode) in M::WORDS {
            assert_eq!(M::parse(word), Some(*mode));
            assert_eq!(mode.word(), *word);
        }
        assert_eq!(M::parse("nope"), None);
    }

    fn defaults<M: Mode + std::fmt::Debug>() {
        assert!(M::WORDS.iter().any(|(_, m)| *m == M::default()));
        assert_eq!(M::from_setting(Some("nope")), Err("\"nope\"".to_string()));
        assert_eq!(M::from_setting(None), Ok(M::default()));
    }

    #[test]
    fn every_mode_word_parses_to_its_mode_and_back() {
        round_trips::<RedirectRenames>();
        round_trips::<CdnFunction>();
        round_trips::<Locking>();
        round_trips::<BuildEnv>();
        round_trips::<DirectoryUrl>();
        defaults::<RedirectRenames>();
        defaults::<CdnFunction>();
        defaults::<Locking>();
        defaults::<BuildEnv>();
    }
}
