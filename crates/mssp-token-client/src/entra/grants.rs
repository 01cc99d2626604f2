//! One method per grant. Each builds its request through oauth2, adds the target
//! (`resource=` or `scope=`) and the client credential, sends it through our HTTP client and
//! returns the parsed [`TokenSet`]. A new grant (device code, partner redemption) is one more
//! method here.

use super::device_code::{DeviceAuthorization, Poll};
use super::{request, EntraClient, Redeem};
use crate::authority::Version;
use crate::redacted::SecretString;
use crate::time::now_epoch;
use crate::token::{Target, TokenSet};
use anyhow::Result;
use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RefreshToken};
use url::Url;

/// What the sign-in page is asked for.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest<'a> {
    pub target: &'a Target,
    /// The redirect URI as sent (with the listener's port).
    pub redirect_uri: &'a str,
    /// select_account, login, consent or none.
    pub prompt: &'a str,
    pub login_hint: Option<&'a str>,
    pub domain_hint: Option<&'a str>,
}

/// A sign-in URL and what the code exchange needs back.
pub struct Authorization {
    pub url: Url,
    /// The random state sent; the redirect must carry it back.
    pub state: String,
    /// The PKCE verifier of the S256 challenge sent.
    pub verifier: PkceCodeVerifier,
}

impl EntraClient {
    /// The authorize URL: PKCE S256, a random state, the target, prompt and hints.
    pub fn authorize_url(&self, req: &AuthorizeRequest<'_>) -> Result<Authorization> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        // The verifier redeems the code: scrubbed like a secret should a server echo it.
        crate::redacted::register(verifier.secret());
        let client = self.oauth(req.target.version(), Some(req.redirect_uri))?;
        let mut auth = client
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge)
            .add_extra_param("prompt", req.prompt);
        match req.target {
            Target::Resource(r) => auth = auth.add_extra_param("resource", r.clone()),
            Target::Scopes(s) => {
                auth = auth.add_scopes(s.iter().map(|x| oauth2::Scope::new(x.clone())))
            }
        }
        if let Some(h) = req.login_hint {
            auth = auth.add_extra_param("login_hint", h);
        }
        if let Some(h) = req.domain_hint {
            auth = auth.add_extra_param("domain_hint", h);
        }
        let (url, state) = auth.url();
        Ok(Authorization {
            url,
            state: state.secret().clone(),
            verifier,
        })
    }

    /// grant_type=authorization_code: redeems the code caught on the redirect.
    pub async fn authorization_code(
        &self,
        target: &Target,
        code: &SecretString,
        verifier: PkceCodeVerifier,
        redirect_uri: &str,
    ) -> Result<TokenSet> {
        let v = target.version();
        let client = self.oauth(v, Some(redirect_uri))?;
        let fields = self.credential_fields(v)?;
        let (k, val) = target.form_param();
        let sent_at = now_epoch();
        let client = &client;
        let response = request(&self.http, Redeem::SingleUse, |f| async move {
            let call = f.call();
            let mut req = client
                .exchange_code(AuthorizationCode::new(code.expose().to_string()))
                .set_pkce_verifier(verifier)
                .add_extra_param(k, val);
            for (name, value) in fields {
                req = req.add_extra_param(name, value);
            }
            req.request_async(&call).await
        })
        .await?;
        Ok(response
            .token_set(target, &self.client_id, sent_at)?
            .issued_by(&self.authority))
    }

    /// grant_type=refresh_token: redeems a refresh token (for the same or another target).
    pub async fn refresh_token(&self, target: &Target, refresh_token: &str) -> Result<TokenSet> {
        let v = target.version();
        let client = self.oauth(v, None)?;
        let fields = self.credential_fields(v)?;
        let (k, val) = target.form_param();
        let refresh = RefreshToken::new(refresh_token.to_string());
        let sent_at = now_epoch();
        let (client, refresh) = (&client, &refresh);
        let response = request(&self.http, Redeem::Repeatable, |f| async move {
            let call = f.call();
            let mut req = client
                .exchange_refresh_token(refresh)
                .add_extra_param(k, val);
            for (name, value) in fields {
                req = req.add_extra_param(name, value);
            }
            req.request_async(&call).await
        })
        .await?;
        Ok(response
            .token_set(target, &self.client_id, sent_at)?
            .issued_by(&self.authority))
    }

    /// grant_type=client_credentials: an app-only token (v1 `resource=`, v2 one `/.default`).
    pub async fn client_credentials(&self, target: &Target) -> Result<TokenSet> {
        let v = target.version();
        let client = self.oauth(v, None)?;
        let fields = self.credential_fields(v)?;
        let sent_at = now_epoch();
        let client = &client;
        let response = request(&self.http, Redeem::Repeatable, |f| async move {
            let call = f.call();
            let mut req = client.exchange_client_credentials();
            match target {
                Target::Resource(_) => {
                    let (k, val) = target.form_param();
                    req = req.add_extra_param(k, val);
                }
                Target::Scopes(s) => {
                    req = req.add_scopes(s.iter().map(|x| oauth2::Scope::new(x.clone())));
                }
            }
            for (name, value) in fields {
                req = req.add_extra_param(name, value);
            }
            req.request_async(&call).await
        })
        .await?;
        Ok(response
            .token_set(target, &self.client_id, sent_at)?
            .issued_by(&self.authority))
    }

    /// The device authorization request (v2 .../oauth2/v2.0/devicecode with `scope`, v1
    /// .../oauth2/devicecode with `resource`): a user code for a person, and the device code
    /// the polls present. No client credential is sent here (Entra asks for it on the polls).
    pub async fn device_authorization(&self, target: &Target) -> Result<DeviceAuthorization> {
        let v = target.version();
        let mut url = self.authority.token_url(v);
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.pop().push("devicecode");
        }
        let (k, val) = target.form_param();
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.client_id)
            .append_pair(k, &val)
            .finish();
        crate::verbose!("POST {url}");
        let req = self
            .http
            .request(reqwest::Method::POST, url.as_str())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json")
            .body(body);
        let resp = self.http.send_with_retries(req).await?;
        DeviceAuthorization::from_response(&resp)
    }

    /// One poll of the token endpoint with the device code: v2
    /// grant_type=urn:ietf:params:oauth:grant-type:device_code with `device_code`, v1
    /// grant_type=device_code with `code` (both spellings sent, as Entra's v1 endpoint is
    /// documented with either), plus the client credential when there is one.
    pub async fn device_code_poll(
        &self,
        target: &Target,
        device: &DeviceAuthorization,
    ) -> Result<Poll> {
        let v = target.version();
        let url = self.authority.token_url(v);
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("client_id", &self.client_id);
        match v {
            Version::V2 => {
                form.append_pair("grant_type", "urn:ietf:params:oauth:grant-type:device_code")
                    .append_pair("device_code", device.device_code.expose());
            }
            Version::V1 => {
                form.append_pair("grant_type", "device_code")
                    .append_pair("code", device.device_code.expose())
                    .append_pair("device_code", device.device_code.expose());
            }
        }
        for (name, value) in self.credential_fields(v)? {
            form.append_pair(name, &value);
        }
        let body = form.finish();
        let sent_at = now_epoch();
        let req = self
            .http
            .request(reqwest::Method::POST, url.as_str())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json")
            .body(body);
        let resp = self.http.send_with_retries(req).await?;
        Ok(
            match Poll::from_response(&resp, target, &self.client_id, sent_at)? {
                Poll::Done(set) => Poll::Done(Box::new(set.issued_by(&self.authority))),
                other => other,
            },
        )
    }
}
