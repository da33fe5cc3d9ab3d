//! How well one number per input (its response time) separates the inputs' groups: the
//! Mann–Whitney AUC with a stratified bootstrap interval and a permutation test of the most
//! separated group, and the mutual information between quantile bins of the number and the
//! group with its permutation test and its mean under shuffling (the plug-in estimate is
//! biased upwards).

use aisec_core::rng::Rng;
use aisec_core::stats;

/// AUC of `score` for `positive`, with a 95% percentile interval from `resamples` stratified
/// bootstrap draws.
pub fn auc_with_interval(
    score: &[f64],
    positive: &[bool],
    resamples: usize,
    rng: &mut Rng,
) -> Option<(f64, [f64; 2])> {
    let auc = stats::auc(score, positive)?;
    let pos: Vec<usize> = (0..score.len()).filter(|&i| positive[i]).collect();
    let neg: Vec<usize> = (0..score.len()).filter(|&i| !positive[i]).collect();
    let mut draws = Vec::with_capacity(resamples);
    let mut s = Vec::with_capacity(score.len());
    let mut p = Vec::with_capacity(score.len());
    for _ in 0..resamples {
        s.clear();
        p.clear();
        for (side, is_positive) in [(&pos, true), (&neg, false)] {
            for _ in 0..side.len() {
                s.push(score[side[rng.below(side.len())]]);
                p.push(is_positive);
            }
        }
        if let Some(a) = stats::auc(&s, &p) {
            draws.push(a);
        }
    }
    Some((auc, percentile_interval(&mut draws)))
}

/// The `q`-quantile of a sorted, non-empty slice by the nearest rank.
pub fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let last = sorted.len() - 1;
    sorted[((q * last as f64).round() as usize).min(last)]
}

/// The 2.5th and 97.5th percentiles.
pub fn percentile_interval(draws: &mut [f64]) -> [f64; 2] {
    if draws.is_empty() {
        return [f64::NAN, f64::NAN];
    }
    draws.sort_by(f64::total_cmp);
    [nearest_rank(draws, 0.025), nearest_rank(draws, 0.975)]
}

/// Mid-ranks of `score` from 1 (ties share the mean of their ranks).
pub fn mid_ranks(score: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[a].total_cmp(&score[b]));
    let mut rank = vec![0.0; score.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && score[order[j + 1]] == score[order[i]] {
            j += 1;
        }
        for &k in &order[i..=j] {
            rank[k] = (i + j) as f64 / 2.0 + 1.0;
        }
        i = j + 1;
    }
    rank
}

/// The group most separated from all the others (one against the rest, max(AUC, 1 − AUC)
/// from the mid-ranks) and its separation.
pub fn most_separated(rank: &[f64], group: &[usize], groups: usize) -> (usize, f64) {
    let n = rank.len() as f64;
    let mut sum = vec![0.0; groups];
    let mut count = vec![0usize; groups];
    for (&r, &g) in rank.iter().zip(group) {
        sum[g] += r;
        count[g] += 1;
    }
    (0..groups)
        .filter(|&g| count[g] > 0 && (count[g] as f64) < n)
        .map(|g| {
            let k = count[g] as f64;
            let auc = (sum[g] - k * (k + 1.0) / 2.0) / (k * (n - k));
            (g, auc.max(1.0 - auc))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((0, 0.5))
}

/// The permutation p-value of the most separated group's separation: how often shuffled
/// groups separate at least as well. A valid test of "some group differs" whose power goes
/// to one group's shift, the effect the AUC reports.
pub fn most_separated_p(
    score: &[f64],
    group: &[usize],
    groups: usize,
    resamples: usize,
    rng: &mut Rng,
) -> f64 {
    let rank = mid_ranks(score);
    let (_, observed) = most_separated(&rank, group, groups);
    let mut shuffled = group.to_vec();
    let mut at_least = 0usize;
    for _ in 0..resamples {
        rng.shuffle(&mut shuffled);
        if most_separated(&rank, &shuffled, groups).1 >= observed - 1e-12 {
            at_least += 1;
        }
    }
    (1 + at_least) as f64 / (1 + resamples) as f64
}

/// Spearman's rank correlation (Pearson's on mid-ranks); 0 when either side is constant.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (mid_ranks(a), mid_ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        cov += (x - ma) * (y - mb);
        va += (x - ma).powi(2);
        vb += (y - mb).powi(2);
    }
    if va <= 0.0 || vb <= 0.0 {
        0.0
    } else {
        cov / (va * vb).sqrt()
    }
}

/// Equal-count bins of `score` by rank (ties share a bin).
pub fn quantile_bins(score: &[f64], bins: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[a].total_cmp(&score[b]));
    let mut bin = vec![0; score.len()];
    let n = score.len().max(1);
    let mut rank = 0;
    while rank < order.len() {
        let mut last = rank;
        while last + 1 < order.len() && score[order[last + 1]] == score[order[rank]] {
            last += 1;
        }
        let b = (rank * bins / n).min(bins - 1);
        for &i in &order[rank..=last] {
            bin[i] = b;
        }
        rank = last + 1;
    }
    bin
}

/// Plug-in mutual information in bits between two discrete labelings.
pub fn mutual_information(a: &[usize], b: &[usize]) -> f64 {
    let (ka, kb) = (
        a.iter().max().map_or(0, |m| m + 1),
        b.iter().max().map_or(0, |m| m + 1),
    );
    let n = a.len() as f64;
    if n == 0.0 {
        return 0.0;
    }
    let mut joint = vec![0usize; ka * kb];
    for (&x, &y) in a.iter().zip(b) {
        joint[x * kb + y] += 1;
    }
    let mut pa = vec![0usize; ka];
    let mut pb = vec![0usize; kb];
    for x in 0..ka {
        for y in 0..kb {
            pa[x] += joint[x * kb + y];
            pb[y] += joint[x * kb + y];
        }
    }
    let mut mi = 0.0;
    for x in 0..ka {
        for y in 0..kb {
            let c = joint[x * kb + y] as f64;
            if c > 0.0 {
                mi += c / n * (c * n / (pa[x] as f64 * pb[y] as f64)).log2();
            }
        }
    }
    mi.max(0.0)
}

/// Mutual information between the binned score and the group: the plug-in estimate, its
/// mean over shuffled groups (the plug-in is biased upwards, by about the number of cells
/// over twice the sample size), and the permutation p-value
/// `(1 + #{shuffled ≥ observed}) / (1 + resamples)`.
pub struct Information {
    pub bits: f64,
    pub chance_bits: f64,
    pub permutation_p: f64,
    pub bins: usize,
}

impl Information {
    /// The estimate above what shuffled groups give, at least 0.
    pub fn above_chance(&self) -> f64 {
        (self.bits - self.chance_bits).max(0.0)
    }
}

pub fn information(score: &[f64], group: &[usize], resamples: usize, rng: &mut Rng) -> Information {
    let bins = (score.len() / 20).clamp(2, 10);
    let binned = quantile_bins(score, bins);
    let bits = mutual_information(&binned, group);
    let mut shuffled = group.to_vec();
    let mut at_least = 0usize;
    let mut total = 0.0;
    for _ in 0..resamples {
        rng.shuffle(&mut shuffled);
        let shuffled_bits = mutual_information(&binned, &shuffled);
        total += shuffled_bits;
        if shuffled_bits >= bits - 1e-12 {
            at_least += 1;
        }
    }
    Information {
        bits,
        chance_bits: total / resamples.max(1) as f64,
        permutation_p: (1 + at_least) as f64 / (1 + resamples) as f64,
        bins,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn information_of_a_perfect_and_of_no_separation() {
        let group: Vec<usize> = (0..200).map(|i| i % 2).collect();
        let separated: Vec<f64> = group.iter().map(|&g| g as f64 * 10.0 + 1.0).collect();
        let mut rng = Rng::derive(1, "t");
        let info = information(&separated, &group, 200, &mut rng);
        assert!((info.bits - 1.0).abs() < 1e-9, "{}", info.bits);
        assert!(info.permutation_p < 0.01);
        let constant = vec![5.0; 200];
        let none = information(&constant, &group, 200, &mut rng);
        assert_eq!(none.bits, 0.0);
        assert_eq!(none.permutation_p, 1.0);
        let (auc, ci) = auc_with_interval(
            &separated,
            &group.iter().map(|g| *g == 1).collect::<Vec<_>>(),
            200,
            &mut rng,
        )
        .unwrap();
        assert_eq!(auc, 1.0);
        assert_eq!(ci, [1.0, 1.0]);
    }

    #[test]
    fn one_shifted_group_among_many_is_found() {
        let mut rng = Rng::derive(2, "t");
        let group: Vec<usize> = (0..200).map(|i| i % 10).collect();
        let score: Vec<f64> = group
            .iter()
            .map(|&g| rng.uniform(0.0, 1.0) as f64 + if g == 8 { 0.5 } else { 0.0 })
            .collect();
        let (best, sep) = most_separated(&mid_ranks(&score), &group, 10);
        assert_eq!(best, 8);
        assert!(sep > 0.8, "{sep}");
        assert!(most_separated_p(&score, &group, 10, 500, &mut rng) < 0.01);
        let noise: Vec<f64> = (0..200).map(|_| rng.uniform(0.0, 1.0) as f64).collect();
        assert!(most_separated_p(&noise, &group, 10, 500, &mut rng) > 0.01);
    }

    #[test]
    fn bins_have_equal_counts_and_keep_ties_together() {
        let score: Vec<f64> = (0..100).map(|i| ((i * 37) % 100) as f64).collect();
        let bins = quantile_bins(&score, 4);
        for b in 0..4 {
            assert_eq!(bins.iter().filter(|&&x| x == b).count(), 25, "{b}");
        }
        // Ranks 24 and 25 tie: both go to the first one's bin.
        let tied: Vec<f64> = (0..100).map(|i| (i / 2) as f64).collect();
        let bins = quantile_bins(&tied, 4);
        assert_eq!(bins[24], bins[25]);
        assert_eq!(bins[24], 0);
    }
}
