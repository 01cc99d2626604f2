//! The device authorization grant's two answers, read once and judged before anything is shown:
//! the devicecode endpoint's (v2 `verification_uri` and numbers; v1 `verification_url` and
//! numbers as strings) and a poll of the token endpoint (pending, slow down, declined, expired,
//! an Entra error, or the token response).
//!
//! What the devicecode answer may look like, and why: the user code and the verification URI
//! are printed for a person to act on, so the code must be short and plain (letters, digits,
//! `-`), and the URI an absolute https URL (http only on loopback: the sandbox) without a user
//! name or password; the device code is a secret (it redeems the sign-in) in the alphabet of
//! Entra's opaque tokens; `expires_in` 1 s to [`MAX_EXPIRES_IN`] (Entra: 900 s) and `interval`
//! 1 to [`MAX_INTERVAL`] s (Entra: 5; absent means 5, RFC 8628). A bad field is exit 6, naming
//! the field, never the value.

use super::errors::{EntraError, EntraErrorResponse, Origin};
use super::lifetime::{numeric, Numeric};
use super::response::EntraTokenResponse;
use crate::error::{fail, Exit};
use crate::http::Response;
use crate::redacted::SecretString;
use crate::token::{Target, TokenSet};
use serde::Deserialize;
use url::Url;

/// Longest device code lifetime accepted (Entra's is 15 minutes).
pub const MAX_EXPIRES_IN: u64 = 3600;
/// Longest polling interval accepted.
pub const MAX_INTERVAL: u64 = 60;
/// The interval when none is given (RFC 8628).
pub const DEFAULT_INTERVAL: u64 = 5;
/// What `slow_down` adds to the interval (RFC 8628).
pub const SLOW_DOWN_STEP: u64 = 5;
/// Longest user code accepted (Entra's are 8 or 9 characters).
const MAX_USER_CODE: usize = 32;
/// Longest verification URI and message accepted.
const MAX_URI: usize = 2048;
const MAX_MESSAGE: usize = 1024;
/// Longest device code accepted.
const MAX_DEVICE_CODE: usize = 16 * 1024;

/// A judged devicecode answer.
#[derive(Debug)]
pub struct DeviceAuthorization {
    /// Redeems the sign-in: registered with the scrubber, never printed.
    pub device_code: SecretString,
    /// What the person types.
    pub user_code: String,
    /// Where they type it.
    pub verification_uri: Url,
    pub expires_in: u64,
    pub interval: u64,
    /// Entra's own instructions, when plain text.
    pub message: Option<String>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    device_code: Option<serde_json::Value>,
    #[serde(default)]
    user_code: Option<serde_json::Value>,
    #[serde(default)]
    verification_uri: Option<serde_json::Value>,
    #[serde(default)]
    verification_url: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "numeric")]
    expires_in: Option<Numeric>,
    #[serde(default, deserialize_with = "numeric")]
    interval: Option<Numeric>,
    #[serde(default)]
    message: Option<serde_json::Value>,
}

/// Refuses an answer: exit 6, naming what is wrong (never a value that could be a secret).
fn refuse(what: &str, why: &str) -> anyhow::Error {
    fail(
        Exit::Network,
        format!(
            "the {what} answer is not a device code response: {why}. Nothing was shown. A proxy or something other than Entra ID may be answering; check --authority, HTTPS_PROXY and NO_PROXY"
        ),
    )
}

/// A string field, or why not.
fn text<'a>(v: &'a Option<serde_json::Value>, name: &str) -> Result<&'a str, String> {
    match v {
        None | Some(serde_json::Value::Null) => Err(format!("{name} is missing")),
        Some(serde_json::Value::String(s)) => Ok(s),
        Some(_) => Err(format!("{name} is not a string")),
    }
}

impl DeviceAuthorization {
    /// Reads and judges the devicecode endpoint's answer; an Entra error is explained.
    pub fn from_response(r: &Response) -> anyhow::Result<DeviceAuthorization> {
        if r.status != 200 {
            return Err(error_of(r, "devicecode endpoint"));
        }
        let raw: Raw = serde_json::from_slice(&r.body).map_err(|_| {
            refuse(
                "devicecode endpoint's",
                &format!("it is not a JSON object ({})", r.describe_body()),
            )
        })?;
        // The device code first: whatever else is wrong, it is never echoed.
        if let Ok(dc) = text(&raw.device_code, "device_code") {
            crate::redacted::register(dc);
        }
        Self::judge(raw).map_err(|why| refuse("devicecode endpoint's", &why))
    }

    fn judge(raw: Raw) -> Result<DeviceAuthorization, String> {
        let device_code = text(&raw.device_code, "device_code")?;
        if device_code.is_empty() || device_code.len() > MAX_DEVICE_CODE {
            return Err(format!(
                "device_code is empty or longer than {} KiB",
                MAX_DEVICE_CODE / 1024
            ));
        }
        if !device_code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.*!$+/=".contains(c))
        {
            return Err("device_code holds characters Entra's codes never use".into());
        }
        let user_code = text(&raw.user_code, "user_code")?;
        if user_code.is_empty()
            || user_code.len() > MAX_USER_CODE
            || !user_code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(format!(
                "user_code is not a short code of letters, digits and '-' (at most {MAX_USER_CODE})"
            ));
        }
        // v2 says verification_uri, v1 verification_url.
        let uri = match (&raw.verification_uri, &raw.verification_url) {
            (Some(serde_json::Value::String(_)), _) => {
                text(&raw.verification_uri, "verification_uri")?
            }
            _ => text(
                &raw.verification_url,
                "verification_uri (or verification_url)",
            )?,
        };
        let verification_uri = verification_uri(uri)?;
        let expires_in = match raw.expires_in {
            Some(Numeric::Whole(n)) if (1..=MAX_EXPIRES_IN).contains(&n) => n,
            None => return Err("expires_in is missing".into()),
            Some(Numeric::Whole(n)) => {
                return Err(format!(
                    "expires_in {n} is not a plausible device code lifetime (accepted: 1 to {MAX_EXPIRES_IN} seconds)"
                ))
            }
            Some(_) => return Err("expires_in is not a whole number of seconds".into()),
        };
        let interval = match raw.interval {
            None | Some(Numeric::Whole(0)) => DEFAULT_INTERVAL,
            Some(Numeric::Whole(n)) if n <= MAX_INTERVAL => n,
            Some(Numeric::Whole(n)) => {
                return Err(format!(
                    "interval {n} is not a plausible polling interval (accepted: 1 to {MAX_INTERVAL} seconds)"
                ))
            }
            Some(_) => return Err("interval is not a whole number of seconds".into()),
        };
        // The message is only a courtesy: shown when plain, dropped otherwise.
        let message = text(&raw.message, "message").ok().and_then(|m| {
            let plain = m.len() <= MAX_MESSAGE && m.chars().all(|c| !c.is_control());
            (plain && !m.trim().is_empty()).then(|| m.trim().to_string())
        });
        Ok(DeviceAuthorization {
            device_code: SecretString::new(device_code),
            user_code: user_code.to_string(),
            verification_uri,
            expires_in,
            interval,
            message,
        })
    }
}

/// An absolute https URL (http only on loopback), without user name or password, printable.
fn verification_uri(uri: &str) -> Result<Url, String> {
    let name = "verification_uri";
    if uri.len() > MAX_URI || !uri.chars().all(|c| c.is_ascii_graphic()) {
        return Err(format!(
            "{name} is not a printable URL of at most {MAX_URI} characters"
        ));
    }
    let url = Url::parse(uri).map_err(|_| format!("{name} is not an absolute URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if crate::authority::is_loopback_host(&url) => {}
        _ => {
            return Err(format!(
                "{name} is not an https URL (http is accepted only on loopback)"
            ))
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{name} carries a user name or password"));
    }
    Ok(url)
}

/// What one poll of the token endpoint said.
pub enum Poll {
    /// authorization_pending: nobody has finished signing in yet.
    Pending,
    /// slow_down: poll less often.
    SlowDown,
    /// authorization_declined: the person said no.
    Declined(EntraError),
    /// expired_token (or code_expired): the code ran out before anyone signed in.
    Expired(EntraError),
    /// The tokens.
    Done(Box<TokenSet>),
}

impl Poll {
    /// Reads a poll's answer: 200 is a token response (judged like every other), 400 with one
    /// of the device flow's errors is its state, anything else an explained error.
    pub fn from_response(
        r: &Response,
        target: &Target,
        client_id: &str,
        sent_at: u64,
    ) -> anyhow::Result<Poll> {
        if r.status == 200 {
            let resp: EntraTokenResponse = serde_json::from_slice(&r.body).map_err(|e| {
                let detail = if e.is_syntax() || e.is_eof() {
                    "it is not JSON".to_string()
                } else {
                    // "missing field `access_token`": names a field, not a value.
                    e.to_string()
                        .split(" at line")
                        .next()
                        .unwrap_or("")
                        .to_string()
                };
                fail(
                    Exit::Network,
                    format!(
                        "the token endpoint's answer (HTTP 200, {}) is not a token response: {detail}. A proxy or captive portal may be answering instead of Entra ID; check --authority, HTTPS_PROXY and NO_PROXY",
                        r.describe_body()
                    ),
                )
            })?;
            return Ok(Poll::Done(Box::new(
                resp.token_set(target, client_id, sent_at)?,
            )));
        }
        let err = match serde_json::from_slice::<EntraErrorResponse>(&r.body) {
            Ok(e) if !e.is_empty() => e,
            _ => return Err(error_of(r, "token endpoint")),
        };
        let explained = EntraError::from_response(Origin::TokenEndpoint, Some(r.status), &err);
        Ok(match err.error.as_str() {
            "authorization_pending" => Poll::Pending,
            "slow_down" => Poll::SlowDown,
            "authorization_declined" | "access_denied" if explained.code != Some(53003) => {
                Poll::Declined(explained)
            }
            "expired_token" | "code_expired" => Poll::Expired(explained),
            _ => return Err(explained.into()),
        })
    }
}

/// A non-success answer: Entra's error explained, or what came back described.
fn error_of(r: &Response, endpoint: &str) -> anyhow::Error {
    if (300..400).contains(&r.status) {
        return fail(
            Exit::Network,
            format!(
                "the {endpoint} redirected (HTTP {}) instead of answering; the request was not sent on. A proxy, captive portal or wrong --authority is in the way; check --authority, HTTPS_PROXY and NO_PROXY",
                r.status
            ),
        );
    }
    match serde_json::from_slice::<EntraErrorResponse>(&r.body) {
        Ok(e) if !e.is_empty() => EntraError::from_response(Origin::TokenEndpoint, Some(r.status), &e).into(),
        _ => fail(
            Exit::Network,
            format!(
                "the {endpoint}'s answer (HTTP {}, {}) is neither a device code response nor an Entra ID error. A proxy or something other than Entra ID may be answering; check --authority, HTTPS_PROXY and NO_PROXY",
                r.status,
                r.describe_body()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn judged(v: serde_json::Value) -> Result<DeviceAuthorization, String> {
        DeviceAuthorization::judge(serde_json::from_value(v).unwrap())
    }

    fn good() -> serde_json::Value {
        json!({"device_code": "DAQABAAEAAAD--DLA3VO7QrddgJg7Wevr", "user_code": "ABCD2EFGH",
               "verification_uri": "https://microsoft.com/devicelogin", "expires_in": 900,
               "interval": 5, "message": "To sign in, use a web browser..."})
    }

    #[test]
    fn v1_and_v2_shapes_are_read() {
        let d = judged(good()).unwrap();
        assert_eq!((d.expires_in, d.interval), (900, 5));
        assert_eq!(
            d.verification_uri.as_str(),
            "https://microsoft.com/devicelogin"
        );
        let mut v1 = good();
        v1["verification_url"] = v1["verification_uri"].take();
        v1["expires_in"] = json!("900");
        v1["interval"] = json!("0");
        let d = judged(v1).unwrap();
        assert_eq!((d.expires_in, d.interval), (900, DEFAULT_INTERVAL));
        let mut local = good();
        local["verification_uri"] = json!("http://127.0.0.1:8080/sandbox/device");
        assert!(judged(local).is_ok());
    }

    #[test]
    fn hostile_answers_are_named_not_echoed() {
        for (field, value, expect) in [
            ("user_code", json!("AB\u{1b}[31mCD"), "user_code"),
            ("user_code", json!("x".repeat(40)), "user_code"),
            (
                "verification_uri",
                json!("http://evil.example/device"),
                "https",
            ),
            (
                "verification_uri",
                json!("https://u:p@evil.example/"),
                "password",
            ),
            ("verification_uri", json!("javascript:alert(1)"), "https"),
            (
                "verification_uri",
                json!("https://a.example/\u{7}"),
                "printable",
            ),
            ("expires_in", json!(99999999), "expires_in 99999999"),
            ("expires_in", json!(-1), "expires_in"),
            ("interval", json!(3600), "interval 3600"),
            ("device_code", json!("a b';rm"), "device_code"),
            ("device_code", json!(5), "device_code"),
        ] {
            let mut v = good();
            v[field] = value;
            let e = judged(v).unwrap_err();
            assert!(e.contains(expect), "{field}: {e}");
            assert!(!e.contains("evil") && !e.contains("rm"), "{e}");
        }
        let mut v = good();
        v["message"] = json!("line\u{1b}]0;title\u{7}");
        assert!(
            judged(v).unwrap().message.is_none(),
            "a message with escapes is dropped"
        );
    }
}
