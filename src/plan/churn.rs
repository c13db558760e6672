//! Churn: files that a build rewrites although only a timestamp or a build id changed (a sitemap's
//! `<lastmod>`, a feed's `<pubDate>`, a generator's build hash, a `?v=` cache buster). They cost an upload and
//! an invalidation on every publish, so the plan names them.
//!
//! Pure: given the old and new bytes of one modified file, [`is_churn`] says whether they differ only in such
//! volatile tokens. Both sides are normalised (each volatile token replaced by a placeholder) and compared.
//! Binary files (not UTF-8, or holding NUL) are never churn. It must not read the bytes itself: the caller
//! (publish) reads them and fills in [`super::Plan::churn`]; [`super::build`] leaves it empty. To teach it a new
//! volatile token: add a regex below and a row to `tests::churn_table`.
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

/// Bytes no volatile token contains: the texts are cut at them (see [`differing`]).
fn is_delimiter(b: u8) -> bool {
    matches!(b, b'\n' | b'"' | b'\'' | b'<' | b'>')
}

/// The parts of `old` and `new` that differ, widened to delimiters: everything before them is a common
/// prefix that ends in a delimiter, everything after a common suffix that starts with one. No token
/// contains a delimiter, so no match of the patterns crosses one, and normalising the whole texts gives
/// equal results exactly when normalising these parts does. A new entry in a 1 MB sitemap is then a few
/// hundred bytes to normalise, not 2 MB.
fn differing<'a>(old: &'a str, new: &'a str) -> (&'a str, &'a str) {
    let (o, n) = (old.as_bytes(), new.as_bytes());
    let mut prefix = o.iter().zip(n).take_while(|(a, b)| a == b).count();
    let most = o.len().min(n.len()) - prefix;
    let mut suffix = o
        .iter()
        .rev()
        .zip(n.iter().rev())
        .take(most)
        .take_while(|(a, b)| a == b)
        .count();
    while prefix > 0 && !is_delimiter(o[prefix - 1]) {
        prefix -= 1;
    }
    let tail = &o[o.len() - suffix..];
    suffix -= tail.iter().position(|b| is_delimiter(*b)).unwrap_or(suffix);
    // Cut next to ASCII delimiters (or at the ends), so these are character boundaries.
    (
        &old[prefix..old.len() - suffix],
        &new[prefix..new.len() - suffix],
    )
}

/// True when `old` and `new` differ and the only differences are volatile tokens.
pub fn is_churn(old: &[u8], new: &[u8]) -> bool {
    if old == new {
        return false;
    }
    match (text(old), text(new)) {
        (Some(o), Some(n)) => {
            let (o, n) = differing(o, n);
            normalise(o) == normalise(n)
        }
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
            (
                "<a href=/posts/my-first-post-of-2023/>",
                "<a href=/posts/my-second-post-of-2024/>",
                false,
                "slug with digits, no capital, is content",
            ),
            (
                "<h2 id=TheQuickBrownFoxJumps>",
                "<h2 id=TheQuickBrownFoxSleeps>",
                false,
                "mixed-case id without a digit is content",
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

    /// Normalising only the differing parts decides as normalising everything does.
    #[test]
    fn the_differing_parts_decide_as_the_whole_texts() {
        let sitemap = |n: usize, day: u32| {
            let mut s = String::from("<urlset>\n");
            for i in 0..n {
                s += &format!(
                    "<url><loc>/posts/p{i}/</loc><lastmod>2024-05-{day:02}</lastmod></url>\n"
                );
            }
            s + "</urlset>\n"
        };
        let base = sitemap(50, 1);
        let mut pairs: Vec<(String, String)> = vec![
            (base.clone(), sitemap(50, 2)),
            (base.clone(), sitemap(51, 1)),
            (base.clone(), base.replace("p7/", "p7x/")),
            (base.clone(), base.replacen("2024-05-01", "2024-06-11", 1)),
            (base.clone(), base.replace("</urlset>", "</urlset> ")),
            ("x 2024-05-01".into(), "x 2024-05-02".into()),
            ("a\"b".into(), "a\"c".into()),
            ("\"3f2a9c1b\"".into(), "\"3f2a9c1c\"".into()),
            ("id 3f2a9c1b".into(), "id 3f2a9c1b3".into()),
            ("é<b>2024-05-01".into(), "é<b>2024-05-03".into()),
            (
                "Wed, 01 May 2024 10:00:00 GMT\"".into(),
                "Thu, 02 May 2024 10:00:00 GMT\"".into(),
            ),
            ("?v=1\"".into(), "?v=2\"".into()),
            ("".into(), "<".into()),
        ];
        // Every one-byte edit of a small sitemap, at every position.
        let small = sitemap(2, 1);
        for i in 0..small.len() {
            let mut b = small.clone().into_bytes();
            b[i] = if b[i] == b'1' { b'2' } else { b'1' };
            if let Ok(t) = String::from_utf8(b) {
                pairs.push((small.clone(), t));
            }
        }
        for (o, n) in &pairs {
            let whole = o != n && normalise(o) == normalise(n);
            assert_eq!(
                is_churn(o.as_bytes(), n.as_bytes()),
                whole,
                "{o:?} vs {n:?}"
            );
        }
    }

    #[test]
    fn binary_is_never_churn() {
        assert!(!is_churn(b"\x89PNG\0\x01", b"\x89PNG\0\x02"));
        assert!(!is_churn(&[0xff, 0xfe, b'a'], &[0xff, 0xfe, b'b']));
    }
}
