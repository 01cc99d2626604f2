//! Entra ID errors (AADSTS codes): parsing Entra's error JSON and explaining each code the way a
//! colleague would: what it means, and what to do about it.

use crate::error::Exit;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Entra's JSON error body from the token endpoint (also the discovery endpoint).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct EntraErrorResponse {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub error_codes: Vec<u64>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub trace_id: Option<String>,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub error_uri: Option<String>,
    #[serde(default)]
    pub suberror: Option<String>,
}

impl fmt::Display for EntraErrorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)
    }
}

impl oauth2::ErrorResponse for EntraErrorResponse {}

/// Where Entra reported the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// On the redirect back from the sign-in page.
    Redirect,
    /// From the token endpoint.
    TokenEndpoint,
    /// From the discovery document (tenant resolution).
    Discovery,
}

/// An explained Entra error.
#[derive(Debug, Clone)]
pub struct EntraError {
    pub origin: Origin,
    pub http_status: Option<u16>,
    pub error: String,
    pub subcode: Option<String>,
    pub code: Option<u64>,
    /// The first line of error_description (Entra's own words), without trace lines.
    pub description: Option<String>,
    pub trace_id: Option<String>,
    pub correlation_id: Option<String>,
    pub timestamp: Option<String>,
}

impl EntraError {
    pub fn from_response(origin: Origin, status: Option<u16>, r: &EntraErrorResponse) -> Self {
        let description = r.error_description.as_deref().map(first_line);
        let code = r
            .error_codes
            .first()
            .copied()
            .or_else(|| r.error_description.as_deref().and_then(code_in_text));
        let from_text = |key: &str| {
            r.error_description
                .as_deref()
                .and_then(|d| field_in(d, key))
        };
        EntraError {
            origin,
            http_status: status,
            error: r.error.clone(),
            subcode: r.suberror.clone(),
            code,
            description,
            trace_id: r.trace_id.clone().or_else(|| from_text("Trace ID:")),
            correlation_id: r
                .correlation_id
                .clone()
                .or_else(|| from_text("Correlation ID:")),
            timestamp: r.timestamp.clone().or_else(|| from_text("Timestamp:")),
        }
    }

    /// From the query of a redirect: error, error_description, error_subcode.
    pub fn from_redirect(error: &str, description: Option<&str>, subcode: Option<&str>) -> Self {
        EntraError {
            origin: Origin::Redirect,
            http_status: None,
            error: error.to_string(),
            subcode: subcode.map(str::to_string),
            code: description.and_then(code_in_text),
            description: description.map(first_line),
            trace_id: description.and_then(|d| field_in(d, "Trace ID:")),
            correlation_id: description.and_then(|d| field_in(d, "Correlation ID:")),
            timestamp: description.and_then(|d| field_in(d, "Timestamp:")),
        }
    }

    /// Exit 4 when a person declined or cancelled; exit 3 for everything Entra refused.
    pub fn exit(&self) -> Exit {
        let declined = self.error == "access_denied"
            || self.code == Some(65004)
            || self.subcode.as_deref() == Some("cancel");
        if self.origin == Origin::Redirect && declined {
            Exit::Interaction
        } else {
            Exit::Entra
        }
    }

    /// True when a stored refresh token can no longer be used and a new sign-in is needed.
    pub fn refresh_token_is_dead(&self) -> bool {
        matches!(self.code, Some(700082 | 70008 | 50173 | 50076 | 53003))
            || self.error == "interaction_required"
            || (self.error == "invalid_grant" && self.code.is_none())
    }
}

impl fmt::Display for EntraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.origin {
            Origin::Redirect => "the sign-in ended with an error",
            Origin::TokenEndpoint => "Entra ID refused the token request",
            Origin::Discovery => "Entra ID could not resolve the tenant",
        };
        match self.code {
            Some(code) => write!(f, "{what}: AADSTS{code} ({})", self.error)?,
            None => write!(f, "{what}: {}", self.error)?,
        }
        if let Some(sub) = &self.subcode {
            write!(f, " [{sub}]")?;
        }
        if let Some(status) = self.http_status {
            write!(f, ", HTTP {status}")?;
        }
        let (meaning, fix) = explain(self.code, &self.error, self.subcode.as_deref());
        write!(f, "\n  meaning: {meaning}\n  fix:     {fix}")?;
        if let Some(d) = &self.description {
            write!(f, "\n  Entra said: {d}")?;
        }
        let ids = [
            ("trace ID", &self.trace_id),
            ("correlation ID", &self.correlation_id),
            ("timestamp", &self.timestamp),
        ];
        let ids: Vec<String> = ids
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
            .collect();
        if !ids.is_empty() {
            write!(f, "\n  for Microsoft support: {}", ids.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for EntraError {}

/// The first line of an error description, which is Entra's message without trace lines.
fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").trim().to_string()
}

/// Finds "AADSTSnnnn" in a text.
pub fn code_in_text(text: &str) -> Option<u64> {
    let at = text.find("AADSTS")?;
    let digits: String = text[at + 6..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// Reads "Trace ID: value" style lines inside an error description.
fn field_in(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let l = l.trim();
        l.strip_prefix(key).map(|v| v.trim().to_string())
    })
}

/// Meaning and fix for an AADSTS code (or, without one, for the OAuth error name).
pub fn explain(
    code: Option<u64>,
    error: &str,
    subcode: Option<&str>,
) -> (&'static str, &'static str) {
    match code {
        Some(7000215) => (
            "the client secret is wrong",
            "pass the secret's VALUE (shown once when it was created), not its secret ID; check for a stray space or newline",
        ),
        Some(7000222) => (
            "the client secret has expired",
            "create a new client secret on the app registration (Certificates & secrets), or move to a certificate",
        ),
        Some(7000218) => (
            "no client credential was sent (neither a client secret nor a client assertion)",
            "give a secret (AZURE_CLIENT_SECRET, --client-secret-file or --client-secret-stdin), or a certificate",
        ),
        Some(700016) => (
            "the application is not known in this tenant",
            "check --tenant and --client-id; if both are right, the customer's admin has not consented yet: send them the link from `mssp-token consent`",
        ),
        Some(50011) => (
            "the redirect URI is not registered on the app",
            "add the exact redirect URI printed above to the app registration (Authentication > Web > Redirect URIs); for loopback register http://localhost/SiemMsspConnector once, any port is accepted",
        ),
        Some(65001) => (
            "consent is missing for this app in the customer's tenant",
            "have the customer's admin grant admin consent (`mssp-token consent` prints the link)",
        ),
        Some(65004) => (
            "the user or admin declined consent",
            "run the sign-in again and accept the permissions, or ask the customer's admin to consent",
        ),
        Some(90002) => (
            "the tenant was not found",
            "check the tenant ID or domain; a tenant in another cloud needs --cloud usgov or --cloud china",
        ),
        Some(700082) => (
            "the refresh token expired after 90 days without use",
            "sign in again with `mssp-token login`",
        ),
        Some(70008) => (
            "the authorization code or refresh token has expired or was revoked",
            "sign in again (`mssp-token login`); codes live about 10 minutes and are single-use",
        ),
        Some(50173) => (
            "the grant was revoked (password reset or sessions revoked)",
            "sign in again with `mssp-token login`",
        ),
        Some(54005) => (
            "the authorization code was already redeemed",
            "sign in again; a code can be used only once",
        ),
        Some(501481) | Some(50148) => (
            "the PKCE code_verifier does not match the code_challenge",
            "the code came from another sign-in: sign in again, and paste the address from this run's browser window",
        ),
        Some(9002313) => (
            "the request was malformed",
            "check --authority and the options; if it persists, report it with the trace ID",
        ),
        Some(70011) => (
            "the scope is invalid, or .default was mixed with named scopes",
            "use one RESOURCE/.default scope alone, or only named scopes of one resource",
        ),
        Some(500011) => (
            "the resource's service principal is not in the tenant (the API is not provisioned or licensed there)",
            "check --resource/--scope and that the customer has Microsoft Defender licensed",
        ),
        Some(53003) => (
            "Conditional Access blocked the sign-in",
            "ask the customer's admin which policy applies (sign-in logs, with the correlation ID below)",
        ),
        Some(50076) => (
            "multi-factor authentication is required",
            "sign in interactively with `mssp-token login`",
        ),
        Some(70021) => (
            "no federated credential on the app matches the token's issuer, subject and audience",
            "check the federated credential's issuer, subject and audience (api://AzureADTokenExchange)",
        ),
        Some(900144) => (
            "a required parameter is missing from the request",
            "check the options given; if it persists, report it with the trace ID",
        ),
        Some(50001) | Some(500001) => (
            "the resource is not known in this tenant",
            "check --resource",
        ),
        _ => match (error, subcode) {
            ("access_denied", Some("cancel")) => (
                "the sign-in was cancelled",
                "run the command again and complete the sign-in",
            ),
            ("access_denied", _) => (
                "access was denied or consent declined",
                "run the sign-in again and accept, or ask the customer's admin to consent",
            ),
            ("consent_required", _) => (
                "consent is missing for this app",
                "have the customer's admin grant consent (`mssp-token consent`)",
            ),
            ("interaction_required", _) | ("login_required", _) => (
                "a person has to sign in again",
                "run `mssp-token login`",
            ),
            ("invalid_client", _) => (
                "the client credential was refused",
                "check the client ID and the secret or certificate",
            ),
            ("invalid_grant", _) => (
                "the code or refresh token is not valid (expired, revoked or already used)",
                "sign in again with `mssp-token login`",
            ),
            ("temporarily_unavailable", _) | ("server_error", _) => (
                "Entra ID had a temporary problem",
                "try again in a minute",
            ),
            _ => (
                "Entra ID returned an error this tool has no specific advice for",
                "look the AADSTS code up at https://login.microsoftonline.com/error and keep the trace ID",
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.\r\nTrace ID: 0b1c\r\nCorrelation ID: 77aa\r\nTimestamp: 2026-11-22 10:00:00Z","error_codes":[7000215],"timestamp":"2026-11-22 10:00:00Z","trace_id":"0b1c","correlation_id":"77aa","error_uri":"https://login.microsoftonline.com/error?code=7000215"}"#;

    #[test]
    fn parses_and_explains_token_endpoint_errors() {
        let r: EntraErrorResponse = serde_json::from_str(BODY).unwrap();
        let e = EntraError::from_response(Origin::TokenEndpoint, Some(401), &r);
        assert_eq!(e.code, Some(7000215));
        assert_eq!(e.exit(), Exit::Entra);
        let text = e.to_string();
        assert!(text.contains("AADSTS7000215 (invalid_client)"), "{text}");
        assert!(text.contains("not its secret ID"), "{text}");
        assert!(text.contains("trace ID 0b1c"), "{text}");
        assert!(text.contains("correlation ID 77aa"), "{text}");
        assert!(!text.contains("Trace ID: 0b1c\r"), "{text}");
    }

    #[test]
    fn redirect_cancel_is_an_interaction_failure() {
        let e = EntraError::from_redirect(
            "access_denied",
            Some("AADSTS65004: User declined to consent to access the app.\r\nTrace ID: t1\r\nCorrelation ID: c1\r\nTimestamp: x"),
            Some("cancel"),
        );
        assert_eq!(e.code, Some(65004));
        assert_eq!(e.exit(), Exit::Interaction);
        assert_eq!(e.trace_id.as_deref(), Some("t1"));
        assert_eq!(e.correlation_id.as_deref(), Some("c1"));
    }

    #[test]
    fn code_found_in_text() {
        assert_eq!(code_in_text("AADSTS50011: The redirect"), Some(50011));
        assert_eq!(code_in_text("no code here"), None);
    }
}
