//! `mssp-token api PATH`: a call to an API of the table (Defender for Endpoint, Defender XDR,
//! Microsoft Graph) in the cloud, with a saved token or an app-only one.

use crate::args::{self, DefaultTarget};
use crate::cli::ApiArgs;
use anyhow::Result;
use mssp_token_client::apis::not_offered;
use mssp_token_client::authority::{printable, Tenant};
use mssp_token_client::checks::{self, Source};
use mssp_token_client::entra::discovery;
use mssp_token_client::error::{at, usage};
use mssp_token_client::flows::pager::{self, ApiCall, Method};
use mssp_token_client::flows::{app_only, profile};
use mssp_token_client::store::cache::Cache;
use mssp_token_client::store::tenants::TenantIds;
use mssp_token_client::token::{Claims, TokenSet};
use serde_json::Value;

pub async fn run(mut a: ApiArgs) -> Result<()> {
    let api = args::api(a.api, a.xdr);
    // A profile is opened first: its cloud is the API's cloud unless --cloud says so.
    let profile = match a.profile.clone() {
        Some(name) => Some(open_profile(&mut a, &name)?),
        None => None,
    };
    // GDAP: a partner session; its cloud is the API's cloud unless --cloud says so.
    let partner = match &a.partner {
        Some(name) => Some(args::partner(name, &a.store, &a.identity)?),
        None => None,
    };
    let cloud = match &partner {
        Some(p) if a.identity.cloud.is_none() => p.cloud,
        _ => args::cloud(a.identity.cloud),
    };
    let base = match args::base_url(a.base_url.as_deref())? {
        Some(b) => b,
        None => api
            .in_cloud(cloud)
            .ok_or_else(|| {
                usage(format!(
                    "{}; pass --base-url if you have an endpoint",
                    not_offered(api, cloud)
                ))
            })?
            .base(),
    };
    let url = pager::target_url(&base, &a.path)?;
    let method = Method::from_bytes(a.method.trim().to_ascii_uppercase().as_bytes())
        .map_err(|_| bad_method(&a.method))?;
    let body = read_data(a.data.as_deref())?;
    let mut http = args::http(a.identity.ca_file.as_deref())?;
    http.retry.retry_server_errors = method == Method::GET;
    let token = match (&a.token_file, profile) {
        _ if partner.is_some() => {
            let p = partner.as_ref().expect("checked");
            let customer = args::partner_customer(&a.identity)?;
            let target = args::partner_target(&a.identity, api, p.cloud)?;
            let remembered = match a.no_cache {
                true => None,
                false => Cache::open().ok().map(|c| TenantIds::in_cache(&c)),
            };
            p.redeem(&http, customer, &target, remembered.as_ref())
                .await?
                .set
                .access_token
        }
        (_, Some((name, store, saved))) => {
            // A token for the API's audience: the profile's own when it is for that API, else
            // one redeemed with its refresh token (v1: the API's resource, v2: its .default).
            let want = match args::explicit_target(&a.identity)? {
                Some(t) => profile::Want::Exactly(t),
                None => {
                    let default = match saved.endpoint.as_str() {
                        "v1" => DefaultTarget::Resource(api),
                        _ => DefaultTarget::Scope(api),
                    };
                    profile::Want::AudienceOf(args::target(&a.identity, default)?)
                }
            };
            let credential = args::credential(&a.identity)?;
            let set = profile::access_token(&http, &store, &name, credential, want).await?;
            if let Some(asked) = a.identity.tenant.as_deref() {
                let tenant = Tenant::parse(asked).map_err(|e| at("--tenant", e))?;
                let remembered = match a.no_cache {
                    true => None,
                    false => Cache::open().ok().map(|c| TenantIds::in_cache(&c)),
                };
                profile::is_for_tenant(&http, &store, &name, &set, tenant, remembered.as_ref())
                    .await?;
            }
            set.access_token
        }
        (Some(path), None) => {
            let token = mssp_token_client::store::file::read_access_token(path)
                .map_err(|e| at("--token-file", e))?;
            if a.identity.tenant.is_some() {
                token_file_is_for_the_tenant(&http, &a, path, &token).await?;
            }
            token
        }
        (None, None) => {
            let id = args::identity(&a.identity, DefaultTarget::Scope(api))?;
            app_only::check_app_only(&id)?;
            app_only::token(&http, &id, !a.no_cache).await?.access_token
        }
    };
    mssp_token_client::redacted::register(&token);
    let call = ApiCall {
        api,
        url,
        method,
        body,
        all: a.all,
        max_pages: a.max_pages,
    };
    if let Some(v) = pager::call(&http, &token, &call).await? {
        mssp_token_client::output::stdout(&format!(
            "{}\n",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        ))?;
    }
    Ok(())
}

/// `--profile NAME`: the name checked, the store opened, the saved set read; `--cloud` defaults
/// to the profile's cloud, and one that contradicts it is refused (the profile's tokens come
/// from that cloud, and so do the API's audience and host).
fn open_profile(
    a: &mut ApiArgs,
    name: &str,
) -> Result<(
    String,
    mssp_token_client::store::profiles::Profiles,
    TokenSet,
)> {
    let name = args::profile_name(name)?;
    let store = args::profiles(&a.store)?;
    let saved = store.load(&name)?.set;
    match (a.identity.cloud, saved.cloud) {
        (None, Some(c)) => a.identity.cloud = Some(args::cloud_arg(c)),
        (Some(given), Some(c)) if args::cloud(given) != c => {
            return Err(usage(format!(
            "--cloud {} contradicts --profile {name}: its session is in the {} cloud; drop --cloud",
            args::cloud(given).name(),
            c.name()
        )))
        }
        _ => {}
    }
    Ok((name, store, saved))
}

/// `--token-file` with `--tenant` (or AZURE_TENANT_ID): the saved token must be that tenant's,
/// like every token the tool hands out (a domain resolved to its GUID first).
async fn token_file_is_for_the_tenant(
    http: &mssp_token_client::http::Http,
    a: &ApiArgs,
    path: &std::path::Path,
    token: &str,
) -> Result<()> {
    let Some(asked) = a.identity.tenant.as_deref() else {
        return Ok(());
    };
    let tenant = Tenant::parse(asked).map_err(|e| at("--tenant", e))?;
    let authority = args::authority(&a.identity, tenant)?;
    let remembered = if a.no_cache {
        None
    } else {
        Cache::open().ok().map(|c| TenantIds::in_cache(&c))
    };
    let expected = discovery::tenant_id(http, &authority, remembered.as_ref()).await?;
    let tid = Claims::decode(token, None).tid;
    let shown = path.display().to_string();
    checks::tid_is(
        tid.as_deref(),
        &expected,
        authority.tenant.as_str(),
        Source::File(&shown),
    )
}

fn bad_method(given: &str) -> anyhow::Error {
    usage(format!(
        "--method '{}' is not an HTTP method",
        printable(given)
    ))
}

/// `--data JSON` or `--data @FILE`, which must be JSON.
fn read_data(data: Option<&str>) -> Result<Option<Vec<u8>>> {
    let Some(d) = data else { return Ok(None) };
    let bytes = if let Some(path) = d.strip_prefix('@') {
        std::fs::read(path).map_err(|e| {
            usage(format!(
                "--data @{path}: cannot read it ({})",
                mssp_token_client::error::io_reason(&e)
            ))
        })?
    } else {
        d.as_bytes().to_vec()
    };
    serde_json::from_slice::<Value>(&bytes)
        .map_err(|e| usage(format!("--data is not valid JSON ({e})")))?;
    Ok(Some(bytes))
}
