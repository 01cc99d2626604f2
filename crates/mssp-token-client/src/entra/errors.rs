//! Entra ID errors (AADSTS codes): parsing Entra's error JSON and explaining each code the way a
//! colleague would: what it means, and what to do about it.

use crate::error::Exit;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Entra's JSON error body from the token endpoint (also the discovery endpoint). Every field is
/// optional: a real answer may carry `error_codes` and `error_description` without `error`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct EntraErrorResponse {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default, deserialize_with = "codes")]
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

impl EntraErrorResponse {
    /// True when the body says nothing Entra-like (no error name, no code, no description):
    /// `{}` or another service's JSON.
    pub fn is_empty(&self) -> bool {
        self.error.is_empty()
            && self.error_codes.is_empty()
            && self
                .error_description
                .as_deref()
                .is_none_or(|d| d.trim().is_empty())
    }
}

/// `error_codes`: numbers (or strings holding numbers); anything else in the list is skipped.
fn codes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    let list = match v {
        Some(serde_json::Value::Array(a)) => a,
        Some(one) => vec![one],
        None => Vec::new(),
    };
    Ok(list
        .iter()
        .filter_map(|c| {
            c.as_u64()
                .or_else(|| c.as_str().and_then(|s| s.trim().parse().ok()))
        })
        .collect())
}

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
    /// The code the explanation is about: the most specific of [`Self::codes`] (Entra lists
    /// the generic code first: `[70002, 70008]` is "error validating credentials" wrapping
    /// "refresh token expired").
    pub code: Option<u64>,
    /// Every AADSTS code, from `error_codes` and from the description, in order.
    pub codes: Vec<u64>,
    /// The first line of error_description (Entra's own words), without trace lines.
    pub description: Option<String>,
    pub trace_id: Option<String>,
    pub correlation_id: Option<String>,
    pub timestamp: Option<String>,
}

impl EntraError {
    pub fn from_response(origin: Origin, status: Option<u16>, r: &EntraErrorResponse) -> Self {
        let description = r.error_description.as_deref().map(first_line);
        let mut codes = r.error_codes.clone();
        for c in r
            .error_description
            .as_deref()
            .map(codes_in_text)
            .unwrap_or_default()
        {
            if !codes.contains(&c) {
                codes.push(c);
            }
        }
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
            code: primary(&codes),
            codes,
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
        let codes = description.map(codes_in_text).unwrap_or_default();
        EntraError {
            origin: Origin::Redirect,
            http_status: None,
            error: error.to_string(),
            subcode: subcode.map(str::to_string),
            code: primary(&codes),
            codes,
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

    /// True when the session is dead or a person must act: the stored refresh token can no
    /// longer be used and the only way forward is an interactive sign-in (the "needs login"
    /// list of entra-protocol.md). Any of the codes counts, not only the first.
    pub fn needs_login(&self) -> bool {
        self.codes.iter().any(|c| NEEDS_LOGIN.contains(c))
            || matches!(
                self.error.as_str(),
                "interaction_required" | "login_required"
            )
            || (self.error == "invalid_grant"
                && (self.codes.is_empty()
                    || matches!(self.subcode.as_deref(), Some("token_expired" | "bad_token"))))
    }

    /// The former name of [`Self::needs_login`].
    pub fn refresh_token_is_dead(&self) -> bool {
        self.needs_login()
    }
}

/// AADSTS codes after which only a new interactive sign-in helps: 700082 (refresh token
/// expired after 90 days unused), 70008 (expired or revoked), 70043 (expired by a Conditional
/// Access sign-in frequency), 50173 (grant revoked), 50076 / 50079 (MFA required / MFA
/// registration required), 53003 (blocked by Conditional Access), 530034 (delegated admin
/// blocked for account risk).
pub const NEEDS_LOGIN: [u64; 8] = [700082, 70008, 70043, 50173, 50076, 50079, 53003, 530034];

/// Codes that only wrap a more specific one listed after them.
const GENERIC: [u64; 1] = [70002];

/// The code to explain: the first one that is not a generic wrapper, else the first.
fn primary(codes: &[u64]) -> Option<u64> {
    codes
        .iter()
        .find(|c| !GENERIC.contains(c))
        .or(codes.first())
        .copied()
}

impl fmt::Display for EntraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.origin {
            Origin::Redirect => "the sign-in ended with an error",
            Origin::TokenEndpoint => "Entra ID refused the token request",
            Origin::Discovery => "Entra ID could not resolve the tenant",
        };
        let error = crate::authority::printable(&self.error);
        match (self.code, error.is_empty()) {
            (Some(code), false) => write!(f, "{what}: AADSTS{code} ({error})")?,
            (Some(code), true) => write!(f, "{what}: AADSTS{code}")?,
            (None, false) => write!(f, "{what}: {error}")?,
            (None, true) => write!(f, "{what}: an error without a name or code")?,
        }
        if self.codes.len() > 1 {
            let all: Vec<String> = self.codes.iter().map(u64::to_string).collect();
            write!(f, " (error_codes {})", all.join(", "))?;
        }
        if let Some(sub) = &self.subcode {
            write!(f, " [{}]", crate::authority::printable(sub))?;
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

/// Finds the first "AADSTSnnnn" in a text.
pub fn code_in_text(text: &str) -> Option<u64> {
    codes_in_text(text).first().copied()
}

/// Every "AADSTSnnnn" in a text, in order, without repeats.
pub fn codes_in_text(text: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices("AADSTS") {
        let digits: String = text[at + 6..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .take(12)
            .collect();
        if let Ok(c) = digits.parse::<u64>() {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
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
        Some(70002) => (
            "Entra ID could not validate the credentials (no more specific code was given)",
            "check the client ID and credential; if a refresh token was used, sign in again with `mssp-token login`",
        ),
        Some(70043) => (
            "the refresh token expired under a Conditional Access sign-in frequency policy (often 8 to 48 hours, not 90 days)",
            "sign in again with `mssp-token login`; ask the customer's admin about the sign-in frequency that applies",
        ),
        Some(50079) => (
            "the account must register for multi-factor authentication",
            "sign in interactively with `mssp-token login` and complete the MFA registration",
        ),
        Some(530034) => (
            "delegated admin access is blocked for this account because of its sign-in risk",
            "have the partner admin remediate the account's risk (Entra ID Protection), then sign in again with `mssp-token login`",
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
            ("invalid_grant", Some("token_expired")) => (
                "the refresh token has expired",
                "sign in again with `mssp-token login`",
            ),
            ("invalid_grant", Some("bad_token")) => (
                "the refresh token is not valid (revoked, or it was issued to another app)",
                "sign in again with `mssp-token login`",
            ),
            ("invalid_tenant", _) => (
                "the tenant was not found",
                "check the tenant ID or domain; a tenant in another cloud needs --cloud usgov or --cloud china",
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

    fn parsed(body: &str) -> EntraError {
        let r: EntraErrorResponse = serde_json::from_str(body).unwrap();
        EntraError::from_response(Origin::TokenEndpoint, Some(400), &r)
    }

    #[test]
    fn every_code_is_read_and_the_specific_one_explained() {
        let e = parsed(
            r#"{"error":"invalid_grant","error_description":"AADSTS70002: Error validating credentials. AADSTS70008: The refresh token has expired due to inactivity.","error_codes":[70002,70008]}"#,
        );
        assert_eq!(e.codes, vec![70002, 70008]);
        assert_eq!(e.code, Some(70008));
        assert!(e.needs_login());
        let text = e.to_string();
        assert!(
            text.contains("AADSTS70008 (invalid_grant) (error_codes 70002, 70008)"),
            "{text}"
        );
        assert!(text.contains("expired or was revoked"), "{text}");
    }

    #[test]
    fn a_body_without_error_keeps_code_and_ids() {
        let e = parsed(
            r#"{"error_description":"AADSTS50173: The provided grant has expired due to it being revoked.\r\nTrace ID: t-9\r\nCorrelation ID: c-9\r\nTimestamp: 2026-11-22 10:00:00Z"}"#,
        );
        assert_eq!(e.code, Some(50173));
        assert_eq!(e.trace_id.as_deref(), Some("t-9"));
        assert_eq!(e.correlation_id.as_deref(), Some("c-9"));
        assert!(e.needs_login());
        assert!(e.to_string().contains(": AADSTS50173, HTTP 400"), "{e}");
        let empty: EntraErrorResponse = serde_json::from_str("{}").unwrap();
        assert!(empty.is_empty());
        let hostile: EntraErrorResponse =
            serde_json::from_str(r#"{"error_codes":["70008",{"x":1},-1]}"#).unwrap();
        assert_eq!(hostile.error_codes, vec![70008]);
    }

    #[test]
    fn needs_login_codes_and_suberrors() {
        for code in NEEDS_LOGIN {
            let e = parsed(&format!(
                r#"{{"error":"invalid_grant","error_codes":[{code}]}}"#
            ));
            assert!(e.needs_login(), "{code}");
        }
        assert!(parsed(r#"{"error":"interaction_required","error_codes":[50158]}"#).needs_login());
        for sub in ["token_expired", "bad_token"] {
            let e = parsed(&format!(
                r#"{{"error":"invalid_grant","suberror":"{sub}","error_codes":[9999999]}}"#
            ));
            assert!(e.needs_login(), "{sub}");
        }
        assert!(!parsed(r#"{"error":"invalid_client","error_codes":[7000215]}"#).needs_login());
        assert!(!parsed(r#"{"error":"invalid_grant","error_codes":[54005]}"#).needs_login());
        let t = parsed(r#"{"error":"invalid_tenant","error_codes":[90002]}"#).to_string();
        assert!(t.contains("the tenant was not found"), "{t}");
        let t = parsed(r#"{"error":"invalid_tenant"}"#).to_string();
        assert!(t.contains("the tenant was not found"), "{t}");
    }
}
