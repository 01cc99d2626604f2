//! Redeeming a saved refresh token (optionally for another resource or scope) and writing the
//! rotated refresh token back to the same store entry, atomically, under the entry's lock.
//!
//! Entra invalidates the old refresh token the moment it answers, so the new one must never be
//! lost: the write is prepared before the redemption (a place that cannot be written stops us
//! while the old token still works), and if the final write fails anyway the new tokens are
//! kept beside the entry (`FILE.rescued-<time>`) or, failing that, printed on stdout as JSON,
//! and the message says where (exit 7). Concurrent refreshes of one entry queue on its lock;
//! each re-reads the entry under the lock and so redeems the newest refresh token.

use crate::authority::Authority;
use crate::entra::{EntraClient, EntraError};
use crate::error::{fail, usage, Exit};
use crate::http::Http;
use crate::identity::Identity;
use crate::store::TokenStore;
use crate::token::{Target, TokenSet};
use anyhow::Result;

/// Reads the saved set at `key`; its refresh token is required.
pub fn load(store: &dyn TokenStore, key: &str) -> Result<(TokenSet, String)> {
    let saved = store.get(key)?.ok_or_else(|| {
        fail(
            Exit::Storage,
            format!("{}: nothing saved there", store.location(key)),
        )
    })?;
    let rt = saved.refresh_token.clone().ok_or_else(|| {
        usage(format!(
            "{}: the file holds no refresh_token (app-only tokens have none; sign in with `mssp-token login --save FILE` to get one)",
            store.location(key)
        ))
    })?;
    crate::redacted::register(&rt);
    Ok((saved, rt))
}

/// Under the entry's lock: re-reads the saved set (another process may have rotated it
/// meanwhile), prepares the write, redeems its refresh token for `id.target` (with
/// `offline_access` on v2, so that Entra rotates it), checks the tenant, keeps the old refresh
/// token if Entra sent none, writes the new set back to `key` and returns it.
pub async fn redeem(
    http: &Http,
    id: &Identity,
    store: &dyn TokenStore,
    key: &str,
) -> Result<TokenSet> {
    let _lock = crate::store::lock::blocking(|| store.lock(key))?;
    let (saved, refresh_token) = crate::store::lock::blocking(|| load(store, key))?;
    let saved = &saved;
    // Before the old refresh token is spent: can the new one be written?
    let pending = store.prepare(key).map_err(|e| {
        fail(
            Exit::Storage,
            format!(
                "{e}\nNothing was redeemed: the saved refresh token still works. Fix the path and run refresh again."
            ),
        )
    })?;
    let target = id.target.clone().with_scopes(&["offline_access"]);
    let tenant_id = saved.tenant_id.to_ascii_lowercase();
    let entra = EntraClient::new(http, id);
    let mut set = match entra.refresh_token(&target, &refresh_token).await {
        Ok(set) => set,
        Err(e) => {
            return Err(explain_dead(
                e,
                saved,
                &target,
                &id.authority,
                store.sign_in_flags(key),
            ))
        }
    };
    crate::checks::tenant_is(
        &set,
        &tenant_id,
        &tenant_id,
        crate::checks::Source::TokenEndpoint,
    )?;
    if set.refresh_token.is_none() {
        // Entra always rotates; keep the old one rather than lose it.
        crate::warn!("Entra returned no new refresh token; keeping the old one in the file");
        set.refresh_token = saved.refresh_token.clone();
    }
    if let Err(e) = pending.write(&set) {
        return Err(keep_anyway(store, key, &set, e));
    }
    // Said by the callers (one line per refresh would flood `refresh --all`).
    crate::verbose!("refreshed {}", store.location(key));
    Ok(set)
}

/// The entry could not be written after Entra rotated the refresh token: keeps the new set
/// beside it, or prints it on stdout as JSON, and says where.
fn keep_anyway(
    store: &dyn TokenStore,
    key: &str,
    set: &TokenSet,
    write_error: anyhow::Error,
) -> anyhow::Error {
    let location = store.location(key);
    let headline = format!(
        "Entra rotated the refresh token, but the new one could not be saved: {write_error}.\nThe refresh token in {location} no longer works"
    );
    match store.rescue(key, set) {
        Ok(place) => fail(
            Exit::Storage,
            format!(
                "{headline}; the NEW tokens were saved to {place} (mode 0600) instead. {}",
                store.restore_hint(key, &place)
            ),
        ),
        Err(rescue_error) => {
            let printed = crate::output::stdout(&set.to_json());
            let how = if printed.is_ok() {
                "the NEW tokens are printed on standard output as JSON: save them (mode 0600) and use them as the token file"
            } else {
                "they could not be printed on standard output either; sign in again"
            };
            fail(
                Exit::Storage,
                format!("{headline}; keeping them beside it failed too ({rescue_error}); {how}."),
            )
        }
    }
}

/// The flags that name where a token came from: `--cloud NAME` for a cloud's own login host,
/// otherwise `--authority URL`.
pub fn origin_flags(authority: &Authority) -> String {
    match authority.cloud() {
        Some(c) => format!("--cloud {}", c.name()),
        None => format!("--authority {}", shell_words::quote(&authority.host())),
    }
}

/// The `login` command that replaces a saved set: same tenant, client, authority or cloud and
/// target, saved where the old one was (`save_flags`, from [`TokenStore::sign_in_flags`]).
pub fn sign_in_command(
    saved: &TokenSet,
    target: &Target,
    authority: &Authority,
    save_flags: &str,
) -> String {
    format!(
        "mssp-token login --tenant {} --client-id {} {} {} {}",
        saved.tenant_id,
        saved.client_id,
        origin_flags(authority),
        target.as_flags(),
        save_flags
    )
}

/// A dead refresh token gets the exact `login` command that replaces it.
fn explain_dead(
    e: anyhow::Error,
    saved: &TokenSet,
    target: &Target,
    authority: &Authority,
    save_flags: String,
) -> anyhow::Error {
    let dead = e
        .chain()
        .find_map(|c| c.downcast_ref::<EntraError>())
        .is_some_and(|x| x.refresh_token_is_dead());
    if !dead {
        return e;
    }
    e.context(fail(
        Exit::Entra,
        format!(
            "the saved refresh token can no longer be used; sign in again:\n  {}",
            sign_in_command(saved, target, authority, &save_flags)
        ),
    ))
}
