//! Test-only (the unit tests, and `tests/it` through `#[path]`): a cloud API's stand-in (a Python script under `tests/`, standard library only) started on
//! 127.0.0.1 with the arguments a test needs, killed on drop, and the JSON lines it logs of every request.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The stand-ins' rate limit by count, not time: after one accepted request, two answered 429 with
/// `Retry-After: 1` (`tests/standin.py`).
#[allow(dead_code)]
pub const THROTTLE_TWICE: &[&str] = &[
    "--throttle-after",
    "1",
    "--throttle-times",
    "2",
    "--retry-after",
    "1",
];

/// One stand-in, killed on drop.
pub struct StandIn {
    /// `http://127.0.0.1:PORT`
    pub origin: String,
    log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

impl StandIn {
    /// Start `script` (relative to the crate) with `--port 0 --log FILE` and `args`.
    pub fn start(script: &str, args: &[&str]) -> StandIn {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("requests.jsonl");
        let mut child = Command::new(python())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(script))
            .args(["--port", "0", "--log"])
            .arg(&log)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("python3 runs {script}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = (line.trim().rsplit(':').next())
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or_else(|| panic!("{script} printed {line:?}"));
        StandIn {
            origin: format!("http://127.0.0.1:{port}"),
            log,
            child,
            _dir: dir,
        }
    }

    /// Every request, in order.
    #[allow(dead_code)]
    pub fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The requests of `method`, in order.
    #[allow(dead_code)] // each of the two test builds uses a part
    pub fn of(&self, method: &str) -> Vec<serde_json::Value> {
        (self.requests().into_iter())
            .filter(|r| r["method"] == method)
            .collect()
    }
}
