//! The one rule for paths inside files.
//!
//! A file that names other files (a training config, a run's `config.json`, a `wav.csv`, a waveform
//! index, a `pack.json`) may hold absolute or relative paths. A relative path is relative to the folder
//! of the file that holds it, never to the working directory, so a command gives the same result from
//! any working directory. What clap-tools writes into such a file is either absolute or relative to
//! that file (the demo's `demo.toml`), so a folder moved as a whole still works.
//!
//! Readers call [`resolve`] with the holding file; writers call [`relative_to`] when they want the
//! written file to move with what it names.

use std::path::{Component, Path, PathBuf};

/// The folder a relative path in `holder` is taken from: the holder's own folder, made absolute
/// against the working directory (so a relative holder such as `demo-out/demo.toml` works too).
pub fn base_of(holder: &Path) -> PathBuf {
    let dir = match holder.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    absolute(dir)
}

/// `p` as written in the file `holder`: absolute paths as they are, relative ones joined to the
/// holder's folder. The result is absolute and lexically normalised (`.` and `a/..` removed), so
/// messages name the path that was looked for.
pub fn resolve(holder: &Path, p: &Path) -> PathBuf {
    if p.as_os_str().is_empty() || p.is_absolute() {
        return p.to_path_buf();
    }
    normalise(&base_of(holder).join(p))
}

/// `p` absolute against the working directory, lexically normalised; unchanged if the working
/// directory cannot be read.
pub fn absolute(p: &Path) -> PathBuf {
    normalise(&std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()))
}

/// How a file at `holder` should name `target`: relative to the holder's folder when `target` lies
/// below it, absolute otherwise (a `..` path could change meaning through a symlinked folder).
pub fn relative_to(holder: &Path, target: &Path) -> PathBuf {
    let base = base_of(holder);
    let target = absolute(target);
    match target.strip_prefix(&base) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.to_path_buf(),
        _ => target,
    }
}

/// `target` as a path from the folder `from`, climbing with `..` where it must (both made absolute).
/// Kept beside an absolute path as the way back after a folder holding both was moved; whoever
/// follows it checks that it found the same thing.
pub fn climbing(from: &Path, target: &Path) -> PathBuf {
    let (from, target) = (absolute(from), absolute(target));
    let (a, b): (Vec<Component>, Vec<Component>) = (from.components().collect(), target.components().collect());
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..a.len() {
        out.push("..");
    }
    for c in &b[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Remove `.` components and `name/..` pairs without touching the file system. A `..` that would
/// climb above a symlinked folder's target is what the user wrote, so only pairs are removed.
fn normalise(p: &Path) -> PathBuf {
    let mut out: Vec<Component> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn climbing_leads_back() {
        assert_eq!(climbing(Path::new("/d/out/index"), Path::new("/d/out/run/best")), PathBuf::from("../run/best"));
        assert_eq!(climbing(Path::new("/d/ix"), Path::new("/d/ix/m.pth")), PathBuf::from("m.pth"));
        assert_eq!(climbing(Path::new("/d/ix"), Path::new("/d/ix")), PathBuf::from("."));
        assert_eq!(climbing(Path::new("/a/b"), Path::new("/c")), PathBuf::from("../../c"));
    }

    #[test]
    fn relative_paths_follow_the_holding_file() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(resolve(Path::new("/a/b/c.toml"), Path::new("d/e.parquet")), PathBuf::from("/a/b/d/e.parquet"));
        assert_eq!(resolve(Path::new("/a/b/c.toml"), Path::new("../x")), PathBuf::from("/a/x"));
        assert_eq!(resolve(Path::new("/a/b/c.toml"), Path::new("/abs/y")), PathBuf::from("/abs/y"));
        // A relative holder is taken from the working directory once, not twice.
        assert_eq!(resolve(Path::new("out/demo.toml"), Path::new("text_encoder")), cwd.join("out/text_encoder"));
        assert_eq!(resolve(Path::new("demo.toml"), Path::new("./run")), cwd.join("run"));
    }

    #[test]
    fn written_paths_are_relative_below_the_holder_and_absolute_elsewhere() {
        assert_eq!(relative_to(Path::new("/a/b/c.toml"), Path::new("/a/b/run")), PathBuf::from("run"));
        assert_eq!(relative_to(Path::new("/a/b/c.toml"), Path::new("/a/x")), PathBuf::from("/a/x"));
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            relative_to(Path::new("out/demo.toml"), Path::new("out/packed/w.parquet")),
            PathBuf::from("packed/w.parquet")
        );
        assert_eq!(relative_to(Path::new("out/demo.toml"), Path::new("elsewhere")), cwd.join("elsewhere"));
        // Round trip: what is written resolves to what was meant.
        let holder = Path::new("out/demo.toml");
        for t in ["out/run", "other/file"] {
            assert_eq!(resolve(holder, &relative_to(holder, Path::new(t))), cwd.join(t));
        }
    }
}
