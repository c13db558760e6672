//! The CloudFront Function (cloudfront-js-2.0, viewer request) that makes a REST / origin-access-control S3
//! origin serve a static site: `/dir/` → `/dir/index.html` (and `/about` → `/about.html` with `pretty_urls`,
//! `/dir` → `/dir/index.html` with the `/dir` form), the redirect table answered at the edge, and the
//! branch previews (`previews`: a preview host or cookie → `/_previews/<name>/`, robots, a password).
//!
//! Owns generating the function ([`generate_for`], [`function`]) from the redirect table, the URL forms and
//! the previews' settings, and its [`fingerprint`]; pure (strings out). Two variants:
//!
//! | table                                   | the code                                  | the table            |
//! |-----------------------------------------|-------------------------------------------|----------------------|
//! | code ≤ [`INLINE_MAX_BYTES`] (9 KB)      | `function handler(event)`, no `async`,    | in the code          |
//! |                                         | no modules                                |                      |
//! | larger                                  | `import cf from 'cloudfront'`, `async`    | a KeyValueStore:     |
//! |                                         | handler, `await kvs.get(uri)`             | URL → `301 /new/`    |
//!
//! CloudFront takes at most 10 KB of code ([`MAX_CODE_BYTES`]); the inline variant stops 1 KB short of it.
//! A KeyValueStore takes keys of at most 512 bytes, values of at most 1 KB and 5 MB in all: an entry beyond
//! those is refused, naming the redirect and the limit. A preview password makes it the KeyValueStore variant
//! whatever the table's size (the hashes live in the store), and keeps room there for the previews' keys
//! (`previews::AUTH_RESERVE_BYTES`). With `[targets.NAME.previews]` a second, viewer-response function marks
//! previews `noindex` ([`Generated::response`]). Both variants are tested under node on a table of events
//! (`tests`, `preview_tests`), the second with a stub of the `cloudfront` module.

use std::collections::BTreeMap;

use serde::Serialize;

use super::error::PlanError;
use super::invalidate::{url_forms, UrlForms};
use super::redirects::Redirect;
use crate::identity::Site;

mod js;
pub mod previews;
pub use previews::Previews;

use js::js;

/// A viewer-request function a target manages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Function {
    pub name: String,
    /// The site it serves: its comment (and its KeyValueStore's) carries the site's mark, and an existing
    /// function, store or distribution is changed only when it is this site's (`crate::identity`).
    #[serde(skip)]
    pub site: crate::identity::Site,
    pub code: String,
    /// The KeyValueStore it reads the redirect table from, when the table is too large for the code (or a
    /// preview password needs it).
    pub kvs: Option<Kvs>,
    /// The viewer-response function beside it (`[targets.NAME.previews]`: previews marked `noindex`); None:
    /// the distribution runs none of this site's.
    pub response: Option<ResponseFunction>,
    /// What it serves, as the state records it ([`fingerprint`]).
    pub fingerprint: String,
}

/// The viewer-response function of a managed site (`cdn_function::previews::response_code`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResponseFunction {
    pub name: String,
    pub code: String,
}

/// CloudFront Functions: at most 10 KB of code.
pub const MAX_CODE_BYTES: usize = 10 * 1024;
/// The table stays in the code while the code is at most this long (1 KB short of [`MAX_CODE_BYTES`]).
pub const INLINE_MAX_BYTES: usize = MAX_CODE_BYTES - 1024;
/// KeyValueStore limits: a key, a value, the whole store (keys and values).
pub const MAX_KVS_KEY_BYTES: usize = 512;
pub const MAX_KVS_VALUE_BYTES: usize = 1024;
pub const MAX_KVS_BYTES: usize = 5 * 1024 * 1024;

/// The viewer-request function: the lookup (by variant) comes first, then this.
const HANDLER_REST: &str = r#"    if (r && onSite(r[0])) {
        var location = r[0];
        var query = queryString(request.querystring);
        if (query) {
            location += (location.indexOf("?") < 0 ? "?" : "&") + query;
        }
        return {
            statusCode: r[1],
            statusDescription: r[1] === 302 ? "Found" : "Moved Permanently",
            headers: { location: { value: location } }
        };
    }
    var last = uri.substring(uri.lastIndexOf("/") + 1);
    if (last === "") {
        request.uri = uri + INDEX;
    } else if (last.indexOf(".") < 0) {
        if (PRETTY) {
            request.uri = uri + ".html";
        } else if (BARE_DIRS) {
            request.uri = uri + "/" + INDEX;
        }
    }
    return served(request, preview);
}

// The table is keyed by the decoded path: viewers send `/caf%C3%A9/`, `/caf%c3%a9/` or `/a%20b/` as they like.
// A path that does not decode (a stray `%`) is looked up as it came.
function decoded(uri) {
    try {
        return decodeURIComponent(uri);
    } catch (e) {
        return uri;
    }
}

// "//host" and "/\host" (tabs and line breaks dropped, as browsers drop them) leave the site: never answer
// with one, whatever the table says.
function onSite(location) {
    var l = location.replace(/[\t\n\r]/g, "");
    var second = l.charAt(1);
    return l.charAt(0) > " " && !(l.charAt(0) === "/" && (second === "/" || second === "\\"));
}

function queryString(qs) {
    var parts = [];
    for (var name in qs) {
        var v = qs[name];
        var values = v.multiValue ? v.multiValue : [v];
        for (var i = 0; i < values.length; i++) {
            parts.push(values[i].value === "" ? name : name + "=" + values[i].value);
        }
    }
    return parts.join("&");
}
"#;

/// The handler's first lines, both variants: what the function answers itself about previews.
const START: &str = r#"    var request = event.request;
    var uri = request.uri;
    var path = decoded(uri);
    var preview = previewOf(request);
    var answer = previewAnswer(path, preview);
    if (answer) {
        return answer;
    }
"#;

const LOOKUP_INLINE: &str = r#"    var r = Object.prototype.hasOwnProperty.call(REDIRECTS, path) ? REDIRECTS[path] : null;
"#;

const LOOKUP_KVS: &str = r#"    var r = await redirectOf(path);
"#;

/// The KeyValueStore variant's lookup, after the handler. `kvs.get` throws for a key the store doesn't hold:
/// that URL is not redirected.
const REDIRECT_OF_KVS: &str = r#"
async function redirectOf(uri) {
    try {
        var found = await kvs.get(uri);
        var space = found.indexOf(" ");
        return [found.substring(space + 1), parseInt(found.substring(0, space), 10)];
    } catch (e) {
        return null;
    }
}
"#;

const HEADER: &str = "// Generated by git-publish (`git publish cdn-function --print`): directory indexes, pretty URLs,\n\
                      // redirects and branch previews for an S3 REST origin. Edits are overwritten; change site.toml\n\
                      // instead.\n";

/// The function's code and, when the table is too large for the code, the KeyValueStore entries it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub code: String,
    /// URL path → `"<status> <location>"` (e.g. `"/posts/old/"` → `"301 /posts/new/"`).
    pub kvs: Option<BTreeMap<String, String>>,
    /// The viewer-response function's code (`[targets.NAME.previews]`: previews' `X-Robots-Tag`).
    pub response: Option<String>,
}

/// A KeyValueStore a managed function reads its redirect table from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kvs {
    pub name: String,
    /// URL path → `"<status> <location>"`.
    pub entries: BTreeMap<String, String>,
}

/// Every URL form of each moved page: URL → (location, status).
fn by_url(table: &[Redirect], forms: &UrlForms) -> BTreeMap<String, (String, u16)> {
    let mut redirects = BTreeMap::new();
    for r in table {
        for url in url_forms(&r.from, forms) {
            redirects.insert(url, (r.to.clone(), r.status));
        }
    }
    redirects
}

fn settings(forms: &UrlForms) -> String {
    format!(
        "var INDEX = {};\nvar PRETTY = {};\nvar BARE_DIRS = {};\n",
        js(&forms.index_document),
        forms.pretty,
        forms.dir_bare
    )
}

/// The code with the table in it.
fn inline_code(
    redirects: &BTreeMap<String, (String, u16)>,
    forms: &UrlForms,
    p: &Previews,
) -> String {
    let mut out = String::from(HEADER);
    out.push_str(&settings(forms));
    out.push_str(&previews::settings(p));
    out.push_str("var REDIRECTS = {");
    for (i, (url, (to, status))) in redirects.iter().enumerate() {
        let sep = if i == 0 { "\n" } else { ",\n" };
        out.push_str(&format!("{sep}    {}: [{}, {status}]", js(url), js(to)));
    }
    out.push_str("\n};\n\nfunction handler(event) {\n");
    out.push_str(START);
    out.push_str(LOOKUP_INLINE);
    out.push_str(HANDLER_REST);
    out.push_str(previews::PREVIEW_OF);
    out.push_str(&previews::answers());
    out
}

/// The code that reads the table (and, with a password, the previews' hashes) from the KeyValueStore
/// associated with the function. CloudFront wants the modules' imports in the first lines.
fn kvs_code(forms: &UrlForms, p: &Previews) -> String {
    let mut out = String::from("import cf from 'cloudfront';\n");
    if p.password {
        out.push_str("import crypto from 'crypto';\n");
    }
    out.push_str("const kvs = cf.kvs();\n\n");
    out.push_str(HEADER);
    out.push_str("// The redirect table is in the KeyValueStore associated with this function: URL -> \"301 /new/\".\n");
    out.push_str(&settings(forms));
    out.push_str(&previews::settings(p));
    out.push_str("\nasync function handler(event) {\n");
    out.push_str(START);
    if p.password {
        out.push_str(previews::AUTH_CHECK);
    }
    out.push_str(LOOKUP_KVS);
    out.push_str(HANDLER_REST);
    out.push_str(REDIRECT_OF_KVS);
    out.push_str(previews::PREVIEW_OF);
    out.push_str(&previews::answers());
    if p.password {
        out.push_str(previews::AUTH);
    }
    out
}

/// The table as KeyValueStore entries, within the store's limits (less `reserved` bytes, kept for the
/// previews' passwords); an entry beyond one is refused, naming the redirect.
fn kvs_entries(
    table: &[Redirect],
    forms: &UrlForms,
    reserved: usize,
) -> Result<BTreeMap<String, String>, PlanError> {
    let mut entries = BTreeMap::new();
    let mut total = 0;
    for r in table {
        let value = format!("{} {}", r.status, r.to);
        if value.len() > MAX_KVS_VALUE_BYTES {
            return Err(too_large(r, format!("its target is {} bytes; a KeyValueStore value takes at most {MAX_KVS_VALUE_BYTES} (with the status)", value.len())));
        }
        for url in url_forms(&r.from, forms) {
            if url.len() > MAX_KVS_KEY_BYTES {
                return Err(too_large(r, format!("its URL {url} is {} bytes; a KeyValueStore key takes at most {MAX_KVS_KEY_BYTES}", url.len())));
            }
            total += url.len() + value.len();
            entries.insert(url, value.clone());
        }
    }
    if total + reserved > MAX_KVS_BYTES {
        let room = match reserved {
            0 => String::new(),
            r => format!(", less the {r} kept for {} previews' passwords (previews.password_env / password_file)", previews::MAX_PROTECTED_PREVIEWS),
        };
        return Err(PlanError::Redirect {
            message: format!(
                "the {} redirects take {total} bytes as KeyValueStore entries; a KeyValueStore holds at most {MAX_KVS_BYTES}{room}",
                table.len()
            ),
            hint: "fewer [[redirects]] (`git publish redirects` lists the table), or `redirect_renames = \"off\"`".into(),
        });
    }
    Ok(entries)
}

fn too_large(r: &Redirect, why: String) -> PlanError {
    PlanError::Redirect {
        message: format!(
            "the redirect from /{} to {} can't be served: {why}",
            r.from, r.to
        ),
        hint: "shorten the redirect in [[redirects]] (or the page's path), or leave it out".into(),
    }
}

/// The function for `table` (every URL form of each moved page answers), `forms` and the previews' settings:
/// the table in the code while the code stays within [`INLINE_MAX_BYTES`] and no preview password is set,
/// else in a KeyValueStore (with room kept for the passwords' keys). Code beyond CloudFront's
/// [`MAX_CODE_BYTES`] is refused.
pub fn generate_for(
    table: &[Redirect],
    forms: &UrlForms,
    p: &Previews,
) -> Result<Generated, PlanError> {
    let response = p.response.then(|| previews::response_code(p));
    let inline = inline_code(&by_url(table, forms), forms, p);
    if inline.len() <= INLINE_MAX_BYTES && !p.password {
        return Ok(Generated {
            code: inline,
            kvs: None,
            response,
        });
    }
    let reserved = if p.password {
        previews::AUTH_RESERVE_BYTES
    } else {
        0
    };
    let code = kvs_code(forms, p);
    for (what, c) in [
        ("viewer-request", Some(&code)),
        ("viewer-response", response.as_ref()),
    ] {
        let Some(c) = c.filter(|c| c.len() > MAX_CODE_BYTES) else {
            continue;
        };
        return Err(PlanError::Redirect {
            message: format!(
                "the {what} function's code would be {} bytes; CloudFront takes at most {MAX_CODE_BYTES}",
                c.len()
            ),
            hint: "shorten index_document or previews.domain in site.toml".into(),
        });
    }
    Ok(Generated {
        kvs: Some(kvs_entries(table, forms, reserved)?),
        code,
        response,
    })
}

/// [`generate_for`] without `[targets.NAME.previews]` settings (no preview domain, no password).
pub fn generate(table: &[Redirect], forms: &UrlForms) -> Result<Generated, PlanError> {
    generate_for(table, forms, &Previews::default())
}

/// The function's code for `table` and `forms` (see [`generate`]).
pub fn code(table: &[Redirect], forms: &UrlForms) -> Result<String, PlanError> {
    Ok(generate(table, forms)?.code)
}

/// The function of `site` (named [`Site::function_name`]) on `distributions`, for `table`, `forms` and the
/// previews' settings. Its KeyValueStore, when it needs one, has the function's name; its viewer-response
/// function, when previews want one, is [`Site::response_function_name`].
pub fn function(
    site: &Site,
    table: &[Redirect],
    forms: &UrlForms,
    p: &Previews,
    distributions: &[&str],
) -> Result<Function, PlanError> {
    let name = site.function_name();
    let g = generate_for(table, forms, p)?;
    let kvs = g.kvs.map(|entries| Kvs {
        name: name.clone(),
        entries,
    });
    let response = g.response.map(|code| ResponseFunction {
        name: site.response_function_name(),
        code,
    });
    Ok(Function {
        fingerprint: fingerprint(
            &name,
            &g.code,
            kvs.as_ref(),
            response.as_ref(),
            distributions,
        ),
        name,
        site: site.clone(),
        code: g.code,
        kvs,
        response,
    })
}

/// What a managed function serves, as one string the state records: a SHA-256 over its name, its code, its
/// KeyValueStore (name and entries; not the previews' passwords), its viewer-response function and the
/// distributions that run it. A publish whose fingerprint matches the recorded one sends nothing about the
/// function; one that differs publishes it, even of the deployed commit (a `[[redirects]]` entry or
/// `pretty_urls` changed in site.toml alone).
pub fn fingerprint(
    name: &str,
    code: &str,
    kvs: Option<&Kvs>,
    response: Option<&ResponseFunction>,
    distributions: &[&str],
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut part = |p: &str| {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    };
    part(name);
    part(code);
    if let Some(k) = kvs {
        part(&k.name);
        for (key, value) in &k.entries {
            part(key);
            part(value);
        }
    }
    if let Some(r) = response {
        part("viewer-response");
        part(&r.name);
        part(&r.code);
    }
    part("distributions");
    for d in distributions {
        part(d);
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

#[cfg(test)]
mod preview_tests;
#[cfg(test)]
mod tests;
