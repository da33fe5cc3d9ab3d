//! Activation clustering (Chen et al. 2019, "Detecting Backdoor Attacks on Deep Neural
//! Networks by Activation Clustering"): within each class, reduce the penultimate-layer
//! activations to a few principal components and split them in two; a poisoned class
//! separates into a clean cluster and a small, well-separated poison cluster. The smaller
//! cluster is flagged when its share is at most `max_share` and the split is clear
//! (simplified silhouette at least `min_silhouette`); flagged examples are removed before
//! retraining.
//!
//! ATLAS: AML.M0007 Sanitize Training Data (phase Data Preparation), AML.M0008.

use serde::Serialize;

use crate::linalg;

use crate::defense::DefenseInfo;

pub const INFO: DefenseInfo = DefenseInfo {
    name: "defense.activation-clustering",
    summary: "Activation clustering: per class, split the activations in two and drop a small, well-separated cluster, retrain (Chen et al. 2019)",
    forms: &["activation-clustering"],
    ..crate::defense::BACKDOOR_DATA_FILTER
};

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClusteringConfig {
    /// Principal components kept (10 in the paper, after ICA; PCA here).
    pub components: usize,
    pub max_share: f64,
    pub min_silhouette: f64,
}

impl Default for ClusteringConfig {
    fn default() -> Self {
        ClusteringConfig {
            components: 10,
            max_share: 0.35,
            min_silhouette: 0.25,
        }
    }
}

/// Per class: the share of the smaller cluster and the silhouette, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct ClassSplit {
    pub class: usize,
    pub size: usize,
    pub smaller_share: f64,
    pub silhouette: f64,
    pub flagged: bool,
}

pub fn flag(
    activations: &[f32],
    width: usize,
    labels: &[usize],
    classes: usize,
    config: &ClusteringConfig,
    seed: u64,
) -> (Vec<usize>, Vec<ClassSplit>) {
    let mut flagged = Vec::new();
    let mut splits = Vec::new();
    for class in 0..classes {
        let (members, centred) = linalg::class_rows(activations, width, labels, class);
        if members.len() < 4 {
            continue;
        }
        let directions =
            linalg::principal_directions(&centred, width, config.components, seed + class as u64);
        let points = linalg::project(&centred, width, &directions);
        let (assign, silhouette) = linalg::two_means(&points, seed + 100 + class as u64);
        let ones = assign.iter().filter(|a| **a == 1).count();
        let smaller = usize::from(ones * 2 < assign.len());
        let share = assign.iter().filter(|a| **a == smaller).count() as f64 / assign.len() as f64;
        let is_poisoned = share <= config.max_share && silhouette >= config.min_silhouette;
        if is_poisoned {
            flagged.extend(
                members
                    .iter()
                    .zip(&assign)
                    .filter(|(_, a)| **a == smaller)
                    .map(|(i, _)| *i),
            );
        }
        splits.push(ClassSplit {
            class,
            size: members.len(),
            smaller_share: share,
            silhouette,
            flagged: is_poisoned,
        });
    }
    flagged.sort_unstable();
    (flagged, splits)
}

/// `activation-clustering`, with its defaults.
pub fn parse_form(keyword: &str, argument: Option<&str>) -> Option<Result<crate::DefenseSpec, String>> {
    (keyword == "activation-clustering").then(|| {
        crate::registry::bare(
            argument,
            ClusteringConfig::default(),
        )
    })
}

pub const ENTRY: crate::registry::Entry = crate::registry::Entry {
    info: &INFO,
    parse: parse_form,
};

crate::defense::defense_from_config!(ClusteringConfig);
