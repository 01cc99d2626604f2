//! GET /sandbox/info and the first line `mssp-token sandbox` prints: the authority, tenants,
//! apps and their secrets, the client files, and the server's settings, as one JSON object.

use crate::data::generate;
use crate::state::{now, Inner};
use serde_json::{json, Value};

impl Inner {
    /// The first-line JSON object of the `sandbox` command.
    pub(crate) fn info(&self) -> Value {
        let store = self.lock();
        let main_app = &self.cfg.apps[0];
        let now = now();
        let tenants: Vec<Value> = self
            .cfg
            .tenants
            .iter()
            .map(|t| {
                let grant = store.grant(&t.id, &main_app.client_id);
                json!({
                    "id": t.id,
                    "domain": t.domain,
                    "name": t.name,
                    "consented": grant.is_some(),
                    "roles": grant.map(|g| g.roles.clone()).unwrap_or_default(),
                    "users": t.users.iter().map(|u| u.upn.clone()).collect::<Vec<_>>(),
                    "home_of_apps": self.cfg.apps.iter().filter(|a| a.home_tenant == t.id)
                        .map(|a| a.client_id.clone()).collect::<Vec<_>>(),
                    "generated": t.generated.is_some(),
                    "state": t.generated.map(generate::Mix::label),
                })
            })
            .collect();
        let apps: Vec<Value> = self
            .cfg
            .apps
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let live = a.secrets.iter().find(|s| !s.is_expired(now));
                let shown = live.or(a.secrets.first());
                let mut v = json!({
                    "client_id": a.client_id,
                    "client_secret": shown.map(|s| s.value.clone()),
                    "secret_expired": live.is_none() && !a.secrets.is_empty(),
                    "redirect_uris": a.redirect_uris,
                    "multi_tenant": a.multi_tenant,
                    "name": a.name,
                    "home_tenant": a.home_tenant,
                    "public_client": a.public_client,
                    "federated_credentials": a.federated_credentials.iter().map(|f| json!({
                        "name": f.name, "issuer": f.issuer, "subject": f.subject,
                        "audience": f.audience,
                    })).collect::<Vec<_>>(),
                });
                if i == 0 {
                    let f = &self.files;
                    let extra = json!({
                        "certificate_file": f.cert_pem,
                        "pfx_file": f.pfx,
                        "pfx_password": f.pfx_password,
                        "pfx_password_file": f.pfx_password_file,
                        "certificate_thumbprint_s256": f.cert.s256,
                        "certificate_thumbprint": f.cert.sha1_hex,
                        "federated_token_file": f.federated_token_file,
                        "federated_issuer": f.federated_issuer,
                        "federated_subject": f.federated_subject,
                    });
                    if let (Some(m), Value::Object(e)) = (v.as_object_mut(), extra) {
                        m.extend(e);
                    }
                }
                v
            })
            .collect();
        let net = &self.net;
        let legacy = generate::legacy_app(&self.cfg, now).map(|a| a.client_id.clone());
        json!({
            "authority": self.authority,
            "api_base": self.authority,
            "ca_file": self.ca_file,
            "tls": net.tls,
            "sandbox": true,
            "simulated": "tokens are valid nowhere else",
            "federated_token_endpoint": format!("{}/sandbox/federated-token", self.authority),
            "stats_url": format!("{}/sandbox/stats", self.authority),
            "rate_limit_per_minute": self.api.rate_limit(),
            "graph_requests_per_minute": self.graph.rate_limit(),
            "graph_alerts_per_tenant": self.cfg.graph_alerts_per_tenant,
            "graph_max_top": self.cfg.graph_max_top,
            "graph_retry_after_date": self.cfg.graph_retry_after_date,
            "graph_touch_url": format!("{}/sandbox/graph/touch", self.authority),
            "generated_tenants": self.generated,
            "tenant_mix": (self.generated > 0).then_some(generate::MIX_RULE),
            "legacy_client_id": legacy,
            "legacy_secret_env": generate::LEGACY_SECRET_ENV,
            "tenants_file": self.tenants_file.as_ref().map(|(f, _)| f),
            "tenants_list_file": self.tenants_file.as_ref().map(|(_, l)| l),
            "faults": net.faults.as_ref().map(|f| f.spec.to_json()),
            "fault_seed": net.faults.as_ref().map(|f| f.seed),
            "retry_after_secs": net.retry_after,
            "stall_secs": net.stall.as_secs(),
            "latency_ms": net.latency.as_millis() as u64,
            "threads": net.threads,
            "tenants": tenants,
            "apps": apps,
        })
    }
}
