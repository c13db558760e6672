//! Bad input: each case must exit non-zero with a message naming the thing and the fix, and change nothing: not
//! the bucket the site was published to, and not the bucket or endpoint the bad input points at (a canned
//! server records what it was sent; moto's log shows what reached another bucket). One test per case, each able
//! to run alone: `cargo test --test it bad_input::access_denied`.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use crate::util::*;

struct Case {
    /// Prepare the site (a small blog already published once to `bucket`): the extra args, and where else the
    /// input points.
    setup: fn(&Site, &str) -> Setup,
    env: &'static [(&'static str, &'static str)],
    code: i32,
    /// Substrings the error output must contain.
    says: &'static [&'static str],
}

/// What a case's setup returns.
#[derive(Default)]
struct Setup {
    args: Vec<String>,
    elsewhere: Elsewhere,
}

impl Setup {
    fn args(args: &[&str]) -> Setup {
        Setup {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Setup::default()
        }
    }
}

/// Where a case points other than the bucket it published to: nothing may be written there either.
#[derive(Default)]
enum Elsewhere {
    /// Only the published bucket.
    #[default]
    Nowhere,
    /// Another bucket in moto (its requests are in moto's log).
    Bucket(String),
    /// A canned server: every request it got, as `METHOD path`. A write sent there, though refused, means the
    /// publish went on past the error.
    Server(Arc<Mutex<Vec<String>>>),
}

/// A loopback HTTP server that answers every request with `status` and `body` (for failures moto can't make).
/// Returns its endpoint and the request lines it was sent.
fn canned_server(status: &'static str, body: &'static str) -> (String, Arc<Mutex<Vec<String>>>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for s in l.incoming().take(200) {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 65536];
            let _ = s.set_read_timeout(Some(std::time::Duration::from_millis(500)));
            let n = s.read(&mut buf).unwrap_or(0);
            let text = String::from_utf8_lossy(&buf[..n]);
            let line = text.lines().next().unwrap_or("").to_string();
            log.lock().unwrap().push(
                line.rsplit_once(' ')
                    .map_or(line.clone(), |(l, _)| l.to_string()),
            );
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(resp.as_bytes());
        }
    });
    (format!("http://127.0.0.1:{port}"), seen)
}

/// A site whose target points at a canned server answering `status` and `body`.
fn at_canned_server(
    s: &Site,
    b: &str,
    status: &'static str,
    body: &'static str,
    extra: &str,
) -> Setup {
    let (ep, seen) = canned_server(status, body);
    s.config(SiteToml::s3(b).with(&format!("endpoint = \"{ep}\"\n{extra}")));
    Setup {
        elsewhere: Elsewhere::Server(seen),
        ..Setup::default()
    }
}

fn is_write(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD")
}

/// One `#[test]` per case.
macro_rules! cases {
    ($($name:ident: $case:expr;)*) => {
        $(
            #[test]
            fn $name() {
                check(stringify!($name), $case);
            }
        )*
    };
}

cases! {
    missing_site_toml: Case {
        setup: |s, _| {
            std::fs::remove_file(s.path("site.toml")).unwrap();
            Setup::default()
        },
        env: &[],
        code: 2,
        says: &["site.toml does not exist", "cp site.toml.example site.toml"],
    };
    malformed_toml: Case {
        setup: |s, b| {
            s.config(&format!("[targets.production\nurl = \"s3://{b}\"\n"));
            Setup::default()
        },
        env: &[],
        code: 2,
        says: &["site.toml:1:", "site.toml.example"],
    };
    unknown_key: Case {
        setup: |s, b| {
            s.config(SiteToml::s3(b).with("regoin = \"us-east-1\""));
            Setup::default()
        },
        env: &[],
        code: 2,
        says: &["site.toml:5:1", "unknown field `regoin`"],
    };
    wrong_type: Case {
        setup: |s, b| {
            s.config(SiteToml::s3(b).with("max_deletes = \"many\""));
            Setup::default()
        },
        env: &[],
        code: 2,
        says: &["site.toml:5:", "max_deletes"],
    };
    bad_url: Case {
        setup: |s, _| {
            s.config("[targets.production]\nurl = \"s4://bucket\"\n");
            Setup { elsewhere: Elsewhere::Bucket("bucket".into()), ..Setup::default() }
        },
        env: &[],
        code: 2,
        says: &["targets.production.url", "s3://BUCKET"],
    };
    secret_in_the_file: Case {
        setup: |s, b| {
            s.config(SiteToml::s3(b).with("aws_secret_access_key = \"abc\""));
            Setup::default()
        },
        env: &[],
        code: 2,
        says: &["never holds credentials", "AWS_ACCESS_KEY_ID"],
    };
    unknown_target: Case {
        setup: |_, _| Setup::args(&["--target", "staging"]),
        env: &[],
        code: 2,
        says: &["unknown target `staging`", "known: production"],
    };
    no_default_among_several_targets: Case {
        setup: |s, b| {
            s.config(SiteToml::s3(b).then(&format!("[targets.staging]\nurl = \"s3://{b}/staging\"")));
            Setup::default()
        },
        env: &[],
        code: 2,
        says: &["none is the default", "default = true"],
    };
    revision_not_found: Case {
        setup: |_, _| Setup::args(&["--rev", "no-such-branch"]),
        env: &[],
        code: 2,
        says: &["revision `no-such-branch` not found"],
    };
    output_directory_missing: Case {
        setup: |s, b| {
            s.config(SiteToml::s3(b).dir("_site"));
            Setup::default()
        },
        env: &[],
        code: 2,
        says: &["output directory `_site` does not exist", "source.dir"],
    };
    deployed_commit_unknown_locally: Case {
        setup: |_, b| {
            let mut st = state_json(b, "");
            st["deployed"]["commit"] = "abcdefabcdefabcdefabcdefabcdefabcdefabcd".into();
            put_state(b, &serde_json::to_vec(&st).unwrap());
            Setup::default()
        },
        env: &[],
        code: 2,
        says: &["abcdefabcdef", "git fetch --unshallow", "--since"],
    };
    shallow_clone_without_the_deployed_commit: Case {
        setup: |s, _| {
            let shallow = s.tmp.path().join("shallow");
            let url = format!("file://{}", s.dir.display());
            s.git(&["clone", "-q", "--depth", "1", &url, shallow.to_str().unwrap()]);
            std::fs::remove_dir_all(s.dir.join(".git")).unwrap();
            std::fs::rename(shallow.join(".git"), s.dir.join(".git")).unwrap();
            Setup::default()
        },
        env: &[],
        code: 2,
        says: &["is not in this repository", "git fetch --unshallow"],
    };
    a_path_that_would_escape_the_prefix: Case {
        setup: |s, _| {
            // git's own commands refuse such names; a crafted tree can still hold them.
            let blob = s.git_input(&["hash-object", "-w", "--stdin"], "escaped");
            let inner = s.git_input(&["mktree"], format!("100644 blob {blob}\tpasswd\n"));
            let public = s.git(&["rev-parse", "HEAD:public"]);
            let listing = s.git(&["ls-tree", &public]);
            let public = s.git_input(&["mktree"], format!("{listing}\n040000 tree {inner}\t..\n"));
            let root = s.git(&["ls-tree", "HEAD"]);
            let root: Vec<String> = root
                .lines()
                .map(|l| {
                    if l.ends_with("\tpublic") {
                        format!("040000 tree {public}\tpublic")
                    } else {
                        l.to_string()
                    }
                })
                .collect();
            let tree = s.git_input(&["mktree"], &(root.join("\n") + "\n"));
            let commit = s.git(&["commit-tree", &tree, "-p", "HEAD", "-m", "escape"]);
            s.git(&["update-ref", "refs/heads/main", &commit]);
            Setup::default()
        },
        env: &[],
        code: 2,
        says: &["`../passwd` would be published outside the target", "rename the file"],
    };
    symlink_in_the_output: Case {
        setup: |s, _| {
            std::os::unix::fs::symlink("index.html", s.path("public/link.html")).unwrap();
            s.commit("symlink");
            Setup::default()
        },
        env: &[],
        code: 2,
        says: &["`link.html`", "symbolic link"],
    };
    submodule_in_the_output: Case {
        setup: |s, _| {
            let head = s.git(&["rev-parse", "HEAD"]);
            s.git(&["update-index", "--add", "--cacheinfo", &format!("160000,{head},public/sub")]);
            s.git(&["commit", "-q", "-m", "submodule"]);
            Setup::default()
        },
        env: &[],
        code: 2,
        says: &["`sub`", "submodule"],
    };
    non_utf8_file_name: Case {
        setup: |s, _| {
            use std::os::unix::ffi::OsStrExt;
            let name = std::ffi::OsStr::from_bytes(b"public/bad\xff.html");
            std::fs::write(s.dir.join(name), "x").unwrap();
            s.commit("bad name");
            Setup::default()
        },
        env: &[],
        code: 2,
        says: &["not valid UTF-8", "rename the file"],
    };
    no_credentials: Case {
        setup: |_, _| Setup::default(),
        env: &[("AWS_ACCESS_KEY_ID", ""), ("AWS_SECRET_ACCESS_KEY", "")],
        code: 1,
        says: &["no AWS credentials", "AWS_ACCESS_KEY_ID"],
    };
    bucket_missing: Case {
        setup: |s, _| {
            s.config(SiteToml::s3("no-such-bucket-here"));
            Setup { elsewhere: Elsewhere::Bucket("no-such-bucket-here".into()), ..Setup::default() }
        },
        env: &[],
        code: 1,
        says: &["does not exist", "aws s3 mb"],
    };
    access_denied: Case {
        setup: |s, b| at_canned_server(
            s,
            b,
            "403 Forbidden",
            "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
            "",
        ),
        env: &[],
        code: 1,
        says: &["access denied", "iam-policy"],
    };
    wrong_region: Case {
        setup: |s, b| at_canned_server(
            s,
            b,
            "301 Moved Permanently",
            "<?xml version=\"1.0\"?><Error><Code>PermanentRedirect</Code><Message>use the right endpoint</Message></Error>",
            "region = \"eu-west-1\"",
        ),
        env: &[],
        code: 1,
        says: &["another region", "`region`"],
    };
    // Nothing listens at the endpoint, so nothing can be written there; what is checked beyond the message is
    // that the publish did not fall back to the environment's endpoint (moto, where the bucket is).
    endpoint_unreachable: Case {
        setup: |s, b| {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            s.config(SiteToml::s3(b).with(&format!("endpoint = \"http://127.0.0.1:{port}\"")));
            Setup::default()
        },
        env: &[],
        code: 1,
        says: &["unreachable", "endpoint"],
    };
    // Refused while reading site.toml: no request leaves (s3.example.com is never resolved); the bucket in moto,
    // where the environment's endpoint points, is checked as for every case.
    plain_http_to_a_remote_endpoint: Case {
        setup: |s, b| {
            s.config(SiteToml::s3(b).with("endpoint = \"http://s3.example.com\""));
            Setup::default()
        },
        env: &[],
        code: 2,
        says: &["targets.production.endpoint", "allow_http"],
    };
    corrupt_state: Case {
        setup: |_, b| {
            put_state(b, b"{not json");
            Setup::default()
        },
        env: &[],
        code: 1,
        says: &["unreadable", ".git-publish/state.json", "--since"],
    };
    state_from_a_newer_version: Case {
        setup: |_, b| {
            put_state(b, b"{\"format\": 99, \"target\": \"production\"}");
            Setup::default()
        },
        env: &[],
        code: 1,
        says: &["newer git-publish", "upgrade"],
    };
    too_many_deletes: Case {
        setup: |s, b| {
            s.config(SiteToml::s3(b).with("max_deletes = 1"));
            s.remove("public/feed.xml").remove("public/css/site.css");
            s.commit("deletes");
            Setup::default()
        },
        env: &[],
        code: 4,
        says: &["refusing to delete 2 objects", "--max-deletes"],
    };
    reserved_state_path_in_the_output: Case {
        setup: |s, _| {
            s.write("public/.git-publish/state.json", "{}");
            s.commit("reserved");
            Setup::default()
        },
        env: &[],
        code: 2,
        says: &[".git-publish/state.json", "reserved"],
    };
    bad_flag_value: Case {
        setup: |_, _| Setup::args(&["--max-deletes", "lots"]),
        env: &[],
        code: 2,
        says: &["--max-deletes"],
    };
}

/// Publish a small blog to a fresh bucket, commit a change (so that a wrongly successful run would write it),
/// apply the case and run: the exit code, the words, and nothing written anywhere the case points.
fn check(name: &str, case: Case) {
    let site = Site::new();
    let b = bucket("bad");
    small_blog(&site);
    site.config(SiteToml::s3(&b));
    site.commit("v1");
    site.run(&[]).ok();
    site.write("public/index.html", "changed");
    site.commit("v2");
    let setup = (case.setup)(&site, &b);
    let before = objects(&b);
    let other_before = match &setup.elsewhere {
        Elsewhere::Bucket(o) => moto().request_count(o),
        _ => 0,
    };
    let seen_before = moto().request_count(&b);
    let args: Vec<&str> = setup.args.iter().map(|s| s.as_str()).collect();
    let r = site.run_with(&args, case.env);

    let mut problems = Vec::new();
    if r.code != case.code {
        problems.push(format!("exit {} (want {})", r.code, case.code));
    }
    for s in case.says {
        if !r.stderr.contains(s) {
            problems.push(format!("stderr lacks {s:?}"));
        }
    }
    // A refused conditional write (412) changes nothing: a clone without the mirror ref sends the
    // conditional-write probe's create beside its first read, in case the target is new.
    let applied = |q: &Req| is_write(&q.method) && (200..300).contains(&q.status);
    let writes: Vec<Req> = (moto().requests(&b).into_iter().skip(seen_before))
        .filter(applied)
        .collect();
    if !writes.is_empty() {
        problems.push(format!("writes reached the bucket: {writes:?}"));
    }
    let after = objects(&b);
    let changed: Vec<&String> = (after.keys().chain(before.keys()))
        .filter(|k| {
            before.get(*k).map(|o| (&o.body, &o.meta)) != after.get(*k).map(|o| (&o.body, &o.meta))
        })
        .collect();
    if !changed.is_empty() {
        problems.push(format!("objects changed: {changed:?}"));
    }
    match &setup.elsewhere {
        Elsewhere::Nowhere => {}
        Elsewhere::Bucket(other) => {
            let reqs: Vec<Req> = moto()
                .requests(other)
                .into_iter()
                .skip(other_before)
                .collect();
            // Any write sent there, refused or not: it would mean the publish went on past the error.
            let writes: Vec<&Req> = reqs.iter().filter(|q| is_write(&q.method)).collect();
            if !writes.is_empty() {
                problems.push(format!("writes reached s3://{other}: {writes:?}"));
            }
        }
        Elsewhere::Server(seen) => {
            let seen = seen.lock().unwrap();
            if seen.is_empty() {
                problems
                    .push("the canned server was never asked: the case tests nothing there".into());
            }
            // The claim of a clone that knows the record is its first request (a PUT with If-Match, which
            // the canned server refuses like any other): any other write would mean it went on past the error.
            let writes: Vec<&String> = (seen.iter())
                .filter(|l| is_write(l.split(' ').next().unwrap_or("")))
                .filter(|l| !l.starts_with("PUT ") || !l.contains("/.git-publish/state.json?"))
                .collect();
            if !writes.is_empty() {
                problems.push(format!("writes reached the canned server: {writes:?}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{name}: {}\n  stderr: {}",
        problems.join("; "),
        r.stderr.trim()
    );
}
