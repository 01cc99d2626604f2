//! `mssp-token token`: an app-only token by client credentials, checked (tenant, roles) before
//! anything is printed.

use crate::args::{self, DefaultTarget};
use crate::cli::TokenArgs;
use mssp_token_client::apis::ApiTarget;
use mssp_token_client::authority::Tenant;
use mssp_token_client::error::at;
use mssp_token_client::flows::{app_only, profile};
use mssp_token_client::store::cache::Cache;
use mssp_token_client::store::tenants::TenantIds;

pub async fn run(a: TokenArgs) -> anyhow::Result<()> {
    if let Some(name) = &a.profile {
        return from_profile(&a, name).await;
    }
    if let Some(name) = &a.partner {
        return from_partner(&a, name).await;
    }
    let id = args::identity(&a.identity, DefaultTarget::Scope(ApiTarget::Mde))?;
    app_only::check_app_only(&id)?;
    let http = args::http(a.identity.ca_file.as_deref())?;
    let set = app_only::token(&http, &id, !a.no_cache).await?;
    mssp_token_client::checks::roles_present(&set, &a.require_role)?;
    super::deliver(
        &set,
        args::format(a.output.output),
        a.output.save.as_deref(),
    )
}

/// `token --profile NAME`: the profile's delegated access token (for --resource/--scope if
/// given), refreshed when it has little time left.
async fn from_profile(a: &TokenArgs, name: &str) -> anyhow::Result<()> {
    let name = args::profile_name(name)?;
    let store = args::profiles(&a.store)?;
    let target = args::explicit_target(&a.identity)?;
    let credential = args::credential(&a.identity)?;
    let http = args::http(a.identity.ca_file.as_deref())?;
    let want = match target {
        Some(t) => profile::Want::Exactly(t),
        None => profile::Want::Own,
    };
    let set = profile::access_token(&http, &store, &name, credential, want).await?;
    if let Some(asked) = a.identity.tenant.as_deref() {
        let tenant = Tenant::parse(asked).map_err(|e| at("--tenant", e))?;
        let remembered = match a.no_cache {
            true => None,
            false => Cache::open().ok().map(|c| TenantIds::in_cache(&c)),
        };
        profile::is_for_tenant(&http, &store, &name, &set, tenant, remembered.as_ref()).await?;
    }
    mssp_token_client::checks::roles_present(&set, &a.require_role)?;
    super::deliver(
        &super::shown(&set, super::is_partner(&store, &name)),
        args::format(a.output.output),
        a.output.save.as_deref(),
    )
}

/// `token --partner NAME --tenant CUSTOMER`: the partner's refresh token redeemed in the
/// customer tenant (GDAP), a delegated token there; the partner refresh token is never printed.
async fn from_partner(a: &TokenArgs, name: &str) -> anyhow::Result<()> {
    let customer = args::partner_customer(&a.identity)?;
    let partner = args::partner(name, &a.store, &a.identity)?;
    let api = args::api(a.api.unwrap_or(crate::cli::ApiArg::Mde), false);
    let target = args::partner_target(&a.identity, api, partner.cloud)?;
    let http = args::http(a.identity.ca_file.as_deref())?;
    let remembered = match a.no_cache {
        true => None,
        false => Cache::open().ok().map(|c| TenantIds::in_cache(&c)),
    };
    let got = partner
        .redeem(&http, customer, &target, remembered.as_ref())
        .await?;
    // --require-role: a GDAP role (by name or template ID) or a delegated permission.
    mssp_token_client::flows::partner::roles_present(&got, &a.require_role)?;
    mssp_token_client::info!(
        "Delegated token in tenant {} as {} (roles: {}; scp: {}).",
        got.set.tenant_id,
        partner.upn.as_deref().unwrap_or("the partner user"),
        none_if_empty(&got.roles),
        none_if_empty(&got.scp)
    );
    super::deliver(
        &got.set,
        args::format(a.output.output),
        a.output.save.as_deref(),
    )
}

fn none_if_empty(v: &[String]) -> String {
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}
