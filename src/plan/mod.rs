//! The planner: a pure function from "what changed in git" to "what to do to the target".
//!
//! Owns the plan's types ([`Input`], [`Settings`], [`Plan`], [`Outcome`], [`Phase`]), keys ([`key_for`],
//! [`served_path`]) and [`build`], which reads as the list of its steps. Inputs are plain owned values: the
//! changes between the deployed tree and the new one, the listing of the new tree when it is needed, and the
//! target's settings. The output is a [`Plan`] value that the executor carries out phase by phase and that
//! `--dry-run` prints. Same input, same plan: everything is sorted. Must not do IO, async, or touch git2 or
//! AWS types; errors are [`PlanError`], and "needs the listing" is [`Outcome::NeedsListing`], not an error.
//!
//! Where things live:
//! - the steps of [`build`] (changes, deferred deletes, rule-driven updates, server-side copies, limits and
//!   ordering, CDN paths): `steps.rs`
//! - invalidation rules (what is stale, URL forms, wildcard cover, batches): [`invalidate`]
//! - content types: [`headers`]; the `[[rules]]` (headers, encodings, exclude, keep): [`rules`]
//! - files that differ only in timestamps/build ids: [`churn`]
//! - moved pages: the redirect table (config, renames, the state's record) and what a publish changes in it:
//!   [`redirects`]; the CloudFront Function that serves it behind a REST origin: [`cdn_function`]
//! - errors: [`PlanError`]; the whole planner's freshness model (tests only): `freshness.rs`

pub mod cdn_function;
mod change;
pub mod churn;
mod error;
#[cfg(test)]
mod freshness;
pub mod headers;
pub mod invalidate;
mod model;
mod names;
pub mod paths;
pub mod redirects;
pub mod rules;
mod steps;

pub use cdn_function::{Function, ResponseFunction};
pub use change::{Change, ChangeKind};
pub use error::PlanError;
pub use model::*;
pub use names::*;
pub use rules::{Encoding, Headers, Rules};

/// Build the plan, step by step (each step is in [`steps`]). The steps that read the listing of the new tree
/// run only when it is given; without it they make the outcome [`Outcome::NeedsListing`].
pub fn build(target: &str, input: &Input, s: &Settings) -> Result<Outcome, PlanError> {
    let mut draft = steps::Draft::default();
    steps::changes(&mut draft, input, s)?;
    // A new name may take another spelling of a file of the tree (`A.html` beside `a.html`).
    if s.keys.filesystem && (input.changes.iter()).any(|c| c.kind == ChangeKind::Added) {
        let Some(listing) = input.listing else {
            return Ok(Outcome::NeedsListing);
        };
        steps::same_files(input, listing)?;
    }
    if !input.deferred.is_empty() {
        let Some(listing) = input.listing else {
            return Ok(Outcome::NeedsListing);
        };
        steps::deferred_deletes(&mut draft, input, listing, s)?;
    }
    if steps::rules_changed(input) || s.full {
        let Some(listing) = input.listing else {
            return Ok(Outcome::NeedsListing);
        };
        steps::rule_updates(&mut draft, input, listing, s)?;
    }
    if let Some(req) = input.redirects {
        if input.listing.is_none() && redirects::needs_listing(req, &s.forms) {
            return Ok(Outcome::NeedsListing);
        }
        steps::redirects(&mut draft, input, req, input.listing, s)?;
    }
    if let Some(old) = input.old_listing {
        steps::server_side_copies(&mut draft.uploads, input, old, s)?;
    }
    if let Some(e) = input.elsewhere {
        steps::copies_from_elsewhere(&mut draft.uploads, e, s)?;
    }
    steps::type_changes(&mut draft, s)?;
    steps::limit_and_order(&mut draft, target, s)?;
    let max_paths = steps::path_limit(s);
    let Some(cdn) = steps::cdn_paths(&draft, input, s, max_paths) else {
        return Ok(Outcome::NeedsListing);
    };
    Ok(Outcome::Planned(steps::assemble(draft, cdn, s, max_paths)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            prefix: String::new(),
            cdns: vec![CdnSettings {
                id: "E1".into(),
                origin_path: String::new(),
                profile: crate::aws::cloudfront::PROFILE,
            }],
            max_deletes: 500,
            max_invalidation_paths: 15,
            forms: invalidate::UrlForms::default(),
            invalidate_new_files: false,
            full: false,
            delay_deletes: false,
            monthly_budget: 1000,
            used_this_month: 0,
            within_prefix: false,
            keys: Default::default(),
        }
    }

    fn build(
        target: &str,
        changes: &[Change],
        listing: &[FileEntry],
        s: &Settings,
    ) -> Result<Plan, PlanError> {
        let none = Rules::default();
        super::build(
            target,
            &Input {
                changes,
                listing: Some(listing),
                old_listing: None,
                rules: &none,
                old_rules: &none,
                deferred: &[],
                redirects: None,
                forms_changed: false,
                elsewhere: None,
            },
            s,
        )
        .map(|o| o.planned().expect("given the listing, the planner plans"))
    }

    fn ch(path: &str, kind: ChangeKind) -> Change {
        let blob = (kind != ChangeKind::Deleted).then(|| format!("{:040x}", path.len()));
        Change {
            path: path.into(),
            kind,
            blob,
            size: 10,
            old_blob: None,
            executable: false,
        }
    }

    fn listing(paths: &[&str]) -> Vec<FileEntry> {
        paths
            .iter()
            .map(|p| FileEntry {
                path: p.to_string(),
                blob: "0".repeat(40),
                executable: false,
            })
            .collect()
    }

    #[test]
    fn keys_under_prefix() {
        let table: &[(&str, &str, Option<&str>)] = &[
            ("", "index.html", Some("index.html")),
            ("blog", "index.html", Some("blog/index.html")),
            ("a/b", "x y/ü.html", Some("a/b/x y/ü.html")),
            ("", "../etc/passwd", None),
            ("", "a/./b", None),
            ("", "a//b", None),
            ("", "/abs", None),
            ("", ".git-publish/state.json", None),
            ("", "blog/.Git-Publish/state.json", None),
            ("", ".git-publishing/x", Some(".git-publishing/x")),
            ("", "a/.GIT/config", None),
            ("", "git~1/HEAD", None),
            ("", ".gitignore", Some(".gitignore")),
        ];
        for (prefix, path, want) in table {
            assert_eq!(
                key_for(prefix, path).ok().as_deref(),
                *want,
                "{prefix:?} {path:?}"
            );
        }
    }

    fn reserved(key: &str, starts: bool, record: &str) -> Reserved {
        Reserved {
            key: key.into(),
            starts,
            record: record.into(),
        }
    }

    /// A site file at the deploy record's key, under it, or at a key beside it that the record's protocol
    /// writes (finding 4): refused at plan time, the message naming the site path and the record, for a
    /// custom `state` in the site's bucket, the default `.git-publish/` record, and a record in a directory.
    #[test]
    fn finding_4_a_site_file_at_the_record_key_is_refused() {
        let record = "s3://site/blog/meta/site.json";
        let custom = vec![
            reserved("blog/meta/site.json", false, record),
            reserved("blog/meta/site.json.probe", false, record),
            reserved("blog/meta/site.json.corrupt-", true, record),
        ];
        let default = vec![reserved(
            "blog/.git-publish",
            false,
            "s3://site/blog/.git-publish/state.json",
        )];
        let local = vec![
            reserved("meta/site.json", false, "/srv/www/meta/site.json"),
            reserved("meta/lock", false, "/srv/www/meta/site.json"),
        ];
        // (prefix, reserved keys, filesystem, site path, refused)
        #[rustfmt::skip]
        let table: &[(&str, &Vec<Reserved>, bool, &str, bool)] = &[
            ("blog", &custom, false, "meta/site.json", true),
            ("blog", &custom, false, "meta/site.json/index.html", true),
            ("blog", &custom, false, "meta/site.json.probe", true),
            ("blog", &custom, false, "meta/site.json.corrupt-20271231T235959Z", true),
            ("blog", &custom, false, "meta/site.jsonx", false),
            ("blog", &custom, false, "meta/site.html", false),
            ("blog", &custom, false, "Meta/Site.json", false),
            ("", &custom, false, "blog/meta/site.json", true),
            ("blog", &default, false, ".git-publish/state.json", true),
            ("blog", &default, false, ".git-publish", true),
            ("", &local, true, "meta/site.json", true),
            ("", &local, true, "Meta/SITE.json", true),
            ("", &local, true, "meta/lock", true),
            ("", &local, true, "meta/lock.html", false),
        ];
        for (prefix, keys, filesystem, path, refused) in table {
            let s = Settings {
                prefix: prefix.to_string(),
                keys: KeyRules {
                    reserved: (*keys).clone(),
                    filesystem: *filesystem,
                    previews: false,
                },
                ..settings()
            };
            let got = build("t", &[ch(path, ChangeKind::Added)], &listing(&[path]), &s);
            match got {
                Err(e @ PlanError::RecordPath { .. }) if *refused => {
                    let m = e.to_string();
                    assert!(m.contains(&format!("`{path}`")), "{m}");
                    assert!(m.contains(&keys[0].record), "{m}");
                }
                Ok(p) if !refused => assert_eq!(p.uploads.len(), 1, "{path}"),
                other => panic!("{prefix:?} {path:?}: {other:?}"),
            }
        }
    }

    /// A directory target (finding 6): names Windows refuses are refused on every OS, and two paths of the new
    /// tree that a case-insensitive or normalising filesystem takes for one file are a plan error (the
    /// listing is read when a name is new); S3 keys keep them all. A rename that changes only the case deletes
    /// the old key before the upload, so the delete can't remove the new file.
    #[test]
    fn finding_6_a_directory_target_refuses_windows_names_and_same_files() {
        use ChangeKind::*;
        let dir = Settings {
            keys: KeyRules {
                reserved: Vec::new(),
                filesystem: true,
                previews: false,
            },
            ..settings()
        };
        for path in [
            "..\\..\\x.html",
            "C:\\x.html",
            "w\\.git\\config",
            "nul.txt",
            "a/CON",
            "v1./x.html",
            "x.html::$DATA",
            "a/.git-publish-tmp-x",
        ] {
            let e = build("t", &[ch(path, Added)], &listing(&[path]), &dir).unwrap_err();
            assert!(
                matches!(e, PlanError::NotPortable { .. }),
                "{path:?}: {e:?}"
            );
            assert!(
                build("t", &[ch(path, Added)], &listing(&[path]), &settings()).is_ok(),
                "{path:?} on S3"
            );
        }
        for (new, old) in [("a.html", "A.html"), ("caf\u{e9}.html", "cafe\u{301}.html")] {
            let changes = [ch(new, Added)];
            let e = build("t", &changes, &listing(&[old, new]), &dir).unwrap_err();
            assert!(matches!(e, PlanError::SameFile { .. }), "{new:?}: {e:?}");
            assert!(e.to_string().contains(old), "{e}");
            assert!(build("t", &changes, &listing(&[old, new]), &settings()).is_ok());
        }
        // (Without the listing, a new name asks for it: `needs_listing_only_when_a_step_reads_it`.)
        let renamed = [ch("a.html", Deleted), ch("A.html", Added)];
        let p = build("t", &renamed, &listing(&["A.html"]), &dir).unwrap();
        assert_eq!(p.clear_first, ["a.html"]);
        let p = build("t", &renamed, &listing(&["A.html"]), &settings()).unwrap();
        assert!(p.clear_first.is_empty(), "S3: both keys can exist");
    }

    /// A plan is empty only when it sends nothing at all: any one step makes it non-empty (an empty plan
    /// writes only the record, with no claim).
    #[test]
    fn a_plan_with_any_one_step_is_not_empty() {
        assert!(Plan::default().is_empty());
        let uploads = build(
            "t",
            &[ch("a.css", ChangeKind::Added)],
            &listing(&["a.css"]),
            &settings(),
        )
        .unwrap()
        .uploads;
        let redirect = redirects::RedirectObject {
            key: "old/index.html".into(),
            path: "old/index.html".into(),
            location: "/new/".into(),
            status: 301,
        };
        let one_step = [
            Plan {
                uploads,
                ..Plan::default()
            },
            Plan {
                deletes: vec!["gone.html".into()],
                ..Plan::default()
            },
            Plan {
                invalidations: vec!["/x".into()],
                ..Plan::default()
            },
            Plan {
                redirects: redirects::Changes {
                    puts: vec![redirect],
                    ..Default::default()
                },
                ..Plan::default()
            },
            Plan {
                redirects: redirects::Changes {
                    removed: vec!["old/".into()],
                    ..Default::default()
                },
                ..Plan::default()
            },
        ];
        for plan in one_step {
            assert!(!plan.is_empty(), "{plan:?}");
        }
    }

    /// Server-side copies (renames, header updates) send no bytes: the plan's total leaves them out.
    #[test]
    fn copies_send_no_bytes() {
        let changes = [
            ch("a.css", ChangeKind::Added),
            ch("b.css", ChangeKind::Added),
        ];
        let mut plan = build("t", &changes, &listing(&["a.css", "b.css"]), &settings()).unwrap();
        let copy = Upload {
            key: "c.css".into(),
            copy_from: Some("a.css".into()),
            size: 1000,
            ..plan.uploads[0].clone()
        };
        plan.uploads.push(copy);
        let sends: Vec<bool> = plan.uploads.iter().map(Upload::sends_bytes).collect();
        assert_eq!(sends, [true, true, false]);
        assert_eq!(
            plan.upload_bytes(),
            20,
            "two files of 10 bytes; the copy's 1,000 are not sent"
        );
    }

    /// Each of the escapes `key_for` refuses, alone (cargo mutants: with one `||` made `&&`, no test failed,
    /// since every escaping path tried was caught by another clause too).
    #[test]
    fn each_escaping_path_is_refused_on_its_own() {
        for path in [
            "",
            "/a.html",
            "a//b.html",
            "a/./b.html",
            "a/../b.html",
            "a/",
            "..",
            ".",
        ] {
            assert!(
                matches!(key_for("p", path), Err(PlanError::KeyEscapes { .. })),
                "{path:?}"
            );
        }
        assert_eq!(key_for("p", "a/b.html").unwrap(), "p/a/b.html");
    }

    #[test]
    fn keys_longer_than_s3_takes_are_refused() {
        let path = "a".repeat(MAX_KEY_BYTES);
        assert!(key_for("", &path).is_ok());
        assert!(matches!(
            key_for("p", &path),
            Err(PlanError::KeyTooLong { len: 1026, .. })
        ));
    }

    /// A file replaced by a directory of the same name, or the reverse: the old key is deleted before any
    /// upload (and never deferred); other deletes still run last.
    #[test]
    fn type_changes_delete_the_old_key_first() {
        use ChangeKind::*;
        type Row<'a> = (&'a [(&'a str, ChangeKind)], &'a [&'a str]);
        let table: &[Row] = &[
            (&[("x", Deleted), ("x/index.html", Added)], &["x"]),
            (
                &[("y/index.html", Deleted), ("y", Added)],
                &["y/index.html"],
            ),
            (&[("a/b/c.css", Deleted), ("a", Added)], &["a/b/c.css"]),
            (&[("x", Deleted), ("x.html", Added), ("x-y/z", Added)], &[]),
            (&[("old.html", Deleted), ("new.html", Added)], &[]),
        ];
        for (changes, first) in table {
            let changes: Vec<Change> = changes.iter().map(|(p, k)| ch(p, *k)).collect();
            let added: Vec<&str> = (changes.iter())
                .filter(|c| c.kind != Deleted)
                .map(|c| c.path.as_str())
                .collect();
            for delay in [false, true] {
                let s = Settings {
                    delay_deletes: delay,
                    ..settings()
                };
                let plan = build("t", &changes, &listing(&added), &s).unwrap();
                assert_eq!(plan.clear_first, *first, "{changes:?} delay={delay}");
                for k in *first {
                    assert!(
                        plan.deletes.contains(&k.to_string()),
                        "{k} is still a delete"
                    );
                    assert!(
                        !plan.deferred.contains(&k.to_string()),
                        "{k} is never deferred"
                    );
                }
            }
        }
    }

    #[test]
    fn uploads_deletes_and_order() {
        use ChangeKind::*;
        let changes = vec![
            ch("posts/new/index.html", Added),
            ch("posts/new/cover.jpg", Added),
            ch("index.html", Modified),
            ch("css/site.css", Modified),
            ch("old.html", Deleted),
            ch("feed.xml", Modified),
        ];
        let l = listing(&[
            "posts/new/index.html",
            "posts/new/cover.jpg",
            "index.html",
            "css/site.css",
            "feed.xml",
            "about/index.html",
        ]);
        let mut s = settings();
        s.prefix = "blog".into();
        // the distribution's origin path is the prefix: URLs don't carry it
        s.cdns[0].origin_path = "blog".into();
        let p = build("t", &changes, &l, &s).unwrap();
        let keys: Vec<&str> = p.uploads.iter().map(|u| u.key.as_str()).collect();
        // assets first (sorted), then HTML (sorted)
        assert_eq!(
            keys,
            [
                "blog/css/site.css",
                "blog/feed.xml",
                "blog/posts/new/cover.jpg",
                "blog/index.html",
                "blog/posts/new/index.html"
            ]
        );
        assert_eq!(p.uploads[0].kind, UploadKind::Replace);
        assert_eq!(p.uploads[2].kind, UploadKind::New);
        assert_eq!(p.deletes, ["blog/old.html"]);
        // new files are not invalidated; modified and deleted are; index.html also as its directory
        assert_eq!(
            p.invalidations,
            [
                "/",
                "/css/site.css",
                "/feed.xml",
                "/index.html",
                "/old.html"
            ]
        );
    }

    #[test]
    fn content_types_and_blob_ids_flow_through() {
        let changes = vec![ch("a.css", ChangeKind::Added)];
        let p = build("t", &changes, &listing(&["a.css"]), &settings()).unwrap();
        assert_eq!(p.uploads[0].headers.content_type, "text/css; charset=utf-8");
        assert_eq!(p.uploads[0].blob, changes[0].blob.clone().unwrap());
    }

    #[test]
    fn max_deletes_refuses() {
        let changes: Vec<Change> = (0..6)
            .map(|i| ch(&format!("f{i}.html"), ChangeKind::Deleted))
            .collect();
        let mut s = settings();
        s.max_deletes = 5;
        let e = build("prod", &changes, &[], &s).unwrap_err();
        assert!(matches!(
            e,
            PlanError::TooManyDeletes {
                count: 6,
                limit: 5,
                ..
            }
        ));
        assert!(e.hint().unwrap().contains("--max-deletes"));
        s.max_deletes = 6;
        assert_eq!(build("prod", &changes, &[], &s).unwrap().deletes.len(), 6);
    }

    #[test]
    fn no_cdn_no_invalidations() {
        let mut s = settings();
        s.cdns.clear();
        let p = build(
            "t",
            &[ch("a.html", ChangeKind::Modified)],
            &listing(&["a.html"]),
            &s,
        )
        .unwrap();
        assert!(p.invalidations.is_empty());
    }

    #[test]
    fn full_uploads_unchanged_files_too() {
        let mut s = settings();
        s.full = true;
        let p = build(
            "t",
            &[ch("a.html", ChangeKind::Modified)],
            &listing(&["a.html", "b.css"]),
            &s,
        )
        .unwrap();
        assert_eq!(p.uploads.len(), 2);
        assert_eq!(p.invalidations, ["/a.html"]);
    }

    #[test]
    fn invalidate_new_files_option() {
        let mut s = settings();
        s.invalidate_new_files = true;
        let p = build(
            "t",
            &[ch("new.html", ChangeKind::Added)],
            &listing(&["new.html"]),
            &s,
        )
        .unwrap();
        assert_eq!(p.invalidations, ["/new.html"]);
    }

    #[test]
    fn bad_paths_are_errors_not_panics() {
        let e = build("t", &[ch("a/../../x", ChangeKind::Added)], &[], &settings()).unwrap_err();
        assert!(matches!(e, PlanError::KeyEscapes { .. }));
    }

    fn rules(text: &str) -> Rules {
        #[derive(serde::Deserialize)]
        struct F {
            rules: Vec<rules::RuleSpec>,
        }
        let f: F = toml::from_str(text).unwrap();
        Rules::compile(&f.rules).unwrap()
    }

    fn entry(path: &str, blob: &str) -> FileEntry {
        FileEntry {
            path: path.into(),
            blob: blob.into(),
            executable: false,
        }
    }

    struct Case<'a> {
        changes: Vec<Change>,
        listing: Vec<FileEntry>,
        old_listing: Option<Vec<FileEntry>>,
        rules: &'a str,
        old_rules: &'a str,
        deferred: Vec<String>,
    }

    impl Case<'_> {
        fn plan(&self, s: &Settings) -> Plan {
            let (r, o) = (rules(self.rules), rules(self.old_rules));
            super::build(
                "t",
                &Input {
                    changes: &self.changes,
                    listing: Some(&self.listing),
                    old_listing: self.old_listing.as_deref(),
                    rules: &r,
                    old_rules: &o,
                    deferred: &self.deferred,
                    redirects: None,
                    forms_changed: false,
                    elsewhere: None,
                },
                s,
            )
            .unwrap()
            .planned()
            .unwrap()
        }
    }

    /// (key, kind, copy_from) of every upload.
    fn steps(p: &Plan) -> Vec<(String, UploadKind, Option<String>)> {
        p.uploads
            .iter()
            .map(|u| (u.key.clone(), u.kind, u.copy_from.clone()))
            .collect()
    }

    const RULES: &str = r#"
        [[rules]]
        match = "uploads/**"
        keep = true
        [[rules]]
        match = "drafts/**"
        exclude = true
        [[rules]]
        match = "**/*.html"
        cache_control = "max-age=60"
        content_encoding = "gzip"
    "#;

    #[test]
    fn exclude_and_keep() {
        use ChangeKind::*;
        let c = Case {
            changes: vec![
                ch("drafts/x.html", Added),
                ch("drafts/old.html", Deleted),
                ch("uploads/cat.jpg", Deleted),
                ch("a.html", Modified),
            ],
            listing: listing(&["drafts/x.html", "a.html"]),
            old_listing: None,
            rules: RULES,
            old_rules: RULES,
            deferred: vec![],
        };
        let p = c.plan(&settings());
        assert_eq!(steps(&p), [("a.html".into(), UploadKind::Replace, None)]);
        assert_eq!(
            p.uploads[0].headers.cache_control.as_deref(),
            Some("max-age=60")
        );
        assert_eq!(p.uploads[0].headers.content_encoding, Some(Encoding::Gzip));
        assert!(
            p.deletes.is_empty(),
            "kept and excluded paths are never deleted"
        );
        assert_eq!(p.invalidations, ["/a.html"]);
    }

    /// Metadata follows config: a rule change between the deployed rules and the new ones, per file.
    #[test]
    fn rule_changes_update_unchanged_files() {
        let old = r#"
            [[rules]]
            match = "**/*.css"
            cache_control = "max-age=60"
            [[rules]]
            match = "secret/**"
            exclude = true
        "#;
        let new = r#"
            [[rules]]
            match = "**/*.css"
            cache_control = "max-age=31536000"
            [[rules]]
            match = "**/*.js"
            content_encoding = "br"
            [[rules]]
            match = "**/*.png"
            cache_control = "max-age=60"
            content_type = "image/png"
        "#;
        let c = Case {
            changes: vec![],
            listing: listing(&["a.css", "b.js", "c.png", "d.txt", "secret/s.txt"]),
            old_listing: None,
            rules: new,
            old_rules: old,
            deferred: vec![],
        };
        let p = c.plan(&settings());
        assert_eq!(
            steps(&p),
            [
                // headers only: copied onto itself
                ("a.css".into(), UploadKind::Headers, Some("a.css".into())),
                // encoding changed: the stored bytes change
                ("b.js".into(), UploadKind::Replace, None),
                ("c.png".into(), UploadKind::Headers, Some("c.png".into())),
                // was excluded, never published
                ("secret/s.txt".into(), UploadKind::New, None),
            ]
        );
        assert_eq!(p.upload_bytes(), 0);
        // headers changed = stale; a never-published file is new
        assert_eq!(p.invalidations, ["/a.css", "/b.js", "/c.png"]);
        // same rules: nothing to do
        let same = Case {
            old_rules: new,
            ..c
        };
        assert!(same.plan(&settings()).is_empty());
    }

    #[test]
    fn renames_and_duplicates_are_copies() {
        use ChangeKind::*;
        let blob = |p: &str| format!("{:040x}", p.len());
        let c = Case {
            // a rename (old.css -> new/site.css, same bytes), a duplicate of an unchanged file, a genuinely
            // new file, and a file whose blob sits at a key being replaced (not a safe source)
            changes: vec![
                ch("old.css", Deleted),
                Change {
                    blob: Some("b1".repeat(20)),
                    ..ch("new/site.css", Added)
                },
                Change {
                    blob: Some("b2".repeat(20)),
                    ..ch("copy-of-logo.png", Added)
                },
                ch("fresh.js", Added),
                Change {
                    blob: Some("b3".repeat(20)),
                    ..ch("x.js", Added)
                },
                ch("moving.js", Modified),
            ],
            listing: vec![
                entry("new/site.css", &"b1".repeat(20)),
                entry("copy-of-logo.png", &"b2".repeat(20)),
                entry("logo.png", &"b2".repeat(20)),
                entry("fresh.js", &blob("fresh.js")),
                entry("x.js", &"b3".repeat(20)),
                entry("moving.js", &blob("moving.js")),
            ],
            old_listing: Some(vec![
                entry("old.css", &"b1".repeat(20)),
                entry("logo.png", &"b2".repeat(20)),
                entry("moving.js", &"b3".repeat(20)),
            ]),
            rules: "",
            old_rules: "",
            deferred: vec![],
        };
        let c = Case {
            rules: "rules = []",
            old_rules: "rules = []",
            ..c
        };
        let mut s = settings();
        s.prefix = "p".into();
        let p = c.plan(&s);
        assert_eq!(
            steps(&p),
            [
                (
                    "p/copy-of-logo.png".into(),
                    UploadKind::Copy,
                    Some("p/logo.png".into())
                ),
                ("p/fresh.js".into(), UploadKind::New, None),
                ("p/moving.js".into(), UploadKind::Replace, None),
                (
                    "p/new/site.css".into(),
                    UploadKind::Copy,
                    Some("p/old.css".into())
                ),
                ("p/x.js".into(), UploadKind::New, None),
            ]
        );
        assert_eq!(
            p.deletes,
            ["p/old.css"],
            "the source is deleted after the copy"
        );
        // no old listing (resuming an interrupted publish): no copies
        let p = Case {
            old_listing: None,
            ..c
        }
        .plan(&s);
        assert_eq!(p.count(UploadKind::Copy), 0);
    }

    /// Production never writes where previews are: a site path under `_previews/` is refused (in any case on
    /// a directory target); a preview's own paths are not.
    #[test]
    fn production_refuses_site_paths_under_previews() {
        let mut s = settings();
        s.keys.previews = true;
        for path in ["_previews/x/index.html", "_previews"] {
            let e = build("t", &[ch(path, ChangeKind::Added)], &listing(&[path]), &s).unwrap_err();
            assert!(matches!(e, PlanError::PreviewPath { .. }), "{path}: {e:?}");
        }
        assert!(build(
            "t",
            &[ch("_previewsx.html", ChangeKind::Added)],
            &listing(&["_previewsx.html"]),
            &s
        )
        .is_ok());
        s.keys.filesystem = true;
        let e = build(
            "t",
            &[ch("_Previews/a.html", ChangeKind::Added)],
            &listing(&["_Previews/a.html"]),
            &s,
        );
        assert!(matches!(e, Err(PlanError::PreviewPath { .. })), "{e:?}");
        s.keys.previews = false;
        assert!(build(
            "t",
            &[ch("_previews/a.html", ChangeKind::Added)],
            &listing(&["_previews/a.html"]),
            &s
        )
        .is_ok());
    }

    /// A preview's first publish: every file is new under `_previews/<name>/`; those whose bytes production
    /// already holds (at the same path, or anywhere) are copied from production's keys, none is sent twice,
    /// and nothing under production's prefix is written or deleted. `--full` sends bytes.
    #[test]
    fn a_preview_copies_what_production_holds() {
        use ChangeKind::*;
        let with = |path: &str, blob: &str| Change {
            blob: Some(blob.repeat(20)),
            ..ch(path, Added)
        };
        let changes = vec![
            with("index.html", "a1"),
            with("posts/new/index.html", "a2"),
            with("css/site.css", "a3"),
            with("img/moved.png", "a4"),
        ];
        let production = vec![
            entry("css/site.css", &"a3".repeat(20)),
            entry("img/logo.png", &"a4".repeat(20)),
            entry("index.html", &"ff".repeat(20)),
        ];
        let none = Rules::default();
        let elsewhere = Elsewhere {
            prefix: "site",
            files: &production,
            rules: &none,
        };
        let input = Input {
            changes: &changes,
            listing: None,
            old_listing: None,
            rules: &none,
            old_rules: &none,
            deferred: &[],
            redirects: None,
            forms_changed: false,
            elsewhere: Some(&elsewhere),
        };
        let mut s = settings();
        s.prefix = "site/_previews/draft".into();
        s.within_prefix = true;
        let p = super::build("p@draft", &input, &s)
            .unwrap()
            .planned()
            .unwrap();
        let p_ = |k: &str| format!("site/_previews/draft/{k}");
        assert_eq!(
            steps(&p),
            [
                (
                    p_("css/site.css"),
                    UploadKind::Copy,
                    Some("site/css/site.css".into())
                ),
                (
                    p_("img/moved.png"),
                    UploadKind::Copy,
                    Some("site/img/logo.png".into())
                ),
                (p_("index.html"), UploadKind::New, None),
                (p_("posts/new/index.html"), UploadKind::New, None),
            ]
        );
        assert!(p.deletes.is_empty());
        assert!(p
            .uploads
            .iter()
            .all(|u| u.key.starts_with("site/_previews/draft/")));
        s.full = true;
        let all: Vec<FileEntry> = (changes.iter())
            .map(|c| entry(&c.path, c.blob.as_deref().unwrap()))
            .collect();
        let input = Input {
            listing: Some(&all),
            ..input
        };
        let p = super::build("p@draft", &input, &s)
            .unwrap()
            .planned()
            .unwrap();
        assert_eq!(p.count(UploadKind::Copy), 0);
    }

    #[test]
    fn delayed_deletes_wait_one_publish() {
        use ChangeKind::*;
        let mut s = settings();
        s.delay_deletes = true;
        let c = Case {
            changes: vec![ch("gone.css", Deleted), ch("index.html", Modified)],
            listing: listing(&["index.html", "back.css"]),
            old_listing: None,
            rules: "rules = []",
            old_rules: "rules = []",
            // the previous publish removed these two; back.css has returned since
            deferred: vec!["older.css".into(), "back.css".into()],
        };
        let p = c.plan(&s);
        assert_eq!(p.deletes, ["older.css"]);
        assert_eq!(p.deferred, ["gone.css"]);
        assert_eq!(p.invalidations, ["/", "/index.html", "/older.css"]);
    }

    /// Without the listing of the new tree, the plan asks for it exactly when a step reads it.
    #[test]
    fn needs_listing_only_when_a_step_reads_it() {
        use ChangeKind::*;
        let many: Vec<Change> = (0..20)
            .map(|i| ch(&format!("d/f{i}.css"), Modified))
            .collect();
        let none = rules("rules = []");
        let some = rules("[[rules]]\nmatch = \"*.css\"\ncache_control = \"no-cache\"");
        let full = Settings {
            full: true,
            ..settings()
        };
        type Row<'a> = (
            &'a str,
            &'a [Change],
            &'a [String],
            &'a Rules,
            &'a Settings,
            bool,
        );
        let (small, gone) = ([ch("a.html", Modified)], ["gone.css".to_string()]);
        let (added, dir) = (
            [ch("new.html", Added)],
            Settings {
                keys: KeyRules {
                    reserved: Vec::new(),
                    filesystem: true,
                    previews: false,
                },
                ..settings()
            },
        );
        #[rustfmt::skip]
        let table: &[Row] = &[
            // (why,                        changes, deferred, old rules, settings,    needs the listing)
            ("a small change",              &small,  &[],      &none,     &settings(), false),
            ("deferred deletes",            &[],     &gone,    &none,     &settings(), true),
            ("changed rules",               &[],     &[],      &some,     &settings(), true),
            ("--full",                      &[],     &[],      &none,     &full,       true),
            ("more stale URLs than paths",  &many,   &[],      &none,     &settings(), true),
            ("a new name on a directory",   &added,  &[],      &none,     &dir,        true),
            ("a new name on S3",            &added,  &[],      &none,     &settings(), false),
        ];
        for &(why, changes, deferred, old_rules, s, want) in table {
            let input = Input {
                changes,
                listing: None,
                old_listing: None,
                rules: &none,
                old_rules,
                deferred,
                redirects: None,
                forms_changed: false,
                elsewhere: None,
            };
            let needs = super::build("t", &input, s).unwrap() == Outcome::NeedsListing;
            assert_eq!(needs, want, "{why}");
        }
    }

    #[test]
    fn served_paths() {
        let table = [
            ("", "", "a/b.html", Some("a/b.html")),
            ("blog", "", "a/b.html", Some("blog/a/b.html")),
            ("blog", "blog", "a/b.html", Some("a/b.html")),
            ("s/blog", "s", "a/b.html", Some("blog/a/b.html")),
            ("blog", "other", "a/b.html", None),
            ("blogs", "blog", "a/b.html", None),
            ("", "blog", "blog/x.css", Some("x.css")),
        ];
        for (prefix, origin, path, want) in table {
            assert_eq!(
                served_path(prefix, origin, path).as_deref(),
                want,
                "{prefix:?} {origin:?} {path:?}"
            );
        }
    }

    #[test]
    fn origin_path_and_several_distributions() {
        let mut s = settings();
        s.prefix = "site".into();
        s.cdns = vec![
            CdnSettings {
                id: "E1".into(),
                origin_path: "site".into(),
                profile: crate::aws::cloudfront::PROFILE,
            },
            CdnSettings {
                id: "E2".into(),
                origin_path: String::new(),
                profile: crate::aws::cloudfront::PROFILE,
            },
        ];
        let p = build(
            "t",
            &[ch("posts/a/index.html", ChangeKind::Modified)],
            &listing(&["posts/a/index.html"]),
            &s,
        )
        .unwrap();
        assert_eq!(p.cdn.len(), 2);
        assert_eq!(p.cdn[0].paths, ["/posts/a/", "/posts/a/index.html"]);
        assert_eq!(
            p.cdn[1].paths,
            ["/site/posts/a/", "/site/posts/a/index.html"]
        );
        assert_eq!(p.invalidation.paths, 4);
    }

    #[test]
    fn monthly_budget_counts_paid_paths_and_prefers_wildcards() {
        let changes: Vec<Change> = (0..6)
            .map(|i| ch(&format!("d/f{i}.css"), ChangeKind::Modified))
            .collect();
        let l = listing(&[
            "d/f0.css", "d/f1.css", "d/f2.css", "d/f3.css", "d/f4.css", "d/f5.css", "x.css",
        ]);
        let mut s = settings();
        s.used_this_month = 990;
        let p = build("t", &changes, &l, &s).unwrap();
        assert_eq!(p.invalidations.len(), 6);
        assert_eq!(p.budget.paid, 0);
        s.used_this_month = 997;
        let p = build("t", &changes, &l, &s).unwrap();
        // 3 left: the fully changed directory becomes one wildcard
        assert_eq!(p.invalidations, ["/d/*"]);
        assert!(p.budget.tightened);
        s.used_this_month = 1200;
        let p = build("t", &changes, &l, &s).unwrap();
        assert_eq!(p.invalidations, ["/d/*"]);
        assert_eq!(p.budget.paid, 1);
    }

    /// Other URL forms than the deployed tree's (`pretty_urls` turned on or off, another index document):
    /// any URL may serve something else now, so each distribution that serves the target invalidates the
    /// whole site under its served root, one wildcard, even when no file changed.
    #[test]
    fn changed_url_forms_invalidate_the_whole_site_once() {
        let none = Rules::default();
        let cloudfront = crate::aws::cloudfront::PROFILE;
        // Cloudflare's purge by URL has no wildcard: the whole site is everything the zone cached.
        let cloudflare = crate::cloudflare::profile("blog.example.com");
        // (prefix, origin path, profile, expected paths)
        let table: [(&str, &str, &invalidate::CdnProfile, &[&str]); 5] = [
            ("", "", &cloudfront, &["/*"]),
            ("blog", "", &cloudfront, &["/blog/*"]),
            ("blog", "blog", &cloudfront, &["/*"]),
            ("blog", "shop", &cloudfront, &[]),
            ("blog", "", &cloudflare, &[invalidate::EVERYTHING]),
        ];
        for (prefix, origin, profile, want) in table {
            let s = Settings {
                prefix: prefix.into(),
                cdns: vec![CdnSettings {
                    id: "E1".into(),
                    origin_path: origin.into(),
                    profile: profile.clone(),
                }],
                ..settings()
            };
            let input = Input {
                changes: &[],
                listing: None,
                old_listing: None,
                rules: &none,
                old_rules: &none,
                deferred: &[],
                redirects: None,
                forms_changed: true,
                elsewhere: None,
            };
            let p = super::build("t", &input, &s).unwrap().planned().unwrap();
            assert_eq!(p.invalidations, want, "{prefix:?} under {origin:?}");
            assert_eq!(p.invalidation.wildcards, want.len());
            let batches: Vec<Vec<&str>> = want.iter().map(|w| vec![*w]).collect();
            assert_eq!(
                p.cdn
                    .iter()
                    .flat_map(|c| &c.batches)
                    .cloned()
                    .collect::<Vec<_>>(),
                batches
            );
            let unchanged = Input {
                forms_changed: false,
                elsewhere: None,
                ..input
            };
            let p = super::build("t", &unchanged, &s)
                .unwrap()
                .planned()
                .unwrap();
            assert!(p.is_empty());
        }
    }
}
