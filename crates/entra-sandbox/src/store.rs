//! Server-side state: consents (grants), pending sign-in requests, authorization codes,
//! refresh tokens and the client-assertion `jti`s already used. Lives behind one Mutex in the
//! server.

use crate::crypto::keys::random_token;
use crate::data::config::{App, Config};
use crate::scopes::Scopes;
use std::collections::HashMap;

/// Caps so a flood of requests cannot grow memory without bound.
const MAX_PENDING: usize = 10_000;
const MAX_CODES: usize = 50_000;
const MAX_REFRESH: usize = 50_000;
const MAX_JTI: usize = 100_000;
/// How long a rendered sign-in page stays valid.
const PENDING_LIFETIME: u64 = 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    pub fn label(self) -> &'static str {
        match self {
            Version::V1 => "v1.0",
            Version::V2 => "v2.0",
        }
    }
}

/// What a token is for: a v1 resource, or v2 scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// v1; `None` when the authorize request named no resource (e.g. the Defender docs'
    /// admin-consent link): the token request must then name one.
    V1 {
        resource: Option<String>,
    },
    V2(Scopes),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    Fragment,
    FormPost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// .../oauth2/authorize: ends with a code.
    Authorize,
    /// .../v2.0/adminconsent: ends with admin_consent=True&tenant=...
    AdminConsent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub value: String,
    /// S256, otherwise plain.
    pub s256: bool,
}

/// A validated authorize (or admin-consent) request, kept server-side while the page is shown.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub flow: Flow,
    pub version: Version,
    /// Tenant GUID of the path; `None` for common/organizations.
    pub path_tenant: Option<String>,
    pub client_id: String,
    /// Effective redirect URI (the exact string sent, or the app's first one if none was sent).
    pub redirect_uri: String,
    pub redirect_uri_sent: bool,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub challenge: Option<Challenge>,
    pub target: Target,
    pub login_hint: Option<String>,
    /// adminconsent's `scope`, echoed back.
    pub admin_scope: Option<String>,
    /// The authorize request's `prompt`.
    pub prompt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub upn: String,
    pub name: String,
    pub oid: String,
    /// Home tenant of the account (the token's `tid`).
    pub tid: String,
}

#[derive(Debug, Clone)]
pub struct CodeEntry {
    pub req: AuthRequest,
    pub account: Account,
    pub expires: u64,
    pub redeemed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshState {
    Active,
    /// Already exchanged for a newer one.
    Rotated,
    /// Revoked by /sandbox/revoke-sessions (password reset, revoke-sessions).
    Revoked,
}

#[derive(Debug, Clone)]
pub struct RefreshEntry {
    pub client_id: String,
    pub account: Account,
    pub target: Target,
    pub path_tenant: Option<String>,
    pub expires: u64,
    pub state: RefreshState,
}

/// One app's consent in one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grant {
    pub roles: Vec<String>,
    pub scopes: Vec<String>,
}

/// Where a device code stands (the device authorization grant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceState {
    /// Nobody has entered the user code and signed in yet.
    Pending,
    /// A person signed in and accepted: the next poll gets the tokens.
    Approved(Account),
    /// The person pressed Cancel.
    Declined,
    /// Conditional Access refused the sign-in (AADSTS53003).
    Blocked,
    /// The tokens were handed out: the device code is spent.
    Redeemed,
}

/// One device authorization request, from the devicecode endpoint to the last poll.
#[derive(Debug, Clone)]
pub struct DeviceEntry {
    pub user_code: String,
    pub client_id: String,
    pub version: Version,
    /// Tenant GUID of the path; `None` for common/organizations.
    pub path_tenant: Option<String>,
    pub target: Target,
    pub expires: u64,
    pub state: DeviceState,
}

pub struct Store {
    grants: HashMap<(String, String), Grant>,
    /// device_code -> its request; user_code -> device_code.
    devices: HashMap<String, DeviceEntry>,
    user_codes: HashMap<String, String>,
    pending: HashMap<String, (AuthRequest, u64)>,
    codes: HashMap<String, CodeEntry>,
    refresh: HashMap<String, RefreshEntry>,
    /// "client_id jti" -> until when it must stay refused (the assertion's exp).
    jtis: HashMap<String, u64>,
    last_purge: u64,
}

impl Store {
    /// Seeds the grants: every configured grant, plus each app in its home tenant.
    pub fn new(cfg: &Config) -> Store {
        let mut grants = HashMap::new();
        for t in &cfg.tenants {
            for g in &t.grants {
                let app = cfg.app(&g.client_id);
                let roles = g
                    .roles
                    .clone()
                    .unwrap_or_else(|| app.map(|a| a.roles.clone()).unwrap_or_default());
                let scopes = g
                    .scopes
                    .clone()
                    .unwrap_or_else(|| app.map(|a| a.scopes.clone()).unwrap_or_default());
                grants.insert((t.id.clone(), g.client_id.clone()), Grant { roles, scopes });
            }
        }
        for a in &cfg.apps {
            grants
                .entry((a.home_tenant.clone(), a.client_id.clone()))
                .or_insert_with(|| Grant {
                    roles: a.roles.clone(),
                    scopes: a.scopes.clone(),
                });
        }
        Store {
            grants,
            devices: HashMap::new(),
            user_codes: HashMap::new(),
            pending: HashMap::new(),
            codes: HashMap::new(),
            refresh: HashMap::new(),
            jtis: HashMap::new(),
            last_purge: 0,
        }
    }

    pub fn grant(&self, tid: &str, client_id: &str) -> Option<&Grant> {
        self.grants.get(&(tid.to_string(), client_id.to_string()))
    }

    /// Records consent of `app` in `tid` (admin consent: the app's roles and scopes) if missing,
    /// and adds `extra_scopes` (v2 dynamic consent for named permissions).
    pub fn consent(&mut self, tid: &str, app: &App, extra_scopes: &[String]) {
        let g = self
            .grants
            .entry((tid.to_string(), app.client_id.clone()))
            .or_insert_with(|| Grant {
                roles: app.roles.clone(),
                scopes: app.scopes.clone(),
            });
        for s in extra_scopes {
            if !g.scopes.iter().any(|x| x.eq_ignore_ascii_case(s)) {
                g.scopes.push(s.clone());
            }
        }
    }

    pub fn revoke_consent(&mut self, tid: &str, client_id: &str) -> bool {
        self.grants
            .remove(&(tid.to_string(), client_id.to_string()))
            .is_some()
    }

    /// Revokes the refresh tokens of a tenant's users (or of one user); returns how many.
    pub fn revoke_sessions(&mut self, tid: &str, upn: Option<&str>) -> usize {
        let mut n = 0;
        for rt in self.refresh.values_mut() {
            let user_matches = upn.is_none_or(|u| rt.account.upn.eq_ignore_ascii_case(u));
            if rt.account.tid == tid && user_matches && rt.state == RefreshState::Active {
                rt.state = RefreshState::Revoked;
                n += 1;
            }
        }
        n
    }

    pub fn add_pending(&mut self, req: AuthRequest, now: u64) -> String {
        self.purge(now);
        make_room(&mut self.pending, MAX_PENDING);
        let id = random_token(24);
        self.pending
            .insert(id.clone(), (req, now + PENDING_LIFETIME));
        id
    }

    /// Single use: the page's request id is consumed by the POST.
    pub fn take_pending(&mut self, id: &str, now: u64) -> Option<AuthRequest> {
        match self.pending.remove(id) {
            Some((req, exp)) if now < exp => Some(req),
            _ => None,
        }
    }

    pub fn add_code(
        &mut self,
        req: AuthRequest,
        account: Account,
        lifetime: u64,
        now: u64,
    ) -> String {
        self.purge(now);
        make_room(&mut self.codes, MAX_CODES);
        let code = format!("0.A{}", random_token(96));
        self.codes.insert(
            code.clone(),
            CodeEntry {
                req,
                account,
                expires: now + lifetime,
                redeemed: false,
            },
        );
        code
    }

    pub fn code_mut(&mut self, code: &str) -> Option<&mut CodeEntry> {
        self.codes.get_mut(code)
    }

    pub fn add_refresh(&mut self, entry: RefreshEntry, now: u64) -> String {
        self.purge(now);
        make_room(&mut self.refresh, MAX_REFRESH);
        let token = format!("1.A{}", random_token(160));
        self.refresh.insert(token.clone(), entry);
        token
    }

    pub fn refresh_mut(&mut self, token: &str) -> Option<&mut RefreshEntry> {
        self.refresh.get_mut(token)
    }

    /// Records a device authorization request; returns (device_code, user_code). The user code
    /// is what a person types: 9 letters and digits without look-alikes (Entra's are 8 to 9).
    pub fn add_device(&mut self, entry: DeviceEntry, now: u64) -> (String, String) {
        self.purge(now);
        make_room(&mut self.devices, MAX_CODES);
        make_room(&mut self.user_codes, MAX_CODES);
        let device_code = format!("DAQABIQEAAAB{}", random_token(120));
        let user_code = loop {
            let c = user_code();
            if !self.user_codes.contains_key(&c) {
                break c;
            }
        };
        self.user_codes
            .insert(user_code.clone(), device_code.clone());
        self.devices.insert(
            device_code.clone(),
            DeviceEntry {
                user_code: user_code.clone(),
                ..entry
            },
        );
        (device_code, user_code)
    }

    pub fn device_mut(&mut self, device_code: &str) -> Option<&mut DeviceEntry> {
        self.devices.get_mut(device_code)
    }

    /// The device code a typed user code stands for (any case, spaces and dashes ignored).
    pub fn device_of_user_code(&self, typed: &str) -> Option<String> {
        let norm: String = typed
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        self.user_codes.get(&norm).cloned()
    }

    /// Records a client assertion's jti; false if it was already used (replay).
    pub fn use_jti(&mut self, client_id: &str, jti: &str, until: u64, now: u64) -> bool {
        self.purge(now);
        let key = format!("{client_id} {jti}");
        if self.jtis.get(&key).is_some_and(|exp| now < *exp) {
            return false;
        }
        make_room(&mut self.jtis, MAX_JTI);
        self.jtis.insert(key, until.max(now + 1));
        true
    }

    /// Drops expired entries (at most once a minute). Redeemed codes and rotated refresh tokens
    /// stay until they expire, so reuse is answered with 54005 / 70008.
    fn purge(&mut self, now: u64) {
        if now < self.last_purge + 60 {
            return;
        }
        self.last_purge = now;
        self.pending.retain(|_, (_, exp)| now < *exp);
        self.codes.retain(|_, c| now < c.expires);
        // Device codes stay an hour past expiry, so late polls still get expired_token.
        self.devices.retain(|_, d| now < d.expires + 3600);
        let devices = &self.devices;
        self.user_codes.retain(|_, d| devices.contains_key(d));
        self.refresh.retain(|_, r| now < r.expires);
        self.jtis.retain(|_, exp| now < *exp);
    }
}

/// A user code: 9 characters from an alphabet without 0/O, 1/I/L look-alikes.
fn user_code() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..9)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Removes one arbitrary entry when a map is full.
fn make_room<V>(map: &mut HashMap<String, V>, cap: usize) {
    if map.len() >= cap {
        if let Some(k) = map.keys().next().cloned() {
            map.remove(&k);
        }
    }
}
