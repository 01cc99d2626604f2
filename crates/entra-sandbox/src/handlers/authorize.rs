//! The authorize endpoints (v1, v2), v2 admin consent, and the sign-in form's POST.
//!
//! Order of checks, as in Entra: tenant, client_id, app in the tenant, redirect URI — those are
//! shown as error pages (there is no trustworthy place to redirect to). Everything after the
//! redirect URI is validated goes back to it as error/error_description/state.

use crate::crypto::keys::guid;
use crate::errors::{self, Aadsts, Trace};
use crate::http::{Params, Req, Resp};
use crate::pages::{self, AccountChoice, AccountGroup, SigninView};
use crate::scopes::Scopes;
use crate::state::{now, Inner, TenantSel};
use crate::store::{Account, AuthRequest, Challenge, Flow, ResponseMode, Target, Version};

/// Where the sign-in form posts.
pub const SIGNIN_PATH: &str = "/sandbox/signin";

enum Fail {
    /// Shown in the browser (status 400).
    Page(Aadsts),
    /// Sent back to the (validated) redirect URI.
    Redirect(Back, Aadsts),
}

/// Where and how to answer once the redirect URI is known to be registered.
#[derive(Clone)]
struct Back {
    redirect_uri: String,
    mode: ResponseMode,
    state: Option<String>,
}

/// GET (or POST) .../oauth2/authorize, .../oauth2/v2.0/authorize, .../v2.0/adminconsent.
pub fn authorize(inner: &Inner, seg: &str, version: Version, flow: Flow, req: &Req) -> Resp {
    let trace = Trace::new(req.header("client-request-id"));
    let mut p = req.query_params();
    if req.method == "POST" {
        p.extend(req.form_params());
    }
    let ar = match validate(inner, seg, version, flow, &p) {
        Ok(ar) => ar,
        Err(Fail::Page(e)) => return Resp::html(400, pages::error(&e, &trace)),
        Err(Fail::Redirect(back, e)) => return redirect_error(&back, &e, &trace, None),
    };
    if flow == Flow::Authorize && p.get("prompt") == Some("none") {
        return silent(inner, ar, &trace);
    }
    let view = signin_view(inner, &ar);
    let id = inner.lock().add_pending(ar, now());
    Resp::html(
        200,
        pages::signin(&SigninView {
            request_id: id,
            ..view
        }),
    )
}

fn validate(
    inner: &Inner,
    seg: &str,
    version: Version,
    flow: Flow,
    p: &Params,
) -> Result<AuthRequest, Fail> {
    let path_tenant = match inner.resolve_tenant(seg) {
        TenantSel::NotFound => return Err(Fail::Page(errors::tenant_not_found(seg))),
        TenantSel::Common => None,
        TenantSel::Id(t) => Some(t),
    };
    let client_id = p
        .get("client_id")
        .ok_or_else(|| Fail::Page(errors::missing_param("client_id")))?;
    let app = inner
        .cfg
        .app(client_id)
        .ok_or_else(|| Fail::Page(errors::app_not_found(client_id, seg)))?;
    match &path_tenant {
        Some(t) if !app.reachable_in(t) => {
            return Err(Fail::Page(errors::app_not_found(client_id, seg)))
        }
        None if !app.multi_tenant => {
            return Err(Fail::Page(errors::not_multi_tenant(
                &app.client_id,
                &app.name,
            )))
        }
        _ => {}
    }
    let (redirect_uri, redirect_uri_sent) = match p.get("redirect_uri") {
        Some(r) if redirect_matches(&app.redirect_uris, r) => (r.to_string(), true),
        Some(r) => return Err(Fail::Page(errors::redirect_mismatch(r, &app.client_id))),
        // Entra uses the app's (first) registered reply URL when none is sent.
        None => (app.redirect_uris[0].clone(), false),
    };
    let state = p.get("state").map(str::to_string);
    let mut back = Back {
        redirect_uri: redirect_uri.clone(),
        mode: ResponseMode::Query,
        state: state.clone(),
    };
    let redirect = |back: &Back, e: Aadsts| Fail::Redirect(back.clone(), e);
    back.mode = match p
        .get("response_mode")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("query") => ResponseMode::Query,
        Some("fragment") => ResponseMode::Fragment,
        Some("form_post") => ResponseMode::FormPost,
        Some(other) => {
            return Err(redirect(
                &back,
                errors::malformed(&format!("unsupported response_mode '{other}'")),
            ))
        }
    };
    let mut ar = AuthRequest {
        flow,
        version,
        path_tenant,
        client_id: app.client_id.clone(),
        redirect_uri,
        redirect_uri_sent,
        response_mode: back.mode,
        state,
        nonce: p.get("nonce").map(str::to_string),
        challenge: None,
        target: Target::V1 { resource: None },
        login_hint: p.get("login_hint").map(str::to_string),
        admin_scope: None,
        prompt: p.get("prompt").map(str::to_string),
    };
    if flow == Flow::AdminConsent {
        // v2 adminconsent: scope is echoed back; the consent covers the app's configured roles.
        ar.admin_scope = p.get("scope").map(str::to_string);
        return Ok(ar);
    }
    match p.get("response_type") {
        None => return Err(redirect(&back, errors::missing_param("response_type"))),
        Some("code") => {}
        Some(other) => return Err(redirect(&back, errors::unsupported_response_type(other))),
    }
    if let Some(ch) = p.get("code_challenge") {
        let s256 = match p.get("code_challenge_method") {
            None => false,
            Some(m) if m.eq_ignore_ascii_case("plain") => false,
            Some(m) if m.eq_ignore_ascii_case("S256") => true,
            Some(m) => {
                return Err(redirect(
                    &back,
                    errors::malformed(&format!("unsupported code_challenge_method '{m}'")),
                ))
            }
        };
        if !(43..=128).contains(&ch.len()) {
            return Err(redirect(
                &back,
                Aadsts::new(
                    400,
                    "invalid_request",
                    501491,
                    "Invalid size of Code_Challenge parameter.",
                ),
            ));
        }
        ar.challenge = Some(Challenge {
            value: ch.to_string(),
            s256,
        });
    }
    ar.target = match version {
        // v1: `scope` is ignored. A missing resource is accepted here (the Defender docs'
        // admin-consent link has none); the token request must then name the resource.
        Version::V1 => Target::V1 {
            resource: p.get("resource").map(str::to_string),
        },
        Version::V2 => {
            let raw = p
                .get("scope")
                .ok_or_else(|| redirect(&back, errors::missing_param("scope")))?;
            Target::V2(Scopes::parse(raw).map_err(|e| redirect(&back, e))?)
        }
    };
    match p.get("prompt") {
        None | Some("login" | "select_account" | "consent" | "admin_consent" | "none") => {}
        Some(other) => {
            return Err(redirect(
                &back,
                errors::malformed(&format!("unsupported prompt value '{other}'")),
            ))
        }
    }
    Ok(ar)
}

/// Entra's localhost rule: for http(s)://localhost and http(s)://127.0.0.1 the port is ignored;
/// every other redirect URI must match exactly.
pub fn redirect_matches(registered: &[String], requested: &str) -> bool {
    // Anything a Location header could not carry (spaces, control characters, non-ASCII) is
    // refused outright, so the string echoed back is always exactly the one sent.
    if !requested.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return false;
    }
    if registered.iter().any(|r| r == requested) {
        return true;
    }
    let Some(req) = loopback(requested) else {
        return false;
    };
    registered
        .iter()
        .filter_map(|r| loopback(r))
        .any(|r| r == req)
}

/// (scheme, host, path, query) of a localhost / 127.0.0.1 URL without userinfo or fragment.
fn loopback(s: &str) -> Option<(String, String, String, Option<String>)> {
    let u = url::Url::parse(s).ok()?;
    let host = u.host_str()?.to_string();
    let ok = matches!(u.scheme(), "http" | "https")
        && (host == "localhost" || host == "127.0.0.1")
        && u.username().is_empty()
        && u.password().is_none()
        && u.fragment().is_none();
    ok.then(|| {
        (
            u.scheme().to_string(),
            host,
            u.path().to_string(),
            u.query().map(str::to_string),
        )
    })
}

/// prompt=none: the simulated browser session signs in silently, or the error goes back.
fn silent(inner: &Inner, ar: AuthRequest, trace: &Trace) -> Resp {
    let back = back_of(&ar);
    let hinted = ar.login_hint.as_deref().and_then(|h| inner.cfg.user(h));
    let user = hinted.or_else(|| {
        let t = inner.cfg.tenant_by_id(ar.path_tenant.as_deref()?)?;
        Some((t, &t.users[0]))
    });
    let Some((t, u)) = user else {
        return redirect_error(&back, &errors::login_required(), trace, None);
    };
    let account = Account {
        upn: u.upn.clone(),
        name: u.name.clone(),
        oid: u.oid.clone(),
        tid: t.id.clone(),
    };
    let Some(app) = inner.cfg.app(&ar.client_id) else {
        return Resp::html(
            400,
            pages::error(&errors::app_not_found(&ar.client_id, "common"), trace),
        );
    };
    if !app.reachable_in(&account.tid) {
        let e = errors::user_not_in_tenant(&account.upn, &inner.tenant_name(&app.home_tenant));
        return Resp::html(400, pages::error(&e, trace));
    }
    let store = inner.lock();
    let consented = match (store.grant(&account.tid, &app.client_id), &ar.target) {
        (None, _) => false,
        (Some(g), Target::V2(s)) => s.missing_from(&g.scopes).is_empty(),
        (Some(_), Target::V1 { .. }) => true,
    };
    drop(store);
    if !consented {
        let e = errors::consent_required(&app.client_id, &app.name);
        return redirect_error(&back, &e, trace, None);
    }
    issue_code(inner, ar, account)
}

/// POST /sandbox/signin: the form of the sign-in page.
pub fn signin_post(inner: &Inner, req: &Req) -> Resp {
    let trace = Trace::new(req.header("client-request-id"));
    let f = req.form_params();
    let page = |e: Aadsts| Resp::html(400, pages::error(&e, &trace));
    let Some(ar) = f
        .get("request")
        .and_then(|id| inner.lock().take_pending(id, now()))
    else {
        return page(errors::malformed(
            "this sign-in page has expired or was already submitted; start again from the application",
        ));
    };
    let back = back_of(&ar);
    match f.get("action") {
        Some("accept") => {}
        Some("cancel") => {
            let e = errors::declined();
            return redirect_error(&back, &e, &trace, Some("cancel"));
        }
        _ => {
            return page(errors::malformed(
                "the form has no action (accept or cancel)",
            ))
        }
    }
    let Some((t, u)) = f.get("account").and_then(|a| inner.cfg.user(a)) else {
        return page(errors::malformed("no account was selected"));
    };
    let account = Account {
        upn: u.upn.clone(),
        name: u.name.clone(),
        oid: u.oid.clone(),
        tid: t.id.clone(),
    };
    let Some(app) = inner.cfg.app(&ar.client_id) else {
        return page(errors::app_not_found(&ar.client_id, "common"));
    };
    if !app.reachable_in(&account.tid) {
        return page(errors::user_not_in_tenant(
            &account.upn,
            &inner.tenant_name(&app.home_tenant),
        ));
    }
    let named = match &ar.target {
        Target::V2(s) => s.permissions.clone(),
        Target::V1 { .. } => Vec::new(),
    };
    inner.lock().consent(&account.tid, app, &named);
    match ar.flow {
        Flow::AdminConsent => {
            let mut params = vec![
                ("admin_consent".to_string(), "True".to_string()),
                ("tenant".to_string(), account.tid.clone()),
            ];
            if let Some(s) = &ar.admin_scope {
                params.push(("scope".into(), s.clone()));
            }
            if let Some(s) = &ar.state {
                params.push(("state".into(), s.clone()));
            }
            deliver(&back, params).with_header("X-Sandbox-Account", &account.upn)
        }
        Flow::Authorize => issue_code(inner, ar, account),
    }
}

/// Creates the single-use code and sends it to the redirect URI.
fn issue_code(inner: &Inner, ar: AuthRequest, account: Account) -> Resp {
    let back = back_of(&ar);
    let upn = account.upn.clone();
    let code = inner
        .lock()
        .add_code(ar, account, inner.cfg.code_lifetime_secs, now());
    let mut params = vec![("code".to_string(), code)];
    if let Some(s) = &back.state {
        params.push(("state".into(), s.clone()));
    }
    params.push(("session_state".into(), guid()));
    deliver(&back, params).with_header("X-Sandbox-Account", &upn)
}

fn back_of(ar: &AuthRequest) -> Back {
    Back {
        redirect_uri: ar.redirect_uri.clone(),
        mode: ar.response_mode,
        state: ar.state.clone(),
    }
}

fn redirect_error(back: &Back, e: &Aadsts, trace: &Trace, subcode: Option<&str>) -> Resp {
    let mut params = vec![("error".to_string(), e.error.to_string())];
    if let Some(s) = subcode {
        params.push(("error_subcode".into(), s.into()));
    }
    params.push(("error_description".into(), e.description(trace)));
    if let Some(s) = &back.state {
        params.push(("state".into(), s.clone()));
    }
    deliver(back, params)
}

/// 302 to the redirect URI (query or fragment), or a self-submitting form (form_post).
fn deliver(back: &Back, params: Vec<(String, String)>) -> Resp {
    if back.mode == ResponseMode::FormPost {
        return Resp::html(200, pages::form_post(&back.redirect_uri, &params));
    }
    let encoded = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    let sep = match back.mode {
        ResponseMode::Fragment => '#',
        _ if back.redirect_uri.contains('?') => '&',
        _ => '?',
    };
    Resp::redirect(&format!("{}{sep}{encoded}", back.redirect_uri))
}

/// Everything the sign-in page shows, except the pending request id.
fn signin_view(inner: &Inner, ar: &AuthRequest) -> SigninView {
    let cfg = &inner.cfg;
    let app = cfg.app(&ar.client_id);
    let tenant_label = match ar.path_tenant.as_deref().and_then(|t| cfg.tenant_by_id(t)) {
        Some(t) => format!("{} ({}, {})", t.name, t.domain, t.id),
        None => "your organization (common endpoint: the account you pick decides)".to_string(),
    };
    let mut permissions = match (&ar.flow, &ar.target) {
        (Flow::AdminConsent, _) => {
            let mut v = vec![format!(
                "Grant these application permissions for the whole organization: {}",
                app.map(|a| a.roles.join(", ")).unwrap_or_default()
            )];
            if let Some(s) = &ar.admin_scope {
                v.push(format!("Requested scope: {s}"));
            }
            v
        }
        (_, Target::V1 { resource }) => vec![
            format!(
                "Access {} on your behalf (v1 resource)",
                resource
                    .as_deref()
                    .unwrap_or("the APIs configured on the app")
            ),
            format!(
                "Delegated permissions: {}",
                app.map(|a| a.scopes.join(", ")).unwrap_or_default()
            ),
        ],
        (_, Target::V2(s)) => {
            let mut v: Vec<String> = if s.default {
                vec![format!(
                    "{}/.default: every permission the app is configured for",
                    s.resource()
                )]
            } else {
                s.permissions
                    .iter()
                    .map(|p| format!("{}/{p}", s.resource()))
                    .collect()
            };
            if s.openid() {
                v.push("Sign you in (openid)".into());
            }
            if s.offline_access() {
                v.push("Maintain access to data you have given it access to (offline_access: refresh token)".into());
            }
            v
        }
    };
    // prompt=consent / admin_consent (the Defender docs' v1 admin-consent link): accepting
    // records the tenant-wide consent, application permissions included.
    if ar.flow == Flow::Authorize
        && matches!(ar.prompt.as_deref(), Some("consent" | "admin_consent"))
    {
        permissions.push(format!(
            "Application permissions, granted for your whole organization: {}",
            app.map(|a| a.roles.join(", ")).unwrap_or_default()
        ));
    }
    let hinted = ar.login_hint.as_deref().and_then(|h| cfg.user(h));
    let preselected = match hinted {
        Some((_, u)) => u.upn.clone(),
        None => ar
            .path_tenant
            .as_deref()
            .and_then(|t| cfg.tenant_by_id(t))
            .unwrap_or(&cfg.tenants[0])
            .users[0]
            .upn
            .clone(),
    };
    // Generated tenants (--tenants N) are listed only when the request names them or a hint
    // picked one of their users: thousands of accounts would drown the page.
    // (They follow the configured ones, so this never walks them.)
    let mut shown: Vec<&crate::data::config::Tenant> = cfg
        .tenants
        .iter()
        .take_while(|t| t.generated.is_none())
        .collect();
    let extra = [
        ar.path_tenant.as_deref().and_then(|p| cfg.tenant_by_id(p)),
        cfg.user(&preselected).map(|(t, _)| t),
    ];
    for t in extra.into_iter().flatten() {
        if t.generated.is_some() && !shown.iter().any(|s| s.id == t.id) {
            shown.push(t);
        }
    }
    let mut groups: Vec<AccountGroup> = shown
        .into_iter()
        .map(|t| AccountGroup {
            tenant_label: format!("{} — {}", t.name, t.domain),
            other_org: ar.path_tenant.as_deref().is_some_and(|p| p != t.id),
            accounts: t
                .users
                .iter()
                .map(|u| AccountChoice {
                    upn: u.upn.clone(),
                    name: u.name.clone(),
                    checked: u.upn == preselected,
                })
                .collect(),
        })
        .collect();
    // The requested tenant first.
    groups.sort_by_key(|g| g.other_org);
    SigninView {
        request_id: String::new(),
        post_path: SIGNIN_PATH.to_string(),
        app_name: app.map(|a| a.name.clone()).unwrap_or_default(),
        client_id: ar.client_id.clone(),
        tenant_label,
        permissions,
        admin_consent: ar.flow == Flow::AdminConsent,
        groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_port_is_ignored_everything_else_exact() {
        let reg = vec![
            "http://localhost/SiemMsspConnector".to_string(),
            "https://mssp.example.com/SiemMsspConnector".to_string(),
            "http://127.0.0.1/cb".to_string(),
        ];
        assert!(redirect_matches(&reg, "http://localhost/SiemMsspConnector"));
        assert!(redirect_matches(
            &reg,
            "http://localhost:53117/SiemMsspConnector"
        ));
        assert!(redirect_matches(&reg, "http://127.0.0.1:8400/cb"));
        assert!(redirect_matches(
            &reg,
            "https://mssp.example.com/SiemMsspConnector"
        ));
        // Host, path, scheme and non-localhost ports are exact.
        assert!(!redirect_matches(
            &reg,
            "http://127.0.0.1:8400/SiemMsspConnector"
        ));
        assert!(!redirect_matches(
            &reg,
            "http://localhost:1/siemmsspconnector"
        ));
        assert!(!redirect_matches(
            &reg,
            "http://localhost:1/SiemMsspConnector/"
        ));
        assert!(!redirect_matches(
            &reg,
            "https://localhost:1/SiemMsspConnector"
        ));
        assert!(!redirect_matches(
            &reg,
            "https://mssp.example.com:8443/SiemMsspConnector"
        ));
        assert!(!redirect_matches(&reg, "https://SiemMsspConnector"));
        assert!(!redirect_matches(
            &reg,
            "http://[::1]:5000/SiemMsspConnector"
        ));
        assert!(!redirect_matches(
            &reg,
            "http://localhost:1/SiemMsspConnector?x=1"
        ));
        assert!(!redirect_matches(
            &reg,
            "http://localhost:1/Siem\nMsspConnector"
        ));
        assert!(!redirect_matches(
            &reg,
            "http://user@localhost:1/SiemMsspConnector"
        ));
    }
}
