//! Test rig: a real git repository in a temp dir with git's environment pinned, the real `git-publish` binary,
//! and moto's server (S3 + CloudFront on one port on 127.0.0.1), started once per test process.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

pub const BIN: &str = env!("CARGO_BIN_EXE_git-publish");

/// The binary under test: `$GIT_PUBLISH_BIN` when set (a private copy, safe from concurrent builds in a shared
/// target dir), else the one cargo built.
pub fn bin() -> String {
    std::env::var("GIT_PUBLISH_BIN").unwrap_or_else(|_| BIN.to_string())
}

// ---- moto ----------------------------------------------------------------------------------------------

pub struct Moto {
    pub endpoint: String,
    log: PathBuf,
}

static MOTO: OnceLock<Moto> = OnceLock::new();

fn moto_binary() -> PathBuf {
    if let Ok(p) = std::env::var("MOTO_SERVER") {
        return p.into();
    }
    // moto with the CloudFront behaviour it lacks (tests/moto/server.py), run by the venv's python.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if root.join(".venv/bin/python").exists() {
        return root.join("scripts/moto-server");
    }
    "moto_server".into()
}

/// The shared moto server. Started on first use from a thread that lives as long as the process, with
/// PR_SET_PDEATHSIG so it dies with the test process.
pub fn moto() -> &'static Moto {
    MOTO.get_or_init(|| {
        if let Ok(ep) = std::env::var("GIT_PUBLISH_TEST_ENDPOINT") {
            let log = std::env::var("GIT_PUBLISH_TEST_MOTO_LOG").expect("GIT_PUBLISH_TEST_MOTO_LOG with GIT_PUBLISH_TEST_ENDPOINT");
            return Moto { endpoint: ep, log: log.into() };
        }
        let dir = std::env::temp_dir().join(format!("git-publish-moto-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("moto.log");
        // Port 0: the server picks a free port and prints it (picking one here and handing it over races with
        // other processes doing the same).
        let (tx, rx) = std::sync::mpsc::channel();
        let mut cmd = Command::new(moto_binary());
        cmd.args(["-H", "127.0.0.1", "-p", "0"]);
        spawn_server(cmd, log.clone(), tx);
        if let Err(e) = rx.recv().unwrap() {
            panic!("cannot start moto_server ({e}); run `scripts/test` once (it installs the test servers), or `python3 -m venv .venv && .venv/bin/pip install 'moto[server]'`");
        }
        for _ in 0..300 {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(rest) = text.split("Running on http://127.0.0.1:").nth(1) {
                let port: u16 = rest.split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap();
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Moto { endpoint: format!("http://127.0.0.1:{port}"), log };
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("moto_server did not start; log: {}", std::fs::read_to_string(&log).unwrap_or_default());
    })
}

// ---- s3rver -------------------------------------------------------------------------------------------

/// s3rver (npm), an S3 server that answers 200 to conditional PUTs that should fail: the store the
/// conditional-write probe must catch. One bucket, [`S3RVER_BUCKET`]; tests use their own prefix in it.
pub struct S3rver {
    pub endpoint: String,
}

pub const S3RVER_BUCKET: &str = "s3rver-tests";

static S3RVER: OnceLock<S3rver> = OnceLock::new();

fn s3rver_binary() -> PathBuf {
    if let Ok(p) = std::env::var("S3RVER") {
        return p.into();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".node/node_modules/.bin/s3rver")
}

/// The shared s3rver, started on first use like [`moto`] (port 0; the port is read from its log). Fails
/// loudly, never skips, when node or s3rver is missing.
pub fn s3rver() -> &'static S3rver {
    S3RVER.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("git-publish-s3rver-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let log = dir.join("s3rver.log");
        let bin = s3rver_binary();
        assert!(
            bin.exists() && Command::new("node").arg("--version").output().is_ok(),
            "s3rver is needed for the conditional-write tests and was not found at {} (or node is missing): \
             run `scripts/setup-test-env` (it needs node and npm), or set S3RVER",
            bin.display()
        );
        let mut cmd = Command::new(bin);
        cmd.arg("-d").arg(dir.join("data"));
        cmd.args(["-a", "127.0.0.1", "-p", "0", "--configure-bucket", S3RVER_BUCKET]);
        let (tx, rx) = std::sync::mpsc::channel();
        spawn_server(cmd, log.clone(), tx);
        if let Err(e) = rx.recv().unwrap() {
            panic!("cannot start s3rver ({e}); run `scripts/setup-test-env`");
        }
        for _ in 0..300 {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(rest) = text.split("listening on 127.0.0.1:").nth(1) {
                let port: u16 = rest.split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap();
                return S3rver { endpoint: format!("http://127.0.0.1:{port}") };
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("s3rver did not start; log: {}", std::fs::read_to_string(&log).unwrap_or_default());
    })
}

impl S3rver {
    /// The environment a publish to s3rver needs (its fixed credentials).
    pub const ENV: &'static [(&'static str, &'static str)] = &[
        ("AWS_ACCESS_KEY_ID", "S3RVER"),
        ("AWS_SECRET_ACCESS_KEY", "S3RVER"),
    ];

    /// The keys under `prefix/` in the s3rver bucket.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let out = rt()
            .block_on(
                self.client()
                    .list_objects_v2()
                    .bucket(S3RVER_BUCKET)
                    .prefix(format!("{prefix}/"))
                    .send(),
            )
            .unwrap();
        out.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect()
    }

    /// The body of `key` in the s3rver bucket.
    pub fn get(&self, key: &str) -> Vec<u8> {
        rt().block_on(async {
            let out = (self.client().get_object())
                .bucket(S3RVER_BUCKET)
                .key(key)
                .send()
                .await
                .unwrap();
            out.body.collect().await.unwrap().to_vec()
        })
    }

    fn client(&self) -> aws_sdk_s3::Client {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
                Credentials::new("S3RVER", "S3RVER", None, None, "tests"),
            ))
            .endpoint_url(&self.endpoint)
            .build();
        let conf = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// A site.toml whose target `p` is a fresh prefix in the s3rver bucket.
    pub fn site_toml(&self, prefix: &str) -> SiteToml {
        let endpoint = format!("endpoint = \"{}\"", self.endpoint);
        SiteToml::s3(S3RVER_BUCKET)
            .prefix(prefix)
            .name("p")
            .with(&endpoint)
    }
}

/// Start a test server that picks its own port and prints it after `marker` (`...listens on http://127.0.0.1:`),
/// as [`spawn_server`] does; its endpoint once it accepts connections.
pub fn start_server(cmd: Command, log: &Path, marker: &str) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    spawn_server(cmd, log.to_path_buf(), tx);
    if let Err(e) = rx.recv().unwrap() {
        panic!(
            "cannot start {} ({e}); run `scripts/setup-test-env`",
            log.display()
        );
    }
    for _ in 0..600 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(rest) = text.split(marker).nth(1) {
            let port: u16 = rest
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap();
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return format!("http://127.0.0.1:{port}");
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!(
        "the server did not start; log: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// Start a test server (`cmd`, output to `log`) from a thread that lives as long as the process, with
/// PR_SET_PDEATHSIG so that it dies with the test process. `started` gets whether it could be spawned.
fn spawn_server(
    mut cmd: Command,
    log: PathBuf,
    started: std::sync::mpsc::Sender<Result<(), String>>,
) {
    std::thread::spawn(move || {
        use std::os::unix::process::CommandExt;
        let logf = std::fs::File::create(&log).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(logf.try_clone().unwrap())
            .stderr(logf);
        unsafe {
            cmd.pre_exec(|| {
                // Linux only: the server dies with the test process. Elsewhere it is killed on drop.
                #[cfg(target_os = "linux")]
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn();
        started
            .send(child.as_ref().map(|_| ()).map_err(|e| e.to_string()))
            .unwrap();
        if let Ok(mut c) = child {
            let _ = c.wait();
        }
        // keep this thread (the child's parent) alive until the process exits
        loop {
            std::thread::park();
        }
    });
}

/// One request from moto's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub status: u16,
}

impl Moto {
    /// Requests whose path is in `bucket` (path-style), in order.
    pub fn requests(&self, bucket: &str) -> Vec<Req> {
        let f = std::fs::File::open(&self.log).unwrap();
        let prefix = format!("/{bucket}");
        BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| {
                // 127.0.0.1 - - [date] "GET /bucket/key HTTP/1.1" 200 -   (newer werkzeug adds ANSI colours)
                let l = strip_ansi(&l);
                let q = l.split('"').nth(1)?;
                let mut parts = q.split(' ');
                let method = parts.next()?.to_string();
                let path = parts.next()?.to_string();
                let status = l
                    .split('"')
                    .nth(2)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()?;
                (path == prefix
                    || path.starts_with(&format!("{prefix}/"))
                    || path.starts_with(&format!("{prefix}?")))
                .then_some(Req {
                    method,
                    path,
                    status,
                })
            })
            .collect()
    }

    pub fn request_count(&self, bucket: &str) -> usize {
        self.requests(bucket).len()
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

pub fn unique(name: &str) -> String {
    format!(
        "{name}-{}-{}",
        std::process::id(),
        UNIQUE.fetch_add(1, Ordering::SeqCst)
    )
}

// ---- AWS clients for assertions -----------------------------------------------------------------------

pub fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

fn sdk() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            Credentials::new("test", "test", None, None, "tests"),
        ))
        .endpoint_url(&moto().endpoint)
        .build()
}

pub fn s3() -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(&sdk())
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

pub fn cloudfront() -> aws_sdk_cloudfront::Client {
    aws_sdk_cloudfront::Client::new(&sdk())
}

/// A fresh bucket in moto.
pub fn bucket(name: &str) -> String {
    let b = unique(name).to_lowercase();
    rt().block_on(s3().create_bucket().bucket(&b).send())
        .unwrap();
    b
}

#[derive(Debug, Clone)]
pub struct Obj {
    pub body: Vec<u8>,
    pub content_type: String,
    pub meta: BTreeMap<String, String>,
    pub cache_control: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
}

/// Every object in the bucket (test side: listing is fine here).
pub fn objects(bucket: &str) -> BTreeMap<String, Obj> {
    rt().block_on(async {
        let c = s3();
        let mut out = BTreeMap::new();
        let mut pages = c.list_objects_v2().bucket(bucket).into_paginator().send();
        while let Some(page) = pages.next().await {
            for o in page.unwrap().contents() {
                let key = o.key().unwrap().to_string();
                let got = c
                    .get_object()
                    .bucket(bucket)
                    .key(&key)
                    .send()
                    .await
                    .unwrap();
                let content_type = got.content_type().unwrap_or_default().to_string();
                let cache_control = got.cache_control().map(str::to_string);
                let content_encoding = got.content_encoding().map(str::to_string);
                let content_disposition = got.content_disposition().map(str::to_string);
                let meta = got
                    .metadata()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                let body = got.body.collect().await.unwrap().into_bytes().to_vec();
                out.insert(
                    key,
                    Obj {
                        body,
                        content_type,
                        meta,
                        cache_control,
                        content_encoding,
                        content_disposition,
                    },
                );
            }
        }
        out
    })
}

/// Site objects only (without git-publish's own state).
pub fn site_objects(bucket: &str) -> BTreeMap<String, Obj> {
    objects(bucket)
        .into_iter()
        .filter(|(k, _)| !k.contains(".git-publish/"))
        .collect()
}

pub fn state_json(bucket: &str, prefix: &str) -> serde_json::Value {
    let key = if prefix.is_empty() {
        ".git-publish/state.json".to_string()
    } else {
        format!("{prefix}/.git-publish/state.json")
    };
    rt().block_on(async {
        let got = s3()
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        serde_json::from_slice(&got.body.collect().await.unwrap().into_bytes()).unwrap()
    })
}

/// A CloudFront distribution in moto with the bucket as origin. Returns its id.
pub fn distribution(bucket: &str) -> String {
    distribution_with(bucket, "", &[])
}

/// A CloudFront distribution in moto with the bucket as origin under `origin_path` (e.g. "/site"), and
/// these aliases. Returns its id.
#[allow(deprecated)] // moto wants the legacy cache settings
pub fn distribution_with(bucket: &str, origin_path: &str, aliases: &[&str]) -> String {
    use aws_sdk_cloudfront::types::*;
    let origin = Origin::builder()
        .id("s3origin")
        .domain_name(format!("{bucket}.s3.amazonaws.com"))
        .origin_path(origin_path)
        .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
        .build()
        .unwrap();
    let config = DistributionConfig::builder()
        .caller_reference(unique("dist"))
        .comment("test")
        .enabled(true)
        .aliases(
            Aliases::builder()
                .quantity(aliases.len() as i32)
                .set_items(Some(aliases.iter().map(|a| a.to_string()).collect()))
                .build()
                .unwrap(),
        )
        .origins(
            Origins::builder()
                .quantity(1)
                .items(origin)
                .build()
                .unwrap(),
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("s3origin")
                .viewer_protocol_policy(ViewerProtocolPolicy::AllowAll)
                .min_ttl(0)
                .forwarded_values(
                    ForwardedValues::builder()
                        .query_string(false)
                        .cookies(
                            CookiePreference::builder()
                                .forward(ItemSelection::None)
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .trusted_signers(
                    TrustedSigners::builder()
                        .enabled(false)
                        .quantity(0)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let out = rt()
        .block_on(
            cloudfront()
                .create_distribution()
                .distribution_config(config)
                .send(),
        )
        .unwrap();
    out.distribution().unwrap().id().to_string()
}

/// What git-publish names the site's things (`git publish cdn-function --print --json`): the function's name
/// and the `git-publish:site` tag value of a distribution that is the site's.
pub fn site_names(site: &Site) -> (String, String) {
    let out = site.run(&["cdn-function", "--print", "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    (
        v["name"].as_str().unwrap().to_string(),
        v["site"]["tag"]["value"].as_str().unwrap().to_string(),
    )
}

/// Tag `dist` as the site's, as `setup` does when it creates or adopts it: a publish with
/// `cdn_function = "manage"` may then make it run the site's function.
pub fn tag_for_site(site: &Site, dist: &str) {
    use aws_sdk_cloudfront::types::{Tag, Tags};
    let (_, value) = site_names(site);
    rt().block_on(async {
        let c = cloudfront();
        let arn = c.get_distribution().id(dist).send().await.unwrap();
        let arn = arn.distribution().unwrap().arn().to_string();
        let tag = Tag::builder()
            .key("git-publish:site")
            .value(value)
            .build()
            .unwrap();
        c.tag_resource()
            .resource(arn)
            .tags(Tags::builder().items(tag).build())
            .send()
            .await
            .unwrap();
    })
}

/// A CloudFront Function `name` made by hand (its comment names no site), published with `code`.
pub fn function_made_by_hand(name: &str, code: &str) {
    use aws_sdk_cloudfront::primitives::Blob;
    use aws_sdk_cloudfront::types::{FunctionConfig, FunctionRuntime};
    rt().block_on(async {
        let c = cloudfront();
        let config = FunctionConfig::builder()
            .comment("made by hand")
            .runtime(FunctionRuntime::CloudfrontJs20)
            .build()
            .unwrap();
        let made = (c.create_function().name(name))
            .function_config(config)
            .function_code(Blob::new(code))
            .send()
            .await
            .unwrap();
        (c.publish_function().name(name))
            .if_match(made.e_tag().unwrap())
            .send()
            .await
            .unwrap();
    });
}

/// Paths of every invalidation of a distribution, newest first.
pub fn invalidations(dist: &str) -> Vec<Vec<String>> {
    rt().block_on(async {
        let c = cloudfront();
        let list = c
            .list_invalidations()
            .distribution_id(dist)
            .send()
            .await
            .unwrap();
        let mut out = Vec::new();
        for s in list
            .invalidation_list()
            .map(|l| l.items())
            .unwrap_or_default()
        {
            let inv = c
                .get_invalidation()
                .distribution_id(dist)
                .id(s.id())
                .send()
                .await
                .unwrap();
            let mut paths: Vec<String> = inv
                .invalidation()
                .unwrap()
                .invalidation_batch()
                .unwrap()
                .paths()
                .unwrap()
                .items()
                .to_vec();
            paths.sort();
            out.push(paths);
        }
        out
    })
}

// ---- git repositories ------------------------------------------------------------------------------------

pub struct Site {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
    home: PathBuf,
    tick: Mutex<u64>,
    pub git: String,
}

pub fn git_binary() -> String {
    std::env::var("GIT_PUBLISH_TEST_GIT").unwrap_or_else(|_| "git".into())
}

/// PATH for every process a test starts: with `GIT_PUBLISH_TEST_GIT` set, a directory whose `git` is that binary
/// comes first, so that hooks and `git publish push` (which run `git` from PATH) use the git under test too.
pub fn test_path() -> String {
    static DIR: OnceLock<Option<tempfile::TempDir>> = OnceLock::new();
    let path = std::env::var("PATH").unwrap_or_default();
    let dir = DIR.get_or_init(|| {
        let git = std::env::var("GIT_PUBLISH_TEST_GIT").ok()?;
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(&git, dir.path().join("git")).unwrap();
        Some(dir)
    });
    match dir {
        Some(d) => format!("{}:{path}", d.path().display()),
        None => path,
    }
}

impl Site {
    /// An empty repository on branch `main`.
    pub fn new() -> Site {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("site");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let s = Site {
            tmp,
            dir,
            home,
            tick: Mutex::new(0),
            git: git_binary(),
        };
        s.git(&["init", "-q", "-b", "main"]);
        s
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    pub fn env(&self, cmd: &mut Command) {
        let t = {
            let mut t = self.tick.lock().unwrap();
            *t += 1;
            *t
        };
        let date = format!("{} +0000", 1_700_000_000 + t * 60);
        cmd.env_clear()
            .env("PATH", test_path())
            .env("HOME", &self.home)
            .env("LANG", "C.UTF-8")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.com")
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", self.home.join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.home.join("no-aws-credentials"),
            )
            .env("AWS_ENDPOINT_URL", &moto().endpoint)
            .env("NO_COLOR", "1");
    }

    pub fn git(&self, args: &[&str]) -> String {
        let mut cmd = Command::new(&self.git);
        self.env(&mut cmd);
        let out = cmd.args(args).current_dir(&self.dir).output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// git with `input` (text or bytes) on stdin.
    pub fn git_input(&self, args: &[&str], input: impl AsRef<[u8]>) -> String {
        use std::io::Write;
        let mut cmd = Command::new(&self.git);
        self.env(&mut cmd);
        let mut child = cmd
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_ref())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    pub fn write(&self, rel: &str, body: impl AsRef<[u8]>) -> &Site {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
        self
    }

    pub fn remove(&self, rel: &str) -> &Site {
        std::fs::remove_file(self.path(rel)).unwrap();
        self
    }

    /// `git add -A && git commit`; returns the commit id.
    pub fn commit(&self, msg: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", msg]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Write site.toml: a [`SiteToml`], or the text of a config under test.
    pub fn config(&self, text: impl ConfigText) -> &Site {
        self.write("site.toml", text.text())
    }

    /// Run git-publish with `args` in the site directory.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(bin());
        self.env(&mut cmd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Run::from(out)
    }
}

impl Site {
    /// Start git-publish without waiting (for kills and races).
    pub fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
        let mut cmd = Command::new(bin());
        self.env(&mut cmd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn fails(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

/// Strings of a JSON array.
pub fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Replace the target's state object in bucket `b` with `body` (corrupt, foreign or planted records).
pub fn put_state(b: &str, body: &[u8]) {
    rt().block_on(
        s3().put_object()
            .bucket(b)
            .key(".git-publish/state.json")
            .body(body.to_vec().into())
            .send(),
    )
    .unwrap();
}

/// Deterministic, incompressible bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A small blog: home, two posts, CSS, an image, a feed.
pub fn small_blog(site: &Site) {
    site.write("public/index.html", "<h1>Home</h1><a href=/posts/a/>a</a>")
        .write("public/posts/a/index.html", "<h1>A</h1>")
        .write("public/posts/b/index.html", "<h1>B</h1>")
        .write("public/css/site.css", "body{}")
        .write(
            "public/img/logo.png",
            [0x89u8, b'P', b'N', b'G', 0, 1, 2, 3],
        )
        .write("public/feed.xml", "<rss/>")
        .write("README.md", "not published");
}

// ---- site.toml ---------------------------------------------------------------------------------------------

/// The one site.toml builder of the tests: `[source] dir = "public"` and one target (`production` unless
/// [`SiteToml::name`]d), built up key by key. Configs that test parsing itself stay inline.
///
/// ```ignore
/// site.config(SiteToml::s3(&b).distribution(&dist).with("redirect_renames = \"auto\"").then(RULES));
/// ```
#[derive(Debug, Clone)]
pub struct SiteToml {
    top: String,
    dir: String,
    source: String,
    name: String,
    url: String,
    target: String,
    after: String,
}

impl SiteToml {
    /// A target at the root of `bucket`.
    pub fn s3(bucket: &str) -> SiteToml {
        SiteToml::url(&format!("s3://{bucket}"))
    }

    /// A target at `url` (`s3://…` or `file:…`).
    pub fn url(url: &str) -> SiteToml {
        SiteToml {
            top: String::new(),
            dir: "public".into(),
            source: String::new(),
            name: "production".into(),
            url: url.into(),
            target: String::new(),
            after: String::new(),
        }
    }

    /// The target under a key prefix of its bucket.
    pub fn prefix(mut self, prefix: &str) -> SiteToml {
        self.url = format!("{}/{prefix}", self.url.trim_end_matches('/'));
        self
    }

    /// `source.dir` (default `public`).
    pub fn dir(mut self, dir: &str) -> SiteToml {
        self.dir = dir.into();
        self
    }

    /// The target's name (default `production`).
    pub fn name(mut self, name: &str) -> SiteToml {
        self.name = name.into();
        self
    }

    /// `distribution = "ID"`.
    pub fn distribution(self, id: &str) -> SiteToml {
        self.with(&format!("distribution = \"{id}\""))
    }

    /// `cdn_function = "manage"`.
    pub fn managed_function(self) -> SiteToml {
        self.with("cdn_function = \"manage\"")
    }

    /// More lines of the target's table (`key = value`, one or several).
    pub fn with(mut self, lines: &str) -> SiteToml {
        push_lines(&mut self.target, lines);
        self
    }

    /// More lines of `[source]`.
    pub fn source(mut self, lines: &str) -> SiteToml {
        push_lines(&mut self.source, lines);
        self
    }

    /// Lines at the top of the file, before any table (e.g. `publisher = "…"`).
    pub fn top(mut self, lines: &str) -> SiteToml {
        push_lines(&mut self.top, lines);
        self
    }

    /// Tables after the target: `[[rules]]`, `[[redirects]]`, `[targets.production.previews]`, other targets.
    pub fn then(mut self, text: &str) -> SiteToml {
        push_lines(&mut self.after, text);
        self
    }
}

/// What [`Site::config`] writes: a [`SiteToml`], or a text (borrowed, as the tests have always passed it).
pub trait ConfigText {
    fn text(self) -> String;
}

impl ConfigText for SiteToml {
    fn text(self) -> String {
        self.to_string()
    }
}

impl ConfigText for &SiteToml {
    fn text(self) -> String {
        self.to_string()
    }
}

impl ConfigText for &str {
    fn text(self) -> String {
        self.to_string()
    }
}

impl ConfigText for &String {
    fn text(self) -> String {
        self.clone()
    }
}

fn push_lines(to: &mut String, lines: &str) {
    if !lines.is_empty() {
        to.push_str(lines);
        if !lines.ends_with('\n') {
            to.push('\n');
        }
    }
}

impl std::fmt::Display for SiteToml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let SiteToml {
            top,
            dir,
            source,
            name,
            url,
            target,
            after,
        } = self;
        write!(
            f,
            "{top}[source]\ndir = \"{dir}\"\n{source}[targets.{name}]\nurl = \"{url}\"\n{target}{after}"
        )
    }
}
