//! Azure Blob Storage (`azblob://container/prefix`) as the executor's store: the client built from
//! `AZURE_STORAGE_CONNECTION_STRING` when set (parsed here: `AccountName`, `AccountKey`, `BlobEndpoint`,
//! `DefaultEndpointsProtocol`, `EndpointSuffix`, `SharedAccessSignature`, and `UseDevelopmentStorage=true`, which
//! is how Azurite's well-known development account is reached), else from the usual chain (the account from
//! `AZURE_STORAGE_ACCOUNT`, a key from `AZURE_STORAGE_KEY`, then the crate's: service principal, workload or
//! managed identity, the Azure CLI); and Azure's truth as a [`StoreProfile`]: conditional writes on ETags
//! (`If-None-Match: *`, `If-Match`; a refused one answers 409 or 412, both "someone else"), no header change
//! in place, 256 keys a delete (a blob batch's limit,
//! <https://learn.microsoft.com/rest/api/storageservices/blob-batch>).

use std::sync::Arc;

use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};

use crate::exec::{StoreProfile, Versions};
use crate::objstore::{CloudStore, Hints, MetadataNames};

/// The connection string variable Azure's tools read.
pub const CONNECTION_VAR: &str = "AZURE_STORAGE_CONNECTION_STRING";

pub const PROFILE: StoreProfile = StoreProfile {
    max_keys_per_delete: 256,
    copies_in_place: false,
    versions: Versions::ETag,
};

pub const HINTS: Hints = Hints {
    credentials: "set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY, or sign \
                  in with `az login`",
    missing: "create the container (`az storage container create --name CONTAINER`), or fix `url` in site.toml",
    permission: "assign the role `Storage Blob Data Contributor` on the container to the identity publishing",
};

/// Azurite's (and the old storage emulator's) well-known development account:
/// <https://learn.microsoft.com/azure/storage/common/storage-use-azurite#well-known-storage-account-and-key>.
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEV_BLOB_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";

/// What a connection string says about blobs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connection {
    pub account: String,
    pub key: Option<String>,
    pub sas: Option<String>,
    /// The account's blob service URL.
    pub endpoint: String,
}

/// Parse a connection string (`Key=Value;...`; values may hold `=`, as keys and signatures do).
pub fn parse_connection_string(s: &str) -> Result<Connection, String> {
    let mut pairs = std::collections::BTreeMap::new();
    for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| {
            format!(
                "`{}` is not `Key=Value`",
                part.split('=').next().unwrap_or("")
            )
        })?;
        pairs.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let get = |k: &str| pairs.get(k).cloned().filter(|v| !v.is_empty());
    if get("usedevelopmentstorage").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(Connection {
            account: DEV_ACCOUNT.into(),
            key: Some(DEV_KEY.into()),
            sas: None,
            endpoint: DEV_BLOB_ENDPOINT.into(),
        });
    }
    let account = get("accountname").ok_or("it names no `AccountName`")?;
    let endpoint = match get("blobendpoint") {
        Some(e) => e.trim_end_matches('/').to_string(),
        None => format!(
            "{}://{account}.blob.{}",
            get("defaultendpointsprotocol").unwrap_or("https".into()),
            get("endpointsuffix").unwrap_or("core.windows.net".into())
        ),
    };
    let (key, sas) = (get("accountkey"), get("sharedaccesssignature"));
    if key.is_none() && sas.is_none() {
        return Err("it has neither `AccountKey` nor `SharedAccessSignature`".into());
    }
    Ok(Connection {
        account,
        key,
        sas,
        endpoint,
    })
}

/// The connection string's blob endpoint, for the endpoint check (`backends::check_env_endpoints`).
pub fn connection_endpoint() -> Option<Result<String, String>> {
    let s = std::env::var(CONNECTION_VAR)
        .ok()
        .filter(|s| !s.is_empty())?;
    Some(
        parse_connection_string(&s)
            .map(|c| c.endpoint)
            .map_err(|why| format!("{CONNECTION_VAR}: {why}")),
    )
}

/// The store of `azblob://container/prefix`.
pub fn store(container: &str, prefix: &str) -> Result<CloudStore, String> {
    let builder = match std::env::var(CONNECTION_VAR).ok().filter(|s| !s.is_empty()) {
        Some(s) => {
            let c =
                parse_connection_string(&s).map_err(|why| format!("{CONNECTION_VAR}: {why}"))?;
            let mut b = MicrosoftAzureBuilder::new()
                .with_account(&c.account)
                .with_allow_http(c.endpoint.starts_with("http:"))
                .with_endpoint(c.endpoint);
            if let Some(key) = c.key {
                b = b.with_access_key(key);
            }
            if let Some(sas) = c.sas {
                b = b.with_config(AzureConfigKey::SasKey, sas);
            }
            b
        }
        None => {
            let mut b = MicrosoftAzureBuilder::from_env();
            if let Ok(account) = std::env::var("AZURE_STORAGE_ACCOUNT") {
                b = b.with_account(account);
            }
            if let Ok(key) = std::env::var("AZURE_STORAGE_KEY") {
                b = b.with_access_key(key);
            }
            b
        }
    };
    let client = (builder.with_container_name(container).build())
        .map_err(|e| format!("{e} ({})", HINTS.credentials))?;
    Ok(CloudStore::new(
        Arc::new(client),
        format!("azblob://{container}"),
        prefix,
        PROFILE,
        HINTS,
        MetadataNames::Identifiers,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azurites_development_storage_is_the_well_known_account() {
        let c = parse_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(c.account, "devstoreaccount1");
        assert_eq!(c.endpoint, "http://127.0.0.1:10000/devstoreaccount1");
        assert_eq!(c.key.as_deref(), Some(DEV_KEY));
    }

    #[test]
    fn a_connection_string_gives_the_account_key_and_blob_endpoint() {
        let c = parse_connection_string(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5==;\
             BlobEndpoint=http://127.0.0.1:41000/devstoreaccount1/;",
        )
        .unwrap();
        assert_eq!(c.account, "devstoreaccount1");
        assert_eq!(c.key.as_deref(), Some("a2V5=="), "a value keeps its `=`");
        assert_eq!(c.endpoint, "http://127.0.0.1:41000/devstoreaccount1");
        let c = parse_connection_string(
            "AccountName=acct;AccountKey=k;EndpointSuffix=core.chinacloudapi.cn",
        )
        .unwrap();
        assert_eq!(c.endpoint, "https://acct.blob.core.chinacloudapi.cn");
    }

    #[test]
    fn a_connection_string_without_account_or_secret_is_refused_naming_what_is_missing() {
        let no_account = parse_connection_string("AccountKey=k").unwrap_err();
        assert!(no_account.contains("AccountName"), "{no_account}");
        let no_secret = parse_connection_string("AccountName=a").unwrap_err();
        assert!(no_secret.contains("AccountKey"), "{no_secret}");
        let garbled = parse_connection_string("AccountName").unwrap_err();
        assert!(garbled.contains("Key=Value"), "{garbled}");
    }
}
