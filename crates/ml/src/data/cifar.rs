//! The CIFAR-10 and CIFAR-100 binary versions (`data_batch_1.bin`, `test_batch.bin`,
//! `train.bin`, `test.bin`): fixed-size records of label byte(s) followed by 3×32×32 pixel
//! bytes, red plane then green then blue, row-major. CIFAR-10 records are 3,073 bytes (one
//! label); CIFAR-100 records are 3,074 (coarse label, then fine label).

use std::path::Path;

use super::{Dataset, InputRange};
use crate::error::{MlError, Result};

const PIXELS: usize = 3 * 32 * 32;

/// Which label of a CIFAR-100 record to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cifar100Label {
    /// The 100 classes.
    #[default]
    Fine,
    /// The 20 superclasses.
    Coarse,
}

/// Reads one or more batch files of the same kind, in the order given. `hundred`: read them
/// as CIFAR-100 (with that label); otherwise as CIFAR-10.
pub fn load(files: &[&Path], hundred: Option<Cifar100Label>) -> Result<Dataset> {
    let (record, classes) = match hundred {
        None => (PIXELS + 1, 10),
        Some(Cifar100Label::Fine) => (PIXELS + 2, 100),
        Some(Cifar100Label::Coarse) => (PIXELS + 2, 20),
    };
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for path in files {
        let bytes = std::fs::read(path).map_err(|source| MlError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if bytes.is_empty() || bytes.len() % record != 0 {
            let other = if hundred.is_some() {
                PIXELS + 1
            } else {
                PIXELS + 2
            };
            let hint = if !bytes.is_empty() && bytes.len() % other == 0 {
                if hundred.is_some() {
                    " (it is a whole number of CIFAR-10 records: drop --cifar100-label)"
                } else {
                    " (it is a whole number of CIFAR-100 records: give --cifar100-label fine or coarse)"
                }
            } else {
                ""
            };
            return Err(MlError::Format {
                path: path.to_path_buf(),
                message: format!(
                    "{} bytes are not whole {record}-byte CIFAR-{} records{hint}",
                    bytes.len(),
                    if hundred.is_some() { 100 } else { 10 }
                ),
            });
        }
        for (i, r) in bytes.chunks_exact(record).enumerate() {
            let label = match hundred {
                None => r[0],
                Some(Cifar100Label::Coarse) => r[0],
                Some(Cifar100Label::Fine) => r[1],
            } as usize;
            if label >= classes {
                return Err(MlError::Format {
                    path: path.to_path_buf(),
                    message: format!("record {i} has label {label}; expected 0..{classes}"),
                });
            }
            y.push(label);
            x.extend(r[record - PIXELS..].iter().map(|b| *b as f32 / 255.0));
        }
    }
    let name = files
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(",");
    Dataset::new(
        format!("cifar:{name}"),
        x,
        y,
        vec![3, 32, 32],
        Some(classes),
        Some(InputRange { lo: 0.0, hi: 1.0 }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(labels: &[u8], fill: impl Fn(usize) -> u8) -> Vec<u8> {
        let mut r = labels.to_vec();
        r.extend((0..PIXELS).map(fill));
        r
    }

    #[test]
    fn reads_planes_labels_and_refuses_the_wrong_kind() {
        let dir = std::env::temp_dir().join(format!("aisec-cifar-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ten = dir.join("data_batch_1.bin");
        let mut bytes = record(&[3], |i| (i / 1024) as u8 * 100); // R=0, G=100, B=200
        bytes.extend(record(&[9], |_| 255));
        std::fs::write(&ten, &bytes).unwrap();
        let d = load(&[&ten], None).unwrap();
        assert_eq!((d.len(), d.num_classes, d.y.clone()), (2, 10, vec![3, 9]));
        assert_eq!(d.sample_shape, vec![3, 32, 32]);
        assert_eq!(
            (d.x[0], d.x[1024], d.x[2048]),
            (0.0, 100.0 / 255.0, 200.0 / 255.0)
        );
        assert_eq!(d.x[PIXELS], 1.0);

        let hundred = dir.join("train.bin");
        std::fs::write(&hundred, record(&[7, 42], |_| 0)).unwrap();
        let fine = load(&[&hundred], Some(Cifar100Label::Fine)).unwrap();
        let coarse = load(&[&hundred], Some(Cifar100Label::Coarse)).unwrap();
        assert_eq!((fine.y[0], fine.num_classes), (42, 100));
        assert_eq!((coarse.y[0], coarse.num_classes), (7, 20));
        // A CIFAR-100 file read as CIFAR-10 (and back) is refused with a hint.
        let err = load(&[&hundred], None).unwrap_err().to_string();
        assert!(
            err.contains("3073-byte") && err.contains("CIFAR-100 records"),
            "{err}"
        );
        let err = load(&[&ten], Some(Cifar100Label::Fine))
            .unwrap_err()
            .to_string();
        assert!(err.contains("CIFAR-10 records"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
