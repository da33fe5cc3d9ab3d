//! A file's bytes for the scan: read into memory, or, from 64 MiB on, memory-mapped.

use std::path::Path;

/// The bytes of a file, owned or mapped.
pub(crate) enum Contents {
    Read(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl std::ops::Deref for Contents {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Contents::Read(v) => v,
            Contents::Mapped(m) => m,
        }
    }
}

/// The contents of the `size`-byte file at `path`.
pub(crate) fn contents(path: &Path, size: u64) -> std::io::Result<Contents> {
    if size < MAP_AT_BYTES {
        return std::fs::read(path).map(Contents::Read);
    }
    guard_against_truncation();
    let file = std::fs::File::open(path)?;
    // SAFETY: the map is read-only and private to this scan; a file truncated by another
    // process while it is scanned faults, which `guard_against_truncation` turns into a
    // failed scan with a message.
    unsafe { memmap2::Mmap::map(&file) }.map(Contents::Mapped)
}

/// A file mapped for scanning that another process shrinks faults (SIGBUS) when the scan
/// reads past its new end; no verdict can be given for it, so the process ends as a scan that
/// failed closed (exit 2) with a message saying why, instead of the bare "Bus error".
fn guard_against_truncation() {
    #[cfg(unix)]
    {
        static INSTALL: std::sync::Once = std::sync::Once::new();
        extern "C" fn on_sigbus(_: libc::c_int) {
            const MESSAGE: &[u8] = b"aisec scan: a file changed size while it was being scanned (truncated by another process?); no verdict was given: scan it again when nothing is writing it\n";
            // SAFETY: write(2) and _exit(2) are async-signal-safe.
            unsafe {
                libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len());
                libc::_exit(2);
            }
        }
        INSTALL.call_once(|| {
            // SAFETY: installs a handler that only calls async-signal-safe functions.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
            }
        });
    }
}

/// Files from this size on are memory-mapped instead of read: formats that only need their
/// header (safetensors, GGUF, ONNX external data) and zip members stored uncompressed (every
/// PyTorch checkpoint's tensors) are then read from the page cache where they lie, so a folder
/// of multi-gigabyte shards is scanned in the memory of its headers, not of its files.
const MAP_AT_BYTES: u64 = 64 << 20;
