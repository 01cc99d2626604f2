//! The device authorization grant (device code), v1 and v2, as entra-protocol.md describes it:
//!
//! - POST {t}/oauth2/v2.0/devicecode (client_id, scope) and {t}/oauth2/devicecode (client_id,
//!   resource): device_code, user_code, verification_uri (v1: verification_url), expires_in,
//!   interval (v1: numbers as strings) and message.
//! - GET /sandbox/device: the page at verification_uri, where a person types the user code;
//!   POST /sandbox/device takes the code and shows the usual sign-in and consent page, whose
//!   form posts to POST /sandbox/device/signin (Accept or Cancel), in the tenant of the request.
//! - the token endpoint's grant_type=urn:ietf:params:oauth:grant-type:device_code (v2) or
//!   device_code (v1), with device_code= or code= (both spellings accepted on both endpoints):
//!   [`poll`] answers authorization_pending, authorization_declined, expired_token,
//!   bad_verification_code, or the tokens once.
//!
//! An app without `public_client` needs its credential on the polls (AADSTS7000218 otherwise,
//! checked by the token endpoint before [`poll`]); a tenant listed in the config's
//! `device_code_blocked_tenants` has Conditional Access blocking the flow (AADSTS53003).

use crate::data::config::App;
use crate::errors::{self, Aadsts, Trace};
use crate::http::{Params, Req, Resp};
use crate::issue::{self, Acr, Issue};
use crate::pages::{self, AccountChoice, AccountGroup, SigninView};
use crate::scopes::Scopes;
use crate::state::{now, Inner, TenantSel};
use crate::store::{
    Account, DeviceEntry, DeviceState, RefreshEntry, RefreshState, Target, Version,
};
use serde_json::{json, Value};

/// The page at verification_uri.
pub const DEVICE_PATH: &str = "/sandbox/device";
/// Where the device sign-in form posts.
pub const DEVICE_SIGNIN_PATH: &str = "/sandbox/device/signin";
/// The grant types of a poll: v2 (RFC 8628) and the ADAL-era v1 one.
pub const GRANT_TYPES: [&str; 2] = [
    "urn:ietf:params:oauth:grant-type:device_code",
    "device_code",
];

/// POST .../oauth2/devicecode, .../oauth2/v2.0/devicecode.
pub fn authorization(inner: &Inner, seg: &str, version: Version, req: &Req) -> Resp {
    let trace = Trace::new(req.header("client-request-id"));
    match start(inner, seg, version, req) {
        Ok(v) => Resp::json(200, &v),
        Err(e) => e.to_json(&trace),
    }
}

fn start(inner: &Inner, seg: &str, version: Version, req: &Req) -> Result<Value, Aadsts> {
    if req.method != "POST" {
        return Err(errors::post_only());
    }
    let path_tenant = match inner.resolve_tenant(seg) {
        TenantSel::NotFound => return Err(errors::tenant_not_found(seg)),
        TenantSel::Common => None,
        TenantSel::Id(t) => Some(t),
    };
    let p = req.form_params();
    let client_id = p
        .get("client_id")
        .ok_or_else(|| errors::missing_param("client_id"))?;
    let app = inner
        .cfg
        .app(client_id)
        .ok_or_else(|| errors::app_not_found(client_id, seg))?;
    match &path_tenant {
        Some(t) if !app.reachable_in(t) => return Err(errors::app_not_found(client_id, seg)),
        None if !app.multi_tenant => {
            return Err(errors::not_multi_tenant(&app.client_id, &app.name))
        }
        _ => {}
    }
    let target = match version {
        Version::V1 => Target::V1 {
            resource: Some(
                p.get("resource")
                    .ok_or_else(|| errors::missing_param("resource"))?
                    .to_string(),
            ),
        },
        Version::V2 => Target::V2(Scopes::parse(
            p.get("scope")
                .ok_or_else(|| errors::missing_param("scope"))?,
        )?),
    };
    let cfg = &inner.cfg;
    let lifetime = cfg.device_code_lifetime_secs;
    let interval = cfg.device_code_interval_secs;
    let (device_code, user_code) = inner.lock().add_device(
        DeviceEntry {
            user_code: String::new(),
            client_id: app.client_id.clone(),
            version,
            path_tenant,
            target,
            expires: now() + lifetime,
            state: DeviceState::Pending,
        },
        now(),
    );
    let uri = format!("{}{DEVICE_PATH}", inner.authority);
    let message = format!(
        "To sign in, use a web browser to open the page {uri} and enter the code {user_code} to authenticate."
    );
    Ok(match version {
        Version::V2 => json!({
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": uri,
            "expires_in": lifetime,
            "interval": interval,
            "message": message,
        }),
        Version::V1 => json!({
            "user_code": user_code,
            "device_code": device_code,
            "verification_url": uri,
            "expires_in": lifetime.to_string(),
            "interval": interval.to_string(),
            "message": message,
        }),
    })
}

/// GET /sandbox/device: the code box (`?otc=` prefills it).
pub fn page(req: &Req) -> Resp {
    let q = req.query_params();
    let prefill = q.get("otc").unwrap_or("");
    Resp::html(200, pages::device_code_entry(DEVICE_PATH, None, prefill))
}

/// POST /sandbox/device: the typed code; the sign-in page of its request, or the box again.
pub fn enter(inner: &Inner, req: &Req) -> Resp {
    let f = req.form_params();
    let typed = f.get("otc").unwrap_or("");
    let again =
        |why: &str| Resp::html(400, pages::device_code_entry(DEVICE_PATH, Some(why), typed));
    let mut store = inner.lock();
    let Some(device_code) = store.device_of_user_code(typed) else {
        return again("That code didn't work. Check the code and try again.");
    };
    let Some(entry) = store.device_mut(&device_code).cloned() else {
        return again("That code didn't work. Check the code and try again.");
    };
    drop(store);
    if now() >= entry.expires {
        return again("That code has expired. Go back to the application for a new one.");
    }
    if entry.state != DeviceState::Pending {
        return again("That code was already used. Go back to the application for a new one.");
    }
    Resp::html(200, pages::signin(&signin_view(inner, &entry)))
}

/// What the sign-in page shows for a device code request: the request's tenant's accounts
/// (for common/organizations, every configured tenant's).
fn signin_view(inner: &Inner, entry: &DeviceEntry) -> SigninView {
    let cfg = &inner.cfg;
    let app = cfg.app(&entry.client_id);
    let tenant = entry
        .path_tenant
        .as_deref()
        .and_then(|t| cfg.tenant_by_id(t));
    let tenant_label = match tenant {
        Some(t) => format!("{} ({}, {})", t.name, t.domain, t.id),
        None => "your organization (common endpoint: the account you pick decides)".to_string(),
    };
    let tenants: Vec<_> = match tenant {
        Some(t) => vec![t],
        None => cfg
            .tenants
            .iter()
            .filter(|t| t.generated.is_none())
            .take(20)
            .collect(),
    };
    let groups = tenants
        .iter()
        .enumerate()
        .map(|(i, t)| AccountGroup {
            tenant_label: format!("{} ({})", t.name, t.domain),
            other_org: false,
            accounts: t
                .users
                .iter()
                .enumerate()
                .map(|(j, u)| AccountChoice {
                    upn: u.upn.clone(),
                    name: u.name.clone(),
                    checked: i == 0 && j == 0,
                })
                .collect(),
        })
        .collect();
    let permissions = match &entry.target {
        Target::V1 { resource } => vec![format!(
            "Access {} as you (device code sign-in)",
            resource.as_deref().unwrap_or("the resource")
        )],
        Target::V2(s) => vec![format!(
            "Access {} as you (device code sign-in): {}",
            s.resource(),
            s.permissions.join(", ")
        )],
    };
    SigninView {
        request_id: entry.user_code.clone(),
        post_path: DEVICE_SIGNIN_PATH.to_string(),
        app_name: app.map(|a| a.name.clone()).unwrap_or_default(),
        client_id: entry.client_id.clone(),
        tenant_label,
        permissions,
        admin_consent: false,
        groups,
    }
}

/// POST /sandbox/device/signin: Accept (account) or Cancel for the device code's request.
pub fn signin(inner: &Inner, req: &Req) -> Resp {
    let trace = Trace::new(req.header("client-request-id"));
    let f = req.form_params();
    let error_page = |e: Aadsts| Resp::html(400, pages::error(&e, &trace));
    let user_code = f.get("request").unwrap_or("");
    let mut store = inner.lock();
    let Some(device_code) = store.device_of_user_code(user_code) else {
        return error_page(errors::malformed("this device code sign-in is not known"));
    };
    let Some(entry) = store.device_mut(&device_code) else {
        return error_page(errors::malformed("this device code sign-in is not known"));
    };
    if entry.state != DeviceState::Pending || now() >= entry.expires {
        return error_page(errors::malformed(
            "this code has expired or was already used; go back to the application for a new one",
        ));
    }
    match f.get("action") {
        Some("accept") => {}
        Some("cancel") => {
            entry.state = DeviceState::Declined;
            return Resp::html(
                200,
                pages::device_code_done(
                    "You declined",
                    "You declined to sign in to the application. You can close this window.",
                ),
            );
        }
        _ => {
            return error_page(errors::malformed(
                "the form has no action (accept or cancel)",
            ))
        }
    }
    let Some((t, u)) = f.get("account").and_then(|a| inner.cfg.user(a)) else {
        return error_page(errors::malformed("no account was selected"));
    };
    let account = Account {
        upn: u.upn.clone(),
        name: u.name.clone(),
        oid: u.oid.clone(),
        tid: t.id.clone(),
    };
    let Some(app) = inner.cfg.app(&entry.client_id) else {
        return error_page(errors::app_not_found(&entry.client_id, "common"));
    };
    if !app.reachable_in(&account.tid) {
        return error_page(errors::user_not_in_tenant(
            &account.upn,
            &inner.tenant_name(&app.home_tenant),
        ));
    }
    if let Some(p) = &entry.path_tenant {
        if *p != account.tid {
            return error_page(errors::user_not_in_tenant(
                &account.upn,
                &inner.tenant_name(p),
            ));
        }
    }
    if blocked(inner, &account.tid) {
        entry.state = DeviceState::Blocked;
        return error_page(conditional_access());
    }
    let named = match &entry.target {
        Target::V2(s) => s.permissions.clone(),
        Target::V1 { .. } => Vec::new(),
    };
    entry.state = DeviceState::Approved(account.clone());
    store.consent(&account.tid, app, &named);
    drop(store);
    Resp::html(
        200,
        pages::device_code_done(
            "You're signed in",
            &format!(
                "You have signed in to {} as {} on your device. You can close this window.",
                app.name, account.upn
            ),
        ),
    )
    .with_header("X-Sandbox-Account", &account.upn)
}

/// Whether Conditional Access blocks the device code flow in tenant `tid`.
fn blocked(inner: &Inner, tid: &str) -> bool {
    let domain = inner
        .cfg
        .tenant_by_id(tid)
        .map(|t| t.domain.as_str())
        .unwrap_or("");
    inner
        .cfg
        .device_code_blocked_tenants
        .iter()
        .any(|b| b.eq_ignore_ascii_case(tid) || b.eq_ignore_ascii_case(domain))
}

fn conditional_access() -> Aadsts {
    Aadsts::new(
        400,
        "invalid_grant",
        53003,
        "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance. (the device code flow is blocked in this tenant)",
    )
}

fn pending() -> Aadsts {
    Aadsts::new(
        400,
        "authorization_pending",
        70016,
        "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
    )
}

fn declined() -> Aadsts {
    Aadsts::new(
        400,
        "authorization_declined",
        70000,
        "The user declined the authorization request (device code flow).",
    )
}

fn expired() -> Aadsts {
    Aadsts::new(400, "expired_token", 70019, "Verification code expired.")
}

fn bad_code(why: &str) -> Aadsts {
    Aadsts::new(
        400,
        "bad_verification_code",
        70000,
        format!("The provided value for the input parameter 'device_code' is not valid. ({why})"),
    )
}

/// The request's tenant path, resolved (None for common/organizations).
pub struct PollPath<'a> {
    pub seg: &'a str,
    pub tid: Option<String>,
}

/// A poll of the token endpoint with a device code (the client is already authenticated).
pub fn poll(
    inner: &Inner,
    path: &PollPath,
    version: Version,
    app: &App,
    p: &Params,
    acr: Acr,
) -> Result<Value, Aadsts> {
    let code = p
        .get("device_code")
        .or_else(|| p.get("code"))
        .ok_or_else(|| errors::missing_param("device_code"))?;
    let mut store = inner.lock();
    let entry = store
        .device_mut(code)
        .ok_or_else(|| bad_code("unknown device code"))?;
    if entry.client_id != app.client_id {
        return Err(errors::grant_other_client("device code"));
    }
    if entry.version != version {
        return Err(errors::grant_other_endpoint(
            "device code",
            entry.version.label(),
            version.label(),
        ));
    }
    let same_tenant = match (&path.tid, &entry.path_tenant) {
        (Some(a), Some(b)) => a == b,
        (Some(a), None) => match &entry.state {
            DeviceState::Approved(acc) => *a == acc.tid,
            _ => true,
        },
        (None, None) => true,
        (None, Some(_)) => false,
    };
    if !same_tenant {
        return Err(bad_code(&format!(
            "issued for another tenant than '{}'",
            path.seg
        )));
    }
    let account = match &entry.state {
        DeviceState::Redeemed => return Err(bad_code("already redeemed")),
        _ if now() >= entry.expires => return Err(expired()),
        DeviceState::Pending => return Err(pending()),
        DeviceState::Declined => return Err(declined()),
        DeviceState::Blocked => return Err(conditional_access()),
        DeviceState::Approved(a) => a.clone(),
    };
    let device = entry.clone();
    let grant = store
        .grant(&account.tid, &app.client_id)
        .cloned()
        .ok_or_else(|| {
            let mut e = errors::consent_required(&app.client_id, &app.name);
            e.error = "invalid_grant";
            e
        })?;
    let (resource, scp, scope, refresh, id_token) = match &device.target {
        Target::V1 { resource } => {
            let r = resource.clone().unwrap_or_default();
            (r, grant.scopes.clone(), grant.scopes.join(" "), true, true)
        }
        Target::V2(s) => (
            s.resource(),
            s.scp(&grant.scopes),
            s.response_scope(&grant.scopes),
            s.offline_access(),
            s.openid(),
        ),
    };
    if let Some(e) = store.device_mut(code) {
        e.state = DeviceState::Redeemed;
    }
    let refresh_token = refresh.then(|| {
        store.add_refresh(
            RefreshEntry {
                client_id: app.client_id.clone(),
                account: account.clone(),
                target: device.target.clone(),
                path_tenant: device.path_tenant.clone(),
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
            nonce: None,
            id_token,
            refresh_token,
            scope: Some(scope),
        },
    ))
}
