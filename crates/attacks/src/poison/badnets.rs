//! BadNets (Gu, Dolan-Gavitt, Garg 2017, "BadNets: Identifying Vulnerabilities in the
//! Machine Learning Model Supply Chain"): stamp a trigger on a fraction of the training
//! inputs and relabel them to the target (dirty label). The model learns the task and the
//! shortcut "trigger → target". With a blended trigger this is the blend attack of Chen et
//! al. 2017.
//!
//! ATLAS: AML.T0020 Poison Training Data, AML.T0018.000 Poison AI Model, AML.T0043.004
//! Insert Backdoor Trigger.

use aisec_core::rng::Rng;
use aisec_ml::data::Dataset;
use serde::Serialize;

use super::{Poisoned, TargetMap, Trigger};

pub const ATLAS: &[&str] = &["AML.T0020", "AML.T0018.000", "AML.T0043.004"];

pub const INFO: crate::AttackInfo = crate::AttackInfo {
    name: "poison.badnets",
    aliases: &["badnets"],
    summary: "BadNets: a patch trigger stamped on a share of the training inputs, relabelled to the target (Gu et al. 2017)",
    access: crate::Access::TrainingData,
    atlas: ATLAS,
};

/// The blended trigger of the same module.
pub const BLEND_INFO: crate::AttackInfo = crate::AttackInfo {
    name: "poison.blend",
    aliases: &["blend"],
    summary: "Blended backdoor: a fixed random pattern mixed in at ratio α (Chen et al. 2017)",
    access: crate::Access::TrainingData,
    atlas: ATLAS,
};

/// The attacks this module registers.
pub const ENTRY: &[&crate::AttackInfo] = &[&INFO, &BLEND_INFO];

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BadNetsConfig {
    pub trigger: Trigger,
    pub map: TargetMap,
    /// Fraction of the whole training set that is poisoned.
    pub rate: f64,
}

impl Default for BadNetsConfig {
    fn default() -> Self {
        BadNetsConfig {
            trigger: Trigger::corner_patch(3, 1.0),
            map: TargetMap::AllToOne { target: 0 },
            rate: 0.05,
        }
    }
}

/// Poisons `rate × len` examples drawn (seeded) from those whose label differs from their
/// target: each gets the trigger and the target label.
pub fn poison(train: &Dataset, config: &BadNetsConfig, seed: u64) -> Result<Poisoned, String> {
    if !(0.0..=1.0).contains(&config.rate) {
        return Err(format!("--rate must lie in [0, 1], got {}", config.rate));
    }
    if let TargetMap::AllToOne { target } = config.map {
        if target >= train.num_classes {
            return Err(format!(
                "--target {target} is not a class of {} (0..{})",
                train.name, train.num_classes
            ));
        }
    }
    let mut candidates: Vec<usize> = (0..train.len())
        .filter(|&i| config.map.target_of(train.y[i], train.num_classes) != train.y[i])
        .collect();
    let want = (config.rate * train.len() as f64).round() as usize;
    let mut rng = Rng::derive(seed, "badnets-choice");
    rng.shuffle(&mut candidates);
    candidates.truncate(want);
    candidates.sort_unstable();
    let mut out = train.clone();
    let f = train.features();
    for &i in &candidates {
        let row = &mut out.x[i * f..(i + 1) * f];
        config.trigger.apply(row, &train.sample_shape);
        if let Some(r) = train.input_range {
            row.iter_mut().for_each(|v| *v = v.clamp(r.lo, r.hi));
        }
        out.y[i] = config.map.target_of(train.y[i], train.num_classes);
    }
    Ok(Poisoned {
        train: out,
        poisoned: candidates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisec_ml::data::BuiltinDataset;

    #[test]
    fn poisons_the_requested_share_with_trigger_and_target() {
        let (train, _) = BuiltinDataset::Digits.split();
        let p = poison(&train, &BadNetsConfig::default(), 1).unwrap();
        assert_eq!(
            p.poisoned.len(),
            (0.05 * train.len() as f64).round() as usize
        );
        let f = train.features();
        for &i in &p.poisoned {
            assert_eq!(p.train.y[i], 0);
            assert_ne!(train.y[i], 0);
            let row = &p.train.x[i * f..(i + 1) * f];
            // Bottom-right 3×3 of an 8×8 image.
            for r in 5..8 {
                for c in 5..8 {
                    assert_eq!(row[r * 8 + c], 1.0);
                }
            }
        }
        let untouched = (0..train.len()).find(|i| !p.poisoned.contains(i)).unwrap();
        assert_eq!(p.train.sample(untouched), train.sample(untouched));
        assert!(poison(
            &train,
            &BadNetsConfig {
                rate: 1.5,
                ..BadNetsConfig::default()
            },
            1
        )
        .is_err());
    }
}
