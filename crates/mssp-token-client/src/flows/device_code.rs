//! The device code sign-in (`login --device-code`), for machines without a browser: tenant
//! resolved -> device code asked for -> the code and URL shown on stderr -> the token endpoint
//! polled at `interval` (plus 5 s per `slow_down`) until someone signs in elsewhere, the person
//! declines, the code expires or `wait` runs out -> tenant check. The caller prints or saves
//! the result, as after [`super::auth_code::sign_in`].

use super::auth_code::SignedIn;
use crate::entra::device_code::{DeviceAuthorization, Poll, SLOW_DOWN_STEP};
use crate::entra::{EntraClient, EntraError};
use crate::error::{fail, Exit};
use crate::http::Http;
use crate::identity::Identity;
use anyhow::Result;
use std::time::{Duration, Instant};

/// The alternatives when the device code flow is not allowed, for the error messages.
pub const ALTERNATIVES: &str = "sign in with the browser flow instead: on a remote machine, `mssp-token login --port N` with `ssh -L N:localhost:N` from your desk (then open the printed URL locally), or paste mode (`mssp-token login --no-browser`, open the URL anywhere and paste back the address the browser landed on)";

/// One device code sign-in.
pub struct DeviceSignIn {
    pub identity: Identity,
    /// Seconds to wait for the person (the code's own `expires_in` also bounds it).
    pub wait: u64,
    /// Called once the code is known (URL, user code): the sandbox's simulated user.
    pub on_code: Option<Box<dyn FnOnce(String, String) + Send>>,
}

/// Runs the sign-in. As for `login`, v2 scopes get `offline_access` and `openid`.
pub async fn sign_in(http: &Http, req: DeviceSignIn) -> Result<SignedIn> {
    let mut id = req.identity;
    id.target = id.target.with_scopes(&["offline_access", "openid"]);
    let tenant_id = crate::entra::discovery::resolve_tenant_id(http, &id.authority).await?;
    let asked = id.authority.tenant.as_str().to_string();
    crate::verbose!(
        "tenant {asked} is {tenant_id}; {} endpoint; device code; {}",
        id.target.version().label(),
        id.credential.describe()
    );
    let entra = EntraClient::new(http, &id);
    let device = entra.device_authorization(&id.target).await?;
    let started = Instant::now();
    show(&device, &asked, &tenant_id);
    if let Some(f) = req.on_code {
        f(
            device.verification_uri.to_string(),
            device.user_code.clone(),
        );
    }
    let limit = Duration::from_secs(device.expires_in.min(req.wait));
    let mut interval = device.interval;
    loop {
        let pause = Duration::from_secs(interval);
        if started.elapsed() + pause > limit {
            return Err(timed_out(&device, req.wait));
        }
        tokio::time::sleep(pause).await;
        let poll = entra
            .device_code_poll(&id.target, &device)
            .await
            .map_err(explain)?;
        match poll {
            Poll::Pending => crate::verbose!("device code: authorization pending"),
            Poll::SlowDown => {
                interval += SLOW_DOWN_STEP;
                crate::verbose!("device code: slow_down, polling every {interval} s now");
            }
            Poll::Declined(e) => {
                return Err(person_failed(
                    "the sign-in was declined on the device code page; run the command again and accept",
                    &e,
                ))
            }
            Poll::Expired(e) => {
                return Err(person_failed(
                    "the device code expired before anyone signed in; run the command again and enter the new code within its lifetime",
                    &e,
                ))
            }
            Poll::Done(set) => {
                crate::checks::tenant_matches(&set, &tenant_id, &asked)?;
                if set.refresh_token.is_none() {
                    crate::warn!("Entra returned no refresh token");
                }
                return Ok(SignedIn {
                    set: *set,
                    tenant_id,
                });
            }
        }
    }
}

/// The code and the URL on stderr (stdout stays the result), with Entra's own message.
fn show(d: &DeviceAuthorization, asked: &str, tenant_id: &str) {
    let minutes = d.expires_in.div_ceil(60);
    crate::info!(
        "Device code sign-in to tenant {asked} ({tenant_id}). On any device with a browser, open\n\n  {}\n\nand enter the code\n\n  {}\n\n(the code is valid for {minutes} minute(s); waiting for the sign-in)",
        d.verification_uri,
        d.user_code
    );
    if let Some(m) = &d.message {
        crate::info!("Entra ID says: {m}");
    }
}

/// Declined and expired are the person's doing: exit 4, with Entra's answer below.
fn person_failed(what: &str, e: &EntraError) -> anyhow::Error {
    fail(Exit::Interaction, format!("{what}\n  caused by: {e}"))
}

fn timed_out(d: &DeviceAuthorization, wait: u64) -> anyhow::Error {
    let why = if d.expires_in <= wait {
        format!(
            "the device code expired ({} s) before anyone signed in",
            d.expires_in
        )
    } else {
        format!("no sign-in within --wait {wait} s")
    };
    fail(
        Exit::Interaction,
        format!("{why}; run the command again and enter the new code in time"),
    )
}

/// A refused poll: Conditional Access and "no public client flows" are explained with the way
/// around them (the browser flows), keeping Entra's answer and its exit code (3).
fn explain(e: anyhow::Error) -> anyhow::Error {
    let Some(entra) = e.downcast_ref::<EntraError>() else {
        return e;
    };
    let codes = &entra.codes;
    if codes.contains(&53003) {
        e.context(format!(
            "Conditional Access blocked the device code sign-in (AADSTS53003): many tenants block the device code flow, as Microsoft recommends. {ALTERNATIVES}"
        ))
    } else if codes.contains(&7000218) {
        e.context(format!(
            "the app does not allow public client flows, and no client credential was given (AADSTS7000218): give the app's secret or certificate (AZURE_CLIENT_SECRET, --client-secret-file, --certificate), or have the app's owner set 'Allow public client flows' to Yes (Authentication), or {ALTERNATIVES}"
        ))
    } else {
        e
    }
}
