//! The bucket policy: merging this site's statements into what is there, and reading what a policy grants.
//!
//! A bucket may hold several sites (prefixes), each with its own statements: the Sids carry the site's id
//! (`GitPublish<id>ReadsTheSite`, `GitPublish<id>DeniesTheRecord`, see `crate::identity`). [`merge`] replaces
//! only the statements with this site's Sids and never changes another one, whoever wrote it (statements
//! with the fixed Sids of older versions, `CloudFrontReadsTheSite` and `NoDistributionReadsTheDeployRecord`,
//! may be another target's, so they stay too).
//!
//! The checks read what a statement actually grants, as IAM evaluates it: the effect, the principal (or
//! `NotPrincipal`), the action (or `NotAction`, with `*` and `?` wildcards, case-insensitive), the resource
//! (or `NotResource`, wildcards, case-sensitive) and every condition. A condition this module can't evaluate
//! makes an Allow count as not granting and a Deny as not denying: `--check` then says ✗, never a false ✓.
//!
//! Pure: JSON in, JSON and booleans out.

use serde_json::{json, Value};

pub(super) fn sid(statement: &Value) -> Option<&str> {
    statement.get("Sid").and_then(Value::as_str)
}

/// The statements of a policy document (a single statement object is valid syntax too).
pub fn statements(policy: Option<&Value>) -> Vec<Value> {
    match policy.map(|p| &p["Statement"]) {
        Some(Value::Array(a)) => a.clone(),
        Some(s @ Value::Object(_)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// `existing` with `ours`'s statements merged in: a statement with one of our Sids is replaced (an Allow
/// keeps the distribution ARNs it already named: they are this site's too); every other statement is kept
/// as it is, in its place.
pub fn merge(existing: Option<&Value>, ours: &Value) -> Value {
    let mut merged = existing.cloned().unwrap_or_else(|| {
        json!({ "Version": ours.get("Version").cloned().unwrap_or(json!("2012-10-17")), "Statement": [] })
    });
    if !merged.get("Statement").is_some_and(Value::is_array) {
        let single = merged.get("Statement").cloned();
        merged["Statement"] = json!(single.into_iter().collect::<Vec<_>>());
    }
    let list = merged["Statement"]
        .as_array_mut()
        .expect("made an array above");
    for new in ours["Statement"].as_array().into_iter().flatten() {
        let mut new = new.clone();
        match list
            .iter_mut()
            .find(|s| sid(s).is_some() && sid(s) == sid(&new))
        {
            Some(old) => {
                let mut all: Vec<String> = Vec::new();
                for a in source_arns(old).into_iter().chain(source_arns(&new)) {
                    if !all.contains(&a) {
                        all.push(a);
                    }
                }
                if !all.is_empty() {
                    new["Condition"]["StringEquals"]["AWS:SourceArn"] = json!(all);
                }
                *old = new;
            }
            None => list.push(new),
        }
    }
    merged
}

fn source_arns(statement: &Value) -> Vec<String> {
    strings(&statement["Condition"]["StringEquals"]["AWS:SourceArn"])
}

/// A string or a list of strings.
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => (a.iter())
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// The Sids in `merged` that are new or different from `existing`.
pub fn changed(existing: Option<&Value>, merged: &Value) -> Vec<String> {
    let before = statements(existing);
    (merged["Statement"].as_array().into_iter().flatten())
        .filter(|s| !before.contains(s))
        .map(|s| sid(s).unwrap_or("(no Sid)").to_string())
        .collect()
}

// ---- what a statement grants ----------------------------------------------------------------------------

/// IAM's wildcard match: `*` any run of characters, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Whether the statement's (Not)Action covers `action`.
fn covers_action(s: &Value, action: &str) -> bool {
    let any = |v: &Value| {
        (strings(v).iter()).any(|a| glob(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
    };
    match (s.get("Action"), s.get("NotAction")) {
        (Some(a), _) => any(a),
        (None, Some(n)) => !any(n),
        (None, None) => false,
    }
}

/// Whether the statement's (Not)Resource covers `arn`.
fn covers_resource(s: &Value, arn: &str) -> bool {
    let any = |v: &Value| strings(v).iter().any(|r| glob(r, arn));
    match (s.get("Resource"), s.get("NotResource")) {
        (Some(r), _) => any(r),
        (None, Some(n)) => !any(n),
        (None, None) => false,
    }
}

/// Whether the principal may be anyone: `"*"`, `{"AWS": "*"}` or a list holding `"*"`, or any `NotPrincipal`.
fn anyone(s: &Value) -> bool {
    if s.get("NotPrincipal").is_some() {
        return true;
    }
    match &s["Principal"] {
        Value::String(p) => p == "*",
        Value::Object(o) => o.values().any(|v| strings(v).iter().any(|p| p == "*")),
        _ => false,
    }
}

/// Whether the principal includes CloudFront (the service, or anyone).
fn includes_cloudfront(s: &Value) -> bool {
    anyone(s)
        || strings(&s["Principal"]["Service"])
            .iter()
            .any(|p| p == "cloudfront.amazonaws.com")
}

/// Whether every condition of the statement holds for a request from distribution `arn` (None: the
/// statement has conditions this module can't evaluate). No condition: holds.
fn conditions_hold(s: &Value, arn: &str) -> Option<bool> {
    let Some(conditions) = s.get("Condition") else {
        return Some(true);
    };
    let Value::Object(ops) = conditions else {
        return None;
    };
    for (op, keys) in ops {
        let like = match op.as_str() {
            "StringEquals" | "ArnEquals" => false,
            "StringLike" | "ArnLike" => true,
            _ => return None,
        };
        let Value::Object(keys) = keys else {
            return None;
        };
        for (key, values) in keys {
            if !key.eq_ignore_ascii_case("AWS:SourceArn") {
                return None;
            }
            let holds =
                (strings(values).iter()).any(|v| if like { glob(v, arn) } else { v == arn });
            if !holds {
                return Some(false);
            }
        }
    }
    Some(true)
}

/// Whether the statements let distribution `dist_arn` read `object_arn` through origin access control: an
/// Allow for CloudFront whose action, resource and conditions all cover it, and no Deny that applies.
pub fn grants_read(statements: &[Value], dist_arn: &str, object_arn: &str) -> bool {
    let applies = |s: &Value| {
        includes_cloudfront(s) && covers_action(s, "s3:GetObject") && covers_resource(s, object_arn)
    };
    let allowed = (statements.iter()).any(|s| {
        s["Effect"] == "Allow" && applies(s) && conditions_hold(s, dist_arn) == Some(true)
    });
    let denied = (statements.iter()).any(|s| {
        s["Effect"] == "Deny" && applies(s) && conditions_hold(s, dist_arn) != Some(false)
    });
    allowed && !denied
}

/// Whether the statements deny every distribution reading `object_arn` (the deploy record): a Deny for
/// CloudFront covering the action and the resource, with no condition that could make it not apply.
pub fn denies_read(statements: &[Value], object_arn: &str) -> bool {
    statements.iter().any(|s| {
        s["Effect"] == "Deny"
            && includes_cloudfront(s)
            && covers_action(s, "s3:GetObject")
            && covers_resource(s, object_arn)
            && s.get("Condition").is_none()
    })
}

/// Whether a statement lets anyone in: an Allow whose principal may be anyone (`"*"`, `{"AWS": "*"}`, a
/// list holding `"*"`, or `NotPrincipal`), with or without a condition (a condition on `*` is rarely a
/// fence: `aws:Referer`, `aws:SourceIp` are given by the caller or wide).
pub fn is_public(s: &Value) -> bool {
    s["Effect"] == "Allow" && anyone(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIST: &str = "arn:aws:cloudfront::123456789012:distribution/E1";
    const OTHER: &str = "arn:aws:cloudfront::123456789012:distribution/E2";
    const PAGE: &str = "arn:aws:s3:::blog/site/index.html";
    const RECORD: &str = "arn:aws:s3:::blog/site/.git-publish/state.json";

    fn allow(resource: &str, condition: Value) -> Value {
        let mut s = json!({"Sid": "A", "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject", "Resource": resource});
        if !condition.is_null() {
            s["Condition"] = condition;
        }
        s
    }

    fn arn_is(arns: &[&str]) -> Value {
        json!({"StringEquals": {"AWS:SourceArn": arns}})
    }

    /// Finding 2 of the third review: `--check` reads the bucket, the prefix, the action, the principal and
    /// every condition, not only whether some statement names the distribution.
    #[test]
    fn finding_2_check_reads_what_a_statement_grants() {
        let yes = |s: Vec<Value>| grants_read(&s, DIST, PAGE);
        assert!(yes(vec![allow(
            "arn:aws:s3:::blog/site/*",
            arn_is(&[DIST])
        )]));
        assert!(yes(vec![allow(
            "arn:aws:s3:::blog/*",
            arn_is(&[OTHER, DIST])
        )]));
        assert!(yes(vec![allow(
            "arn:aws:s3:::blog/*",
            json!({"ArnLike": {"AWS:SourceArn": "arn:aws:cloudfront::123456789012:distribution/*"}})
        )]));
        // Another prefix, another bucket, another distribution, another action.
        assert!(!yes(vec![allow(
            "arn:aws:s3:::blog/staging/*",
            arn_is(&[DIST])
        )]));
        assert!(!yes(vec![allow("arn:aws:s3:::blog2/*", arn_is(&[DIST]))]));
        assert!(!yes(vec![allow("arn:aws:s3:::blog/*", arn_is(&[OTHER]))]));
        let mut put = allow("arn:aws:s3:::blog/*", arn_is(&[DIST]));
        put["Action"] = json!("s3:PutObject");
        assert!(!yes(vec![put]));
        let mut wild = allow("arn:aws:s3:::blog/*", arn_is(&[DIST]));
        wild["Action"] = json!(["s3:Get*"]);
        assert!(yes(vec![wild]));
        // A condition it can't evaluate is not counted as granting.
        let extra = json!({"StringEquals": {"AWS:SourceArn": DIST, "aws:SourceAccount": "1"}});
        assert!(!yes(vec![allow("arn:aws:s3:::blog/*", extra)]));
        // A Deny of the whole prefix wins.
        let mut deny = allow("arn:aws:s3:::blog/site/*", Value::Null);
        deny["Effect"] = json!("Deny");
        assert!(!yes(vec![
            allow("arn:aws:s3:::blog/*", arn_is(&[DIST])),
            deny
        ]));

        let record_denied = |s: Vec<Value>| denies_read(&s, RECORD);
        let mut d = allow("arn:aws:s3:::blog/site/.git-publish/*", Value::Null);
        d["Effect"] = json!("Deny");
        assert!(record_denied(vec![d.clone()]));
        let mut elsewhere = d.clone();
        elsewhere["Resource"] = json!("arn:aws:s3:::blog/.git-publish/*");
        assert!(!record_denied(vec![elsewhere]));
        let mut conditional = d.clone();
        conditional["Condition"] = arn_is(&[OTHER]);
        assert!(!record_denied(vec![conditional]));
    }

    /// Finding 2: `NotPrincipal`, `{"AWS": ["…", "*"]}` and an Allow `*` with a condition are public.
    #[test]
    fn finding_2_public_statements_in_every_spelling() {
        let public = [
            json!({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}),
            json!({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": "*"}),
            json!({"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::1:root", "*"]}, "Action": "s3:*"}),
            json!({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}, "Action": "s3:*"}),
            json!({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                   "Condition": {"StringLike": {"aws:Referer": "https://blog.example.com/*"}}}),
        ];
        for s in &public {
            assert!(is_public(s), "{s}");
        }
        assert!(!is_public(&allow("arn:aws:s3:::blog/*", arn_is(&[DIST]))));
        let mut deny = public[0].clone();
        deny["Effect"] = json!("Deny");
        assert!(!is_public(&deny));
    }

    /// Finding 2: the merge replaces only this site's statements; another target's, with the same action
    /// and a different resource, stays byte for byte.
    #[test]
    fn finding_2_merge_never_changes_a_statement_it_does_not_own() {
        let staging = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "GitPublishaaaaaaaaReadsTheSite", "Effect": "Allow",
             "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::blog/staging/*",
             "Condition": {"StringEquals": {"AWS:SourceArn": [OTHER]}}},
            {"Sid": "CloudFrontReadsTheSite", "Effect": "Allow", "Principal": "x", "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::blog/old/*"}
        ]});
        let ours = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "GitPublishbbbbbbbbReadsTheSite", "Effect": "Allow",
             "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::blog/site/*",
             "Condition": {"StringEquals": {"AWS:SourceArn": [DIST]}}}
        ]});
        let merged = merge(Some(&staging), &ours);
        let list = merged["Statement"].as_array().unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[..2], staging["Statement"].as_array().unwrap()[..]);
        assert_eq!(
            changed(Some(&staging), &merged),
            ["GitPublishbbbbbbbbReadsTheSite"]
        );
        // Run again with a second distribution: ours keeps both ARNs, the others are untouched.
        let mut again = ours.clone();
        again["Statement"][0]["Condition"]["StringEquals"]["AWS:SourceArn"] = json!(["E9"]);
        let twice = merge(Some(&merged), &again);
        assert_eq!(
            twice["Statement"][2]["Condition"]["StringEquals"]["AWS:SourceArn"],
            json!([DIST, "E9"])
        );
        assert_eq!(
            twice["Statement"].as_array().unwrap()[..2],
            merged["Statement"].as_array().unwrap()[..2]
        );
    }

    #[test]
    fn iam_wildcards() {
        assert!(glob("arn:aws:s3:::blog/*", "arn:aws:s3:::blog/a/b.html"));
        assert!(glob("s3:get?bject", "s3:getobject"));
        assert!(glob("*", ""));
        assert!(!glob("arn:aws:s3:::blog/*", "arn:aws:s3:::blog2/a"));
        assert!(!glob("a?", "a"));
    }
}
