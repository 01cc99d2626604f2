//! The token endpoints (v1 .../oauth2/token, v2 .../oauth2/v2.0/token): authorization_code,
//! refresh_token and client_credentials grants, client authentication, Entra JSON errors.

use crate::assertion::{self, Endpoint};
use crate::crypto::keys::{ct_eq, s256};
use crate::data::config::App;
use crate::errors::{self, Aadsts, Trace};
use crate::handlers::devicecode;
use crate::http::{Params, Req, Resp};
use crate::issue::{self, Acr, Issue};
use crate::scopes::Scopes;
use crate::state::{now, Inner, TenantSel};
use crate::store::{RefreshEntry, RefreshState, Target, Version};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How the client authenticated.
enum ClientAuth {
    Secret(String),
    /// client_assertion (certificate or federated): see assertion.rs.
    Assertion(String),
    None,
}

pub fn token(inner: &Inner, seg: &str, version: Version, req: &Req) -> Resp {
    match handle(inner, seg, version, req) {
        Ok(v) => Resp::json(200, &v),
        Err(e) => e.to_json(&Trace::new(req.header("client-request-id"))),
    }
}

/// The request's tenant path, resolved.
struct PathTenant<'a> {
    seg: &'a str,
    /// None for common/organizations.
    tid: Option<String>,
}

fn handle(inner: &Inner, seg: &str, version: Version, req: &Req) -> Result<Value, Aadsts> {
    if req.method != "POST" {
        return Err(errors::post_only());
    }
    let path = PathTenant {
        seg,
        tid: match inner.resolve_tenant(seg) {
            TenantSel::NotFound => return Err(errors::tenant_not_found(seg)),
            TenantSel::Common => None,
            TenantSel::Id(t) => Some(t),
        },
    };
    let p = req.form_params();
    let grant_type = p
        .get("grant_type")
        .ok_or_else(|| errors::missing_param("grant_type"))?;
    let device_code = devicecode::GRANT_TYPES.contains(&grant_type);
    if !device_code
        && !matches!(
            grant_type,
            "authorization_code" | "refresh_token" | "client_credentials"
        )
    {
        return Err(errors::unsupported_grant_type(grant_type));
    }
    let (client_id, auth) = client_auth(req, &p)?;
    let app = inner
        .cfg
        .app(&client_id)
        .ok_or_else(|| errors::app_not_found(&client_id, seg))?;
    if let Some(t) = &path.tid {
        if !app.reachable_in(t) {
            return Err(errors::app_not_found(&client_id, seg));
        }
    }
    let ep = Endpoint {
        seg,
        version,
        host: req.header("host"),
    };
    let acr = authenticate(inner, app, &auth, grant_type != "client_credentials", &ep)?;
    if device_code {
        let poll = devicecode::PollPath {
            seg,
            tid: path.tid.clone(),
        };
        return devicecode::poll(inner, &poll, version, app, &p, acr);
    }
    match grant_type {
        "client_credentials" => client_credentials(inner, &path, version, app, &p, acr),
        "authorization_code" => authorization_code(inner, &path, version, app, &p, acr),
        _ => refresh(inner, &path, version, app, &p, acr),
    }
}

/// client_id and credential from the body and/or HTTP Basic.
fn client_auth(req: &Req, p: &Params) -> Result<(String, ClientAuth), Aadsts> {
    let mut basic: Option<(String, String)> = None;
    if let Some(h) = req.header("authorization") {
        let Some(b64) = h
            .strip_prefix("Basic ")
            .or_else(|| h.strip_prefix("basic "))
        else {
            return Err(errors::malformed("unsupported Authorization header scheme"));
        };
        let decoded = STANDARD
            .decode(b64.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| errors::malformed("the Basic Authorization header is not base64"))?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(|| errors::malformed("the Basic Authorization header has no ':'"))?;
        basic = Some((percent_decode(id), percent_decode(secret)));
    }
    let body_id = p.get("client_id");
    let client_id = match (&basic, body_id) {
        (Some((b, _)), Some(id)) if !b.eq_ignore_ascii_case(id) => {
            return Err(errors::malformed(
                "client_id in the body differs from the one in the Authorization header",
            ))
        }
        (Some((b, _)), _) => b.clone(),
        (None, Some(id)) => id.to_string(),
        (None, None) => return Err(errors::missing_param("client_id")),
    };
    let body_secret = p.get("client_secret");
    if p.get("client_assertion").is_some() {
        if p.get("client_assertion_type") != Some(JWT_BEARER) {
            return Err(errors::malformed(&format!(
                "client_assertion_type must be '{JWT_BEARER}'"
            )));
        }
        if basic.is_some() || body_secret.is_some() {
            return Err(errors::malformed(
                "more than one client credential was sent",
            ));
        }
        let assertion = p.get("client_assertion").unwrap_or_default().to_string();
        return Ok((client_id, ClientAuth::Assertion(assertion)));
    }
    let auth = match (basic, body_secret) {
        (Some((_, b)), Some(s)) if b != s => {
            return Err(errors::malformed("two different client secrets were sent"))
        }
        (Some((_, b)), _) if !b.is_empty() => ClientAuth::Secret(b),
        (_, Some(s)) => ClientAuth::Secret(s.to_string()),
        _ => ClientAuth::None,
    };
    Ok((client_id, auth))
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Checks the credential; returns how the client authenticated.
/// `user_grant`: auth-code and refresh grants, where a public client needs no credential.
fn authenticate(
    inner: &Inner,
    app: &App,
    auth: &ClientAuth,
    user_grant: bool,
    ep: &Endpoint,
) -> Result<Acr, Aadsts> {
    match auth {
        ClientAuth::Secret(s) => {
            let now = now();
            if let Some(hit) = app.secrets.iter().find(|x| ct_eq(&x.value, s)) {
                return if hit.is_expired(now) {
                    Err(errors::expired_secret(&app.client_id))
                } else {
                    Ok(Acr::Secret)
                };
            }
            Err(errors::invalid_secret(&app.client_id))
        }
        ClientAuth::Assertion(a) => {
            assertion::authenticate(inner, app, ep, a)?;
            Ok(Acr::Assertion)
        }
        ClientAuth::None if user_grant && app.public_client => Ok(Acr::Public),
        ClientAuth::None => Err(errors::no_client_credential()),
    }
}

fn client_credentials(
    inner: &Inner,
    path: &PathTenant,
    version: Version,
    app: &App,
    p: &Params,
    acr: Acr,
) -> Result<Value, Aadsts> {
    let tid = path
        .tid
        .as_deref()
        .ok_or_else(|| errors::tenant_required_for_app_only(path.seg))?;
    let roles = match inner.lock().grant(tid, &app.client_id) {
        Some(g) => g.roles.clone(),
        None => return Err(errors::app_not_found(&app.client_id, path.seg)),
    };
    let resource = match version {
        Version::V1 => p
            .get("resource")
            .ok_or_else(|| errors::missing_param("resource"))?
            .to_string(),
        Version::V2 => {
            let raw = p
                .get("scope")
                .ok_or_else(|| errors::missing_param("scope"))?;
            let s = Scopes::parse(raw)?;
            if !s.is_app_only_default() {
                return Err(errors::client_credentials_scope(raw));
            }
            s.resource()
        }
    };
    let roles = crate::handlers::graph::token_roles(&resource, roles);
    Ok(issue::response(
        inner,
        &Issue {
            version,
            tid,
            app,
            account: None,
            resource,
            scp: Vec::new(),
            roles,
            acr,
            nonce: None,
            id_token: false,
            refresh_token: None,
            // Entra's client-credentials responses carry no `scope`.
            scope: None,
        },
    ))
}

fn authorization_code(
    inner: &Inner,
    path: &PathTenant,
    version: Version,
    app: &App,
    p: &Params,
    acr: Acr,
) -> Result<Value, Aadsts> {
    let code = p.get("code").ok_or_else(|| errors::missing_param("code"))?;
    let mut store = inner.lock();
    let entry = store
        .code_mut(code)
        .ok_or_else(|| errors::invalid_grant_malformed("authorization code"))?;
    if entry.req.client_id != app.client_id {
        return Err(errors::grant_other_client("authorization code"));
    }
    if entry.redeemed {
        return Err(errors::code_redeemed());
    }
    if now() >= entry.expires {
        return Err(errors::grant_expired());
    }
    // Redeem at the tenant path of the authorize request (its GUID or domain); a code asked
    // through common/organizations may also be redeemed at the account's tenant.
    let same_tenant = match (&path.tid, &entry.req.path_tenant) {
        (Some(p), Some(q)) => p == q,
        (Some(p), None) => *p == entry.account.tid,
        (None, None) => true,
        (None, Some(_)) => false,
    };
    if !same_tenant {
        return Err(errors::code_other_tenant());
    }
    if entry.req.version != version {
        return Err(errors::grant_other_endpoint(
            "authorization code",
            entry.req.version.label(),
            version.label(),
        ));
    }
    match (p.get("redirect_uri"), entry.req.redirect_uri_sent) {
        (None, true) => return Err(errors::missing_param("redirect_uri")),
        (Some(r), _) if r != entry.req.redirect_uri => return Err(errors::reply_url_mismatch()),
        _ => {}
    }
    match (&entry.req.challenge, p.get("code_verifier")) {
        (Some(c), Some(v)) => {
            let computed = if c.s256 { s256(v) } else { v.to_string() };
            if !ct_eq(&computed, &c.value) {
                return Err(errors::pkce_mismatch(""));
            }
        }
        (Some(_), None) => return Err(errors::pkce_mismatch(" (no code_verifier was sent)")),
        (None, Some(_)) => {
            return Err(errors::pkce_mismatch(
                " (a code_verifier was sent but the authorization request had no code_challenge)",
            ))
        }
        (None, None) => {}
    }
    let account = entry.account.clone();
    let grant = store
        .grant(&account.tid, &app.client_id)
        .cloned()
        .ok_or_else(|| consent_missing(app))?;
    let entry = store
        .code_mut(code)
        .ok_or_else(|| errors::invalid_grant_malformed("authorization code"))?;
    let ar = entry.req.clone();
    let (resource, scp, scope, refresh, id_token, target) = match &ar.target {
        Target::V1 { resource } => {
            let r = p
                .get("resource")
                .map(str::to_string)
                .or_else(|| resource.clone())
                .ok_or_else(|| errors::missing_param("resource"))?;
            let scp = grant.scopes.clone();
            let scope = scp.join(" ");
            let target = Target::V1 {
                resource: Some(r.clone()),
            };
            (r, scp, scope, true, true, target)
        }
        Target::V2(s) => (
            s.resource(),
            s.scp(&grant.scopes),
            s.response_scope(&grant.scopes),
            s.offline_access(),
            s.openid(),
            ar.target.clone(),
        ),
    };
    entry.redeemed = true;
    let refresh_token = refresh.then(|| {
        store.add_refresh(
            RefreshEntry {
                client_id: app.client_id.clone(),
                account: account.clone(),
                target,
                path_tenant: ar.path_tenant.clone(),
                expires: now() + inner.cfg.refresh_token_lifetime_secs,
                state: RefreshState::Active,
            },
            now(),
        )
    });
    drop(store);
    Ok(issue::response(
        inner,
        &Issue {
            version,
            tid: &account.tid,
            app,
            account: Some(&account),
            resource,
            scp,
            roles: Vec::new(),
            acr,
            nonce: ar.nonce.clone(),
            id_token,
            refresh_token,
            scope: Some(scope),
        },
    ))
}

fn refresh(
    inner: &Inner,
    path: &PathTenant,
    version: Version,
    app: &App,
    p: &Params,
    acr: Acr,
) -> Result<Value, Aadsts> {
    let rt = p
        .get("refresh_token")
        .ok_or_else(|| errors::missing_param("refresh_token"))?;
    let mut store = inner.lock();
    let entry = store
        .refresh_mut(rt)
        .ok_or_else(|| errors::invalid_grant_malformed("refresh token"))?;
    if entry.client_id != app.client_id {
        return Err(errors::grant_other_client("refresh token"));
    }
    match entry.state {
        RefreshState::Active => {}
        RefreshState::Rotated => return Err(errors::grant_expired()),
        RefreshState::Revoked => return Err(errors::sessions_revoked()),
    }
    if now() >= entry.expires {
        return Err(errors::refresh_expired_unused(
            inner.cfg.refresh_token_lifetime_secs / 86400,
        ));
    }
    let account = entry.account.clone();
    // Redeemed in another tenant: a partner (GDAP) redemption, or no access (gdap.rs).
    let mut partner: Option<(String, Vec<String>)> = None;
    if let Some(t) = &path.tid {
        if *t != account.tid && Some(t) != entry.path_tenant.as_ref() {
            partner = Some((t.clone(), crate::gdap::admit(inner, t, &account, now())?));
        }
    }
    let token_tid = partner
        .as_ref()
        .map_or(account.tid.clone(), |(t, _)| t.clone());
    let old = entry.clone();
    let grant = store
        .grant(&token_tid, &app.client_id)
        .cloned()
        .ok_or_else(|| consent_missing(app))?;
    // What the new access token is for: the request's resource/scope, else the original one.
    let (resource, scp, scope, id_token) = match version {
        Version::V1 => {
            let r = match (p.get("resource"), &old.target) {
                (Some(r), _) => r.to_string(),
                (None, Target::V1 { resource: Some(r) }) => r.clone(),
                (None, Target::V2(s)) => s.resource(),
                (None, Target::V1 { resource: None }) => {
                    return Err(errors::missing_param("resource"))
                }
            };
            let scope = grant.scopes.join(" ");
            (r, grant.scopes.clone(), scope, true)
        }
        Version::V2 => {
            let s = match (p.get("scope"), &old.target) {
                (Some(raw), _) => Scopes::parse(raw)?,
                (None, Target::V2(s)) => s.clone(),
                (None, Target::V1 { resource: Some(r) }) => {
                    Scopes::parse(&format!("{r}/.default offline_access"))?
                }
                (None, Target::V1 { resource: None }) => {
                    return Err(errors::missing_param("scope"))
                }
            };
            if !s.missing_from(&grant.scopes).is_empty() {
                return Err(consent_missing(app));
            }
            (
                s.resource(),
                s.scp(&grant.scopes),
                s.response_scope(&grant.scopes),
                s.openid(),
            )
        }
    };
    // Rotation: the presented token dies, a new one (fresh 90 days) is returned. A partner
    // token redeemed in a customer tenant stays valid a while (until its own expiry), as in
    // Entra, so that many customers can be redeemed at once with it.
    if partner.is_none() {
        if let Some(e) = store.refresh_mut(rt) {
            e.state = RefreshState::Rotated;
        }
    }
    let new_rt = store.add_refresh(
        RefreshEntry {
            expires: now() + inner.cfg.refresh_token_lifetime_secs,
            state: RefreshState::Active,
            ..old
        },
        now(),
    );
    drop(store);
    let is = Issue {
        version,
        tid: &token_tid,
        app,
        account: Some(&account),
        resource,
        scp,
        roles: Vec::new(),
        acr,
        nonce: None,
        id_token,
        refresh_token: Some(new_rt),
        scope: Some(scope),
    };
    Ok(match &partner {
        None => issue::response(inner, &is),
        Some((_, wids)) => issue::response_with(inner, &is, &crate::gdap::claims(&account, wids)),
    })
}

/// 65001 at the token endpoint (error invalid_grant, as Entra answers there).
fn consent_missing(app: &App) -> Aadsts {
    let mut e = errors::consent_required(&app.client_id, &app.name);
    e.error = "invalid_grant";
    e
}
