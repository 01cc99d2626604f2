//! Admin consent for the multi-tenant app: the Defender docs' v1 link, the v2 /adminconsent
//! link, and its round trip over the loopback catch (open it, catch the redirect, check the
//! state, report the customer's tenant ID and the result).

use super::loopback::{Catcher, Opener, RedirectPlan};
use crate::authority::Tenant;
use crate::error::{fail, Exit};
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

/// Opens the v2 link, waits for the admin, and reports the tenant that consented. A tenant
/// named by GUID must be the one that answers.
pub async fn listen(req: Listen<'_>) -> Result<Consented> {
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
    if let (Some(Tenant::Guid(asked)), Some(got)) = (req.tenant, &tenant_id) {
        if asked != got {
            return Err(fail(
                Exit::Check,
                format!("consent was granted in tenant {got}, not in the tenant you named ({asked}): the admin signed in to another organization"),
            ));
        }
    }
    Ok(Consented { tenant_id, scope })
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
