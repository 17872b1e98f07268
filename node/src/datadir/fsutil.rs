//! File helpers shared by every on-disk artefact of a node: atomic writes and private-file checks.
//!
//! Writes go to a temporary file in the same directory, are fsynced, then moved into place, and the
//! directory is fsynced: a crash leaves either the old file or the new one, never half of one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// Permission bits that must be clear on a private file (group and others: read, write, execute).
const NOT_PRIVATE_BITS: u32 = 0o077;

/// Largest private file we read (keys and tokens are a few hundred bytes).
const MAX_PRIVATE_FILE: u64 = 64 * 1024;

/// Why a private file could not be read.
#[derive(Debug)]
pub(crate) enum PrivateReadError {
    /// The file could not be opened or read.
    Io(io::Error),
    /// Group or others may read or write it; carries the file's permission bits.
    TooOpen(u32),
}

/// Writes `contents` to `path` atomically, only if `path` does not exist yet.
///
/// The file gets `mode` (before the umask). Fails with `ErrorKind::AlreadyExists` when `path` exists:
/// the final step is a hard link, which never replaces an existing file.
pub(crate) fn write_new(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let tmp = write_temp(path, contents, mode)?;
    let linked = fs::hard_link(&tmp, path);
    let removed = fs::remove_file(&tmp);
    linked?;
    removed?;
    sync_parent(path)
}

/// Writes `contents` to `path` atomically, replacing any file already there.
pub(crate) fn write_replace(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let tmp = write_temp(path, contents, mode)?;
    if let Err(err) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(err);
    }
    sync_parent(path)
}

/// Reads a file that must be private to its owner (no permission bits for group or others).
///
/// Permissions are checked on the opened file, so the file read is the file checked.
pub(crate) fn read_private(path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>, PrivateReadError> {
    let file = File::open(path).map_err(PrivateReadError::Io)?;
    let meta = file.metadata().map_err(PrivateReadError::Io)?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & NOT_PRIVATE_BITS != 0 {
        return Err(PrivateReadError::TooOpen(mode));
    }
    let mut buf = zeroize::Zeroizing::new(Vec::new());
    file.take(MAX_PRIVATE_FILE)
        .read_to_end(&mut buf)
        .map_err(PrivateReadError::Io)?;
    Ok(buf)
}

/// The permission bits of `path` if group or others may write it (`None` if they may not): a file
/// that decides whom the node trusts must be changeable by its owner only.
pub(crate) fn writable_by_others(path: &Path) -> io::Result<Option<u32>> {
    let mode = fs::metadata(path)?.permissions().mode() & 0o7777;
    Ok((mode & 0o022 != 0).then_some(mode))
}

/// Writes a fresh, fsynced temporary file next to `path` and returns its name.
fn write_temp(path: &Path, contents: &[u8], mode: u32) -> io::Result<PathBuf> {
    let tmp = temp_name(path)?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    let written = file.write_all(contents).and_then(|()| file.sync_all());
    if let Err(err) = written {
        drop(file);
        let _ = fs::remove_file(&tmp);
        return Err(err);
    }
    Ok(tmp)
}

/// `.NAME.tmp.PID.RANDOM` in the same directory as `path` (so the final rename stays atomic).
fn temp_name(path: &Path) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        )
    })?;
    let nonce = getrandom::u64().map_err(io::Error::other)?;
    let tmp_name = format!(
        ".{}.tmp.{}.{nonce:016x}",
        name.to_string_lossy(),
        std::process::id()
    );
    Ok(path.with_file_name(tmp_name))
}

/// Fsyncs the directory holding `path`, so a rename or link in it is durable.
fn sync_parent(path: &Path) -> io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_new_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_new(&path, b"one", 0o600).unwrap();
        let err = write_new(&path, b"two", 0o600).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).unwrap(), b"one");
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn write_replace_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("addr");
        write_replace(&path, b"one", 0o644).unwrap();
        write_replace(&path, b"two", 0o644).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn read_private_checks_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_new(&path, b"s3cret", 0o600).unwrap();
        assert_eq!(read_private(&path).unwrap().as_slice(), b"s3cret");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            read_private(&path),
            Err(PrivateReadError::TooOpen(0o640))
        ));
    }
}
