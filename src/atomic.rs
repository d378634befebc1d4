//! Atomic file writes: write under a temporary name in the destination folder, rename when complete.
//! A crash or an error never leaves a file under the final name that looks finished.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// Write `path` through `write`; the file appears under its name only if `write` succeeds.
pub fn write_file<T>(path: &Path, write: impl FnOnce(&mut BufWriter<&mut File>) -> Result<T>) -> Result<T> {
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
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
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
