//! The checks of one `[targets.NAME]` table, as one table of rows: the key, the check, the message and the
//! hint. [`validate_target`] walks the rows in order and stops at the first that fails; then it builds the
//! [`Target`] with its defaults.
//!
//! To add a setting: add its row to `config/keys.rs::KEYS`, its field to `RawTarget` and `Target`, a row here
//! (with a check that looks at the [`Draft`]), a failing example in `config.rs`'s
//! `every_check_refuses_its_examples` (it fails until every row has one), and a documented line in
//! site.toml.example. A setting of a few words is an enum in `config/modes.rs`, checked with
//! `Mode::from_setting` and built with `checked_mode`.
//! Rows run in order and a later row may rely on an earlier one having passed (the `distribution` rows on
//! `url`, `origin_path` on `distribution`). This module must not do IO: it judges values, nothing else.

use std::path::{Path, PathBuf};

use super::modes::{CdnFunction, DirectoryUrl, Locking, Mode, RedirectRenames, Words};
use super::types::{
    CdnConfig, CloudCdnConfig, CloudflareConfig, Distribution, FrontDoorConfig, PreviewsConfig,
    PublishSettings, RawDistribution, RawTarget, StateLocation, StoreSettings, Target,
    DEFAULT_CLAIM_LEASE, DEFAULT_CONCURRENCY, DEFAULT_DIRECTORY_URLS, DEFAULT_INDEX_DOCUMENT,
    DEFAULT_INVALIDATION_BUDGET, DEFAULT_MAX_DELETES, DEFAULT_MAX_INVALIDATION_PATHS,
};
use super::urls::{check_endpoint, is_plain_path, parse_url, redact_userinfo, Backend};
use crate::error::{Error, Result};
use crate::plan::invalidate::UrlForms;

/// One row: when `check` returns `Some(value)`, the target is refused with `message`, in which `{target}`
/// stands for the target's name and `{value}` for what the check returned, and `hint`.
pub(super) struct FieldCheck {
    pub key: &'static str,
    pub check: fn(&Draft) -> Option<String>,
    pub message: &'static str,
    pub hint: &'static str,
}

impl FieldCheck {
    fn message(&self, target: &str, value: &str) -> String {
        // Messages spell their key out, so that an error can be found here by its text.
        debug_assert!(self.message.contains(self.key), "{}", self.key);
        self.message
            .replace("{target}", target)
            .replace("{value}", value)
    }
}

/// Every check of a target, in the order they run (a lookup table, not a function body).
pub(super) const TARGET_CHECKS: &[FieldCheck] = &[
    FieldCheck {
        key: "target name",
        check: bad_name,
        message: "target name {value} may only hold letters, digits, `-`, `_` and `.`",
        hint: "rename the [targets.NAME] table",
    },
    FieldCheck {
        key: "url",
        check: bad_url,
        message: "targets.{target}.url = {value}",
        hint: "use \"s3://BUCKET\" or \"s3://BUCKET/PREFIX\" for S3, \"file:///absolute/dir\" or \"file:relative/dir\" for a local directory",
    },
    FieldCheck {
        key: "endpoint",
        check: bad_endpoint,
        message: "targets.{target}.endpoint = {value}",
        hint: "give a URL such as \"https://s3.example.com\"; plain http is accepted for 127.0.0.1/localhost, \
               or anywhere with `allow_http = true`",
    },
    FieldCheck {
        key: "distribution",
        check: auto_listed_with_others,
        message: "targets.{target}.distribution: \"auto\" finds one distribution and cannot be listed with others",
        hint: "use `distribution = \"auto\"` alone, or list the ids",
    },
    FieldCheck {
        key: "distribution",
        check: bad_distribution_id,
        message: "targets.{target}.distribution = {value} is not a CloudFront distribution id",
        hint: "use the id shown by `aws cloudfront list-distributions` (like \"E2QWRUHAPOMQZL\"), \"auto\", or remove the key",
    },
    FieldCheck {
        key: "distribution",
        check: distribution_off_s3,
        message: "targets.{target}.distribution is set but the target is {value}, which CloudFront does not serve",
        hint: "remove `distribution`, or use an s3:// url",
    },
    FieldCheck {
        key: "domain",
        check: bad_domain,
        message: "targets.{target}.domain = {value} is not a host name",
        hint: "give the site's host name, like \"blog.example.com\" (no scheme, no path)",
    },
    FieldCheck {
        key: "previews.domain",
        check: bad_previews_domain,
        message: "targets.{target}.previews.domain = {value} is not a host name",
        hint: "give the host under which each preview gets a name, like \"preview.blog.example.com\" (previews are then \
               served at https://NAME.preview.blog.example.com/)",
    },
    FieldCheck {
        key: "previews.password_env",
        check: bad_previews_password,
        message: "targets.{target}.previews.password_env and password_file {value}",
        hint: "name an environment variable (password_env = \"PREVIEW_PASSWORD\") or a file (password_file = \
               \"~/.config/preview-password\"), not both",
    },
    FieldCheck {
        key: "cloudflare.zone",
        check: bad_cloudflare,
        message: "targets.{target}.cloudflare.zone {value}",
        hint: "set `zone` under [targets.NAME.cloudflare] to the Zone ID on the zone's Overview page in Cloudflare's \
               dashboard, set the target's `domain` to the site's host (purged URLs are https://DOMAIN/PATH), and \
               leave `distribution` out (Cloudflare's cache is the CDN)",
    },
    FieldCheck {
        key: "cloud_cdn",
        check: bad_cloud_cdn,
        message: "targets.{target}.cloud_cdn.{value}",
        hint: "set `project` (the project's id, e.g. \"my-blog-123\") and `url_map` (the load balancer's URL map: \
               `gcloud compute url-maps list --global`) under [targets.NAME.cloud_cdn], and `host` only to \
               invalidate one host name; the target needs a bucket url",
    },
    FieldCheck {
        key: "front_door",
        check: bad_front_door,
        message: "targets.{target}.front_door.{value}",
        hint: "set `subscription` (a GUID), `resource_group`, `profile` and `endpoint` under \
               [targets.NAME.front_door] as `az afd endpoint list --profile-name PROFILE --resource-group GROUP` \
               shows them; the target needs a bucket url",
    },
    FieldCheck {
        key: "cdn",
        check: more_than_one_cdn,
        message: "targets.{target} has more than one cdn: {value}",
        hint: "keep one of `distribution`, [targets.NAME.cloudflare], [targets.NAME.cloud_cdn] and \
               [targets.NAME.front_door]: a target is served through one CDN (publish to a second target for \
               another)",
    },
    FieldCheck {
        key: "region",
        check: |d| spaced_name(&d.raw.region),
        message: "targets.{target}.region = {value} is not valid",
        hint: "remove `region` or give a name without spaces",
    },
    FieldCheck {
        key: "profile",
        check: |d| spaced_name(&d.raw.profile),
        message: "targets.{target}.profile = {value} is not valid",
        hint: "remove `profile` or give a name without spaces",
    },
    FieldCheck {
        key: "concurrency",
        check: |d| (!(1..=256).contains(&d.concurrency())).then(|| d.concurrency().to_string()),
        message: "targets.{target}.concurrency = {value} is out of range",
        hint: "use 1..=256",
    },
    FieldCheck {
        key: "max_invalidation_paths",
        check: |d| (d.max_invalidation_paths() == 0).then(String::new),
        message: "targets.{target}.max_invalidation_paths must be at least 1",
        hint: "use 1 to always send a single wildcard, or a larger budget",
    },
    FieldCheck {
        key: "index_document",
        check: bad_index_document,
        message: "targets.{target}.index_document = {value} must be a file name",
        hint: "e.g. \"index.html\"",
    },
    FieldCheck {
        key: "origin_path",
        check: |d| {
            let p = d.origin_path()?;
            (!is_plain_path(&p, false)).then(|| format!("{p:?}"))
        },
        message: "targets.{target}.origin_path = {value} must be a plain key prefix",
        hint: "give the distribution's origin path, like \"/site\" (or \"\" for the bucket root)",
    },
    FieldCheck {
        key: "origin_path",
        check: |d| d.origin_path().and(d.listed.is_empty().then(String::new)),
        message: "targets.{target}.origin_path is set but the target has no `distribution`",
        hint: "set `distribution`, or remove `origin_path`",
    },
    FieldCheck {
        key: "directory_urls",
        check: |d| d.directory_urls().is_empty().then(String::new),
        message: "targets.{target}.directory_urls is empty",
        hint: "list at least one of \"/dir/\", \"/dir\", \"/dir/index.html\"",
    },
    FieldCheck {
        key: "directory_urls",
        check: |d| {
            let urls = d.directory_urls();
            let unknown = urls.iter().find(|u| DirectoryUrl::parse(u).is_none());
            unknown.map(|u| format!("{u:?}"))
        },
        message: "targets.{target}.directory_urls: unknown form {value}",
        hint: "use \"/dir/\", \"/dir\" and/or \"/dir/index.html\" (literally: they name the forms; \
               `index.html` stands for `index_document`)",
    },
    FieldCheck {
        key: "claim_lease",
        check: |d| {
            let s = d.raw.claim_lease.as_ref()?;
            match humantime::parse_duration(s) {
                Err(e) => Some(format!("{s:?}: {e}")),
                // A lease shorter than a publish's first requests lets another host take over a live claim.
                Ok(t) if t < std::time::Duration::from_secs(60) => {
                    Some(format!("{s:?} is shorter than a minute"))
                }
                Ok(_) => None,
            }
        },
        message: "targets.{target}.claim_lease = {value}",
        hint: "use a duration of at least a minute, such as \"30m\" or \"2h\" (the default is 1h)",
    },
    FieldCheck {
        key: "redirect_renames",
        check: |d| RedirectRenames::from_setting(d.raw.redirect_renames.as_deref()).err(),
        message: "targets.{target}.redirect_renames = {value} is not a mode",
        hint: "use \"ask\" (the default: shown in the plan, asked on a terminal), \"auto\" or \"off\"",
    },
    FieldCheck {
        key: "cdn_function",
        check: |d| CdnFunction::from_setting(d.raw.cdn_function.as_deref()).err(),
        message: "targets.{target}.cdn_function = {value} is not a mode",
        hint: "use \"manage\" (git-publish publishes the function and associates it) or \"off\" (the default)",
    },
    FieldCheck {
        key: "publisher",
        check: |d| {
            let p = d.raw.publisher.as_ref()?;
            (p.trim().is_empty() || p.chars().any(char::is_control)).then(|| format!("{p:?}"))
        },
        message: "targets.{target}.publisher = {value} is not a name",
        hint: "give the name deploys are recorded under, like \"Site Bot\", or remove the key",
    },
    FieldCheck {
        key: "locking",
        check: |d| Locking::from_setting(d.raw.locking.as_deref()).err(),
        message: "targets.{target}.locking = {value} is not known",
        hint: "remove `locking` (the default, \"conditional\", needs a store that honours conditional writes), \
               or set \"none\" for a store that ignores them and only one publisher at a time",
    },
    FieldCheck {
        key: "state",
        check: |d| {
            let url = d.raw.state.as_ref()?;
            let why = d.state_location()?.err()?;
            Some(format!("{url:?}: {why}"))
        },
        message: "targets.{target}.state = {value}",
        hint: "give where the deploy record goes: \"s3://PRIVATE-BUCKET/site.json\" or \"s3://BUCKET/PREFIX\" \
               (a key or a key prefix), or \"file:///DIR\" for a file:// target",
    },
    FieldCheck {
        key: "state",
        check: |d| {
            let loc = d.state_location()?.ok()?;
            let site = d.backend.as_ref().ok()?;
            (loc.backend.scheme() != site.scheme()).then(String::new)
        },
        message: "targets.{target}.state must be of the same kind as `url` (both s3://, gs://, azblob:// or file:)",
        hint: "keep the record where every publisher of the target can reach it: an s3:// location for an \
               s3:// target, a file: path for a file: target",
    },
];

/// A target as written, with what the checks need worked out once.
pub(super) struct Draft<'a> {
    name: &'a str,
    raw: RawTarget,
    backend: std::result::Result<Backend, String>,
    /// `distribution`, as listed: "auto" or ids.
    listed: Vec<String>,
    base_dir: std::path::PathBuf,
}

/// Check the target `name` (row by row, see [`TARGET_CHECKS`]) and fill in its defaults.
pub(super) fn validate_target(
    name: &str,
    t: RawTarget,
    path: &Path,
    base_dir: &Path,
) -> Result<Target> {
    let draft = Draft::new(name, t, base_dir);
    if let Some((row, value)) = draft.first_failure() {
        return Err(Error::ConfigInvalid {
            path: path.to_path_buf(),
            message: row.message(name, &value),
            hint: row.hint.to_string(),
        });
    }
    Ok(draft.into_target())
}

impl<'a> Draft<'a> {
    fn new(name: &'a str, mut raw: RawTarget, base_dir: &Path) -> Draft<'a> {
        let listed = match raw.distribution.take() {
            None => Vec::new(),
            Some(RawDistribution::One(d)) => vec![d],
            Some(RawDistribution::Many(v)) => v,
        };
        Draft {
            name,
            backend: parse_url(&raw.url, base_dir),
            raw,
            listed,
            base_dir: base_dir.to_path_buf(),
        }
    }

    /// The first row that refuses this target, with the value for its message.
    fn first_failure(&self) -> Option<(&'static FieldCheck, String)> {
        TARGET_CHECKS
            .iter()
            .find_map(|row| (row.check)(self).map(|value| (row, value)))
    }

    /// `state`, parsed (None: not set).
    fn state_location(&self) -> Option<std::result::Result<StateLocation, String>> {
        let url = self.raw.state.as_ref()?;
        Some(StateLocation::parse(url, &self.base_dir))
    }

    fn concurrency(&self) -> usize {
        self.raw.concurrency.unwrap_or(DEFAULT_CONCURRENCY)
    }

    fn max_invalidation_paths(&self) -> usize {
        self.raw
            .max_invalidation_paths
            .unwrap_or(DEFAULT_MAX_INVALIDATION_PATHS)
    }

    fn index_document(&self) -> String {
        self.raw
            .index_document
            .clone()
            .unwrap_or_else(|| DEFAULT_INDEX_DOCUMENT.to_string())
    }

    /// `origin_path` without slashes at its ends.
    fn origin_path(&self) -> Option<String> {
        let p = self.raw.origin_path.as_ref()?;
        Some(p.trim_matches('/').to_string())
    }

    fn directory_urls(&self) -> Vec<String> {
        self.raw.directory_urls.clone().unwrap_or_else(|| {
            DEFAULT_DIRECTORY_URLS
                .iter()
                .map(|s| s.to_string())
                .collect()
        })
    }

    /// The checked target with its defaults. Only after every row passed.
    fn into_target(self) -> Target {
        let urls: Vec<DirectoryUrl> = (self.directory_urls().iter())
            .map(|u| DirectoryUrl::parse(u).expect("the `directory_urls` row refuses other forms"))
            .collect();
        let forms = UrlForms {
            index_document: self.index_document(),
            dir_slash: urls.contains(&DirectoryUrl::Slash),
            dir_bare: urls.contains(&DirectoryUrl::Bare),
            dir_index: urls.contains(&DirectoryUrl::Index),
            pretty: self.raw.pretty_urls.unwrap_or(false),
        };
        let mut distributions = Vec::new();
        for d in &self.listed {
            let d = match d.as_str() {
                "auto" => Distribution::Auto,
                id => Distribution::Id(id.to_string()),
            };
            if !distributions.contains(&d) {
                distributions.push(d);
            }
        }
        let claim_lease = (self.raw.claim_lease.as_deref())
            .and_then(|s| humantime::parse_duration(s).ok())
            .unwrap_or(DEFAULT_CLAIM_LEASE);
        let (origin_path, concurrency) = (self.origin_path(), self.concurrency());
        let max_invalidation_paths = self.max_invalidation_paths();
        let state = self.state_location();
        let t = self.raw;
        Target {
            name: self.name.to_string(),
            default: t.default,
            domain: t.domain,
            forms,
            previews: t.previews.map(|p| PreviewsConfig {
                domain: p.domain.map(|d| d.to_ascii_lowercase()),
                password_env: p.password_env,
                password_file: p.password_file.map(PathBuf::from),
            }),
            store: StoreSettings {
                url: t.url,
                backend: self.backend.expect("the `url` row refuses a bad url"),
                region: t.region,
                profile: t.profile,
                endpoint: t.endpoint.map(|e| e.trim_end_matches('/').to_string()),
                allow_http: t.allow_http.unwrap_or(false),
                state: state.and_then(Result::ok),
                locking: checked_mode(t.locking.as_deref()),
            },
            cdn: CdnConfig {
                distributions,
                origin_path,
                max_invalidation_paths,
                invalidation_budget: t.invalidation_budget.unwrap_or(DEFAULT_INVALIDATION_BUDGET),
                invalidate_new_files: t.invalidate_new_files.unwrap_or(false),
                cdn_function: checked_mode(t.cdn_function.as_deref()),
                cloudflare: (t.cloudflare)
                    .and_then(|c| c.zone)
                    .map(|zone| CloudflareConfig { zone }),
                cloud_cdn: (t.cloud_cdn).and_then(|c| {
                    Some(CloudCdnConfig {
                        project: c.project?,
                        url_map: c.url_map?,
                        host: c.host.map(|h| h.to_ascii_lowercase()),
                    })
                }),
                front_door: (t.front_door).and_then(|f| {
                    Some(FrontDoorConfig {
                        subscription: f.subscription?,
                        resource_group: f.resource_group?,
                        profile: f.profile?,
                        endpoint: f.endpoint?,
                    })
                }),
            },
            publish: PublishSettings {
                concurrency,
                max_deletes: t.max_deletes.unwrap_or(DEFAULT_MAX_DELETES),
                delay_deletes: t.delay_deletes.unwrap_or(false),
                claim_lease,
                redirect_renames: checked_mode(t.redirect_renames.as_deref()),
                publisher: t.publisher,
            },
        }
    }
}

/// A mode whose row in [`TARGET_CHECKS`] has passed: the default when absent, else the word's mode.
fn checked_mode<M: Mode>(value: Option<&str>) -> M {
    M::from_setting(value).expect("the mode's row refuses other words")
}

/// A target's name: letters, digits, `-`, `_` and `.` (it names a key prefix, a ref and a file).
pub fn is_valid_target_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn bad_name(d: &Draft) -> Option<String> {
    (!is_valid_target_name(d.name)).then(|| format!("{:?}", d.name))
}

fn bad_url(d: &Draft) -> Option<String> {
    let why = d.backend.as_ref().err()?;
    Some(format!("{:?}: {why}", d.raw.url))
}

fn bad_endpoint(d: &Draft) -> Option<String> {
    let ep = d.raw.endpoint.as_ref()?;
    let why = check_endpoint(ep, d.raw.allow_http.unwrap_or(false)).err()?;
    Some(format!("{:?}: {why}", redact_userinfo(ep)))
}

/// What is wrong with the first bad entry of `distribution`, in the order listed.
#[derive(PartialEq, Eq)]
enum DistributionProblem {
    AutoWithOthers,
    NotAnId,
}

fn first_distribution_problem(listed: &[String]) -> Option<(DistributionProblem, &str)> {
    listed.iter().find_map(|d| {
        if d == "auto" {
            (listed.len() > 1).then_some((DistributionProblem::AutoWithOthers, d.as_str()))
        } else {
            let id = (8..=32).contains(&d.len())
                && d.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
            (!id).then_some((DistributionProblem::NotAnId, d.as_str()))
        }
    })
}

fn auto_listed_with_others(d: &Draft) -> Option<String> {
    let (problem, _) = first_distribution_problem(&d.listed)?;
    (problem == DistributionProblem::AutoWithOthers).then(String::new)
}

fn bad_distribution_id(d: &Draft) -> Option<String> {
    let (problem, id) = first_distribution_problem(&d.listed)?;
    (problem == DistributionProblem::NotAnId).then(|| format!("{id:?}"))
}

/// CloudFront's `distribution` on a target that is not an S3 bucket: a local directory, or another cloud's.
fn distribution_off_s3(d: &Draft) -> Option<String> {
    let what = match d.backend.as_ref().ok()? {
        Backend::S3 { .. } => return None,
        Backend::Local { .. } => "a local directory".to_string(),
        Backend::Cloud { cloud, .. } => format!("a {} {}:// url", cloud.product(), cloud.scheme()),
    };
    (!d.listed.is_empty()).then_some(what)
}

fn bad_domain(d: &Draft) -> Option<String> {
    let domain = d.raw.domain.as_ref()?;
    let ok = !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '*'));
    (!ok).then(|| format!("{domain:?}"))
}

/// A host name (labels of letters, digits and `-`), no wildcard: previews are its subdomains.
fn bad_previews_domain(d: &Draft) -> Option<String> {
    let domain = d.raw.previews.as_ref()?.domain.as_ref()?;
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let ok = domain.contains('.') && domain.len() <= 190 && domain.split('.').all(label);
    (!ok).then(|| format!("{domain:?}"))
}

/// `[targets.NAME.cloudflare]`: a zone id (32 hex digits), a `domain` to purge URLs on, an s3:// target, and
/// no CloudFront `distribution` beside it.
fn bad_cloudflare(d: &Draft) -> Option<String> {
    let cf = d.raw.cloudflare.as_ref()?;
    let Some(zone) = cf.zone.as_deref() else {
        return Some("is missing".into());
    };
    if zone.len() != 32 || !zone.chars().all(|c| c.is_ascii_hexdigit()) {
        return Some(format!("= {zone:?} is not a zone id"));
    }
    if d.raw.domain.is_none() {
        return Some("needs the target's `domain` (the host whose URLs are purged)".into());
    }
    if !d.listed.is_empty() {
        return Some("cannot be combined with `distribution`".into());
    }
    if !matches!(d.backend, Ok(Backend::S3 { .. })) {
        return Some("needs an s3:// url (an R2 bucket)".into());
    }
    None
}

/// `[targets.NAME.cloud_cdn]`: a project id and a URL map name as Google spells them, an optional host name,
/// and a bucket (not a directory) behind it.
fn bad_cloud_cdn(d: &Draft) -> Option<String> {
    let c = d.raw.cloud_cdn.as_ref()?;
    let Some(project) = c.project.as_deref() else {
        return Some("project is missing".into());
    };
    // 6 to 30 lowercase letters, digits and hyphens, starting with a letter, not ending with a hyphen.
    let lower =
        |s: &str| (s.chars()).all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-');
    let starts = |s: &str| s.starts_with(|ch: char| ch.is_ascii_lowercase()) && !s.ends_with('-');
    if !(6..=30).contains(&project.len()) || !lower(project) || !starts(project) {
        return Some(format!("project = {project:?} is not a project id"));
    }
    let Some(map) = c.url_map.as_deref() else {
        return Some("url_map is missing".into());
    };
    // RFC 1035: up to 63 lowercase letters, digits and hyphens, starting with a letter.
    if map.len() > 63 || !lower(map) || !starts(map) {
        return Some(format!("url_map = {map:?} is not a URL map's name"));
    }
    if let Some(host) = c.host.as_deref().filter(|h| !is_host(h)) {
        return Some(format!("host = {host:?} is not a host name"));
    }
    matches!(d.backend, Ok(Backend::Local { .. }))
        .then(|| "needs a bucket url, not a directory".into())
}

/// Whether a value is spelled as its key requires.
type NameRule<'a> = &'a dyn Fn(&str) -> bool;

/// `[targets.NAME.front_door]`: a subscription GUID, names as Azure allows them, and a bucket behind it.
fn bad_front_door(d: &Draft) -> Option<String> {
    let f = d.raw.front_door.as_ref()?;
    let guid = |s: &str| {
        let parts: Vec<&str> = s.split('-').collect();
        (parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12]))
            && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
    };
    // Resource groups: letters, digits, `-_.()`, not ending in `.`; profiles and endpoints: letters, digits, `-`.
    let group = |s: &str| {
        s.len() <= 90
            && !s.ends_with('.')
            && (s.chars()).all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'))
    };
    let name = |s: &str| s.len() <= 260 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let keys: [(&str, &Option<String>, NameRule); 4] = [
        ("subscription", &f.subscription, &guid),
        ("resource_group", &f.resource_group, &group),
        ("profile", &f.profile, &name),
        ("endpoint", &f.endpoint, &name),
    ];
    for (key, value, ok) in keys {
        match value.as_deref() {
            None => return Some(format!("{key} is missing")),
            Some(v) if v.is_empty() || !ok(v) => {
                return Some(format!("{key} = {v:?} is not valid"))
            }
            Some(_) => {}
        }
    }
    matches!(d.backend, Ok(Backend::Local { .. }))
        .then(|| "needs a bucket url, not a directory".into())
}

/// A host name: labels of letters, digits and `-`.
fn is_host(h: &str) -> bool {
    let label = |l: &str| {
        !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    h.len() <= 253 && h.split('.').all(label)
}

/// The CDNs a target names, when it names more than one.
fn more_than_one_cdn(d: &Draft) -> Option<String> {
    let r = &d.raw;
    let named: Vec<&str> = [
        (!d.listed.is_empty(), "`distribution`"),
        (r.cloudflare.is_some(), "[cloudflare]"),
        (r.cloud_cdn.is_some(), "[cloud_cdn]"),
        (r.front_door.is_some(), "[front_door]"),
    ]
    .into_iter()
    .filter_map(|(set, name)| set.then_some(name))
    .collect();
    (named.len() > 1).then(|| named.join(" and "))
}

fn bad_previews_password(d: &Draft) -> Option<String> {
    let p = d.raw.previews.as_ref()?;
    match (&p.password_env, &p.password_file) {
        (Some(_), Some(_)) => Some("are both set".into()),
        (Some(v), None)
            if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Some(format!("= {v:?}: not an environment variable's name"))
        }
        (None, Some(f)) if f.trim().is_empty() => Some("= \"\": an empty path".into()),
        _ => None,
    }
}

/// `region` and `profile`: a name, without spaces.
fn spaced_name(value: &Option<String>) -> Option<String> {
    let v = value.as_ref()?;
    (v.trim().is_empty() || v.contains(char::is_whitespace)).then(|| format!("{v:?}"))
}

fn bad_index_document(d: &Draft) -> Option<String> {
    let i = d.index_document();
    (i.is_empty() || i.contains('/')).then(|| format!("{i:?}"))
}
