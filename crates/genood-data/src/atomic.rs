//! Writing files so that a reader sees either the old content or the new, never a torn one.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The temporary sibling a file is written to before it is renamed into place.
pub fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".partial-{}", std::process::id()));
    path.with_file_name(name)
}

/// Writes `bytes` to `path` atomically: to a temporary sibling first, synced, then renamed over
/// `path`. On error the temporary file is removed and `path` is untouched.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let temporary = temporary_path(path);
    let result = (|| {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result?;
    sync_parent(path)
}

/// Makes a rename in `path`'s folder durable: until the folder itself is synced, a crash may
/// still show the old entry.
fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // Opening a folder to sync it works on Unix; elsewhere the rename is left to the OS.
        Some(dir) if cfg!(unix) => fs::File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

/// Removes the temporary files (see [`temporary_path`]) that writers which no longer run left
/// in `dir`: a killed process cannot clean up after itself. Returns how many went.
pub fn remove_stale_temporaries(dir: &Path) -> io::Result<usize> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let writer = name
            .to_string_lossy()
            .rsplit_once(".partial-")
            .and_then(|(_, pid)| pid.parse::<u32>().ok());
        if writer.is_some_and(|pid| !is_running(pid)) {
            fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Whether process `pid` runs. Where `/proc` does not exist every writer counts as running,
/// so nothing is removed that might still be written.
fn is_running(pid: u32) -> bool {
    pid == std::process::id()
        || !Path::new("/proc/self").exists()
        || Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("genood-atomic-{}", std::process::id()));
        let path = dir.join("nested/file.bin");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn only_the_temporaries_of_writers_that_are_gone_are_removed() {
        let dir = std::env::temp_dir().join(format!("genood-stale-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        // No process has the largest pid; this one is running.
        let dead = dir.join(format!("model.safetensors.partial-{}", u32::MAX));
        let alive = temporary_path(&dir.join("state.json"));
        let kept = dir.join("notes.partial-draft");
        for path in [&dead, &alive, &kept] {
            fs::write(path, b"x").unwrap();
        }
        assert_eq!(remove_stale_temporaries(&dir).unwrap(), 1);
        assert!(!dead.exists() && alive.exists() && kept.exists());
        fs::remove_dir_all(dir).unwrap();
    }
}
