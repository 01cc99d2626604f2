//! What may be read or replaced as a token file. Every file this tool writes or reads as a
//! token file (`--save`, `refresh --from`, `api`/`inspect --from`, `onboard --report`, the
//! cache) goes through here, so that none of them opens a FIFO (which would block), reads a
//! device, or renames a token file over a device node, a socket or a folder.
//!
//! - Writing: a missing path is created; an existing regular file is replaced; a symlink to a
//!   regular file is followed: the file it points to is replaced (atomically, through its
//!   resolved path) and the link stays. A dangling symlink, a symlink to anything but a regular
//!   file, and a symlink owned by another user (the classic /tmp trap) are refused. Anything
//!   else that exists is refused, naming what it is. All refusals are exit 7.
//! - Reading: only a regular file (or a symlink to one), opened without blocking and checked
//!   again on the open file, at most [`MAX_TOKEN_FILE`] bytes.

use crate::error::{fail, io_reason, Exit};
use anyhow::Result;
use std::fs::{File, FileType, Metadata};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A token file is a few KiB; anything larger than this is not one.
pub const MAX_TOKEN_FILE: u64 = 1024 * 1024;

/// What a file is, for messages: "a FIFO (named pipe)", "a character device", ...
pub fn describe(ft: &FileType) -> &'static str {
    if ft.is_file() {
        return "a regular file";
    }
    if ft.is_dir() {
        return "a directory";
    }
    if ft.is_symlink() {
        return "a symbolic link";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// The path to replace when writing a token file at `path`: `path` itself (absent or a regular
/// file), or the regular file a symlink points to. Anything else is refused (exit 7).
pub fn replace_target(path: &Path) -> Result<PathBuf> {
    let shown = path.display();
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(path.to_path_buf()),
        Err(e) => {
            return Err(fail(
                Exit::Storage,
                format!(
                    "cannot write {shown}: cannot examine it ({})",
                    io_reason(&e)
                ),
            ))
        }
    };
    let ft = meta.file_type();
    if ft.is_file() {
        return Ok(path.to_path_buf());
    }
    if !ft.is_symlink() {
        return Err(fail(
            Exit::Storage,
            format!(
                "cannot write {shown}: it is {}, not a regular file; mssp-token writes token files only as regular files: give the path of a file (a new name or a file saved before)",
                describe(&ft)
            ),
        ));
    }
    if let Some(owner) = foreign_owner(&meta) {
        return Err(fail(
            Exit::Storage,
            format!(
                "cannot write {shown}: it is a symbolic link owned by another user (uid {owner}); mssp-token does not follow it (someone else chose where it points): remove it or give another path"
            ),
        ));
    }
    let pointed = std::fs::read_link(path)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "?".into());
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => std::fs::canonicalize(path).map_err(|e| {
            fail(
                Exit::Storage,
                format!(
                    "cannot write {shown}: cannot resolve the symbolic link ({})",
                    io_reason(&e)
                ),
            )
        }),
        Ok(m) => Err(fail(
            Exit::Storage,
            format!(
                "cannot write {shown}: it is a symbolic link to {pointed}, which is {}, not a regular file; give the path of a file",
                describe(&m.file_type())
            ),
        )),
        Err(e) => Err(fail(
            Exit::Storage,
            format!(
                "cannot write {shown}: it is a symbolic link to {pointed}, which cannot be used ({}); mssp-token does not create files through a dangling link: create the file first, or give its real path",
                io_reason(&e)
            ),
        )),
    }
}

/// Opens a file to read it as a token file: a regular file (or a symlink to one), opened
/// without blocking (a FIFO swapped in between the check and the open cannot hang the
/// process) and checked again on the open file.
pub fn open_regular(path: &Path) -> Result<File> {
    open_regular_as(path, "a token file, as saved by --save")
}

/// [`open_regular`] for a file that is `what` (named in the refusal, e.g. "a report file").
pub fn open_regular_as(path: &Path, what: &str) -> Result<File> {
    let refuse = |ft: &FileType| {
        fail(
            Exit::Storage,
            format!(
                "{}: cannot read it: it is {}, not a regular file (expected {what})",
                path.display(),
                describe(ft)
            ),
        )
    };
    let cannot = |e: std::io::Error| {
        fail(
            Exit::Storage,
            format!("{}: cannot read it ({})", path.display(), io_reason(&e)),
        )
    };
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if !meta.is_file() {
        return Err(refuse(&meta.file_type()));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(refuse(&meta.file_type()));
    }
    Ok(file)
}

/// Reads a token file whole ([`open_regular`]), refusing one over [`MAX_TOKEN_FILE`].
pub fn read_regular(path: &Path) -> Result<Vec<u8>> {
    let file = open_regular(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_TOKEN_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            fail(
                Exit::Storage,
                format!("{}: cannot read it ({})", path.display(), io_reason(&e)),
            )
        })?;
    if bytes.len() as u64 > MAX_TOKEN_FILE {
        return Err(fail(
            Exit::Storage,
            format!(
                "{}: larger than {} KiB, so not a token file (a token file is a few KiB)",
                path.display(),
                MAX_TOKEN_FILE / 1024
            ),
        ));
    }
    Ok(bytes)
}

/// The effective user ID of this process.
#[cfg(unix)]
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The owner of `meta` when it is neither this user nor root.
#[cfg(unix)]
pub fn foreign_owner(meta: &Metadata) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let uid = meta.uid();
    (uid != euid() && uid != 0).then_some(uid)
}

#[cfg(not(unix))]
pub fn foreign_owner(_meta: &Metadata) -> Option<u32> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_to_their_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        std::fs::write(&real, "{}").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(
            replace_target(&link).unwrap(),
            std::fs::canonicalize(&real).unwrap()
        );
        let dangling = dir.path().join("dangling.json");
        std::os::unix::fs::symlink(dir.path().join("absent"), &dangling).unwrap();
        let e = replace_target(&dangling).unwrap_err().to_string();
        assert!(e.contains("dangling"), "{e}");
        let to_dir = dir.path().join("to-dir");
        std::os::unix::fs::symlink(dir.path(), &to_dir).unwrap();
        let e = replace_target(&to_dir).unwrap_err().to_string();
        assert!(e.contains("which is a directory"), "{e}");
        assert_eq!(
            replace_target(&dir.path().join("new.json")).unwrap(),
            dir.path().join("new.json")
        );
    }

    #[test]
    fn devices_and_folders_are_named() {
        let e = replace_target(Path::new("/dev/null")).unwrap_err();
        assert_eq!(crate::error::exit_code_of(&e), 7);
        assert!(e.to_string().contains("a character device"), "{e}");
        let e = read_regular(Path::new("/dev/null")).unwrap_err();
        assert!(e.to_string().contains("a character device"), "{e}");
        let e = read_regular(Path::new("/")).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
    }
}
