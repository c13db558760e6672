//! Runs `source.build_command` before a snapshot build. Owns nothing else: no git, no config parsing.
//!
//! The command runs with `sh -c` from the repository root. Git's repository-locating variables (set when
//! git-publish runs inside a hook or as `git publish` from a linked worktree) are removed, so that git
//! commands inside the build see the repository the way a user's shell would. The build's stdout goes to
//! our stderr: stdout carries the plan and `--json`. The publisher's AWS credentials (`AWS_*`) are removed too,
//! unless `build_env = "inherit"`: a generator, its plugins and their install scripts have no need of them.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// Variables that point git at a repository; a build must not inherit them.
const GIT_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
    "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
    "GIT_QUARANTINE_PATH",
];

/// Run `command` from `root`; `inherit_aws`: keep the `AWS_*` variables (`build_env = "inherit"`).
pub fn run(command: &str, root: &Path, inherit_aws: bool) -> Result<()> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(std::io::stderr());
    for v in GIT_ENV {
        cmd.env_remove(v);
    }
    if !inherit_aws {
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(k);
            }
        }
    }
    let status = cmd
        .status()
        .map_err(|e| Error::io(format!("running the build command `{command}`"), e))?;
    if !status.success() {
        return Err(Error::BuildFailed {
            command: command.to_string(),
            status: status.to_string(),
        });
    }
    Ok(())
}
