//! The sandbox's own cryptography, independent of the client's: RSA keys and JWT signing
//! (keys.rs), JWS parsing and signature checks (jws.rs), app certificates (certs.rs).

pub(crate) mod certs;
pub(crate) mod jws;
pub(crate) mod keys;
