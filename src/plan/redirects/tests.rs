use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::plan::{Change, ChangeKind};

fn spec(from: &str, to: &str, status: Option<u16>) -> RedirectSpec {
    RedirectSpec {
        from: from.into(),
        to: to.into(),
        status,
    }
}

fn change(path: &str, kind: ChangeKind, blob: &str) -> Change {
    let b = Some(blob.repeat(40 / blob.len()));
    Change {
        path: path.into(),
        kind,
        blob: (kind != ChangeKind::Deleted).then(|| b.clone()).flatten(),
        size: 1,
        old_blob: (kind == ChangeKind::Deleted).then_some(b).flatten(),
        executable: false,
    }
}

#[test]
fn config_entries_are_checked_and_chains_collapsed() {
    let ok = check_specs(&[
        spec("/a/", "/b/", None),
        spec("/b", "/c/", Some(302)),
        spec("/x.html", "https://example.com/x/", None),
    ])
    .unwrap();
    assert_eq!(ok[0].to, "/c/", "a → b → c collapses to one hop");
    assert_eq!((ok[0].status, ok[1].status), (301, 302));
    #[rustfmt::skip]
    let bad: &[(&[RedirectSpec], &str, &str)] = &[
        (&[spec("old/", "/new/", None)], "#1 (from = \"old/\"): `from` must start with a single `/`", "/posts/old-title/"),
        (&[spec("/a/../b/", "/new/", None)], "`.` or `..`", "URL path"),
        (&[spec("/a/", "new", None)], "`to` = \"new\" must start", "absolute URL"),
        (&[spec("/a/", "/b?x=1", None)], "`?`", "absolute URL"),
        (&[spec("/a/", "/b/", Some(307))], "status = 307", "301"),
        (&[spec("/a/", "/b/", None), spec("/a/index.html", "/c/", None)], "#2", "one [[redirects]] entry per page"),
        (&[spec("/a/", "/b/", None), spec("/b/", "/a", None)], "from = \"/a/\" loops", "remove one entry"),
    ];
    for (specs, msg, hint) in bad {
        let (m, h) = check_specs(specs).unwrap_err();
        assert!(m.contains(msg), "{m}");
        assert!(h.contains(hint), "{h}");
    }
}

#[test]
fn urls_and_paths() {
    let d = UrlForms::default();
    let pretty = UrlForms {
        pretty: true,
        ..UrlForms::default()
    };
    for (url, forms, path) in [
        ("/old/", &d, "old/index.html"),
        ("/old", &d, "old/index.html"),
        ("/old/index.html", &d, "old/index.html"),
        ("/about.html", &d, "about.html"),
        ("/about", &pretty, "about.html"),
        ("/", &d, "index.html"),
    ] {
        assert_eq!(path_of_url(url, forms), path, "{url}");
    }
    assert_eq!(url_of_path("posts/a/index.html", &d), "/posts/a/");
    assert_eq!(url_of_path("about.html", &d), "/about.html");
}

#[test]
fn exact_renames_then_similar_pairs() {
    use ChangeKind::*;
    let changes = [
        change("posts/a/index.html", Deleted, "a"),
        change("posts/a2/index.html", Added, "a"),
        change("posts/b/index.html", Deleted, "b"),
        change("posts/b2/index.html", Added, "c"),
        // same bytes but not HTML: no page moved
        change("img/x.png", Deleted, "d"),
        change("img/y.png", Added, "d"),
    ];
    let similar = [
        (
            "posts/b/index.html".to_string(),
            "posts/b2/index.html".to_string(),
        ),
        // already matched exactly
        (
            "posts/a/index.html".to_string(),
            "posts/b2/index.html".to_string(),
        ),
    ];
    assert_eq!(
        renames(&changes, &similar),
        [
            ("posts/a/index.html".into(), "posts/a2/index.html".into()),
            ("posts/b/index.html".into(), "posts/b2/index.html".into()),
        ]
    );
}

fn req<'a>(
    config: &'a [ConfigRedirect],
    recorded: &'a [Redirect],
    mode: RenameMode,
) -> Request<'a> {
    Request {
        config,
        recorded,
        similar: &[],
        renames: mode,
    }
}

#[test]
fn renames_are_applied_proposed_or_ignored_by_mode() {
    use ChangeKind::*;
    let changes = [
        change("a/index.html", Deleted, "a"),
        change("b/index.html", Added, "a"),
    ];
    let forms = UrlForms::default();
    let published = |p: &str| p == "b/index.html";
    for (mode, applied, proposed) in [
        (RenameMode::Apply, 1, 0),
        (RenameMode::Propose, 0, 1),
        (RenameMode::Off, 0, 0),
    ] {
        let (t, p) = table(&req(&[], &[], mode), &changes, &forms, &published).unwrap();
        assert_eq!((t.len(), p.len()), (applied, proposed), "{mode:?}");
    }
    let (t, _) = table(
        &req(&[], &[], RenameMode::Apply),
        &changes,
        &forms,
        &published,
    )
    .unwrap();
    assert_eq!(t[0].from, "a/index.html");
    assert_eq!(t[0].to, "/b/");
}

#[test]
fn a_config_from_that_is_published_is_refused() {
    let config = check_specs(&[spec("/live/", "/b/", None)]).unwrap();
    let e = table(
        &req(&config, &[], RenameMode::Apply),
        &[],
        &UrlForms::default(),
        &|p| p == "live/index.html",
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("from = \"/live/\" is a published file (live/index.html)"),
        "{e}"
    );
    assert!(e.hint().unwrap().contains("remove the [[redirects]] entry"));
}

/// A site model for the property test: each page has an identity (its content) and one current path.
struct Site {
    /// page id → current site path
    pages: BTreeMap<usize, String>,
    /// every path that ever served a page
    ever: BTreeSet<String>,
    table: Vec<Redirect>,
    config: Vec<RedirectSpec>,
}

fn rng(seed: &mut u64, n: u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed % n.max(1)
}

impl Site {
    /// One random step: a page renamed (to a new path or back to one it had; with the same or edited
    /// content), or a config entry added or removed.
    fn step(&mut self, seed: &mut u64) {
        let forms = UrlForms::default();
        let mut changes = Vec::new();
        let mut similar = Vec::new();
        match rng(seed, 4) {
            0 | 1 => {
                let id = rng(seed, self.pages.len() as u64) as usize;
                let old = self.pages[&id].clone();
                let free: Vec<&String> = (self.ever.iter())
                    .filter(|p| !self.pages.values().any(|q| q == *p))
                    .collect();
                let new = if !free.is_empty() && rng(seed, 3) == 0 {
                    free[rng(seed, free.len() as u64) as usize].clone()
                } else {
                    format!("p/{}/index.html", rng(seed, 1_000_000))
                };
                if self.pages.values().any(|q| *q == new) {
                    return;
                }
                let edited = rng(seed, 2) == 0;
                let blob = |id: usize, v: &str| format!("{id:x}{v}").repeat(40)[..40].to_string();
                changes.push(Change {
                    path: old.clone(),
                    kind: ChangeKind::Deleted,
                    blob: None,
                    size: 0,
                    old_blob: Some(blob(id, "a")),
                    executable: false,
                });
                changes.push(Change {
                    path: new.clone(),
                    kind: ChangeKind::Added,
                    blob: Some(blob(id, if edited { "b" } else { "a" })),
                    size: 1,
                    old_blob: None,
                    executable: false,
                });
                if edited {
                    similar.push((old.clone(), new.clone()));
                }
                self.pages.insert(id, new.clone());
                self.ever.insert(new);
            }
            2 => {
                let id = rng(seed, self.pages.len() as u64) as usize;
                let to = url_of_path(&self.pages[&id], &forms);
                let from = format!("/cfg/{}/", rng(seed, 50));
                self.config.retain(|s| s.from != from);
                self.config
                    .push(spec(&from, &to, Some(301 + rng(seed, 2) as u16)));
            }
            _ => {
                if !self.config.is_empty() {
                    let i = rng(seed, self.config.len() as u64) as usize;
                    self.config.remove(i);
                }
            }
        }
        let config = check_specs(&self.config).expect("the model writes sane config");
        let live: BTreeSet<String> = self.pages.values().cloned().collect();
        let r = Request {
            config: &config,
            recorded: &self.table,
            similar: &similar,
            renames: RenameMode::Apply,
        };
        self.table = table(&r, &changes, &forms, &|p| live.contains(p))
            .unwrap()
            .0;
    }

    /// Every URL that ever served a page, and every configured one, serves a page or redirects to a URL that
    /// does, in one hop.
    fn check(&self) -> Result<(), String> {
        let forms = UrlForms::default();
        let live: BTreeSet<&String> = self.pages.values().collect();
        let by_from: BTreeMap<&str, &Redirect> =
            self.table.iter().map(|r| (r.from.as_str(), r)).collect();
        let cfg: Vec<String> = self
            .config
            .iter()
            .map(|s| path_of_url(&s.from, &forms))
            .collect();
        for path in self.ever.iter().chain(&cfg) {
            if live.contains(path) {
                continue;
            }
            let r = by_from
                .get(path.as_str())
                .ok_or(format!("{path} serves nothing"))?;
            let target = path_of_url(&r.to, &forms);
            if !live.contains(&target) {
                return Err(format!("{path} → {} which serves no page", r.to));
            }
        }
        Ok(())
    }
}

#[test]
fn property_every_url_that_served_a_page_still_leads_to_one_in_one_hop() {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let (mut steps, mut redirects) = (0, 0);
    for _trial in 0..200 {
        let pages: BTreeMap<usize, String> =
            (0..5).map(|i| (i, format!("p/{i}/index.html"))).collect();
        let mut site = Site {
            ever: pages.values().cloned().collect(),
            pages,
            table: Vec::new(),
            config: Vec::new(),
        };
        for _ in 0..30 {
            site.step(&mut seed);
            steps += 1;
            if let Err(e) = site.check() {
                panic!("after {steps} steps: {e}\ntable: {:#?}", site.table);
            }
            redirects += site.table.len();
        }
    }
    assert!(
        redirects > steps,
        "the model renames pages: {redirects} redirects over {steps} steps"
    );
}

fn settings(delay_deletes: bool) -> crate::plan::Settings {
    crate::plan::Settings {
        prefix: "site".into(),
        cdns: vec![crate::plan::CdnSettings {
            id: "E1".into(),
            origin_path: String::new(),
            profile: crate::aws::cloudfront::PROFILE,
        }],
        max_deletes: 100,
        max_invalidation_paths: 15,
        forms: UrlForms::default(),
        invalidate_new_files: false,
        full: false,
        delay_deletes,
        monthly_budget: 1000,
        used_this_month: 0,
        within_prefix: false,
        keys: Default::default(),
    }
}

/// Through the whole planner: a moved page's key holds the redirect object instead of being deleted (now or,
/// with `delay_deletes`, by the next publish), and every URL form of the old page is invalidated.
#[test]
fn planner_puts_redirect_objects_instead_of_deleting_and_invalidates_old_urls() {
    use ChangeKind::*;
    let changes = [
        change("a/index.html", Deleted, "a"),
        change("b/index.html", Added, "a"),
    ];
    let rules = crate::plan::Rules::default();
    for delay in [false, true] {
        let s = settings(delay);
        let r = req(&[], &[], RenameMode::Apply);
        let input = crate::plan::Input {
            changes: &changes,
            listing: None,
            old_listing: None,
            rules: &rules,
            old_rules: &rules,
            deferred: &[],
            redirects: Some(&r),
            forms_changed: false,
            elsewhere: None,
        };
        let plan = crate::plan::build("t", &input, &s)
            .unwrap()
            .planned()
            .unwrap();
        assert!(
            plan.deletes.is_empty() && plan.deferred.is_empty(),
            "{plan:?}"
        );
        assert_eq!(plan.redirects.puts.len(), 1);
        assert_eq!(plan.redirects.puts[0].key, "site/a/index.html");
        assert_eq!(plan.redirects.puts[0].location, "/b/");
        assert_eq!(plan.invalidations, ["/site/a/", "/site/a/index.html"]);
        assert_eq!(plan.redirects.lines, ["> /a/ → /b/"]);
        // The next publish, with nothing changed: nothing to do, even with a deferred delete of that path.
        let table = plan.redirects.table.clone();
        let again = req(&[], &table, RenameMode::Apply);
        let deferred = ["a/index.html".to_string()];
        let input = crate::plan::Input {
            changes: &[],
            deferred: &deferred,
            listing: Some(&[]),
            redirects: Some(&again),
            ..input
        };
        let plan = crate::plan::build("t", &input, &s)
            .unwrap()
            .planned()
            .unwrap();
        assert!(plan.is_empty(), "{plan:?}");
    }
}

/// Open redirects (finding 9): a site-relative target is one `/` followed by neither `/` nor `\`, in
/// `[[redirects]]`; a renamed page's target is encoded (a page at `\host/` is `/%5Chost/`); a recorded
/// target that leaves the site (a state written by hand) is dropped from the table, so the publish removes it.
#[test]
fn finding_9_redirect_targets_never_leave_the_site() {
    for to in ["/\\evil.example/", "//evil.example/", "/\\/evil.example"] {
        let (m, _) = check_specs(&[spec("/a/", to, None)]).unwrap_err();
        assert!(m.contains("neither `/` nor `\\`"), "{to}: {m}");
    }
    let forms = UrlForms::default();
    let changes = [
        change("a/index.html", ChangeKind::Deleted, "a"),
        change("\\evil.example/index.html", ChangeKind::Added, "a"),
    ];
    let recorded = [Redirect {
        from: "old/index.html".into(),
        to: "/\\evil.example/".into(),
        status: 301,
        origin: Origin::Rename,
    }];
    let (t, _) = table(
        &req(&[], &recorded, RenameMode::Apply),
        &changes,
        &forms,
        &|_| false,
    )
    .unwrap();
    assert_eq!(
        t.iter()
            .map(|r| (&r.from[..], &r.to[..]))
            .collect::<Vec<_>>(),
        [("a/index.html", "/%5Cevil.example/")]
    );
    let (_, removed) = diff(&recorded, &t);
    assert_eq!(removed, ["old/index.html"]);
}

/// `from` in site.toml is a URL: written encoded or not, it names the same page, and `to` is sent with
/// characters outside ASCII encoded (finding 8).
#[test]
fn finding_8_config_urls_are_decoded_and_targets_encoded() {
    let ok = check_specs(&[
        spec("/caf%C3%A9/", "/thé/", None),
        spec("/a%20b/", "/c/", None),
    ])
    .unwrap();
    assert_eq!(ok[0].from, "/café/");
    assert_eq!(ok[0].to, "/th%C3%A9/");
    assert_eq!(ok[1].from, "/a b/");
    let (m, _) = check_specs(&[
        spec("/café/", "/x/", None),
        spec("/caf%C3%A9/index.html", "/y/", None),
    ])
    .unwrap_err();
    assert!(m.contains("#2"), "{m}");
}
