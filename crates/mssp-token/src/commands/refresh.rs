//! `mssp-token refresh`: redeems a saved refresh token (optionally for another resource or
//! scope) at the authority the saved set records, and stores the rotated one:
//! - `--from FILE`: back to the file;
//! - `--profile NAME`: back to the profile;
//! - `--from FILE --profile NAME`: imports the file into the profile (the rotated tokens go to
//!   the profile; the file's refresh token stops working);
//! - `--all`: every profile of the store (flows::keep_alive).

use crate::args::{self, DefaultTarget};
use crate::cli::{IdentityArgs, RefreshArgs};
use anyhow::Result;
use mssp_token_client::apis::ApiTarget;
use mssp_token_client::error::{at, usage};
use mssp_token_client::flows::{keep_alive, refresh};
use mssp_token_client::store::file::TokenFiles;
use mssp_token_client::store::profiles::{Profile, ProfileKind, Profiles};
use mssp_token_client::store::TokenStore;
use mssp_token_client::token::{Target, TokenSet};

pub async fn run(mut a: RefreshArgs) -> Result<()> {
    if a.all {
        return all(&a).await;
    }
    let (from, profile_name) = (a.from.clone(), a.profile.clone());
    match (from, profile_name) {
        (Some(path), None) => {
            let key = path.to_string_lossy().into_owned();
            let store = TokenFiles;
            let (saved, _) = refresh::load(&store, &key).map_err(|e| at("--from", e))?;
            let shown = path.display().to_string();
            fill_from_saved(&mut a.identity, &saved, &format!("--from {shown}"))?;
            args::refresh_origin(&mut a.identity, &saved, &shown)?;
            redeem_and_print(&a, &store, &key, false).await
        }
        (None, Some(name)) => {
            let name = args::profile_name(&name)?;
            let store = args::profiles(&a.store)?;
            let saved = store.load(&name)?.set;
            let shown = format!("profile {name}");
            fill_from_saved(&mut a.identity, &saved, &format!("--profile {name}"))?;
            args::refresh_origin(&mut a.identity, &saved, &shown)?;
            redeem_and_print(&a, &store, &name, super::is_partner(&store, &name)).await
        }
        (Some(path), Some(name)) => {
            // Import: the file's set becomes the profile, then it is refreshed there, so that the
            // profile holds the only working refresh token.
            let name = args::profile_name(&name)?;
            let store = args::profiles(&a.store)?;
            let (saved, _) = refresh::load(&TokenFiles, &path.to_string_lossy())
                .map_err(|e| at("--from", e))?;
            if store.exists(&name) {
                return Err(usage(format!(
                    "--profile {name} already exists in the {} store; choose another name, or `mssp-token logout --profile {name}` first",
                    store.kind().name()
                )));
            }
            let shown = path.display().to_string();
            fill_from_saved(&mut a.identity, &saved, &format!("--from {shown}"))?;
            args::refresh_origin(&mut a.identity, &saved, &shown)?;
            {
                let _lock = store.lock(&name)?;
                // Again under the lock: a sign-in may have saved it since the check above.
                if store.exists(&name) {
                    return Err(usage(format!(
                        "--profile {name} was just created by another mssp-token; nothing was imported"
                    )));
                }
                let mut imported = saved.clone();
                if imported.authority.is_none() {
                    // An older file: record where it is refreshed from now on.
                    let id = args::identity(&a.identity, DefaultTarget::Resource(ApiTarget::Mde))?;
                    imported = imported.issued_by(&id.authority);
                }
                store.save(&Profile::new(
                    &name,
                    imported,
                    ProfileKind::Delegated,
                    mssp_token_client::time::now_epoch(),
                ))?;
            }
            if let Err(e) = redeem_and_print(&a, &store, &name, false).await {
                undo_import(&store, &name, &saved);
                return Err(e);
            }
            mssp_token_client::info!(
                "Imported {} into profile {name}; the refresh token in the file no longer works, so delete the file.",
                path.display()
            );
            Ok(())
        }
        (None, None) => Err(usage(
            "say what to refresh: --from FILE (a token file), --profile NAME, or --all (every profile)",
        )),
    }
}

/// A failed import leaves no profile behind that still holds the file's refresh token (the
/// file keeps it, working or as dead as it was); a profile that took a rotated one stays.
fn undo_import(store: &Profiles, name: &str, saved: &TokenSet) {
    let Ok(_lock) = store.lock(name) else { return };
    let holds_the_files_token = store
        .load(name)
        .map(|p| p.set.refresh_token == saved.refresh_token)
        .unwrap_or(false);
    if holds_the_files_token {
        let _ = store.delete(name);
    }
}

/// Tenant, client and target come from the saved set unless given.
fn fill_from_saved(id_args: &mut IdentityArgs, saved: &TokenSet, source: &str) -> Result<()> {
    match &id_args.tenant {
        None => id_args.tenant = Some(saved.tenant_id.clone()),
        // A tenant ID that is not the saved one would send the refresh token to another
        // customer's tenant (and the answer would be refused after the token was spent).
        Some(t)
            if mssp_token_client::authority::is_guid(t.trim())
                && !t.trim().eq_ignore_ascii_case(&saved.tenant_id) =>
        {
            return Err(mssp_token_client::error::fail(
                mssp_token_client::error::Exit::Check,
                format!(
                    "{source} holds a session of tenant {}, but --tenant (or AZURE_TENANT_ID) says {}; nothing was sent. Drop --tenant (unset AZURE_TENANT_ID), or pick the file or profile of that tenant",
                    saved.tenant_id,
                    mssp_token_client::authority::printable(t.trim())
                ),
            ));
        }
        Some(_) => {}
    }
    if id_args.client_id.is_none() {
        id_args.client_id = Some(saved.client_id.clone());
    }
    if id_args.scope.is_empty() && id_args.resource.is_none() {
        match saved.target() {
            Some(Target::Resource(r)) => id_args.resource = Some(r),
            Some(Target::Scopes(s)) => id_args.scope = s,
            None => {
                return Err(usage(format!(
                    "{source}: it names neither a resource nor a scope; pass --resource or --scope"
                )))
            }
        }
    }
    Ok(())
}

/// `partner`: the refresh token is a partner session's, so it is not printed (see `shown`).
async fn redeem_and_print(
    a: &RefreshArgs,
    store: &dyn TokenStore,
    key: &str,
    partner: bool,
) -> Result<()> {
    let id = args::identity(&a.identity, DefaultTarget::Resource(ApiTarget::Mde))?;
    let http = args::http(a.identity.ca_file.as_deref())?;
    let set = refresh::redeem(&http, &id, store, key).await?;
    mssp_token_client::info!(
        "Refreshed; the new refresh token is saved in {} (the old one no longer works).",
        store.location(key)
    );
    mssp_token_client::output::print(&super::shown(&set, partner), args::format(a.output))
}

/// `refresh --all`: every profile of the store.
async fn all(a: &RefreshArgs) -> Result<()> {
    let store = args::profiles(&a.store)?;
    let credential = args::credential(&a.identity)?;
    let http = args::http(a.identity.ca_file.as_deref())?;
    keep_alive::run(
        &http,
        store,
        credential,
        keep_alive::Options {
            concurrency: a.concurrency as usize,
            deadline: std::time::Duration::from_secs(a.deadline),
        },
    )
    .await
}
