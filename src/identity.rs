//! A site's identity in a cloud account, and every name and mark derived from it.
//!
//! One AWS account holds many sites, and names there are per account (CloudFront Functions, KeyValueStores,
//! origin access controls, IAM roles) or shared (a bucket's policy and tags). A site is a target of a
//! repository: (bucket, prefix, target name). Everything git-publish creates for it carries:
//! - a **name** that is unique per site and stable: the readable part (`git-publish-<target>-<bucket>[-<prefix>]`,
//!   folded to the characters the service allows and cut to fit) always ends with `-<id>`, the first 8 hex
//!   digits of a SHA-256 of the full identity. The readable part alone can't be trusted: `-` is allowed in
//!   target and bucket names (`a-b` + `c` and `a` + `b-c`), `.` folds to `-`, and long names are cut.
//! - an **owner mark** that names the id: the comment of a function or KeyValueStore (`git-publish site <id>:
//!   ...`), the value of the `git-publish:site` tag of a distribution or certificate (`<target> <id>`), the
//!   bucket tag `git-publish:site:<id>`, the Sid of a bucket policy statement (`GitPublish<id>...`).
//!
//! Something is this site's only when its mark names this id; anything else is left alone and reported.
//!
//! | site (target, bucket, prefix)          | name (CloudFront Function, 64 max)                     |
//! |----------------------------------------|--------------------------------------------------------|
//! | production, blog.example.com, ""       | `git-publish-production-blog-example-com-<id>`         |
//! | production, blog-example-com, ""       | `git-publish-production-blog-example-com-<other id>`   |
//! | staging, blog, "staging"               | `git-publish-staging-blog-staging-<id>`                |
//!
//! Pure: strings in, strings out.

use sha2::{Digest, Sha256};

/// The tag key on distributions and certificates (value [`Site::tag_value`]), and the prefix of the bucket's
/// per-site tag keys ([`Site::bucket_tag_key`]).
pub const TAG_KEY: &str = "git-publish:site";

/// A site: where its files live and the target's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub target: String,
    /// The bucket (or, for a local directory, its path).
    pub bucket: String,
    /// The key prefix, no slashes at the ends ("" for the bucket root).
    pub prefix: String,
}

impl Site {
    pub fn new(target: &str, bucket: &str, prefix: &str) -> Site {
        Site {
            target: target.to_string(),
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        }
    }

    /// 8 hex digits of a SHA-256 over the full identity (each part length-prefixed, so no two identities
    /// share their input).
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        for part in ["git-publish site", &self.bucket, &self.prefix, &self.target] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        hex::encode(&h.finalize()[..4])
    }

    /// `s3://bucket/prefix`, for messages and marks.
    pub fn location(&self) -> String {
        match self.prefix.as_str() {
            "" => format!("s3://{}", self.bucket),
            p => format!("s3://{}/{p}", self.bucket),
        }
    }

    /// `production (s3://blog/site)`.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.target, self.location())
    }

    /// A resource name of at most `max` characters from `[A-Za-z0-9-_]`: the readable part, folded and cut,
    /// then `-<id>`. Used for the CloudFront Function (and its KeyValueStore), the origin access control and
    /// the IAM role of `setup --github`.
    pub fn name(&self, max: usize) -> String {
        let mut readable = format!("git-publish-{}-{}", self.target, self.bucket);
        if !self.prefix.is_empty() {
            readable = format!("{readable}-{}", self.prefix);
        }
        let mut folded: String = (readable.chars())
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
                _ => '-',
            })
            .collect();
        let id = self.id();
        folded.truncate(max.saturating_sub(id.len() + 1));
        format!("{}-{id}", folded.trim_end_matches('-'))
    }

    /// The name of the CloudFront Function (and of its KeyValueStore): 64 characters at most.
    pub fn function_name(&self) -> String {
        self.name(64)
    }

    /// The name of the viewer-response function that marks branch previews `noindex` (made only with
    /// `[targets.NAME.previews]`): the readable part cut shorter, then `-response-<id>`, so that it is
    /// never the viewer-request function's name, this site's or another's (theirs ends with their own id).
    pub fn response_function_name(&self) -> String {
        let id_part = self.name(64);
        let id = self.id();
        let readable = id_part.trim_end_matches(&format!("-{id}"));
        let mut cut = readable.to_string();
        cut.truncate(64 - id.len() - "-response-".len());
        format!("{}-response-{id}", cut.trim_end_matches('-'))
    }

    /// The mark a comment starts with: `git-publish site <id>`.
    pub fn mark(&self) -> String {
        format!("git-publish site {}", self.id())
    }

    /// A comment for something made for this site: the mark, then `what` and the site, cut to the 128
    /// characters CloudFront takes.
    pub fn comment(&self, what: &str) -> String {
        let full = format!("{}: {what} for {}", self.mark(), self.describe());
        full.chars().take(128).collect()
    }

    /// Whether a comment carries this site's mark (and not a longer id that starts with it).
    pub fn owns_comment(&self, comment: &str) -> bool {
        let mark = self.mark();
        comment.match_indices(&mark).any(|(at, _)| {
            !comment[at + mark.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_hexdigit())
        })
    }

    /// The value of the `git-publish:site` tag: `<target> <id>`.
    pub fn tag_value(&self) -> String {
        format!("{} {}", self.target, self.id())
    }

    /// Who a `git-publish:site` tag value names, relative to this site.
    pub fn tag_owner(&self, value: &str) -> TagOwner {
        if value.rsplit(' ').next() == Some(self.id().as_str()) && value.contains(' ') {
            TagOwner::This
        } else if value == self.target {
            // Written before tags carried the id: the target's name only.
            TagOwner::LegacyName
        } else {
            TagOwner::Other(value.to_string())
        }
    }

    /// This site's tag key on a bucket that may hold several sites: `git-publish:site:<id>`.
    pub fn bucket_tag_key(&self) -> String {
        format!("{TAG_KEY}:{}", self.id())
    }

    /// A bucket policy statement's Sid for this site: `GitPublish<id><what>` (Sids take letters and digits).
    pub fn sid(&self, what: &str) -> String {
        format!("GitPublish{}{what}", self.id())
    }
}

/// What a `git-publish:site` tag says about who owns something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagOwner {
    /// This site's id.
    This,
    /// The target's name alone (tags written before they carried the id): this site's only if the rest
    /// agrees (the same bucket and prefix).
    LegacyName,
    /// Another site: the tag's value.
    Other(String),
}

/// The name a preview target carries: `<target>@<name>` (no target name holds `@`, and it is a valid ref
/// name for the `refs/publish/<target>` mirror).
pub fn preview_target_name(target: &str, name: &str) -> String {
    format!("{target}@{name}")
}

/// Whether a target (by name) is a preview ([`preview_target_name`]).
pub fn is_preview(target: &str) -> bool {
    target.contains('@')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(target: &str, bucket: &str, prefix: &str) -> Site {
        Site::new(target, bucket, prefix)
    }

    /// Finding 1 of the third review: names that were cut or folded to the same string are now distinct,
    /// and each is stable, within the service's limits and alphabet.
    #[test]
    fn finding_1_names_are_unique_per_site_and_stable() {
        let long_us = site(
            "production",
            "acme-corp-marketing-website-static-content-us",
            "",
        );
        let long_eu = site(
            "production",
            "acme-corp-marketing-website-static-content-eu",
            "",
        );
        let dotted = site("production", "blog.example.com", "");
        let dashed = site("production", "blog-example-com", "");
        let split_a = site("a-b", "c", "");
        let split_b = site("a", "b-c", "");
        let prefix_a = site("production", "blog", "a");
        let prefix_b = site("production", "blog", "b");
        let pairs = [
            (&long_us, &long_eu),
            (&dotted, &dashed),
            (&split_a, &split_b),
            (&prefix_a, &prefix_b),
        ];
        for (x, y) in pairs {
            assert_ne!(x.function_name(), y.function_name(), "{x:?} {y:?}");
            assert_ne!(x.id(), y.id());
        }
        for s in [&long_us, &long_eu, &dotted, &dashed, &split_a, &prefix_a] {
            let n = s.function_name();
            assert!(n.len() <= 64, "{n}");
            assert!(n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
            assert!(n.ends_with(&format!("-{}", s.id())), "{n}");
            assert_eq!(n, s.clone().function_name(), "stable");
        }
        assert_eq!(
            site("production", "blog", "").function_name(),
            format!(
                "git-publish-production-blog-{}",
                site("production", "blog", "").id()
            )
        );
        // The prefix's slashes at the ends are not part of the identity.
        assert_eq!(site("p", "b", "/x/").id(), site("p", "b", "x").id());
        // The viewer-response function's name: as unique, within the limit, never the other name.
        for s in [&long_us, &long_eu, &dotted, &split_a, &prefix_a] {
            let n = s.response_function_name();
            assert!(n.len() <= 64, "{n}");
            assert!(n.ends_with(&format!("-response-{}", s.id())), "{n}");
            assert_ne!(n, s.function_name());
        }
        assert_ne!(
            long_us.response_function_name(),
            long_eu.response_function_name()
        );
        assert_eq!(
            site("production", "blog", "").response_function_name(),
            format!(
                "git-publish-production-blog-response-{}",
                site("production", "blog", "").id()
            )
        );
    }

    #[test]
    fn comments_and_tags_name_the_owner() {
        let a = site("production", "blog", "");
        let b = site("production", "blog", "staging");
        let c = a.comment("directory indexes and redirects");
        assert!(
            c.starts_with(&format!("git-publish site {}: ", a.id())),
            "{c}"
        );
        assert!(c.len() <= 128);
        assert!(a.owns_comment(&c) && !b.owns_comment(&c));
        assert!(!a.owns_comment("git-publish: directory indexes, pretty URLs and redirects"));
        let long = site(&"t".repeat(60), &"b".repeat(63), &"p/".repeat(200));
        assert!(long.comment("x").chars().count() <= 128);
        assert!(long.owns_comment(&long.comment("x")));

        assert_eq!(a.tag_owner(&a.tag_value()), TagOwner::This);
        assert_eq!(a.tag_owner("production"), TagOwner::LegacyName);
        assert_eq!(a.tag_owner(&b.tag_value()), TagOwner::Other(b.tag_value()));
        assert!(a
            .sid("ReadsTheSite")
            .chars()
            .all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.sid("ReadsTheSite"), b.sid("ReadsTheSite"));
        assert_eq!(a.bucket_tag_key(), format!("git-publish:site:{}", a.id()));
    }
}
