//! Google Cloud Storage (`gs://bucket/prefix`) against gcp-storage-emulator (PyPI, in `.venv` by
//! `scripts/setup-test-env`) with the XML API and the generation preconditions it lacks added by
//! `tests/gcs/server.py` (each addition listed there with Google's documents), reached the way Google's clients
//! reach an emulator: `STORAGE_EMULATOR_HOST`, no credentials. The scenarios are `stores.rs`'s; each test has its
//! own bucket.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use crate::stores::Emulated;
use crate::util::*;

static EMULATOR: OnceLock<String> = OnceLock::new();

/// The shared emulator: port 0 (read from its output), objects in memory.
fn emulator() -> &'static str {
    EMULATOR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = root.join(".venv/bin/python");
        assert!(
            python.exists(),
            "the GCS tests need gcp-storage-emulator in .venv: run `scripts/setup-test-env`"
        );
        let dir = std::env::temp_dir().join(format!("git-publish-gcs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new(python);
        cmd.arg(root.join("tests/gcs/server.py"));
        start_server(cmd, &dir.join("gcs.log"), "listening on http://127.0.0.1:")
    })
}

/// One plain HTTP/1.0 request to the emulator: the status and the body.
fn request(method: &str, path: &str) -> (u16, Vec<u8>) {
    let host = emulator().trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, answer[split + 4..].to_vec())
}

pub(crate) struct Emulator;

impl Emulated for Emulator {
    fn upstream(&self) -> String {
        emulator().to_string()
    }

    fn bucket(&self, name: &str) -> String {
        let b = unique(&format!("gcs-{name}"))
            .to_ascii_lowercase()
            .replace('_', "-");
        assert_eq!(request("PUT", &format!("/{b}")).0, 200);
        b
    }

    fn url(&self, bucket: &str, prefix: &str) -> String {
        format!("gs://{bucket}/{prefix}")
    }

    fn env(&self, via: &str) -> Vec<(&'static str, String)> {
        vec![("STORAGE_EMULATOR_HOST", via.to_string())]
    }

    fn objects(&self, bucket: &str) -> BTreeMap<String, Vec<u8>> {
        let (status, body) = request("GET", &format!("/{bucket}?list-type=2"));
        assert_eq!(status, 200);
        let text = String::from_utf8(body).unwrap();
        (text.split("<Key>").skip(1))
            .map(|k| {
                let key = k.split("</Key>").next().unwrap().replace("&amp;", "&");
                let path = format!(
                    "/{bucket}/{}",
                    percent_encoding::utf8_percent_encode(&key, percent_encoding::NON_ALPHANUMERIC)
                );
                let (status, body) = request("GET", &path);
                assert_eq!(status, 200, "{key}");
                (key, body)
            })
            .collect()
    }

    /// The client encodes every byte of the key but letters and digits.
    fn request_path(&self, bucket: &str, key: &str) -> String {
        let enc = |s| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC);
        format!("/{}/{}", enc(bucket), enc(key))
    }

    fn is_list(&self, path: &str) -> bool {
        path.contains("list-type") || path.contains("/o?") || path.ends_with("/o")
    }

    fn refused(&self) -> &'static [u16] {
        &[412]
    }

    fn missing_fix(&self) -> &'static str {
        "gcloud storage buckets create"
    }
}

crate::store_scenarios!(&Emulator);
