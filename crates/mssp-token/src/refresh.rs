//! `mssp-token refresh --from FILE`: redeems a saved refresh token (optionally for another
//! resource or scope) and writes the rotated refresh token back, atomically.

use crate::cli::RefreshArgs;
use crate::entra::{self, target_param};
use crate::error::{fail, usage, Exit};
use crate::http::Http;
use crate::identity;
use crate::token::{now_epoch, Target, TokenSet};
use anyhow::Result;
use oauth2::RefreshToken;

pub async fn run(mut args: RefreshArgs) -> Result<()> {
    let saved = read_saved(&args.from)?;
    let rt = saved.refresh_token.clone().ok_or_else(|| {
        usage(format!(
            "--from {}: the file holds no refresh_token (app-only tokens have none; sign in with `mssp-token login --save FILE` to get one)",
            args.from.display()
        ))
    })?;
    crate::redacted::register(&rt);
    // Tenant, client and target come from the file unless given.
    let id_args = &mut args.identity;
    if id_args.tenant.is_none() {
        id_args.tenant = Some(saved.tenant_id.clone());
    }
    if id_args.client_id.is_none() {
        id_args.client_id = Some(saved.client_id.clone());
    }
    let saved_target = match (&saved.resource, &saved.scope) {
        (Some(r), _) => Target::Resource(r.clone()),
        (None, Some(s)) => Target::Scopes(
            s.split_whitespace()
                .filter(|x| *x != "offline_access" && *x != "openid")
                .map(str::to_string)
                .collect(),
        ),
        (None, None) => {
            return Err(usage(format!(
            "--from {}: the file names neither a resource nor a scope; pass --resource or --scope",
            args.from.display()
        )))
        }
    };
    let mut id = identity::resolve(&args.identity, &saved_target)?;
    if let Target::Scopes(s) = &mut id.target {
        if !s.iter().any(|x| x == "offline_access") {
            s.push("offline_access".into());
        }
    }
    let tenant_id = saved.tenant_id.to_ascii_lowercase();
    let http = Http::new(args.identity.ca_file.as_deref())?;
    let client = entra::client(&id, None)?;
    let token_url = id.authority.token_url(id.target.version()).to_string();
    let auth = id.credential.assertion_params(&id.client_id, &token_url)?;
    let sent_at = now_epoch();
    let (k, v) = target_param(&id.target);
    let refresh = RefreshToken::new(rt);
    let (client, refresh) = (&client, &refresh);
    let result = entra::request(&http, |f| async move {
        let call = f.call();
        let mut req = client.exchange_refresh_token(refresh).add_extra_param(k, v);
        for (name, value) in auth {
            req = req.add_extra_param(name, value);
        }
        req.request_async(&call).await
    })
    .await;
    let response = match result {
        Ok(r) => r,
        Err(e) => return Err(explain_dead(e, &args, &saved, &id.target)),
    };
    let mut set =
        TokenSet::from_response(&response, &id.target, &tenant_id, &id.client_id, sent_at);
    crate::checks::tenant_matches(&set, &tenant_id, &tenant_id)?;
    if set.refresh_token.is_none() {
        // Entra always rotates; keep the old one rather than lose it.
        crate::log::warn("Entra returned no new refresh token; keeping the old one in the file");
        set.refresh_token = saved.refresh_token.clone();
    }
    crate::storage::write_atomic(&args.from, crate::output::json(&set).as_bytes())?;
    crate::log::info(&format!(
        "Refreshed; the new refresh token is saved in {} (the old one no longer works).",
        args.from.display()
    ));
    crate::login::deliver(
        &set,
        &crate::cli::OutputArgs {
            output: args.output,
            save: None,
        },
    )
}

fn read_saved(path: &std::path::Path) -> Result<TokenSet> {
    let bytes = crate::storage::read(path, "--from")?;
    serde_json::from_slice::<TokenSet>(&bytes).map_err(|e| {
        let what = if e.is_syntax() || e.is_eof() {
            "not valid JSON".to_string()
        } else {
            // serde's message names the field ("missing field `tenant_id`"), never a value.
            let m = e.to_string();
            if m.starts_with("missing field") {
                m.split(" at line").next().unwrap_or("").to_string()
            } else {
                "a field has the wrong type".to_string()
            }
        };
        usage(format!(
            "--from {}: not a token file saved by mssp-token ({what})",
            path.display()
        ))
    })
}

fn explain_dead(
    e: anyhow::Error,
    args: &RefreshArgs,
    saved: &TokenSet,
    target: &Target,
) -> anyhow::Error {
    let dead = e
        .chain()
        .find_map(|c| c.downcast_ref::<crate::aadsts::EntraError>())
        .is_some_and(|x| x.refresh_token_is_dead());
    if !dead {
        return e;
    }
    let what = match target {
        Target::Resource(r) => format!("--resource {r}"),
        Target::Scopes(s) => s
            .iter()
            .filter(|x| !crate::identity::is_oidc_scope(x))
            .map(|x| format!("--scope {x}"))
            .collect::<Vec<_>>()
            .join(" "),
    };
    e.context(fail(
        Exit::Entra,
        format!(
            "the saved refresh token can no longer be used; sign in again:\n  mssp-token login --tenant {} --client-id {} {what} --save {}",
            saved.tenant_id,
            saved.client_id,
            args.from.display()
        ),
    ))
}
