//! Branch previews (`crate::preview`) in the managed CloudFront Function: which requests are a preview's,
//! where they go, what the function answers itself, and the password check. Pure: code out.
//!
//! | request                                          | the function                                        |
//! |--------------------------------------------------|-----------------------------------------------------|
//! | Host `<name>.<previews.domain>` (any case)       | preview `<name>`: `/x` → `/_previews/<name>/x` after |
//! |                                                  | the index / pretty-URL rewriting                    |
//! | cookie `gp_preview=<name>` (other hosts)         | the same                                            |
//! | `/_preview/<name>/`                              | 302 to `/`, setting the cookie (Max-Age 4 hours)    |
//! | `/_preview/off`, or anything else under it       | 302 to `/`, clearing the cookie                     |
//! | production, `/_previews/…` (after `.`, `..`, `//`)| 404: production URLs never reach a preview          |
//! | a preview's `/robots.txt`                         | 200 `Disallow: /`, answered by the function         |
//! | a preview, with a password (`password_env`/`_file`)| `Authorization: Basic` checked against the salted   |
//! |                                                  | SHA-256 under `preview-auth:<name>` in the          |
//! |                                                  | KeyValueStore; 401 otherwise (no key: 401 too)      |
//!
//! A name is a preview name (`preview::is_name`: a DNS label); a host or cookie naming anything else is
//! production. The rewrite changes the cache key, so production's cache never holds a preview's answer.
//!
//! A viewer-request function can't add response headers: with `[targets.NAME.previews]` a second function,
//! on viewer responses ([`response_code`]), adds `X-Robots-Tag: noindex` to a preview's responses (and
//! `Cache-Control: no-store` to a cookie preview's, so that a browser never shows a preview's page from its
//! cache once it is back on production). CloudFront runs no viewer-response function on an origin's 4xx/5xx.
//!
//! Only CloudFront's documented cloudfront-js-2.0 APIs are used: `crypto.createHash("sha256")`,
//! `hash.update`, `hash.digest("hex")`, `Buffer.from(s, "base64")`, `buffer.toString("utf8")` (the Crypto
//! and Buffer modules of "JavaScript runtime 2.0 features for CloudFront Functions"), and `cf.kvs().get`.

use sha2::{Digest, Sha256};

use super::js;
use crate::identity::Site;

/// The cookie the no-domain way sets.
pub const COOKIE: &str = "gp_preview";
/// How long the cookie keeps a browser on a preview: a reading session (see the README).
pub const COOKIE_MAX_AGE: u32 = 4 * 3600;
/// A preview's password hash in the function's KeyValueStore: `preview-auth:<name>`.
pub const AUTH_KEY_PREFIX: &str = "preview-auth:";
/// `sha256:<32 hex of salt>:<64 hex of SHA-256(salt + password)>`.
const AUTH_VALUE_BYTES: usize = "sha256:".len() + 32 + 1 + 64;
/// At most this many previews with a password: their keys take room in the KeyValueStore that the
/// redirect table then can't ([`AUTH_RESERVE_BYTES`]).
pub const MAX_PROTECTED_PREVIEWS: usize = 1000;
/// One preview's password entry, at most (the longest name).
pub const AUTH_ENTRY_MAX_BYTES: usize =
    AUTH_KEY_PREFIX.len() + crate::plan::names::PREVIEW_NAME_MAX + AUTH_VALUE_BYTES;
/// The room kept in the KeyValueStore for previews' passwords when a password is configured.
pub const AUTH_RESERVE_BYTES: usize = MAX_PROTECTED_PREVIEWS * AUTH_ENTRY_MAX_BYTES;

/// How the managed function serves the target's previews (`preview::serving` builds it from site.toml).
/// The default (no `[targets.NAME.previews]`) still serves the cookie way, answers a preview's robots.txt
/// and keeps production's URLs out of `/_previews/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Previews {
    /// `previews.domain`: `<name>.<domain>` is preview `<name>` (lower case).
    pub domain: Option<String>,
    /// A password is configured: the function is the KeyValueStore variant and asks for it.
    pub password: bool,
    /// `[targets.NAME.previews]` is there: the viewer-response function marks previews `noindex`.
    pub response: bool,
}

/// The KeyValueStore key of preview `name`'s password hash.
pub fn auth_key(name: &str) -> String {
    format!("{AUTH_KEY_PREFIX}{name}")
}

/// Whether a KeyValueStore key is a redirect's (a URL path), as opposed to a preview's password: the
/// redirect table's sync manages only those.
pub fn is_redirect_key(key: &str) -> bool {
    key.starts_with('/')
}

/// The value stored for preview `name` of `site` with `password`: a salted SHA-256, never the password.
/// The salt is derived from the site's id and the name (unique per site and preview, and stable, so that
/// publishing again with the same password writes nothing).
pub fn auth_value(site: &Site, name: &str, password: &str) -> String {
    let mut salt = Sha256::new();
    for part in ["git-publish preview password", &site.id(), name] {
        salt.update((part.len() as u64).to_le_bytes());
        salt.update(part.as_bytes());
    }
    let salt = &hex::encode(salt.finalize())[..32];
    let hash = Sha256::digest(format!("{salt}{password}").as_bytes());
    format!("sha256:{salt}:{}", hex::encode(hash))
}

/// The settings both functions start with.
pub(super) fn settings(p: &Previews) -> String {
    format!(
        "var PREVIEW_DOMAIN = {};\nvar COOKIE = {};\n",
        js(p.domain.as_deref().unwrap_or("")),
        js(COOKIE)
    )
}

/// Which preview a request is (both functions): by host, else by cookie; null for production.
pub(super) const PREVIEW_OF: &str = r#"
// Branch previews (`git publish preview`): a preview name is a DNS label.
function isName(name) {
    return typeof name === "string" && /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(name);
}

// `<name>.PREVIEW_DOMAIN`, exactly that suffix, in any case.
function hostPreview(request) {
    var host = PREVIEW_DOMAIN && request.headers.host ? request.headers.host.value.toLowerCase() : "";
    var suffix = "." + PREVIEW_DOMAIN;
    var label = host.substring(0, host.length - suffix.length);
    return host.length > suffix.length && host.substring(label.length) === suffix && isName(label) ? label : null;
}

function cookiePreview(request) {
    var cookie = request.cookies ? request.cookies[COOKIE] : null;
    return cookie && isName(cookie.value) ? cookie.value : null;
}

function previewOf(request) {
    return hostPreview(request) || cookiePreview(request);
}
"#;

/// What the viewer-request function answers itself, and the rewrite of a preview's URI.
pub(super) fn answers() -> String {
    format!(
        r#"
// `/_preview/<name>/` enters a preview (a cookie, for hosts without preview subdomains); anything else under
// `/_preview/` leaves it. Production never serves `/_previews/`; a preview answers its own robots.txt.
function previewAnswer(path, preview) {{
    if (path === "/_preview" || path.indexOf("/_preview/") === 0) {{
        var rest = path.substring(10);
        var name = rest.substring(0, rest.length - 1);
        var enter = rest === name + "/" && isName(name);
        var cookies = {{}};
        cookies[COOKIE] = {{
            value: enter ? name : "",
            attributes: "Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=" + (enter ? {max_age} : 0)
        }};
        return {{
            statusCode: 302,
            statusDescription: "Found",
            headers: {{ location: {{ value: "/" }}, "cache-control": {{ value: "no-store" }} }},
            cookies: cookies
        }};
    }}
    if (!preview && firstSegment(path) === "_previews") {{
        return {{ statusCode: 404, statusDescription: "Not Found" }};
    }}
    if (preview && path === "/robots.txt") {{
        return {{
            statusCode: 200,
            statusDescription: "OK",
            headers: {{ "content-type": {{ value: "text/plain" }}, "x-robots-tag": {{ value: "noindex" }} }},
            body: {{ encoding: "text", data: "User-agent: *\nDisallow: /\n" }}
        }};
    }}
    return null;
}}

// The first segment the origin would see, after `//`, `.` and `..`.
function firstSegment(path) {{
    var parts = path.split("/");
    var kept = [];
    for (var i = 0; i < parts.length; i++) {{
        if (parts[i] === "..") {{
            kept.pop();
        }} else if (parts[i] !== "" && parts[i] !== ".") {{
            kept.push(parts[i]);
        }}
    }}
    return kept.length ? kept[0] : "";
}}

// A preview's files are under /_previews/<name>/: its URI (and so its cache key) is never production's.
function served(request, preview) {{
    if (preview) {{
        delete request.headers.authorization;
        request.uri = "/_previews/" + preview + request.uri;
    }}
    return request;
}}
"#,
        max_age = COOKIE_MAX_AGE
    )
}

/// The password check (KeyValueStore variant): the key `preview-auth:<name>` holds `sha256:<salt>:<hash>`;
/// any user name, the password hashed with the salt and compared in constant time. No key: refused.
pub(super) const AUTH: &str = r#"
async function authorized(request, preview) {
    var stored;
    try {
        stored = (await kvs.get("preview-auth:" + preview)).split(":");
    } catch (e) {
        return false;
    }
    var given = request.headers.authorization ? request.headers.authorization.value : "";
    if (stored.length !== 3 || stored[0] !== "sha256" || given.substring(0, 6).toLowerCase() !== "basic ") {
        return false;
    }
    var pair = Buffer.from(given.substring(6).trim(), "base64").toString("utf8");
    var colon = pair.indexOf(":");
    if (colon < 0) {
        return false;
    }
    var got = crypto.createHash("sha256").update(stored[1] + pair.substring(colon + 1)).digest("hex");
    var diff = got.length ^ stored[2].length;
    for (var i = 0; i < got.length; i++) {
        diff |= got.charCodeAt(i) ^ stored[2].charCodeAt(i);
    }
    return diff === 0;
}

function unauthorized() {
    return {
        statusCode: 401,
        statusDescription: "Unauthorized",
        headers: {
            "www-authenticate": { value: "Basic realm=\"preview\", charset=\"UTF-8\"" },
            "x-robots-tag": { value: "noindex" },
            "cache-control": { value: "no-store" }
        }
    };
}
"#;

/// Whether a function's code checks the previews' passwords (it holds [`AUTH`]).
pub fn checks_passwords(code: &str) -> bool {
    code.contains("async function authorized(request, preview) {")
}

/// The handler's lines after the answers, before the redirect lookup (KeyValueStore variant with a password).
pub(super) const AUTH_CHECK: &str = r#"    if (preview && !(await authorized(request, preview))) {
        return unauthorized();
    }
"#;

/// The viewer-response function (`[targets.NAME.previews]`): a preview's responses carry
/// `X-Robots-Tag: noindex`; a cookie preview's are not kept by the browser (`Cache-Control: no-store`).
pub fn response_code(p: &Previews) -> String {
    let mut out = String::from(
        "// Generated by git-publish (`git publish cdn-function --print`): marks branch previews' responses\n\
         // noindex. Edits are overwritten; change site.toml instead.\n",
    );
    out.push_str(&settings(p));
    out.push_str(PREVIEW_OF);
    out.push_str(
        r#"
function handler(event) {
    var response = event.response;
    var byHost = hostPreview(event.request);
    if (byHost || cookiePreview(event.request)) {
        response.headers["x-robots-tag"] = { value: "noindex" };
        if (!byHost) {
            response.headers["cache-control"] = { value: "no-store" };
        }
    }
    return response;
}
"#,
    );
    out
}
