//! Freshness model of the whole planner (tests only).
//!
//! The CDN is a cache that holds every URL form of every object of the old site. A publish's plan is applied
//! to it (every cached URL that one of the plan's paths matches is evicted). Then:
//! - no URL whose response (bytes or headers) changed or vanished may still be served from the cache (stale = 0);
//! - we count the paths sent, the paths beyond the monthly free tier, and the unchanged URLs evicted anyway.
//!
//! Every check also plans without the listing of the new tree: the outcome must be
//! [`Outcome::NeedsListing`] or the very same plan (a plan that did not ask for the listing may not depend on it).
//!
//! Run over many random site changes (property test) and on a synthetic 2,000-file blog for the two numbers
//! the README reports (`cargo test --lib freshness -- --nocapture` prints them).

use std::collections::{BTreeMap, BTreeSet};

use super::invalidate::{encode, evicts, url_forms, UrlForms};
use super::*;

/// A site: path -> (blob, headers tag).
type Site = BTreeMap<String, String>;

struct Measured {
    paths: usize,
    wildcards: usize,
    paid: usize,
    stale_served: usize,
    unchanged_evicted: usize,
    unchanged_total: usize,
}

/// URL -> response (bytes and headers), for every URL form of every file, as seen through one distribution.
fn served(
    site: &Site,
    rules: &Rules,
    forms: &UrlForms,
    prefix: &str,
    origin: &str,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (path, blob) in site {
        if let Some(sp) = served_path(prefix, origin, path) {
            for u in url_forms(&sp, forms) {
                out.insert(encode(&u), format!("{blob} {:?}", rules.headers(path)));
            }
        }
    }
    out
}

fn changes(old: &Site, new: &Site) -> Vec<Change> {
    let mut out = Vec::new();
    for (p, b) in new {
        match old.get(p) {
            None => out.push(Change {
                path: p.clone(),
                kind: ChangeKind::Added,
                blob: Some(b.clone()),
                size: 1,
                old_blob: old.get(p).cloned(),
                executable: false,
            }),
            Some(ob) if ob != b => out.push(Change {
                path: p.clone(),
                kind: ChangeKind::Modified,
                blob: Some(b.clone()),
                size: 1,
                old_blob: old.get(p).cloned(),
                executable: false,
            }),
            _ => {}
        }
    }
    for p in old.keys().filter(|p| !new.contains_key(*p)) {
        out.push(Change {
            path: p.clone(),
            kind: ChangeKind::Deleted,
            blob: None,
            size: 0,
            old_blob: old.get(p).cloned(),
            executable: false,
        });
    }
    out
}

fn listing(site: &Site) -> Vec<FileEntry> {
    site.iter()
        .map(|(p, b)| FileEntry {
            path: p.clone(),
            blob: b.clone(),
            executable: false,
        })
        .collect()
}

/// Plan old -> new, apply it to a cache full of the old site, check and count.
fn check(old: &Site, new: &Site, s: &Settings) -> Measured {
    let none = Rules::default();
    check_with_rules(old, new, &none, &none, s)
}

fn check_with_rules(
    old: &Site,
    new: &Site,
    old_rules: &Rules,
    new_rules: &Rules,
    s: &Settings,
) -> Measured {
    let ch = changes(old, new);
    let (l, ol) = (listing(new), listing(old));
    let input = |listing| Input {
        changes: &ch,
        listing,
        old_listing: Some(&ol),
        rules: new_rules,
        old_rules,
        deferred: &[],
        redirects: None,
        forms_changed: false,
        elsewhere: None,
    };
    let plan = match build("t", &input(Some(&l)), s).expect("plan") {
        super::Outcome::Planned(p) => p,
        super::Outcome::NeedsListing => panic!("asked for the listing it was given"),
    };
    // Without the listing, the planner either asks for it or makes the very same plan.
    match build("t", &input(None), s).expect("plan") {
        super::Outcome::NeedsListing => {}
        super::Outcome::Planned(p) => assert_eq!(
            format!("{p:?}"),
            format!("{plan:?}"),
            "a plan that did not ask for the listing depends on it"
        ),
    }
    let mut o = Measured {
        paths: plan.invalidation.paths,
        wildcards: plan.invalidation.wildcards,
        paid: plan.budget.paid,
        stale_served: 0,
        unchanged_evicted: 0,
        unchanged_total: 0,
    };
    for d in &s.cdns {
        let paths: Vec<String> = plan
            .cdn
            .iter()
            .filter(|c| c.distribution == d.id)
            .flat_map(|c| c.paths.clone())
            .collect();
        assert!(paths.len() <= s.max_invalidation_paths.max(1), "{paths:?}");
        let (before, after) = (
            served(old, old_rules, &s.forms, &s.prefix, &d.origin_path),
            served(new, new_rules, &s.forms, &s.prefix, &d.origin_path),
        );
        for (url, content) in &before {
            let evicted = evicts(&paths, url);
            let same = after.get(url) == Some(content);
            if !evicted && !same {
                o.stale_served += 1;
                eprintln!("STALE {url} served from cache after {paths:?}");
            }
            if same {
                o.unchanged_total += 1;
                if evicted {
                    o.unchanged_evicted += 1;
                }
            }
        }
    }
    o
}

fn settings(max_paths: usize) -> Settings {
    Settings {
        prefix: String::new(),
        cdns: vec![CdnSettings {
            id: "E1".into(),
            origin_path: String::new(),
            profile: crate::aws::cloudfront::PROFILE,
        }],
        max_deletes: usize::MAX,
        max_invalidation_paths: max_paths,
        forms: UrlForms::default(),
        invalidate_new_files: false,
        full: false,
        delay_deletes: false,
        monthly_budget: 1000,
        used_this_month: 0,
        within_prefix: false,
        keys: Default::default(),
    }
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Header rule sets the property test switches between (a change of rules = a change of the response).
fn rule_set(i: u64) -> Rules {
    let cc = |glob: &str, v: &str| super::rules::RuleSpec {
        glob: glob.into(),
        cache_control: Some(v.into()),
        ..Default::default()
    };
    let specs = match i {
        0 => vec![],
        1 => vec![cc("**/*.css", "max-age=60")],
        2 => vec![cc("**/*.css", "max-age=3600"), cc("posts/**", "no-cache")],
        _ => vec![super::rules::RuleSpec {
            glob: "**/*.html".into(),
            content_encoding: Some(Encoding::Gzip),
            ..Default::default()
        }],
    };
    Rules::compile(&specs).unwrap()
}

/// A random site: pages, page bundles, assets, a few awkward names.
fn random_site(rng: &mut Rng) -> Site {
    let mut old = Site::new();
    let n = 5 + rng.below(120);
    for i in 0..n {
        let path = match rng.below(7) {
            0 => format!("posts/p{i}/index.html"),
            1 => format!("posts/p{}/img{i}.jpg", rng.below(n)),
            2 => format!("tags/t{}/index.html", i % 9),
            3 => format!(
                "assets/{}/f{i}.css",
                ["css", "js", "fonts"][rng.below(3) as usize]
            ),
            4 => format!("p{i}.html"),
            5 => format!("dir {}/ü{i}[x].txt", rng.below(3)),
            _ => "index.html".to_string(),
        };
        old.insert(path, format!("b{i}"));
    }
    old
}

/// Random changes: modify, delete, add, rename.
fn random_change(rng: &mut Rng, old: &Site, trial: u64) -> Site {
    let mut new = old.clone();
    for (p, b) in old {
        match rng.below(10) {
            0 | 1 => {
                new.insert(p.clone(), format!("{b}'"));
            }
            2 => {
                new.remove(p);
            }
            3 => {
                new.remove(p);
                new.insert(format!("moved/{p}"), b.clone());
            }
            _ => {}
        }
    }
    for i in 0..rng.below(5) {
        new.insert(format!("new{trial}/n{i}/index.html"), format!("n{i}"));
    }
    new
}

/// Random URL forms, path budget, month's usage, prefix and origin path.
fn random_settings(rng: &mut Rng) -> Settings {
    let mut s = settings(1 + rng.below(25) as usize);
    s.forms.dir_bare = rng.below(2) == 0;
    s.forms.dir_index = rng.below(3) != 0;
    s.forms.dir_slash = !s.forms.dir_bare || rng.below(2) == 0;
    s.forms.pretty = rng.below(2) == 0;
    s.used_this_month = rng.below(1100) as usize;
    if rng.below(3) == 0 {
        s.prefix = "site".into();
        s.cdns[0].origin_path = if rng.below(2) == 0 {
            "site".into()
        } else {
            String::new()
        };
    }
    s
}

#[test]
fn property_no_stale_url_survives_random_changes() {
    let mut rng = Rng(0x9E3779B97F4A7C15);
    let (mut paths, mut paid, mut evicted, mut unchanged, mut exact_ok) = (0, 0, 0, 0, 0);
    let trials = 400;
    for trial in 0..trials {
        let old = random_site(&mut rng);
        let new = random_change(&mut rng, &old, trial);
        let s = random_settings(&mut rng);
        // A third of the trials also change the header rules.
        let (old_rules, new_rules) = if rng.below(3) == 0 {
            (rule_set(rng.below(4)), rule_set(rng.below(4)))
        } else {
            (Rules::default(), Rules::default())
        };
        let o = check_with_rules(&old, &new, &old_rules, &new_rules, &s);
        assert_eq!(o.stale_served, 0, "trial {trial}");
        // Within budget, nothing unchanged is evicted.
        let stale_urls = {
            let (a, b) = (
                served(
                    &old,
                    &old_rules,
                    &s.forms,
                    &s.prefix,
                    &s.cdns[0].origin_path,
                ),
                served(
                    &new,
                    &new_rules,
                    &s.forms,
                    &s.prefix,
                    &s.cdns[0].origin_path,
                ),
            );
            a.iter().filter(|(u, c)| b.get(*u) != Some(c)).count()
        };
        let left = s.monthly_budget.saturating_sub(s.used_this_month);
        if stale_urls <= s.max_invalidation_paths.min(left.max(1)) {
            assert_eq!(o.unchanged_evicted, 0, "trial {trial}");
            exact_ok += 1;
        }
        paths += o.paths;
        paid += o.paid;
        evicted += o.unchanged_evicted;
        unchanged += o.unchanged_total;
    }
    eprintln!(
        "freshness model: {trials} random site changes (a third with header-rule changes): 0 stale URLs served, {paths} paths sent ({paid} paid), \
         {evicted} of {unchanged} unchanged URLs evicted; {exact_ok} changes fit the budget exactly (0 evicted)"
    );
}

/// A synthetic 2,000-file blog: 600 posts (page bundles with a cover image), 100 tags, 20 categories,
/// 78 archive pages, 99 pagination pages, home, 404, feed, sitemap, search index, and assets.
fn blog() -> Site {
    let mut s = Site::new();
    for i in 0..600 {
        let y = 2020 + i % 6;
        s.insert(format!("posts/{y}/post-{i}/index.html"), format!("post{i}"));
        s.insert(format!("posts/{y}/post-{i}/cover.jpg"), format!("cover{i}"));
    }
    for i in 0..100 {
        s.insert(format!("tags/tag-{i}/index.html"), format!("tag{i}"));
    }
    for i in 0..20 {
        s.insert(format!("categories/cat-{i}/index.html"), format!("cat{i}"));
    }
    for y in 2020..2026 {
        s.insert(format!("archives/{y}/index.html"), format!("y{y}"));
        for m in 1..=12 {
            s.insert(
                format!("archives/{y}/{m:02}/index.html"),
                format!("m{y}{m}"),
            );
        }
    }
    for p in 2..=100 {
        s.insert(format!("page/{p}/index.html"), format!("page{p}"));
    }
    for f in [
        "index.html",
        "404.html",
        "atom.xml",
        "sitemap.xml",
        "search.json",
    ] {
        s.insert(f.into(), f.into());
    }
    let mut i = 0;
    while s.len() < 2000 {
        let dir = ["css", "js", "fonts", "images", "images/icons"][i % 5];
        s.insert(format!("assets/{dir}/a{i}.bin"), format!("asset{i}"));
        i += 1;
    }
    s
}

fn report(name: &str, o: &Measured) {
    eprintln!(
        "{name}: {} paths sent ({} wildcards, {} paid), {} stale URLs, {} unchanged URLs evicted (of {})",
        o.paths, o.wildcards, o.paid, o.stale_served, o.unchanged_evicted, o.unchanged_total
    );
}

#[test]
fn blog_new_post() {
    let old = blog();
    assert_eq!(old.len(), 2000);
    let mut new = old.clone();
    new.insert("posts/2025/new-post/index.html".into(), "new".into());
    new.insert("posts/2025/new-post/cover.jpg".into(), "newcover".into());
    for f in [
        "index.html",
        "atom.xml",
        "sitemap.xml",
        "search.json",
        "tags/tag-7/index.html",
        "categories/cat-3/index.html",
        "archives/2025/index.html",
    ] {
        new.insert(f.into(), format!("{f}'"));
    }
    let o = check(
        &old,
        &new,
        &settings(crate::config::DEFAULT_MAX_INVALIDATION_PATHS),
    );
    report("blog (2,000 files), new post", &o);
    // The README's row, figure for figure.
    assert_eq!(o.stale_served, 0);
    assert_eq!(o.unchanged_evicted, 0);
    assert_eq!(o.wildcards, 0);
    assert_eq!(o.paths, 11);
}

#[test]
fn blog_theme_change() {
    let old = blog();
    let mut new = old.clone();
    for (p, b) in new.iter_mut() {
        if p.ends_with(".html") {
            b.push('\'');
        }
    }
    let o = check(
        &old,
        &new,
        &settings(crate::config::DEFAULT_MAX_INVALIDATION_PATHS),
    );
    report("blog (2,000 files), theme change (every HTML page)", &o);
    // The README's row, figure for figure.
    assert_eq!(o.stale_served, 0);
    assert_eq!((o.paths, o.wildcards), (8, 5));
    // Only the post bundles' cover images sit beside changed pages: they, and nothing else, are evicted.
    assert_eq!((o.unchanged_evicted, o.unchanged_total), (600, 1101));
    let assets: BTreeSet<&String> = old.keys().filter(|p| p.starts_with("assets/")).collect();
    assert!(!assets.is_empty());
}
