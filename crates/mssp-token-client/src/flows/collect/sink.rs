//! Where the records go: stdout, or a file appended to and fsynced before any cursor moves.
//!
//! With a file, a run that was killed (SIGKILL included) is made whole by the next one:
//! - a last line cut short is removed (it was never counted: its cursor did not move);
//! - lines written after the last saved cursor (the run died between the fsync of the records
//!   and the save of the cursor) are read back, and the cursors moved over them, so they are
//!   neither lost nor written twice.
//!
//! The lines "after the last saved cursor" are found by length: every cursor file records the
//! file's identity and length after its records, and `out.json` the length when a run began;
//! the largest matching length is where unaccounted lines start. Writes and cursor saves are
//! serialized (one writer), so what follows that length is at most one page per source, in
//! order.

use super::source::Source;
use super::stamp::Stamp;
use super::state::{OutMark, Saved, StateDir};
use crate::error::{fail, io_reason, Exit};
use anyhow::Result;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub enum Sink {
    Stdout(std::io::Stdout),
    File(OutFile),
}

pub struct OutFile {
    file: File,
    shown: PathBuf,
    pub mark: OutMark,
    /// A write failed: the file was cut back to its last whole page and takes no more.
    broken: bool,
}

impl Sink {
    pub fn stdout() -> Sink {
        Sink::Stdout(std::io::stdout())
    }

    /// Opens FILE for appending (created 0600): a regular file, or a symlink to one. A last
    /// line cut short by a killed run is removed.
    pub fn file(path: &Path) -> Result<Sink> {
        let target =
            crate::store::paths::replace_target(path).map_err(|e| crate::error::at("--out", e))?;
        let cannot = |what: &str, e: std::io::Error| {
            fail(
                Exit::Storage,
                format!(
                    "--out {}: cannot {what} ({})",
                    path.display(),
                    io_reason(&e)
                ),
            )
        };
        let mut options = std::fs::OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options
                .mode(0o600)
                .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW);
        }
        let mut file = options.open(&target).map_err(|e| cannot("open it", e))?;
        let meta = file.metadata().map_err(|e| cannot("read it", e))?;
        if !meta.is_file() {
            return Err(fail(
                Exit::Storage,
                format!(
                    "--out {}: it is {}, not a regular file",
                    path.display(),
                    crate::store::paths::describe(&meta.file_type())
                ),
            ));
        }
        // One run writes a file at a time (its length is this run's bookkeeping).
        crate::store::lock::blocking(|| crate::store::lock::exclusive(&file, path)).map_err(|e| {
            fail(
                Exit::Storage,
                format!(
                    "--out {} is being written by another collect run ({e}); give each run its own file",
                    path.display()
                ),
            )
        })?;
        let len = repair(&mut file, meta.len()).map_err(|e| cannot("repair its last line", e))?;
        let (dev, ino) = identity(&meta);
        Ok(Sink::File(OutFile {
            file,
            shown: path.to_path_buf(),
            mark: OutMark { dev, ino, len },
            broken: false,
        }))
    }

    /// Appends the lines; for a file, fsyncs it and returns its new mark.
    pub fn write(&mut self, bytes: &[u8]) -> Result<Option<OutMark>> {
        match self {
            Sink::Stdout(out) => {
                let mut lock = out.lock();
                lock.write_all(bytes)
                    .and_then(|()| lock.flush())
                    .map_err(|e| {
                        fail(
                            Exit::Storage,
                            format!("cannot write to stdout ({}); the cursors did not move past what was not written", io_reason(&e)),
                        )
                    })?;
                Ok(None)
            }
            Sink::File(f) => {
                let err = |e: std::io::Error| {
                    fail(
                        Exit::Storage,
                        format!(
                            "--out {}: cannot write ({}); the cursors did not move past what was not written",
                            f.shown.display(),
                            io_reason(&e)
                        ),
                    )
                };
                if f.broken {
                    return Err(fail(
                        Exit::Storage,
                        format!(
                            "--out {}: an earlier write failed; nothing more is written this run (the cursors stay where the file is whole)",
                            f.shown.display()
                        ),
                    ));
                }
                if !bytes.is_empty() {
                    let wrote = f.file.write_all(bytes).and_then(|()| f.file.sync_data());
                    if let Err(e) = wrote {
                        // Half a page must not stay between the pages of other tenants.
                        f.broken = true;
                        let _ = f.file.set_len(f.mark.len);
                        let _ = f.file.sync_data();
                        return Err(err(e));
                    }
                    f.mark.len += bytes.len() as u64;
                }
                Ok(Some(f.mark))
            }
        }
    }

    /// After a killed run: moves the cursors over the lines written after the last saved one.
    /// Returns how many lines were taken back.
    pub fn recover(&mut self, state: &StateDir) -> Result<usize> {
        let Sink::File(f) = self else {
            return Ok(0);
        };
        let mark = f.mark;
        let same = |m: &OutMark| m.dev == mark.dev && m.ino == mark.ino;
        let (saved, damaged) = state.all();
        let from = saved
            .iter()
            .filter_map(|s| s.out)
            .chain(state.out_mark())
            .filter(|m| same(m))
            .map(|m| m.len)
            .max();
        let Some(from) = from else {
            return Ok(0);
        };
        if from > mark.len {
            crate::warn!(
                "--out {} is shorter than when the last run wrote to it (truncated or replaced?); records written after the last cursor may come again",
                f.shown.display()
            );
            return Ok(0);
        }
        if from == mark.len {
            return Ok(0);
        }
        let mut tail = Vec::new();
        f.file
            .seek(SeekFrom::Start(from))
            .and_then(|_| f.file.read_to_end(&mut tail))
            .map_err(|e| {
                fail(
                    Exit::Storage,
                    format!(
                        "--out {}: cannot read it back ({})",
                        f.shown.display(),
                        io_reason(&e)
                    ),
                )
            })?;
        let mut by_key: HashMap<(String, Source), Saved> = saved
            .into_iter()
            .map(|s| ((s.tenant_id.clone(), s.source), s))
            .collect();
        let mut taken = 0;
        for line in tail.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let Ok(l) = serde_json::from_slice::<Line>(line) else {
                continue;
            };
            let (Some(source), Some(stamp)) =
                (Source::parse(&l.source), Stamp::parse(&l.last_updated))
            else {
                continue;
            };
            if damaged
                .iter()
                .any(|(t, s)| *t == l.tenant_id && *s == source)
            {
                continue;
            }
            let entry = by_key
                .entry((l.tenant_id.clone(), source))
                .or_insert_with(|| Saved {
                    version: 1,
                    tenant: l.tenant.clone(),
                    tenant_id: l.tenant_id.clone(),
                    source,
                    cursor: l.last_updated.clone(),
                    ids_at_cursor: Vec::new(),
                    written: 0,
                    updated_at: String::new(),
                    out: None,
                });
            let Some(mut cur) = entry.cursor() else {
                continue;
            };
            if stamp < cur.stamp {
                continue;
            }
            if stamp > cur.stamp {
                cur = super::window::Cursor::at(stamp);
            }
            cur.ids.insert(l.id.clone());
            entry.set_cursor(&cur);
            entry.written += 1;
            entry.out = Some(mark);
            taken += 1;
        }
        for s in by_key.values().filter(|s| s.out == Some(mark)) {
            let mut s = s.clone();
            s.updated_at = crate::time::rfc3339(crate::time::now_epoch());
            state.save(&s)?;
        }
        Ok(taken)
    }

    /// Records where the file stands as this run begins (see the module doc).
    pub fn mark_start(&self, state: &StateDir) -> Result<()> {
        match self {
            Sink::File(f) => state.save_out_mark(&f.mark),
            Sink::Stdout(_) => Ok(()),
        }
    }
}

/// The fields of an output line that recovery reads.
#[derive(serde::Deserialize)]
struct Line {
    tenant: String,
    tenant_id: String,
    source: String,
    id: String,
    last_updated: String,
}

/// Removes a last line without its newline (a write cut short); returns the new length.
fn repair(file: &mut File, len: u64) -> std::io::Result<u64> {
    if len == 0 {
        return Ok(0);
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(len);
    }
    // Walk back to the previous newline, a block at a time.
    let mut end = len;
    let mut keep = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|b| *b == b'\n') {
            keep = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    file.set_len(keep)?;
    file.sync_data()?;
    crate::warn!(
        "removed a last line cut short ({} bytes) left by an interrupted run; its records are collected again",
        len - keep
    );
    Ok(keep)
}

#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn identity(_meta: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}
