//! Redirects: the table of moved pages, from `[[redirects]]` in site.toml and from renames the diff shows.
//!
//! Owns the redirect table: checking config entries ([`check_specs`]: sane paths, 301/302, no loops, chains
//! collapsed to one hop), finding renamed pages (exact: the same blob deleted at one HTML path and added at
//! another; similar pairs come from `source/`, which can read bytes), merging them with the table the state
//! recorded ([`table`]), and what a publish must do about the difference ([`Changes`]: redirect objects to
//! put, redirects to remove). Pure: no IO, no git, no AWS; paths are site paths (`posts/a/index.html`),
//! targets are URL paths (`/posts/b/`) or absolute URLs.
//!
//! A redirect lives at the site path of the page that moved and answers every URL form of that page
//! (see [`super::invalidate::url_forms`]):
//!
//! | `from` in site.toml        | site path              | URLs redirected (default forms)         |
//! |----------------------------|------------------------|-----------------------------------------|
//! | `/old/`, `/old`            | `old/index.html`       | `/old/`, `/old/index.html`              |
//! | `/old/index.html`          | `old/index.html`       | (same)                                  |
//! | `/about.html`              | `about.html`           | `/about.html` (+ `/about` with pretty)  |
//! | `/about` with `pretty_urls`| `about.html`           | (same)                                  |

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::change::{Change, ChangeKind};
use super::error::PlanError;
use super::invalidate::{encode, url_forms, UrlForms};

/// Chains longer than this are refused as loops (a real table never comes close).
const MAX_HOPS: usize = 64;

/// Where a redirect came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// `[[redirects]]` in site.toml (re-read on every publish).
    Config,
    /// A renamed page (recorded in the state, kept until a page is published at `from` again).
    Rename,
}

/// One redirect of the table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Redirect {
    /// Site path of the page that moved: where the redirect lives.
    pub from: String,
    /// A URL path (`/posts/b/`) or an absolute URL.
    pub to: String,
    /// 301 or 302.
    pub status: u16,
    pub origin: Origin,
}

/// `[[redirects]]` as written in site.toml.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectSpec {
    pub from: String,
    pub to: String,
    pub status: Option<u16>,
}

/// A checked `[[redirects]]` entry: `to` already collapsed to the end of its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRedirect {
    /// A URL path starting with `/`.
    pub from: String,
    pub to: String,
    pub status: u16,
}

/// What to do with renamed pages (`redirect_renames`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RenameMode {
    /// Redirect them.
    Apply,
    /// Show them in the plan, change nothing (`ask` without a terminal, or before the answer).
    #[default]
    Propose,
    Off,
}

/// What the planner needs to know about redirects.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub config: &'a [ConfigRedirect],
    /// The table the deployed tree was published with (from the state).
    pub recorded: &'a [Redirect],
    /// Pages whose content is similar enough to count as renamed: (old site path, new site path), found by
    /// the caller, which can read the bytes. Exact renames are found here from blob ids.
    pub similar: &'a [(String, String)],
    pub renames: RenameMode,
}

/// A URL path or an absolute URL is a sane redirect target; returns why not.
fn bad_target(to: &str) -> Option<&'static str> {
    if to.starts_with("https://") || to.starts_with("http://") {
        return (to.len() <= "https://".len() || to.contains(char::is_whitespace))
            .then_some("is not a URL");
    }
    bad_url_path(to)
}

/// A site-relative URL path is sane: one `/`, then neither `/` nor `\` (browsers read `//host` and `/\host`
/// as another host: an open redirect), no whitespace, query, fragment or wildcard, no `.`/`..` components.
fn bad_url_path(p: &str) -> Option<&'static str> {
    if !p.starts_with('/') || p.starts_with("//") || p.starts_with("/\\") {
        return Some("must start with a single `/` followed by neither `/` nor `\\`");
    }
    if p.contains(char::is_whitespace) || p.contains(['?', '#', '*']) {
        return Some("may not hold spaces, `?`, `#` or `*`");
    }
    if p.split('/').any(|c| c == "." || c == "..") {
        return Some("may not hold `.` or `..` components");
    }
    None
}

/// A decoded `from` (spaces and `#` may stand there encoded) still holds no `.`/`..` component.
fn bad_segments(p: &str) -> Option<&'static str> {
    (p.split('/').any(|c| c == "." || c == "..")).then_some("may not hold `.` or `..` components")
}

/// A URL path as a person or a browser writes it → the path it names: `%XX` decoded when the result is UTF-8
/// (`/caf%C3%A9/` → `/café/`), else as it is (`/100%/` names `/100%/`). Redirects are keyed by site paths, and
/// the function looks a request up decoded the same way.
fn decoded(p: &str) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(p)
        .decode_utf8()
        .unwrap_or(Cow::Borrowed(p))
}

/// A redirect target as a `Location` header can carry it: controls and characters outside ASCII
/// percent-encoded (`/café/` → `/caf%C3%A9/`), the rest as written (a `%` is taken to be an escape already).
fn as_location(to: &str) -> String {
    percent_encoding::utf8_percent_encode(to, percent_encoding::CONTROLS).to_string()
}

/// The one name of the URL forms of a page: `/a/`, `/a` and `/a/index.html` are the same page.
fn page_of_url(url: &str) -> &str {
    let u = url.strip_suffix("index.html").unwrap_or(url);
    let u = u.trim_end_matches('/');
    if u.is_empty() {
        "/"
    } else {
        u
    }
}

/// Check `[[redirects]]`: sane paths, status 301 or 302, one entry per page, no loops; chains are collapsed
/// so that every entry redirects in one hop. The error names the entry and says how to fix it.
pub fn check_specs(specs: &[RedirectSpec]) -> Result<Vec<ConfigRedirect>, (String, String)> {
    // `from` is a URL: `/caf%C3%A9/` and `/café/` name the same page.
    let froms: Vec<Cow<str>> = specs.iter().map(|s| decoded(&s.from)).collect();
    let mut by_page: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, s) in specs.iter().enumerate() {
        let entry = format!("[[redirects]] #{} (from = {:?})", i + 1, s.from);
        if let Some(why) = bad_url_path(&s.from).or_else(|| bad_segments(&froms[i])) {
            return Err((
                format!("{entry}: `from` {why}"),
                "give the old page's URL path, like \"/posts/old-title/\"".into(),
            ));
        }
        if let Some(why) = bad_target(&s.to) {
            return Err((format!("{entry}: `to` = {:?} {why}", s.to), "give a URL path like \"/posts/new-title/\" or an absolute URL like \"https://example.com/x/\"".into()));
        }
        if let Some(st) = s.status.filter(|st| !matches!(st, 301 | 302)) {
            return Err((
                format!("{entry}: status = {st} is not a redirect status"),
                "use 301 (moved permanently, the default) or 302 (found)".into(),
            ));
        }
        if let Some(j) = by_page.insert(page_of_url(&froms[i]), i) {
            return Err((format!("{entry} redirects the same page as entry #{}", j + 1), "keep one [[redirects]] entry per page (`/a/`, `/a` and `/a/index.html` are one page)".into()));
        }
    }
    let mut out = Vec::new();
    for (s, from) in specs.iter().zip(&froms) {
        let mut to = s.to.as_str();
        let mut seen = BTreeSet::from([page_of_url(from).to_string()]);
        while let Some(&j) = by_page
            .get(page_of_url(&decoded(to)))
            .filter(|_| to.starts_with('/'))
        {
            if !seen.insert(page_of_url(&decoded(to)).to_string()) {
                return Err((
                    format!(
                        "[[redirects]] from = {:?} loops back to itself (through {to:?})",
                        s.from
                    ),
                    "remove one entry of the loop: a redirect must end at a page".into(),
                ));
            }
            to = &specs[j].to;
        }
        out.push(ConfigRedirect {
            from: from.to_string(),
            to: as_location(to),
            status: s.status.unwrap_or(301),
        });
    }
    Ok(out)
}

/// The site path that serves a URL path (the file a redirect object replaces).
pub fn path_of_url(url: &str, forms: &UrlForms) -> String {
    let p = url.trim_start_matches('/');
    let last = p.rsplit('/').next().unwrap_or("");
    if p.is_empty() || p.ends_with('/') {
        format!("{p}{}", forms.index_document)
    } else if last.contains('.') {
        p.to_string()
    } else if forms.pretty {
        format!("{p}.html")
    } else {
        format!("{p}/{}", forms.index_document)
    }
}

/// The URL path of the page at site path `path`: its first URL form (`/posts/b/`), raw (not encoded).
pub fn url_of_path(path: &str, forms: &UrlForms) -> String {
    url_forms(path, forms)
        .into_iter()
        .next()
        .unwrap_or_else(|| format!("/{path}"))
}

fn is_page(path: &str) -> bool {
    path.ends_with(".html") || path.ends_with(".htm")
}

/// Renamed pages: (old path, new path). Exact renames first (a deleted page's blob added at another HTML path,
/// each side used once), then the `similar` pairs whose sides are both still unmatched.
pub fn renames(changes: &[Change], similar: &[(String, String)]) -> Vec<(String, String)> {
    let mut added: HashMap<&str, Vec<&str>> = HashMap::new();
    for c in changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Added && is_page(&c.path))
    {
        if let Some(b) = &c.blob {
            added.entry(b.as_str()).or_default().push(c.path.as_str());
        }
    }
    let mut out = Vec::new();
    let mut used_new: BTreeSet<&str> = BTreeSet::new();
    for c in changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Deleted && is_page(&c.path))
    {
        let candidates = c.old_blob.as_deref().and_then(|b| added.get(b));
        if let Some(new) = candidates.and_then(|v| v.iter().find(|n| !used_new.contains(*n))) {
            used_new.insert(new);
            out.push((c.path.clone(), new.to_string()));
        }
    }
    let used_old: BTreeSet<String> = out.iter().map(|(o, _)| o.clone()).collect();
    for (old, new) in similar {
        if !used_old.contains(old) && !used_new.contains(new.as_str()) {
            used_new.insert(new);
            out.push((old.clone(), new.clone()));
        }
    }
    out.sort();
    out
}

/// The table after this publish, and the renames only proposed. `published(path)` says whether a site path
/// is a file of the new tree.
pub fn table(
    req: &Request,
    changes: &[Change],
    forms: &UrlForms,
    published: &dyn Fn(&str) -> bool,
) -> Result<(Vec<Redirect>, Vec<Redirect>), PlanError> {
    let mut t: BTreeMap<String, Redirect> = BTreeMap::new();
    // A recorded target from before targets were encoded is encoded now; one that leaves the site (a state
    // written by hand) is dropped, so the publish removes its object and the function stops answering it.
    for r in req.recorded.iter().filter(|r| r.origin == Origin::Rename) {
        let to = as_location(&r.to);
        if bad_target(&to).is_none() {
            t.insert(r.from.clone(), Redirect { to, ..r.clone() });
        }
    }
    let mut proposed = Vec::new();
    for (old, new) in renames(changes, req.similar) {
        let r = Redirect {
            // Encoded as a Location must be: a moved page at `a b#1/` is `/a%20b%231/`, and one at `\x/` is
            // `/%5Cx/`, never `/\x/`, which browsers read as the host `x`.
            to: encode(&url_of_path(&new, forms)),
            from: old,
            status: 301,
            origin: Origin::Rename,
        };
        match req.renames {
            RenameMode::Apply => drop(t.insert(r.from.clone(), r)),
            RenameMode::Propose => proposed.push(r),
            RenameMode::Off => {}
        }
    }
    // A page published again at a redirected path takes it back.
    t.retain(|from, _| !published(from));
    for c in req.config {
        let from = path_of_url(&c.from, forms);
        if published(&from) {
            return Err(PlanError::Redirect {
                message: format!(
                    "[[redirects]] from = {:?} is a published file ({from})",
                    c.from
                ),
                hint: "remove the [[redirects]] entry, or stop publishing the page at that path"
                    .into(),
            });
        }
        let r = Redirect {
            from: from.clone(),
            to: c.to.clone(),
            status: c.status,
            origin: Origin::Config,
        };
        t.insert(from, r);
    }
    collapse(&mut t, forms)?;
    for r in t.values().chain(&proposed) {
        if let Some(why) = bad_target(&r.to) {
            return Err(PlanError::Redirect {
                message: format!(
                    "the redirect from {} to {} can't be served: the target {why}",
                    crate::quote::quote_path(&url_of_path(&r.from, forms)),
                    crate::quote::quote_path(&r.to)
                ),
                hint: "fix the [[redirects]] entry, or rename the page (`redirect_renames = \"off\"` stops redirects for renamed pages)".into(),
            });
        }
    }
    Ok((t.into_values().collect(), proposed))
}

/// Make every redirect one hop: a target that is itself redirected is replaced by where that one goes.
fn collapse(t: &mut BTreeMap<String, Redirect>, forms: &UrlForms) -> Result<(), PlanError> {
    let snapshot = t.clone();
    for r in t.values_mut() {
        let mut hops = 0;
        while let Some(next) =
            r.to.starts_with('/')
                .then(|| snapshot.get(&path_of_url(&decoded(&r.to), forms)))
                .flatten()
        {
            hops += 1;
            if next.from == r.from || hops > MAX_HOPS {
                return Err(PlanError::Redirect {
                    message: format!("the redirect from /{} loops back to itself", r.from),
                    hint: "remove one [[redirects]] entry of the loop (`git publish redirects` lists the table)".into(),
                });
            }
            r.to = next.to.clone();
        }
    }
    Ok(())
}

/// One object that answers with a redirect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedirectObject {
    pub key: String,
    /// Site path.
    pub path: String,
    pub location: String,
    pub status: u16,
}

/// The redirect side of a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// The whole table after this publish (recorded in the state).
    pub table: Vec<Redirect>,
    /// Redirects new or changed in this publish: their objects are written after the pages.
    pub puts: Vec<RedirectObject>,
    /// Site paths no longer redirected (their object is deleted, or replaced by a page published there).
    pub removed: Vec<String>,
    /// Renames shown but not applied (`redirect_renames = "ask"` without a yes, or in a hook/CI).
    pub proposed: Vec<Redirect>,
    /// How the plan shows the above (see [`Changes::render`]).
    pub lines: Vec<String>,
}

impl Changes {
    /// The plan lines: `> /old/ → /new/` for each new or changed redirect, `? ...` for proposals, `< ...` for
    /// removed ones.
    pub fn render(&mut self, forms: &UrlForms) {
        let q = crate::quote::quote_path;
        let show = |mark: &str, r: &Redirect| {
            let status = if r.status == 302 { " (302)" } else { "" };
            let from = url_of_path(&r.from, forms);
            format!("{mark} {} → {}{status}", q(&from), q(&r.to))
        };
        let new: BTreeSet<&str> = self.puts.iter().map(|p| p.path.as_str()).collect();
        let mut out: Vec<String> = (self.table.iter())
            .filter(|r| new.contains(r.from.as_str()))
            .map(|r| show(">", r))
            .collect();
        out.extend(self.proposed.iter().map(|r| show("?", r)));
        let removed = (self.removed.iter())
            .map(|p| format!("< {} (redirect removed)", q(&url_of_path(p, forms))));
        out.extend(removed);
        self.lines = out;
    }
}

/// What this publish must change: `table` against what the state recorded.
pub fn diff<'t>(recorded: &[Redirect], table: &'t [Redirect]) -> (Vec<&'t Redirect>, Vec<String>) {
    let old: BTreeMap<&str, &Redirect> = recorded.iter().map(|r| (r.from.as_str(), r)).collect();
    let new: BTreeSet<&str> = table.iter().map(|r| r.from.as_str()).collect();
    let puts = (table.iter())
        .filter(|r| {
            old.get(r.from.as_str())
                .is_none_or(|o| (&o.to, o.status) != (&r.to, r.status))
        })
        .collect();
    let removed = (recorded.iter())
        .filter(|r| !new.contains(r.from.as_str()))
        .map(|r| r.from.clone())
        .collect();
    (puts, removed)
}

/// Whether the table needs the listing of the new tree: a config entry not recorded yet must be checked
/// against every published file (recorded ones were, and a page added since shows in the changes).
pub fn needs_listing(req: &Request, forms: &UrlForms) -> bool {
    req.config.iter().any(|c| {
        let from = path_of_url(&c.from, forms);
        !req.recorded
            .iter()
            .any(|r| r.from == from && r.origin == Origin::Config)
    })
}

#[cfg(test)]
mod tests;
