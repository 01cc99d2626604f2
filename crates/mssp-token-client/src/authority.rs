//! Where to talk to: the cloud's login host (or `--authority`), the customer's tenant, and the
//! v1 / v2 endpoint URLs built from them.

use crate::error::usage;
use anyhow::Result;
use url::Url;

/// The clouds of Microsoft Entra ID. Each names its login host here and its API hosts and
/// token audiences in [`crate::apis`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    /// Azure public cloud
    Public,
    /// US Government Community Cloud (GCC): the public login host, its own Defender hosts
    Gcc,
    /// Azure Government, GCC High
    Usgov,
    /// Azure Government, DoD
    Dod,
    /// Azure China (21Vianet)
    China,
}

impl Cloud {
    pub const ALL: [Cloud; 5] = [
        Cloud::Public,
        Cloud::Gcc,
        Cloud::Usgov,
        Cloud::Dod,
        Cloud::China,
    ];

    pub fn login_host(self) -> &'static str {
        match self {
            Cloud::Public | Cloud::Gcc => "https://login.microsoftonline.com",
            Cloud::Usgov | Cloud::Dod => "https://login.microsoftonline.us",
            Cloud::China => "https://login.partner.microsoftonline.cn",
        }
    }

    /// The name `--cloud` and tenants files use.
    pub fn name(self) -> &'static str {
        match self {
            Cloud::Public => "public",
            Cloud::Gcc => "gcc",
            Cloud::Usgov => "usgov",
            Cloud::Dod => "dod",
            Cloud::China => "china",
        }
    }
}

/// v1 (`resource=`) or v2 (`scope=`) endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    pub fn label(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }
}

/// A customer tenant as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tenant {
    Guid(String),
    Domain(String),
}

impl Tenant {
    /// Parses a tenant: a GUID or a DNS domain. `common`, `organizations` and `consumers` are
    /// refused: with them, any account's tenant could answer, which is exactly the wrong-customer
    /// mistake this tool exists to prevent.
    pub fn parse(input: &str) -> Result<Tenant> {
        let t = input.trim();
        if t.is_empty() {
            return Err(usage(
                "is empty: give the customer's tenant ID (a GUID) or its domain, e.g. contoso.onmicrosoft.com",
            ));
        }
        let lower = t.to_ascii_lowercase();
        if matches!(lower.as_str(), "common" | "organizations" | "consumers") {
            return Err(usage(format!(
                "{t}: name the customer's own tenant (GUID or domain); '{t}' lets any signed-in account's tenant answer, and mssp-token must know which customer it is talking to"
            )));
        }
        if is_guid(&lower) {
            return Ok(Tenant::Guid(lower));
        }
        if is_domain(&lower) {
            return Ok(Tenant::Domain(lower));
        }
        Err(usage(format!(
            "'{}' is neither a tenant ID (a GUID like 72f988bf-86f1-41af-91ab-2d7cd011db47) nor a domain (like contoso.onmicrosoft.com)",
            printable(t)
        )))
    }

    pub fn as_str(&self) -> &str {
        match self {
            Tenant::Guid(s) | Tenant::Domain(s) => s,
        }
    }
}

/// Validates an application (client) ID.
pub fn parse_client_id(input: &str) -> Result<String> {
    let c = input.trim().to_ascii_lowercase();
    if c.is_empty() {
        return Err(usage(
            "is empty: give the application (client) ID from the app registration's Overview page",
        ));
    }
    if !is_guid(&c) {
        return Err(usage(format!(
            "'{}' is not a GUID: use the Application (client) ID from the app registration's Overview page (not its name, object ID or secret)",
            printable(input.trim())
        )));
    }
    Ok(c)
}

/// Keeps error messages readable when the input is hostile: at most 80 printable characters.
pub fn printable(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(80)
        .collect();
    if s.chars().count() > 80 {
        format!("{cleaned}…")
    } else {
        cleaned
    }
}

pub fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn is_domain(s: &str) -> bool {
    if s.len() > 253 || !s.contains('.') {
        return false;
    }
    s.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-')
    })
}

/// The login host plus tenant: everything needed to build endpoint URLs.
#[derive(Debug, Clone)]
pub struct Authority {
    host: Url,
    pub tenant: Tenant,
    /// The cloud whose login host this is; `None` for a custom `--authority`.
    cloud: Option<Cloud>,
}

impl Authority {
    /// An explicit login host wins over the cloud's. Plain http is accepted only for
    /// loopback hosts (the sandbox): secrets are never sent in clear text over a network.
    pub fn new(cloud: Cloud, authority: Option<&str>, tenant: Tenant) -> Result<Authority> {
        let raw = authority.unwrap_or(cloud.login_host());
        let host = parse_authority_host(raw)?;
        let cloud_host = parse_authority_host(cloud.login_host())?;
        let cloud = (host == cloud_host).then_some(cloud);
        Ok(Authority {
            host,
            tenant,
            cloud,
        })
    }

    /// The login host URL (no trailing slash): what token files record as `authority`.
    pub fn host(&self) -> String {
        self.host.as_str().trim_end_matches('/').to_string()
    }

    /// The cloud of this login host; `None` for a custom authority.
    pub fn cloud(&self) -> Option<Cloud> {
        self.cloud
    }

    fn join(&self, tenant: &str, rest: &str) -> Url {
        let mut url = self.host.clone();
        {
            let mut segs = url.path_segments_mut().expect("http(s) URL has a path");
            segs.pop_if_empty();
            segs.push(tenant);
            for s in rest.split('/') {
                segs.push(s);
            }
        }
        url
    }

    pub fn authorize_url(&self, v: Version) -> Url {
        match v {
            Version::V1 => self.join(self.tenant.as_str(), "oauth2/authorize"),
            Version::V2 => self.join(self.tenant.as_str(), "oauth2/v2.0/authorize"),
        }
    }

    pub fn token_url(&self, v: Version) -> Url {
        match v {
            Version::V1 => self.join(self.tenant.as_str(), "oauth2/token"),
            Version::V2 => self.join(self.tenant.as_str(), "oauth2/v2.0/token"),
        }
    }

    pub fn discovery_url(&self) -> Url {
        self.join(
            self.tenant.as_str(),
            "v2.0/.well-known/openid-configuration",
        )
    }
}

/// Parses and checks an authority host URL.
pub fn parse_authority_host(raw: &str) -> Result<Url> {
    let shown = printable(&without_userinfo(raw));
    let url = Url::parse(raw.trim()).map_err(|e| {
        usage(format!(
            "'{shown}' is not a URL ({e}); expected something like https://login.microsoftonline.com"
        ))
    })?;
    refuse_userinfo(&url)?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&url) => {}
        "http" => {
            return Err(usage(format!(
                "'{shown}' uses plain http on a non-loopback host; client secrets and tokens would cross the network unencrypted. Use https (http is accepted only for 127.0.0.1/localhost, e.g. the sandbox)"
            )))
        }
        other => {
            return Err(usage(format!(
                "'{shown}' has scheme '{other}'; expected https://"
            )))
        }
    }
    if url.query().is_some() || url.fragment().is_some() || url.host_str().is_none() {
        return Err(usage(format!(
            "'{shown}' must be a plain host URL like https://login.microsoftonline.com (no query or fragment)"
        )));
    }
    Ok(url)
}

/// Refuses a URL with a user name or password in it (`https://user:pass@host`): mssp-token
/// never sends credentials that way, and a URL is printed in messages and logs. The password
/// is registered as a secret first, so that no message can show it.
pub fn refuse_userinfo(url: &Url) -> Result<()> {
    if url.username().is_empty() && url.password().is_none() {
        return Ok(());
    }
    if let Some(p) = url.password() {
        crate::redacted::register(p);
        if let Ok(decoded) = percent_decoded(p) {
            crate::redacted::register(&decoded);
        }
    }
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    Err(usage(format!(
        "'{}': the URL must not contain a user name or password; remove the 'user:password@' part (mssp-token sends credentials only in request bodies, never in a URL)",
        printable(shown.as_str())
    )))
}

fn percent_decoded(s: &str) -> std::result::Result<String, std::str::Utf8Error> {
    let bytes: Vec<u8> =
        url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned().into_bytes())
            .unwrap_or_default();
    std::str::from_utf8(&bytes).map(str::to_string)
}

/// `raw` (a URL as typed, perhaps not even valid) without its `user:password@` part, for
/// messages.
pub fn without_userinfo(raw: &str) -> String {
    let (scheme, rest) = match raw.find("://") {
        Some(i) => raw.split_at(i + 3),
        None => ("", raw),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}{}", &rest[at + 1..]),
        None => raw.to_string(),
    }
}

pub fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The GUID path segment of an issuer such as https://login.microsoftonline.com/{tid}/v2.0 or
/// https://sts.windows.net/{tid}/.
pub fn tenant_in_issuer(issuer: &str) -> Option<String> {
    let url = Url::parse(issuer).ok()?;
    let found = url
        .path_segments()?
        .map(|s| s.to_ascii_lowercase())
        .find(|s| is_guid(s));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: &str = "4a1f7c2e-5b8d-4e3f-9a6b-0c2d4e6f8a1b";

    fn auth(cloud: Cloud, host: Option<&str>) -> Authority {
        Authority::new(cloud, host, Tenant::parse(G).unwrap()).unwrap()
    }

    #[test]
    fn endpoints_per_cloud_and_version() {
        let a = auth(Cloud::Public, None);
        assert_eq!(
            a.authorize_url(Version::V1).as_str(),
            format!("https://login.microsoftonline.com/{G}/oauth2/authorize")
        );
        assert_eq!(
            a.token_url(Version::V2).as_str(),
            format!("https://login.microsoftonline.com/{G}/oauth2/v2.0/token")
        );
        let us = auth(Cloud::Usgov, None);
        assert_eq!(
            us.token_url(Version::V1).as_str(),
            format!("https://login.microsoftonline.us/{G}/oauth2/token")
        );
        let cn = auth(Cloud::China, None);
        assert_eq!(
            cn.authorize_url(Version::V2).as_str(),
            format!("https://login.partner.microsoftonline.cn/{G}/oauth2/v2.0/authorize")
        );
        assert_eq!(
            cn.discovery_url().as_str(),
            format!("https://login.partner.microsoftonline.cn/{G}/v2.0/.well-known/openid-configuration")
        );
    }

    #[test]
    fn authority_override_keeps_port_and_path() {
        let a = auth(Cloud::Public, Some("http://127.0.0.1:8400"));
        assert_eq!(
            a.token_url(Version::V1).as_str(),
            format!("http://127.0.0.1:8400/{G}/oauth2/token")
        );
        let p = auth(Cloud::Public, Some("https://proxy.example.com/entra/"));
        assert_eq!(
            p.token_url(Version::V2).as_str(),
            format!("https://proxy.example.com/entra/{G}/oauth2/v2.0/token")
        );
    }

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(parse_authority_host("http://localhost:1234").is_ok());
        assert!(parse_authority_host("http://[::1]:1234").is_ok());
        assert!(parse_authority_host("http://login.example.com").is_err());
        assert!(parse_authority_host("ftp://x").is_err());
        assert!(parse_authority_host("not a url").is_err());
    }

    #[test]
    fn userinfo_is_refused_without_showing_the_password() {
        for raw in [
            "http://user:pa55w0rd-CANARY-1@127.0.0.1:8400",
            "https://user:pa55w0rd-CANARY-1@login.example.com/",
            "https://:pa55w0rd-CANARY-1@login.example.com",
            "https://user@login.example.com",
        ] {
            let e = parse_authority_host(raw).unwrap_err();
            let text = e.to_string();
            assert_eq!(crate::error::exit_code_of(&e), 2, "{text}");
            assert!(
                text.contains("must not contain a user name or password"),
                "{text}"
            );
            assert!(!text.contains("pa55w0rd"), "{text}");
            assert!(
                !text.contains("//user") && !text.contains("user@"),
                "{text}"
            );
        }
        // Not even a URL: the message still leaves the password out.
        let e = parse_authority_host("http://user:pa55w0rd CANARY@127.0.0.1:x").unwrap_err();
        assert!(!e.to_string().contains("pa55w0rd"), "{e}");
        assert_eq!(
            without_userinfo("https://u:p@h.example.com/p@x?q=@"),
            "https://h.example.com/p@x?q=@"
        );
        assert_eq!(without_userinfo("u:p@host/x"), "host/x");
        assert_eq!(without_userinfo("https://h/x"), "https://h/x");
    }

    #[test]
    fn tenants_and_client_ids() {
        assert_eq!(
            Tenant::parse(&G.to_uppercase()).unwrap(),
            Tenant::Guid(G.into())
        );
        assert_eq!(
            Tenant::parse("Contoso.onmicrosoft.com").unwrap(),
            Tenant::Domain("contoso.onmicrosoft.com".into())
        );
        for bad in [
            "",
            "common",
            "organizations",
            "contoso",
            "a b.com",
            "-x.com",
            "x..com",
        ] {
            assert!(Tenant::parse(bad).is_err(), "{bad}");
        }
        assert!(parse_client_id(G).is_ok());
        assert!(parse_client_id("my-app").is_err());
    }

    #[test]
    fn tenant_from_issuer() {
        assert_eq!(
            tenant_in_issuer(&format!("https://login.microsoftonline.com/{G}/v2.0")),
            Some(G.to_string())
        );
        assert_eq!(
            tenant_in_issuer(&format!("https://sts.windows.net/{G}/")),
            Some(G.to_string())
        );
        assert_eq!(tenant_in_issuer("https://example.com/x"), None);
    }
}
