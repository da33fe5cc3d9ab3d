//! Model inversion: reconstructing what a class looks like from the model alone
//! (AML.T0024.001 Invert AI Model, through the inference API AML.T0040 when only scores are
//! available). The assessor, who holds the training data, measures how recognisable each
//! reconstruction is: its distance to every class's mean training input, and the nearest
//! training record.

pub mod attribute;
pub mod mi_face;

use aisec_ml::data::Dataset;
use serde::Serialize;

pub const ATLAS: &[&str] = &["AML.T0024.001", "AML.T0040"];

/// How one reconstruction compares with the training data.
#[derive(Debug, Clone, Serialize)]
pub struct Resemblance {
    pub class: usize,
    /// The model's probability of `class` for the reconstruction.
    pub confidence: f64,
    /// L2 distance to each class's mean training input.
    pub distance_to_class_means: Vec<f64>,
    /// The class whose mean is nearest.
    pub nearest_class_mean: usize,
    /// L2 distance to the nearest training record, and that record's class.
    pub nearest_record_distance: f64,
    pub nearest_record_class: usize,
    /// Cosine similarity with the own class's mean, after centring on the overall mean.
    pub centred_cosine_to_own_mean: f64,
}

/// Compares `image` (one flattened input) with the assessor's `data`.
pub fn resemblance(image: &[f32], class: usize, confidence: f64, data: &Dataset) -> Resemblance {
    let f = data.features();
    let k = data.num_classes;
    let mut sums = vec![vec![0.0f64; f]; k];
    let mut counts = vec![0usize; k];
    let mut overall = vec![0.0f64; f];
    for i in 0..data.len() {
        let y = data.y[i];
        counts[y] += 1;
        for (j, v) in data.sample(i).iter().enumerate() {
            sums[y][j] += f64::from(*v);
            overall[j] += f64::from(*v);
        }
    }
    let means: Vec<Vec<f64>> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &c)| s.iter().map(|v| v / c.max(1) as f64).collect())
        .collect();
    overall
        .iter_mut()
        .for_each(|v| *v /= data.len().max(1) as f64);
    let dist = |a: &[f64]| -> f64 {
        a.iter()
            .zip(image)
            .map(|(m, x)| (m - f64::from(*x)).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let distance_to_class_means: Vec<f64> = means.iter().map(|m| dist(m)).collect();
    let nearest_class_mean = (0..k)
        .min_by(|&a, &b| distance_to_class_means[a].total_cmp(&distance_to_class_means[b]))
        .unwrap_or(0);
    let (mut best, mut best_class) = (f64::INFINITY, 0);
    for i in 0..data.len() {
        let d: f64 = data
            .sample(i)
            .iter()
            .zip(image)
            .map(|(a, b)| f64::from(a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        if d < best {
            best = d;
            best_class = data.y[i];
        }
    }
    let centred_x: Vec<f64> = image
        .iter()
        .zip(&overall)
        .map(|(x, o)| f64::from(*x) - o)
        .collect();
    let centred_m: Vec<f64> = means[class]
        .iter()
        .zip(&overall)
        .map(|(m, o)| m - o)
        .collect();
    let dot: f64 = centred_x.iter().zip(&centred_m).map(|(a, b)| a * b).sum();
    let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-12);
    Resemblance {
        class,
        confidence,
        nearest_class_mean,
        distance_to_class_means,
        nearest_record_distance: best,
        nearest_record_class: best_class,
        centred_cosine_to_own_mean: dot / (norm(&centred_x) * norm(&centred_m)),
    }
}
