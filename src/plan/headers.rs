//! The default Content-Type of each object, from its file extension.
//!
//! S3 serves back exactly the Content-Type it was given, so it is chosen here from the file extension
//! (mime_guess, with the web's corrections in `OVERRIDES`), with `; charset=utf-8` on text types so that
//! browsers don't guess the encoding. Pure; the other headers and any `content_type` override come from
//! [`super::rules`], which calls [`content_type`] for paths no rule types. To change a type: edit the tables
//! here and add a row to `tests::by_extension`.

/// Content types that are text even though they are not `text/*`.
const TEXT_LIKE: &[&str] = &[
    "application/javascript",
    "application/json",
    "application/ld+json",
    "application/manifest+json",
    "application/xml",
    "application/rss+xml",
    "application/atom+xml",
    "application/xhtml+xml",
    "image/svg+xml",
];

/// Extensions mime_guess doesn't know or gets wrong for the web.
const OVERRIDES: &[(&str, &str)] = &[
    ("webmanifest", "application/manifest+json"),
    ("map", "application/json"),
    ("mjs", "text/javascript"),
    ("wasm", "application/wasm"),
    ("avif", "image/avif"),
    ("woff2", "font/woff2"),
    ("woff", "font/woff"),
    ("xml", "application/xml"),
    ("rss", "application/rss+xml"),
    ("atom", "application/atom+xml"),
];

pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// Content-Type for a site path, by its extension.
pub fn content_type(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let essence = ext
        .as_deref()
        .and_then(|e| {
            OVERRIDES
                .iter()
                .find(|(x, _)| *x == e)
                .map(|(_, t)| t.to_string())
        })
        .or_else(|| {
            mime_guess::from_path(name)
                .first()
                .map(|m| m.essence_str().to_string())
        })
        .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string());
    if essence.starts_with("text/") || TEXT_LIKE.contains(&essence.as_str()) {
        format!("{essence}; charset=utf-8")
    } else {
        essence
    }
}

#[cfg(test)]
mod tests {
    use super::content_type;

    #[test]
    fn by_extension() {
        let table = [
            ("index.html", "text/html; charset=utf-8"),
            ("a/b/page.HTM", "text/html; charset=utf-8"),
            ("css/site.css", "text/css; charset=utf-8"),
            ("js/app.js", "text/javascript; charset=utf-8"),
            ("feed.xml", "application/xml; charset=utf-8"),
            ("atom.atom", "application/atom+xml; charset=utf-8"),
            ("search.json", "application/json; charset=utf-8"),
            ("logo.svg", "image/svg+xml; charset=utf-8"),
            ("robots.txt", "text/plain; charset=utf-8"),
            ("img/a.png", "image/png"),
            ("img/a.jpg", "image/jpeg"),
            ("img/a.webp", "image/webp"),
            ("img/a.avif", "image/avif"),
            ("fonts/x.woff2", "font/woff2"),
            (
                "site.webmanifest",
                "application/manifest+json; charset=utf-8",
            ),
            ("app.wasm", "application/wasm"),
            ("file.pdf", "application/pdf"),
            ("CNAME", "application/octet-stream"),
            ("archive.unknownext", "application/octet-stream"),
            ("dir.d/noext", "application/octet-stream"),
        ];
        for (path, want) in table {
            assert_eq!(content_type(path), want, "{path}");
        }
    }
}
