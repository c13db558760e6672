//! Similar pages: which deleted HTML page and which added one hold mostly the same text, for redirects from
//! renamed pages whose content was edited too (exact renames, the same blob, the planner finds on its own).
//!
//! The score is git's rename similarity in spirit: the bytes of the lines the two files share (as a multiset)
//! over the size of the larger file, 0..=100. Reads blob bytes, so it lives here; it returns plain path pairs
//! and decides nothing else (the planner turns them into redirects). Bounded: with more than
//! [`MAX_CANDIDATES`] deleted or added pages on either side it compares nothing (a site-wide restructure is not
//! a set of renames to guess at). Edited pages match only at the same depth (`same_depth`).

use std::collections::HashMap;

use crate::plan::{Change, ChangeKind};

use super::Repo;

/// More deleted or added pages than this on one side: no similarity search.
pub const MAX_CANDIDATES: usize = 200;

fn is_page(path: &str) -> bool {
    path.ends_with(".html") || path.ends_with(".htm")
}

/// A text as the multiset of its lines: (line id, count, bytes of one), sorted by id. Ids come from one
/// [`Interner`], so that two texts compare by a merge of integers.
type Lines = Vec<(u32, usize, usize)>;

#[derive(Default)]
struct Interner<'a>(HashMap<&'a [u8], u32>);

impl<'a> Interner<'a> {
    fn lines(&mut self, text: &'a [u8]) -> Lines {
        let mut counts: HashMap<u32, (usize, usize)> = HashMap::new();
        for l in text.split_inclusive(|&c| c == b'\n') {
            let next = self.0.len() as u32;
            let id = *self.0.entry(l).or_insert(next);
            counts.entry(id).or_insert((0, l.len())).0 += 1;
        }
        let mut out: Lines = counts
            .into_iter()
            .map(|(id, (n, len))| (id, n, len))
            .collect();
        out.sort_unstable();
        out
    }
}

/// Similarity of two texts given as [`Lines`] and sizes, 0..=100: bytes of shared lines over the larger size.
fn score(a: &Lines, a_len: usize, b: &Lines, b_len: usize) -> u8 {
    let larger = a_len.max(b_len);
    if larger == 0 {
        return 100;
    }
    let (mut i, mut j, mut shared) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += a[i].1.min(b[j].1) * a[i].2;
                i += 1;
                j += 1;
            }
        }
    }
    (shared * 100 / larger) as u8
}

/// Similarity of two texts, 0..=100: bytes of shared lines over the larger size.
#[cfg(test)]
fn similarity(a: &[u8], b: &[u8]) -> u8 {
    let mut ids = Interner::default();
    let (la, lb) = (ids.lines(a), ids.lines(b));
    score(&la, a.len(), &lb, b.len())
}

/// Edited pages count as moved only within the same depth (a post whose slug or date changed keeps it): a
/// theme's shared markup can make a deleted tag page look like a new post, and those differ in depth.
fn same_depth(a: &str, b: &str) -> bool {
    a.matches('/').count() == b.matches('/').count()
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
        // Each file's lines once; then each pair is a merge of two sorted lists of line ids.
        let mut ids = Interner::default();
        let old_lines: Vec<Lines> = old.iter().map(|(_, _, b)| ids.lines(b)).collect();
        let new_lines: Vec<Lines> = new.iter().map(|(_, _, b)| ids.lines(b)).collect();
        let mut scored = Vec::new();
        for ((op, ob, obytes), ol) in old.iter().zip(&old_lines) {
            for ((np, nb, nbytes), nl) in new.iter().zip(&new_lines) {
                if ob == nb || !same_depth(op, np) {
                    continue;
                }
                let score = score(ol, obytes.len(), nl, nbytes.len());
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
    fn edited_pages_move_only_within_their_depth() {
        assert!(super::same_depth(
            "2024/01/03/three/index.html",
            "2024/03/03/three/index.html"
        ));
        assert!(!super::same_depth(
            "tags/rust/index.html",
            "2024/01/01/new-post/index.html"
        ));
    }

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
