//! Azure Blob Storage (`azblob://container/prefix`) against Azurite (npm `azurite`, installed in `.node` by
//! `scripts/setup-test-env`; `AZURITE` names another `azurite-blob`), reached the way users reach it: through
//! `AZURE_STORAGE_CONNECTION_STRING` with Azurite's well-known development account. The scenarios are
//! `stores.rs`'s; each test has its own container.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use futures::TryStreamExt;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::stores::Emulated;
use crate::util::*;

const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

static AZURITE: OnceLock<String> = OnceLock::new();

fn azurite_binary() -> PathBuf {
    if let Ok(p) = std::env::var("AZURITE") {
        return p.into();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".node/node_modules/.bin/azurite-blob")
}

/// The shared Azurite blob service: port 0 (read from its output), blobs in memory, no telemetry.
fn azurite() -> &'static str {
    AZURITE.get_or_init(|| {
        let bin = azurite_binary();
        assert!(
            bin.exists(),
            "azurite is needed for the Azure tests and was not found at {}: run `scripts/setup-test-env` \
             (it needs node and npm), or set AZURITE",
            bin.display()
        );
        let dir = std::env::temp_dir().join(format!("git-publish-azurite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new(bin);
        cmd.args(["--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence"]);
        cmd.args(["--skipApiVersionCheck", "--disableTelemetry"]);
        start_server(cmd, &dir.join("azurite.log"), "successfully listens on http://127.0.0.1:")
    })
}

pub(crate) struct Azurite;

impl Emulated for Azurite {
    fn upstream(&self) -> String {
        azurite().to_string()
    }

    /// A container made with `tests/azurite/container.py` (Azurite, like Azure, makes none on its own).
    fn bucket(&self, name: &str) -> String {
        let c = unique(&format!("az-{name}"))
            .to_ascii_lowercase()
            .replace('_', "-");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/azurite/container.py");
        let account_url = format!("{}/{ACCOUNT}", azurite());
        let out = Command::new("python3")
            .arg(script)
            .args([&account_url, &c])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        c
    }

    fn url(&self, bucket: &str, prefix: &str) -> String {
        format!("azblob://{bucket}/{prefix}")
    }

    fn env(&self, via: &str) -> Vec<(&'static str, String)> {
        let conn = format!(
            "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={via}/{ACCOUNT};"
        );
        vec![("AZURE_STORAGE_CONNECTION_STRING", conn)]
    }

    fn objects(&self, bucket: &str) -> BTreeMap<String, Vec<u8>> {
        let store = MicrosoftAzureBuilder::new()
            .with_account(ACCOUNT)
            .with_access_key(KEY)
            .with_endpoint(format!("{}/{ACCOUNT}", azurite()))
            .with_allow_http(true)
            .with_container_name(bucket)
            .build()
            .unwrap();
        rt().block_on(async {
            let metas: Vec<_> = store.list(None).try_collect().await.unwrap();
            let mut out = BTreeMap::new();
            for m in metas {
                let body = store.get(&m.location).await.unwrap().bytes().await.unwrap();
                out.insert(m.location.to_string(), body.to_vec());
            }
            out
        })
    }

    fn request_path(&self, bucket: &str, key: &str) -> String {
        format!("/{ACCOUNT}/{bucket}/{key}")
    }

    fn is_list(&self, path: &str) -> bool {
        path.contains("comp=list")
    }

    fn refused(&self) -> &'static [u16] {
        &[409, 412]
    }

    fn missing_fix(&self) -> &'static str {
        "az storage container create"
    }
}

crate::store_scenarios!(&Azurite);
