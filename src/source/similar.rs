//! Similar pages: which deleted HTML page and which added one hold mostly the same text, for redirects from
//! renamed pages whose content was edited too (exact renames, the same blob, the planner finds on its own).
//!
//! The score is git's rename similarity in spirit: the bytes of the lines the two files share (as a multiset)
//! over the size of the larger file, 0..=100. Reads blob bytes, so it lives here; it returns plain path pairs
//! and decides nothing else (the planner turns them into redirects). Edited pages match only at the same depth
//! (`same_depth`).
//!
//! Bounded, in pages and in bytes, so that a publish never reads a site's worth of blobs to guess at renames:
//!
//! | bound                                   | value     | beyond it                                       |
//! |-----------------------------------------|-----------|-------------------------------------------------|
//! | deleted or added pages ([`MAX_CANDIDATES`]) | 200 a side | nothing is compared (a restructure is not a set of renames) |
//! | one page ([`MAX_PAGE_BYTES`])           | 1 MiB     | that page is not read (its size comes from the object header) |
//! | all pages read ([`MAX_TOTAL_BYTES`])    | 16 MiB a side | the pages after it, in the diff's order, are not read |
//!
//! At worst 32 MiB are read and held, instead of 400 whole blobs of any size.

use std::collections::HashMap;

use crate::plan::{Change, ChangeKind};

use super::repo::Repo;

/// More deleted or added pages than this on one side: no similarity search.
pub const MAX_CANDIDATES: usize = 200;
/// A page larger than this is not read or compared.
pub const MAX_PAGE_BYTES: u64 = 1 << 20;
/// The pages read on one side (deleted, or added) hold at most this many bytes together.
pub const MAX_TOTAL_BYTES: u64 = 16 << 20;

/// Which pages of one side to read, given their sizes in the diff's order (`None`: the size can't be read):
/// each at most `per_page` bytes, together at most `total`.
fn within_budget(sizes: &[Option<u64>], per_page: u64, total: u64) -> Vec<bool> {
    let mut left = total;
    (sizes.iter())
        .map(|size| match size {
            Some(n) if *n <= per_page && *n <= left => {
                left -= n;
                true
            }
            _ => false,
        })
        .collect()
}

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
        // Sizes from the object headers first: only pages within the budget are read.
        let read = |v: &[(&str, &str)]| -> Vec<(String, String, Vec<u8>)> {
            let sizes: Vec<Option<u64>> = v.iter().map(|(_, b)| reader.size(b).ok()).collect();
            let wanted = within_budget(&sizes, MAX_PAGE_BYTES, MAX_TOTAL_BYTES);
            (v.iter().zip(wanted))
                .filter(|(_, w)| *w)
                .filter_map(|((p, b), _)| {
                    Some((p.to_string(), b.to_string(), reader.read(b).ok()?))
                })
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

    /// Finding 12: a page above the per-page cap is never read, and the pages after the total budget are not
    /// either; what fits is read in order.
    #[test]
    fn finding_12_huge_pages_and_pages_beyond_the_budget_are_not_read() {
        let mib = 1u64 << 20;
        let sizes = [
            Some(10),
            Some(4 << 30),
            None,
            Some(mib),
            Some(mib + 1),
            Some(3),
            Some(5),
        ];
        assert_eq!(
            super::within_budget(&sizes, mib, mib + 12),
            [true, false, false, true, false, false, false],
            "the 4 GiB page is skipped, the budget runs out after 1 MiB + 10 bytes"
        );
        assert_eq!(
            super::within_budget(&[Some(1); 5], 10, 3),
            [true, true, true, false, false]
        );
    }

    /// Finding 12 against a real repository: a renamed 2 MiB page is not compared (not read: the similarity
    /// search reads object headers first), while the same edit of a small page is found.
    #[test]
    fn finding_12_a_huge_renamed_page_is_not_read_whole() {
        use crate::plan::{Change, ChangeKind};
        use crate::source::test_repo::{commit, git, new_repo, write};
        let d = new_repo();
        let big: String = (0..60_000).map(|i| format!("<p>line {i}</p>\n")).collect();
        assert!(big.len() as u64 > super::MAX_PAGE_BYTES);
        let small: String = (0..50).map(|i| format!("<p>line {i}</p>\n")).collect();
        write(d.path(), "old/index.html", &big);
        write(d.path(), "a/index.html", &small);
        commit(d.path());
        let blob = |p: &str| {
            git(d.path(), &["rev-parse", &format!("HEAD:{p}")])
                .trim()
                .to_string()
        };
        let (old_big, old_small) = (blob("old/index.html"), blob("a/index.html"));
        std::fs::remove_dir_all(d.path().join("old")).unwrap();
        std::fs::remove_dir_all(d.path().join("a")).unwrap();
        write(d.path(), "new/index.html", &format!("{big}<p>edited</p>\n"));
        write(d.path(), "b/index.html", &format!("{small}<p>edited</p>\n"));
        commit(d.path());
        let change = |path: &str, kind, old: Option<String>, new: Option<String>| Change {
            path: path.into(),
            kind,
            blob: new,
            size: 0,
            old_blob: old,
            executable: false,
        };
        let changes = [
            change("old/index.html", ChangeKind::Deleted, Some(old_big), None),
            change("a/index.html", ChangeKind::Deleted, Some(old_small), None),
            change(
                "new/index.html",
                ChangeKind::Added,
                None,
                Some(blob("new/index.html")),
            ),
            change(
                "b/index.html",
                ChangeKind::Added,
                None,
                Some(blob("b/index.html")),
            ),
        ];
        let repo = crate::source::Repo::open(d.path()).unwrap();
        assert_eq!(
            repo.similar_pages(&changes, 50),
            [("a/index.html".to_string(), "b/index.html".to_string())]
        );
    }

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
