//! `mssp-token consent`: the admin-consent link for the multi-tenant app (the Defender docs' v1
//! link, or v2 /adminconsent), and with --listen the whole round trip: open it, catch the
//! redirect, check the state, report the customer's tenant ID and the result.

use crate::authority::{parse_authority_host, parse_client_id, Tenant};
use crate::cli::{ConsentArgs, ReportFormat};
use crate::error::{fail, usage, Exit};
use crate::listener::Listener;
use crate::redirect::Redirect;
use anyhow::Result;
use url::Url;

pub async fn run(args: ConsentArgs) -> Result<()> {
    let client_id = parse_client_id(args.client_id.as_deref().ok_or_else(|| {
        usage("no client ID given: pass --client-id with the multi-tenant app's Application (client) ID (or set AZURE_CLIENT_ID)")
    })?)?;
    let tenant = args.tenant.as_deref().map(Tenant::parse).transpose()?;
    let host = parse_authority_host(args.authority.as_deref().unwrap_or(args.cloud.login_host()))?;
    if args.v1 {
        if args.listen {
            return Err(usage(
                "--listen works with the v2 admin-consent link only (the v1 link reports no tenant back); drop --v1",
            ));
        }
        let link = v1_link(&host, tenant.as_ref(), &client_id);
        return print_link(&link, &args);
    }
    let redirect = Url::parse(args.redirect_uri.trim()).map_err(|e| {
        usage(format!(
            "--redirect-uri '{}' is not a valid URL ({e})",
            crate::authority::printable(&args.redirect_uri)
        ))
    })?;
    let state = oauth2::CsrfToken::new_random().secret().clone();
    if !args.listen {
        let link = v2_link(
            &host,
            tenant.as_ref(),
            &client_id,
            &args.scope,
            redirect.as_str(),
            &state,
        );
        return print_link(&link, &args);
    }
    if !(redirect.scheme() == "http" && crate::authority::is_loopback_host(&redirect)) {
        return Err(usage(format!(
            "--listen needs an http://localhost redirect URI registered on the app; '{}' is not one",
            crate::authority::printable(&args.redirect_uri)
        )));
    }
    let mut listener = Listener::bind(args.port.or(redirect.port()), redirect.path())?;
    let mut sent = redirect.clone();
    let _ = sent.set_port(Some(listener.port()));
    let link = v2_link(
        &host,
        tenant.as_ref(),
        &client_id,
        &args.scope,
        sent.as_str(),
        &state,
    );
    let rx = listener.start(state.clone());
    crate::log::info(&format!(
        "Have the customer's global admin open this link, sign in and accept:\n\n  {link}\n"
    ));
    if !args.no_browser {
        crate::interactive::open_page(link.as_str(), args.browser_command.as_deref());
    }
    let registered = redirect.to_string();
    let outcome = crate::interactive::await_redirect(crate::interactive::Wait {
        redirects: Some(rx),
        state: &state,
        paste_only: false,
        simulated: None,
        wait: args.wait,
        registered: &registered,
    })
    .await?;
    drop(listener);
    let (tenant_id, scope) = match outcome {
        Redirect::Consent { tenant, scope, .. } => (tenant, scope),
        Redirect::Error { error, .. } => return Err(error.into()),
        Redirect::Code { .. } => {
            return Err(fail(
                Exit::Interaction,
                "the redirect carried a sign-in code, not an admin-consent result (admin_consent=True&tenant=...); check that the link opened was the /adminconsent link printed above",
            ))
        }
    };
    let tenant_id = tenant_id.map(|t| t.to_ascii_lowercase());
    if let (Some(Tenant::Guid(asked)), Some(got)) = (&tenant, &tenant_id) {
        if asked != got {
            return Err(fail(
                Exit::Check,
                format!("consent was granted in tenant {got}, not in the tenant you named ({asked}): the admin signed in to another organization"),
            ));
        }
    }
    let report = serde_json::json!({
        "consented": true,
        "tenant_id": tenant_id,
        "client_id": client_id,
        "scope": scope,
    });
    match args.output {
        ReportFormat::Json => println!("{report}"),
        ReportFormat::Text => {
            println!(
                "consent granted\ntenant_id {}\nclient_id {client_id}\nscope {}",
                tenant_id.as_deref().unwrap_or("(not reported)"),
                scope.as_deref().unwrap_or("")
            );
        }
    }
    if let Some(t) = &tenant_id {
        crate::log::info(&format!(
            "Next: mssp-token token --tenant {t} --client-id {client_id} --require-role Alert.Read.All"
        ));
    }
    Ok(())
}

fn print_link(link: &Url, args: &ConsentArgs) -> Result<()> {
    match args.output {
        ReportFormat::Json => println!("{}", serde_json::json!({ "url": link.as_str() })),
        ReportFormat::Text => println!("{link}"),
    }
    crate::log::info(
        "Send this link to the customer's global admin; consent applies to their whole tenant.",
    );
    Ok(())
}

/// The Defender docs' link: {host}/common/oauth2/authorize?prompt=consent&client_id=..&response_type=code&sso_reload=true
pub fn v1_link(host: &Url, tenant: Option<&Tenant>, client_id: &str) -> Url {
    let mut url = host.clone();
    url.path_segments_mut()
        .expect("http(s) URL")
        .pop_if_empty()
        .push(tenant.map(Tenant::as_str).unwrap_or("common"))
        .push("oauth2")
        .push("authorize");
    url.query_pairs_mut()
        .append_pair("prompt", "consent")
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("sso_reload", "true");
    url
}

/// {host}/{tenant or organizations}/v2.0/adminconsent?client_id&scope&redirect_uri&state
pub fn v2_link(
    host: &Url,
    tenant: Option<&Tenant>,
    client_id: &str,
    scope: &str,
    redirect_uri: &str,
    state: &str,
) -> Url {
    let mut url = host.clone();
    url.path_segments_mut()
        .expect("http(s) URL")
        .pop_if_empty()
        .push(tenant.map(Tenant::as_str).unwrap_or("organizations"))
        .push("v2.0")
        .push("adminconsent");
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("scope", scope)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docs_v1_link() {
        let host = Url::parse("https://login.microsoftonline.com").unwrap();
        assert_eq!(
            v1_link(&host, None, "9d3e1c55-7b1a-4c2e-8f00-1a2b3c4d5e6f").as_str(),
            "https://login.microsoftonline.com/common/oauth2/authorize?prompt=consent&client_id=9d3e1c55-7b1a-4c2e-8f00-1a2b3c4d5e6f&response_type=code&sso_reload=true"
        );
    }

    #[test]
    fn the_v2_link() {
        let host = Url::parse("https://login.microsoftonline.us").unwrap();
        let t = Tenant::parse("contoso.onmicrosoft.com").unwrap();
        let l = v2_link(
            &host,
            Some(&t),
            "c",
            "https://api.securitycenter.microsoft.com/.default",
            "http://localhost/x",
            "s",
        );
        assert_eq!(
            l.as_str(),
            "https://login.microsoftonline.us/contoso.onmicrosoft.com/v2.0/adminconsent?client_id=c&scope=https%3A%2F%2Fapi.securitycenter.microsoft.com%2F.default&redirect_uri=http%3A%2F%2Flocalhost%2Fx&state=s"
        );
    }
}
