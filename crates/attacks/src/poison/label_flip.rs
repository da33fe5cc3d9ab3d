//! Label flipping: the adversary changes labels only. Random flipping moves a fraction of all
//! labels to another class drawn at random; targeted flipping moves a fraction of class A to
//! class B (Biggio et al. 2012 studied the optimised version; random and targeted are the
//! baselines every poisoning study reports).
//!
//! ATLAS: AML.T0020 Poison Training Data, AML.T0059 Erode Dataset Integrity.

use aisec_core::rng::Rng;
use aisec_ml::data::Dataset;
use serde::Serialize;

use super::Poisoned;

pub const ATLAS: &[&str] = &["AML.T0020", "AML.T0059"];

pub const INFO: crate::AttackInfo = crate::AttackInfo {
    name: "poison.label-flip",
    aliases: &["label-flip"],
    summary: "Label flipping, random or class A → B, at a given rate",
    access: crate::Access::TrainingData,
    atlas: ATLAS,
};

/// The attacks this module registers.
pub const ENTRY: &[&crate::AttackInfo] = &[&INFO];

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LabelFlip {
    /// `rate` of all examples get a different class, uniformly.
    Random { rate: f64 },
    /// `rate` of class `from`'s examples are labelled `to`.
    Targeted { from: usize, to: usize, rate: f64 },
}

pub fn poison(train: &Dataset, flip: LabelFlip, seed: u64) -> Result<Poisoned, String> {
    let classes = train.num_classes;
    let mut rng = Rng::derive(seed, "label-flip");
    let mut out = train.clone();
    let (mut chosen, rate) = match flip {
        LabelFlip::Random { rate } => ((0..train.len()).collect::<Vec<_>>(), rate),
        LabelFlip::Targeted { from, to, rate } => {
            if from >= classes || to >= classes || from == to {
                return Err(format!(
                    "targeted flipping needs two different classes of 0..{classes}, got {from} → {to}"
                ));
            }
            (
                (0..train.len()).filter(|&i| train.y[i] == from).collect(),
                rate,
            )
        }
    };
    if !(0.0..=1.0).contains(&rate) {
        return Err(format!("--rate must lie in [0, 1], got {rate}"));
    }
    let want = (rate * chosen.len() as f64).round() as usize;
    rng.shuffle(&mut chosen);
    chosen.truncate(want);
    chosen.sort_unstable();
    for &i in &chosen {
        out.y[i] = match flip {
            LabelFlip::Targeted { to, .. } => to,
            LabelFlip::Random { .. } => {
                let shift = 1 + (rng.next_u64() % (classes as u64 - 1).max(1)) as usize;
                (train.y[i] + shift) % classes
            }
        };
    }
    Ok(Poisoned {
        train: out,
        poisoned: chosen,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisec_ml::data::BuiltinDataset;

    #[test]
    fn flips_what_it_says() {
        let (train, _) = BuiltinDataset::Digits.split();
        let p = poison(&train, LabelFlip::Random { rate: 0.2 }, 3).unwrap();
        assert_eq!(
            p.poisoned.len(),
            (0.2 * train.len() as f64).round() as usize
        );
        assert!(p.poisoned.iter().all(|&i| p.train.y[i] != train.y[i]));
        let t = poison(
            &train,
            LabelFlip::Targeted {
                from: 3,
                to: 8,
                rate: 0.5,
            },
            3,
        )
        .unwrap();
        assert!(t
            .poisoned
            .iter()
            .all(|&i| train.y[i] == 3 && t.train.y[i] == 8));
        let threes = train.y.iter().filter(|y| **y == 3).count();
        assert_eq!(t.poisoned.len(), (0.5 * threes as f64).round() as usize);
        assert!(poison(
            &train,
            LabelFlip::Targeted {
                from: 3,
                to: 3,
                rate: 0.5
            },
            3
        )
        .is_err());
    }
}
