//! Admin consent for the multi-tenant app: the Defender docs' v1 link, the v2 /adminconsent
//! link, and its round trip over the loopback catch (open it, catch the redirect, check the
//! state, report the customer's tenant ID and the result).

use super::loopback::{Catcher, Opener, RedirectPlan};
use crate::authority::{Authority, Cloud, Tenant};
use crate::entra::discovery;
use crate::error::{fail, Exit};
use crate::http::Http;
use crate::redirect::Redirect;
use anyhow::Result;
use url::Url;

/// What a consent round trip reported.
#[derive(Debug, Clone)]
pub struct Consented {
    pub tenant_id: Option<String>,
    pub scope: Option<String>,
}

/// A consent round trip.
pub struct Listen<'a> {
    pub http: &'a Http,
    pub host: &'a Url,
    pub tenant: Option<&'a Tenant>,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub redirect: RedirectPlan,
    pub opener: Opener,
    pub wait: u64,
}

/// A random state for a link.
pub fn new_state() -> String {
    oauth2::CsrfToken::new_random().secret().clone()
}

/// Opens the v2 link, waits for the admin, and reports the tenant that consented. A named
/// tenant must be the one that answers: a domain is resolved to its GUID (discovery) before the
/// link is opened, and the GUID the redirect reports must be that one.
pub async fn listen(req: Listen<'_>) -> Result<Consented> {
    let expected = match req.tenant {
        None => None,
        Some(t) => {
            let authority = Authority::new(Cloud::Public, Some(req.host.as_str()), t.clone())?;
            Some(discovery::tenant_id(req.http, &authority, None).await?)
        }
    };
    let catcher = Catcher::bind(&req.redirect)?;
    let state = new_state();
    let link = v2_link(
        req.host,
        req.tenant,
        req.client_id,
        req.scope,
        catcher.redirect_uri(),
        &state,
    );
    let prompt = format!(
        "Have the customer's global admin open this link, sign in and accept:\n\n  {link}\n"
    );
    let outcome = catcher
        .catch(&link, &state, &prompt, req.opener, req.wait)
        .await?;
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
    if let (Some(asked), Some(expected)) = (req.tenant, &expected) {
        check_tenant(asked.as_str(), expected, tenant_id.as_deref())?;
    }
    Ok(Consented { tenant_id, scope })
}

/// The tenant the consent redirect reports must be the one asked for (`expected`, its GUID).
fn check_tenant(asked: &str, expected: &str, got: Option<&str>) -> Result<()> {
    let named = if asked == expected {
        expected.to_string()
    } else {
        format!("{asked} ({expected})")
    };
    match got {
        Some(got) if got == expected => Ok(()),
        Some(got) => Err(fail(
            Exit::Check,
            format!(
                "consent was granted in tenant {}, not in the tenant you named, {named}: the admin signed in to another organization. That tenant now trusts the app; nothing here used it. Have {asked}'s own global admin open the link (a private browser window avoids a session of another organization)",
                crate::authority::printable(got)
            ),
        )),
        None => Err(fail(
            Exit::Check,
            format!(
                "the consent result names no tenant, so it cannot be confirmed that consent was granted in {named}"
            ),
        )),
    }
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
    fn the_tenant_that_consented_must_be_the_one_named() {
        let g = "4a1f7c2e-5b8d-4e3f-9a6b-0c2d4e6f8a1b";
        let other = "9ed38d36-d1a6-4200-9985-86bb0271d957";
        assert!(check_tenant("contoso.onmicrosoft.com", g, Some(g)).is_ok());
        let e = check_tenant("contoso.onmicrosoft.com", g, Some(other)).unwrap_err();
        assert_eq!(crate::error::exit_code_of(&e), 5);
        let m = e.to_string();
        assert!(m.contains(&format!("granted in tenant {other}")), "{m}");
        assert!(m.contains(&format!("contoso.onmicrosoft.com ({g})")), "{m}");
        let e = check_tenant(g, g, None).unwrap_err();
        assert_eq!(crate::error::exit_code_of(&e), 5);
    }

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
