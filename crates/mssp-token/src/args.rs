//! Low args -> domain values, once (ripgrep's "high args"). Everything below the command layer
//! takes these values and never a clap type; the flag names that messages need are added here
//! (with `error::at`), never below.

use crate::cli::{self, ApiArg, CloudArg, IdentityArgs};
use anyhow::Result;
use mssp_token_client::apis::ApiTarget;
use mssp_token_client::authority::{
    is_loopback_host, parse_authority_host, parse_client_id, printable, refuse_userinfo,
    without_userinfo, Authority, Cloud, Tenant,
};
use mssp_token_client::credentials::{secret, Certificate, Credential, FederatedToken};
use mssp_token_client::error::{at, usage};
use mssp_token_client::flows::auth_code::Prompt;
use mssp_token_client::flows::loopback::{Catch, RedirectPlan};
use mssp_token_client::http::Http;
use mssp_token_client::identity::{self, Identity};
use mssp_token_client::output::Format;
use mssp_token_client::redacted::SecretString;
use mssp_token_client::store::profiles::{check_name, Profiles, StoreKind};
use mssp_token_client::store::vault::VaultKey;
use mssp_token_client::token::{Target, TokenSet};
use std::path::Path;
use url::Url;

/// `--cloud`; not given is the public cloud.
pub fn cloud(c: impl Into<Option<CloudArg>>) -> Cloud {
    match c.into().unwrap_or(CloudArg::Public) {
        CloudArg::Public => Cloud::Public,
        CloudArg::Gcc => Cloud::Gcc,
        CloudArg::Usgov => Cloud::Usgov,
        CloudArg::Dod => Cloud::Dod,
        CloudArg::China => Cloud::China,
    }
}

/// `--cloud` for a cloud value (a token file's `cloud`).
pub fn cloud_arg(c: Cloud) -> CloudArg {
    match c {
        Cloud::Public => CloudArg::Public,
        Cloud::Gcc => CloudArg::Gcc,
        Cloud::Usgov => CloudArg::Usgov,
        Cloud::Dod => CloudArg::Dod,
        Cloud::China => CloudArg::China,
    }
}

pub fn format(f: cli::Format) -> Format {
    match f {
        cli::Format::Text => Format::Text,
        cli::Format::Json => Format::Json,
        cli::Format::Env => Format::Env,
        cli::Format::Raw => Format::Raw,
    }
}

pub fn prompt(p: cli::Prompt) -> Prompt {
    match p {
        cli::Prompt::SelectAccount => Prompt::SelectAccount,
        cli::Prompt::Login => Prompt::Login,
        cli::Prompt::Consent => Prompt::Consent,
        cli::Prompt::None => Prompt::None,
    }
}

/// `--api`, with `--xdr` as its alias.
pub fn api(api: ApiArg, xdr: bool) -> ApiTarget {
    if xdr {
        return ApiTarget::Xdr;
    }
    match api {
        ApiArg::Mde => ApiTarget::Mde,
        ApiArg::Xdr => ApiTarget::Xdr,
        ApiArg::Graph => ApiTarget::Graph,
    }
}

/// `collect --source`, each once, in the order given.
pub fn sources(given: &[cli::SourceArg]) -> Vec<mssp_token_client::flows::collect::source::Source> {
    use mssp_token_client::flows::collect::source::Source;
    let mut out = Vec::new();
    for g in given {
        let s = match g {
            cli::SourceArg::GraphAlerts => Source::GraphAlerts,
            cli::SourceArg::GraphIncidents => Source::GraphIncidents,
            cli::SourceArg::MdeAlerts => Source::MdeAlerts,
            cli::SourceArg::XdrIncidents => Source::XdrIncidents,
        };
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// What a command asks for when neither --resource nor --scope is given.
#[derive(Debug, Clone, Copy)]
pub enum DefaultTarget {
    /// v1: the API's resource in the cloud (`login`).
    Resource(ApiTarget),
    /// v2: the API's `RESOURCE/.default` in the cloud (`token`, `api`).
    Scope(ApiTarget),
}

/// The identity options: tenant, app, credential, authority and target.
pub fn identity(args: &IdentityArgs, default: DefaultTarget) -> Result<Identity> {
    let tenant = args.tenant.as_deref().ok_or_else(|| {
        usage("no tenant given: pass --tenant with the customer's tenant ID or domain (or set AZURE_TENANT_ID)")
    })?;
    let tenant = Tenant::parse(tenant).map_err(|e| at("--tenant", e))?;
    let client_id = client_id(args.client_id.as_deref())?;
    let authority = authority(args, tenant)?;
    let target = target(args, default)?;
    let credential = credential(args)?;
    Ok(Identity {
        authority,
        client_id,
        credential,
        target,
    })
}

/// `refresh`: the authority and cloud come from the token file, so that the refresh token and
/// the client credential go back only to where the token came from. A flag that says otherwise
/// is refused; a file saved by an older version records neither, and the flags are used (with a
/// warning).
/// `source` names where the set was read, as a flag would: `--from FILE` or `--profile NAME`.
pub fn refresh_origin(id: &mut IdentityArgs, saved: &TokenSet, source: &str) -> Result<()> {
    let Some(recorded) = saved.authority.as_deref() else {
        let host = match &id.authority {
            Some(a) => a.clone(),
            None => cloud(id.cloud).login_host().to_string(),
        };
        mssp_token_client::warn!(
            "{} does not record where its token came from (saved by an older mssp-token); refreshing at {} (from --authority/--cloud); the file records it from now on",
            source,
            printable(&without_userinfo(&host))
        );
        return Ok(());
    };
    let recorded_url =
        parse_authority_host(recorded).map_err(|e| at(&format!("{source}: its authority"), e))?;
    let origin = match saved.cloud {
        Some(c) => format!("the {} cloud ({recorded})", c.name()),
        None => recorded.to_string(),
    };
    let why = "the refresh token and the client credential are sent only back there; drop the flag, or sign in again with `login` where you want the token from";
    if let Some(given) = &id.authority {
        let given_url = parse_authority_host(given).map_err(|e| at("--authority", e))?;
        if given_url != recorded_url {
            return Err(usage(format!(
                "--authority {} (or AZURE_AUTHORITY_HOST) contradicts {}: its token came from {origin}; {why}",
                printable(given),
                source
            )));
        }
    }
    if let Some(c) = id.cloud {
        if saved.cloud != Some(cloud(c)) {
            return Err(usage(format!(
                "--cloud {} contradicts {}: its token came from {origin}; {why}",
                cloud(c).name(),
                source
            )));
        }
    }
    id.authority = Some(recorded.to_string());
    id.cloud = saved.cloud.map(cloud_arg);
    Ok(())
}

/// `--client-id`, required.
pub fn client_id(given: Option<&str>) -> Result<String> {
    let given = given.ok_or_else(|| {
        usage("no client ID given: pass --client-id with the app registration's Application (client) ID (or set AZURE_CLIENT_ID)")
    })?;
    parse_client_id(given).map_err(|e| at("--client-id", e))
}

/// `--authority` (or AZURE_AUTHORITY_HOST) wins over `--cloud`'s login host.
pub fn authority(args: &IdentityArgs, tenant: Tenant) -> Result<Authority> {
    Authority::new(cloud(args.cloud), args.authority.as_deref(), tenant)
        .map_err(|e| at("--authority", e))
}

/// The login host alone (consent links): `--authority`, else the cloud's.
pub fn login_host(authority: Option<&str>, c: CloudArg) -> Result<Url> {
    let raw = authority.unwrap_or(cloud(c).login_host());
    parse_authority_host(raw).map_err(|e| at("--authority", e))
}

/// `--scope` (v2) or `--resource` (v1), else the command's default for the cloud.
/// `--scope` or `--resource` if one is given.
pub fn explicit_target(args: &IdentityArgs) -> Result<Option<Target>> {
    if args.scope.is_empty() && args.resource.is_none() {
        return Ok(None);
    }
    target(args, DefaultTarget::Resource(ApiTarget::Mde)).map(Some)
}

pub fn target(args: &IdentityArgs, default: DefaultTarget) -> Result<Target> {
    if !args.scope.is_empty() {
        return identity::parse_scopes(&args.scope).map_err(|e| at("--scope", e));
    }
    if let Some(r) = &args.resource {
        return identity::parse_resource(r).map_err(|e| at("--resource", e));
    }
    let c = cloud(args.cloud);
    match default {
        DefaultTarget::Resource(api) => identity::default_resource(api, c),
        DefaultTarget::Scope(api) => identity::default_scope(api, c),
    }
    .map_err(|e| at("--cloud:", e))
}

/// The client credential. Flags first (--certificate, --federated-token-file,
/// --client-secret-stdin, --client-secret-file, --client-secret; clap refuses two at once),
/// then the environment: AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH,
/// AZURE_FEDERATED_TOKEN_FILE. None is fine for public clients.
pub fn credential(args: &IdentityArgs) -> Result<Credential> {
    let cert_password = || -> Option<SecretString> {
        args.certificate_password
            .as_deref()
            .map(SecretString::new)
            .or_else(|| {
                std::env::var("AZURE_CLIENT_CERTIFICATE_PASSWORD")
                    .ok()
                    .map(SecretString::new)
            })
    };
    let certificate = |path: &Path, from: &str| {
        Certificate::load(path, cert_password().as_ref())
            .map(Credential::Certificate)
            .map_err(|e| at(from, e))
    };
    let federated = |path: &Path, from: &str| {
        FederatedToken::new(path)
            .map(Credential::Federated)
            .map_err(|e| at(from, e))
    };
    if let Some(path) = &args.certificate {
        return certificate(path, "--certificate");
    }
    if let Some(path) = &args.federated_token_file {
        return federated(path, "--federated-token-file");
    }
    if args.client_secret_stdin {
        return secret::from_stdin()
            .map(Credential::Secret)
            .map_err(|e| at("--client-secret-stdin:", e));
    }
    if let Some(path) = &args.client_secret_file {
        return secret::from_file(path)
            .map(Credential::Secret)
            .map_err(|e| at("--client-secret-file", e));
    }
    if let Some(v) = &args.client_secret {
        mssp_token_client::warn!(
            "--client-secret puts the secret in the process list, visible to other users of this machine; prefer AZURE_CLIENT_SECRET or --client-secret-file"
        );
        return secret::from_value(v)
            .map(Credential::Secret)
            .map_err(|e| at("--client-secret", e));
    }
    match std::env::var("AZURE_CLIENT_SECRET") {
        Ok(v) if !v.trim().is_empty() => return Ok(Credential::Secret(SecretString::new(v.trim()))),
        Ok(_) => {
            return Err(usage(
                "AZURE_CLIENT_SECRET is set but empty; set it to the client secret's value, or unset it",
            ))
        }
        Err(_) => {}
    }
    if let Some(path) = std::env::var_os("AZURE_CLIENT_CERTIFICATE_PATH").filter(|p| !p.is_empty())
    {
        return certificate(Path::new(&path), "AZURE_CLIENT_CERTIFICATE_PATH");
    }
    if let Some(path) = std::env::var_os("AZURE_FEDERATED_TOKEN_FILE").filter(|p| !p.is_empty()) {
        return federated(Path::new(&path), "AZURE_FEDERATED_TOKEN_FILE");
    }
    Ok(Credential::None)
}

/// The HTTP client, with `--ca-file`'s extra trusted roots.
pub fn http(ca_file: Option<&Path>) -> Result<Http> {
    Http::new(ca_file).map_err(|e| at("--ca-file", e))
}

/// `--base-url`: https, or http on loopback only.
pub fn base_url(given: Option<&str>) -> Result<Option<Url>> {
    let Some(b) = given else { return Ok(None) };
    let u = Url::parse(b.trim()).map_err(|e| {
        usage(format!(
            "--base-url '{}' is not a URL ({e})",
            printable(&without_userinfo(b))
        ))
    })?;
    mssp_token_client::flows::pager::check_scheme(&u, "--base-url")?;
    Ok(Some(u))
}

/// `--shard K/N`.
pub fn shard(given: Option<&str>) -> Result<Option<(usize, usize)>> {
    given
        .map(|s| mssp_token_client::flows::onboard::parse_shard(s).map_err(|e| at("--shard", e)))
        .transpose()
}

/// `--redirect-uri` and `--port`: a loopback listener (http on localhost) or paste mode.
pub fn redirect_plan(redirect_uri: &str, port: Option<u16>) -> Result<RedirectPlan> {
    let shown = without_userinfo(redirect_uri);
    let url = Url::parse(redirect_uri.trim()).map_err(|e| {
        usage(format!(
            "--redirect-uri '{}' is not a valid URL ({e}); expected e.g. http://localhost/SiemMsspConnector",
            printable(&shown)
        ))
    })?;
    refuse_userinfo(&url).map_err(|e| at("--redirect-uri", e))?;
    if url.fragment().is_some() {
        return Err(usage(
            "--redirect-uri must not contain a #fragment (Entra refuses it)",
        ));
    }
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(usage(format!(
            "--redirect-uri '{}' must be an http://localhost/... or https://... address",
            printable(&shown)
        )));
    }
    let loopback = url.scheme() == "http" && is_loopback_host(&url);
    if !loopback {
        if port.is_some() {
            return Err(usage(format!(
                "--port only applies to an http://localhost redirect URI; '{}' is not one (paste mode)",
                printable(&shown)
            )));
        }
        return Ok(RedirectPlan {
            url,
            catch: Catch::Paste,
        });
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
    Ok(RedirectPlan {
        url,
        catch: Catch::Loopback { port, path },
    })
}

/// `--store` (or MSSP_TOKEN_STORE).
pub fn store_kind(a: &cli::StoreArgs) -> StoreKind {
    match a.store {
        cli::StoreArg::File => StoreKind::File,
        cli::StoreArg::Keyring => StoreKind::Keyring,
        cli::StoreArg::Encrypted => StoreKind::Encrypted,
        cli::StoreArg::None => StoreKind::None,
    }
}

/// The profile store `--store` names, opened (the encrypted store with its key).
pub fn profiles(a: &cli::StoreArgs) -> Result<Profiles> {
    let kind = store_kind(a);
    if kind == StoreKind::None {
        return Err(usage(
            "--store none (or MSSP_TOKEN_STORE=none) keeps nothing, so there is no profile to read or write: choose --store file, keyring or encrypted for --profile, --all and logout (or use --save FILE / --from FILE)",
        ));
    }
    let key = match kind {
        StoreKind::Encrypted => VaultKey::from_env(a.passphrase_file.as_deref()).map_err(|e| {
            // (An error about MSSP_TOKEN_PASSPHRASE or MSSP_TOKEN_IDENTITY names it already.)
            match a.passphrase_file {
                Some(_) => at("--passphrase-file", e),
                None => e,
            }
        })?,
        _ => None,
    };
    // Its messages name the store and the fix already.
    Profiles::open(kind, key.as_ref())
}

/// `--profile NAME`, checked.
pub fn profile_name(name: &str) -> Result<String> {
    check_name(name).map_err(|e| at("--profile", e))?;
    Ok(name.to_string())
}

/// `--partner NAME`: the partner (GDAP) session of that profile, with the app's credential
/// from the identity flags (its client ID, if given, must be the profile's).
pub fn partner(
    name: &str,
    store: &cli::StoreArgs,
    identity: &IdentityArgs,
) -> Result<mssp_token_client::flows::partner::Partner> {
    check_name(name).map_err(|e| at("--partner", e))?;
    let profiles = profiles(store)?;
    let credential = credential(identity)?;
    let partner = mssp_token_client::flows::partner::Partner::open(
        profiles,
        name,
        credential,
        identity.client_id.as_deref(),
    )?;
    if let Some(given) = identity.cloud.map(cloud) {
        if given != partner.cloud {
            return Err(usage(format!(
                "--cloud {} contradicts --partner {name}: its session is in the {} cloud (GDAP reaches customers in the partner's cloud); drop --cloud",
                given.name(),
                partner.cloud.name()
            )));
        }
    }
    Ok(partner)
}

/// With `--partner`: `--scope`/`--resource`, else `api`'s default scope in the partner's cloud.
pub fn partner_target(
    identity: &IdentityArgs,
    api: ApiTarget,
    cloud: mssp_token_client::authority::Cloud,
) -> Result<Target> {
    match explicit_target(identity)? {
        Some(t) => Ok(t),
        None => identity::default_scope(api, cloud).map_err(|e| at("--api", e)),
    }
}

/// `--tenant` (or AZURE_TENANT_ID), required with `--partner`: the customer.
pub fn partner_customer(identity: &IdentityArgs) -> Result<mssp_token_client::authority::Tenant> {
    let t = identity.tenant.as_deref().ok_or_else(|| {
        usage("--partner needs --tenant <customer tenant ID or domain> (or AZURE_TENANT_ID): the tenant whose delegated token to get")
    })?;
    mssp_token_client::authority::Tenant::parse(t).map_err(|e| at("--tenant", e))
}

/// `login --partner`: `--scope`/`--resource`, else the Defender API's .default in the cloud;
/// v2 scopes always with offline_access (the partner refresh token is the point).
pub fn partner_login_target(identity: &IdentityArgs) -> Result<Target> {
    let t = match explicit_target(identity)? {
        Some(t) => t,
        None => target(identity, DefaultTarget::Scope(ApiTarget::Mde))?,
    };
    Ok(t.with_scopes(&["offline_access"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_paste_modes() {
        let p = redirect_plan("http://localhost/SiemMsspConnector", None).unwrap();
        assert_eq!(
            p.catch,
            Catch::Loopback {
                port: None,
                path: "/SiemMsspConnector".into()
            }
        );
        let p = redirect_plan("http://127.0.0.1:8400/cb", None).unwrap();
        assert_eq!(
            p.catch,
            Catch::Loopback {
                port: Some(8400),
                path: "/cb".into()
            }
        );
        let p = redirect_plan("https://mssp.example.com/SiemMsspConnector", None).unwrap();
        assert_eq!(p.catch, Catch::Paste);
        assert!(redirect_plan("http://localhost:1/cb", Some(2)).is_err());
        assert!(redirect_plan("not a url", None).is_err());
        assert!(redirect_plan("http://[::1]/cb", None).is_err());
        assert!(redirect_plan("https://x.example.com/cb", Some(8400)).is_err());
        assert!(redirect_plan("ftp://x/cb", None).is_err());
        let e = redirect_plan("http://u:pw-0123456789@localhost/cb", None).unwrap_err();
        assert!(e.to_string().starts_with("--redirect-uri '"), "{e}");
        assert!(!e.to_string().contains("pw-0123456789"), "{e}");
    }

    #[test]
    fn flag_names_are_added_here() {
        let e = Tenant::parse("common")
            .map_err(|e| at("--tenant", e))
            .unwrap_err();
        assert!(e
            .to_string()
            .starts_with("--tenant common: name the customer's own tenant"));
        assert_eq!(mssp_token_client::error::exit_code_of(&e), 2);
        let e = client_id(Some("")).unwrap_err();
        assert!(e.to_string().starts_with("--client-id is empty"), "{e}");
    }
}
