//! The authorization-code sign-in with PKCE, once per customer tenant:
//! tenant resolved -> listener bound (before the browser opens) -> page opened -> redirect
//! (state checked) -> code redeemed -> tenant check. The caller prints or saves the result.

use super::loopback::{Catcher, Opener, RedirectPlan};
use crate::entra::{AuthorizeRequest, EntraClient};
use crate::error::{fail, Exit};
use crate::http::Http;
use crate::identity::Identity;
use crate::redirect::Redirect;
use crate::token::TokenSet;
use anyhow::Result;

/// What the sign-in page asks of the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    SelectAccount,
    Login,
    Consent,
    None,
}

impl Prompt {
    pub fn as_str(self) -> &'static str {
        match self {
            Prompt::SelectAccount => "select_account",
            Prompt::Login => "login",
            Prompt::Consent => "consent",
            Prompt::None => "none",
        }
    }
}

/// One sign-in.
pub struct SignIn {
    pub identity: Identity,
    pub redirect: RedirectPlan,
    pub prompt: Prompt,
    pub login_hint: Option<String>,
    pub domain_hint: Option<String>,
    /// Seconds to wait for the person.
    pub wait: u64,
    pub opener: Opener,
}

/// A sign-in's result: the token set and the tenant ID it was checked against.
pub struct SignedIn {
    pub set: TokenSet,
    pub tenant_id: String,
}

/// Runs the sign-in. A login exists to get a refresh token and an id_token, so v2 scopes get
/// `offline_access` and `openid`.
pub async fn sign_in(http: &Http, req: SignIn) -> Result<SignedIn> {
    let mut id = req.identity;
    id.target = id.target.with_scopes(&["offline_access", "openid"]);
    let tenant_id = crate::entra::discovery::resolve_tenant_id(http, &id.authority).await?;
    let asked = id.authority.tenant.as_str().to_string();
    crate::verbose!(
        "tenant {asked} is {tenant_id}; {} endpoint; {}",
        id.target.version().label(),
        id.credential.describe()
    );
    let catcher = Catcher::bind(&req.redirect)?;
    let entra = EntraClient::new(http, &id);
    let auth = entra.authorize_url(&AuthorizeRequest {
        target: &id.target,
        redirect_uri: catcher.redirect_uri(),
        prompt: req.prompt.as_str(),
        login_hint: req.login_hint.as_deref(),
        domain_hint: req.domain_hint.as_deref(),
    })?;
    let redirect_uri = catcher.redirect_uri().to_string();
    let prompt = format!(
        "Sign in to tenant {asked} ({tenant_id}) and consent. Open this URL if no browser window appears:\n\n  {}\n",
        auth.url
    );
    let redirect = catcher
        .catch(&auth.url, &auth.state, &prompt, req.opener, req.wait)
        .await?;
    let code = match redirect {
        Redirect::Code { code, .. } => code,
        Redirect::Error { error, .. } => return Err(error.into()),
        Redirect::Consent { .. } => {
            return Err(fail(
                Exit::Interaction,
                "the redirect carried an admin-consent result, not a sign-in code: use `mssp-token consent --listen` for consent links",
            ))
        }
    };
    crate::verbose!("authorization code received; redeeming it");
    let set = entra
        .authorization_code(&id.target, &code, auth.verifier, &redirect_uri)
        .await?;
    crate::checks::tenant_matches(&set, &tenant_id, &asked)?;
    if set.refresh_token.is_none() {
        crate::warn!("Entra returned no refresh token");
    }
    Ok(SignedIn { set, tenant_id })
}
