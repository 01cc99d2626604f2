//! `status`: the offline inventory of a store's profiles. It reads only the store's index
//! ([`Profiles::names`] and [`Profiles::summary`]): never a keyring secret, never the encrypted
//! store's key, never the network. For each profile: tenant, client, cloud, kind, how old its
//! refresh token is, when it was last refreshed, the days left before Entra's 90-day inactivity
//! limit, when the access token expires, the last error, and whether a person must sign in
//! again (`needs_login`) with the exact `login` command.
//!
//! The entries are sorted so the ones that need attention come first: needs a sign-in, then
//! unreadable, then a last error, then the fewest days left (an expired access token before a
//! valid one), then by name. An entry that cannot be read (a damaged file) is listed with its
//! error while the others are still listed; [`Inventory::unreadable`] tells the command to end
//! with exit 7 after printing everything.

use crate::authority::{parse_client_id, printable, Authority, Cloud, Tenant};
use crate::error::{fail, Exit};
use crate::store::profiles::{LastError, ProfileKind, Profiles, StoreKind, STORE_KINDS};
use crate::store::TokenStore;
use crate::time::{relative, rfc3339};
use crate::token::{Target, TokenSet};
use anyhow::Result;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Entra ends a session whose refresh token has not been used for this long.
pub const INACTIVITY_LIMIT_DAYS: u64 = 90;
const DAY: u64 = 86_400;

/// Why an entry is listed where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// A person must sign in again: the command is given.
    NeedsLogin,
    /// The profile's file or index entry cannot be read.
    Unreadable,
    /// The last refresh failed (for a reason that a later refresh may not have).
    Error,
    Ok,
}

impl State {
    pub fn label(self) -> &'static str {
        match self {
            State::NeedsLogin => "needs login",
            State::Unreadable => "unreadable",
            State::Error => "error",
            State::Ok => "ok",
        }
    }
}

/// The last refresh error, times in RFC 3339.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorView {
    pub at: String,
    pub message: String,
    pub aadsts: Option<u64>,
    pub needs_login: bool,
}

/// One profile's line of the inventory (`status -o json` prints an array of these).
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub profile: String,
    pub state: State,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    /// The cloud's name; `null` for a custom authority (see `authority`).
    pub cloud: Option<&'static str>,
    pub authority: Option<String>,
    /// delegated | partner
    pub kind: Option<&'static str>,
    pub endpoint: Option<String>,
    pub resource: Option<String>,
    pub scope: Option<String>,
    pub has_refresh_token: bool,
    /// When the refresh token in the profile was issued (the 90-day clock starts there).
    pub refresh_token_at: Option<String>,
    pub refresh_token_age_days: Option<u64>,
    pub last_refreshed: Option<String>,
    /// Days before the refresh token reaches the inactivity limit, rounded up: 90 just after a
    /// sign-in or refresh, 1 on its last day, 0 once it has reached it.
    pub days_left: Option<u64>,
    /// When it reaches that limit unless it is refreshed before.
    pub inactive_expiry_at: Option<String>,
    pub access_token_expires_at: Option<String>,
    pub access_token_expired: Option<bool>,
    pub last_error: Option<ErrorView>,
    pub needs_login: bool,
    /// Why a sign-in is needed.
    pub reason: Option<String>,
    /// The `login` command that replaces the profile (when `needs_login`).
    pub command: Option<String>,
    /// Why the entry cannot be read (state `unreadable`).
    pub error: Option<String>,
    /// Where the profile is kept.
    pub location: String,
    // For the table, not printed.
    #[serde(skip)]
    times: Times,
}

/// Epoch seconds behind the entry's RFC 3339 fields, for the table's "3 days ago".
#[derive(Debug, Clone, Copy, Default)]
struct Times {
    refresh_token_at: Option<u64>,
    last_refreshed: Option<u64>,
    access_token_expires_on: Option<u64>,
}

/// A store's inventory.
pub struct Inventory {
    pub store: StoreKind,
    pub dir: std::path::PathBuf,
    pub entries: Vec<Entry>,
    pub now: u64,
}

impl Inventory {
    /// The entries that could not be read.
    pub fn unreadable(&self) -> Vec<&Entry> {
        self.entries
            .iter()
            .filter(|e| e.state == State::Unreadable)
            .collect()
    }

    /// The entries that need a person to sign in again.
    pub fn needing_login(&self) -> Vec<&Entry> {
        self.entries.iter().filter(|e| e.needs_login).collect()
    }
}

/// Lists every profile of `store` (opened with [`Profiles::open_index`] or
/// [`Profiles::open`]), sorted so the ones that need attention come first.
pub fn list(store: &Profiles, now: u64) -> Result<Inventory> {
    let names = if store.dir().is_dir() {
        store.names()?
    } else if store.dir().exists() {
        return Err(fail(
            Exit::Storage,
            format!(
                "{} is not a folder, so it holds no profiles; move it away",
                store.dir().display()
            ),
        ));
    } else {
        Vec::new()
    };
    let mut entries: Vec<Entry> = names.iter().map(|n| entry(store, n, now)).collect();
    entries.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
    Ok(Inventory {
        store: store.kind(),
        dir: store.dir().to_path_buf(),
        entries,
        now,
    })
}

fn sort_key(e: &Entry) -> (State, u64, bool, &str) {
    (
        e.state,
        e.days_left.unwrap_or(u64::MAX),
        !e.access_token_expired.unwrap_or(false),
        &e.profile,
    )
}

/// Where else profiles are kept (for "none here, but the encrypted store has 2"): each other
/// store with its folder and names, listed without a key.
pub fn elsewhere(kind: StoreKind) -> Vec<(StoreKind, std::path::PathBuf, Vec<String>)> {
    STORE_KINDS
        .into_iter()
        .filter(|k| *k != kind && *k != StoreKind::None)
        .filter_map(|k| {
            let store = Profiles::open_index(k).ok()?;
            if !store.dir().is_dir() {
                return None;
            }
            let names = store.names().ok()?;
            (!names.is_empty()).then(|| (k, store.dir().to_path_buf(), names))
        })
        .collect()
}

fn entry(store: &Profiles, name: &str, now: u64) -> Entry {
    let location = store.location(name);
    let mut e = Entry {
        profile: name.to_string(),
        state: State::Unreadable,
        tenant_id: None,
        client_id: None,
        cloud: None,
        authority: None,
        kind: None,
        endpoint: None,
        resource: None,
        scope: None,
        has_refresh_token: false,
        refresh_token_at: None,
        refresh_token_age_days: None,
        last_refreshed: None,
        days_left: None,
        inactive_expiry_at: None,
        access_token_expires_at: None,
        access_token_expired: None,
        last_error: None,
        needs_login: false,
        reason: None,
        command: None,
        error: None,
        location,
        times: Times::default(),
    };
    let summary = match store.summary(name) {
        Ok(v) => v,
        Err(err) => {
            e.error = Some(one_line(&err));
            return e;
        }
    };
    if let Err(why) = fill(&mut e, store, &summary, now) {
        e.error = Some(format!(
            "{}: not a usable profile ({why}); remove it with `mssp-token logout --profile {name}{}` and sign in again",
            e.location,
            store_flag(store.kind())
        ));
        e.state = State::Unreadable;
        e.needs_login = false;
        e.command = None;
        e.reason = None;
    }
    e
}

fn store_flag(kind: StoreKind) -> String {
    match kind {
        StoreKind::File => String::new(),
        k => format!(" --store {}", k.name()),
    }
}

/// The error chain on one line, scrubbed.
fn one_line(e: &anyhow::Error) -> String {
    let text = format!("{e:#}");
    crate::redacted::scrub(
        &text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// A field of the index: absent and `null` are `None`; a value of the wrong type is an error
/// naming the field (never its value).
fn field<T: DeserializeOwned>(v: &Value, name: &str) -> std::result::Result<Option<T>, String> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => serde_json::from_value(x.clone())
            .map(Some)
            .map_err(|_| format!("its {name} has the wrong type")),
    }
}

fn required<T: DeserializeOwned>(v: &Value, name: &str) -> std::result::Result<T, String> {
    field(v, name)?.ok_or_else(|| format!("it has no {name}"))
}

/// Characters an API identifier (resource URI or scope) is made of; anything else (spaces,
/// quotes, `;`) could change the printed command, so such an entry is not trusted.
fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || ":/._~%-".contains(c))
}

/// Fills the entry from the profile's summary (its JSON without tokens).
fn fill(e: &mut Entry, store: &Profiles, v: &Value, now: u64) -> std::result::Result<(), String> {
    if !v.is_object() {
        return Err("not a JSON object".into());
    }
    let tenant_id: String = required(v, "tenant_id")?;
    let tenant =
        Tenant::parse(&tenant_id).map_err(|_| "its tenant_id is not a tenant ID or domain")?;
    let client_id: String = required(v, "client_id")?;
    parse_client_id(&client_id).map_err(|_| "its client_id is not an application ID")?;
    let cloud: Option<Cloud> = field(v, "cloud")?;
    let authority_url: Option<String> = field(v, "authority")?;
    let authority = Authority::new(
        cloud.unwrap_or(Cloud::Public),
        authority_url.as_deref(),
        tenant,
    )
    .map_err(|_| "its authority is not a login host this tool accepts")?;
    let resource: Option<String> = field(v, "resource")?;
    let scope: Option<String> = field(v, "scope")?;
    let endpoint: String = required(v, "endpoint")?;
    let expires_on: u64 = required(v, "expires_on")?;
    let kind: ProfileKind = field(v, "kind")?.unwrap_or_default();
    let obtained_at: Option<u64> = field(v, "obtained_at")?;
    let refresh_token_at: Option<u64> = field(v, "refresh_token_at")?;
    let last_refreshed: Option<u64> = field(v, "last_refreshed")?;
    let last_error: Option<LastError> = field(v, "last_error")?;
    let has_rt: bool = field(v, "has_refresh_token")?.unwrap_or(refresh_token_at.is_some());

    // The command that replaces the profile: what it asked for, where, saved back under its
    // name in this store.
    let partial = TokenSet {
        token_type: String::new(),
        access_token: String::new(),
        refresh_token: None,
        id_token: None,
        expires_in: 0,
        expires_on,
        expires_at: String::new(),
        tenant_id: tenant_id.clone(),
        client_id: client_id.clone(),
        resource: resource.clone(),
        scope: scope.clone(),
        endpoint: endpoint.clone(),
        authority: authority_url.clone(),
        cloud,
        claims: Default::default(),
    };
    let target = partial
        .target()
        .ok_or("it names neither a resource nor a scope")?;
    let target_ok = match &target {
        Target::Resource(r) => is_identifier(r),
        Target::Scopes(s) => !s.is_empty() && s.iter().all(|x| is_identifier(x)),
    };
    if !target_ok {
        return Err("its resource or scope is not an API identifier".into());
    }
    let mut command = crate::flows::refresh::sign_in_command(
        &partial,
        &target,
        &authority,
        &store.sign_in_flags(&e.profile),
    );
    if kind == ProfileKind::Partner {
        command.push_str(" --partner");
    }

    e.tenant_id = Some(tenant_id);
    e.client_id = Some(client_id);
    e.cloud = authority.cloud().map(|c| c.name());
    e.authority = Some(authority.host());
    e.kind = Some(match kind {
        ProfileKind::Delegated => "delegated",
        ProfileKind::Partner => "partner",
    });
    e.endpoint = Some(endpoint);
    e.resource = resource;
    e.scope = scope;
    e.has_refresh_token = has_rt;
    e.access_token_expires_at = Some(rfc3339(expires_on));
    e.access_token_expired = Some(expires_on <= now);
    e.last_refreshed = last_refreshed.map(rfc3339);
    e.times = Times {
        refresh_token_at: None,
        last_refreshed,
        access_token_expires_on: Some(expires_on),
    };
    e.last_error = last_error.as_ref().map(|l| ErrorView {
        at: rfc3339(l.at),
        message: crate::redacted::scrub(&l.message),
        aadsts: l.aadsts,
        needs_login: l.needs_login,
    });

    // The 90-day clock starts when the refresh token in the profile was issued.
    let clock = refresh_token_at.or(obtained_at).filter(|_| has_rt);
    let mut dead = false;
    if let Some(at) = clock {
        let limit = at.saturating_add(INACTIVITY_LIMIT_DAYS * DAY);
        e.refresh_token_at = Some(rfc3339(at));
        e.times.refresh_token_at = Some(at);
        e.refresh_token_age_days = Some(now.saturating_sub(at) / DAY);
        e.days_left = Some(
            limit
                .saturating_sub(now)
                .div_ceil(DAY)
                .min(INACTIVITY_LIMIT_DAYS),
        );
        e.inactive_expiry_at = Some(rfc3339(limit));
        dead = limit <= now;
    }

    e.reason = if let Some(l) = last_error.as_ref().filter(|l| l.needs_login) {
        Some(match l.aadsts {
            Some(code) => format!(
                "Entra refused the last refresh (AADSTS{code}): a person must sign in again"
            ),
            None => "Entra refused the last refresh: a person must sign in again".to_string(),
        })
    } else if !has_rt {
        Some("it holds no refresh token".to_string())
    } else if dead {
        Some(format!(
            "its refresh token was not used for {} days: Entra ends a session unused for {INACTIVITY_LIMIT_DAYS} days",
            e.refresh_token_age_days.unwrap_or(INACTIVITY_LIMIT_DAYS)
        ))
    } else {
        None
    };
    e.needs_login = e.reason.is_some();
    e.command = e.needs_login.then_some(command);
    e.state = if e.needs_login {
        State::NeedsLogin
    } else if last_error.is_some() {
        State::Error
    } else {
        State::Ok
    };
    Ok(())
}

/// `-o json`: one JSON array of the entries, in the inventory's order (`[]` when empty).
pub fn to_json(inv: &Inventory) -> String {
    let mut s = serde_json::to_string_pretty(&inv.entries).unwrap_or_else(|_| "[]".into());
    s.push('\n');
    s
}

/// The table's columns.
const HEADERS: [&str; 11] = [
    "PROFILE",
    "STATE",
    "TENANT",
    "CLIENT",
    "CLOUD",
    "KIND",
    "RT AGE",
    "LAST REFRESHED",
    "DAYS LEFT",
    "ACCESS TOKEN",
    "LAST ERROR",
];

/// The longest last error the table shows (the JSON has all of it).
const ERROR_WIDTH: usize = 60;

/// `-o text`: an aligned table, then the exact command for each profile that needs a person
/// to sign in again. With `color`, the state column is coloured (a terminal only). Nothing for
/// an empty inventory.
pub fn to_table(inv: &Inventory, color: bool) -> String {
    if inv.entries.is_empty() {
        return String::new();
    }
    let rows: Vec<[String; 11]> = inv.entries.iter().map(|e| row(e, inv.now)).collect();
    let mut widths = HEADERS.map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String; 11], state: Option<State>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let last = i + 1 == cells.len();
            let pad = if last {
                String::new()
            } else {
                " ".repeat(w - cell.chars().count() + 2)
            };
            match (i, state, color) {
                (1, Some(s), true) => {
                    out.push_str(&format!("\u{1b}[{}m{cell}\u{1b}[0m{pad}", ansi(s)))
                }
                _ => out.push_str(&format!("{cell}{pad}")),
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(&HEADERS.map(String::from), None);
    for (r, e) in rows.iter().zip(&inv.entries) {
        out.push_str(&line(r, Some(e.state)));
    }
    let dead = inv.needing_login();
    if !dead.is_empty() {
        out.push_str(&format!(
            "\n{} a person to sign in again:\n",
            match dead.len() {
                1 => "1 profile needs".to_string(),
                n => format!("{n} profiles need"),
            }
        ));
        for e in dead {
            if let Some(c) = &e.command {
                out.push_str(&format!("  {}: {}\n", clean(&e.profile), clean(c)));
            }
        }
    }
    out
}

fn ansi(s: State) -> &'static str {
    match s {
        State::NeedsLogin | State::Unreadable => "31",
        State::Error => "33",
        State::Ok => "32",
    }
}

/// A cell: no control character reaches the terminal.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn cut(s: &str, width: usize) -> String {
    let s = clean(s);
    if s.chars().count() <= width {
        s
    } else {
        let mut t: String = s.chars().take(width - 1).collect();
        t.push('…');
        t
    }
}

fn row(e: &Entry, now: u64) -> [String; 11] {
    let dash = || "-".to_string();
    let opt = |v: &Option<String>| v.as_deref().map(clean).unwrap_or_else(dash);
    let cloud = match (e.cloud, &e.authority) {
        (Some(c), _) => c.to_string(),
        (None, Some(a)) => printable(a),
        (None, None) => dash(),
    };
    let rt_age = match (e.has_refresh_token, e.times.refresh_token_at) {
        (_, _) if e.state == State::Unreadable => dash(),
        (false, _) => "none".to_string(),
        (true, Some(at)) => age(now.saturating_sub(at)),
        (true, None) => "unknown".to_string(),
    };
    let last_refreshed = match e.times.last_refreshed {
        Some(t) => relative(t, now),
        None if e.state == State::Unreadable => dash(),
        None => "never".to_string(),
    };
    let access = match e.times.access_token_expires_on {
        Some(t) if t <= now => format!("expired {}", relative(t, now)),
        Some(t) => format!("expires {}", relative(t, now)),
        None => dash(),
    };
    let error = match (&e.error, &e.last_error) {
        (Some(err), _) => cut(err, ERROR_WIDTH),
        (None, Some(l)) => cut(
            &match l.aadsts {
                Some(code) if !l.message.contains(&format!("AADSTS{code}")) => {
                    format!("AADSTS{code}: {}", l.message)
                }
                _ => l.message.clone(),
            },
            ERROR_WIDTH,
        ),
        (None, None) => dash(),
    };
    [
        clean(&e.profile),
        e.state.label().to_string(),
        opt(&e.tenant_id),
        opt(&e.client_id),
        cloud,
        e.kind.map(str::to_string).unwrap_or_else(dash),
        rt_age,
        last_refreshed,
        e.days_left.map(|d| d.to_string()).unwrap_or_else(dash),
        access,
        error,
    ]
}

/// "5 h", "12 days".
fn age(secs: u64) -> String {
    if secs < 3600 {
        format!("{} min", secs / 60)
    } else if secs < DAY {
        format!("{} h", secs / 3600)
    } else if secs < 2 * DAY {
        "1 day".to_string()
    } else {
        format!("{} days", secs / DAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age(59), "0 min");
        assert_eq!(age(5 * 3600 + 10), "5 h");
        assert_eq!(age(DAY + 5), "1 day");
        assert_eq!(age(89 * DAY + 3600), "89 days");
    }

    #[test]
    fn identifiers_refuse_what_could_change_a_command() {
        assert!(is_identifier("https://api.securitycenter.microsoft.com"));
        assert!(is_identifier(
            "https://api.securitycenter.microsoft.com/Alert.Read"
        ));
        assert!(is_identifier(
            "api://b64a329e-a098-404b-99fd-26066cccda7e/.default"
        ));
        for bad in ["", "x y", "x;touch z", "a'b", "$(id)", "a\u{1b}[31m"] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn cells_carry_no_control_characters_and_errors_are_cut() {
        assert_eq!(clean("a\u{1b}[31mb\n"), "a?[31mb?");
        let long = "x".repeat(100);
        let c = cut(&long, ERROR_WIDTH);
        assert_eq!(c.chars().count(), ERROR_WIDTH);
        assert!(c.ends_with('…'));
    }

    #[test]
    fn attention_first() {
        let mk = |name: &str, state: State, days: Option<u64>, expired: bool| {
            let mut e = blank(name);
            e.state = state;
            e.days_left = days;
            e.access_token_expired = Some(expired);
            e
        };
        let mut v = [
            mk("z-ok", State::Ok, Some(80), false),
            mk("b-ok-expired", State::Ok, Some(80), true),
            mk("a-ok-soon", State::Ok, Some(3), false),
            mk("m-error", State::Error, Some(85), false),
            mk("q-dead", State::NeedsLogin, Some(0), false),
            mk("c-broken", State::Unreadable, None, false),
        ];
        v.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
        let order: Vec<&str> = v.iter().map(|e| e.profile.as_str()).collect();
        assert_eq!(
            order,
            [
                "q-dead",
                "c-broken",
                "m-error",
                "a-ok-soon",
                "b-ok-expired",
                "z-ok"
            ]
        );
    }

    fn blank(name: &str) -> Entry {
        Entry {
            profile: name.into(),
            state: State::Ok,
            tenant_id: None,
            client_id: None,
            cloud: None,
            authority: None,
            kind: None,
            endpoint: None,
            resource: None,
            scope: None,
            has_refresh_token: true,
            refresh_token_at: None,
            refresh_token_age_days: None,
            last_refreshed: None,
            days_left: None,
            inactive_expiry_at: None,
            access_token_expires_at: None,
            access_token_expired: None,
            last_error: None,
            needs_login: false,
            reason: None,
            command: None,
            error: None,
            location: String::new(),
            times: Times::default(),
        }
    }
}
