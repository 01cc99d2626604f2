//! Partner access (GDAP / the Secure Application Model): the partner signed in ONCE in its own
//! tenant (`login --partner`, a profile of kind partner); its refresh token is redeemed at each
//! CUSTOMER's token endpoint (grant_type=refresh_token, the app's credential) for a delegated
//! token there, whose `wids` are the roles GDAP gives the partner user in that tenant.
//!
//! Every token is checked: its `tid` must be the customer asked for. The partner refresh token
//! is never handed out with a customer's token (it is the key to every customer); Entra rotates
//! it at each redemption and the old one stays valid a while, so the new one is written back
//! under the profile's lock only if no newer one was stored meanwhile (many redemptions run at
//! once in `onboard`). Each GDAP failure is explained with its fix.

use crate::authority::{Authority, Cloud, Tenant};
use crate::credentials::Credential;
use crate::entra::{discovery, EntraClient, EntraError};
use crate::error::{fail, usage, Exit};
use crate::http::Http;
use crate::identity::Identity;
use crate::jwt::Jwt;
use crate::store::profiles::{ProfileKind, Profiles};
use crate::store::tenants::TenantIds;
use crate::store::TokenStore;
use crate::token::{Target, TokenSet};
use anyhow::Result;

/// Built-in Entra roles by template ID (the `wids` values), for reports.
const ROLES: [(&str, &str); 8] = [
    (
        "62e90394-69f5-4237-9190-012177145e10",
        "Global Administrator",
    ),
    ("f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader"),
    (
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
        "Security Administrator",
    ),
    ("5f2222b1-57c3-48ba-8ad5-d4759f1fde6f", "Security Operator"),
    ("5d6b6bb7-de71-4623-b4af-96380a352509", "Security Reader"),
    (
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        "Helpdesk Administrator",
    ),
    ("fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator"),
    ("88d8e3e3-8f55-4a1e-953a-9b9898b8876b", "Directory Readers"),
];

/// A role's name from its template ID (the ID itself when unknown).
pub fn role_name(wid: &str) -> String {
    ROLES
        .iter()
        .find(|(id, _)| id.eq_ignore_ascii_case(wid))
        .map_or_else(|| wid.to_string(), |(_, n)| n.to_string())
}

/// An open partner session: the profile and the app's credential.
pub struct Partner {
    pub name: String,
    store: Profiles,
    pub client_id: String,
    pub cloud: Cloud,
    authority_host: Option<String>,
    credential: Credential,
    /// The partner user and tenant, as recorded at sign-in.
    pub upn: Option<String>,
    pub home_tenant: String,
}

/// A delegated token in a customer tenant, with what it carries.
pub struct Delegated {
    /// The token set, without the partner refresh token.
    pub set: TokenSet,
    /// The GDAP roles, by name (`wids`).
    pub roles: Vec<String>,
    /// The delegated permissions (`scp`).
    pub scp: Vec<String>,
}

impl Partner {
    /// Opens profile `name`, which must be a partner session with a refresh token.
    /// `client_id`, if given, must be the profile's (a refresh token is bound to its app).
    pub fn open(
        store: Profiles,
        name: &str,
        credential: Credential,
        client_id: Option<&str>,
    ) -> Result<Partner> {
        let p = store.load(name)?;
        if p.history.kind != ProfileKind::Partner {
            return Err(usage(format!(
                "profile {name} is a customer's delegated session (tenant {}), not a partner one: sign in once as the partner with `mssp-token login --partner --tenant <your MSSP tenant> --client-id <app> --profile {name}` (another name if you keep this one)",
                p.set.tenant_id
            )));
        }
        let Some(rt) = &p.set.refresh_token else {
            return Err(usage(format!(
                "profile {name} holds no refresh token: sign in again with `mssp-token login --partner --profile {name}` (v2 scopes get offline_access)"
            )));
        };
        crate::redacted::register(rt);
        if let Some(c) = client_id {
            if !c.eq_ignore_ascii_case(&p.set.client_id) {
                return Err(usage(format!(
                    "'{c}' is not the app of profile {name} ({}): a partner refresh token works only with the app it was issued to; leave the client ID out or sign in again with that app",
                    p.set.client_id
                )));
            }
        }
        let upn = upn_of(&p.set);
        Ok(Partner {
            name: name.to_string(),
            client_id: p.set.client_id.clone(),
            cloud: p.set.cloud.unwrap_or(Cloud::Public),
            authority_host: p.set.authority.clone(),
            credential,
            upn,
            home_tenant: p.set.tenant_id.clone(),
            store,
        })
    }

    /// The login authority of `customer` in the partner's cloud (or at its custom host).
    /// A tenants-file entry used with this partner: its client_id must be the profile's app
    /// (a partner refresh token works only with the app it was issued to) and its cloud the
    /// partner's. `here` is `file:line:`.
    pub fn check_entry(&self, s: &crate::tenants_file::Settings, here: &str) -> Result<()> {
        if let Some(asked) = &s.client_id {
            if !self.client_id.eq_ignore_ascii_case(asked) {
                return Err(usage(format!(
                    "{here} client_id '{asked}' is not the partner profile's app ({}): a partner refresh token works only with the app it was issued to; remove client_id (the profile's app is used)",
                    self.client_id
                )));
            }
        }
        if let Some(c) = s.cloud.filter(|c| *c != self.cloud) {
            return Err(usage(format!(
                "{here} cloud = \"{}\", but the partner session is in the {} cloud (GDAP reaches customers in the partner's cloud); remove cloud",
                c.name(),
                self.cloud.name()
            )));
        }
        Ok(())
    }

    pub fn authority(&self, customer: Tenant) -> Result<Authority> {
        Authority::new(self.cloud, self.authority_host.as_deref(), customer)
    }

    /// Resolves the customer's tenant ID, then redeems: see [`Partner::redeem_at`].
    pub async fn redeem(
        &self,
        http: &Http,
        customer: Tenant,
        target: &Target,
        remembered: Option<&TenantIds>,
    ) -> Result<Delegated> {
        let authority = self.authority(customer)?;
        let tenant_id = discovery::tenant_id(http, &authority, remembered).await?;
        self.redeem_at(http, &authority, &tenant_id, target).await
    }

    /// The partner refresh token redeemed at `authority` (customer `tenant_id`) for `target`:
    /// the token's tid must be the customer's; the rotated partner token is stored.
    pub async fn redeem_at(
        &self,
        http: &Http,
        authority: &Authority,
        tenant_id: &str,
        target: &Target,
    ) -> Result<Delegated> {
        // The newest stored token (another redemption may have rotated it meanwhile).
        let profile = self.store.load(&self.name)?;
        let rt = profile.set.refresh_token.clone().ok_or_else(|| {
            usage(format!(
                "profile {} holds no refresh token: sign in again with `mssp-token login --partner --profile {}`",
                self.name, self.name
            ))
        })?;
        crate::redacted::register(&rt);
        let id = Identity {
            authority: authority.clone(),
            client_id: self.client_id.clone(),
            credential: self.credential.clone(),
            target: target.clone().with_scopes(&["offline_access"]),
        };
        let issued_at = crate::time::now_epoch();
        let asked = authority.tenant.as_str().to_string();
        let mut set = EntraClient::new(http, &id)
            .refresh_token(&id.target, &rt)
            .await
            .map_err(|e| {
                explain(
                    e,
                    &asked,
                    &self.name,
                    self.upn.as_deref(),
                    &self.home_tenant,
                )
            })?;
        if let Some(new_rt) = set.refresh_token.take() {
            crate::redacted::register(&new_rt);
            if let Err(e) = self.keep_newest(new_rt, issued_at) {
                crate::warn!(
                    "the rotated partner refresh token could not be stored ({e}); the stored one still works for a while"
                );
            }
        }
        crate::checks::tenant_is(
            &set,
            tenant_id,
            &asked,
            crate::checks::Source::TokenEndpoint,
        )?;
        let jwt = Jwt::decode(&set.access_token).ok();
        let list = |name: &str| -> Vec<String> {
            match jwt.as_ref().and_then(|j| j.claims.get(name)) {
                Some(serde_json::Value::Array(a)) => a
                    .iter()
                    .filter_map(|v| v.as_str())
                    .map(str::to_string)
                    .collect(),
                Some(serde_json::Value::String(s)) => {
                    s.split_whitespace().map(str::to_string).collect()
                }
                _ => Vec::new(),
            }
        };
        let roles = list("wids").iter().map(|w| role_name(w)).collect();
        let scp = list("scp");
        set.id_token = None;
        Ok(Delegated { set, roles, scp })
    }

    /// Under the profile's lock: stores `new_rt` unless a token issued later is stored already.
    fn keep_newest(&self, new_rt: String, issued_at: u64) -> Result<()> {
        let _lock = crate::store::lock::blocking(|| self.store.lock(&self.name))?;
        let mut p = crate::store::lock::blocking(|| self.store.load(&self.name))?;
        if p.history
            .refresh_token_at
            .is_some_and(|stored| stored > issued_at)
        {
            return Ok(());
        }
        p.set.refresh_token = Some(new_rt);
        p.history.refresh_token_at = Some(issued_at);
        p.history.last_refreshed = Some(crate::time::now_epoch());
        // The session works again: whatever `refresh --all` recorded is over.
        p.history.last_error = None;
        self.store.save(&p)
    }
}

/// The partner user's UPN, from the access or id token (`upn` or `preferred_username`).
pub fn upn_of(set: &TokenSet) -> Option<String> {
    [Some(set.access_token.as_str()), set.id_token.as_deref()]
        .into_iter()
        .flatten()
        .filter_map(|t| Jwt::decode(t).ok())
        .find_map(|j| {
            j.str_claim("upn")
                .or_else(|| j.str_claim("preferred_username"))
                .map(str::to_string)
        })
}

/// Entra's refusal in a customer tenant, explained for GDAP (the Entra error stays in the
/// chain: exit 3 and its AADSTS code).
fn explain(
    e: anyhow::Error,
    customer: &str,
    name: &str,
    upn: Option<&str>,
    home_tenant: &str,
) -> anyhow::Error {
    let Some(entra) = e.chain().find_map(|c| c.downcast_ref::<EntraError>()) else {
        return e;
    };
    let said = entra.description.clone().unwrap_or_default();
    let user = upn.unwrap_or("the partner user");
    let login = format!("mssp-token login --partner --tenant {home_tenant} --profile {name}");
    let (meaning, fix) = match entra.code {
        Some(50020) if said.contains("expired") => (
            "the GDAP relationship with this customer has expired".to_string(),
            "ask the customer to approve a new GDAP relationship request (Partner Center > Customers > Admin relationships), with a security group of yours and the roles you need".to_string(),
        ),
        Some(50020) | None if entra.code.is_some() || entra.error == "invalid_grant" => (
            format!("{user} has no delegated admin access here: there is no active GDAP relationship with this customer, or {user} is in none of the security groups it gives roles to"),
            "in Partner Center (Customers > Admin relationships) check that the relationship is active and assign one of the user's security groups (e.g. with Security Reader); group changes can take an hour".to_string(),
        ),
        Some(65001) => (
            "the partner's app is not consented in this customer tenant".to_string(),
            "consent it there: Partner Center application consent (or the customer's admin with the link `mssp-token consent` prints), for the API's delegated permission".to_string(),
        ),
        Some(530034) => (
            format!("delegated admin access is blocked because {user} is at risk in the partner tenant"),
            format!("remediate the user's risk in your tenant (Entra ID Protection: confirm safe or reset the password), then sign in again: `{login}`"),
        ),
        Some(50076) | Some(50079) => (
            "this customer requires multi-factor authentication that the partner sign-in did not carry".to_string(),
            format!("sign in again as the partner with MFA: `{login} --prompt login`"),
        ),
        Some(c) if crate::entra::errors::NEEDS_LOGIN.contains(&c) => (
            "the partner sign-in no longer works".to_string(),
            format!("sign in again as the partner: `{login}`"),
        ),
        _ => return e,
    };
    e.context(format!(
        "partner {name} in tenant {customer}: {meaning}. Fix: {fix}"
    ))
}

/// `--require-role` with a partner's token: each name must be one of its GDAP roles (`wids`,
/// by name or template ID) or delegated permissions (`scp`); exit 5 otherwise.
pub fn roles_present(got: &Delegated, required: &[String]) -> Result<()> {
    carries(&got.roles, &got.scp, required)
}

fn carries(roles: &[String], scp: &[String], required: &[String]) -> Result<()> {
    let has = |r: &str| {
        roles.iter().chain(scp).any(|x| x.eq_ignore_ascii_case(r))
            || ROLES.iter().any(|(id, n)| {
                (n.eq_ignore_ascii_case(r) || id.eq_ignore_ascii_case(r))
                    && roles.iter().any(|x| x == n || x == id)
            })
    };
    let missing: Vec<&str> = required
        .iter()
        .map(String::as_str)
        .filter(|r| !has(r))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(fail(
        Exit::Check,
        format!(
            "the partner's token lacks {} (it carries roles [{}] and scp [{}]): give the partner's security group that role in the customer's GDAP relationship",
            missing.join(", "),
            roles.join(", "),
            scp.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entra::errors::{EntraErrorResponse, Origin};

    fn refused(code: u64, text: &str) -> anyhow::Error {
        let r = EntraErrorResponse {
            error: "invalid_grant".into(),
            error_description: Some(format!("AADSTS{code}: {text}\r\nTrace ID: t")),
            error_codes: vec![code],
            ..Default::default()
        };
        anyhow::Error::new(EntraError::from_response(
            Origin::TokenEndpoint,
            Some(400),
            &r,
        ))
    }

    fn explained(code: u64, text: &str) -> (String, i32, Option<u64>) {
        let e = explain(
            refused(code, text),
            "contoso.example",
            "partner",
            Some("soc@mssp.example"),
            "mssp.example",
        );
        let code_kept = e
            .chain()
            .find_map(|c| c.downcast_ref::<EntraError>())
            .and_then(|x| x.code);
        (e.to_string(), crate::error::exit_code_of(&e), code_kept)
    }

    #[test]
    fn each_gdap_refusal_is_explained_and_stays_entras() {
        let cases = [
            (
                50020,
                "The relationship 'x' expired on 2025-01-31.",
                "has expired",
            ),
            (
                50020,
                "User account does not exist in tenant",
                "no active GDAP relationship",
            ),
            (
                65001,
                "not consented",
                "not consented in this customer tenant",
            ),
            (530034, "blocked", "soc@mssp.example is at risk"),
            (
                50076,
                "you must use multi-factor authentication",
                "multi-factor authentication",
            ),
            (
                70008,
                "expired due to inactivity",
                "partner sign-in no longer works",
            ),
        ];
        for (code, text, want) in cases {
            let (msg, exit, kept) = explained(code, text);
            assert!(
                msg.starts_with("partner partner in tenant contoso.example: "),
                "{msg}"
            );
            assert!(msg.contains(want) && msg.contains("Fix: "), "{code}: {msg}");
            assert_eq!((exit, kept), (3, Some(code)), "{msg}");
        }
        // An unknown code is left to Entra's own explanation.
        let (msg, exit, _) = explained(90099, "something else");
        assert!(!msg.starts_with("partner "), "{msg}");
        assert_eq!(exit, 3);
    }

    #[test]
    fn roles_are_named_and_checked_by_name_or_id() {
        assert_eq!(
            role_name("5d6b6bb7-de71-4623-b4af-96380a352509"),
            "Security Reader"
        );
        assert_eq!(role_name("not-a-role"), "not-a-role");
        let (roles, scp) = (vec!["Security Reader".into()], vec!["Alert.Read".into()]);
        assert!(carries(
            &roles,
            &scp,
            &["security reader".into(), "Alert.Read".into()]
        )
        .is_ok());
        assert!(carries(
            &roles,
            &scp,
            &["5d6b6bb7-de71-4623-b4af-96380a352509".into()]
        )
        .is_ok());
        let e = carries(&roles, &scp, &["Global Administrator".into()]).unwrap_err();
        assert_eq!(crate::error::exit_code_of(&e), 5);
        assert!(e.to_string().contains("lacks Global Administrator"), "{e}");
    }
}
