//! The sandbox's signing key (RSA 2048, generated at each start), RS256 JWT signing, the JWKS,
//! and random identifiers.

use anyhow::{Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub struct Keys {
    signing: SigningKey<Sha256>,
    /// Key id, in the `kid` (and `x5t`) header of every token and in the JWKS.
    pub kid: String,
    n: String,
    e: String,
}

impl Keys {
    pub fn generate() -> Result<Keys> {
        let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
            .context("cannot generate the sandbox's RSA key")?;
        let n = b64url(&key.n().to_bytes_be());
        let e = b64url(&key.e().to_bytes_be());
        Ok(Keys {
            signing: SigningKey::<Sha256>::new(key),
            kid: random_token(20),
            n,
            e,
        })
    }

    /// header.claims.signature, RS256.
    pub fn sign_jwt(&self, claims: &Value) -> String {
        let header = json!({"typ": "JWT", "alg": "RS256", "x5t": self.kid, "kid": self.kid});
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let sig = self.signing.sign(input.as_bytes());
        format!("{input}.{}", b64url(&sig.to_bytes()))
    }

    /// The JSON Web Key Set served at .../discovery/v2.0/keys.
    pub fn jwks(&self, issuer: &str) -> Value {
        json!({"keys": [{
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "x5t": self.kid,
            "n": self.n,
            "e": self.e,
            "issuer": issuer,
        }]})
    }
}

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `n` random bytes, base64url.
pub fn random_token(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    b64url(&buf)
}

pub fn guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A stable GUID derived from some strings (service-principal ids, pairwise `sub`s).
pub fn derived_guid(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(b)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// base64url(SHA-256(verifier)), the PKCE S256 transform.
pub fn s256(verifier: &str) -> String {
    b64url(&Sha256::digest(verifier.as_bytes()))
}

/// Constant-time string comparison (secrets, PKCE).
pub fn ct_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;
    use rsa::{BigUint, RsaPublicKey};

    #[test]
    fn jwt_verifies_with_the_jwks_key() {
        let k = Keys::generate().unwrap();
        let jwt = k.sign_jwt(&json!({"tid": "x", "n": 1}));
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let jwks = k.jwks("iss");
        let key = &jwks["keys"][0];
        let n = URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap();
        let e = URL_SAFE_NO_PAD.decode(key["e"].as_str().unwrap()).unwrap();
        let public =
            RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e)).unwrap();
        let vk = VerifyingKey::<Sha256>::new(public);
        let sig =
            Signature::try_from(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().as_slice()).unwrap();
        vk.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .unwrap();
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["kid"], key["kid"]);
    }

    #[test]
    fn pkce_s256_transform() {
        // Expected value computed independently: printf %s VERIFIER | openssl dgst -sha256 -binary | base64url
        assert_eq!(
            s256("dBjftJeZ4CK01JG5S3sfsBebwyRCRKDPSJUiFtSr1wk"),
            "iOen_eJ-HMuB5IT5noUupx91QCRLCPaOspaLMxv7N6o"
        );
        assert!(ct_eq("abc", "abc"));
        assert!(!ct_eq("abc", "abd"));
        assert!(!ct_eq("abc", "abcd"));
    }
}
