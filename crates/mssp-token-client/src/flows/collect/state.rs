//! The state folder: one cursor file per tenant and source (`<tenant id>.<source>.json`), an
//! `out.json` naming the output file and its length when the run began, and a lock file so that
//! two runs never share a folder. Every file is replaced atomically (temporary file, fsync,
//! rename), mode 0600, in a folder of this user's that others cannot write.

use super::source::Source;
use super::stamp::Stamp;
use super::window::Cursor;
use crate::error::{fail, io_reason, Exit};
use crate::store::{file, paths};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Where an output file stood: its identity and a length whose lines are all accounted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutMark {
    pub dev: u64,
    pub ino: u64,
    pub len: u64,
}

/// One cursor file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub version: u32,
    /// The tenant's name in the tenants file (for people reading the folder).
    pub tenant: String,
    pub tenant_id: String,
    pub source: Source,
    /// The last update time written, as the API wrote it.
    pub cursor: String,
    /// The ids written at that time.
    pub ids_at_cursor: Vec<String>,
    /// Records written by every run so far.
    pub written: u64,
    pub updated_at: String,
    /// With `--out FILE`: the output file and its length after this cursor's last records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out: Option<OutMark>,
}

impl Saved {
    pub fn cursor(&self) -> Option<Cursor> {
        let mut c = Cursor::at(Stamp::parse(&self.cursor)?);
        c.ids = self.ids_at_cursor.iter().cloned().collect();
        Some(c)
    }

    pub fn set_cursor(&mut self, c: &Cursor) {
        self.cursor = c.stamp.as_str().to_string();
        let mut ids: Vec<String> = c.ids.iter().cloned().collect();
        ids.sort();
        self.ids_at_cursor = ids;
    }
}

/// An open, locked state folder.
pub struct StateDir {
    dir: PathBuf,
    _lock: File,
}

impl StateDir {
    /// Opens (or creates, 0700) the folder and takes its lock (waiting at most
    /// MSSP_TOKEN_LOCK_WAIT_SECS for another run to finish).
    pub fn open(dir: &Path) -> Result<StateDir> {
        let shown = dir.display();
        match std::fs::symlink_metadata(dir) {
            Ok(m) if m.is_dir() => check_private(dir, &m)?,
            Ok(m) => {
                return Err(fail(
                    Exit::Storage,
                    format!(
                        "state folder {shown}: it is {}, not a folder; give a folder (created if missing)",
                        paths::describe(&m.file_type())
                    ),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_private(dir)?,
            Err(e) => {
                return Err(fail(
                    Exit::Storage,
                    format!("state folder {shown}: {}", io_reason(&e)),
                ))
            }
        }
        let lock_path = dir.join("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| {
                fail(
                    Exit::Storage,
                    format!(
                        "state folder {shown}: cannot open its lock file ({})",
                        io_reason(&e)
                    ),
                )
            })?;
        crate::store::lock::blocking(|| crate::store::lock::exclusive(&lock, &lock_path)).map_err(
            |e| {
                fail(
                    Exit::Storage,
                    format!(
                        "state folder {shown} is in use by another collect run ({e}); one folder serves one run at a time (give each shard its own)"
                    ),
                )
            },
        )?;
        Ok(StateDir {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    fn path(&self, tenant_id: &str, source: Source) -> PathBuf {
        self.dir.join(format!("{tenant_id}.{}.json", source.name()))
    }

    /// The cursor file of a tenant's source; `None` when there is none yet. A file that cannot
    /// be read is an error naming it and the way out (that source fails, the others go on).
    pub fn load(&self, tenant_id: &str, source: Source) -> Result<Option<Saved>> {
        let path = self.path(tenant_id, source);
        // Only a missing file means "no cursor yet": any other trouble is an error (starting
        // again from --since would write records twice).
        if let Err(e) = std::fs::symlink_metadata(&path) {
            if e.kind() == std::io::ErrorKind::NotFound {
                return Ok(None);
            }
        }
        let bytes = paths::read_regular(&path)?;
        let bad = |why: &str| {
            fail(
                Exit::Storage,
                format!(
                    "{}: {why}; fix it, or delete it to collect this tenant's {} again from --since",
                    path.display(),
                    source.name()
                ),
            )
        };
        let saved: Saved = serde_json::from_slice(&bytes)
            .map_err(|e| bad(&format!("not a cursor file written by mssp-token ({e})")))?;
        if saved.tenant_id != tenant_id || saved.source != source {
            return Err(bad("it belongs to another tenant or source"));
        }
        if Stamp::parse(&saved.cursor).is_none() {
            return Err(bad("its cursor is not an RFC 3339 time"));
        }
        Ok(Some(saved))
    }

    pub fn save(&self, saved: &Saved) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(saved)
            .map_err(|e| fail(Exit::Internal, format!("cannot encode a cursor: {e}")))?;
        file::write_atomic(&self.path(&saved.tenant_id, saved.source), &bytes)
    }

    /// Every cursor file of the folder (for recovery), and the (tenant ID, source) of those
    /// that cannot be read (recovery leaves them alone: their source fails, naming the file).
    pub fn all(&self) -> (Vec<Saved>, Vec<(String, Source)>) {
        let mut good = Vec::new();
        let mut damaged = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return (good, damaged);
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".json") else {
                continue;
            };
            let Some((tenant_id, source)) = stem
                .split_once('.')
                .and_then(|(t, s)| Some((t.to_string(), Source::parse(s)?)))
            else {
                continue;
            };
            match paths::read_regular(&e.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<Saved>(&b).ok())
                .filter(|s| s.tenant_id == tenant_id && s.source == source && s.cursor().is_some())
            {
                Some(saved) => good.push(saved),
                None => damaged.push((tenant_id, source)),
            }
        }
        (good, damaged)
    }

    pub fn out_mark(&self) -> Option<OutMark> {
        let b = paths::read_regular(&self.dir.join("out.json")).ok()?;
        serde_json::from_slice(&b).ok()
    }

    pub fn save_out_mark(&self, m: &OutMark) -> Result<()> {
        let bytes = serde_json::to_vec(m)
            .map_err(|e| fail(Exit::Internal, format!("cannot encode out.json: {e}")))?;
        file::write_atomic(&self.dir.join("out.json"), &bytes)
    }
}

#[cfg(unix)]
fn create_private(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            fail(
                Exit::Storage,
                format!(
                    "state folder {}: cannot create it ({})",
                    dir.display(),
                    io_reason(&e)
                ),
            )
        })
}

#[cfg(not(unix))]
fn create_private(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        fail(
            Exit::Storage,
            format!(
                "state folder {}: cannot create it ({})",
                dir.display(),
                io_reason(&e)
            ),
        )
    })
}

/// A folder another user owns, or that others may write, could be fed forged cursors (which
/// skip or repeat records): refused.
#[cfg(unix)]
fn check_private(dir: &Path, meta: &std::fs::Metadata) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    if let Some(uid) = paths::foreign_owner(meta) {
        return Err(fail(
            Exit::Storage,
            format!(
                "state folder {}: it belongs to another user (uid {uid}); use a folder of your own",
                dir.display()
            ),
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(fail(
            Exit::Storage,
            format!(
                "state folder {}: others can write it (mode {:o}), so they could move its cursors; run chmod 700 on it",
                dir.display(),
                meta.mode() & 0o777
            ),
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_dir: &Path, _meta: &std::fs::Metadata) -> Result<()> {
    Ok(())
}
