//! What the strings of a token response may look like. Everything the token endpoint sends is
//! printed to a terminal, `eval`ed by a shell (`-o env`), saved and later pasted into commands,
//! so each field is held to the alphabet Entra ID really uses, and anything else is refused
//! (exit 6, "not a token response") before it is printed or saved. The errors name the field
//! and the kind of character, never the value.
//!
//! The alphabets, and why:
//! - access and id tokens are JWTs in compact form (RFC 7515 / 7516): base64url segments
//!   (`A-Z a-z 0-9 - _`) joined by dots, 3 segments (signed; v1 and v2 tokens alike) or 5
//!   (encrypted). At most [`MAX_JWT`] bytes.
//! - refresh tokens are opaque. Entra's (work and school accounts) read `0.A…` or `1.A…`:
//!   base64url segments joined by dots; older v1/ADAL-era ones (`AQABAAAA…`, `AwABAAAA…`) are
//!   base64 and may carry `+ / =`; Microsoft-account ones (`M.C5…_BAY.-C…!…*…$$`) also use
//!   `! * $`. Exactly those characters are accepted: `A-Z a-z 0-9 - _ . * ! $ + / =`. No
//!   whitespace, quote, backslash, semicolon or control byte. At most [`MAX_REFRESH`] bytes.
//! - `token_type` is `Bearer` (any case).
//! - `resource` and each `scope` are URIs or scope names (`https://api.securitycenter.microsoft.com`,
//!   `api://…/.default`, `offline_access`): `A-Z a-z 0-9 - . _ ~ : / @ % + = ,`. They are
//!   written back into the "run this command" hints, so nothing a shell would interpret.
//! - `tid` is a GUID.

use crate::token::TokenSet;

/// Longest JWT accepted: far above the largest Entra token (a token with hundreds of roles and
/// groups stays under 16 KiB; group overage replaces long group lists with a link).
pub const MAX_JWT: usize = 64 * 1024;
/// Longest refresh token accepted (Entra's are 1 to 2 KiB).
pub const MAX_REFRESH: usize = 16 * 1024;
/// Longest resource or scope list accepted.
pub const MAX_TARGET: usize = 8 * 1024;

/// Why a value is refused: "is not a JWT: it holds a quote (') at character 12". Never the value.
pub type Why = String;

fn is_b64url(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

fn is_refresh_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.*!$+/=".contains(c)
}

fn is_target_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/@%+=,".contains(c)
}

/// Names a character that is not allowed, and where: safe to print (a single character of a
/// hostile value says nothing about a secret, and control characters are shown as a code).
fn describe_bad(value: &str, ok: impl Fn(char) -> bool) -> Option<Why> {
    let (i, c) = value.chars().enumerate().find(|(_, c)| !ok(*c))?;
    let what = match c {
        ' ' => "a space".to_string(),
        '\'' | '"' | '`' => format!("a quote ({c})"),
        '\\' => "a backslash".to_string(),
        c if c.is_control() => format!("a control character (0x{:02X})", c as u32),
        c if c.is_whitespace() => "white space".to_string(),
        c if !c.is_ascii() => "a non-ASCII character".to_string(),
        c => format!("'{c}'"),
    };
    Some(format!("it holds {what} at character {}", i + 1))
}

/// A compact JWT: 3 (JWS) or 5 (JWE) base64url segments, the header not empty.
pub fn jwt(value: &str) -> Result<(), Why> {
    if value.is_empty() {
        return Err("is empty".into());
    }
    if value.len() > MAX_JWT {
        return Err(format!(
            "is not a JWT: it is {} bytes long, more than {} KiB",
            value.len(),
            MAX_JWT / 1024
        ));
    }
    if let Some(why) = describe_bad(value, |c| is_b64url(c) || c == '.') {
        return Err(format!("is not a JWT (base64url and dots): {why}"));
    }
    let segments: Vec<&str> = value.split('.').collect();
    if !matches!(segments.len(), 3 | 5) || segments[0].is_empty() {
        return Err(format!(
            "is not a JWT: it has {} dot-separated part(s), a JWT has 3 (or 5 when encrypted)",
            segments.len()
        ));
    }
    Ok(())
}

/// An opaque refresh token in Entra's alphabet (see the module documentation).
pub fn refresh_token(value: &str) -> Result<(), Why> {
    if value.is_empty() {
        return Err("is empty".into());
    }
    if value.len() > MAX_REFRESH {
        return Err(format!(
            "is {} bytes long, more than {} KiB",
            value.len(),
            MAX_REFRESH / 1024
        ));
    }
    match describe_bad(value, is_refresh_char) {
        Some(why) => Err(format!(
            "is not a refresh token (A-Z a-z 0-9 - _ . * ! $ + / =): {why}"
        )),
        None => Ok(()),
    }
}

/// `Bearer`, in any case.
pub fn token_type(value: &str) -> Result<(), Why> {
    if value.eq_ignore_ascii_case("bearer") {
        Ok(())
    } else {
        Err("is not Bearer".into())
    }
}

/// A resource URI or a space-separated list of scopes.
pub fn target(value: &str) -> Result<(), Why> {
    if value.len() > MAX_TARGET {
        return Err(format!("is longer than {} KiB", MAX_TARGET / 1024));
    }
    for part in value.split(' ') {
        if let Some(why) = describe_bad(part, is_target_char) {
            return Err(format!("is not a URI or scope name: {why}"));
        }
    }
    Ok(())
}

/// A tenant ID: a GUID.
pub fn tenant_id(value: &str) -> Result<(), Why> {
    if crate::authority::is_guid(value) {
        Ok(())
    } else {
        Err("is not a tenant ID (a GUID)".into())
    }
}

/// Every string of a token set that an output format prints, checked with the rules above, so
/// that `-o text`, `-o raw` and `-o env` never copy a control byte or a quote to stdout, whatever
/// the set's origin (Entra, a token file, the cache). Returns the first field that fails.
pub fn printable_set(set: &TokenSet) -> Result<(), Why> {
    let field = |name: &str, r: Result<(), Why>| r.map_err(|why| format!("{name} {why}"));
    field("token_type", token_type(&set.token_type))?;
    field("access_token", jwt(&set.access_token))?;
    if let Some(rt) = &set.refresh_token {
        field("refresh_token", refresh_token(rt))?;
    }
    if let Some(id) = &set.id_token {
        field("id_token", jwt(id))?;
    }
    if !set.tenant_id.is_empty() {
        field("tenant_id", tenant_id(&set.tenant_id))?;
    }
    if let Some(r) = &set.resource {
        field("resource", target(r))?;
    }
    if let Some(s) = &set.scope {
        field("scope", target(s))?;
    }
    let plain = |name: &str, v: &str| match describe_bad(v, |c| c.is_ascii_graphic()) {
        Some(why) => Err(format!("{name} is not printable: {why}")),
        None => Ok(()),
    };
    plain("client_id", &set.client_id)?;
    plain("expires_at", &set.expires_at)?;
    plain("endpoint", &set.endpoint)?;
    if let Some(a) = &set.authority {
        plain("authority", a)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_shapes_pass() {
        assert!(jwt("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJ0aWQiOiJ4In0.c2ln").is_ok());
        assert!(
            jwt("eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ4In0.").is_ok(),
            "unsigned"
        );
        assert!(
            jwt("eyJhbGciOiJSU0EtT0FFUCJ9..aXY.Y2lwaGVy.dGFn").is_ok(),
            "JWE"
        );
        for rt in [
            "0.AXEA2n5qK8-Lf0O3c_Xy.AgABAAEAAAD--DLA3VO7QrddgJg7WevrAgDs_wUA9P8",
            "1.AUEBxyz-_abc.def",
            "AQABAAAAAAD--DLA3VO7QrddgJg7WevrHE5+/abc==",
            "M.C534_BL2.0.U.-CkR*abc!def$$",
        ] {
            assert!(refresh_token(rt).is_ok(), "{rt}");
        }
        assert!(token_type("bearer").is_ok());
        assert!(
            target("https://api.securitycenter.microsoft.com/Alert.Read offline_access").is_ok()
        );
        assert!(target("api://9d3e1c55-7b1a-4c2e-8f00-1a2b3c4d5e6f/.default").is_ok());
        assert!(tenant_id("4A1F7C2E-5b8d-4e3f-9a6b-0c2d4e6f8a1b").is_ok());
    }

    #[test]
    fn hostile_shapes_are_named_not_echoed() {
        let e = jwt("a.b';touch x;'.c").unwrap_err();
        assert!(e.contains("a quote (')"), "{e}");
        assert!(!e.contains("touch"), "{e}");
        let e = refresh_token("0.AAA\u{1b}[31mred").unwrap_err();
        assert!(e.contains("control character (0x1B)"), "{e}");
        assert!(refresh_token("0.A A").unwrap_err().contains("a space"));
        assert!(refresh_token("0.A\nA").is_err());
        assert!(refresh_token("0.A\\A").unwrap_err().contains("backslash"));
        assert!(refresh_token("x".repeat(MAX_REFRESH + 1).as_str()).is_err());
        assert!(jwt("abc").unwrap_err().contains("1 dot-separated"));
        assert!(jwt("a.b.c.d").is_err());
        assert!(jwt(".b.c").is_err());
        assert!(jwt(&"a.".repeat(MAX_JWT)).is_err());
        assert!(token_type("mac").is_err());
        assert!(target("https://x;rm -rf").is_err());
        assert!(tenant_id("x';touch y;'").is_err());
    }
}
