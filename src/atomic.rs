//! Atomic file writes: write under a temporary name in the destination folder, rename when complete.
//! A crash or an error never leaves a file under the final name that looks finished. A command that
//! writes several files writes them as a set ([`as_set`]): all appear, or none. Only regular files
//! are ever replaced: an output path that is a symlink, a FIFO, a device or a folder is refused.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::{Error, Result};

thread_local! {
    /// The outputs of the set being written on this thread: finished temporary files and their names.
    static STAGED: RefCell<Option<Vec<(NamedTempFile, PathBuf)>>> = const { RefCell::new(None) };
}

/// Run `write`, which writes several outputs (with [`write_file`] and what is built on it, on this
/// thread); they are renamed into place together when it succeeds, and none appears when it fails.
/// Two outputs naming the same file are an error.
pub fn as_set<T>(write: impl FnOnce() -> Result<T>) -> Result<T> {
    let outer = STAGED.with(|s| s.borrow_mut().replace(Vec::new()));
    let result = write();
    let staged = STAGED.with(|s| std::mem::replace(&mut *s.borrow_mut(), outer)).unwrap_or_default();
    let value = result?; // on error the temporary files are dropped, and so deleted
    for (tmp, path) in staged {
        tmp.persist(&path).map_err(|e| Error::io(&path, e.error))?;
    }
    Ok(value)
}

/// Refuse to replace anything but a regular file (or nothing).
pub fn check_replaceable(path: &Path) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return Ok(()) };
    let t = meta.file_type();
    if t.is_file() {
        return Ok(());
    }
    let what = if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a folder"
    } else {
        "a FIFO, socket or device"
    };
    Err(Error::file(path, format!("is {what}; clap-tools writes only over regular files: choose another output path")))
}

/// Write `path` through `write`; the file appears under its name only if `write` succeeds (and, in a
/// set, only when the whole set succeeds).
pub fn write_file<T>(path: &Path, write: impl FnOnce(&mut BufWriter<&mut File>) -> Result<T>) -> Result<T> {
    check_replaceable(path)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    let value = {
        let mut w = BufWriter::new(tmp.as_file_mut());
        let value = write(&mut w)?;
        w.flush().map_err(|e| Error::io(path, e))?;
        value
    };
    // Temporary files are private (0600); the result gets the usual permissions of a new file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    let tmp = STAGED.with(|s| match s.borrow_mut().as_mut() {
        Some(staged) => {
            let target = crate::paths::absolute(path);
            if staged.iter().any(|(_, p)| crate::paths::absolute(p) == target) {
                return Err(Error::file(path, "named by two outputs of one command"));
            }
            staged.push((tmp, path.to_path_buf()));
            Ok(None)
        }
        None => Ok(Some(tmp)),
    })?;
    if let Some(tmp) = tmp {
        tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    }
    Ok(value)
}

/// Atomically write bytes to `path`.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_file(path, |w| w.write_all(bytes).map_err(|e| Error::io(path, e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_appears_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
        let r: Result<()> = as_set(|| {
            write_bytes(&a, b"a")?;
            Err(Error::Internal("the second output failed".into()))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing of a failed set is left");
        let err = as_set(|| {
            write_bytes(&a, b"a")?;
            write_bytes(&dir.path().join("./a.txt"), b"b")
        })
        .unwrap_err();
        assert!(err.to_string().contains("two outputs"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        as_set(|| {
            write_bytes(&a, b"a")?;
            write_bytes(&b, b"b")
        })
        .unwrap();
        assert_eq!((std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap()), (b"a".to_vec(), b"b".to_vec()));
    }

    #[cfg(unix)]
    #[test]
    fn only_regular_files_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target.txt");
        std::fs::write(&target, "keep").unwrap();
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = write_bytes(&link, b"x").unwrap_err().to_string();
        assert!(err.contains("symbolic link") && err.contains("link.txt"), "{err}");
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        let err = write_bytes(dir.path(), b"x").unwrap_err().to_string();
        assert!(err.contains("a folder"), "{err}");
        let err = write_bytes(Path::new("/dev/null"), b"x").unwrap_err().to_string();
        assert!(err.contains("device"), "{err}");
        assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device_like());
    }

    trait CharDevice {
        fn is_char_device_like(&self) -> bool;
    }
    impl CharDevice for std::fs::FileType {
        fn is_char_device_like(&self) -> bool {
            use std::os::unix::fs::FileTypeExt;
            self.is_char_device()
        }
    }

    #[test]
    fn failed_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.csv");
        let r: Result<()> = write_file(&out, |w| {
            w.write_all(b"partial").unwrap();
            Err(Error::Internal("boom".into()))
        });
        assert!(r.is_err());
        assert!(!out.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "temp file left behind");
    }

    #[test]
    fn successful_write_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.txt");
        write_bytes(&out, b"one").unwrap();
        write_bytes(&out, b"two").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
