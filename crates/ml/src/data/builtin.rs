//! Built-in datasets, embedded through smartcore's `datasets` feature.
//!
//! - `digits`: 1797 8×8 images of handwritten digits, pixel values divided by 16 so that
//!   inputs lie in [0, 1]; shape 1×8×8; 10 classes.
//! - `breast-cancer`: 569 × 30 features, each standardised to mean 0 and standard deviation
//!   1 over the whole dataset; 2 classes; no input range.
//! - `iris`: 150 × 4 measurements in centimetres, as published; 3 classes.
//! - `purchase-synthetic`: 10,000 × 600 binary features, 100 classes, generated (see
//!   [`purchase_synthetic`]): a stand-in for Purchase-100 (Shokri et al. 2017), the tabular
//!   set of the membership-inference literature, where many records and many classes are
//!   needed and no real one ships through the registries.
//!
//! The project's fixed split is [`BuiltinDataset::split`]: stratified, 20% test, seed 0.

use super::{Dataset, InputRange};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinDataset {
    Digits,
    BreastCancer,
    Iris,
    PurchaseSynthetic,
}

/// Seed and test share of the documented built-in split.
pub const SPLIT_SEED: u64 = 0;
pub const TEST_FRACTION: f64 = 0.2;

impl BuiltinDataset {
    pub const ALL: [BuiltinDataset; 4] = [
        BuiltinDataset::Digits,
        BuiltinDataset::BreastCancer,
        BuiltinDataset::Iris,
        BuiltinDataset::PurchaseSynthetic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BuiltinDataset::Digits => "digits",
            BuiltinDataset::BreastCancer => "breast-cancer",
            BuiltinDataset::Iris => "iris",
            BuiltinDataset::PurchaseSynthetic => "purchase-synthetic",
        }
    }

    pub fn parse(name: &str) -> Option<BuiltinDataset> {
        BuiltinDataset::ALL
            .into_iter()
            .find(|d| d.name() == name.trim().to_ascii_lowercase().replace('_', "-"))
    }

    pub fn load(self) -> Dataset {
        let (x, y, shape, range) = match self {
            BuiltinDataset::Digits => {
                let d = smartcore::dataset::digits::load_dataset();
                let x = d.data.iter().map(|v| v / 16.0).collect();
                (
                    x,
                    labels(&d.target),
                    vec![1, 8, 8],
                    Some(InputRange { lo: 0.0, hi: 1.0 }),
                )
            }
            BuiltinDataset::BreastCancer => {
                let d = smartcore::dataset::breast_cancer::load_dataset();
                (
                    standardise(&d.data, d.num_features),
                    labels(&d.target),
                    vec![d.num_features],
                    None,
                )
            }
            BuiltinDataset::Iris => {
                let d = smartcore::dataset::iris::load_dataset();
                (d.data, labels(&d.target), vec![d.num_features], None)
            }
            BuiltinDataset::PurchaseSynthetic => {
                let (x, y) = purchase_synthetic(PURCHASE_RECORDS, PURCHASE_SEED);
                (
                    x,
                    y,
                    vec![PURCHASE_ITEMS],
                    Some(InputRange { lo: 0.0, hi: 1.0 }),
                )
            }
        };
        Dataset::new(self.name(), x, y, shape, None, range)
            .expect("the embedded datasets are consistent")
    }

    /// The fixed train/test split used everywhere a built-in dataset is named.
    pub fn split(self) -> (Dataset, Dataset) {
        self.load().stratified_split(TEST_FRACTION, SPLIT_SEED)
    }
}

fn labels<T: Copy + Into<f64>>(target: &[T]) -> Vec<usize> {
    target.iter().map(|v| (*v).into() as usize).collect()
}

fn standardise(x: &[f32], features: usize) -> Vec<f32> {
    let n = x.len() / features;
    let mut out = x.to_vec();
    for f in 0..features {
        let column: Vec<f64> = (0..n).map(|i| x[i * features + f] as f64).collect();
        let mean = column.iter().sum::<f64>() / n as f64;
        let var = column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        let std = var.sqrt().max(1e-12);
        for i in 0..n {
            out[i * features + f] = ((x[i * features + f] as f64 - mean) / std) as f32;
        }
    }
    out
}

pub const PURCHASE_RECORDS: usize = 10_000;
pub const PURCHASE_ITEMS: usize = 600;
pub const PURCHASE_CLASSES: usize = 100;
const PURCHASE_SEED: u64 = 100;

/// Shopping baskets in the manner of Purchase-100: each of 100 customer types has about 60
/// typical items out of 600 (each item typical with probability 0.1). Types differ in how
/// consistent their customers are (a typical item is bought with a probability drawn per type
/// from 0.25–0.55) and customers in how much they buy (an activity factor per record from
/// 0.5–1.5 scales both that and the 0.05 chance of any other item), so that some records are
/// easy and some hard, as in real data. Classes overlap, so a model trained on few records per
/// class memorises them — the regime where membership inference is measured. Deterministic
/// for a seed.
pub fn purchase_synthetic(records: usize, seed: u64) -> (Vec<f32>, Vec<usize>) {
    use aisec_core::rng::Rng;
    let mut rng = Rng::derive(seed, "purchase-synthetic");
    let typical: Vec<bool> = (0..PURCHASE_CLASSES * PURCHASE_ITEMS)
        .map(|_| rng.next_f64() < 0.1)
        .collect();
    let consistency: Vec<f64> = (0..PURCHASE_CLASSES)
        .map(|_| 0.25 + 0.3 * rng.next_f64())
        .collect();
    let mut x = Vec::with_capacity(records * PURCHASE_ITEMS);
    let mut y = Vec::with_capacity(records);
    for i in 0..records {
        let class = i % PURCHASE_CLASSES;
        let activity = 0.5 + rng.next_f64();
        let row = &typical[class * PURCHASE_ITEMS..(class + 1) * PURCHASE_ITEMS];
        x.extend(row.iter().map(|&t| {
            let p = activity * if t { consistency[class] } else { 0.05 };
            f32::from(u8::from(rng.next_f64() < p))
        }));
        y.push(class);
    }
    (x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_ranges() {
        let digits = BuiltinDataset::Digits.load();
        assert_eq!(
            (
                digits.len(),
                digits.sample_shape.clone(),
                digits.num_classes
            ),
            (1797, vec![1, 8, 8], 10)
        );
        assert!(digits.x.iter().all(|v| (0.0..=1.0).contains(v)));
        let bc = BuiltinDataset::BreastCancer.load();
        assert_eq!((bc.len(), bc.features(), bc.num_classes), (569, 30, 2));
        let mean0 = (0..bc.len()).map(|i| bc.sample(i)[0]).sum::<f32>() / bc.len() as f32;
        assert!(mean0.abs() < 1e-4);
        let iris = BuiltinDataset::Iris.load();
        assert_eq!((iris.len(), iris.features(), iris.num_classes), (150, 4, 3));
        assert_eq!(
            BuiltinDataset::parse("Breast_Cancer"),
            Some(BuiltinDataset::BreastCancer)
        );
    }

    #[test]
    fn documented_split_sizes() {
        let (train, test) = BuiltinDataset::Digits.split();
        assert_eq!((train.len(), test.len()), (1438, 359));
    }
}
