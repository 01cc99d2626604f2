//! The one Entra ID client: a method per grant (`grants.rs`), the client credential applied in
//! one place (secret, certificate assertion or federated assertion, fresh for every request),
//! and Entra's answers parsed once (`response.rs`: v1 strings, v2 numbers) into a
//! [`crate::token::TokenSet`], or explained (`errors.rs`: AADSTS codes). oauth2 builds and
//! sends the requests through our HTTP client (`crate::http`), with Entra's own types plugged
//! into its extension points.

pub mod device_code;
pub mod discovery;
pub mod errors;
mod grants;
pub mod lifetime;
pub mod response;
pub mod shapes;

pub use errors::{EntraError, EntraErrorResponse, Origin};
pub use grants::AuthorizeRequest;

use crate::authority::{Authority, Version};
use crate::credentials::Credential;
use crate::error::{fail, Exit};
use crate::http::Http;
use crate::identity::Identity;
use anyhow::Result;
use oauth2::basic::BasicRevocationErrorResponse;
use oauth2::{
    AuthType, AuthUrl, ClientId, EmptyExtraTokenFields, EndpointNotSet, EndpointSet, RedirectUrl,
    RequestTokenError, StandardRevocableToken, StandardTokenIntrospectionResponse, TokenUrl,
};
use response::{EntraTokenResponse, EntraTokenType};
use std::sync::{Arc, Mutex};

/// oauth2's client with Entra's response and error types.
type OAuthClient = oauth2::Client<
    EntraErrorResponse,
    EntraTokenResponse,
    StandardTokenIntrospectionResponse<EmptyExtraTokenFields, EntraTokenType>,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The client of one app registration at one authority (login host + tenant).
#[derive(Clone)]
pub struct EntraClient {
    http: Http,
    authority: Authority,
    client_id: String,
    credential: Credential,
}

impl EntraClient {
    pub fn new(http: &Http, identity: &Identity) -> EntraClient {
        EntraClient {
            http: http.clone(),
            authority: identity.authority.clone(),
            client_id: identity.client_id.clone(),
            credential: identity.credential.clone(),
        }
    }

    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    pub fn http(&self) -> &Http {
        &self.http
    }

    /// oauth2's client for one endpoint version. No secret is set on it: the credential is
    /// added to every grant by [`EntraClient::credential_fields`], the one road for all three
    /// kinds of credential.
    fn oauth(&self, v: Version, redirect_uri: Option<&str>) -> Result<OAuthClient> {
        let mut c = oauth2::Client::new(ClientId::new(self.client_id.clone()))
            .set_auth_uri(AuthUrl::from_url(self.authority.authorize_url(v)))
            .set_token_uri(TokenUrl::from_url(self.authority.token_url(v)))
            // client_id in the form body, as Entra's docs and the seed do.
            .set_auth_type(AuthType::RequestBody);
        if let Some(r) = redirect_uri {
            let r = RedirectUrl::new(r.to_string())
                .map_err(|e| fail(Exit::Usage, format!("bad redirect URI: {e}")))?;
            c = c.set_redirect_uri(r);
        }
        Ok(c)
    }

    /// The form fields that authenticate the client, made fresh for each request:
    /// `client_secret`, or a certificate assertion with a new jti and times, or the federated
    /// token re-read from its file.
    fn credential_fields(&self, v: Version) -> Result<Vec<(&'static str, String)>> {
        let token_url = self.authority.token_url(v).to_string();
        self.credential.form_fields(&self.client_id, &token_url)
    }
}

/// What the last response looked like, for error messages (never its content).
#[derive(Default, Clone)]
struct Seen {
    status: Option<u16>,
    description: Option<String>,
}

/// Whether a grant may be sent twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Redeem {
    /// Client credentials, refresh tokens: sending the request again is harmless (a refresh
    /// token stays valid until a redemption succeeds and rotates it), so 5xx and lost
    /// connections are retried.
    Repeatable,
    /// An authorization code is single-use: after a 5xx or a lost connection Entra may have
    /// redeemed it already, so it is never sent again (a retry would only earn AADSTS54005).
    /// Refusals before processing (429, a connection never made) are still retried.
    SingleUse,
}

/// Sends a token request built by `build` through our HTTP client and maps every failure to an
/// explained error. `build` receives the async HTTP function to pass to `request_async`.
async fn request<F, Fut>(http: &Http, redeem: Redeem, send: F) -> Result<EntraTokenResponse>
where
    F: FnOnce(HttpFn) -> Fut,
    Fut: std::future::Future<
        Output = Result<
            EntraTokenResponse,
            RequestTokenError<crate::http::HttpCallError, EntraErrorResponse>,
        >,
    >,
{
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut http = http.clone();
    if redeem == Redeem::SingleUse {
        http.retry.retry_server_errors = false;
    }
    let http_fn = HttpFn {
        http,
        seen: seen.clone(),
    };
    let result = send(http_fn).await;
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    result.map_err(|e| match redeem {
        Redeem::SingleUse => single_use_error(e, &seen),
        Redeem::Repeatable => map_error(e, &seen),
    })
}

/// A failed authorization-code redemption: after a server error or a lost connection, says that
/// the code may be spent and a new sign-in is the way on.
fn single_use_error(
    e: RequestTokenError<crate::http::HttpCallError, EntraErrorResponse>,
    seen: &Seen,
) -> anyhow::Error {
    let spent = match &e {
        RequestTokenError::Request(inner) => inner.may_have_arrived,
        _ => seen.status.is_some_and(|s| s >= 500),
    };
    let err = map_error(e, seen);
    if !spent {
        return err;
    }
    let text = err.to_string();
    let what = match (seen.status, err.downcast_ref::<EntraError>()) {
        // "Entra ID refused the token request: temporarily_unavailable, HTTP 503"
        (_, Some(_)) => text.lines().next().unwrap_or_default().to_string(),
        (Some(s), None) if s >= 500 => format!(
            "the token endpoint answered HTTP {s}, {}",
            seen.description.as_deref().unwrap_or("no body")
        ),
        _ => text,
    };
    fail(
        Exit::Network,
        format!(
            "redeeming the sign-in code failed ({what}). The code is single-use and that request may already have used it, so it was not sent again: sign in again (run the same command)"
        ),
    )
}

/// The HTTP function handed to oauth2: our client, and a note of what came back.
#[derive(Clone)]
pub struct HttpFn {
    http: Http,
    seen: Arc<Mutex<Seen>>,
}

impl HttpFn {
    pub fn call(
        &self,
    ) -> impl Fn(
        oauth2::HttpRequest,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<oauth2::HttpResponse, crate::http::HttpCallError>,
                > + Send,
        >,
    > + '_ {
        move |req| {
            let http = self.http.clone();
            let seen = self.seen.clone();
            Box::pin(async move {
                let resp = http.oauth2_call(req).await?;
                let summary = crate::http::Response {
                    status: resp.status().as_u16(),
                    truncated: false,
                    content_type: resp
                        .headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string),
                    retry_after: None,
                    headers: Default::default(),
                    body: resp.body().clone(),
                };
                if let Ok(mut s) = seen.lock() {
                    s.status = Some(summary.status);
                    s.description = Some(summary.describe_body());
                }
                Ok(resp)
            })
        }
    }
}

fn map_error(
    e: RequestTokenError<crate::http::HttpCallError, EntraErrorResponse>,
    seen: &Seen,
) -> anyhow::Error {
    let what = seen
        .description
        .clone()
        .unwrap_or_else(|| "no body".to_string());
    let status = seen.status.map(|s| format!("HTTP {s}")).unwrap_or_default();
    match e {
        RequestTokenError::ServerResponse(err) if !err.is_empty() => {
            EntraError::from_response(Origin::TokenEndpoint, seen.status, &err).into()
        }
        RequestTokenError::ServerResponse(_) => fail(
            Exit::Network,
            format!(
                "the token endpoint's answer ({status}, {what}) is neither a token response nor an Entra ID error. A proxy or something other than Entra ID may be answering; check --authority, HTTPS_PROXY and NO_PROXY"
            ),
        ),
        RequestTokenError::Request(inner) => inner.error,
        RequestTokenError::Parse(parse_err, body) => {
            // A 200 that carries an error body (with or without `error`) is still an Entra error.
            if let Ok(err) = serde_json::from_slice::<EntraErrorResponse>(&body) {
                if !err.is_empty() {
                    return EntraError::from_response(Origin::TokenEndpoint, seen.status, &err)
                        .into();
                }
            }
            let path = parse_err.path().to_string();
            let inner = parse_err.into_inner();
            let detail = if inner.is_eof() {
                "the JSON is cut short (truncated)".to_string()
            } else if inner.is_syntax() {
                format!(
                    "it is not JSON (at line {} column {})",
                    inner.line(),
                    inner.column()
                )
            } else if inner.to_string().starts_with("missing field") {
                // "missing field `access_token`": safe, it names a field, not a value.
                inner
                    .to_string()
                    .split(" at line")
                    .next()
                    .unwrap_or("")
                    .to_string()
            } else {
                format!("field '{path}' has the wrong type or value")
            };
            fail(
                Exit::Network,
                format!(
                    "the token endpoint's answer ({status}, {what}) is not a token response: {detail}. A proxy or captive portal may be answering instead of Entra ID; check --authority, HTTPS_PROXY and NO_PROXY"
                ),
            )
        }
        RequestTokenError::Other(msg) => {
            let msg = msg.replace("server returned", "the token endpoint returned");
            fail(
                Exit::Network,
                format!(
                    "the token endpoint's answer ({status}, {what}) is not a token response: {msg}. A proxy or captive portal may be answering instead of Entra ID; check --authority, HTTPS_PROXY and NO_PROXY"
                ),
            )
        }
    }
}
