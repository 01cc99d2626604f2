//! Compact JWS: parsing and RSA signature checks (RS256 = PKCS#1 v1.5, PS256 = PSS with a
//! 32-byte salt) done with the `rsa` crate directly. The sandbox's own verifier, independent of
//! the client's jsonwebtoken, so a bug there cannot hide the same bug here.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use serde_json::{Map, Value};
use sha2::Sha256;

/// A decoded (not yet verified) JWS.
pub struct Jws {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    /// `base64url(header).base64url(claims)`: the signed bytes.
    pub signing_input: String,
    pub signature: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Ps256,
}

impl Alg {
    pub fn parse(s: &str) -> Option<Alg> {
        match s {
            "RS256" => Some(Alg::Rs256),
            "PS256" => Some(Alg::Ps256),
            _ => None,
        }
    }
}

/// base64url without padding (trailing '=' tolerated).
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

impl Jws {
    /// Three base64url parts whose first two are JSON objects; `None` otherwise.
    pub fn parse(token: &str) -> Option<Jws> {
        let token = token.trim();
        let mut parts = token.split('.');
        let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || h.is_empty() || c.is_empty() {
            return None;
        }
        let object = |part: &str| match serde_json::from_slice(&b64url_decode(part)?) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        };
        Some(Jws {
            header: object(h)?,
            claims: object(c)?,
            signing_input: format!("{h}.{c}"),
            signature: b64url_decode(s)?,
        })
    }

    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A NumericDate claim (integer or fractional seconds), truncated.
    pub fn claim_time(&self, name: &str) -> Option<i64> {
        let v = self.claims.get(name)?;
        v.as_i64().or_else(|| {
            v.as_f64()
                .filter(|f| f.is_finite() && f.abs() < 1e15)
                .map(|f| f as i64)
        })
    }

    /// `aud` as a list (a JWT may carry one string or an array).
    pub fn audiences(&self) -> Vec<&str> {
        match self.claims.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    pub fn verify(&self, key: &RsaPublicKey, alg: Alg) -> bool {
        verify(key, alg, self.signing_input.as_bytes(), &self.signature)
    }
}

/// Checks an RS256 or PS256 signature; false on any malformed input.
pub fn verify(key: &RsaPublicKey, alg: Alg, input: &[u8], sig: &[u8]) -> bool {
    match alg {
        Alg::Rs256 => {
            let Ok(sig) = rsa::pkcs1v15::Signature::try_from(sig) else {
                return false;
            };
            rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.clone())
                .verify(input, &sig)
                .is_ok()
        }
        Alg::Ps256 => {
            let Ok(sig) = rsa::pss::Signature::try_from(sig) else {
                return false;
            };
            rsa::pss::VerifyingKey::<Sha256>::new(key.clone())
                .verify(input, &sig)
                .is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_malformed_tokens() {
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "e30.e30",
            ".e30.",
            "e30..",
            "WzFd.e30.",
            "e30.WzFd.",
            "e30.e30.!!",
            "eyJ.e30.",
        ] {
            assert!(Jws::parse(bad).is_none(), "{bad}");
        }
        let j = Jws::parse("e30.eyJhdWQiOlsieCIsMV0sImV4cCI6MS41fQ.").unwrap();
        assert_eq!(j.audiences(), vec!["x"]);
        assert_eq!(j.claim_time("exp"), Some(1));
        assert!(j.signature.is_empty());
    }
}
