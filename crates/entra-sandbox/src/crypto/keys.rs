//! The sandbox's signing key (RSA 2048, generated at each start), RS256 JWT signing and
//! verification, the JWKS, and random identifiers. The simulated external OIDC issuer
//! (federation.rs) uses a second `Keys`.

use crate::crypto::jws::{Alg, Jws};
use anyhow::{Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::EncodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub struct Keys {
    signing: Signing,
    public: RsaPublicKey,
    /// Key id, in the `kid` (and `x5t`) header of every token and in the JWKS.
    pub kid: String,
    n: String,
    e: String,
}

/// RS256 signing: ring where it accepts the key (about twice as fast as the `rsa` crate, and
/// PKCS#1 v1.5 signatures are deterministic, so both give the same bytes), else `rsa`.
enum Signing {
    Ring(ring::signature::RsaKeyPair, ring::rand::SystemRandom),
    Rsa(SigningKey<Sha256>),
}

impl Signing {
    fn new(key: RsaPrivateKey) -> Signing {
        let ring_key = key
            .to_pkcs8_der()
            .ok()
            .and_then(|der| ring::signature::RsaKeyPair::from_pkcs8(der.as_bytes()).ok());
        match ring_key {
            Some(k) => Signing::Ring(k, ring::rand::SystemRandom::new()),
            None => Signing::Rsa(SigningKey::<Sha256>::new(key)),
        }
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        match self {
            Signing::Ring(k, rng) => {
                let mut sig = vec![0u8; k.public().modulus_len()];
                match k.sign(&ring::signature::RSA_PKCS1_SHA256, rng, input, &mut sig) {
                    Ok(()) => sig,
                    // Only on a failing system RNG; an empty signature never verifies.
                    Err(_) => Vec::new(),
                }
            }
            Signing::Rsa(k) => k.sign(input).to_vec(),
        }
    }
}

impl Keys {
    pub fn from_key(key: RsaPrivateKey) -> Keys {
        let n = b64url(&key.n().to_bytes_be());
        let e = b64url(&key.e().to_bytes_be());
        Keys {
            public: key.to_public_key(),
            signing: Signing::new(key),
            kid: random_token(20),
            n,
            e,
        }
    }

    pub fn public(&self) -> &RsaPublicKey {
        &self.public
    }

    /// A JWT this key signed (RS256, our `kid`, valid signature), decoded; claims unchecked.
    pub fn verify_jwt(&self, token: &str) -> Option<Jws> {
        let jws = Jws::parse(token)?;
        let ok = jws.header_str("alg") == Some("RS256")
            && jws.header_str("kid") == Some(self.kid.as_str())
            && jws.verify(&self.public, Alg::Rs256);
        ok.then_some(jws)
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
        format!("{input}.{}", b64url(&sig))
    }

    /// The JSON Web Key Set served at .../discovery/v2.0/keys (Entra adds `issuer` to each key).
    pub fn jwks(&self, issuer: &str) -> Value {
        let mut v = self.oidc_jwks();
        if let Some(k) = v["keys"][0].as_object_mut() {
            k.insert("issuer".into(), issuer.into());
        }
        v
    }

    /// A plain JWKS (the simulated external OIDC issuer's).
    pub fn oidc_jwks(&self) -> Value {
        json!({"keys": [{
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "x5t": self.kid,
            "n": self.n,
            "e": self.e,
        }]})
    }
}

/// A fresh RSA-2048 key.
pub fn new_rsa_key() -> Result<RsaPrivateKey> {
    RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).context("cannot generate an RSA key")
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
        let k = Keys::from_key(new_rsa_key().unwrap());
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
