//! Writing files so that a reader sees either the old content or the new, never a torn one.
//! Temporary siblings are named `<file>.partial-<pid>.<random>`: unique to each writer, even
//! to two threads of one process, and telling [`remove_stale_temporaries`] whose they are.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The folder `path` is in (`.` for a bare name).
fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A new, empty temporary sibling of `path`, created so that no other writer (another
/// process, another thread) gets the same name; the caller fills it and renames it into place,
/// or removes it.
pub fn temporary_path(path: &Path) -> io::Result<PathBuf> {
    let (_, kept) = temporary_file(path)?.keep().map_err(|e| e.error)?;
    Ok(kept)
}

/// A new temporary folder beside `path`, removed when dropped.
pub fn temporary_dir(path: &Path) -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&prefix(path))
        .tempdir_in(folder_of(path))
}

fn temporary_file(path: &Path) -> io::Result<tempfile::NamedTempFile> {
    let prefix = prefix(path);
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix);
    // What `File::create` gives (0666 less the umask), not tempfile's private 0600: a run
    // folder or a data cache on a shared file system stays readable to the group.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder.tempfile_in(folder_of(path))
}

/// `<file>.partial-<pid>.`, which tempfile follows with random characters.
fn prefix(path: &Path) -> String {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    format!("{name}.partial-{}.", std::process::id())
}

/// Writes `bytes` to `path` atomically: to a temporary sibling first, synced, then renamed over
/// `path`. On error the temporary file is removed and `path` is untouched.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    fs::create_dir_all(folder_of(path))?;
    let mut file = temporary_file(path)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    // On error the temporary file is dropped, which removes it.
    file.persist(path).map_err(|e| e.error)?;
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
            .and_then(|(_, rest)| rest.split('.').next()?.parse::<u32>().ok());
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
    fn threads_of_one_process_writing_one_file_never_tear_it() {
        let dir = std::env::temp_dir().join(format!("genood-threads-{}", std::process::id()));
        let path = dir.join("scores.json");
        std::thread::scope(|scope| {
            for t in 0..8u8 {
                let path = &path;
                scope.spawn(move || {
                    for _ in 0..50 {
                        write_atomically(path, &vec![t; 4096]).unwrap();
                    }
                });
            }
        });
        // One writer's whole content, and no temporary left behind.
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 4096);
        assert!(bytes.iter().all(|b| *b == bytes[0]));
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn files_get_the_permissions_file_create_gives() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("genood-mode-{}", std::process::id()));
        let (atomic, plain) = (dir.join("atomic.bin"), dir.join("plain.bin"));
        write_atomically(&atomic, b"x").unwrap();
        fs::write(&plain, b"x").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&atomic), mode(&plain));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn only_the_temporaries_of_writers_that_are_gone_are_removed() {
        let dir = std::env::temp_dir().join(format!("genood-stale-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        // No process has the largest pid; this one is running.
        let dead = dir.join(format!("model.safetensors.partial-{}", u32::MAX));
        let alive = temporary_path(&dir.join("state.json")).unwrap();
        let kept = dir.join("notes.partial-draft");
        for path in [&dead, &alive, &kept] {
            fs::write(path, b"x").unwrap();
        }
        assert_eq!(remove_stale_temporaries(&dir).unwrap(), 1);
        assert!(!dead.exists() && alive.exists() && kept.exists());
        fs::remove_dir_all(dir).unwrap();
    }
}
