//! `mssp-token login`: the authorization-code sign-in with PKCE, once per customer tenant;
//! `--sandbox` runs it against a simulated Entra ID started in this process.

use crate::args::{self, DefaultTarget};
use crate::cli::LoginArgs;
use anyhow::Result;
use mssp_token_client::apis::ApiTarget;
use mssp_token_client::credentials::Credential;
use mssp_token_client::error::{fail, usage, Exit};
use mssp_token_client::flows::auth_code::{self, SignIn, SignedIn};
use mssp_token_client::flows::device_code::{self, DeviceSignIn};
use mssp_token_client::flows::loopback::{Catch, Opener};
use mssp_token_client::flows::profile;
use mssp_token_client::http::Http;
use mssp_token_client::identity::Identity;
use mssp_token_client::redacted::SecretString;
use mssp_token_client::store::profiles::ProfileKind;
use mssp_token_client::{browser, info};

pub async fn run(mut a: LoginArgs) -> Result<()> {
    // The profile (its name, and the store opened) is checked first, so that a store that
    // cannot be used fails now, not after the person has signed in.
    let profile = match &a.profile {
        Some(name) => Some((args::profile_name(name)?, args::profiles(&a.store)?)),
        None => None,
    };
    if let (Some((name, _)), Some(file)) = (&profile, &a.output.save) {
        return Err(usage(format!(
            "--save {} and --profile {name} would both keep the refresh token, and refreshing one makes the other stop working: choose one. To move a saved file into a profile later: mssp-token refresh --from FILE --profile {name}",
            file.display()
        )));
    }
    let sandbox = if a.sandbox {
        Some(start_sandbox(&mut a)?)
    } else {
        None
    };
    let mut identity = args::identity(&a.identity, DefaultTarget::Resource(ApiTarget::Mde))?;
    if a.partner {
        // A partner (GDAP) session: v2 with offline_access unless --resource/--scope say.
        identity.target = args::partner_login_target(&a.identity)?;
    }
    if let Some(secret) = sandbox.as_ref().and_then(|s| s.secret.clone()) {
        // Passed in-process: never through argv or the environment.
        identity.credential = Credential::Secret(secret);
    }
    let http = args::http(a.identity.ca_file.as_deref())?;
    let signed = if a.device_code {
        device_code_sign_in(&http, identity, &a, sandbox.is_some()).await?
    } else {
        browser_sign_in(&http, identity, &a, sandbox.is_some()).await?
    };
    let set = &signed.set;
    if let Some((name, store)) = &profile {
        let kind = if a.partner {
            ProfileKind::Partner
        } else {
            ProfileKind::Delegated
        };
        profile::save_signed_in(store, name, set, kind)?;
        if a.partner {
            info!(
                "Partner session: redeem it in a customer's tenant with `mssp-token token --partner {name} --tenant <customer>`, or for every customer of a file with `mssp-token onboard --tenants FILE --partner {name}`."
            );
        }
    }
    super::deliver(
        &super::shown(set, profile.is_some() && a.partner),
        args::format(a.output.output),
        a.output.save.as_deref(),
    )?;
    info!(
        "Signed in to tenant {}; the access token expires {}.",
        signed.tenant_id, set.expires_at
    );
    match &sandbox {
        Some(s) => info!(
            "(sandbox at {}: these tokens are simulated and valid nowhere else)",
            s.sandbox.authority()
        ),
        None => info!(
            "Next step: have the customer authorize the app in the Defender portal: https://security.microsoft.com/?tid={} (Settings > Endpoints > APIs > SIEM > MSSP tab).",
            signed.tenant_id
        ),
    }
    Ok(())
}

/// The authorization-code sign-in: a browser (or the sandbox's simulated user, or the person
/// pasting) and the loopback listener.
async fn browser_sign_in(
    http: &Http,
    identity: Identity,
    a: &LoginArgs,
    sandbox: bool,
) -> Result<SignedIn> {
    let redirect = args::redirect_plan(&a.redirect_uri, a.port)?;
    // Who opens the page: a browser, the sandbox's simulated user, or the person at the desk.
    let opener = if a.no_browser {
        Opener::Nobody
    } else if sandbox
        && redirect.catch != Catch::Paste
        && !browser::available(a.browser_command.as_deref())
    {
        info!("No browser can be opened here (no display, no $BROWSER): the sandbox's simulated user signs in instead.");
        Opener::Simulated(Box::new(|url: String| {
            tokio::spawn(async move { entra_sandbox::simulated_user_sign_in(&url).await })
        }))
    } else {
        Opener::Browser(a.browser_command.clone())
    };
    auth_code::sign_in(
        http,
        SignIn {
            identity,
            redirect,
            prompt: args::prompt(a.prompt),
            login_hint: a.login_hint.clone(),
            domain_hint: a.domain_hint.clone(),
            wait: a.wait,
            opener,
        },
    )
    .await
}

/// The device code sign-in: the code and URL on stderr; with --sandbox and no browser, the
/// sandbox's simulated user enters the code.
async fn device_code_sign_in(
    http: &Http,
    identity: Identity,
    a: &LoginArgs,
    sandbox: bool,
) -> Result<SignedIn> {
    let on_code: Option<Box<dyn FnOnce(String, String) + Send>> = if sandbox {
        info!("The sandbox's simulated user enters the code.");
        Some(Box::new(|url: String, code: String| {
            tokio::spawn(async move {
                if let Err(e) =
                    entra_sandbox::simulated_user_device_sign_in(&url, &code, None, true).await
                {
                    mssp_token_client::warn!("the simulated user could not sign in: {e:#}");
                }
            });
        }))
    } else {
        None
    };
    device_code::sign_in(
        http,
        DeviceSignIn {
            identity,
            wait: a.wait,
            on_code,
        },
    )
    .await
}

/// The sandbox started for `login --sandbox`, kept alive for the flow.
struct InProcessSandbox {
    sandbox: entra_sandbox::Sandbox,
    /// The sandbox app's published test secret, when its app is the one used.
    secret: Option<SecretString>,
}

/// Starts the sandbox and points the identity options at it: its authority, and its main
/// tenant and app unless given.
fn start_sandbox(a: &mut LoginArgs) -> Result<InProcessSandbox> {
    if a.identity.authority.is_some() && std::env::var_os("AZURE_AUTHORITY_HOST").is_none() {
        return Err(usage(
            "--sandbox starts its own authority; leave out --authority",
        ));
    }
    let sandbox = entra_sandbox::Sandbox::start(entra_sandbox::SandboxOptions::default())
        .map_err(|e| fail(Exit::Internal, format!("cannot start the sandbox: {e:#}")))?;
    let (client_id, secret) = sandbox.default_app();
    let (_guid, domain) = sandbox.default_tenant();
    let id = &mut a.identity;
    id.authority = Some(sandbox.authority());
    if id.tenant.is_none() {
        id.tenant = Some(domain);
    }
    let mut default_secret = None;
    if id.client_id.is_none() {
        id.client_id = Some(client_id);
        let explicit = id.client_secret_file.is_some()
            || id.client_secret_stdin
            || id.client_secret.is_some()
            || id.certificate.is_some()
            || id.federated_token_file.is_some();
        if !explicit {
            default_secret = Some(SecretString::new(secret));
        }
    }
    info!(
        "Using a simulated Entra ID at {} (mssp-token sandbox): no Azure tenant is touched, and its tokens are valid nowhere else.",
        sandbox.authority()
    );
    Ok(InProcessSandbox {
        sandbox,
        secret: default_secret,
    })
}
