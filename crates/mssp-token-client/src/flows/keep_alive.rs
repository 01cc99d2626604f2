//! `refresh --all`: keeps every profile's session alive. Each profile's refresh token is
//! redeemed (which rotates it and restarts Entra's 90-day inactivity clock) and written back,
//! at most `concurrency` at once, each within its own deadline. One line per profile on stdout
//! (NDJSON), as each finishes; a summary on stderr; exit 8 if some failed. A dead session (the
//! "needs login" answers) is reported with `needs_login: true` and the exact `login` command
//! for that customer, recorded in the profile for `status`, and never stops the others.

use crate::credentials::Credential;
use crate::entra::EntraError;
use crate::error::{exit_code_of, fail, Exit};
use crate::http::Http;
use crate::store::profiles::{LastError, ProfileKind, Profiles};
use crate::store::TokenStore;
use anyhow::Result;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Options {
    pub concurrency: usize,
    /// Per profile, from its first request.
    pub deadline: Duration,
}

/// One profile's line.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub profile: String,
    pub tenant_id: Option<String>,
    pub status: &'static str,
    pub needs_login: bool,
    /// The command that signs in again (when `needs_login`).
    pub command: Option<String>,
    pub error: Option<String>,
    pub aadsts: Option<u64>,
    /// The new access token's expiry.
    pub expires_at: Option<String>,
    pub elapsed_ms: u64,
}

/// Refreshes every profile of `store`; Err (exit 8) when some failed, after every line.
pub async fn run(
    http: &Http,
    store: Profiles,
    credential: Credential,
    opts: Options,
) -> Result<()> {
    let names = store.names()?;
    if names.is_empty() {
        crate::info!(
            "No profiles in the {} store ({}): nothing to refresh. Save one with `mssp-token login --profile NAME`.",
            store.kind().name(),
            store.dir().display()
        );
        return Ok(());
    }
    let total = names.len();
    let store = Arc::new(store);
    let mut stdout_error = None;
    let results = crate::flows::fan_out::run(
        names.clone(),
        opts.concurrency,
        "profiles",
        |name| {
            let (store, http, credential) = (store.clone(), http.clone(), credential.clone());
            let deadline = opts.deadline;
            async move { one(&http, &store, &name, credential, deadline).await }
        },
        |i, why| Outcome {
            profile: names.get(i).cloned().unwrap_or_default(),
            tenant_id: None,
            status: "failed",
            needs_login: false,
            command: None,
            error: Some(format!("internal error: {why}")),
            aadsts: None,
            expires_at: None,
            elapsed_ms: 0,
        },
        |o: &Outcome| {
            let mut line = serde_json::to_string(o).unwrap_or_default();
            line.push('\n');
            if let Err(e) = crate::output::stdout(&line) {
                stdout_error.get_or_insert(e);
            }
        },
    )
    .await;
    if let Some(e) = stdout_error {
        return Err(e);
    }
    let failed: Vec<&Outcome> = results.iter().filter(|o| o.status != "ok").collect();
    let dead: Vec<&Outcome> = failed.iter().copied().filter(|o| o.needs_login).collect();
    crate::info!(
        "Refreshed {} of {total} profiles; {} failed{}.",
        total - failed.len(),
        failed.len(),
        if dead.is_empty() {
            String::new()
        } else {
            format!(
                ", {} {} a person to sign in again ({})",
                dead.len(),
                if dead.len() == 1 { "needs" } else { "need" },
                dead.iter()
                    .map(|o| o.profile.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    for o in &dead {
        if let Some(c) = &o.command {
            crate::info!("  {}: {c}", o.profile);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(fail(
            Exit::SomeFailed,
            format!(
                "{} of {total} profiles could not be refreshed",
                failed.len()
            ),
        ))
    }
}

async fn one(
    http: &Http,
    store: &Profiles,
    name: &str,
    credential: Credential,
    deadline: Duration,
) -> Outcome {
    let started = Instant::now();
    let mut out = Outcome {
        profile: name.to_string(),
        tenant_id: None,
        status: "failed",
        needs_login: false,
        command: None,
        error: None,
        aadsts: None,
        expires_at: None,
        elapsed_ms: 0,
    };
    let result = async {
        let profile = store.load(name)?;
        out.tenant_id = Some(profile.set.tenant_id.clone());
        let id = crate::flows::profile::identity_of(&profile.set, credential, None)?;
        let mut command = crate::flows::refresh::sign_in_command(
            &profile.set,
            &id.target,
            &id.authority,
            &store.sign_in_flags(name),
        );
        if profile.history.kind == ProfileKind::Partner {
            command.push_str(" --partner");
        }
        out.command = Some(command);
        match tokio::time::timeout(
            deadline,
            crate::flows::refresh::redeem(http, &id, store, name),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(fail(
                Exit::Network,
                format!("no answer within the deadline of {} s", deadline.as_secs()),
            )),
        }
    }
    .await;
    out.elapsed_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(set) => {
            out.status = "ok";
            out.expires_at = Some(set.expires_at.clone());
            out.command = None;
        }
        Err(e) => {
            let entra = e.chain().find_map(|c| c.downcast_ref::<EntraError>());
            out.needs_login = entra.is_some_and(|x| x.needs_login());
            out.aadsts = entra.and_then(|x| x.code);
            if !out.needs_login {
                out.command = None;
            }
            let message = crate::redacted::scrub(&one_line(&e));
            out.error = Some(message.clone());
            // Recorded for `status` (best effort: a store that cannot be written is already
            // the error being reported).
            if exit_code_of(&e) != Exit::Storage as i32 {
                if let Ok(_lock) = store.lock(name) {
                    let _ = store.record_error(
                        name,
                        LastError {
                            at: crate::time::now_epoch(),
                            message,
                            aadsts: out.aadsts,
                            needs_login: out.needs_login,
                        },
                    );
                }
            }
        }
    }
    out
}

/// The error chain on one line, outermost first, without the sign-in command (it has its own
/// field), runs of spaces collapsed, at most [`MAX_ERROR`] characters (cut at a word).
fn one_line(e: &anyhow::Error) -> String {
    let causes: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    let words: Vec<&str> = causes
        .iter()
        .flat_map(|c| c.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("mssp-token login "))
        .flat_map(str::split_whitespace)
        .collect();
    let mut out = String::new();
    for w in words {
        if out.chars().count() + 1 + w.chars().count() > MAX_ERROR {
            out.push_str(" …");
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// The longest `error` of a line.
const MAX_ERROR: usize = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_one_line_without_the_sign_in_command() {
        let e = anyhow::anyhow!("AADSTS50173: revoked\n  meaning:   the grant was revoked")
            .context("sign in again:\n  mssp-token login --tenant t --profile p");
        assert_eq!(
            one_line(&e),
            "sign in again: AADSTS50173: revoked meaning: the grant was revoked"
        );
        let long = anyhow::anyhow!("{}", "word ".repeat(400));
        let line = one_line(&long);
        assert!(line.chars().count() <= MAX_ERROR + 2, "{}", line.len());
        assert!(line.ends_with("word …"), "{line}");
    }
}
