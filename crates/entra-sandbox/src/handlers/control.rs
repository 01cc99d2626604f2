//! Sandbox-only controls for tests and rehearsals (no Entra equivalent on these paths):
//! POST /sandbox/revoke-consent (tenant, client_id) removes an app's consent in a tenant;
//! POST /sandbox/revoke-sessions (tenant[, upn]) revokes refresh tokens (AADSTS50173 next);
//! POST /sandbox/tamper (a JSON spec, see tamper.rs) makes the next answers hostile.

use crate::http::{Req, Resp};
use crate::state::{Inner, TenantSel};
use serde_json::json;

fn tenant(inner: &Inner, seg: Option<&str>) -> Result<String, Resp> {
    match seg.map(|s| inner.resolve_tenant(s)) {
        Some(TenantSel::Id(t)) => Ok(t),
        _ => Err(Resp::plain_error(
            400,
            "invalid_request",
            "form field 'tenant' must be a configured tenant (GUID or domain)",
        )),
    }
}

pub fn revoke_consent(inner: &Inner, req: &Req) -> Resp {
    let f = req.form_params();
    let tid = match tenant(inner, f.get("tenant")) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some(app) = f.get("client_id").and_then(|c| inner.cfg.app(c)) else {
        return Resp::plain_error(
            400,
            "invalid_request",
            "form field 'client_id' must be a configured app",
        );
    };
    let revoked = inner.lock().revoke_consent(&tid, &app.client_id);
    Resp::json(
        200,
        &json!({"tenant": tid, "client_id": app.client_id, "revoked": revoked}),
    )
}

pub fn revoke_sessions(inner: &Inner, req: &Req) -> Resp {
    let f = req.form_params();
    let tid = match tenant(inner, f.get("tenant")) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let n = inner.lock().revoke_sessions(&tid, f.get("upn"));
    Resp::json(200, &json!({"tenant": tid, "revoked_refresh_tokens": n}))
}

pub fn tamper(inner: &Inner, req: &Req) -> Resp {
    let spec: serde_json::Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => {
            return Resp::plain_error(
                400,
                "invalid_request",
                &format!("the body must be a JSON tamper spec: {e}"),
            )
        }
    };
    match inner.net.tampers.push(&spec) {
        Ok(n) => Resp::json(200, &json!({"queued": n})),
        Err(e) => Resp::plain_error(400, "invalid_request", &format!("{e:#}")),
    }
}
