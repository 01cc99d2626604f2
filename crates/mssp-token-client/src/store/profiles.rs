//! Profiles: named credential sets, usually one per customer, in the store the user chose
//! (`--store` / MSSP_TOKEN_STORE):
//!
//! | store | the secret part | the index (no secret) |
//! |---|---|---|
//! | `file` | `DATA/profiles/NAME.json`, 0600 | the same file (tokens left out when listed) |
//! | `encrypted` | `DATA/vault/NAME.age` (age, see vault.rs) | `DATA/vault/NAME.meta.json` |
//! | `keyring` | the OS keyring, service `mssp-token`, account `profile:NAME` | `DATA/keyring/NAME.meta.json` |
//! | `none` | nothing is kept | nothing |
//!
//! DATA is MSSP_TOKEN_DATA_DIR, else the platform's per-user data folder + `mssp-token`
//! (`$XDG_DATA_HOME` or `~/.local/share` on Linux, `~/Library/Application Support` on macOS,
//! `%APPDATA%` on Windows). Folders the tool creates are 0700; a folder or file owned by
//! another user, or writable by others, is refused.
//!
//! A profile is the JSON object `--save` writes (so a saved file imports as is) plus its
//! history: `profile` (the name), `kind` (delegated | partner), `obtained_at`,
//! `refresh_token_at` (when the refresh token in it was issued: the 90-day inactivity clock
//! starts there), `last_refreshed` and `last_error`. Every change happens under the profile's
//! lock file (`.NAME.lock` in the store folder), waited for at most MSSP_TOKEN_LOCK_WAIT_SECS.

use crate::error::{fail, io_reason, usage, Exit};
use crate::store::keyring::Keyring;
use crate::store::vault::{Vault, VaultKey};
use crate::store::{file, paths, Pending, StoreLock, TokenStore};
use crate::token::{Target, TokenSet};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where profiles are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    File,
    Keyring,
    Encrypted,
    None,
}

pub const STORE_KINDS: [StoreKind; 4] = [
    StoreKind::File,
    StoreKind::Keyring,
    StoreKind::Encrypted,
    StoreKind::None,
];

impl StoreKind {
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::File => "file",
            StoreKind::Keyring => "keyring",
            StoreKind::Encrypted => "encrypted",
            StoreKind::None => "none",
        }
    }

    pub fn parse(s: &str) -> Result<StoreKind> {
        STORE_KINDS
            .into_iter()
            .find(|k| k.name() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                usage(format!(
                    "unknown store '{}': choose file, keyring, encrypted or none",
                    crate::authority::printable(s)
                ))
            })
    }

    /// The store folder's name under the data folder.
    fn folder(self) -> &'static str {
        match self {
            StoreKind::File => "profiles",
            StoreKind::Keyring => "keyring",
            StoreKind::Encrypted => "vault",
            StoreKind::None => "",
        }
    }
}

/// What a profile holds: delegated tokens of one customer, or a partner (GDAP) session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProfileKind {
    #[default]
    Delegated,
    Partner,
}

/// The last failure of a refresh, kept for `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastError {
    /// Epoch seconds.
    pub at: u64,
    pub message: String,
    #[serde(default)]
    pub aadsts: Option<u64>,
    #[serde(default)]
    pub needs_login: bool,
}

/// A profile's history, kept beside the token set in the same JSON object.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct History {
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub kind: ProfileKind,
    #[serde(default)]
    pub obtained_at: Option<u64>,
    #[serde(default)]
    pub refresh_token_at: Option<u64>,
    #[serde(default)]
    pub last_refreshed: Option<u64>,
    #[serde(default)]
    pub last_error: Option<LastError>,
    /// A partner (GDAP) session: the partner user who signed in, and the partner's tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_upn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_tenant: Option<String>,
}

/// A stored profile: the token set and its history.
pub struct Profile {
    pub name: String,
    pub set: TokenSet,
    pub history: History,
}

impl Profile {
    /// A profile just signed in (or imported from a `--save` file).
    pub fn new(name: &str, set: TokenSet, kind: ProfileKind, now: u64) -> Profile {
        Profile {
            name: name.to_string(),
            history: History {
                profile: Some(name.to_string()),
                kind,
                obtained_at: Some(now),
                refresh_token_at: set.refresh_token.as_ref().map(|_| now),
                last_refreshed: None,
                last_error: None,
                partner_upn: (kind == ProfileKind::Partner)
                    .then(|| crate::flows::partner::upn_of(&set))
                    .flatten(),
                partner_tenant: (kind == ProfileKind::Partner).then(|| set.tenant_id.clone()),
            },
            set,
        }
    }

    /// The JSON object: the token set's fields and the history's.
    pub fn to_value(&self) -> Value {
        let mut v: Value = serde_json::from_str(&self.set.to_json()).unwrap_or(Value::Null);
        if let (Value::Object(m), Ok(Value::Object(h))) =
            (&mut v, serde_json::to_value(&self.history))
        {
            m.extend(h);
        }
        v
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut s = self.to_value().to_string();
        s.push('\n');
        s.into_bytes()
    }

    fn from_bytes(name: &str, bytes: &[u8], what: &str) -> Result<Profile> {
        let bad = |why: String| {
            fail(
                Exit::Storage,
                format!("{what}: not a profile ({why}); remove it with `mssp-token logout --profile {name}` (and the --store you used) and sign in again"),
            )
        };
        let set =
            TokenSet::from_json(bytes).map_err(|e| bad(crate::redacted::scrub(&e.to_string())))?;
        let mut history: History = serde_json::from_slice(bytes)
            .map_err(|e| bad(crate::redacted::scrub(&e.to_string())))?;
        history.profile = Some(name.to_string());
        Ok(Profile {
            name: name.to_string(),
            set,
            history,
        })
    }

    /// The profile's JSON without its tokens, for the index and `status`.
    pub fn summary(&self) -> Value {
        let mut v = self.to_value();
        if let Value::Object(m) = &mut v {
            let has_rt = m.remove("refresh_token").is_some();
            m.remove("access_token");
            m.remove("id_token");
            m.insert("has_refresh_token".into(), has_rt.into());
        }
        v
    }
}

/// Whether `set` is for `target`: the same resource, or the same scopes ignoring the OpenID
/// ones and case.
pub fn same_target(set: &TokenSet, target: &Target) -> bool {
    match (set.target(), target) {
        (Some(Target::Resource(a)), Target::Resource(b)) => a
            .trim_end_matches('/')
            .eq_ignore_ascii_case(b.trim_end_matches('/')),
        (Some(Target::Scopes(a)), Target::Scopes(b)) => {
            let norm = |v: &[String]| {
                let mut v: Vec<String> = v
                    .iter()
                    .filter(|s| !crate::token::is_oidc_scope(s))
                    .map(|s| s.to_ascii_lowercase())
                    .collect();
                v.sort();
                v.dedup();
                v
            };
            norm(&a) == norm(b)
        }
        _ => false,
    }
}

/// The API a target is for: the v1 resource, or the resource part that all of the v2 scopes
/// share (`https://api.securitycenter.microsoft.com/Alert.Read` ->
/// `https://api.securitycenter.microsoft.com`); `None` when that is not clear.
pub fn audience(target: &Target) -> Option<String> {
    let norm = |r: &str| r.trim_end_matches('/').to_ascii_lowercase();
    match target {
        Target::Resource(r) => Some(norm(r)),
        Target::Scopes(scopes) => {
            let mut found: Option<String> = None;
            for s in scopes.iter().filter(|s| !crate::token::is_oidc_scope(s)) {
                let (resource, _) = s.rsplit_once('/')?;
                let resource = norm(resource);
                if resource.is_empty() || found.as_ref().is_some_and(|f| *f != resource) {
                    return None;
                }
                found = Some(resource);
            }
            found
        }
    }
}

/// Checks a profile name: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or
/// digit (so it is a safe file name everywhere and never a path).
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err(usage(format!(
            "profile name '{}' is not allowed: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. the customer's short name, contoso)",
            crate::authority::printable(name)
        )))
    }
}

/// The per-user data folder (without creating it).
pub fn data_dir() -> Result<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(d) = env("MSSP_TOKEN_DATA_DIR") {
        return Ok(d);
    }
    if cfg!(target_os = "macos") {
        if let Some(h) = env("HOME") {
            return Ok(h.join("Library/Application Support/mssp-token"));
        }
    }
    if cfg!(windows) {
        if let Some(a) = env("APPDATA") {
            return Ok(a.join("mssp-token"));
        }
    }
    if let Some(d) = env("XDG_DATA_HOME") {
        return Ok(d.join("mssp-token"));
    }
    if let Some(h) = env("HOME") {
        return Ok(h.join(".local/share/mssp-token"));
    }
    Err(fail(
        Exit::Storage,
        "no folder for profiles: set HOME or MSSP_TOKEN_DATA_DIR",
    ))
}

enum Backend {
    File,
    Keyring(Keyring),
    Encrypted(Arc<Vault>),
    /// The encrypted store opened without its key ([`Profiles::open_index`]): its index can be
    /// listed, its sealed files neither read nor written.
    Sealed,
}

/// The profiles of one store.
pub struct Profiles {
    kind: StoreKind,
    dir: PathBuf,
    backend: Backend,
}

impl Profiles {
    /// Opens the store of `kind` (`key` is the encrypted store's key, if given). `none` is a
    /// usage error here: it keeps no profiles.
    pub fn open(kind: StoreKind, key: Option<&VaultKey>) -> Result<Profiles> {
        if kind == StoreKind::None {
            return Err(usage(
                "the store 'none' keeps nothing, so it has no profiles: choose --store file, keyring or encrypted (or MSSP_TOKEN_STORE)",
            ));
        }
        let dir = data_dir()?.join(kind.folder());
        crate::store::cache::create_private_dir(&dir)?;
        check_private(&dir)?;
        let backend = match kind {
            StoreKind::Keyring => {
                // Asked now, before anyone signs in or a refresh token is spent: a keyring that
                // cannot take a write is exit 7 with the fix, never a plaintext fallback.
                let keyring = Keyring::default();
                keyring.probe()?;
                Backend::Keyring(keyring)
            }
            StoreKind::Encrypted => {
                let key = key.ok_or_else(|| {
                    usage("the encrypted store needs its key: set MSSP_TOKEN_PASSPHRASE, pass --passphrase-file FILE, or set MSSP_TOKEN_IDENTITY to an age identity file")
                })?;
                let vault =
                    Vault::open(&dir, key).map_err(|e| crate::error::at("encrypted:", e))?;
                Backend::Encrypted(Arc::new(vault))
            }
            _ => Backend::File,
        };
        Ok(Profiles { kind, dir, backend })
    }

    /// Opens the store of `kind` to list it (`names`, `summary`: what `status` reads) without
    /// its key, the keyring or creating its folder: the encrypted store needs no passphrase
    /// here, and `load` or `save` on it is a usage error asking for the key. A folder that
    /// exists is still refused if it is not private.
    pub fn open_index(kind: StoreKind) -> Result<Profiles> {
        if kind == StoreKind::None {
            return Err(usage(
                "the store 'none' keeps nothing, so it has no profiles: choose --store file, keyring or encrypted (or MSSP_TOKEN_STORE)",
            ));
        }
        let dir = data_dir()?.join(kind.folder());
        if dir.exists() {
            check_private(&dir)?;
        }
        let backend = match kind {
            StoreKind::Keyring => Backend::Keyring(Keyring::default()),
            StoreKind::Encrypted => Backend::Sealed,
            _ => Backend::File,
        };
        Ok(Profiles { kind, dir, backend })
    }

    pub fn kind(&self) -> StoreKind {
        self.kind
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn index_path(&self, name: &str) -> PathBuf {
        match self.backend {
            Backend::File => self.dir.join(format!("{name}.json")),
            _ => self.dir.join(format!("{name}.meta.json")),
        }
    }

    fn secret_path(&self, name: &str) -> PathBuf {
        match self.backend {
            Backend::Encrypted(_) | Backend::Sealed => self.dir.join(format!("{name}.age")),
            _ => self.dir.join(format!("{name}.json")),
        }
    }

    fn account(name: &str) -> String {
        format!("profile:{name}")
    }

    /// The names of the profiles in this store, sorted.
    pub fn names(&self) -> Result<Vec<String>> {
        let suffix = match self.backend {
            Backend::File => ".json",
            _ => ".meta.json",
        };
        let entries = std::fs::read_dir(&self.dir).map_err(|e| {
            fail(
                Exit::Storage,
                format!("cannot list {} ({})", self.dir.display(), io_reason(&e)),
            )
        })?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|f| f.strip_suffix(suffix).map(str::to_string))
            .filter(|n| check_name(n).is_ok() && !n.ends_with(".meta"))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The profile's JSON without tokens (offline: never asks the keyring or the key).
    pub fn summary(&self, name: &str) -> Result<Value> {
        check_name(name)?;
        let path = self.index_path(name);
        let bytes = paths::read_regular(&path)?;
        let what = path.display().to_string();
        match self.backend {
            Backend::File => Ok(Profile::from_bytes(name, &bytes, &what)?.summary()),
            _ => {
                let v: Value = serde_json::from_slice(&bytes).map_err(|_| {
                    fail(
                        Exit::Storage,
                        format!("{what}: not a profile index (damaged?); remove it with `mssp-token logout {}`", self.sign_in_flags(name)),
                    )
                })?;
                if !v.is_object() {
                    return Err(fail(Exit::Storage, format!("{what}: not a profile index")));
                }
                Ok(v)
            }
        }
    }

    /// Whether the profile exists in this store.
    pub fn exists(&self, name: &str) -> bool {
        std::fs::symlink_metadata(self.index_path(name)).is_ok()
    }

    /// Reads the whole profile; a missing one is exit 7 naming the ones there are (and the store
    /// that has it, if another one does).
    pub fn load(&self, name: &str) -> Result<Profile> {
        check_name(name)?;
        if !self.exists(name) {
            return Err(self.unknown(name));
        }
        let what = self.location(name);
        let bytes = match &self.backend {
            Backend::File => paths::read_regular(&self.secret_path(name))?,
            Backend::Encrypted(vault) => {
                let sealed = paths::read_regular(&self.secret_path(name))?;
                vault.open_file(&sealed, &what)?
            }
            Backend::Sealed => return Err(sealed()),
            Backend::Keyring(k) => match k.get(&Self::account(name))? {
                Some(s) => s.into_bytes(),
                None => {
                    return Err(fail(
                        Exit::Storage,
                        format!("the keyring has no entry for profile {name} although {} lists it (deleted outside mssp-token?); sign in again with `mssp-token login ... {}`", self.index_path(name).display(), self.sign_in_flags(name)),
                    ))
                }
            },
        };
        Profile::from_bytes(name, &bytes, &what)
    }

    /// The error for a profile this store does not have: exit 7 naming the ones it has, and
    /// another store that has one of that name.
    pub fn unknown(&self, name: &str) -> anyhow::Error {
        let have = self.names().unwrap_or_default();
        let listed = if have.is_empty() {
            format!(
                "there are none in the {} store ({})",
                self.kind.name(),
                self.dir.display()
            )
        } else {
            format!("the {} store has: {}", self.kind.name(), have.join(", "))
        };
        let elsewhere = STORE_KINDS
            .into_iter()
            .filter(|k| *k != self.kind && *k != StoreKind::None)
            .find_map(|k| {
                let dir = data_dir().ok()?.join(k.folder());
                let file = match k {
                    StoreKind::File => dir.join(format!("{name}.json")),
                    _ => dir.join(format!("{name}.meta.json")),
                };
                file.exists().then(|| {
                    format!(
                        "; a profile {name} is in the {} store ({}): add --store {} (or set MSSP_TOKEN_STORE)",
                        k.name(),
                        dir.display(),
                        k.name()
                    )
                })
            })
            .unwrap_or_default();
        fail(
            Exit::Storage,
            format!("no profile named {name}: {listed}{elsewhere}"),
        )
    }

    /// Writes the whole profile (the secret part first, then the index), never half-written.
    pub fn save(&self, p: &Profile) -> Result<()> {
        check_name(&p.name)?;
        let bytes = p.to_bytes();
        match &self.backend {
            Backend::File => file::write_atomic(&self.secret_path(&p.name), &bytes),
            Backend::Encrypted(vault) => {
                let sealed = vault.seal(&bytes)?;
                file::write_atomic(&self.secret_path(&p.name), &sealed)?;
                self.write_index(p)
            }
            Backend::Sealed => Err(sealed()),
            Backend::Keyring(k) => {
                let text = String::from_utf8(bytes).unwrap_or_default();
                k.set(&Self::account(&p.name), &text)?;
                self.write_index(p)
            }
        }
    }

    fn write_index(&self, p: &Profile) -> Result<()> {
        let mut s = p.summary().to_string();
        s.push('\n');
        file::write_atomic(&self.index_path(&p.name), s.as_bytes())
    }

    /// Deletes the profile; `false` if there was none.
    pub fn delete(&self, name: &str) -> Result<bool> {
        check_name(name)?;
        let mut found = false;
        if let Backend::Keyring(k) = &self.backend {
            found |= k.delete(&Self::account(name))?;
        }
        for path in [self.secret_path(name), self.index_path(name)] {
            match std::fs::remove_file(&path) {
                Ok(()) => found = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(fail(
                        Exit::Storage,
                        format!("cannot delete {} ({})", path.display(), io_reason(&e)),
                    ))
                }
            }
        }
        Ok(found)
    }

    /// Records a failed refresh in the profile's history (under its lock, by the caller).
    pub fn record_error(&self, name: &str, error: LastError) -> Result<()> {
        let mut p = self.load(name)?;
        p.history.last_error = Some(error);
        self.save(&p)
    }
}

impl TokenStore for Profiles {
    fn location(&self, key: &str) -> String {
        match self.backend {
            Backend::Keyring(_) => format!("profile {key} (OS keyring)"),
            Backend::Encrypted(_) | Backend::Sealed => {
                format!("profile {key} ({})", self.secret_path(key).display())
            }
            Backend::File => format!("profile {key} ({})", self.secret_path(key).display()),
        }
    }

    fn sign_in_flags(&self, key: &str) -> String {
        match self.kind {
            StoreKind::File => format!("--profile {key}"),
            k => format!("--profile {key} --store {}", k.name()),
        }
    }

    fn get(&self, key: &str) -> Result<Option<TokenSet>> {
        if !self.exists(key) {
            return Err(self.unknown(key));
        }
        Ok(Some(self.load(key)?.set))
    }

    /// Writes a renewed set back: the history is kept, `last_refreshed` set, `last_error`
    /// cleared, and `refresh_token_at` moved when the refresh token changed. A set redeemed for
    /// another audience than the profile's own (`api --profile`, `--resource`, `--scope`) gives
    /// the profile only its rotated refresh token: the profile keeps its own target and access
    /// token, so that `refresh --all`, `status` and the sign-in command stay what it was made for.
    fn put(&self, key: &str, set: &TokenSet) -> Result<()> {
        let now = crate::time::now_epoch();
        // An existing profile that cannot be read now is an error (the caller keeps the new
        // set beside it), never a reason to write it back with its history forgotten.
        let old = match self.exists(key) {
            true => Some(self.load(key)?),
            false => None,
        };
        let (mut history, stored) = match old {
            Some(p) => {
                let mut history = p.history;
                if set.refresh_token.is_some() && set.refresh_token != p.set.refresh_token {
                    history.refresh_token_at = Some(now);
                }
                let own_target = p.set.target();
                let stored = match own_target {
                    Some(t) if !same_target(set, &t) => TokenSet {
                        refresh_token: set.refresh_token.clone().or(p.set.refresh_token.clone()),
                        ..p.set
                    },
                    _ => set.clone(),
                };
                (history, stored)
            }
            None => (
                History {
                    refresh_token_at: set.refresh_token.as_ref().map(|_| now),
                    ..History::default()
                },
                set.clone(),
            ),
        };
        history.obtained_at.get_or_insert(now);
        history.last_refreshed = Some(now);
        history.last_error = None;
        history.profile = Some(key.to_string());
        self.save(&Profile {
            name: key.to_string(),
            set: stored,
            history,
        })
    }

    fn lock(&self, key: &str) -> Result<StoreLock> {
        check_name(key)?;
        let path = self.dir.join(format!(".{key}.lock"));
        let mut options = std::fs::OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
        }
        let f = options.open(&path).map_err(|e| {
            fail(
                Exit::Storage,
                format!(
                    "cannot open the lock file {} ({})",
                    path.display(),
                    io_reason(&e)
                ),
            )
        })?;
        crate::store::lock::exclusive(&f, &path)?;
        Ok(StoreLock::on(f))
    }

    fn prepare(&self, key: &str) -> Result<Box<dyn Pending>> {
        // The folder must be writable now (a temporary file proves it); the keyring is asked
        // when the set is written.
        let probe = file::AtomicWrite::prepare(&self.secret_path(key))?;
        drop(probe);
        Ok(Box::new(ProfileWrite {
            store: Profiles {
                kind: self.kind,
                dir: self.dir.clone(),
                backend: match &self.backend {
                    Backend::File => Backend::File,
                    Backend::Keyring(k) => Backend::Keyring(k.clone()),
                    Backend::Encrypted(v) => Backend::Encrypted(v.clone()),
                    Backend::Sealed => Backend::Sealed,
                },
            },
            key: key.to_string(),
        }))
    }

    /// The new set goes beside the profile, as a token file (`NAME.json.rescued-<time>`, 0600,
    /// in the store's folder; the encrypted store's sealed, `NAME.age.rescued-<time>`): losing
    /// it would lose the session.
    fn rescue(&self, key: &str, set: &TokenSet) -> Result<String> {
        if let Backend::Encrypted(vault) = &self.backend {
            // Encrypted like the profile (`NAME.age.rescued-<time>`): the store's promise
            // holds for the rescued tokens too.
            let path = self.secret_path(key);
            let sealed = vault.seal(set.to_json().as_bytes())?;
            return file::write_beside(&path, &sealed)
                .map(|p| format!("{} (encrypted like the profile)", p.display()))
                .map_err(|e| {
                    fail(
                        Exit::Storage,
                        format!(
                            "cannot keep the token beside {} ({})",
                            path.display(),
                            io_reason(&e)
                        ),
                    )
                });
        }
        let path = self.dir.join(format!("{key}.json"));
        file::write_beside(&path, set.to_json().as_bytes())
            .map(|p| p.display().to_string())
            .map_err(|e| {
                fail(
                    Exit::Storage,
                    format!(
                        "cannot keep the token beside {} ({})",
                        path.display(),
                        io_reason(&e)
                    ),
                )
            })
    }

    fn restore_hint(&self, key: &str, place: &str) -> String {
        let flags = self.sign_in_flags(key);
        let place = shell_words::quote(place);
        match self.backend {
            Backend::File => format!(
                "Once the problem is fixed, move that file over {} (or import it: `mssp-token logout {flags}`, then `mssp-token refresh --from {place} {flags}`).",
                self.secret_path(key).display()
            ),
            _ => format!(
                "Once the problem is fixed, import it into the profile: `mssp-token logout {flags}`, then `mssp-token refresh --from {place} {flags}`; then delete that file."
            ),
        }
    }
}

struct ProfileWrite {
    store: Profiles,
    key: String,
}

impl Pending for ProfileWrite {
    fn write(self: Box<Self>, set: &TokenSet) -> Result<()> {
        self.store.put(&self.key, set)
    }
}

/// The encrypted store opened by [`Profiles::open_index`] cannot read or write a profile.
fn sealed() -> anyhow::Error {
    usage("the encrypted store needs its key: set MSSP_TOKEN_PASSPHRASE, pass --passphrase-file FILE, or set MSSP_TOKEN_IDENTITY to an age identity file")
}

/// Refuses a store folder another user owns or others may write.
fn check_private(dir: &Path) -> Result<()> {
    let meta = std::fs::metadata(dir).map_err(|e| {
        fail(
            Exit::Storage,
            format!("cannot use {} ({})", dir.display(), io_reason(&e)),
        )
    })?;
    if let Some(uid) = paths::foreign_owner(&meta) {
        return Err(fail(
            Exit::Storage,
            format!("{} belongs to another user (uid {uid}); profiles must live in a folder of yours (set MSSP_TOKEN_DATA_DIR)", dir.display()),
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.mode() & 0o022 != 0 {
            return Err(fail(
                Exit::Storage,
                format!(
                    "{} is writable by group or others (mode {:o}), who could replace your profiles: `chmod 700 {}`",
                    dir.display(),
                    meta.mode() & 0o7777,
                    dir.display()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_file_names() {
        for ok in ["contoso", "a", "fabrikam-eu.2", "C_1"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "../x",
            "a/b",
            ".hidden",
            "-x",
            "a..b",
            "x\u{1b}[31m",
            &"a".repeat(65),
        ] {
            let e = check_name(bad).unwrap_err().to_string();
            assert!(e.contains("is not allowed"), "{bad}: {e}");
            assert!(!e.contains('\u{1b}'));
        }
    }

    #[test]
    fn the_audience_of_a_target() {
        let scopes = |v: &[&str]| Target::Scopes(v.iter().map(|s| s.to_string()).collect());
        let mde = "https://api.securitycenter.microsoft.com";
        assert_eq!(
            audience(&Target::Resource(format!("{mde}/"))).as_deref(),
            Some(mde)
        );
        assert_eq!(
            audience(&scopes(&[
                "https://API.securitycenter.microsoft.com/Alert.Read",
                "https://api.securitycenter.microsoft.com/.default",
                "offline_access",
                "openid"
            ]))
            .as_deref(),
            Some(mde)
        );
        // Two APIs, or a bare Graph permission: not clear, so a token is redeemed.
        assert_eq!(
            audience(&scopes(&[
                "https://api.securitycenter.microsoft.com/Alert.Read",
                "https://api.security.microsoft.com/Incident.Read"
            ])),
            None
        );
        assert_eq!(audience(&scopes(&["User.Read"])), None);
    }

    #[test]
    fn stores_parse_by_name() {
        assert_eq!(StoreKind::parse("Keyring").unwrap(), StoreKind::Keyring);
        let e = StoreKind::parse("vault").unwrap_err().to_string();
        assert!(e.contains("file, keyring, encrypted or none"), "{e}");
    }
}
