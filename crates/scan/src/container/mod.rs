//! Containers opened recursively: zip (PyTorch, `.npz`, `.keras`), tar (legacy PyTorch), and
//! 7z, and the single-stream compressors (gzip, bz2, xz, zlib, zstd).

pub mod compress;
pub mod legacy_torch;
pub mod sevenz;
pub mod tar;
pub mod zip;

/// An archive member name that escapes the folder it would be extracted to.
pub fn escapes(name: &str) -> bool {
    let n = name.replace('\\', "/");
    n.starts_with('/')
        || n.as_bytes().get(1) == Some(&b':')
        || n.split('/').any(|part| part == "..")
}
