//! The numbers of a token response and the times inside its tokens, read without panicking and
//! held to plausible bounds.
//!
//! A hostile or broken endpoint can send `"expires_in": 18446744073709551615`, `-5`, `3599.5`,
//! `"soon"`, or a token whose `exp` is 10^12 or whose `iat` is 2^64-1. Such a number is never
//! added to a clock (it would wrap or panic) and never printed as a date: the answer is refused
//! (exit 6) with the field and the number (a number is not a secret).
//!
//! The bounds, and why:
//! - `expires_in`: 1 s to [`MAX_LIFETIME`] (2 days). Entra's access tokens live 60 to 90 minutes
//!   by default, 10 minutes to 1 day under a token-lifetime policy, up to about 28 hours for
//!   CAE-capable clients; managed identities get 24 hours.
//! - `expires_on` (v1) and a token's `exp`: after now minus [`CLOCK_SLACK`] and at most
//!   [`MAX_LIFETIME`] + [`CLOCK_SLACK`] ahead.
//! - a token's `iat` and `nbf`: at most [`CLOCK_SLACK`] ahead and no more than
//!   [`MAX_LIFETIME`] + [`CLOCK_SLACK`] back.
//!
//! [`CLOCK_SLACK`] is a day, not minutes: the bounds are there to catch nonsense, and a
//! computer whose clock is a few hours off must still get its tokens.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The longest token lifetime accepted (see the module documentation).
pub const MAX_LIFETIME: u64 = 2 * 86400;
/// How far this computer's clock may disagree with Entra's before a time is called implausible.
pub const CLOCK_SLACK: u64 = 86400;

/// A numeric field as sent: a JSON number, or a string holding one (v1 sends
/// `"expires_in":"3599"`).
#[derive(Debug, Clone, PartialEq)]
pub enum Numeric {
    /// A whole number of seconds that fits in 64 bits.
    Whole(u64),
    /// A number this tool cannot use: negative, fractional or too large. The text is how it
    /// reads, built only from digits, a sign and a point, so it is safe to print.
    Unusable(String),
    /// Not a number at all (letters, an array, an object...). Never echoed.
    NotANumber,
}

impl Numeric {
    pub fn of(v: &Value) -> Numeric {
        match v {
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    Numeric::Whole(u)
                } else if let Some(i) = n.as_i64() {
                    Numeric::Unusable(i.to_string())
                } else {
                    match n.as_f64() {
                        // 1e12 or 3599.0: a whole number written as a float.
                        Some(f) if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 => {
                            Numeric::Whole(f as u64)
                        }
                        Some(f) if f.is_finite() => Numeric::Unusable(shown(&f.to_string())),
                        _ => Numeric::NotANumber,
                    }
                }
            }
            Value::String(s) => {
                let t = s.trim();
                if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
                    t.parse::<u64>()
                        .map(Numeric::Whole)
                        .unwrap_or_else(|_| Numeric::Unusable(shown(t)))
                } else if t
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
                    && t.parse::<f64>().is_ok_and(f64::is_finite)
                {
                    Numeric::Unusable(shown(t))
                } else {
                    Numeric::NotANumber
                }
            }
            _ => Numeric::NotANumber,
        }
    }

    /// "expires_in 1000000000000" or "expires_in (not a number)", for messages.
    fn named(&self, field: &str) -> String {
        match self {
            Numeric::Whole(n) => format!("{field} {n}"),
            Numeric::Unusable(s) => format!("{field} {s}"),
            Numeric::NotANumber => format!("{field} (not a number)"),
        }
    }
}

/// A long run of digits is summarised rather than printed whole.
fn shown(text: &str) -> String {
    if text.len() > 40 {
        format!("(a {}-character number)", text.len())
    } else {
        text.to_string()
    }
}

/// serde: any JSON value into a [`Numeric`] (absent or null: `None`). Never fails, so that a
/// bad number is reported by its field and value, not as a parse error.
pub fn numeric<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Numeric>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?
        .filter(|v| !v.is_null())
        .map(|v| Numeric::of(&v)))
}

/// `expires_in`: a whole number of seconds in 1..=[`MAX_LIFETIME`].
pub fn expires_in(n: &Numeric) -> Result<u64, String> {
    match n {
        Numeric::Whole(s) if (1..=MAX_LIFETIME).contains(s) => Ok(*s),
        Numeric::NotANumber => Err("expires_in is not a number".into()),
        other => Err(format!(
            "{} is not a plausible lifetime (Entra ID issues tokens for 10 minutes to about a day; accepted: 1 to {MAX_LIFETIME} seconds)",
            other.named("expires_in")
        )),
    }
}

/// An expiry instant (`expires_on`, a token's `exp`) measured against `now`.
pub fn expiry(field: &str, n: &Numeric, now: u64) -> Result<u64, String> {
    let earliest = now.saturating_sub(CLOCK_SLACK);
    let latest = now.saturating_add(MAX_LIFETIME + CLOCK_SLACK);
    match n {
        Numeric::Whole(t) if *t > earliest && *t <= latest => Ok(*t),
        Numeric::Whole(t) if *t <= earliest => Err(format!(
            "{field} {t} is not a plausible expiry time: more than a day in the past (if this computer's clock is wrong, correct it)"
        )),
        Numeric::NotANumber => Err(format!("{field} is not a number")),
        other => Err(format!(
            "{} is not a plausible expiry time: tokens live at most {} days (if this computer's clock is wrong, correct it)",
            other.named(field),
            MAX_LIFETIME / 86400
        )),
    }
}

/// An issue instant (a token's `iat`, `nbf`) measured against `now`.
pub fn issued(field: &str, n: &Numeric, now: u64) -> Result<u64, String> {
    let earliest = now.saturating_sub(MAX_LIFETIME + CLOCK_SLACK);
    let latest = now.saturating_add(CLOCK_SLACK);
    match n {
        Numeric::Whole(t) if *t >= earliest && *t <= latest => Ok(*t),
        Numeric::NotANumber => Err(format!("{field} is not a number")),
        other => Err(format!(
            "{} is not a plausible issue time: more than a day ahead of this computer's clock, or older than the longest token lifetime (if this computer's clock is wrong, correct it)",
            other.named(field)
        )),
    }
}

/// The time claims of a decoded token (`exp`, `nbf`, `iat`), each checked when present.
/// `which` names the token in messages ("the access token's").
pub fn token_times(which: &str, claims: &Value, now: u64) -> Result<(), String> {
    for (claim, check) in [
        (
            "exp",
            expiry as fn(&str, &Numeric, u64) -> Result<u64, String>,
        ),
        ("nbf", issued),
        ("iat", issued),
    ] {
        if let Some(v) = claims.get(claim).filter(|v| !v.is_null()) {
            check(&format!("{which} {claim}"), &Numeric::of(v), now)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn numbers_as_sent() {
        assert_eq!(Numeric::of(&json!(3599)), Numeric::Whole(3599));
        assert_eq!(Numeric::of(&json!("3599")), Numeric::Whole(3599));
        assert_eq!(Numeric::of(&json!(" 3599 ")), Numeric::Whole(3599));
        assert_eq!(Numeric::of(&json!(3599.0)), Numeric::Whole(3599));
        assert_eq!(Numeric::of(&json!(1e12)), Numeric::Whole(1_000_000_000_000));
        assert_eq!(Numeric::of(&json!(u64::MAX)), Numeric::Whole(u64::MAX));
        assert_eq!(
            Numeric::of(&json!("18446744073709551616")),
            Numeric::Unusable("18446744073709551616".into())
        );
        assert_eq!(Numeric::of(&json!(-5)), Numeric::Unusable("-5".into()));
        assert_eq!(Numeric::of(&json!("-5")), Numeric::Unusable("-5".into()));
        assert_eq!(
            Numeric::of(&json!(3599.5)),
            Numeric::Unusable("3599.5".into())
        );
        assert_eq!(
            Numeric::of(&json!(1e300)),
            Numeric::Unusable(shown(&1e300f64.to_string()))
        );
        assert_eq!(Numeric::of(&json!("soon")), Numeric::NotANumber);
        assert_eq!(Numeric::of(&json!("';touch x;'")), Numeric::NotANumber);
        assert_eq!(Numeric::of(&json!("NaN")), Numeric::NotANumber);
        assert_eq!(Numeric::of(&json!("inf")), Numeric::NotANumber);
        assert_eq!(Numeric::of(&json!([1])), Numeric::NotANumber);
    }

    #[test]
    fn lifetimes_are_bounded() {
        assert_eq!(expires_in(&Numeric::Whole(3599)), Ok(3599));
        let e = expires_in(&Numeric::Whole(1_000_000_000_000)).unwrap_err();
        assert!(
            e.starts_with("expires_in 1000000000000 is not a plausible lifetime"),
            "{e}"
        );
        assert!(expires_in(&Numeric::Whole(0)).is_err());
        assert!(expires_in(&Numeric::Whole(u64::MAX)).is_err());
        assert!(expires_in(&Numeric::Unusable("-5".into()))
            .unwrap_err()
            .contains("expires_in -5"));
        assert_eq!(
            expires_in(&Numeric::NotANumber).unwrap_err(),
            "expires_in is not a number"
        );
    }

    #[test]
    fn times_are_bounded_around_now() {
        assert!(expiry("exp", &Numeric::Whole(NOW + 3600), NOW).is_ok());
        assert!(
            expiry("exp", &Numeric::Whole(NOW - 3600), NOW).is_ok(),
            "clock slack"
        );
        for bad in [
            0,
            NOW - 2 * 86400,
            NOW + 4 * 86400,
            1_000_000_000_000,
            u64::MAX,
        ] {
            assert!(expiry("exp", &Numeric::Whole(bad), NOW).is_err(), "{bad}");
        }
        assert!(issued("iat", &Numeric::Whole(NOW - 300), NOW).is_ok());
        assert!(issued("iat", &Numeric::Whole(u64::MAX), NOW).is_err());
        assert!(issued("iat", &Numeric::Whole(0), NOW).is_err());
        let claims = json!({"exp": NOW + 3600, "iat": 18446744073709551615u64});
        let e = token_times("the access token's", &claims, NOW).unwrap_err();
        assert!(
            e.contains("the access token's iat 18446744073709551615"),
            "{e}"
        );
        assert!(token_times("x", &json!({"exp": NOW + 60, "nbf": NOW - 300}), NOW).is_ok());
        assert!(token_times("x", &json!({"exp": -1}), NOW).is_err());
        assert!(
            token_times("x", &json!({}), 0).is_ok(),
            "no time claims, no check"
        );
    }
}
