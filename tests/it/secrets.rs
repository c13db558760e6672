//! Secrets never leak: with credentials set to sentinels, every command at maximum verbosity (successes and
//! failures) is searched for them in stdout, stderr, the state object and files git-publish writes.

use crate::util::*;

const SECRET: &str = "SENTINELsecretKEY0123456789abcdefSENTINEL";
const TOKEN: &str = "SENTINELsessionTOKEN9876543210SENTINEL";

fn leaks(text: &str) -> bool {
    text.contains(SECRET) || text.contains(TOKEN) || text.contains("SENTINEL")
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
    let down = {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        format!("http://127.0.0.1:{port}")
    };
    type Args<'a> = Vec<&'a str>;
    type Env<'a> = Vec<(&'a str, &'a str)>;
    let mut runs: Vec<(Args, Env)> = vec![
        (vec!["-vvv", "--dry-run"], vec![]),
        (vec!["-vvv"], vec![]),
        (vec!["-vvv", "--json"], vec![]),
        (vec!["-vvv", "status"], vec![]),
        (vec!["-vvv", "status", "--json"], vec![]),
        (vec!["-vvv", "--target", "nope"], vec![]),
        (vec!["-vvv", "--rev", "nope"], vec![]),
        (vec!["-vvv"], vec![("AWS_ENDPOINT_URL", down.as_str())]),
        (vec!["-vvv", "--wait"], vec![]),
    ];
    site.write("public/index.html", "v2");
    site.commit("v2");
    runs.push((vec!["-vvv", "--wait"], vec![]));
    let mut checked = 0;
    for (args, extra) in &runs {
        let mut all_env: Vec<(&str, &str)> = env.to_vec();
        all_env.extend(extra.iter().copied());
        let r = site.run_with(args, &all_env);
        assert!(
            !leaks(&r.stdout) && !leaks(&r.stderr),
            "{args:?} leaked:\n{}\n{}",
            r.stdout,
            r.stderr
        );
        assert!(!r.stderr.is_empty(), "{args:?}: -vvv should log something");
        checked += 1;
    }
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
        "secrets: {checked} runs at -vvv (GIT_PUBLISH_LOG=trace), state and .git searched: 0 leaks"
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
