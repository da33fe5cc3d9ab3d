//! The properties of the probe inputs that `sidechannel.timing` tests, how it groups the
//! inputs by each, and the tests of each grouping.

use aisec_core::rng::Rng;
use aisec_core::stats;

use super::separation;
use super::timing::{
    median, Group, InputTiming, Property, PropertyTest, TimingConfig, Untested, MIN_GROUP,
};

/// The most shuffles a permutation test runs (the smallest p it can give is 1 / (1 + this)).
pub const MAX_PERMUTATIONS: usize = 2_000_000;

/// A property's grouping of the inputs: a group index per input (`None`: left out) and the
/// groups' names; for two groups, the second is the AUC's positive side.
type Grouping = (Property, Vec<Option<usize>>, Vec<String>);

/// Each property's grouping.
fn groupings(
    inputs: &[InputTiming],
    labels: Option<&[usize]>,
    member: Option<&[bool]>,
) -> (Vec<Grouping>, Vec<Untested>) {
    let mut out = Vec::new();
    let mut untested = Vec::new();
    // Predicted class: one group per class the API answered.
    let mut classes: Vec<usize> = inputs.iter().map(|t| t.predicted).collect();
    classes.sort_unstable();
    classes.dedup();
    out.push((
        Property::PredictedClass,
        inputs
            .iter()
            .map(|t| classes.iter().position(|c| *c == t.predicted))
            .collect(),
        classes.iter().map(|c| format!("class {c}")).collect(),
    ));
    // Confidence: the quartiles of the top probability.
    let tops: Option<Vec<f32>> = inputs.iter().map(|t| t.top_probability).collect();
    match tops {
        None => untested.push(Untested {
            property: Property::Confidence,
            reason: "the API answers labels only".into(),
        }),
        Some(tops) => {
            // Quartiles of the top probability: the attacker does not know where a
            // threshold inside the model lies, and a step anywhere shows as one quartile
            // against the rest.
            let score: Vec<f64> = tops.iter().map(|&p| p as f64).collect();
            let bins = separation::quantile_bins(&score, 4);
            let mut used: Vec<usize> = bins.clone();
            used.sort_unstable();
            used.dedup();
            let names = used
                .iter()
                .map(|b| {
                    let inside: Vec<f64> = (0..score.len())
                        .filter(|&i| bins[i] == *b)
                        .map(|i| score[i])
                        .collect();
                    let lo = inside.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = inside.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    format!("top probability {lo:.4}–{hi:.4}")
                })
                .collect();
            out.push((
                Property::Confidence,
                bins.iter()
                    .map(|b| used.iter().position(|u| u == b))
                    .collect(),
                names,
            ));
        }
    }
    match labels {
        None => untested.push(Untested {
            property: Property::Correctness,
            reason: "the probe inputs have no labels".into(),
        }),
        Some(labels) => out.push((
            Property::Correctness,
            inputs
                .iter()
                .zip(labels)
                .map(|(t, &l)| Some(usize::from(t.predicted != l)))
                .collect(),
            vec!["right answers".into(), "wrong answers".into()],
        )),
    }
    match member {
        None => untested.push(Untested {
            property: Property::Membership,
            reason: "no member and non-member records were given".into(),
        }),
        Some(member) => out.push((
            Property::Membership,
            member.iter().map(|&m| Some(usize::from(m))).collect(),
            vec!["non-members".into(), "members".into()],
        )),
    }
    (out, untested)
}

pub(super) fn test_properties(
    inputs: &[InputTiming],
    labels: Option<&[usize]>,
    member: Option<&[bool]>,
    config: &TimingConfig,
    seed: u64,
) -> (Vec<PropertyTest>, Vec<Untested>) {
    let (candidates, mut untested) = groupings(inputs, labels, member);
    let mut rng = Rng::derive(seed, "timing-tests");
    // Groups too small to compare are left out; a property needs two groups left.
    let mut testable = Vec::new();
    for (property, assignment, names) in candidates {
        let mut sizes = vec![0usize; names.len()];
        for g in assignment.iter().flatten() {
            sizes[*g] += 1;
        }
        let kept: Vec<usize> = (0..names.len())
            .filter(|&g| sizes[g] >= MIN_GROUP)
            .collect();
        if kept.len() < 2 {
            untested.push(Untested {
                property,
                reason: format!(
                    "fewer than two groups of at least {MIN_GROUP} inputs ({})",
                    names
                        .iter()
                        .zip(&sizes)
                        .map(|(n, s)| format!("{n}: {s}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        } else {
            testable.push((property, assignment, names, kept));
        }
    }
    // A permutation test cannot give p below 1 / (1 + shuffles): enough shuffles that the
    // smallest p is a tenth of the per-property level.
    let level = config.alpha / testable.len().max(1) as f64;
    let permutations = config
        .resamples
        .max((10.0 / level).ceil().min(MAX_PERMUTATIONS as f64) as usize);
    let mut tests = Vec::new();
    for (property, assignment, names, kept) in testable {
        let rows: Vec<usize> = (0..inputs.len())
            .filter(|&i| assignment[i].is_some_and(|g| kept.contains(&g)))
            .collect();
        let group: Vec<usize> = rows
            .iter()
            .map(|&i| {
                let g = assignment[i].unwrap_or(0);
                kept.iter().position(|k| *k == g).unwrap_or(0)
            })
            .collect();
        let median_us: Vec<f64> = rows.iter().map(|&i| inputs[i].median_us).collect();
        let first_us: Vec<f64> = rows.iter().map(|&i| inputs[i].first_us).collect();
        let groups: Vec<Group> = kept
            .iter()
            .enumerate()
            .map(|(k, &g)| {
                let mut own: Vec<f64> = (0..rows.len())
                    .filter(|&r| group[r] == k)
                    .map(|r| median_us[r])
                    .collect();
                Group {
                    name: names[g].clone(),
                    inputs: own.len(),
                    mean_us: own.iter().sum::<f64>() / own.len() as f64,
                    median_us: median(&mut own),
                }
            })
            .collect();
        // The compared pair: the second group against the first, or the group most
        // separated from the rest.
        let positive_group = if groups.len() == 2 {
            1
        } else {
            separation::most_separated(&separation::mid_ranks(&median_us), &group, groups.len()).0
        };
        let positive: Vec<bool> = group.iter().map(|g| *g == positive_group).collect();
        let Some((auc, auc_interval)) =
            separation::auc_with_interval(&median_us, &positive, config.resamples, &mut rng)
        else {
            continue;
        };
        let single_query_auc = stats::auc(&first_us, &positive).unwrap_or(0.5);
        let information = separation::information(&median_us, &group, config.resamples, &mut rng);
        let welch = if groups.len() == 2 {
            let side = |k: usize| -> Vec<f64> {
                (0..rows.len())
                    .filter(|&r| group[r] == k)
                    .map(|r| median_us[r])
                    .collect()
            };
            stats::welch(&side(1), &side(0))
        } else {
            None
        };
        // Rank-based and exact under exchangeability, whatever the groups' sizes and the
        // times' shape (two paths make them bimodal; Welch's test misleads on small groups).
        let p_value =
            separation::most_separated_p(&median_us, &group, groups.len(), permutations, &mut rng);
        let against = if groups.len() == 2 {
            groups[0].name.clone()
        } else if property == Property::PredictedClass {
            "the other classes".into()
        } else {
            "the other quartiles".into()
        };
        let median_where = |side: bool| {
            let mut v: Vec<f64> = (0..rows.len())
                .filter(|&r| positive[r] == side)
                .map(|r| median_us[r])
                .collect();
            median(&mut v)
        };
        let (positive_median_us, against_median_us) = (median_where(true), median_where(false));
        tests.push(PropertyTest {
            property,
            positive: groups[positive_group].name.clone(),
            against,
            positive_median_us,
            against_median_us,
            selected_among: (groups.len() > 2).then_some(groups.len()),
            groups,
            auc,
            auc_interval,
            single_query_auc,
            welch,
            mutual_information_bits: information.above_chance(),
            mutual_information_chance_bits: information.chance_bits,
            mutual_information_p: information.permutation_p,
            mutual_information_bins: information.bins,
            p_value,
            permutations,
            excluded_inputs: inputs.len() - rows.len(),
            leaks: false,
        });
    }
    for t in &mut tests {
        t.leaks = t.p_value < level
            && t.separation() >= config.min_auc
            && (t.positive_median_us - t.against_median_us).abs() >= config.min_difference_us;
    }
    (tests, untested)
}
