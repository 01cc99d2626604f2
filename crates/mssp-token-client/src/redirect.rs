//! The redirect back from the sign-in page: parsing its query (from the loopback listener or an
//! address pasted by the user) and checking its state.

use crate::authority::printable;
use crate::entra::errors::EntraError;
use crate::redacted::SecretString;
use url::Url;

/// What a redirect carried.
#[derive(Debug)]
pub enum Redirect {
    Code {
        code: SecretString,
        state: Option<String>,
    },
    Error {
        error: EntraError,
        state: Option<String>,
    },
    /// The v2 admin-consent endpoint's answer: admin_consent=True&tenant=GUID&scope=...
    Consent {
        tenant: Option<String>,
        scope: Option<String>,
        state: Option<String>,
    },
}

/// Why a redirect was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Neither `code` nor `error` in the query.
    NoCode,
    /// No `state`, or not the one this run sent.
    WrongState,
    /// A pasted text that is neither an address nor a code.
    Garbage(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoCode => f.write_str("it holds no code= (and no error=): copy the whole address from the browser's address bar after signing in"),
            Refusal::WrongState => f.write_str("its state= is not the one this sign-in sent: it belongs to another sign-in (or was forged); use the address from the browser window this run opened"),
            Refusal::Garbage(why) => write!(f, "{why}"),
        }
    }
}

/// Parses the query of a redirect (`code=..&state=..` or `error=..&error_description=..`).
pub fn parse_query(query: &str) -> Result<Redirect, Refusal> {
    let mut code = None;
    let mut state = None;
    let mut error = None;
    let mut description = None;
    let mut subcode = None;
    let mut admin_consent = None;
    let mut tenant = None;
    let mut scope = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "admin_consent" => admin_consent = Some(v.into_owned()),
            "tenant" => tenant = Some(v.into_owned()),
            "scope" => scope = Some(v.into_owned()),
            "code" if !v.is_empty() => code = Some(v.into_owned()),
            "state" => state = Some(v.into_owned()),
            "error" if !v.is_empty() => error = Some(v.into_owned()),
            "error_description" => description = Some(v.into_owned()),
            "error_subcode" => subcode = Some(v.into_owned()),
            _ => {}
        }
    }
    if let Some(error) = error {
        return Ok(Redirect::Error {
            error: EntraError::from_redirect(&error, description.as_deref(), subcode.as_deref()),
            state,
        });
    }
    if admin_consent.is_some_and(|a| a.eq_ignore_ascii_case("true")) {
        return Ok(Redirect::Consent {
            tenant,
            scope,
            state,
        });
    }
    match code {
        Some(code) => Ok(Redirect::Code {
            code: SecretString::new(code),
            state,
        }),
        None => Err(Refusal::NoCode),
    }
}

/// Checks the state against the one this run sent (constant-time comparison).
pub fn check_state(r: Redirect, expected: &str) -> Result<Redirect, Refusal> {
    let state = match &r {
        Redirect::Code { state, .. }
        | Redirect::Error { state, .. }
        | Redirect::Consent { state, .. } => state.as_deref(),
    };
    match state {
        Some(s) if constant_time_eq(s.as_bytes(), expected.as_bytes()) => Ok(r),
        _ => Err(Refusal::WrongState),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Parses what the user pasted: the full address the browser landed on, its query part, or the
/// bare code. A bare code carries no state to check; PKCE still ties it to this run (a code from
/// another sign-in fails with AADSTS501481).
pub fn parse_pasted(input: &str, expected_state: &str) -> Result<Redirect, Refusal> {
    let text = input.trim();
    if text.is_empty() {
        return Err(Refusal::Garbage("nothing was pasted".into()));
    }
    let query = if let Ok(url) = Url::parse(text) {
        // Some browsers show form_post results or fragments; accept the query or the fragment.
        url.query()
            .or(url.fragment())
            .map(str::to_string)
            .ok_or(Refusal::NoCode)?
    } else if let Some(q) = text.strip_prefix('?') {
        q.to_string()
    } else if text.contains("code=") || text.contains("error=") {
        text.to_string()
    } else if is_bare_code(text) {
        return Ok(Redirect::Code {
            code: SecretString::new(text),
            state: Some(expected_state.to_string()),
        });
    } else {
        return Err(Refusal::Garbage(format!(
            "'{}' is neither the address the browser landed on nor an authorization code",
            printable(text)
        )));
    };
    check_state(parse_query(&query)?, expected_state)
}

fn is_bare_code(s: &str) -> bool {
    s.len() >= 16
        && s.len() <= 4096
        && s.bytes().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~' | b'*' | b'!')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_with_right_state() {
        let r = parse_pasted(
            "https://mssp.example.com/SiemMsspConnector?code=0.AAAA-code_value&state=s123&session_state=x",
            "s123",
        )
        .unwrap();
        match r {
            Redirect::Code { code, .. } => assert_eq!(code.expose(), "0.AAAA-code_value"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_or_missing_state_is_refused() {
        assert_eq!(
            parse_pasted("http://localhost/x?code=abc&state=other", "mine").unwrap_err(),
            Refusal::WrongState
        );
        assert_eq!(
            parse_pasted("http://localhost/x?code=abc", "mine").unwrap_err(),
            Refusal::WrongState
        );
    }

    #[test]
    fn no_code_and_garbage() {
        assert_eq!(
            parse_pasted("http://localhost/x?foo=1", "s").unwrap_err(),
            Refusal::NoCode
        );
        assert!(matches!(
            parse_pasted("hello world", "s").unwrap_err(),
            Refusal::Garbage(_)
        ));
        assert!(matches!(
            parse_pasted("  ", "s").unwrap_err(),
            Refusal::Garbage(_)
        ));
    }

    #[test]
    fn bare_code_and_query_only() {
        assert!(matches!(
            parse_pasted("0.AXEA1234567890abcdef", "s").unwrap(),
            Redirect::Code { .. }
        ));
        assert!(matches!(
            parse_pasted("?code=abc&state=s", "s").unwrap(),
            Redirect::Code { .. }
        ));
    }

    #[test]
    fn error_redirect() {
        let r = parse_query("error=access_denied&error_subcode=cancel&error_description=AADSTS65004%3A+User+declined&state=s").unwrap();
        match check_state(r, "s").unwrap() {
            Redirect::Error { error, .. } => assert_eq!(error.code, Some(65004)),
            other => panic!("{other:?}"),
        }
    }
}
