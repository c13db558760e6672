//! `setup --route53`: the certificate's validation CNAMEs and each host's A/AAAA aliases to the distribution,
//! each in the public hosted zone that holds its name (the domain and the previews' wildcard may live in two
//! zones). Reads into a [`DnsSeen`]; writes CREATE (refused by Route 53 when a record of that name exists, so
//! a record made meanwhile is never overwritten) or, with `--adopt`, UPSERT.
//!
//! Route 53 answers names with characters outside `[a-z0-9-_]` as octal escapes (`*.example.com` comes back as
//! `\052.example.com.`): names are compared with those decoded.

use std::collections::HashMap;

use aws_sdk_route53::types::{ResourceRecordSet, RrType};

use super::clients::{build_err, Clients};
use crate::aws::classify;
use crate::exec::StoreError;
use crate::setup::{CertSeen, DistSeen, DnsSeen, HostDns, RecordSeen};

/// CloudFront's hosted zone id, the same for every distribution.
const CLOUDFRONT_ZONE: &str = "Z2FDTNDATAQYW2";

/// A name as Route 53 compares it: lower case, one trailing dot, octal escapes (`\052`) decoded.
fn fqdn(name: &str) -> String {
    let mut out = String::new();
    let mut rest = name;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 4);
        match code.and_then(|c| u8::from_str_radix(c, 8).ok()) {
            Some(b) if b.is_ascii() => {
                out.push(b as char);
                rest = &rest[at + 4..];
            }
            _ => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    format!("{}.", out.trim_end_matches('.')).to_ascii_lowercase()
}

/// The public hosted zones (name, id), read once per run.
struct Zones {
    list: Vec<(String, String)>,
    sets: HashMap<String, Vec<ResourceRecordSet>>,
}

impl Zones {
    async fn read(c: &Clients) -> Result<Zones, StoreError> {
        let mut list = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = (c.route53.list_hosted_zones())
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| classify(&e, "the Route 53 hosted zones", None))?;
            for z in page.hosted_zones() {
                // Records in a private zone answer neither the internet nor ACM's validation.
                if !z.config().is_some_and(|c| c.private_zone()) {
                    let id = z.id().trim_start_matches("/hostedzone/").to_string();
                    list.push((fqdn(z.name()), id));
                }
            }
            match page.next_marker() {
                Some(m) if page.is_truncated() && !m.is_empty() => marker = Some(m.to_string()),
                _ => break,
            }
        }
        Ok(Zones {
            list,
            sets: HashMap::new(),
        })
    }

    /// The id of the zone whose name is the longest suffix of `name`.
    fn zone_of(&self, name: &str) -> Result<String, StoreError> {
        let name = fqdn(name);
        (self.list.iter())
            .filter(|(zone, _)| name == *zone || name.ends_with(&format!(".{zone}")))
            .max_by_key(|(zone, _)| zone.len())
            .map(|(_, id)| id.clone())
            .ok_or_else(|| {
                StoreError::failed(
                    format!("no public Route 53 hosted zone holds {}", name.trim_end_matches('.')),
                    "create the DNS records setup printed at your DNS provider, and run setup without --route53",
                )
            })
    }

    /// Every record set of `zone` (all pages), read once.
    async fn sets(&mut self, c: &Clients, zone: &str) -> Result<&[ResourceRecordSet], StoreError> {
        if !self.sets.contains_key(zone) {
            let read = record_sets(c, zone).await?;
            self.sets.insert(zone.to_string(), read);
        }
        Ok(&self.sets[zone])
    }
}

/// What the zones hold for `hosts` (the domain, the previews' wildcard) and the certificate's validation.
pub(super) async fn observe(
    c: &Clients,
    hosts: &[String],
    cert: Option<&CertSeen>,
    dist: Option<&DistSeen>,
) -> Result<DnsSeen, StoreError> {
    let mut zones = Zones::read(c).await?;
    let mut seen = DnsSeen::default();
    for host in hosts {
        let zone = zones.zone_of(host)?;
        let alias = alias_seen(host, dist, zones.sets(c, &zone).await?);
        seen.hosts.push(HostDns {
            host: host.clone(),
            zone,
            alias,
        });
    }
    seen.validation = RecordSeen::Same;
    let records = cert.map(|c| c.validation.as_slice()).unwrap_or_default();
    if records.is_empty() {
        seen.validation = RecordSeen::Absent;
    }
    for (name, value) in records {
        let zone = zones.zone_of(name)?;
        match validation_seen(name, value, zones.sets(c, &zone).await?) {
            RecordSeen::Same => {}
            RecordSeen::Absent => seen.validation = RecordSeen::Absent,
            other => {
                return Ok(DnsSeen {
                    validation: other,
                    ..seen
                })
            }
        }
    }
    Ok(seen)
}

/// One validation CNAME: there with its value, missing, or that name holding something else.
fn validation_seen(name: &str, value: &str, sets: &[ResourceRecordSet]) -> RecordSeen {
    match sets.iter().find(|r| fqdn(r.name()) == fqdn(name)) {
        None => RecordSeen::Absent,
        Some(r) if (r.resource_records().iter()).any(|v| fqdn(v.value()) == fqdn(value)) => {
            RecordSeen::Same
        }
        Some(r) => {
            let values: Vec<String> = (r.resource_records().iter())
                .map(|v| v.value().to_string())
                .collect();
            RecordSeen::Other(format!("{} {}", r.name(), values.join(" ")))
        }
    }
}

/// The A and AAAA records of `host`: absent, aliases to the distribution, or something else.
fn alias_seen(host: &str, dist: Option<&DistSeen>, sets: &[ResourceRecordSet]) -> RecordSeen {
    let mut found = Vec::new();
    let mut same = 0;
    for kind in [RrType::A, RrType::Aaaa] {
        let Some(r) = sets
            .iter()
            .find(|r| fqdn(r.name()) == fqdn(host) && r.r#type() == &kind)
        else {
            continue;
        };
        let to = match r.alias_target() {
            Some(a) => format!("alias {}", a.dns_name()),
            None => (r.resource_records().iter())
                .map(|v| v.value().to_string())
                .collect::<Vec<_>>()
                .join(" "),
        };
        let ours = (r.alias_target())
            .zip(dist)
            .is_some_and(|(a, d)| fqdn(a.dns_name()) == fqdn(&d.domain_name));
        if ours {
            same += 1;
        } else {
            found.push(format!("{} {to}", kind.as_str()));
        }
    }
    match (found.is_empty(), same) {
        (true, 2) => RecordSeen::Same,
        (true, _) => RecordSeen::Absent,
        (false, _) => RecordSeen::Other(found.join(", ")),
    }
}

/// Every record set of the zone (all pages).
async fn record_sets(c: &Clients, zone: &str) -> Result<Vec<ResourceRecordSet>, StoreError> {
    let mut out = Vec::new();
    let (mut name, mut kind): (Option<String>, Option<RrType>) = (None, None);
    loop {
        let page = (c.route53.list_resource_record_sets().hosted_zone_id(zone))
            .set_start_record_name(name.clone())
            .set_start_record_type(kind.clone())
            .send()
            .await
            .map_err(|e| classify(&e, &format!("Route 53 zone {zone}"), None))?;
        out.extend(page.resource_record_sets().iter().cloned());
        if !page.is_truncated() || page.next_record_name().is_none() {
            return Ok(out);
        }
        name = page.next_record_name().map(str::to_string);
        kind = page.next_record_type().cloned();
    }
}

/// The certificate's validation CNAMEs that are not there yet, each in the zone that holds it: CREATE, or
/// UPSERT with `replace` (`--adopt`). One already there with its value is left alone: ACM gives `x` and `*.x`
/// one record, and every certificate of an account the same record for a name, so a certificate that
/// replaces another (`--previews` after `--domain`) finds the domain's record there.
pub(super) async fn validation(
    c: &Clients,
    records: &[(String, String)],
    replace: bool,
) -> Result<(), StoreError> {
    use aws_sdk_route53::types::{Change, ResourceRecord};
    let mut zones = Zones::read(c).await?;
    let mut by_zone: Vec<(String, Vec<Change>)> = Vec::new();
    let mut done: Vec<String> = Vec::new();
    for (name, value) in records {
        if done.contains(&fqdn(name)) {
            continue;
        }
        done.push(fqdn(name));
        let zone = zones.zone_of(name)?;
        if validation_seen(name, value, zones.sets(c, &zone).await?) == RecordSeen::Same {
            continue;
        }
        let record = ResourceRecordSet::builder()
            .name(name)
            .r#type(RrType::Cname)
            .ttl(300)
            .resource_records(
                ResourceRecord::builder()
                    .value(value)
                    .build()
                    .map_err(build_err)?,
            )
            .build()
            .map_err(build_err)?;
        let change = Change::builder()
            .action(action(replace))
            .resource_record_set(record)
            .build()
            .map_err(build_err)?;
        match by_zone.iter_mut().find(|(z, _)| *z == zone) {
            Some((_, changes)) => changes.push(change),
            None => by_zone.push((zone, vec![change])),
        }
    }
    for (zone, changes) in by_zone {
        change_records(c, &zone, changes, "certificate validation").await?;
    }
    Ok(())
}

fn action(replace: bool) -> aws_sdk_route53::types::ChangeAction {
    if replace {
        aws_sdk_route53::types::ChangeAction::Upsert
    } else {
        aws_sdk_route53::types::ChangeAction::Create
    }
}

/// A and AAAA alias records from `host` (a name, or the previews' `*.D`) to the distribution: CREATE, or
/// UPSERT with `replace` (`--adopt`).
pub(super) async fn alias(
    c: &Clients,
    zone: &str,
    host: &str,
    target: &str,
    replace: bool,
) -> Result<(), StoreError> {
    use aws_sdk_route53::types::{AliasTarget, Change};
    let mut changes = Vec::new();
    for kind in [RrType::A, RrType::Aaaa] {
        let alias = AliasTarget::builder()
            .hosted_zone_id(CLOUDFRONT_ZONE)
            .dns_name(target)
            .evaluate_target_health(false)
            .build()
            .map_err(build_err)?;
        let record = ResourceRecordSet::builder()
            .name(host)
            .r#type(kind)
            .alias_target(alias)
            .build()
            .map_err(build_err)?;
        changes.push(
            Change::builder()
                .action(action(replace))
                .resource_record_set(record)
                .build()
                .map_err(build_err)?,
        );
    }
    change_records(c, zone, changes, host).await
}

async fn change_records(
    c: &Clients,
    zone: &str,
    changes: Vec<aws_sdk_route53::types::Change>,
    what: &str,
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let batch = aws_sdk_route53::types::ChangeBatch::builder()
        .comment(format!("git-publish setup: {what}"))
        .set_changes(Some(changes))
        .build()
        .map_err(build_err)?;
    (c.route53.change_resource_record_sets().hosted_zone_id(zone))
        .change_batch(batch)
        .send()
        .await
        .map_err(|e| classify(&e, &format!("Route 53 zone {zone}"), None))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Route 53 answers `*.example.com` as `\052.example.com.`: the same name.
    #[test]
    fn names_compare_with_route53s_escapes_decoded() {
        assert_eq!(fqdn("\\052.preview.Example.com."), "*.preview.example.com.");
        assert_eq!(fqdn("*.preview.example.com"), "*.preview.example.com.");
        assert_eq!(fqdn("a\\\\b"), "a\\\\b.");
        assert_eq!(fqdn("x\\05"), "x\\05.");
    }
}
