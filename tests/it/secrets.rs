//! Secrets never leak: with credentials set to sentinels, every command at maximum verbosity (successes and
//! failures) is searched for them in stdout, stderr, the state object and files git-publish writes. Every run
//! goes through the proxy, which shows that it sent a request signed with them (so a leak was possible).

use crate::proxy::{Asked, Config, Fault, Proxy, Targeted};
use crate::util::*;

const SECRET: &str = "SENTINELsecretKEY0123456789abcdefSENTINEL";
const TOKEN: &str = "SENTINELsessionTOKEN9876543210SENTINEL";

fn leaks(text: &str) -> bool {
    text.contains(SECRET) || text.contains(TOKEN) || text.contains("SENTINEL")
}

/// A stand-in answer: 403 AccessDenied to every request (an error path after a signed request).
fn access_denied(_: &Asked) -> Option<Vec<u8>> {
    let body = "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
    Some(
        format!(
            "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

fn every_request(_: &Asked) -> bool {
    true
}

/// Whether a request `proxy` logged after the first `skip` carried the sentinel credentials: the session
/// token as sent (`x-amz-security-token`) and the access key in the signature's scope.
fn signed_with_sentinels(proxy: &Proxy, skip: usize) -> bool {
    proxy.requests().iter().skip(skip).any(|r| {
        let head = r.head.to_ascii_lowercase();
        head.contains(&format!(
            "x-amz-security-token: {}",
            TOKEN.to_ascii_lowercase()
        )) && head.contains("authorization: aws4-hmac-sha256 credential=test/")
    })
}

#[test]
fn credentials_never_appear_in_output_logs_or_state() {
    let site = Site::new();
    let b = bucket("secrets");
    let dist = distribution(&b);
    small_blog(&site);
    site.config(&format!(
        "[source]\ndir = \"public\"\n[targets.production]\nurl = \"s3://{b}\"\ndistribution = \"{dist}\"\n"
    ));
    site.commit("v1");
    let env = [
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_SESSION_TOKEN", TOKEN),
        ("GIT_PUBLISH_LOG", "trace"),
    ];
    let through = Proxy::start(&moto().endpoint, Config::default());
    // Error paths after a signed request: refused, and no answer at all (after the server applied it).
    let denied = Proxy::start(
        &moto().endpoint,
        Config {
            answer: Some(access_denied),
            ..Default::default()
        },
    );
    let lost = Proxy::start(
        &moto().endpoint,
        Config {
            targeted: vec![Targeted {
                when: every_request,
                fault: Fault::ResetAfter,
                times: usize::MAX,
            }],
            ..Default::default()
        },
    );
    // (args, proxy, exit code)
    let mut runs: Vec<(Vec<&str>, &Proxy, i32)> = vec![
        (vec!["-vvv", "--dry-run"], &through, 0),
        (vec!["-vvv"], &through, 0),
        (vec!["-vvv", "--json"], &through, 0),
        (vec!["-vvv", "status"], &through, 0),
        (vec!["-vvv", "status", "--json"], &through, 0),
        (vec!["-vvv"], &denied, 1),
        (vec!["-vvv", "status"], &denied, 0), // falls back to the local mirror, saying so
        (vec!["-vvv", "--dry-run"], &lost, 1),
        (vec!["-vvv", "--wait"], &through, 0),
    ];
    let mut checked = 0;
    let mut run =
        |args: &[&str], proxy: &Proxy, code: i32| {
            let mut all_env: Vec<(&str, &str)> = env.to_vec();
            all_env.push(("AWS_ENDPOINT_URL", &proxy.endpoint));
            let skip = proxy.requests().len();
            let r = site.run_with(args, &all_env).fails(code);
            assert!(
            signed_with_sentinels(proxy, skip),
            "{args:?}: no request signed with the sentinel credentials reached the server: {:?}",
            proxy.requests().iter().skip(skip).map(|r| &r.head).collect::<Vec<_>>()
        );
            assert!(
                !leaks(&r.stdout) && !leaks(&r.stderr),
                "{args:?} leaked:\n{}\n{}",
                r.stdout,
                r.stderr
            );
            assert!(!r.stderr.is_empty(), "{args:?}: -vvv should log something");
            checked += 1;
        };
    for (args, proxy, code) in runs.drain(..) {
        run(&args, proxy, code);
    }
    // A publish that invalidates, and waits for it.
    site.write("public/index.html", "v2");
    site.commit("v2");
    run(&["-vvv", "--wait"], &through, 0);
    assert_eq!(invalidations(&dist).len(), 1);
    // The bucket's state record and everything under .git that git-publish may have written.
    let state = serde_json::to_string(&state_json(&b, "")).unwrap();
    assert!(!leaks(&state));
    for entry in walk(&site.dir.join(".git")) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !leaks(&String::from_utf8_lossy(&bytes)),
            "{entry} contains a sentinel"
        );
    }
    eprintln!(
        "secrets: {checked} runs at -vvv (GIT_PUBLISH_LOG=trace), each with a request signed with the sentinels; \
         state and .git searched: 0 leaks"
    );
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}
