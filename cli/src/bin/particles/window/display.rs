//! Is there a display to open the window on? winit panics deep inside its
//! event loop when there is none, so this looks first, the way winit chooses:
//! Wayland whenever `WAYLAND_DISPLAY` (or `WAYLAND_SOCKET`) is set, with no
//! fall-back to X11, else X11 through `DISPLAY`.
//!
//! It looks for the server's socket without connecting to it: an X server
//! resets when its last client leaves, so a probe connection just before the
//! window's own (under `xvfb-run`, with no other client) can make that one
//! fail. A socket left behind by a dead server passes this check; the window
//! then fails to open, and that is reported as an error too.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// What to do instead, said after every "no display".
const ADVICE: &str = "run with --headless, or under xvfb-run";

/// Checks that the window will find a display, without opening anything.
pub fn check_display() -> Result<()> {
    let variable = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    check(
        variable("WAYLAND_DISPLAY").as_deref(),
        variable("WAYLAND_SOCKET").is_some(),
        variable("DISPLAY").as_deref(),
        variable("XDG_RUNTIME_DIR").as_deref().map(Path::new),
    )
}

fn check(
    wayland_display: Option<&str>,
    wayland_socket: bool,
    x_display: Option<&str>,
    runtime_dir: Option<&Path>,
) -> Result<()> {
    if wayland_socket {
        // A socket handed over by the compositor: nothing to look at.
        return Ok(());
    }
    if let Some(name) = wayland_display {
        let path = match runtime_dir {
            _ if Path::new(name).is_absolute() => PathBuf::from(name),
            Some(dir) => dir.join(name),
            None => bail!(
                "no display: WAYLAND_DISPLAY={name} is set but XDG_RUNTIME_DIR is not: {ADVICE}"
            ),
        };
        if is_socket(&path) {
            return Ok(());
        }
        match x_display {
            Some(x) => bail!(
                "no display: WAYLAND_DISPLAY={name} is set but there is no socket at {}, and the window \
                 library does not fall back to X11: unset WAYLAND_DISPLAY to use DISPLAY={x}",
                path.display()
            ),
            None => bail!(
                "no display: WAYLAND_DISPLAY={name} is set but nothing answers at {}: {ADVICE}",
                path.display()
            ),
        }
    }
    let Some(display) = x_display else {
        bail!("no display (neither DISPLAY nor WAYLAND_DISPLAY is set): {ADVICE}");
    };
    match x_socket_number(display) {
        Some(number) if !x_server_listens(number) => {
            bail!("no display: no X server listens at DISPLAY={display}: {ADVICE}")
        }
        // A remote display (host:N) or one this does not parse: let the
        // window try it; a failure there is still turned into an error.
        _ => Ok(()),
    }
}

/// The display number of a local X display (`:0`, `:99.0`, `unix:1`).
fn x_socket_number(display: &str) -> Option<u32> {
    let (host, rest) = display.rsplit_once(':')?;
    if !(host.is_empty() || host == "unix") {
        return None;
    }
    rest.split('.').next()?.parse().ok()
}

/// Whether an X server listens on local display `number`: its socket in
/// /tmp/.X11-unix, or (Linux) the abstract socket of the same name, which
/// /proc/net/unix lists.
fn x_server_listens(number: u32) -> bool {
    let path = format!("/tmp/.X11-unix/X{number}");
    is_socket(Path::new(&path))
        || std::fs::read_to_string("/proc/net/unix")
            .is_ok_and(|table| lists_abstract_socket(&table, &path))
}

/// Whether /proc/net/unix (`table`) has an abstract socket named `name`.
fn lists_abstract_socket(table: &str, name: &str) -> bool {
    table
        .lines()
        .filter_map(|line| line.split_whitespace().last()?.strip_prefix('@'))
        .any(|listed| listed == name)
}

fn is_socket(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|metadata| metadata.file_type().is_socket())
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;

    use super::*;

    fn message(result: Result<()>) -> String {
        format!("{:#}", result.unwrap_err())
    }

    #[test]
    fn nothing_set_is_no_display() {
        let text = message(check(None, false, None, None));
        assert!(text.starts_with("no display"), "{text}");
        assert!(
            text.contains("--headless") && text.contains("xvfb-run"),
            "{text}"
        );
    }

    #[test]
    fn local_x_displays_are_parsed() {
        assert_eq!(x_socket_number(":0"), Some(0));
        assert_eq!(x_socket_number(":99.0"), Some(99));
        assert_eq!(x_socket_number("unix:3"), Some(3));
        assert_eq!(x_socket_number("remote:0"), None);
        assert_eq!(x_socket_number("nonsense"), None);
    }

    #[test]
    fn an_x_display_nobody_serves_is_no_display() {
        // Display numbers this high are not in use on a test machine.
        let text = message(check(None, false, Some(":64999"), None));
        assert!(
            text.contains("no X server listens at DISPLAY=:64999"),
            "{text}"
        );
        assert!(check(None, false, Some("remote.example:0"), None).is_ok());
    }

    #[test]
    fn abstract_sockets_are_found_in_the_socket_table() {
        let table = "Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 30125 @/tmp/.X11-unix/X99
0000000000000000: 00000002 00000000 00010000 0001 01 30126 /tmp/.X11-unix/X99
0000000000000000: 00000003 00000000 00000000 0001 03 30127
";
        assert!(lists_abstract_socket(table, "/tmp/.X11-unix/X99"));
        assert!(!lists_abstract_socket(table, "/tmp/.X11-unix/X9"));
    }

    #[test]
    fn a_wayland_socket_is_looked_for_in_the_runtime_dir() {
        let dir = tempfile::tempdir().unwrap();
        let text = message(check(Some("wayland-9"), false, None, Some(dir.path())));
        assert!(
            text.contains("WAYLAND_DISPLAY=wayland-9") && text.contains("xvfb-run"),
            "{text}"
        );
        // With an X display too, the advice is to unset WAYLAND_DISPLAY.
        let text = message(check(
            Some("wayland-9"),
            false,
            Some(":0"),
            Some(dir.path()),
        ));
        assert!(text.contains("unset WAYLAND_DISPLAY"), "{text}");

        let _listener = UnixListener::bind(dir.path().join("wayland-9")).unwrap();
        assert!(check(Some("wayland-9"), false, None, Some(dir.path())).is_ok());
        assert!(check(None, true, None, None).is_ok());
    }
}
