//! Front Door's calls on Azure Resource Manager, over [`crate::exec::api`]: `AFDEndpoints_PurgeContent`
//! (<https://learn.microsoft.com/en-us/rest/api/frontdoor/azurefrontdoorstandardpremium/front-door-endpoints/purge-content>),
//! the status of its long-running operation (the `Azure-AsyncOperation` URL, else `Location`), and
//! `AFDEndpoints_Get` (`doctor`'s read-only look), with the token from the environment ([`token_from_env`]).
//!
//! - **Requests**: `POST {base}subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Cdn/profiles/
//!   {profile}/afdEndpoints/{endpoint}/purge?api-version=2024-02-01` with `{"contentPaths": [...]}` and
//!   `"domains"` when the target has a `domain`; answered 202 with the operation's URL to poll.
//! - **429** with `Retry-After` (ARM's throttling,
//!   <https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/request-limits-and-throttling>):
//!   waited out and sent again, never given up before [`Limits::max_total_wait`].
//! - **The token is sent only to the base's origin**: an operation URL on another host is refused.
//! - **Token**: `AZURE_ACCESS_TOKEN` when set (git-publish's own variable: Azure's tools read none), else the
//!   Azure CLI's (`az account get-access-token --resource https://management.azure.com/`). The base is
//!   `AZURE_RESOURCE_MANAGER_ENDPOINT` when set (git-publish's, named after the `resourceManager` endpoint
//!   `az cloud show` lists), so tests use a stand-in (`tests/azure/front_door.py`); plain http only to a
//!   loopback address.

use std::time::Duration;

use hyper::Method;

use crate::exec::api::{base_from_env, join, Client, Limits, Reply, Service};
use crate::exec::CdnError;

/// The token's variable.
pub const TOKEN_VAR: &str = "AZURE_ACCESS_TOKEN";
/// The management base's variable.
pub const BASE_VAR: &str = "AZURE_RESOURCE_MANAGER_ENDPOINT";
/// Azure Resource Manager (the public cloud).
pub const DEFAULT_BASE: &str = "https://management.azure.com/";
/// The API version of the calls.
pub const API_VERSION: &str = "2024-02-01";

/// The fix for a missing or refused token.
pub const TOKEN_FIX: &str = "run `az login` (git-publish asks the Azure CLI for a token), or set \
    AZURE_ACCESS_TOKEN to one for https://management.azure.com/, for an identity with \
    Microsoft.Cdn/profiles/afdEndpoints/purge/action on the endpoint";

/// The Front Door endpoint a target purges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub subscription: String,
    pub resource_group: String,
    pub profile: String,
    pub endpoint: String,
}

/// The token: [`TOKEN_VAR`], else the Azure CLI's. The error names both and the fix.
pub async fn token_from_env() -> Result<String, CdnError> {
    if let Some(t) = std::env::var(TOKEN_VAR)
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        return Ok(t.trim().to_string());
    }
    let out = tokio::process::Command::new(if cfg!(windows) { "az.cmd" } else { "az" })
        .args([
            "account",
            "get-access-token",
            "--resource",
            "https://management.azure.com/",
        ])
        .args(["--query", "accessToken", "--output", "tsv"])
        .stdin(std::process::Stdio::null())
        .output()
        .await;
    let why = match out {
        Ok(o) if o.status.success() => {
            let t = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if !t.is_empty() {
                return Ok(t);
            }
            "the Azure CLI printed no token".to_string()
        }
        Ok(o) => format!(
            "`az account get-access-token` failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("the Azure CLI (`az`) did not run: {e}"),
    };
    Err(CdnError::Denied {
        message: format!("no Azure token ({TOKEN_VAR} is not set, and {why})"),
        hint: TOKEN_FIX.into(),
    })
}

/// One endpoint's calls.
pub struct Arm {
    at: Endpoint,
    base: url::Url,
    client: Client,
    token: String,
    limits: Limits,
}

impl Arm {
    pub fn new(
        at: Endpoint,
        base: url::Url,
        token: String,
        limits: Limits,
    ) -> Result<Arm, CdnError> {
        let client = Client::for_url(&base).map_err(|e| {
            CdnError::failed(
                e,
                "install the system's CA certificates (the ca-certificates package)",
            )
        })?;
        Ok(Arm {
            at,
            base,
            client,
            token,
            limits,
        })
    }

    /// The base from [`BASE_VAR`] (checked as site.toml's `endpoint` is, with `allow_http`), else Azure's.
    pub fn base_from_env(allow_http: bool) -> Result<url::Url, CdnError> {
        base_from_env(BASE_VAR, DEFAULT_BASE, allow_http).map_err(|e| {
            CdnError::failed(
                e,
                format!(
                    "set {BASE_VAR} to Azure Resource Manager (e.g. {DEFAULT_BASE}), or unset it"
                ),
            )
        })
    }

    /// "Front Door endpoint PROFILE/ENDPOINT", as messages name it.
    pub fn what(&self) -> String {
        format!(
            "Front Door endpoint {}/{}",
            self.at.profile, self.at.endpoint
        )
    }

    fn url(&self, tail: &str) -> Result<url::Url, CdnError> {
        let a = &self.at;
        let path = format!(
            "subscriptions/{}/resourceGroups/{}/providers/Microsoft.Cdn/profiles/{}/afdEndpoints/{}{tail}\
             ?api-version={API_VERSION}",
            a.subscription, a.resource_group, a.profile, a.endpoint
        );
        join(&self.base, &path).map_err(|e| CdnError::failed(format!("{}: {e}", self.what()), ""))
    }

    /// Purge `paths` (at most 100) on `domains` (all the endpoint's when empty). Returns the URL to poll.
    pub async fn purge(
        &self,
        paths: &[String],
        domains: &[String],
        on_wait: &mut (dyn FnMut(Duration) + Send),
    ) -> Result<String, CdnError> {
        let mut body = serde_json::json!({ "contentPaths": paths });
        if !domains.is_empty() {
            body["domains"] = domains.into();
        }
        let body = serde_json::to_vec(&body).expect("JSON");
        let url = self.url("/purge")?;
        let reply = self.call(Method::POST, &url, Some(&body), on_wait).await?;
        match reply
            .header("azure-asyncoperation")
            .or(reply.header("location"))
        {
            Some(poll) => Ok(poll.to_string()),
            // 200: done at once; nothing to poll.
            None => Ok(String::new()),
        }
    }

    /// Whether the operation at `poll` is done; an error when it failed or the URL leaves the base's origin.
    pub async fn purge_done(&self, poll: &str) -> Result<bool, CdnError> {
        if poll.is_empty() {
            return Ok(true);
        }
        let url = url::Url::parse(poll)
            .ok()
            .filter(|u| u.origin() == self.base.origin())
            .ok_or_else(|| {
                CdnError::failed(
                    format!(
                        "{}: the operation's URL {poll:?} is not on {}",
                        self.what(),
                        self.base
                    ),
                    format!("the token is sent only to {}; check {BASE_VAR}", self.base),
                )
            })?;
        let reply = self.call(Method::GET, &url, None, &mut |_| {}).await?;
        let op = reply.json();
        match op["status"].as_str().unwrap_or_default() {
            "Succeeded" => Ok(true),
            "Failed" | "Canceled" => Err(CdnError::failed(
                format!(
                    "{}: the purge {}: {}",
                    self.what(),
                    op["status"],
                    op["error"]
                ),
                "publish again (the same paths are purged again)",
            )),
            // 202 on a Location URL while it runs, or "InProgress".
            _ => Ok(false),
        }
    }

    /// `AFDEndpoints_Get`: whether the token may read the endpoint (`doctor`'s check).
    pub async fn read_endpoint(&self) -> Result<(), CdnError> {
        let url = self.url("")?;
        self.call(Method::GET, &url, None, &mut |_| {}).await?;
        Ok(())
    }

    /// Send until answered (429s waited out); a 2xx answer, or the error it means.
    async fn call(
        &self,
        method: Method,
        url: &url::Url,
        body: Option<&[u8]>,
        on_wait: &mut (dyn FnMut(Duration) + Send),
    ) -> Result<Reply, CdnError> {
        let what = self.what();
        let service = Service {
            what: &what,
            throttled: &|r: &Reply| r.status == 429,
            describe,
            rate_advice: "publish again in a few minutes",
            unavailable_fix: "try again later; Azure's status is at https://azure.status.microsoft",
        };
        let sent = service.call(
            &self.client,
            method,
            url,
            &self.token,
            body,
            &self.limits,
            on_wait,
        );
        sent.await
            .map_err(|e| e.map_or_else(|e| e, |r| self.refused(&r)))
    }

    /// The error for an answer that is not a success.
    fn refused(&self, r: &Reply) -> CdnError {
        let message = format!("{}: {}", self.what(), describe(r));
        let a = &self.at;
        match r.status {
            401 => CdnError::Denied {
                message,
                hint: TOKEN_FIX.into(),
            },
            403 => CdnError::Denied {
                message,
                hint: format!(
                    "give the identity Microsoft.Cdn/profiles/afdEndpoints/purge/action (and \
                     Microsoft.Cdn/profiles/afdEndpoints/read for doctor) on profile {} in resource group \
                     {}, e.g. the role \"CDN Endpoint Contributor\" or a custom role",
                    a.profile, a.resource_group
                ),
            },
            404 => CdnError::failed(
                message,
                "check subscription, resource_group, profile and endpoint under [targets.NAME.front_door] \
                 (`az afd endpoint list --profile-name PROFILE --resource-group GROUP`)",
            ),
            _ => CdnError::failed(
                message,
                "Azure's message says what it refused; the request is described at \
                 https://learn.microsoft.com/en-us/rest/api/frontdoor/azurefrontdoorstandardpremium/front-door-endpoints/purge-content",
            ),
        }
    }
}

/// "HTTP 404, ResourceNotFound: The Resource … was not found", or the body's start.
fn describe(r: &Reply) -> String {
    let body = r.json();
    let code = body["error"]["code"].as_str().unwrap_or_default();
    let message = body["error"]["message"].as_str().unwrap_or_default();
    match (code.is_empty() && message.is_empty(), body.is_null()) {
        (true, true) => format!("HTTP {}: {:?}", r.status, r.head()),
        (true, false) => format!("HTTP {}", r.status),
        _ => format!("HTTP {}, {code}: {message}", r.status),
    }
}
