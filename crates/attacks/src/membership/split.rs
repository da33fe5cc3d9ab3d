//! The experiment's data: who trains the target, who are the candidates, what the adversary
//! holds.

use aisec_core::rng::Rng;
use aisec_ml::data::Dataset;
use serde::Serialize;

/// A dataset cut for a membership experiment: the target trains on `members`; the
/// candidates are the members and as many records it never saw (so 50% is the base rate);
/// the rest is the adversary's population. Records are assigned at random from `seed`.
#[derive(Debug, Clone)]
pub struct MembershipSplit {
    pub members: Dataset,
    pub candidates: Dataset,
    /// `is_member[i]` for candidate `i`: the assessor's truth, never shown to the attack.
    pub is_member: Vec<bool>,
    pub population: Dataset,
    pub description: SplitDescription,
}

#[derive(Debug, Clone, Serialize)]
pub struct SplitDescription {
    pub dataset: String,
    pub records: usize,
    pub members: usize,
    pub non_members: usize,
    pub population: usize,
    pub seed: u64,
}

impl MembershipSplit {
    /// `train_size` members, `train_size` non-member candidates, and the rest as population.
    /// Errors when the data is too small to hold all three.
    pub fn new(data: &Dataset, train_size: usize, seed: u64) -> Result<Self, String> {
        if train_size == 0 || 2 * train_size >= data.len() {
            return Err(format!(
                "{}: a membership split of {train_size} members needs more than {} records (members, as many non-members, and a population); it has {}",
                data.name,
                2 * train_size,
                data.len()
            ));
        }
        let mut order: Vec<usize> = (0..data.len()).collect();
        Rng::derive(seed, "membership-split").shuffle(&mut order);
        let members_idx = &order[..train_size];
        let outsiders = &order[train_size..2 * train_size];
        // Candidates interleaved so that no attack can read membership off the position.
        let mut candidate_idx: Vec<(usize, bool)> = members_idx
            .iter()
            .map(|&i| (i, true))
            .chain(outsiders.iter().map(|&i| (i, false)))
            .collect();
        Rng::derive(seed, "membership-candidates").shuffle(&mut candidate_idx);
        let candidates: Vec<usize> = candidate_idx.iter().map(|c| c.0).collect();
        let population = &order[2 * train_size..];
        Ok(MembershipSplit {
            members: data.subset(members_idx),
            candidates: data.subset(&candidates),
            is_member: candidate_idx.iter().map(|c| c.1).collect(),
            population: data.subset(population),
            description: SplitDescription {
                dataset: data.name.clone(),
                records: data.len(),
                members: train_size,
                non_members: train_size,
                population: population.len(),
                seed,
            },
        })
    }
}
