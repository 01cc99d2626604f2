//! The banner `mssp-token sandbox` prints on stderr: what is simulated, the tenants and apps,
//! the client files, and commands to try.

use crate::data::generate;
use crate::sandbox::Sandbox;
use crate::state::now;

/// The banner of `mssp-token sandbox` (stderr), after the info line (stdout).
pub(crate) fn banner(sb: &Sandbox) -> String {
    let inner = &sb.inner;
    let (client_id, secret) = sb.default_app();
    let (tid, domain) = sb.default_tenant();
    let info = sb.info();
    let mut s = String::new();
    s.push_str("mssp-token sandbox: a SIMULATED Microsoft Entra ID on loopback\n");
    s.push_str(
        "  simulated: tokens are valid nowhere else (own signing key, regenerated at each start)\n",
    );
    s.push_str(&format!("  authority   {}\n", inner.authority));
    s.push_str("  tenants\n");
    for t in info["tenants"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["generated"] != true)
    {
        let roles: Vec<&str> = t["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str())
            .collect();
        let users: Vec<&str> = t["users"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u.as_str())
            .collect();
        s.push_str(&format!(
            "    {:<18} {} {:<32} {}  users: {}\n",
            t["name"].as_str().unwrap_or(""),
            t["id"].as_str().unwrap_or(""),
            t["domain"].as_str().unwrap_or(""),
            if t["consented"].as_bool() == Some(true) {
                format!("consented, roles [{}]", roles.join(", "))
            } else {
                "NOT consented".to_string()
            },
            users.join(", ")
        ));
    }
    if inner.generated > 0 {
        let n = inner.generated;
        s.push_str(&format!(
            "    + {n} generated tenants: {} ... {} (Tenant 00001 ...; admin@<domain>)\n      mix: {}\n",
            generate::domain(1),
            generate::domain(n),
            generate::MIX_RULE
        ));
    }
    s.push_str("  apps\n");
    for a in &inner.cfg.apps {
        let n = now();
        let expired = !a.secrets.is_empty() && a.secrets.iter().all(|x| x.is_expired(n));
        s.push_str(&format!(
            "    {} ({}{})\n      client id     {}\n      client secret {}{}\n      redirect URIs {}\n",
            a.name,
            if a.multi_tenant { "multi-tenant" } else { "single-tenant" },
            if a.public_client { ", public client" } else { "" },
            a.client_id,
            a.secrets.first().map(|x| x.value.as_str()).unwrap_or("(none)"),
            if expired { "  (EXPIRED)" } else { "" },
            a.redirect_uris.join(" ")
        ));
    }
    let f = &inner.files;
    s.push_str(&format!(
        "  main app certificate  {} (PEM: certificate + key)\n                        {} (PFX, password {})\n                        thumbprint {} (x5t#S256 {})\n",
        f.cert_pem.display(),
        f.pfx.display(),
        f.pfx_password,
        f.cert.sha1_hex,
        f.cert.s256
    ));
    s.push_str(&format!(
        "  federated token       {} (issuer {}, subject {}; more from POST {}/sandbox/federated-token)\n",
        f.federated_token_file.display(),
        f.federated_issuer,
        f.federated_subject,
        inner.authority
    ));
    s.push_str(&format!(
        "  Defender API          {}/api/alerts, {}/api/incidents{}\n",
        inner.authority,
        inner.authority,
        inner
            .api
            .rate_limit()
            .map(|n| format!(" ({n} requests per minute per tenant)"))
            .unwrap_or_default()
    ));
    s.push_str(&format!(
        "  try: AZURE_CLIENT_SECRET='{secret}' mssp-token token --authority {} --tenant {domain} --client-id {client_id} --scope https://api.securitycenter.microsoft.com/.default\n",
        inner.authority
    ));
    s.push_str(&format!(
        "       mssp-token token --authority {} --tenant {domain} --client-id {client_id} --certificate {}\n",
        inner.authority,
        f.cert_pem.display()
    ));
    s.push_str(&format!(
        "       mssp-token token --authority {} --tenant {domain} --client-id {client_id} --federated-token-file {}\n",
        inner.authority,
        f.federated_token_file.display()
    ));
    s.push_str(&format!("  main tenant: {domain} ({tid})\n"));
    if let Some(ca) = &inner.ca_file {
        s.push_str(&format!(
            "  TLS: trust the sandbox CA {} (--ca-file, curl --cacert, MSAL verify=)\n",
            ca.display()
        ));
    }
    if let Some((f, l)) = &inner.tenants_file {
        s.push_str(&format!(
            "  tenants file          {} (plain list {}); legacy-app tenants read ${}\n",
            f.display(),
            l.display(),
            generate::LEGACY_SECRET_ENV
        ));
    }
    let net = &inner.net;
    if let Some(f) = &net.faults {
        s.push_str(&format!(
            "  faults                {} (seed {}, Retry-After {} s, stall {} s)\n",
            f.spec.to_json(),
            f.seed,
            net.retry_after,
            net.stall.as_secs()
        ));
    }
    if !net.latency.is_zero() {
        s.push_str(&format!(
            "  latency               +{} ms on token and API responses\n",
            net.latency.as_millis()
        ));
    }
    s.push_str(&format!(
        "  server                {} worker threads; counters at {}/sandbox/stats\n",
        net.threads, inner.authority
    ));
    s.push_str("  Ctrl-C to stop.");
    s
}
