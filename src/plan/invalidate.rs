//! CDN invalidation paths: which URLs went stale, and the cheapest set of paths that covers them.
//!
//! What a CDN accepts (wildcards or not, paths or absolute URLs, how many a request, a free allowance) is
//! data, a [`CdnProfile`], given by the CDN's adapter (CloudFront's: `crate::aws::cloudfront::PROFILE`) and
//! carried in [`super::CdnSettings`]: nothing here names a CDN.
//!
//! Owns the invalidation rules: which edits leave stale URLs ([`cached`]), which URLs serve a file
//! ([`url_forms`]), how stale URLs are covered within a path budget ([`plan`]) and batched ([`batches`]).
//! Pure: works on served paths (the key with the distribution's origin path removed, see
//! [`super::served_path`]) and returns URL-encoded paths (or absolute URLs) as the profile wants them. It must not decide uploads or deletes
//! (that is `steps.rs`) nor know about S3 keys, the state or the network.
//!
//! **To change an invalidation rule**, edit the function here and add a row to its table of tests:
//! - which edits make a URL stale: [`cached`] and the table `tests::staleness_by_edit`;
//! - which URLs serve a file: [`url_forms`] and the table `tests::forms_by_setting`;
//! - how paths are collapsed into wildcards: [`plan`] (the choice is `Tree::cheapest`) and the cover cases
//!   (`tests::collapses_fully_changed_dirs_first`, `tests::picks_cheapest_cover_when_it_must_evict`, ...).
//!
//! Then `cargo test --lib plan` runs them, and the whole-planner freshness model (`freshness.rs`) checks that
//! no stale URL survives any random change.
//!
//! ## URL forms
//! A file is cached under every URL that serves it ([`UrlForms`]; `directory_urls` and `pretty_urls` in
//! site.toml). With the defaults (`index.html`, `directory_urls = ["/dir/", "/dir/index.html"]`):
//!
//! | file                  | URLs that may be cached            | with `"/dir"` too | with `pretty_urls` |
//! |-----------------------|------------------------------------|-------------------|--------------------|
//! | `index.html`          | `/`, `/index.html`                 | (same)            | (same)             |
//! | `posts/a/index.html`  | `/posts/a/`, `/posts/a/index.html` | + `/posts/a`      | (same)             |
//! | `about.html`          | `/about.html`                      | (same)            | + `/about`         |
//! | `css/site.css`        | `/css/site.css`                    | (same)            | (same)             |
//!
//! ## Cover
//! A stale URL is one whose content (or headers) changed or vanished (modified, re-headered or deleted files;
//! new files were never cached except briefly as an error, see `invalidate_new_files`). Exact paths evict
//! nothing else. When there are more than `max_paths` of them, directories are collapsed to `/dir/*` greedily:
//! at each step the directory with the fewest still-cached unchanged URLs evicted per path saved (counting
//! saving only up to what is still needed) is chosen. Directories whose every URL is stale or new cost nothing
//! and go first, largest first (the full new-tree listing comes from git, so "every file changed" is known
//! exactly); `/*` is the root directory and so the last resort. Worked example, budget 2:
//!
//! | stale                              | unchanged        | result                 | evicted |
//! |------------------------------------|------------------|------------------------|---------|
//! | `/a/1`, `/a/2`, `/b/1`             | `/b/2`           | `/a/*`, `/b/1`         | 0       |
//! | `/a/1`, `/a/2`, `/b/1`, `/c/1`     | `/a/3`, `/c/2`.. | `/a/*` + ... by cost   | least   |
//!
//! A CDN without wildcards ([`Wildcard::None`]) gets every stale URL exactly, whatever the budget.
//!
//! ## Batches
//! [`batches`] splits the paths into requests that each fit the profile's `max_per_request` and
//! `max_wildcards_per_request` (CloudFront: 3,000 file paths and 15 wildcard paths in progress per
//! distribution; the executor backs off when the CDN says too many are in progress).

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

use percent_encoding::{AsciiSet, CONTROLS};
use serde::Serialize;

/// RFC 1738 "unsafe" characters, plus `?` (which would start a query string); non-ASCII bytes are always
/// encoded by `percent_encoding`. Everything else is sent as it is, or the path won't match the cache key.
const UNSAFE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'#')
    .add(b'%')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'\\')
    .add(b'^')
    .add(b'~')
    .add(b'[')
    .add(b']')
    .add(b'`')
    .add(b'?');

/// What one kind of CDN accepts in an invalidation (a purge): given by its adapter, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdnProfile {
    pub wildcard: Wildcard,
    pub addresses: Addresses,
    /// Exact paths (or URLs) one request may hold.
    pub max_per_request: usize,
    /// Wildcard paths one request may hold.
    pub max_wildcards_per_request: usize,
    /// Requests the CDN keeps in progress at once before it refuses more for a while.
    pub max_in_flight: usize,
    /// Paths a month the CDN invalidates for free (`None`: no such limit, and no budget applies).
    pub free_paths_a_month: Option<usize>,
}

/// Which wildcards a CDN understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wildcard {
    /// None: every URL is purged exactly (a `*` in one is a literal).
    None,
    /// A trailing `*` after any prefix (CloudFront's `/path*`).
    TrailingStar,
    /// A trailing `*` after a directory only (`/dir/*`).
    TrailingSlashStar,
}

/// What a CDN is given to invalidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addresses {
    /// URL-encoded paths (`/posts/a/`).
    Paths,
    /// Absolute URLs on `host` (`https://host/posts/a/`).
    AbsoluteUrls { host: Cow<'static, str> },
}

/// The address that means every URL the CDN has cached: how a CDN without wildcards is told to invalidate a
/// whole site ([`whole_site`]; Cloudflare's `purge_everything`). Neither a path nor a URL, so no other
/// address is ever equal to it.
pub const EVERYTHING: &str = "*";

/// The one address that invalidates every URL under `root`, a served directory (`/`, `/blog/`,
/// `/_previews/<name>/`, unencoded): a wildcard over it where the CDN has wildcards, else [`EVERYTHING`]
/// (which evicts the rest of the zone too: a CDN without wildcards can't purge less and still be sure).
///
/// | root          | CloudFront (`/path*`) | `/dir/*` only | no wildcards (Cloudflare) |
/// |---------------|-----------------------|---------------|---------------------------|
/// | `/`           | `/*`                  | `/*`          | [`EVERYTHING`]            |
/// | `/my blog/`   | `/my%20blog/*`        | `/my%20blog/*`| [`EVERYTHING`]            |
pub fn whole_site(root: &str, profile: &CdnProfile) -> String {
    match profile.wildcard {
        Wildcard::None => EVERYTHING.to_string(),
        Wildcard::TrailingStar | Wildcard::TrailingSlashStar => {
            profile.address(&format!("{}*", encode(root)))
        }
    }
}

impl CdnProfile {
    /// The address the CDN is given for an encoded path.
    pub fn address(&self, path: &str) -> String {
        match &self.addresses {
            Addresses::Paths => path.to_string(),
            Addresses::AbsoluteUrls { host } => format!("https://{host}{path}"),
        }
    }

    /// Whether an address (as [`plan`] or [`whole_site`] returns it) is a wildcard for this CDN
    /// ([`EVERYTHING`] is, for every CDN).
    pub fn is_wildcard(&self, address: &str) -> bool {
        address == EVERYTHING || (self.wildcard != Wildcard::None && address.ends_with('*'))
    }
}

pub struct Input<'a> {
    /// Site paths whose cached URLs are stale (modified or deleted).
    pub stale: &'a [&'a str],
    /// Site paths of the new tree whose content did not change: evicting them costs origin load.
    pub unchanged: &'a [&'a str],
    /// New site paths: never cached, free to evict.
    pub added: &'a [&'a str],
    pub forms: &'a UrlForms,
    pub max_paths: usize,
    /// What the CDN accepts.
    pub profile: &'a CdnProfile,
    /// The directory that serves the whole site on this distribution (`/`, or `/blog/` for a target under a
    /// prefix the origin path does not include, `/_previews/<name>/` for a preview): no wildcard above it is
    /// chosen, since it would evict what the planner does not know (another prefix, production's pages).
    pub root: &'a str,
}

/// Which URLs serve a file (site.toml: `index_document`, `directory_urls`, `pretty_urls`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlForms {
    pub index_document: String,
    /// `/dir/` serves `dir/index.html`.
    pub dir_slash: bool,
    /// `/dir` serves `dir/index.html` (e.g. a CloudFront function rewriting it).
    pub dir_bare: bool,
    /// `/dir/index.html` is requested directly.
    pub dir_index: bool,
    /// `about.html` is served as `/about`.
    pub pretty: bool,
}

impl Default for UrlForms {
    fn default() -> Self {
        UrlForms {
            index_document: "index.html".into(),
            dir_slash: true,
            dir_bare: false,
            dir_index: true,
            pretty: false,
        }
    }
}

impl UrlForms {
    /// The forms as one line, as the state records them: a publish whose forms differ from the recorded ones
    /// invalidates the whole site ([`crate::plan::Input::forms_changed`]).
    pub fn describe(&self) -> String {
        format!(
            "index={} slash={} bare={} index_url={} pretty={}",
            self.index_document, self.dir_slash, self.dir_bare, self.dir_index, self.pretty
        )
    }
}

/// What a publish does to one site path, as far as the cached copies of its URLs care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// A new file (`ChangeKind::Added`).
    Added,
    /// Other bytes (`ChangeKind::Modified`).
    Modified,
    /// Deleted now (a deferred delete is not an edit until it runs).
    Deleted,
    /// Unchanged bytes that an earlier rule excluded and the new rules publish.
    Unexcluded,
    /// Unchanged bytes sent again (`--full`, or a new `content_encoding`).
    Resent { headers_changed: bool },
    /// Same bytes, new headers (copied onto itself).
    Reheadered,
}

/// What becomes of the cached copies of a path's URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cached {
    /// They may be served with the old response: invalidate them.
    Stale,
    /// Never cached (except briefly as an error): free to evict, never worth a path.
    New,
    /// Still right: leave them.
    Fresh,
}

/// The invalidation rule: which edits leave stale URLs in the cache. Table: `tests::staleness_by_edit`.
pub fn cached(edit: Edit, invalidate_new_files: bool) -> Cached {
    match edit {
        Edit::Added if invalidate_new_files => Cached::Stale,
        Edit::Added | Edit::Unexcluded => Cached::New,
        Edit::Modified | Edit::Deleted | Edit::Reheadered => Cached::Stale,
        Edit::Resent { headers_changed } if headers_changed => Cached::Stale,
        Edit::Resent { .. } => Cached::Fresh,
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// URLs whose cached copy is stale.
    pub stale_urls: usize,
    /// Paths sent (a wildcard counts as one).
    pub paths: usize,
    pub wildcards: usize,
    /// Unchanged URLs that the chosen paths evict anyway.
    pub unchanged_evicted: usize,
}

impl std::ops::AddAssign<&Summary> for Summary {
    fn add_assign(&mut self, o: &Summary) {
        self.stale_urls += o.stale_urls;
        self.paths += o.paths;
        self.wildcards += o.wildcards;
        self.unchanged_evicted += o.unchanged_evicted;
    }
}

/// Raw (unencoded) URL paths under which `path` may be cached.
pub fn url_forms(path: &str, f: &UrlForms) -> Vec<String> {
    let (dir, name) = match path.rsplit_once('/') {
        Some((d, n)) => (Some(d), n),
        None => (None, path),
    };
    let mut out = Vec::new();
    if name == f.index_document {
        match dir {
            None => out.push("/".to_string()),
            Some(d) => {
                if f.dir_slash {
                    out.push(format!("/{d}/"));
                }
                if f.dir_bare {
                    out.push(format!("/{d}"));
                }
            }
        }
        // The root's index is requested as `/index.html` whenever any direct form is.
        if f.dir_index || (dir.is_none() && !f.dir_slash) {
            out.push(format!("/{path}"));
        }
        if out.is_empty() {
            out.push(format!("/{path}"));
        }
        return out;
    }
    out.push(format!("/{path}"));
    if f.pretty {
        if let Some(stem) = path.strip_suffix(".html").filter(|s| !s.ends_with('/')) {
            out.push(format!("/{stem}"));
        }
    }
    out
}

/// Encode a raw URL path for CloudFront.
pub fn encode(raw: &str) -> String {
    percent_encoding::utf8_percent_encode(raw, UNSAFE).to_string()
}

/// The path for one raw URL: exact, unless it holds a literal `*`, which a CDN with wildcards would take as a
/// wildcard (or reject mid-path): then the path up to that `*` (CloudFront), or the directory holding it, as a
/// wildcard.
fn exact_path(raw: &str, wildcard: Wildcard) -> String {
    match (raw.find('*'), wildcard) {
        (Some(i), Wildcard::TrailingStar) => format!("{}*", encode(&raw[..i])),
        (Some(i), Wildcard::TrailingSlashStar) => format!("{}*", encode(dir_of(&raw[..i]))),
        _ => encode(raw),
    }
}

/// Directory of a raw URL: everything up to and including the last `/`.
fn dir_of(url: &str) -> &str {
    &url[..=url.rfind('/').expect("URLs start with /")]
}

fn parent_dir(dir: &str) -> Option<&str> {
    if dir == "/" {
        return None;
    }
    let trimmed = &dir[..dir.len() - 1];
    Some(&trimmed[..=trimmed.rfind('/').expect("dirs start with /")])
}

struct Node {
    dir: String,
    parent: Option<usize>,
    children: Vec<usize>,
    stale_total: usize,
    clean_total: usize,
    /// Paths this subtree currently contributes.
    emitted: usize,
    /// Unchanged URLs this subtree's chosen wildcards evict.
    evicted: usize,
    chosen: bool,
    covered: bool,
}

struct Tree {
    nodes: Vec<Node>,
    index: HashMap<String, usize>,
}

impl Tree {
    fn node(&mut self, dir: &str) -> usize {
        if let Some(&i) = self.index.get(dir) {
            return i;
        }
        let parent = parent_dir(dir).map(|p| self.node(p));
        let i = self.nodes.len();
        self.nodes.push(Node {
            dir: dir.to_string(),
            parent,
            children: Vec::new(),
            stale_total: 0,
            clean_total: 0,
            emitted: 0,
            evicted: 0,
            chosen: false,
            covered: false,
        });
        if let Some(p) = parent {
            self.nodes[p].children.push(i);
        }
        self.index.insert(dir.to_string(), i);
        i
    }

    fn add(&mut self, url: &str, stale: bool) {
        let mut at = Some(self.node(dir_of(url)));
        while let Some(i) = at {
            if stale {
                self.nodes[i].stale_total += 1;
                self.nodes[i].emitted += 1;
            } else {
                self.nodes[i].clean_total += 1;
            }
            at = self.nodes[i].parent;
        }
    }

    fn choose(&mut self, n: usize) {
        let saved = self.nodes[n].emitted - 1;
        let cost = self.nodes[n].clean_total - self.nodes[n].evicted;
        let mut stack = self.nodes[n].children.clone();
        while let Some(c) = stack.pop() {
            self.nodes[c].covered = true;
            self.nodes[c].chosen = false;
            stack.extend(self.nodes[c].children.iter().copied());
        }
        let node = &mut self.nodes[n];
        node.chosen = true;
        node.emitted = 1;
        node.evicted = node.clean_total;
        let mut at = node.parent;
        while let Some(i) = at {
            self.nodes[i].emitted -= saved;
            self.nodes[i].evicted += cost;
            at = self.nodes[i].parent;
        }
    }

    /// The directory at or below `root` whose wildcard evicts the fewest still-cached unchanged URLs per path
    /// saved, counting saving only up to `need`; ties go to the larger saving, then to the shorter directory
    /// name.
    fn cheapest(&self, need: usize, root: &str) -> Option<usize> {
        let mut best: Option<(usize, f64, usize)> = None; // (node, score, saved)
        for (i, n) in self.nodes.iter().enumerate() {
            if n.emitted < 2 || n.chosen || n.covered || !n.dir.starts_with(root) {
                continue;
            }
            let saved = n.emitted - 1;
            let cost = n.clean_total - n.evicted;
            let score = cost as f64 / saved.min(need) as f64;
            let better = match best {
                None => true,
                Some((b, bs, bsaved)) => {
                    score < bs
                        || (score == bs && saved > bsaved)
                        || (score == bs && saved == bsaved && n.dir.len() < self.nodes[b].dir.len())
                }
            };
            if better {
                best = Some((i, score, saved));
            }
        }
        best.map(|(i, _, _)| i)
    }

    fn is_covered(&self, mut i: usize) -> bool {
        loop {
            if self.nodes[i].chosen || self.nodes[i].covered {
                return true;
            }
            match self.nodes[i].parent {
                Some(p) => i = p,
                None => return false,
            }
        }
    }
}

/// Choose the paths. Returns URL-encoded paths (or absolute URLs, as the profile says), sorted, and what they
/// cost.
pub fn plan(input: &Input) -> (Vec<String>, Summary) {
    let stale: BTreeSet<String> = input
        .stale
        .iter()
        .flat_map(|p| url_forms(p, input.forms))
        .collect();
    if stale.is_empty() {
        return (Vec::new(), Summary::default());
    }
    let clean: BTreeSet<String> = input
        .unchanged
        .iter()
        .flat_map(|p| url_forms(p, input.forms))
        .filter(|u| !stale.contains(u))
        .collect();

    let mut tree = Tree {
        nodes: Vec::new(),
        index: HashMap::new(),
    };
    tree.node("/");
    for u in &stale {
        tree.add(u, true);
    }
    for u in &clean {
        tree.add(u, false);
    }
    let _ = input.added; // new URLs are free to evict: they only shape the listing, never the cost

    let budget = input.max_paths.max(1);
    let wildcards = input.profile.wildcard != Wildcard::None;
    while wildcards && tree.nodes[0].emitted > budget {
        let need = tree.nodes[0].emitted - budget;
        match tree.cheapest(need, input.root) {
            Some(i) => tree.choose(i),
            None => break, // cannot happen: the site's root always saves while emitted > 1
        }
    }

    let mut paths = BTreeSet::new();
    for u in &stale {
        if !tree.is_covered(tree.index[dir_of(u)]) {
            paths.insert(exact_path(u, input.profile.wildcard));
        }
    }
    for n in tree.nodes.iter().filter(|n| n.chosen) {
        paths.insert(format!("{}*", encode(&n.dir)));
    }
    let paths: Vec<String> = paths.into_iter().collect();
    let summary = Summary {
        stale_urls: stale.len(),
        paths: paths.len(),
        wildcards: paths
            .iter()
            .filter(|p| input.profile.is_wildcard(p))
            .count(),
        unchanged_evicted: match wildcards {
            true => clean.iter().filter(|u| evicts(&paths, &encode(u))).count(),
            false => 0,
        },
    };
    // Prefixing every path with the same scheme and host keeps them sorted.
    let paths = paths.iter().map(|p| input.profile.address(p)).collect();
    (paths, summary)
}

/// Whether one of `paths` (CloudFront semantics: exact, or prefix when ending in `*`) matches `encoded_url`.
pub fn evicts(paths: &[String], encoded_url: &str) -> bool {
    paths.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => encoded_url.starts_with(prefix),
        None => p == encoded_url,
    })
}

/// Split addresses into invalidation batches that each fit the profile's limits a request
/// (`max_per_request` exact ones, `max_wildcards_per_request` wildcards). Order is kept.
pub fn batches(paths: &[String], profile: &CdnProfile) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let (mut files, mut wild) = (0, 0);
    let (max_files, max_wild) = (
        profile.max_per_request.max(1),
        profile.max_wildcards_per_request.max(1),
    );
    for p in paths {
        let is_wild = profile.is_wildcard(p);
        let full = match out.last() {
            None => true,
            Some(_) => (is_wild && wild == max_wild) || (!is_wild && files == max_files),
        };
        if full {
            out.push(Vec::new());
            files = 0;
            wild = 0;
        }
        if is_wild {
            wild += 1;
        } else {
            files += 1;
        }
        out.last_mut().expect("pushed above").push(p.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests below are CloudFront's rules (the one CDN with wildcards and paths today).
    const CF: &CdnProfile = &crate::aws::cloudfront::PROFILE;

    /// `describe` is what the record keeps of the URL forms, and a publish invalidates the whole site when it
    /// differs from the target's (`Input::forms_changed`): every setting must change it (cargo mutants: no test
    /// failed when it returned a constant).
    #[test]
    fn every_url_form_setting_changes_its_description() {
        let base = UrlForms::default();
        let variants = [
            UrlForms {
                index_document: "default.htm".into(),
                ..base.clone()
            },
            UrlForms {
                dir_slash: !base.dir_slash,
                ..base.clone()
            },
            UrlForms {
                dir_bare: !base.dir_bare,
                ..base.clone()
            },
            UrlForms {
                dir_index: !base.dir_index,
                ..base.clone()
            },
            UrlForms {
                pretty: !base.pretty,
                ..base.clone()
            },
        ];
        let mut seen = vec![base.describe()];
        for v in variants {
            let d = v.describe();
            assert!(!seen.contains(&d), "{v:?} describes as another: {d}");
            seen.push(d);
        }
    }

    /// A whole site (other URL forms, a preview removed) is one address per CDN profile: a wildcard over the
    /// served root where the CDN has wildcards, else everything (Cloudflare's purge by URL has none).
    #[test]
    fn whole_site_by_profile() {
        let cloudflare = crate::cloudflare::profile("blog.example.com");
        let slash_star = CdnProfile {
            wildcard: Wildcard::TrailingSlashStar,
            ..CF.clone()
        };
        #[rustfmt::skip]
        let table: [(&CdnProfile, &str, &str); 7] = [
            // (profile,     root,                  address)
            (CF,             "/",                   "/*"),
            (CF,             "/blog/",              "/blog/*"),
            (CF,             "/_previews/x y/",     "/_previews/x%20y/*"),
            (&slash_star,    "/blog/",              "/blog/*"),
            (&cloudflare,    "/",                   EVERYTHING),
            (&cloudflare,    "/blog/",              EVERYTHING),
            (&cloudflare,    "/_previews/x/",       EVERYTHING),
        ];
        for (profile, root, want) in table {
            let got = whole_site(root, profile);
            assert_eq!(got, want, "{root} on {:?}", profile.wildcard);
            assert!(profile.is_wildcard(&got), "{got} counts as one wildcard");
            assert_eq!(
                batches(std::slice::from_ref(&got), profile),
                [[got.clone()]]
            );
        }
        // No planned address is ever EVERYTHING: a stale URL with a literal `*` stays a URL on the host.
        let forms = UrlForms::default();
        let (paths, _) = plan(&Input {
            stale: &["*"],
            unchanged: &[],
            added: &[],
            forms: &forms,
            max_paths: 1,
            profile: &cloudflare,
            root: "/",
        });
        assert_eq!(paths, ["https://blog.example.com/*"]);
    }

    fn run(stale: &[&str], unchanged: &[&str], max: usize) -> (Vec<String>, Summary) {
        plan(&Input {
            stale,
            unchanged,
            added: &[],
            forms: &UrlForms::default(),
            max_paths: max,
            profile: CF,
            root: "/",
        })
    }

    /// A wildcard is never chosen above the site's root: a preview's `/_previews/<name>/` (whose only child
    /// it is, so `/_previews/*` would tie and win on its shorter name), or a target under a prefix.
    #[test]
    fn no_wildcard_above_the_sites_root() {
        let stale: Vec<String> = (0..20).map(|i| format!("_previews/x/p{i}.html")).collect();
        let stale: Vec<&str> = stale.iter().map(String::as_str).collect();
        let forms = UrlForms::default();
        let input = |root| Input {
            stale: &stale,
            unchanged: &[],
            added: &[],
            forms: &forms,
            max_paths: 5,
            profile: CF,
            root,
        };
        assert_eq!(plan(&input("/")).0, ["/*"]);
        assert_eq!(plan(&input("/_previews/x/")).0, ["/_previews/x/*"]);
    }

    /// The invalidation rule, one row per edit: what becomes of the cached URLs of the path.
    #[test]
    fn staleness_by_edit() {
        use Cached::*;
        #[rustfmt::skip]
        let table = [
            // (edit,                                          invalidate_new_files, cached)
            (Edit::Added,                                      false, New),
            (Edit::Added,                                      true,  Stale),
            (Edit::Modified,                                   false, Stale),
            (Edit::Deleted,                                    false, Stale),
            (Edit::Unexcluded,                                 false, New),
            (Edit::Unexcluded,                                 true,  New),
            (Edit::Resent { headers_changed: true },           false, Stale),
            (Edit::Resent { headers_changed: false },          false, Fresh),
            (Edit::Reheadered,                                 false, Stale),
        ];
        for (edit, invalidate_new_files, want) in table {
            assert_eq!(
                cached(edit, invalidate_new_files),
                want,
                "{edit:?} invalidate_new_files={invalidate_new_files}"
            );
        }
    }

    #[test]
    fn forms() {
        let table: &[(&str, &[&str])] = &[
            ("index.html", &["/", "/index.html"]),
            ("posts/a/index.html", &["/posts/a/", "/posts/a/index.html"]),
            ("posts/a/cover.jpg", &["/posts/a/cover.jpg"]),
            ("notindex.html", &["/notindex.html"]),
            ("a/myindex.html", &["/a/myindex.html"]),
        ];
        for (path, want) in table {
            assert_eq!(url_forms(path, &UrlForms::default()), *want, "{path}");
        }
    }

    /// Every combination of the directory forms and pretty URLs, on the three kinds of file.
    #[test]
    fn forms_by_setting() {
        let f = |slash, bare, index, pretty| UrlForms {
            index_document: "index.html".into(),
            dir_slash: slash,
            dir_bare: bare,
            dir_index: index,
            pretty,
        };
        #[rustfmt::skip]
        let table: &[(UrlForms, &str, &[&str])] = &[
            (f(true, false, true, false), "a/index.html", &["/a/", "/a/index.html"]),
            (f(true, true, true, false), "a/index.html", &["/a/", "/a", "/a/index.html"]),
            (f(true, false, false, false), "a/index.html", &["/a/"]),
            (f(false, true, false, false), "a/index.html", &["/a"]),
            (f(false, false, true, false), "a/index.html", &["/a/index.html"]),
            (f(true, false, false, false), "index.html", &["/"]),
            (f(false, true, false, false), "index.html", &["/", "/index.html"]),
            (f(true, true, true, true), "index.html", &["/", "/index.html"]),
            (f(true, false, true, true), "about.html", &["/about.html", "/about"]),
            (f(true, false, true, true), "a/b.html", &["/a/b.html", "/a/b"]),
            (f(true, false, true, true), "a/b.css", &["/a/b.css"]),
            (f(true, false, true, false), "about.html", &["/about.html"]),
            (UrlForms { index_document: "default.htm".into(), ..UrlForms::default() }, "a/default.htm", &["/a/", "/a/default.htm"]),
            (UrlForms { index_document: "default.htm".into(), ..UrlForms::default() }, "a/index.html", &["/a/index.html"]),
        ];
        for (forms, path, want) in table {
            assert_eq!(url_forms(path, forms), *want, "{path} {forms:?}");
        }
    }

    #[test]
    fn batches_fit_cloudfront_limits() {
        let files: Vec<String> = (0..6500).map(|i| format!("/f{i}")).collect();
        let b = batches(&files, CF);
        assert_eq!(
            b.iter().map(|b| b.len()).collect::<Vec<_>>(),
            [3000, 3000, 500]
        );
        let wild: Vec<String> = (0..40).map(|i| format!("/d{i}/*")).collect();
        let mut mixed = vec!["/a".to_string()];
        mixed.extend(wild);
        let b = batches(&mixed, CF);
        let w: Vec<usize> = b
            .iter()
            .map(|b| b.iter().filter(|p| p.ends_with('*')).count())
            .collect();
        assert_eq!(w, [15, 15, 10]);
        assert_eq!(b.iter().map(|b| b.len()).sum::<usize>(), 41);
        assert!(batches(&[], CF).is_empty());
    }

    #[test]
    fn encoding() {
        let table = [
            ("/a b.html", "/a%20b.html"),
            ("/café/", "/caf%C3%A9/"),
            ("/x#y%z", "/x%23y%25z"),
            ("/q?.html", "/q%3F.html"),
            ("/a+b&c=d;e'f(g)!$@,", "/a+b&c=d;e'f(g)!$@,"),
            (
                "/~user/[1]{2}|^`\\\"<>",
                "/%7Euser/%5B1%5D%7B2%7D%7C%5E%60%5C%22%3C%3E",
            ),
        ];
        for (raw, want) in table {
            assert_eq!(encode(raw), want, "{raw}");
        }
        assert_eq!(exact_path("/a*b.html", Wildcard::TrailingStar), "/a*");
        assert_eq!(
            exact_path("/sp ace/x*", Wildcard::TrailingStar),
            "/sp%20ace/x*"
        );
    }

    #[test]
    fn exact_when_within_budget() {
        let (p, s) = run(
            &["index.html", "feed.xml", "posts/old/index.html"],
            &["about/index.html"],
            15,
        );
        assert_eq!(
            p,
            [
                "/",
                "/feed.xml",
                "/index.html",
                "/posts/old/",
                "/posts/old/index.html"
            ]
        );
        assert_eq!(
            s,
            Summary {
                stale_urls: 5,
                paths: 5,
                wildcards: 0,
                unchanged_evicted: 0
            }
        );
    }

    #[test]
    fn collapses_fully_changed_dirs_first() {
        // budget 2: /a/ is entirely stale -> free wildcard; /b/1 stays exact.
        let (p, s) = run(&["a/1", "a/2", "b/1"], &["b/2"], 2);
        assert_eq!(p, ["/a/*", "/b/1"]);
        assert_eq!(s.unchanged_evicted, 0);
    }

    #[test]
    fn picks_cheapest_cover_when_it_must_evict() {
        // budget 2, 4 stale URLs: /x/ (2 stale, 10 clean) vs /y/ (2 stale, 1 clean): /y/* is cheaper.
        let clean_x: Vec<String> = (0..10).map(|i| format!("x/c{i}")).collect();
        let mut unchanged: Vec<&str> = clean_x.iter().map(|s| s.as_str()).collect();
        unchanged.push("y/c");
        let (p, s) = run(&["x/1", "x/2", "y/1", "y/2"], &unchanged, 3);
        assert_eq!(p, ["/x/1", "/x/2", "/y/*"]);
        assert_eq!(s.unchanged_evicted, 1);
    }

    #[test]
    fn saving_counts_only_what_is_needed() {
        // Need to save 1: a 2-path dir costing 1 beats a 50-path dir costing 20.
        let big: Vec<String> = (0..50).map(|i| format!("big/s{i}")).collect();
        let big_clean: Vec<String> = (0..20).map(|i| format!("big/c{i}")).collect();
        let mut stale: Vec<&str> = big.iter().map(|s| s.as_str()).collect();
        stale.extend(["small/1", "small/2"]);
        let mut unchanged: Vec<&str> = big_clean.iter().map(|s| s.as_str()).collect();
        unchanged.push("small/c");
        let (p, s) = run(&stale, &unchanged, 51);
        assert_eq!(p.len(), 51);
        assert!(p.contains(&"/small/*".to_string()));
        assert_eq!(s.unchanged_evicted, 1);
    }

    #[test]
    fn root_wildcard_is_last_resort() {
        let (p, s) = run(&["a", "b", "c"], &["d"], 1);
        assert_eq!(p, ["/*"]);
        assert_eq!(s.unchanged_evicted, 1);
        assert_eq!(s.wildcards, 1);
    }

    #[test]
    fn deleted_directory_collapses_for_free() {
        let stale = [
            "gone/a.html",
            "gone/b.html",
            "gone/c/index.html",
            "index.html",
        ];
        let (p, s) = run(&stale, &["keep/x.html"], 3);
        assert_eq!(p, ["/", "/gone/*", "/index.html"]);
        assert_eq!(s.unchanged_evicted, 0);
    }

    #[test]
    fn literal_star_is_covered_by_a_wildcard() {
        let (p, _) = run(&["a*b.html", "x/y*"], &[], 15);
        assert_eq!(p, ["/a*", "/x/y*"]);
    }

    /// Freshness model: a cache holding every URL form of every old file; apply the paths; no stale URL may
    /// survive, and within budget nothing unchanged may be evicted.
    #[test]
    fn freshness_model_random_changes() {
        let mut rng = 0x2545F4914F6CDD1Du64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let (mut total_paths, mut total_evicted) = (0, 0);
        for _trial in 0..300 {
            let files: Vec<String> = (0..(5 + next(60)))
                .map(|i| match next(4) {
                    0 => format!("p{}/index.html", i),
                    1 => format!("d{}/f{}.css", next(5), i),
                    2 => format!("d{}/s{}/index.html", next(3), i),
                    _ => format!("f{i}.html"),
                })
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let mut stale = Vec::new();
            let mut unchanged = Vec::new();
            for f in &files {
                if next(3) == 0 {
                    stale.push(f.as_str());
                } else {
                    unchanged.push(f.as_str());
                }
            }
            let max = 1 + next(20) as usize;
            let (paths, s) = run(&stale, &unchanged, max);
            assert!(paths.len() <= max, "over budget");
            for f in &stale {
                for u in url_forms(f, &UrlForms::default()) {
                    assert!(evicts(&paths, &encode(&u)), "stale {u} survives {paths:?}");
                }
            }
            let stale_urls: usize = stale
                .iter()
                .map(|f| url_forms(f, &UrlForms::default()).len())
                .sum();
            if stale_urls <= max {
                assert_eq!(s.unchanged_evicted, 0);
            }
            total_paths += s.paths;
            total_evicted += s.unchanged_evicted;
        }
        eprintln!("freshness model: 300 trials, {total_paths} paths, {total_evicted} unchanged URLs evicted, 0 stale");
    }
}
