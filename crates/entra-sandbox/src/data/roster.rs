//! `--write-tenants FILE`: the sandbox's tenants as a tenants file for `mssp-token onboard`
//! (TOML: [defaults] with the main app and the Defender scope, one [[tenant]] per tenant), and
//! the same tenants as a plain list of domains in `FILE.txt`.
//!
//! A tenant where the main app is not consented but the legacy app is gets that app's
//! client_id and `client_secret_env = "SANDBOX_LEGACY_SECRET"` (the environment variable the
//! caller fills with the legacy app's secret; the secret itself is never written here).
//! Allowed keys per tenant (the onboard parser rejects others): name, tenant, client_id,
//! scope, resource, require_roles, probe, cloud, client_secret_env.

use crate::data::config::Config;
use crate::data::generate::{legacy_app, LEGACY_SECRET_ENV};
use crate::store::Store;
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub const DEFENDER_SCOPE: &str = "https://api.securitycenter.microsoft.com/.default";

/// A TOML basic string.
pub fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The TOML text.
pub fn toml_text(cfg: &Config, store: &Store, now: u64) -> String {
    let main = &cfg.apps[0].client_id;
    let legacy = legacy_app(cfg, now).map(|a| a.client_id.as_str());
    let mut s = String::with_capacity(128 + cfg.tenants.len() * 96);
    s.push_str("# mssp-token sandbox: every tenant of this sandbox, for `mssp-token onboard --tenants FILE`.\n");
    if legacy.is_some() {
        let _ = writeln!(
            s,
            "# Tenants onboarded with the legacy app read its secret from ${LEGACY_SECRET_ENV}."
        );
    }
    let _ = write!(
        s,
        "\n[defaults]\nclient_id = {}\nscope = {}\n",
        toml_str(main),
        toml_str(DEFENDER_SCOPE)
    );
    for t in &cfg.tenants {
        let _ = write!(
            s,
            "\n[[tenant]]\nname = {}\ntenant = {}\n",
            toml_str(&t.name),
            toml_str(&t.domain)
        );
        if let Some(l) = legacy {
            if store.grant(&t.id, main).is_none() && store.grant(&t.id, l).is_some() {
                let _ = write!(
                    s,
                    "client_id = {}\nclient_secret_env = {}\n",
                    toml_str(l),
                    toml_str(LEGACY_SECRET_ENV)
                );
            }
        }
    }
    s
}

/// One domain a line.
pub fn list_text(cfg: &Config) -> String {
    let mut s = String::with_capacity(cfg.tenants.len() * 32);
    for t in &cfg.tenants {
        s.push_str(&t.domain);
        s.push('\n');
    }
    s
}

/// `path` with ".txt" appended to its file name.
pub fn list_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".txt");
    path.with_file_name(name)
}

/// Writes both files (each through a temporary file and a rename, so a reader never sees
/// half of one); returns the plain list's path.
pub fn write(path: &Path, cfg: &Config, store: &Store, now: u64) -> Result<PathBuf> {
    write_atomic(path, &toml_text(cfg, store, now))?;
    let list = list_path(path);
    write_atomic(&list, &list_text(cfg))?;
    Ok(list)
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text)
        .with_context(|| format!("cannot write the tenants file {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write the tenants file {}", path.display())
    })
}
