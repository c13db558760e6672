//! Churn: files that a build rewrites although only a timestamp or a build id changed (a sitemap's
//! `<lastmod>`, a feed's `<pubDate>`, a generator's build hash, a `?v=` cache buster). They cost an upload and
//! an invalidation on every publish, so the plan names them.
//!
//! Pure: given the old and new bytes of one modified file, [`is_churn`] says whether they differ only in such
//! volatile tokens. Both sides are normalised (each volatile token replaced by a placeholder) and compared.
//! Binary files (not UTF-8, or holding NUL) are never churn.
//!
//! | volatile token                     | example                                   | placeholder |
//! |------------------------------------|-------------------------------------------|-------------|
//! | ISO 8601 date / date-time          | `2024-05-01`, `2024-05-01T10:00:00.123Z`  | `<date>`    |
//! | RFC 822 / 1123 date                | `Wed, 01 May 2024 10:00:00 GMT`           | `<date>`    |
//! | cache-buster query value           | `app.css?v=1714557600`, `&hash=abc`       | `<v>`       |
//! | hex run of 8+ (hashes, timestamps) | `main.3f2a9c1b.js`, `1714557600`          | `<hex>`     |
//! | mixed-case id of 16+ with a digit  | `_next/static/Xk9_2pLq7RtYbN3mZ0aW/`      | `<id>`      |

use std::sync::LazyLock;

use regex::{Captures, Regex};

static ISO_DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?")
        .expect("valid regex")
});
static RFC822_DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}(?::\d{2})? (?:[A-Z]{1,5}|[+-]\d{4})",
    )
    .expect("valid regex")
});
static CACHE_BUSTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"([?&](?:v|ver|version|hash|h|t|ts|cb|build|_)=)[^"'&\s<>)]+"#)
        .expect("valid regex")
});
static HEX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[0-9a-fA-F]{8,}\b").expect("valid regex"));
static ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9_+\-]{16,}").expect("valid regex"));

/// The text with every volatile token replaced by a placeholder (see the table above).
pub fn normalise(text: &str) -> String {
    let t = ISO_DATE.replace_all(text, "<date>");
    let t = RFC822_DATE.replace_all(&t, "<date>");
    let t = CACHE_BUSTER.replace_all(&t, "${1}<v>");
    let t = HEX.replace_all(&t, "<hex>");
    let t = ID.replace_all(&t, |c: &Captures| {
        let s = &c[0];
        let mixed = s.bytes().any(|b| b.is_ascii_uppercase())
            && s.bytes().any(|b| b.is_ascii_lowercase())
            && s.bytes().any(|b| b.is_ascii_digit());
        if mixed {
            "<id>".to_string()
        } else {
            s.to_string()
        }
    });
    t.into_owned()
}

fn text(bytes: &[u8]) -> Option<&str> {
    if bytes.contains(&0) {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

/// True when `old` and `new` differ and the only differences are volatile tokens.
pub fn is_churn(old: &[u8], new: &[u8]) -> bool {
    if old == new {
        return false;
    }
    match (text(old), text(new)) {
        (Some(o), Some(n)) => normalise(o) == normalise(n),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_table() {
        let cases: &[(&str, &str, bool, &str)] = &[
            (
                "<url><loc>/a/</loc><lastmod>2024-05-01T10:00:00.000Z</lastmod></url>",
                "<url><loc>/a/</loc><lastmod>2024-05-02T11:30:12.345Z</lastmod></url>",
                true,
                "sitemap lastmod",
            ),
            (
                "<lastmod>2024-05-01</lastmod>",
                "<lastmod>2024-05-02</lastmod>",
                true,
                "date only",
            ),
            (
                "<pubDate>Wed, 01 May 2024 10:00:00 GMT</pubDate>",
                "<pubDate>Thu, 02 May 2024 09:00:00 +0000</pubDate>",
                true,
                "RFC 822",
            ),
            (
                "<link href=/css/style.css?v=1714557600>",
                "<link href=/css/style.css?v=1714644000>",
                true,
                "cache buster",
            ),
            (
                "<script src=/js/main.3f2a9c1b.js></script>",
                "<script src=/js/main.9e8d7c6b.js></script>",
                true,
                "hex build hash",
            ),
            (
                "<meta name=generator content=\"Hugo 0.111\" data-build=\"a1b2c3d4e5f6\">",
                "<meta name=generator content=\"Hugo 0.111\" data-build=\"0f9e8d7c6b5a\">",
                true,
                "build id attribute",
            ),
            (
                "/_next/static/Xk9_2pLq7RtYbN3mZ0aW/_buildManifest.js",
                "/_next/static/Qw3_8zLm1TyUbV5nX7cP/_buildManifest.js",
                true,
                "mixed-case build id",
            ),
            ("<h1>Hello</h1>", "<h1>Hello!</h1>", false, "real edit"),
            (
                "<lastmod>2024-05-01</lastmod><loc>/a/</loc>",
                "<lastmod>2024-05-02</lastmod><loc>/b/</loc>",
                false,
                "date and content",
            ),
            (
                "<a href=/posts/my-long-post-title/>",
                "<a href=/posts/my-longer-post-title/>",
                false,
                "lowercase slug is content",
            ),
            ("same", "same", false, "identical is not churn"),
            (
                "Posted in 2024",
                "Posted in 2025",
                false,
                "bare year is content",
            ),
        ];
        for (old, new, want, what) in cases {
            assert_eq!(
                is_churn(old.as_bytes(), new.as_bytes()),
                *want,
                "{what}: {:?} vs {:?}",
                normalise(old),
                normalise(new)
            );
        }
    }

    #[test]
    fn binary_is_never_churn() {
        assert!(!is_churn(b"\x89PNG\0\x01", b"\x89PNG\0\x02"));
        assert!(!is_churn(&[0xff, 0xfe, b'a'], &[0xff, 0xfe, b'b']));
    }
}
