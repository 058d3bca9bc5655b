//! One run at a time in a folder: a lock file, locked (`flock`) for the
//! run's life. The kernel drops the lock when the process ends, however it
//! ends (SIGKILL included), so a lock file left by a killed run never blocks
//! a later one; it only tells that the run did not finish.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside a results folder. It holds the owner's pid
/// and command line, and is removed when the run ends normally.
pub const LOCK_FILE: &str = ".heapsnow.lock";

/// A folder locked for this process.
#[derive(Debug)]
pub struct DirLock {
    path: PathBuf,
    // Held, not read: closing it releases the lock.
    _file: File,
}

/// Why a folder could not be locked.
#[derive(Debug)]
pub enum LockError {
    /// Another live process holds the lock; its pid and command line, as it
    /// wrote them (empty if it has only just taken the lock).
    Busy {
        /// What the lock file says about the other run.
        owner: String,
    },
    /// The lock file cannot be created or locked.
    Io(io::Error),
}

impl DirLock {
    /// Locks `dir` (which must exist) for this process, and writes its pid
    /// and command line into the lock file for whoever finds it locked.
    pub fn acquire(dir: &Path) -> Result<DirLock, LockError> {
        let path = dir.join(LOCK_FILE);
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(LockError::Io)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    return Err(LockError::Busy {
                        owner: read_owner(&file),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(LockError::Io(e)),
            }
            // The previous owner removes the file as it ends: if that
            // happened between our open and our lock, we hold a lock on a
            // file nobody else can find. Start again with a fresh one.
            if !is_at(&file, &path) {
                continue;
            }
            let owner = format!("pid {}: {}", std::process::id(), command_line());
            let mut writer = &file;
            writer
                .set_len(0)
                .and_then(|()| writer.write_all(owner.as_bytes()))
                .map_err(LockError::Io)?;
            return Ok(DirLock { path, _file: file });
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Still locked while it is removed, so no other run can hold it now.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What a run left in `dir`, from its lock file: `Some(owner)` when the
/// lock file is there (the run still runs, or was killed), with whether a
/// live process still holds it.
pub fn lock_owner(dir: &Path) -> Option<(String, bool)> {
    let file = File::open(dir.join(LOCK_FILE)).ok()?;
    let running = matches!(file.try_lock_shared(), Err(TryLockError::WouldBlock));
    Some((read_owner(&file), running))
}

fn read_owner(mut file: &File) -> String {
    let mut owner = String::new();
    let _ = file.read_to_string(&mut owner);
    owner.trim().to_owned()
}

#[cfg(unix)]
fn is_at(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn is_at(_file: &File, path: &Path) -> bool {
    path.exists()
}

/// This process's command line, arguments with spaces quoted.
pub fn command_line() -> String {
    std::env::args_os()
        .map(|arg| {
            let arg = arg.to_string_lossy().into_owned();
            if arg.contains(char::is_whitespace) || arg.is_empty() {
                format!("{arg:?}")
            } else {
                arg
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locked_folder_is_refused_and_freed_with_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let lock = DirLock::acquire(dir.path()).unwrap();
        match DirLock::acquire(dir.path()) {
            Err(LockError::Busy { owner }) => {
                assert!(
                    owner.starts_with(&format!("pid {}: ", std::process::id())),
                    "{owner}"
                );
            }
            other => panic!("expected Busy, got {other:?}"),
        }
        let (owner, running) = lock_owner(dir.path()).unwrap();
        assert!(running, "{owner}");
        drop(lock);
        assert!(
            !dir.path().join(LOCK_FILE).exists(),
            "removed at the end of the run"
        );
        assert!(lock_owner(dir.path()).is_none());
        // A lock file left behind (a killed run) does not block.
        std::fs::write(dir.path().join(LOCK_FILE), "pid 1: killed").unwrap();
        assert_eq!(
            lock_owner(dir.path()),
            Some(("pid 1: killed".to_owned(), false))
        );
        let _lock = DirLock::acquire(dir.path()).unwrap();
    }
}
