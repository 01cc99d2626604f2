//! Local JWT decoding: header and claims, never verified and never sent anywhere. Used for the
//! tenant check after sign-in and by `inspect`.

use crate::error::{fail, Exit};
use anyhow::Result;
use base64::Engine;
use serde_json::Value;

/// A decoded (unverified) JWT.
#[derive(Debug, Clone)]
pub struct Jwt {
    pub header: Value,
    pub claims: Value,
}

impl Jwt {
    /// Decodes `header.payload.signature`. Errors say which part is wrong, never the token.
    pub fn decode(token: &str) -> Result<Jwt> {
        let token = token.trim();
        let parts: Vec<&str> = token.split('.').collect();
        if parts.len() != 3 {
            return Err(fail(
                Exit::Usage,
                format!(
                    "not a JWT: expected three parts separated by '.', found {} (an encrypted or opaque token cannot be read locally)",
                    parts.len()
                ),
            ));
        }
        let header = decode_part(parts[0], "header")?;
        let claims = decode_part(parts[1], "payload")?;
        if !claims.is_object() {
            return Err(fail(
                Exit::Usage,
                "not a JWT: the payload is not a JSON object",
            ));
        }
        Ok(Jwt { header, claims })
    }

    pub fn str_claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    pub fn num_claim(&self, name: &str) -> Option<u64> {
        let v = self.claims.get(name)?;
        v.as_u64()
            .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    }

    /// The tenant the token was issued in.
    pub fn tenant_id(&self) -> Option<String> {
        self.str_claim("tid").map(str::to_ascii_lowercase)
    }

    /// The `aud` claim: one string or an array.
    pub fn audiences(&self) -> Vec<String> {
        match self.claims.get("aud") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Application permissions (the `roles` claim).
    pub fn roles(&self) -> Vec<String> {
        match self.claims.get("roles") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            _ => Vec::new(),
        }
    }
}

fn decode_part(part: &str, name: &str) -> Result<Value> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| {
            fail(
                Exit::Usage,
                format!("not a JWT: the {name} is not valid base64url"),
            )
        })?;
    serde_json::from_slice(&bytes)
        .map_err(|_| fail(Exit::Usage, format!("not a JWT: the {name} is not JSON")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(v: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
    }

    #[test]
    fn decodes_claims() {
        let t = format!(
            "{}.{}.sig",
            b64(r#"{"alg":"RS256"}"#),
            b64(r#"{"tid":"ABC","roles":["Alert.Read.All"],"exp":"12"}"#)
        );
        let j = Jwt::decode(&t).unwrap();
        assert_eq!(j.tenant_id().as_deref(), Some("abc"));
        assert_eq!(j.roles(), vec!["Alert.Read.All"]);
        assert_eq!(j.num_claim("exp"), Some(12));
    }

    #[test]
    fn clear_errors() {
        let e = Jwt::decode("abc").unwrap_err().to_string();
        assert!(e.contains("three parts"), "{e}");
        let e = Jwt::decode("!!!.x.y").unwrap_err().to_string();
        assert!(e.contains("base64url"), "{e}");
        let e = Jwt::decode(&format!("{}.{}.s", b64("{}"), b64("not json")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("payload is not JSON"), "{e}");
    }
}
