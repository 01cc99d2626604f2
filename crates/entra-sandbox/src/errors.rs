//! Entra-shaped errors: AADSTS JSON bodies for the token endpoint, descriptions for redirect
//! errors and error pages, and the catalogue of messages the sandbox uses.

use crate::http::Resp;
use serde_json::json;

/// One AADSTS error: HTTP status, OAuth `error`, AADSTS number and message (without the
/// "AADSTSnnnn: " prefix and the trace lines).
#[derive(Debug, Clone)]
pub struct Aadsts {
    pub status: u16,
    pub error: &'static str,
    pub code: u32,
    pub message: String,
}

/// Trace ID, correlation ID and timestamp of one failed request.
#[derive(Debug, Clone)]
pub struct Trace {
    pub trace_id: String,
    pub correlation_id: String,
    pub timestamp: String,
}

impl Trace {
    /// New ids; `client_request_id` (the client-request-id header) becomes the correlation id
    /// when it is a GUID, as in Entra.
    pub fn new(client_request_id: Option<&str>) -> Trace {
        let correlation_id = client_request_id
            .and_then(|c| uuid::Uuid::parse_str(c).ok())
            .map(|u| u.hyphenated().to_string())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        Trace {
            trace_id: uuid::Uuid::new_v4().to_string(),
            correlation_id,
            timestamp: timestamp_now(),
        }
    }
}

/// "YYYY-MM-DD HH:MM:SSZ", UTC.
pub fn timestamp_now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace('T', " ")
}

impl Aadsts {
    pub fn new(status: u16, error: &'static str, code: u32, message: impl Into<String>) -> Aadsts {
        Aadsts {
            status,
            error,
            code,
            message: message.into(),
        }
    }

    /// "AADSTSnnnn: message\r\nTrace ID: ..\r\nCorrelation ID: ..\r\nTimestamp: .."
    pub fn description(&self, t: &Trace) -> String {
        format!(
            "AADSTS{}: {}\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {}",
            self.code, self.message, t.trace_id, t.correlation_id, t.timestamp
        )
    }

    /// The token-endpoint JSON error.
    pub fn to_json(&self, t: &Trace) -> Resp {
        let body = json!({
            "error": self.error,
            "error_description": self.description(t),
            "error_codes": [self.code],
            "timestamp": t.timestamp,
            "trace_id": t.trace_id,
            "correlation_id": t.correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        let mut r = Resp::json(self.status, &body);
        if self.status == 401 {
            r = r.with_header("WWW-Authenticate", "Basic realm=\"mssp-token sandbox\"");
        }
        r
    }
}

// ---- the catalogue -------------------------------------------------------------------------

pub fn tenant_not_found(tenant: &str) -> Aadsts {
    Aadsts::new(400, "invalid_request", 90002, format!(
        "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
    ))
}

pub fn app_not_found(client_id: &str, directory: &str) -> Aadsts {
    Aadsts::new(400, "unauthorized_client", 700016, format!(
        "Application with identifier '{client_id}' was not found in the directory '{directory}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
    ))
}

pub fn not_multi_tenant(client_id: &str, name: &str) -> Aadsts {
    Aadsts::new(400, "invalid_request", 50194, format!(
        "Application '{client_id}'({name}) is not configured as a multi-tenant application. Usage of the /common endpoint is not supported for such applications created after '10/15/2018'. Use a tenant-specific endpoint or configure the application to be multi-tenant."
    ))
}

pub fn user_not_in_tenant(upn: &str, tenant_name: &str) -> Aadsts {
    Aadsts::new(400, "invalid_request", 50020, format!(
        "User account '{upn}' from identity provider 'https://sts.windows.net/' does not exist in tenant '{tenant_name}' and cannot access the application in that tenant. The account needs to be added as an external user in the tenant first. Sign out and sign in again with a different Azure Active Directory user account."
    ))
}

pub fn redirect_mismatch(redirect_uri: &str, client_id: &str) -> Aadsts {
    Aadsts::new(400, "invalid_request", 50011, format!(
        "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this."
    ))
}

pub fn missing_param(name: &str) -> Aadsts {
    Aadsts::new(
        400,
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{name}'."),
    )
}

pub fn malformed(detail: &str) -> Aadsts {
    Aadsts::new(
        400,
        "invalid_request",
        9002313,
        format!("Invalid request. Request is malformed or invalid. ({detail})"),
    )
}

pub fn invalid_grant_malformed(what: &str) -> Aadsts {
    Aadsts::new(
        400,
        "invalid_grant",
        9002313,
        format!("Invalid request. Request is malformed or invalid. (the {what} is not known to this sandbox)"),
    )
}

pub fn consent_required(client_id: &str, app_name: &str) -> Aadsts {
    Aadsts::new(400, "consent_required", 65001, format!(
        "The user or administrator has not consented to use the application with ID '{client_id}' named '{app_name}'. Send an interactive authorization request for this user and resource."
    ))
}

pub fn declined() -> Aadsts {
    Aadsts::new(
        400,
        "access_denied",
        65004,
        "User declined to consent to access the app.",
    )
}

pub fn login_required() -> Aadsts {
    Aadsts::new(400, "login_required", 50058, "A silent sign-in request was sent but no user is signed in. The cookies used to represent the user's session were not sent in the request to Azure AD.")
}

pub fn incompatible_scopes(scope: &str) -> Aadsts {
    Aadsts::new(400, "invalid_scope", 70011, format!(
        "The provided value for the input parameter 'scope' is not valid. One or more scopes in '{scope}' are not compatible with each other."
    ))
}

pub fn invalid_scope(scope: &str) -> Aadsts {
    Aadsts::new(
        400,
        "invalid_scope",
        70011,
        format!("The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. ('{scope}')"),
    )
}

pub fn multiple_resources(scope: &str) -> Aadsts {
    Aadsts::new(400, "invalid_scope", 28000, format!(
        "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope {scope} is not valid."
    ))
}

pub fn client_credentials_scope(scope: &str) -> Aadsts {
    Aadsts::new(400, "invalid_scope", 1002012, format!(
        "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
    ))
}

pub fn unsupported_response_type(rt: &str) -> Aadsts {
    Aadsts::new(
        400,
        "unsupported_response_type",
        700054,
        format!("response_type '{rt}' is not enabled for the application. (the sandbox supports only 'code')"),
    )
}

pub fn unsupported_grant_type(gt: &str) -> Aadsts {
    Aadsts::new(
        400,
        "unsupported_grant_type",
        70003,
        format!("The app requested an unsupported grant type '{gt}'."),
    )
}

pub fn invalid_secret(client_id: &str) -> Aadsts {
    Aadsts::new(401, "invalid_client", 7000215, format!(
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
    ))
}

pub fn expired_secret(client_id: &str) -> Aadsts {
    Aadsts::new(401, "invalid_client", 7000222, format!(
        "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."
    ))
}

pub fn no_client_credential() -> Aadsts {
    Aadsts::new(
        401,
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    )
}

// Client assertions (certificate and federated). Every one is 401 invalid_client, as Entra
// answers failed client authentication. 50013 for a replayed jti is the sandbox's choice
// (Entra documents no code for it; 50013 is its generic "InvalidAssertion").

const CERT_DOCS: &str = "Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .";

pub fn assertion_malformed(detail: &str) -> Aadsts {
    Aadsts::new(
        401,
        "invalid_client",
        50027,
        format!("JWT token is invalid or malformed. ({detail})"),
    )
}

pub fn assertion_client_mismatch() -> Aadsts {
    Aadsts::new(
        401,
        "invalid_client",
        700021,
        format!(
        "Client assertion application identifier doesn't match 'client_id' parameter. {CERT_DOCS}"
    ),
    )
}

pub fn assertion_audience(expected: &str) -> Aadsts {
    Aadsts::new(401, "invalid_client", 700023, format!(
        "Client assertion audience claim does not match Realm issuer. {CERT_DOCS} (the sandbox expects this token endpoint's URL, e.g. '{expected}')"
    ))
}

/// 700024; times in Unix seconds, `None` when the claim is absent.
pub fn assertion_time(now: i64, nbf: Option<i64>, exp: Option<i64>, why: &str) -> Aadsts {
    let t = |v: Option<i64>| {
        v.map_or("(none)".to_string(), |s| {
            crate::clock::format_iso(s.saturating_mul(1000))
        })
    };
    Aadsts::new(401, "invalid_client", 700024, format!(
        "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. {CERT_DOCS} ({why})",
        t(Some(now)), t(nbf), t(exp)
    ))
}

pub fn certificate_not_registered(thumbprint: &str, client_id: &str) -> Aadsts {
    Aadsts::new(401, "invalid_client", 700027, format!(
        "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments to determine the corresponding service endpoint and https://docs.microsoft.com/en-us/graph/api/application-get?view=graph-rest-1.0&tabs=http to build a query request URL, such as 'https://graph.microsoft.com/beta/applications/{client_id}']."
    ))
}

pub fn certificate_expired(thumbprint: &str, start: i64, end: i64) -> Aadsts {
    Aadsts::new(401, "invalid_client", 700027, format!(
        "Client assertion contains an invalid signature. [Reason - The key used is expired., Thumbprint of key used by client: '{thumbprint}', Found key 'Start={}, End={}']",
        crate::clock::format_iso(start.saturating_mul(1000)),
        crate::clock::format_iso(end.saturating_mul(1000))
    ))
}

pub fn assertion_signature(detail: &str) -> Aadsts {
    Aadsts::new(
        401,
        "invalid_client",
        700027,
        format!("Client assertion failed signature validation.{detail}"),
    )
}

pub fn assertion_replayed(jti: &str) -> Aadsts {
    Aadsts::new(401, "invalid_client", 50013, format!(
        "Assertion is invalid: the client assertion has already been used (jti '{jti}' was seen before). Sign a new assertion, with a new jti, for every token request."
    ))
}

pub fn federated_no_match(iss: &str, sub: &str, aud: &str) -> Aadsts {
    Aadsts::new(401, "invalid_client", 70021, format!(
        "No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{aud}'. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
    ))
}

pub fn code_redeemed() -> Aadsts {
    Aadsts::new(400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
}

pub fn grant_expired() -> Aadsts {
    Aadsts::new(400, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
}

pub fn refresh_expired_unused(days: u64) -> Aadsts {
    Aadsts::new(400, "invalid_grant", 700082, format!(
        "The refresh token has expired due to inactivity. The token was issued on a date and was inactive for {days}.00:00:00."
    ))
}

pub fn sessions_revoked() -> Aadsts {
    Aadsts::new(400, "invalid_grant", 50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on a date and the TokensValidFrom date (before which tokens are not valid) for this user is later.")
}

pub fn pkce_mismatch(detail: &str) -> Aadsts {
    Aadsts::new(
        400,
        "invalid_grant",
        501481,
        format!("The Code_Verifier does not match the code_challenge supplied in the authorization request.{detail}"),
    )
}

pub fn reply_url_mismatch() -> Aadsts {
    Aadsts::new(400, "invalid_grant", 50011, "The reply URL specified in the request does not match the reply URL used to obtain the authorization code.")
}

pub fn code_other_tenant() -> Aadsts {
    Aadsts::new(
        400,
        "invalid_grant",
        700005,
        "Provided Authorization Code is intended to use against other tenant, thus rejected.",
    )
}

pub fn grant_other_client(what: &str) -> Aadsts {
    Aadsts::new(
        400,
        "invalid_grant",
        70000,
        format!(
            "Provided grant is invalid or malformed. (the {what} was issued to a different client)"
        ),
    )
}

pub fn grant_other_endpoint(what: &str, issued: &str, used: &str) -> Aadsts {
    Aadsts::new(
        400,
        "invalid_grant",
        70000,
        format!("Provided grant is invalid or malformed. (the {what} was issued by the {issued} endpoint and cannot be redeemed at the {used} endpoint)"),
    )
}

pub fn tenant_required_for_app_only(tenant: &str) -> Aadsts {
    Aadsts::new(400, "invalid_request", 900023, format!(
        "Specified tenant identifier '{tenant}' is neither a valid DNS name, nor a valid external domain. (client credentials need a specific tenant, not common/organizations)"
    ))
}

pub fn post_only() -> Aadsts {
    Aadsts::new(
        400,
        "invalid_request",
        900561,
        "The endpoint only accepts POST requests. Received a GET request.",
    )
}
