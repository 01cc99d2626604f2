//! `mssp-token consent`: the admin-consent link for the multi-tenant app (the Defender docs' v1
//! link, or v2 /adminconsent); with --listen, the round trip and the customer's tenant ID.

use crate::args;
use crate::cli::{ConsentArgs, ReportFormat};
use anyhow::Result;
use mssp_token_client::authority::{is_loopback_host, printable, Tenant};
use mssp_token_client::error::{at, usage};
use mssp_token_client::flows::consent::{self, Listen};
use mssp_token_client::flows::loopback::{Catch, Opener, RedirectPlan};
use mssp_token_client::info;
use mssp_token_client::output::stdout;
use url::Url;

pub async fn run(a: ConsentArgs) -> Result<()> {
    let client_id = args::client_id(a.client_id.as_deref()).map_err(|e| {
        if a.client_id.is_none() {
            usage("no client ID given: pass --client-id with the multi-tenant app's Application (client) ID (or set AZURE_CLIENT_ID)")
        } else {
            e
        }
    })?;
    let tenant = consent_tenant(a.tenant.as_deref()).map_err(|e| at("--tenant", e))?;
    let host = args::login_host(a.authority.as_deref(), a.cloud)?;
    if a.v1 {
        if a.listen {
            return Err(usage(
                "--listen works with the v2 admin-consent link only (the v1 link reports no tenant back); drop --v1",
            ));
        }
        let link = consent::v1_link(&host, tenant.as_ref(), &client_id);
        return print_link(&link, a.output);
    }
    let redirect = Url::parse(a.redirect_uri.trim()).map_err(|e| {
        usage(format!(
            "--redirect-uri '{}' is not a valid URL ({e})",
            printable(&mssp_token_client::authority::without_userinfo(
                &a.redirect_uri
            ))
        ))
    })?;
    mssp_token_client::authority::refuse_userinfo(&redirect)
        .map_err(|e| at("--redirect-uri", e))?;
    if !a.listen {
        let link = consent::v2_link(
            &host,
            tenant.as_ref(),
            &client_id,
            &a.scope,
            redirect.as_str(),
            &consent::new_state(),
        );
        return print_link(&link, a.output);
    }
    if !(redirect.scheme() == "http" && is_loopback_host(&redirect)) {
        return Err(usage(format!(
            "--listen needs an http://localhost redirect URI registered on the app; '{}' is not one",
            printable(&a.redirect_uri)
        )));
    }
    let plan = RedirectPlan {
        catch: Catch::Loopback {
            port: a.port.or(redirect.port()),
            path: redirect.path().to_string(),
        },
        url: redirect,
    };
    let opener = if a.no_browser {
        Opener::Nobody
    } else {
        Opener::Browser(a.browser_command.clone())
    };
    let http = args::http(None)?;
    let got = consent::listen(Listen {
        http: &http,
        host: &host,
        tenant: tenant.as_ref(),
        client_id: &client_id,
        scope: &a.scope,
        redirect: plan,
        opener,
        wait: a.wait,
    })
    .await?;
    let report = serde_json::json!({
        "consented": true,
        "tenant_id": got.tenant_id,
        "client_id": client_id,
        "scope": got.scope,
    });
    match a.output {
        ReportFormat::Json => stdout(&format!("{report}\n"))?,
        ReportFormat::Text => stdout(&format!(
            "consent granted\ntenant_id {}\nclient_id {client_id}\nscope {}\n",
            got.tenant_id.as_deref().unwrap_or("(not reported)"),
            got.scope.as_deref().unwrap_or("")
        ))?,
    }
    if let Some(t) = &got.tenant_id {
        info!(
            "Next: mssp-token token --tenant {t} --client-id {client_id} --require-role Alert.Read.All"
        );
    }
    Ok(())
}

/// The tenant of a consent link: a GUID or a domain; `organizations` (the default) and `common`
/// mean "whichever organization the admin signs in to" (the link then uses the endpoint's own
/// generic segment, and `--listen` reports the tenant that consented). `consumers` is refused:
/// personal Microsoft accounts have no admin to consent.
fn consent_tenant(given: Option<&str>) -> Result<Option<Tenant>> {
    let Some(t) = given else { return Ok(None) };
    match t.trim().to_ascii_lowercase().as_str() {
        "organizations" | "common" => Ok(None),
        "consumers" => Err(usage(
            "consumers: personal Microsoft accounts have no tenant admin to consent; name the customer's tenant (GUID or domain), or organizations",
        )),
        _ => Tenant::parse(t).map(Some),
    }
}

fn print_link(link: &Url, format: ReportFormat) -> Result<()> {
    match format {
        ReportFormat::Json => stdout(&format!(
            "{}\n",
            serde_json::json!({ "url": link.as_str() })
        ))?,
        ReportFormat::Text => stdout(&format!("{link}\n"))?,
    }
    info!("Send this link to the customer's global admin; consent applies to their whole tenant.");
    Ok(())
}
