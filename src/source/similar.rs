//! Similar pages: which deleted HTML page and which added one hold mostly the same text, for redirects from
//! renamed pages whose content was edited too (exact renames, the same blob, the planner finds on its own).
//!
//! The score is git's rename similarity in spirit: the bytes of the lines the two files share (as a multiset)
//! over the size of the larger file, 0..=100. Reads blob bytes, so it lives here; it returns plain path pairs
//! and decides nothing else (the planner turns them into redirects). Bounded: with more than
//! [`MAX_CANDIDATES`] deleted or added pages on either side it compares nothing (a site-wide restructure is not
//! a set of renames to guess at).

use std::collections::HashMap;

use crate::plan::{Change, ChangeKind};

use super::Repo;

/// More deleted or added pages than this on one side: no similarity search.
pub const MAX_CANDIDATES: usize = 200;

fn is_page(path: &str) -> bool {
    path.ends_with(".html") || path.ends_with(".htm")
}

/// Similarity of two texts, 0..=100: bytes of shared lines over the larger size.
pub fn similarity(a: &[u8], b: &[u8]) -> u8 {
    let larger = a.len().max(b.len());
    if larger == 0 {
        return 100;
    }
    let mut lines: HashMap<&[u8], isize> = HashMap::new();
    for l in a.split_inclusive(|&c| c == b'\n') {
        *lines.entry(l).or_default() += 1;
    }
    let mut shared = 0usize;
    for l in b.split_inclusive(|&c| c == b'\n') {
        if let Some(n) = lines.get_mut(l).filter(|n| **n > 0) {
            *n -= 1;
            shared += l.len();
        }
    }
    (shared * 100 / larger) as u8
}

impl Repo {
    /// Pairs (deleted page, added page) with a similarity of at least `threshold`, best first and each page
    /// used once. Pages whose blob was deleted and added unchanged are left to the planner; blobs that can't
    /// be read are skipped.
    pub fn similar_pages(&self, changes: &[Change], threshold: u8) -> Vec<(String, String)> {
        let side = |kind, blob: fn(&Change) -> Option<&String>| -> Vec<(&str, &str)> {
            (changes.iter())
                .filter(|c| c.kind == kind && is_page(&c.path))
                .filter_map(|c| blob(c).map(|b| (c.path.as_str(), b.as_str())))
                .collect()
        };
        let deleted = side(ChangeKind::Deleted, |c| c.old_blob.as_ref());
        let added = side(ChangeKind::Added, |c| c.blob.as_ref());
        if deleted.is_empty() || added.is_empty() || deleted.len().max(added.len()) > MAX_CANDIDATES
        {
            return Vec::new();
        }
        let Ok(reader) = self.blob_reader() else {
            return Vec::new();
        };
        let read = |v: &[(&str, &str)]| -> Vec<(String, String, Vec<u8>)> {
            (v.iter())
                .filter_map(|(p, b)| Some((p.to_string(), b.to_string(), reader.read(b).ok()?)))
                .collect()
        };
        let (old, new) = (read(&deleted), read(&added));
        let mut scored = Vec::new();
        for (op, ob, obytes) in &old {
            for (np, nb, nbytes) in &new {
                if ob == nb {
                    continue;
                }
                let score = similarity(obytes, nbytes);
                if score >= threshold {
                    scored.push((std::cmp::Reverse(score), op.clone(), np.clone()));
                }
            }
        }
        scored.sort();
        let mut out: Vec<(String, String)> = Vec::new();
        for (_, o, n) in scored {
            if !out.iter().any(|(a, b)| *a == o || *b == n) {
                out.push((o, n));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::similarity;

    #[test]
    fn similarity_counts_shared_lines_over_the_larger_file() {
        let a = b"<h1>Title</h1>\n<p>one</p>\n<p>two</p>\n<p>three</p>\n";
        let b = b"<h1>Title!</h1>\n<p>one</p>\n<p>two</p>\n<p>three</p>\n";
        assert!(
            (60..100).contains(&similarity(a, b)),
            "{}",
            similarity(a, b)
        );
        assert_eq!(similarity(a, a), 100);
        assert!(similarity(a, b"<p>other</p>\n") < 10);
        assert_eq!(similarity(b"", b""), 100);
    }
}
