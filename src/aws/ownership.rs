//! What the CloudFront adapters share and nothing else needs: whether a function or KeyValueStore is this
//! site's (its comment carries the site's mark), CloudFront's "no such …" answer, and whether an origin is the
//! site's bucket. A leaf: `cloudfront.rs`, `cdn_function.rs` and `kvs.rs` import it, never each other back.

use aws_sdk_cloudfront::error::SdkError;

use crate::exec::StoreError;
use crate::identity::Site;

/// CloudFront's "no such …" error (NoSuchFunctionExists, EntityNotFound), or a bare 404 (moto answers some
/// without a body). Shared by `cdn_function` and `kvs`.
pub(super) fn missing<E>(
    e: &SdkError<E, aws_sdk_cloudfront::config::http::HttpResponse>,
    is_missing: impl Fn(&E) -> bool,
) -> bool {
    e.as_service_error().is_some_and(is_missing)
        || e.raw_response().is_some_and(|r| r.status().as_u16() == 404)
}

/// `what` (a function or KeyValueStore of this site's name) is this site's only when its comment carries the
/// site's mark: one made by hand, or by another site, is left alone.
pub(super) fn check_owner(what: &str, comment: &str, site: &Site) -> Result<(), StoreError> {
    if site.owns_comment(comment) {
        return Ok(());
    }
    Err(StoreError::failed(
        format!(
            "{what} exists and is not this site's (its comment {comment:?} does not name {}, the mark of \
             site {}): it was made by hand or by another tool, and is left alone",
            site.mark(),
            site.describe()
        ),
        "`git publish setup --adopt` takes it over for this site (it shows the difference first); or rename \
         or delete it",
    ))
}

/// Whether a CloudFront origin domain is this S3 bucket (REST or website endpoint, any region form).
pub fn origin_is_bucket(domain: &str, bucket: &str) -> bool {
    let d = domain.to_ascii_lowercase();
    let Some(rest) = d.strip_prefix(bucket).and_then(|r| r.strip_prefix('.')) else {
        return false;
    };
    let rest = rest.trim_end_matches('.');
    rest == "s3.amazonaws.com"
        || (rest.starts_with("s3.") || rest.starts_with("s3-website"))
            && (rest.ends_with(".amazonaws.com") || rest.ends_with(".amazonaws.com.cn"))
}
