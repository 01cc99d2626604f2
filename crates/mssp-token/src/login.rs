//! `mssp-token login`: the authorization-code flow with PKCE, once per customer tenant.
//!
//! arguments → identity → listener (bound before the browser opens) → browser → redirect (state
//! checked) → code exchange → tenant check → output / save.

use crate::authority::{is_loopback_host, printable, resolve_tenant_id};
use crate::browser;
use crate::cli::LoginArgs;
use crate::entra::{self, target_param};
use crate::error::{fail, usage, Exit};
use crate::http::Http;
use crate::identity::{self, DEFENDER_RESOURCE};
use crate::listener::Listener;
use crate::log;
use crate::redirect::Redirect;
use crate::token::{now_epoch, Target, TokenSet};
use anyhow::Result;
use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, Scope};
use url::Url;

/// How the redirect comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Catch {
    /// A loopback listener on this port and path; `uri` is the redirect URI as sent.
    Loopback { port: Option<u16>, path: String },
    /// Nothing listens there: the user pastes the address the browser landed on.
    Paste,
}

/// Decides between loopback and paste mode from --redirect-uri and --port.
fn plan_redirect(redirect_uri: &str, port: Option<u16>) -> Result<(Url, Catch)> {
    let url = Url::parse(redirect_uri.trim()).map_err(|e| {
        usage(format!(
            "--redirect-uri '{}' is not a valid URL ({e}); expected e.g. http://localhost/SiemMsspConnector",
            printable(redirect_uri)
        ))
    })?;
    if url.fragment().is_some() {
        return Err(usage(
            "--redirect-uri must not contain a #fragment (Entra refuses it)",
        ));
    }
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(usage(format!(
            "--redirect-uri '{}' must be an http://localhost/... or https://... address",
            printable(redirect_uri)
        )));
    }
    let loopback = url.scheme() == "http" && is_loopback_host(&url);
    if !loopback {
        if port.is_some() {
            return Err(usage(format!(
                "--port only applies to an http://localhost redirect URI; '{}' is not one (paste mode)",
                printable(redirect_uri)
            )));
        }
        return Ok((url, Catch::Paste));
    }
    if matches!(url.host(), Some(url::Host::Ipv6(_))) {
        return Err(usage(
            "--redirect-uri with [::1] cannot be registered in Entra; use http://localhost/... (the listener answers on both 127.0.0.1 and ::1)",
        ));
    }
    let port = match (url.port(), port) {
        (Some(a), Some(b)) if a != b => {
            return Err(usage(format!(
                "--redirect-uri has port {a} but --port says {b}; give one of them"
            )))
        }
        (a, b) => b.or(a),
    };
    let path = url.path().to_string();
    Ok((url, Catch::Loopback { port, path }))
}

/// The sandbox started for `login --sandbox`, kept alive for the flow.
struct InProcessSandbox {
    sandbox: entra_sandbox::Sandbox,
    /// The sandbox app's published test secret, when its app is the one used.
    secret: Option<crate::redacted::SecretString>,
}

pub async fn run(mut args: LoginArgs) -> Result<()> {
    let sandbox = if args.sandbox {
        Some(start_sandbox(&mut args)?)
    } else {
        None
    };
    let mut id = identity::resolve(
        &args.identity,
        &Target::Resource(DEFENDER_RESOURCE.to_string()),
    )?;
    if let Some(secret) = sandbox.as_ref().and_then(|s| s.secret.clone()) {
        // Passed in-process: never through argv or the environment.
        id.credential = crate::credentials::Credential::Secret(secret);
    }
    if let Target::Scopes(scopes) = &mut id.target {
        // A login exists to get a refresh token (offline_access) and an id_token (openid).
        for s in ["offline_access", "openid"] {
            if !scopes.iter().any(|x| x == s) {
                scopes.push(s.to_string());
            }
        }
    }
    let (redirect_url, catch) = plan_redirect(&args.redirect_uri, args.port)?;
    let http = Http::new(args.identity.ca_file.as_deref())?;
    let tenant_id = resolve_tenant_id(&http, &id.authority).await?;
    log::verbose(&format!(
        "tenant {} is {tenant_id}; {} endpoint; {}",
        id.authority.tenant.as_str(),
        id.target.version().label(),
        id.credential.describe()
    ));

    // The listener is bound before the browser opens, so the redirect cannot arrive first.
    let mut listener = match &catch {
        Catch::Loopback { port, path } => Some(Listener::bind(*port, path)?),
        Catch::Paste => None,
    };
    let redirect_uri = match &listener {
        Some(l) => {
            let mut u = redirect_url.clone();
            let _ = u.set_port(Some(l.port()));
            log::verbose(&format!("listening on {}", l.addresses().join(" and ")));
            u.to_string()
        }
        None => redirect_url.to_string(),
    };

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let client = entra::client(&id, Some(&redirect_uri))?;
    let mut auth = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge)
        .add_extra_param("prompt", args.prompt.as_str());
    match &id.target {
        Target::Resource(r) => auth = auth.add_extra_param("resource", r.clone()),
        Target::Scopes(s) => auth = auth.add_scopes(s.iter().map(|x| Scope::new(x.clone()))),
    }
    if let Some(h) = &args.login_hint {
        auth = auth.add_extra_param("login_hint", h.clone());
    }
    if let Some(h) = &args.domain_hint {
        auth = auth.add_extra_param("domain_hint", h.clone());
    }
    let (auth_url, state) = auth.url();
    let state = state.secret().clone();

    let redirects = listener.as_mut().map(|l| l.start(state.clone()));
    log::info(&format!(
        "Sign in to tenant {} ({tenant_id}) and consent. Open this URL if no browser window appears:\n\n  {auth_url}\n",
        id.authority.tenant.as_str()
    ));
    if catch == Catch::Paste {
        log::info(&format!(
            "Nothing listens at {redirect_uri}: after signing in, the browser lands on a page that does not load.\nCopy the whole address from its address bar and paste it here (or just the code), then press Enter:"
        ));
    }

    // Who opens the page: a browser, the sandbox's simulated user, or the person at the desk.
    let mut simulated = None;
    if args.no_browser {
        if catch != Catch::Paste {
            log::info("--no-browser: open the URL yourself; the listener is waiting, and you can also paste the address the browser landed on here.");
        }
    } else if sandbox.is_some()
        && catch != Catch::Paste
        && !browser::available(args.browser_command.as_deref())
    {
        log::info("No browser can be opened here (no display, no $BROWSER): the sandbox's simulated user signs in instead.");
        let url = auth_url.to_string();
        simulated = Some(tokio::spawn(async move {
            entra_sandbox::simulated_user_sign_in(&url).await
        }));
    } else {
        crate::interactive::open_page(auth_url.as_str(), args.browser_command.as_deref());
    }

    let registered = {
        let mut u = redirect_url.clone();
        let _ = u.set_port(None);
        u.to_string()
    };
    let redirect = crate::interactive::await_redirect(crate::interactive::Wait {
        redirects,
        state: &state,
        paste_only: catch == Catch::Paste,
        simulated,
        wait: args.wait,
        registered: &registered,
    })
    .await?;
    drop(listener.take());

    let code = match redirect {
        Redirect::Code { code, .. } => code,
        Redirect::Error { error, .. } => return Err(error.into()),
        Redirect::Consent { .. } => {
            return Err(fail(
                Exit::Interaction,
                "the redirect carried an admin-consent result, not a sign-in code: use `mssp-token consent --listen` for consent links",
            ))
        }
    };
    log::verbose("authorization code received; redeeming it");
    let sent_at = now_epoch();
    let (k, v) = target_param(&id.target);
    let token_url = id.authority.token_url(id.target.version()).to_string();
    let auth = id.credential.assertion_params(&id.client_id, &token_url)?;
    let response = entra::request(&http, |f| async move {
        let call = f.call();
        let mut req = client
            .exchange_code(AuthorizationCode::new(code.expose().to_string()))
            .set_pkce_verifier(verifier)
            .add_extra_param(k, v);
        for (name, value) in auth {
            req = req.add_extra_param(name, value);
        }
        req.request_async(&call).await
    })
    .await?;
    let set = TokenSet::from_response(&response, &id.target, &tenant_id, &id.client_id, sent_at);
    crate::checks::tenant_matches(&set, &tenant_id, id.authority.tenant.as_str())?;
    if set.refresh_token.is_none() {
        log::warn("Entra returned no refresh token");
    }
    deliver(&set, &args.output)?;
    log::info(&format!(
        "Signed in to tenant {tenant_id}; the access token expires {}.",
        set.expires_at
    ));
    if let Some(s) = &sandbox {
        log::info(&format!(
            "(sandbox at {}: these tokens are simulated and valid nowhere else)",
            s.sandbox.authority()
        ));
    } else {
        log::info(&format!(
            "Next step: have the customer authorize the app in the Defender portal: https://security.microsoft.com/?tid={tenant_id} (Settings > Endpoints > APIs > SIEM > MSSP tab)."
        ));
    }
    Ok(())
}

/// Saves (if asked) and prints a token set.
pub fn deliver(set: &TokenSet, out: &crate::cli::OutputArgs) -> Result<()> {
    if let Some(path) = &out.save {
        crate::storage::write_atomic(path, crate::output::json(set).as_bytes())?;
        log::info(&format!("Saved to {} (mode 0600).", path.display()));
    }
    use std::io::Write;
    let text = crate::output::render(set, out.output, now_epoch());
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
        .map_err(|e| {
            fail(
                Exit::Storage,
                format!("cannot write to standard output: {e}"),
            )
        })
}

fn start_sandbox(args: &mut LoginArgs) -> Result<InProcessSandbox> {
    if args.identity.authority.is_some() && std::env::var_os("AZURE_AUTHORITY_HOST").is_none() {
        return Err(usage(
            "--sandbox starts its own authority; leave out --authority",
        ));
    }
    let sandbox = entra_sandbox::Sandbox::start(entra_sandbox::SandboxOptions::default())
        .map_err(|e| fail(Exit::Internal, format!("cannot start the sandbox: {e:#}")))?;
    let (client_id, secret) = sandbox.default_app();
    let (_guid, domain) = sandbox.default_tenant();
    let id = &mut args.identity;
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
            default_secret = Some(crate::redacted::SecretString::new(secret));
        }
    }
    log::info(&format!(
        "Using a simulated Entra ID at {} (mssp-token sandbox): no Azure tenant is touched, and its tokens are valid nowhere else.",
        sandbox.authority()
    ));
    Ok(InProcessSandbox {
        sandbox,
        secret: default_secret,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_paste_modes() {
        let (_, c) = plan_redirect("http://localhost/SiemMsspConnector", None).unwrap();
        assert_eq!(
            c,
            Catch::Loopback {
                port: None,
                path: "/SiemMsspConnector".into()
            }
        );
        let (_, c) = plan_redirect("http://127.0.0.1:8400/cb", None).unwrap();
        assert_eq!(
            c,
            Catch::Loopback {
                port: Some(8400),
                path: "/cb".into()
            }
        );
        let (_, c) = plan_redirect("https://mssp.example.com/SiemMsspConnector", None).unwrap();
        assert_eq!(c, Catch::Paste);
        assert!(plan_redirect("http://localhost:1/cb", Some(2)).is_err());
        assert!(plan_redirect("not a url", None).is_err());
        assert!(plan_redirect("http://[::1]/cb", None).is_err());
        assert!(plan_redirect("https://x.example.com/cb", Some(8400)).is_err());
        assert!(plan_redirect("ftp://x/cb", None).is_err());
    }
}
