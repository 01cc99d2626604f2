//! Tenant IDs remembered: a verified domain resolved to its tenant GUID through discovery
//! (`entra/discovery.rs`), kept for at most [`LIFETIME`] in the token cache's folder, one 0600
//! file per authority and domain (`tenant-<hash>.json`). An entry is used only when it is a
//! regular file of this user that nobody else can write, names the same discovery URL, holds a
//! GUID and is neither stale nor from the future; anything else is a miss and the domain is
//! resolved again. Nothing secret is stored here.

use super::cache::Cache;
use super::TokenStore;
use crate::authority::is_guid;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How long a resolved tenant ID is trusted. A domain moves to another tenant rarely, and a
/// stale mapping fails closed (the token's tid would not match: exit 5), so a day is safe.
pub const LIFETIME: u64 = 24 * 3600;

/// Clock skew accepted on `resolved_at`.
const SKEW: u64 = 300;

/// One entry's JSON.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Entry {
    /// The discovery document's URL: the authority host and the domain.
    discovery_url: String,
    tenant_id: String,
    /// Epoch seconds.
    resolved_at: u64,
}

/// The tenant-ID entries in the cache folder.
#[derive(Clone)]
pub struct TenantIds {
    cache: Cache,
}

impl TenantIds {
    /// The entries beside the token cache's.
    pub fn in_cache(cache: &Cache) -> TenantIds {
        TenantIds {
            cache: cache.clone(),
        }
    }

    /// Where the entry for a discovery URL lives.
    pub fn path(&self, discovery_url: &str) -> PathBuf {
        let key = Cache::key(&["tenant-id", discovery_url]);
        PathBuf::from(self.cache.location(&format!("tenant-{key}")))
    }

    /// The remembered tenant ID for `discovery_url`, or None (absent, stale, not trusted, or the cache folder is not trusted: then nothing is read or written).
    pub fn get(&self, discovery_url: &str, now: u64) -> Option<String> {
        if !self.cache.trusted() {
            return None;
        }
        let path = self.path(discovery_url);
        match read_entry(&path, discovery_url, now) {
            Ok(Some(id)) => Some(id),
            Ok(None) => None,
            Err(why) => {
                crate::warn!(
                    "ignoring the tenant-ID cache entry {} ({why}); resolving the domain again",
                    path.display()
                );
                None
            }
        }
    }

    /// Remembers `tenant_id` for `discovery_url` (written atomically, mode 0600).
    pub fn put(&self, discovery_url: &str, tenant_id: &str, now: u64) -> Result<()> {
        if !self.cache.trusted() {
            return Ok(());
        }
        let entry = Entry {
            discovery_url: discovery_url.to_string(),
            tenant_id: tenant_id.to_ascii_lowercase(),
            resolved_at: now,
        };
        let json = serde_json::to_vec(&entry).unwrap_or_default();
        super::file::write_atomic_unsynced(&self.path(discovery_url), &json)
    }
}

/// Ok(None) for an absent or stale entry (a plain miss), Err(why) for one that must not be
/// trusted (said on stderr).
fn read_entry(path: &Path, discovery_url: &str, now: u64) -> Result<Option<String>, String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(crate::error::io_reason(&e)),
    };
    if !meta.file_type().is_file() {
        return Err(format!(
            "it is {}, not a regular file",
            super::paths::describe(&meta.file_type())
        ));
    }
    if let Some(uid) = super::paths::foreign_owner(&meta) {
        return Err(format!("it belongs to another user (uid {uid})"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o022 != 0 {
            return Err(format!("other users can write it (mode {mode:o})"));
        }
    }
    let bytes = super::paths::read_regular(path).map_err(|e| e.to_string())?;
    let entry: Entry = serde_json::from_slice(&bytes)
        .map_err(|_| "not a tenant-ID entry written by mssp-token".to_string())?;
    if entry.discovery_url != discovery_url {
        return Err("it is for another domain or authority".into());
    }
    let id = entry.tenant_id.to_ascii_lowercase();
    if !is_guid(&id) {
        return Err("its tenant ID is not a GUID".into());
    }
    if entry.resolved_at > now.saturating_add(SKEW) {
        return Err("it is dated in the future".into());
    }
    if now.saturating_sub(entry.resolved_at) >= LIFETIME {
        crate::verbose!("the tenant-ID cache entry {} is stale", path.display());
        return Ok(None);
    }
    Ok(Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str =
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration";
    const G: &str = "4a1f7c2e-5b8d-4e3f-9a6b-0c2d4e6f8a1b";

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("e.json");
        super::super::file::write_atomic(&p, text.as_bytes()).unwrap();
        p
    }

    #[test]
    fn entries_are_checked_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_800_000_000;
        let good = format!(r#"{{"discovery_url":"{URL}","tenant_id":"{G}","resolved_at":{now}}}"#);
        let p = write(dir.path(), &good);
        assert_eq!(read_entry(&p, URL, now + 10), Ok(Some(G.to_string())));
        // Stale: a plain miss.
        assert_eq!(read_entry(&p, URL, now + LIFETIME), Ok(None));
        // Another domain's entry, from the future, not a GUID, not JSON: not trusted.
        assert!(read_entry(&p, &URL.replace("contoso", "fabrikam"), now).is_err());
        assert!(read_entry(&p, URL, now - 3600).is_err());
        let p = write(dir.path(), &good.replace(G, "';touch x;'"));
        assert!(read_entry(&p, URL, now).is_err());
        let p = write(dir.path(), "{");
        assert!(read_entry(&p, URL, now).is_err());
        // Absent: a miss.
        assert_eq!(read_entry(&dir.path().join("none"), URL, now), Ok(None));
    }

    #[cfg(unix)]
    #[test]
    fn an_entry_others_can_write_is_not_trusted() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let now = 1_800_000_000;
        let p = write(
            dir.path(),
            &format!(r#"{{"discovery_url":"{URL}","tenant_id":"{G}","resolved_at":{now}}}"#),
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = read_entry(&p, URL, now).unwrap_err();
        assert!(e.contains("other users can write it"), "{e}");
    }
}
