//! Bad input: each case must exit non-zero with a message naming the thing and the fix, and change nothing.

use std::io::{Read, Write};

use crate::util::*;

struct Case {
    name: &'static str,
    /// Prepare the site (a small blog already published once to `bucket`) and return extra args.
    setup: fn(&Site, &str) -> Vec<String>,
    env: &'static [(&'static str, &'static str)],
    code: i32,
    /// Substrings the error output must contain.
    says: &'static [&'static str],
}

fn cfg(b: &str, extra: &str) -> String {
    format!("[source]\ndir = \"public\"\n[targets.production]\nurl = \"s3://{b}\"\n{extra}\n")
}

/// A loopback HTTP server that answers every request with `status` and `body` (for failures moto can't make).
fn canned_server(status: &'static str, body: &'static str) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().take(200) {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 65536];
            let _ = s.set_read_timeout(Some(std::time::Duration::from_millis(500)));
            let _ = s.read(&mut buf);
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(resp.as_bytes());
        }
    });
    format!("http://127.0.0.1:{port}")
}

const CASES: &[Case] = &[
    Case {
        name: "missing site.toml",
        setup: |s, _| {
            std::fs::remove_file(s.path("site.toml")).unwrap();
            vec![]
        },
        env: &[],
        code: 2,
        says: &["site.toml does not exist", "cp site.toml.example site.toml"],
    },
    Case {
        name: "malformed TOML",
        setup: |s, b| {
            s.config(&format!("[targets.production\nurl = \"s3://{b}\"\n"));
            vec![]
        },
        env: &[],
        code: 2,
        says: &["site.toml:1:", "site.toml.example"],
    },
    Case {
        name: "unknown key",
        setup: |s, b| {
            s.config(&cfg(b, "regoin = \"us-east-1\""));
            vec![]
        },
        env: &[],
        code: 2,
        says: &["site.toml:5:1", "unknown field `regoin`"],
    },
    Case {
        name: "wrong type",
        setup: |s, b| {
            s.config(&cfg(b, "max_deletes = \"many\""));
            vec![]
        },
        env: &[],
        code: 2,
        says: &["site.toml:5:", "max_deletes"],
    },
    Case {
        name: "bad url",
        setup: |s, _| {
            s.config("[targets.production]\nurl = \"s4://bucket\"\n");
            vec![]
        },
        env: &[],
        code: 2,
        says: &["targets.production.url", "s3://BUCKET"],
    },
    Case {
        name: "secret in the file",
        setup: |s, b| {
            s.config(&cfg(b, "aws_secret_access_key = \"abc\""));
            vec![]
        },
        env: &[],
        code: 2,
        says: &["never holds credentials", "AWS_ACCESS_KEY_ID"],
    },
    Case {
        name: "unknown target",
        setup: |_, _| vec!["--target".into(), "staging".into()],
        env: &[],
        code: 2,
        says: &["unknown target `staging`", "known: production"],
    },
    Case {
        name: "no default among several targets",
        setup: |s, b| {
            s.config(&format!(
                "{}[targets.staging]\nurl = \"s3://{b}/staging\"\n",
                cfg(b, "")
            ));
            vec![]
        },
        env: &[],
        code: 2,
        says: &["none is the default", "default = true"],
    },
    Case {
        name: "revision not found",
        setup: |_, _| vec!["--rev".into(), "no-such-branch".into()],
        env: &[],
        code: 2,
        says: &["revision `no-such-branch` not found"],
    },
    Case {
        name: "output directory missing",
        setup: |s, b| {
            s.config(&cfg(b, "").replace("dir = \"public\"", "dir = \"_site\""));
            vec![]
        },
        env: &[],
        code: 2,
        says: &["output directory `_site` does not exist", "source.dir"],
    },
    Case {
        name: "deployed commit unknown locally",
        setup: |_, b| {
            let mut st = state_json(b, "");
            st["deployed"]["commit"] = "abcdefabcdefabcdefabcdefabcdefabcdefabcd".into();
            put_state(b, &serde_json::to_vec(&st).unwrap());
            vec![]
        },
        env: &[],
        code: 2,
        says: &["abcdefabcdef", "git fetch --unshallow", "--since"],
    },
    Case {
        name: "shallow clone without the deployed commit",
        setup: |s, _| {
            let shallow = s.tmp.path().join("shallow");
            let url = format!("file://{}", s.dir.display());
            s.git(&[
                "clone",
                "-q",
                "--depth",
                "1",
                &url,
                shallow.to_str().unwrap(),
            ]);
            std::fs::remove_dir_all(s.dir.join(".git")).unwrap();
            std::fs::rename(shallow.join(".git"), s.dir.join(".git")).unwrap();
            vec![]
        },
        env: &[],
        code: 2,
        says: &["is not in this repository", "git fetch --unshallow"],
    },
    Case {
        name: "a path that would escape the prefix",
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
            vec![]
        },
        env: &[],
        code: 2,
        says: &[
            "`../passwd` would be published outside the target",
            "rename the file",
        ],
    },
    Case {
        name: "symlink in the output",
        setup: |s, _| {
            std::os::unix::fs::symlink("index.html", s.path("public/link.html")).unwrap();
            s.commit("symlink");
            vec![]
        },
        env: &[],
        code: 2,
        says: &["`link.html`", "symbolic link"],
    },
    Case {
        name: "submodule in the output",
        setup: |s, _| {
            let head = s.git(&["rev-parse", "HEAD"]);
            s.git(&[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("160000,{head},public/sub"),
            ]);
            s.git(&["commit", "-q", "-m", "submodule"]);
            vec![]
        },
        env: &[],
        code: 2,
        says: &["`sub`", "submodule"],
    },
    Case {
        name: "non-UTF-8 file name",
        setup: |s, _| {
            use std::os::unix::ffi::OsStrExt;
            let name = std::ffi::OsStr::from_bytes(b"public/bad\xff.html");
            std::fs::write(s.dir.join(name), "x").unwrap();
            s.commit("bad name");
            vec![]
        },
        env: &[],
        code: 2,
        says: &["not valid UTF-8", "rename the file"],
    },
    Case {
        name: "no credentials",
        setup: |_, _| vec![],
        env: &[("AWS_ACCESS_KEY_ID", ""), ("AWS_SECRET_ACCESS_KEY", "")],
        code: 1,
        says: &["no AWS credentials", "AWS_ACCESS_KEY_ID"],
    },
    Case {
        name: "bucket missing",
        setup: |s, _| {
            s.config(&cfg("no-such-bucket-here", ""));
            vec![]
        },
        env: &[],
        code: 1,
        says: &["does not exist", "aws s3 mb"],
    },
    Case {
        name: "access denied",
        setup: |s, b| {
            let ep = canned_server(
                "403 Forbidden",
                "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
            );
            s.config(&cfg(b, &format!("endpoint = \"{ep}\"")));
            vec![]
        },
        env: &[],
        code: 1,
        says: &["access denied", "iam-policy"],
    },
    Case {
        name: "wrong region",
        setup: |s, b| {
            let ep = canned_server(
                "301 Moved Permanently",
                "<?xml version=\"1.0\"?><Error><Code>PermanentRedirect</Code><Message>use the right endpoint</Message></Error>",
            );
            s.config(&cfg(
                b,
                &format!("endpoint = \"{ep}\"\nregion = \"eu-west-1\""),
            ));
            vec![]
        },
        env: &[],
        code: 1,
        says: &["another region", "`region`"],
    },
    Case {
        name: "endpoint unreachable",
        setup: |s, b| {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            s.config(&cfg(b, &format!("endpoint = \"http://127.0.0.1:{port}\"")));
            vec![]
        },
        env: &[],
        code: 1,
        says: &["unreachable", "endpoint"],
    },
    Case {
        name: "plain http to a remote endpoint",
        setup: |s, b| {
            s.config(&cfg(b, "endpoint = \"http://s3.example.com\""));
            vec![]
        },
        env: &[],
        code: 2,
        says: &["targets.production.endpoint", "allow_http"],
    },
    Case {
        name: "corrupt state",
        setup: |_, b| {
            put_state(b, b"{not json");
            vec![]
        },
        env: &[],
        code: 1,
        says: &["unreadable", ".git-publish/state.json", "--since"],
    },
    Case {
        name: "state from a newer version",
        setup: |_, b| {
            put_state(b, b"{\"format\": 99, \"target\": \"production\"}");
            vec![]
        },
        env: &[],
        code: 1,
        says: &["newer git-publish", "upgrade"],
    },
    Case {
        name: "too many deletes",
        setup: |s, b| {
            s.config(&cfg(b, "max_deletes = 1"));
            s.remove("public/feed.xml").remove("public/css/site.css");
            s.commit("deletes");
            vec![]
        },
        env: &[],
        code: 4,
        says: &["refusing to delete 2 objects", "--max-deletes"],
    },
    Case {
        name: "reserved state path in the output",
        setup: |s, _| {
            s.write("public/.git-publish/state.json", "{}");
            s.commit("reserved");
            vec![]
        },
        env: &[],
        code: 2,
        says: &[".git-publish/state.json", "reserved"],
    },
    Case {
        name: "bad flag value",
        setup: |_, _| vec!["--max-deletes".into(), "lots".into()],
        env: &[],
        code: 2,
        says: &["--max-deletes"],
    },
];

#[test]
fn bad_inputs_fail_clearly_and_change_nothing() {
    let mut failures = Vec::new();
    for case in CASES {
        let site = Site::new();
        let b = bucket("bad");
        small_blog(&site);
        site.config(&cfg(&b, ""));
        site.commit("v1");
        site.run(&[]).ok();
        // a pending change so that a wrongly successful run would be visible
        site.write("public/index.html", "changed");
        site.commit("v2");
        let args = (case.setup)(&site, &b);
        let before = objects(&b);
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
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
        let after = objects(&b);
        let changed: Vec<&String> = after
            .keys()
            .filter(|k| before.get(*k).map(|o| &o.body) != Some(&after[*k].body))
            .collect();
        if !changed.is_empty() || before.len() != after.len() {
            problems.push(format!("objects changed: {changed:?}"));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n  stderr: {}",
                case.name,
                problems.join("; "),
                r.stderr.trim()
            ));
        }
    }
    eprintln!(
        "bad input matrix: {} cases, {} failures",
        CASES.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
