//! setup's ACM calls (us-east-1, where CloudFront's certificates live): find the certificate that covers every
//! alias the distribution will have, and request one when none does (DNS validation, tagged for the site, with
//! an idempotency token derived from the site and the names).

use aws_sdk_acm::types::CertificateStatus;

use super::clients::{build_err, Clients};
use crate::aws::classify;
use crate::exec::StoreError;
use crate::identity::{Site, TagOwner};
use crate::setup::{covers, CertSeen, Wants, TAG_KEY};

/// A certificate that covers every one of `names`, issued or waiting for validation: the distribution's own
/// (`current`, also returned on its own for `--check`) when it does, else the one tagged for this site,
/// else the first listed. Using another site's certificate changes nothing of it. Only certificates whose
/// domain name is one of `names` are read (setup requests its own that way).
pub(super) async fn find(
    c: &Clients,
    w: &Wants,
    names: &[String],
    current: &str,
) -> Result<(Option<CertSeen>, Option<CertSeen>), StoreError> {
    let serving = match current {
        "" => None,
        arn => Some(describe(c, arn).await?),
    };
    if let Some(s) = serving.as_ref().filter(|s| covers(&s.names, names)) {
        return Ok((Some(s.clone()), serving));
    }
    let what = format!("the ACM certificates (us-east-1) for {}", names.join(", "));
    let mut arns = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = (c.acm.list_certificates())
            .certificate_statuses(CertificateStatus::Issued)
            .certificate_statuses(CertificateStatus::PendingValidation)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| classify(&e, &what, None))?;
        arns.extend(
            (page.certificate_summary_list().iter())
                .filter(|s| {
                    s.domain_name()
                        .is_some_and(|d| names.iter().any(|n| n.eq_ignore_ascii_case(d)))
                })
                .filter_map(|s| s.certificate_arn().map(str::to_string)),
        );
        match page.next_token() {
            Some(t) if !t.is_empty() && Some(t) != token.as_deref() => token = Some(t.to_string()),
            _ => break,
        }
    }
    let mut first = None;
    for arn in &arns {
        let cert = describe(c, arn).await?;
        if !covers(&cert.names, names) {
            continue;
        }
        if ours(c, w, arn).await? {
            return Ok((Some(cert), serving));
        }
        first.get_or_insert(cert);
    }
    Ok((first, serving))
}

/// Whether the certificate carries this site's tag.
async fn ours(c: &Clients, w: &Wants, arn: &str) -> Result<bool, StoreError> {
    let tags = (c.acm.list_tags_for_certificate().certificate_arn(arn))
        .send()
        .await
        .map_err(|e| classify(&e, arn, None))?;
    Ok((tags.tags().iter()).any(|t| {
        t.key() == TAG_KEY
            && t.value()
                .is_some_and(|v| w.site.tag_owner(v) == TagOwner::This)
    }))
}

pub(super) async fn describe(c: &Clients, arn: &str) -> Result<CertSeen, StoreError> {
    let d = (c.acm.describe_certificate().certificate_arn(arn))
        .send()
        .await
        .map_err(|e| classify(&e, arn, None))?;
    let cert = d
        .certificate()
        .ok_or_else(|| StoreError::failed(format!("{arn}: empty answer"), ""))?;
    let validation = (cert.domain_validation_options().iter())
        .filter_map(|o| o.resource_record())
        .map(|r| (r.name().to_string(), r.value().to_string()))
        .collect();
    let mut names: Vec<String> = cert.domain_name().into_iter().map(str::to_string).collect();
    for n in cert.subject_alternative_names() {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    Ok(CertSeen {
        arn: arn.to_string(),
        names,
        issued: cert.status() == Some(&CertificateStatus::Issued),
        validation,
    })
}

/// One certificate for `names` (the first is its domain name, the rest its alternative names).
pub(super) async fn request(
    c: &Clients,
    w: &Wants,
    names: &[String],
) -> Result<CertSeen, StoreError> {
    use aws_sdk_acm::types::{Tag, ValidationMethod};
    let listed = names.join(", ");
    let (domain, others) = names
        .split_first()
        .ok_or_else(|| StoreError::failed("a certificate for no name", ""))?;
    let tag = Tag::builder()
        .key(TAG_KEY)
        .value(w.site.tag_value())
        .build()
        .map_err(build_err)?;
    let out = (c.acm.request_certificate().domain_name(domain))
        .set_subject_alternative_names((!others.is_empty()).then(|| others.to_vec()))
        .validation_method(ValidationMethod::Dns)
        // The same token on a re-run within the hour returns the same certificate instead of a second one;
        // it comes from the names and the site, so another site's request is never answered with this one.
        .idempotency_token(token(&w.site, names))
        .tags(tag)
        .send()
        .await
        .map_err(|e| classify(&e, &format!("an ACM certificate for {listed}"), None))?;
    let arn = out
        .certificate_arn()
        .ok_or_else(|| StoreError::failed(format!("certificate for {listed}: no ARN"), ""))?;
    describe(c, arn).await
}

/// ACM's idempotency token (at most 32 word characters) for this site's certificate of `names` (for one
/// name, the token setup always sent for `--domain`).
pub fn token(site: &Site, names: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(format!("{}\0{}", site.id(), names.join("\0")).as_bytes());
    format!("gitpublish{}", &hex::encode(h)[..22])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Per site and per set of names; one name keeps the token of earlier versions (a re-run within the
    /// hour finds the certificate they requested).
    #[test]
    fn tokens_differ_per_site_and_names() {
        let a = Site::new("production", "blog", "");
        let b = Site::new("production", "blog", "staging");
        let one = vec!["blog.example.com".to_string()];
        let two = vec![
            "blog.example.com".to_string(),
            "*.preview.blog.example.com".to_string(),
        ];
        assert_ne!(token(&a, &one), token(&b, &one));
        assert_ne!(token(&a, &one), token(&a, &two));
        let t = token(&a, &two);
        assert!(
            t.len() <= 32 && t.chars().all(|c| c.is_ascii_alphanumeric()),
            "{t}"
        );
        use sha2::{Digest, Sha256};
        let before = Sha256::digest(format!("{}\0blog.example.com", a.id()).as_bytes());
        assert_eq!(
            token(&a, &one),
            format!("gitpublish{}", &hex::encode(before)[..22])
        );
    }
}
