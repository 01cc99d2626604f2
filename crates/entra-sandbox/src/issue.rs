//! Access tokens, id tokens and the token-endpoint success bodies (v1: numbers as strings;
//! v2: numbers).

use crate::crypto::keys::{derived_guid, random_token};
use crate::data::config::App;
use crate::state::{now, Inner};
use crate::store::{Account, Version};
use serde_json::{json, Map, Value};

/// Everything needed to answer one successful token request.
pub struct Issue<'a> {
    pub version: Version,
    /// Tenant of the token (`tid`).
    pub tid: &'a str,
    pub app: &'a App,
    /// The signed-in account; `None` for app-only (client credentials) tokens.
    pub account: Option<&'a Account>,
    /// The access token's audience.
    pub resource: String,
    /// Delegated permissions (`scp`).
    pub scp: Vec<String>,
    /// Application permissions (`roles`).
    pub roles: Vec<String>,
    /// How the client authenticated (`appidacr` / `azpacr`).
    pub acr: Acr,
    pub nonce: Option<String>,
    pub id_token: bool,
    pub refresh_token: Option<String>,
    /// The response's `scope` field, if any.
    pub scope: Option<String>,
}

/// How the client authenticated, as the `appidacr` (v1) / `azpacr` (v2) claim says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acr {
    /// "0": a public client, no credential.
    Public,
    /// "1": a client secret.
    Secret,
    /// "2": a client assertion (certificate or federated token).
    Assertion,
}

impl Acr {
    pub fn claim(self) -> &'static str {
        match self {
            Acr::Public => "0",
            Acr::Secret => "1",
            Acr::Assertion => "2",
        }
    }
}

/// The JSON body of a successful token response.
pub fn response(inner: &Inner, is: &Issue) -> Value {
    response_with(inner, is, &Map::new())
}

/// The same, with `extra` claims in the access token (a partner's `wids` and `idp`: gdap.rs).
pub fn response_with(inner: &Inner, is: &Issue, extra: &Map<String, Value>) -> Value {
    let lifetime = inner.cfg.token_lifetime_secs;
    let iat = now();
    let exp = iat + lifetime;
    let mut claims = access_claims(inner, is, iat, exp);
    if let Value::Object(c) = &mut claims {
        c.extend(extra.clone());
    }
    let access = inner.keys.sign_jwt(&claims);
    let mut m = Map::new();
    m.insert("token_type".into(), "Bearer".into());
    if let Some(s) = &is.scope {
        m.insert("scope".into(), s.clone().into());
    }
    match is.version {
        Version::V1 => {
            m.insert("expires_in".into(), lifetime.to_string().into());
            m.insert("ext_expires_in".into(), lifetime.to_string().into());
            m.insert("expires_on".into(), exp.to_string().into());
            m.insert("not_before".into(), iat.to_string().into());
            m.insert("resource".into(), is.resource.clone().into());
        }
        Version::V2 => {
            m.insert("expires_in".into(), lifetime.into());
            m.insert("ext_expires_in".into(), lifetime.into());
        }
    }
    m.insert("access_token".into(), access.into());
    if let Some(rt) = &is.refresh_token {
        m.insert("refresh_token".into(), rt.clone().into());
    }
    if let (true, Some(acc)) = (is.id_token, is.account) {
        let id = inner.keys.sign_jwt(&id_claims(inner, is, acc, iat, exp));
        m.insert("id_token".into(), id.into());
    }
    Value::Object(m)
}

fn access_claims(inner: &Inner, is: &Issue, iat: u64, exp: u64) -> Value {
    let iss = inner.issuer(is.version, is.tid);
    let acr = is.acr.claim();
    let mut c = json!({
        "aud": is.resource,
        "iss": iss,
        "iat": iat,
        "nbf": iat,
        "exp": exp,
        "aio": random_token(48),
        "rh": format!("0.{}", random_token(24)),
        "tid": is.tid,
        "uti": random_token(16),
        "ver": if is.version == Version::V1 { "1.0" } else { "2.0" },
        "sandbox": true,
    });
    let m = c.as_object_mut().expect("json! object");
    match is.version {
        Version::V1 => {
            m.insert("appid".into(), is.app.client_id.clone().into());
            m.insert("appidacr".into(), acr.into());
        }
        Version::V2 => {
            m.insert("azp".into(), is.app.client_id.clone().into());
            m.insert("azpacr".into(), acr.into());
        }
    }
    match is.account {
        Some(acc) => {
            m.insert("idtyp".into(), "user".into());
            m.insert("oid".into(), acc.oid.clone().into());
            m.insert(
                "sub".into(),
                derived_guid(&[&acc.oid, &is.app.client_id]).into(),
            );
            m.insert("name".into(), acc.name.clone().into());
            m.insert("amr".into(), json!(["pwd"]));
            match is.version {
                Version::V1 => {
                    m.insert("acr".into(), "1".into());
                    m.insert("upn".into(), acc.upn.clone().into());
                    m.insert("unique_name".into(), acc.upn.clone().into());
                    m.insert("ipaddr".into(), "127.0.0.1".into());
                }
                Version::V2 => {
                    m.insert("preferred_username".into(), acc.upn.clone().into());
                }
            }
            if !is.scp.is_empty() {
                m.insert("scp".into(), is.scp.join(" ").into());
            }
        }
        None => {
            // The app's service principal in this tenant.
            let sp = derived_guid(&["service-principal", &is.app.client_id, is.tid]);
            m.insert("idtyp".into(), "app".into());
            m.insert("oid".into(), sp.clone().into());
            m.insert("sub".into(), sp.into());
            if is.version == Version::V1 {
                m.insert("idp".into(), iss.into());
            }
            // Entra leaves `roles` out entirely when no application permission is granted.
            if !is.roles.is_empty() {
                m.insert("roles".into(), json!(is.roles));
            }
        }
    }
    c
}

fn id_claims(inner: &Inner, is: &Issue, acc: &Account, iat: u64, exp: u64) -> Value {
    let mut c = json!({
        "aud": is.app.client_id,
        "iss": inner.issuer(is.version, is.tid),
        "iat": iat,
        "nbf": iat,
        "exp": exp,
        "name": acc.name,
        "oid": acc.oid,
        "preferred_username": acc.upn,
        "sub": derived_guid(&[&acc.oid, &is.app.client_id]),
        "tid": is.tid,
        "ver": if is.version == Version::V1 { "1.0" } else { "2.0" },
    });
    let m = c.as_object_mut().expect("json! object");
    if is.version == Version::V1 {
        m.insert("upn".into(), acc.upn.clone().into());
        m.insert("unique_name".into(), acc.upn.clone().into());
        m.insert("amr".into(), json!(["pwd"]));
    } else {
        m.insert("rh".into(), format!("0.{}", random_token(24)).into());
        m.insert("uti".into(), random_token(16).into());
    }
    if let Some(n) = &is.nonce {
        m.insert("nonce".into(), n.clone().into());
    }
    c
}
