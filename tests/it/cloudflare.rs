//! Cloudflare R2 + Cloudflare's cache: moto's S3 with R2's refusals switched on (`MOTO_R2=1`,
//! tests/moto/r2.py), a server of its own started once per test process, and the Cloudflare API stand-in
//! (tests/cloudflare/api.py), one per test with the limits it needs and its own request log.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

use crate::util::{rt, unique};

// ---- moto as R2 -----------------------------------------------------------------------------------------

pub struct R2 {
    pub endpoint: String,
    pub log: PathBuf,
}

/// moto with R2's refusals, shared by this process's tests (started on first use, dies with the process).
pub fn r2() -> &'static R2 {
    static R2: OnceLock<R2> = OnceLock::new();
    R2.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("git-publish-r2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("moto.log");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let bin = std::env::var("MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root.join("scripts/moto-server"));
        let mut cmd = Command::new(bin);
        cmd.args(["-H", "127.0.0.1", "-p", "0"]).env("MOTO_R2", "1");
        let child = start(cmd, Some(&log));
        std::mem::forget(child); // lives as long as the test process (PR_SET_PDEATHSIG)
        for _ in 0..300 {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(rest) = text.split("Running on http://127.0.0.1:").nth(1) {
                let port: u16 = (rest.split(|c: char| !c.is_ascii_digit()).next())
                    .unwrap()
                    .parse()
                    .unwrap();
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return R2 {
                        endpoint: format!("http://127.0.0.1:{port}"),
                        log,
                    };
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!(
            "moto (MOTO_R2=1) did not start; log: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    })
}

/// Start `cmd`, its output to `log` (or piped), dying with the test process on Linux.
fn start(mut cmd: Command, log: Option<&Path>) -> Child {
    use std::os::unix::process::CommandExt;
    cmd.stdin(Stdio::null());
    match log {
        Some(log) => {
            let f = std::fs::File::create(log).unwrap();
            cmd.stdout(f.try_clone().unwrap()).stderr(f);
        }
        None => {
            cmd.stdout(Stdio::piped());
        }
    }
    unsafe {
        cmd.pre_exec(|| {
            #[cfg(target_os = "linux")]
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn().unwrap_or_else(|e| {
        panic!("cannot start {cmd:?} ({e}); run `scripts/setup-test-env` (it installs moto into .venv)")
    })
}

impl R2 {
    /// An S3 client of R2's kind: region `auto`, path-style.
    pub fn client(&self, region: &str) -> aws_sdk_s3::Client {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
                Credentials::new("test", "test", None, None, "tests"),
            ))
            .endpoint_url(&self.endpoint)
            .build();
        let conf = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// (method, path, status) of each request to `bucket` (path-style), in order, from moto's log.
    pub fn requests(&self, bucket: &str) -> Vec<(String, String, u16)> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let prefix = format!("/{bucket}");
        (text.lines())
            .filter_map(|l| {
                // 127.0.0.1 - - [date] "PUT /bucket/key HTTP/1.1" 200 -   (maybe with ANSI colours)
                let mut quoted = l.split('"');
                let mut req = quoted.nth(1)?.split(' ');
                let method = req
                    .next()?
                    .trim_start_matches(|c: char| !c.is_ascii_uppercase());
                let path = req.next()?;
                let status = quoted.next()?.split_whitespace().next()?.parse().ok()?;
                let ours = path == prefix
                    || path.starts_with(&format!("{prefix}/"))
                    || path.starts_with(&format!("{prefix}?"));
                ours.then(|| (method.to_string(), path.to_string(), status))
            })
            .collect()
    }

    /// A fresh bucket (created as R2 aliases it: us-east-1, no location constraint).
    pub fn bucket(&self, name: &str) -> String {
        let b = unique(name).to_lowercase();
        (rt().block_on(self.client("us-east-1").create_bucket().bucket(&b).send())).unwrap();
        b
    }
}

// ---- the Cloudflare API stand-in ------------------------------------------------------------------------

pub const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";
pub const TOKEN: &str = "test-token";

/// One stand-in (tests/cloudflare/api.py), killed on drop.
pub struct StandIn {
    pub base: String,
    pub log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start the stand-in with `args` (`--max-files 30`, `--rate 1 --window 2`, …) on a port of its choosing.
pub fn stand_in(args: &[&str]) -> StandIn {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    let python = if python.exists() {
        python
    } else {
        "python3".into()
    };
    let mut cmd = Command::new(python);
    cmd.arg(root.join("tests/cloudflare/api.py"))
        .args(["--port", "0", "--token", TOKEN, "--log"])
        .arg(&log)
        .args(args);
    let mut child = start(cmd, None);
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = (line.trim().rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the Cloudflare stand-in printed {line:?}"));
    StandIn {
        base: format!("http://127.0.0.1:{port}/client/v4"),
        log,
        child,
        _dir: dir,
    }
}

impl StandIn {
    /// Every request, in order.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        (std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
    }

    /// The URLs of the requests Cloudflare accepted, in order.
    pub fn purged(&self) -> Vec<String> {
        (self.requests().iter())
            .filter(|r| r["status"] == 200)
            .flat_map(|r| r["files"].as_array().cloned().unwrap_or_default())
            .map(|u| u.as_str().unwrap().to_string())
            .collect()
    }
}

/// (HTTP status, S3 error code) of a refused request.
fn refusal<E: aws_sdk_s3::error::ProvideErrorMetadata>(
    e: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> (Option<u16>, Option<String>) {
    use aws_sdk_s3::error::ProvideErrorMetadata;
    let status = e.raw_response().map(|r| r.status().as_u16());
    (status, e.code().map(str::to_string))
}

// ---- the tests ------------------------------------------------------------------------------------------

/// The layer refuses what R2 refuses and leaves what R2 supports to moto.
#[test]
fn moto_as_r2_refuses_redirect_headers_acls_and_other_regions() {
    let r2 = r2();
    let b = r2.bucket("r2-layer");
    let c = r2.client("auto");
    rt().block_on(async {
        c.put_object()
            .bucket(&b)
            .key("a.html")
            .body(b"a".to_vec().into())
            .send()
            .await
            .unwrap();
        let e = (c
            .put_object()
            .bucket(&b)
            .key("old.html")
            .website_redirect_location("/a.html"))
        .body(Vec::new().into())
        .send()
        .await
        .unwrap_err();
        assert_eq!(refusal(e), (Some(501), Some("NotImplemented".into())));
        let e = (c
            .put_object()
            .bucket(&b)
            .key("p.html")
            .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead))
        .body(Vec::new().into())
        .send()
        .await
        .unwrap_err();
        assert_eq!(refusal(e), (Some(501), Some("NotImplemented".into())));
        let e = c
            .get_object_acl()
            .bucket(&b)
            .key("a.html")
            .send()
            .await
            .unwrap_err();
        assert_eq!(refusal(e), (Some(501), Some("NotImplemented".into())));
        let e = (r2.client("eu-west-1").put_object().bucket(&b).key("x"))
            .body(Vec::new().into())
            .send()
            .await
            .unwrap_err();
        assert_eq!(refusal(e), (Some(400), Some("InvalidRegionName".into())));
        // What R2 supports: conditional writes and copies.
        let e = (c.put_object().bucket(&b).key("a.html").if_none_match("*"))
            .body(b"b".to_vec().into())
            .send()
            .await
            .unwrap_err();
        assert_eq!(refusal(e).0, Some(412));
        c.copy_object()
            .bucket(&b)
            .key("b.html")
            .copy_source(format!("{b}/a.html"))
            .send()
            .await
            .unwrap();
        c.put_object()
            .bucket(&b)
            .key("c")
            .body(b"c".to_vec().into())
            .send()
            .await
            .unwrap();
    });
    let statuses: Vec<u16> = r2.requests(&b).iter().map(|r| r.2).collect();
    assert_eq!(statuses, [200, 200, 501, 501, 501, 400, 412, 200, 200]);
}

/// The stand-in itself, as the purge client and the publish tests rely on it: a purge logged with its URLs.
#[test]
fn the_stand_in_logs_each_purge_with_its_urls() {
    let cf = stand_in(&["--max-files", "30"]);
    let port = cf
        .base
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let body = r#"{"files":["https://blog.example.com/","https://blog.example.com/index.html"]}"#;
    let req = format!(
        "POST /client/v4/zones/{ZONE}/purge_cache HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""success": true"#), "{answer}");
    assert_eq!(
        cf.purged(),
        [
            "https://blog.example.com/",
            "https://blog.example.com/index.html"
        ]
    );
}
