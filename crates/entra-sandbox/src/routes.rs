//! The routing table: (method, path) -> handler. The route list with what each route does is in
//! the crate documentation (lib.rs).

use crate::handlers::{
    authorize, control, defender, devicecode, discovery, federation, graph, token,
};
use crate::http::{Req, Resp};
use crate::state::Inner;
use crate::store::{Flow, Version};

/// Routes one request.
pub(crate) fn dispatch(inner: &Inner, req: &Req) -> Resp {
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let get = req.method == "GET" || req.method == "HEAD";
    let either = get || req.method == "POST";
    match segs.as_slice() {
        ["sandbox", "signin"] if req.method == "POST" => authorize::signin_post(inner, req),
        ["sandbox", "device"] if get => devicecode::page(req),
        ["sandbox", "device"] if req.method == "POST" => devicecode::enter(inner, req),
        ["sandbox", "device", "signin"] if req.method == "POST" => devicecode::signin(inner, req),
        ["sandbox", "info"] if get => Resp::json(200, &inner.info()),
        ["sandbox", "stats"] if get => Resp::json(200, &inner.net.stats_json()),
        ["sandbox", "revoke-consent"] if req.method == "POST" => {
            control::revoke_consent(inner, req)
        }
        ["sandbox", "revoke-sessions"] if req.method == "POST" => {
            control::revoke_sessions(inner, req)
        }
        ["sandbox", "tamper"] if req.method == "POST" => control::tamper(inner, req),
        ["sandbox", "federated-token"] if req.method == "POST" => federation::mint(inner, req),
        [federation::OIDC_PATH, ".well-known", "openid-configuration"] if get => {
            federation::openid_configuration(inner)
        }
        [federation::OIDC_PATH, ".well-known", "jwks"] if get => federation::jwks(inner),
        ["sandbox", "graph", "touch"] if req.method == "POST" => graph::touch(inner, req),
        ["v1.0", "security", "alerts_v2"] => graph::handle(inner, req, graph::Which::Alerts),
        ["v1.0", "security", "incidents"] => graph::handle(inner, req, graph::Which::Incidents),
        ["v1.0", ..] => graph::error(
            req,
            404,
            "ResourceNotFound",
            "The sandbox serves only /v1.0/security/alerts_v2 and /v1.0/security/incidents.",
        ),
        ["api", "alerts"] => defender::handle(inner, req, defender::Which::Alerts),
        ["api", "incidents"] => defender::handle(inner, req, defender::Which::Incidents),
        ["api", ..] => defender::error(
            404,
            "ResourceNotFound",
            "The sandbox serves only /api/alerts and /api/incidents.",
        ),
        [t, "oauth2", "authorize"] if either => {
            authorize::authorize(inner, t, Version::V1, Flow::Authorize, req)
        }
        [t, "oauth2", "v2.0", "authorize"] if either => {
            authorize::authorize(inner, t, Version::V2, Flow::Authorize, req)
        }
        [t, "v2.0", "adminconsent"] if get => {
            authorize::authorize(inner, t, Version::V2, Flow::AdminConsent, req)
        }
        [t, "oauth2", "devicecode"] => devicecode::authorization(inner, t, Version::V1, req),
        [t, "oauth2", "v2.0", "devicecode"] => {
            devicecode::authorization(inner, t, Version::V2, req)
        }
        [t, "oauth2", "token"] => token::token(inner, t, Version::V1, req),
        [t, "oauth2", "v2.0", "token"] => token::token(inner, t, Version::V2, req),
        [t, "v2.0", ".well-known", "openid-configuration"] if get => {
            discovery::openid_configuration(inner, t, Version::V2)
        }
        [t, ".well-known", "openid-configuration"] if get => {
            discovery::openid_configuration(inner, t, Version::V1)
        }
        [t, "discovery", "v2.0", "keys"] if get => discovery::keys(inner, t, Version::V2),
        [t, "discovery", "keys"] if get => discovery::keys(inner, t, Version::V1),
        _ => Resp::plain_error(
            404,
            "not_found",
            "The mssp-token sandbox does not serve this path.",
        ),
    }
}
