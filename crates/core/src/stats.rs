//! Statistics shared by the certification procedure and the timing tests: the regularized
//! incomplete beta function (continued fraction, Lentz's method), its inverse for
//! Clopper–Pearson bounds, the standard normal quantile, the two-sided binomial test at
//! p = ½ of PREDICT, Welch's t-test and the Mann–Whitney AUC.

/// ln Γ, from libm (std has none).
fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// The regularized incomplete beta function I_x(a, b) for a, b > 0 and x in [0, 1].
pub fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    // The continued fraction converges fast for x below (a + 1) / (a + b + 2); above it,
    // the symmetry I_x(a, b) = 1 − I_{1−x}(b, a) brings x there.
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * continued_fraction(x, a, b) / a
    } else {
        1.0 - ln_front.exp() * continued_fraction(1.0 - x, b, a) / b
    }
}

fn continued_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..100_000 {
        let m = m as f64;
        let even = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        for coefficient in [
            even,
            -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0)),
        ] {
            d = 1.0 + coefficient * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + coefficient / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// The `p`-quantile of Beta(a, b), by bisection (I_x is increasing in x).
pub fn beta_quantile(p: f64, a: f64, b: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if incomplete_beta(mid, a, b) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The one-sided (1 − α) Clopper–Pearson lower bound on a binomial proportion from
/// `successes` of `trials`: the α-quantile of Beta(k, n − k + 1), 0 when k = 0.
pub fn clopper_pearson_lower(successes: usize, trials: usize, alpha: f64) -> f64 {
    if successes == 0 || trials == 0 {
        return 0.0;
    }
    let k = successes.min(trials) as f64;
    beta_quantile(alpha, k, trials as f64 - k + 1.0)
}

/// Φ(z), the standard normal distribution function.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

/// Φ⁻¹(p), by bisection on [−40, 40] (infinite at 0 and 1).
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let (mut lo, mut hi) = (-40.0f64, 40.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if normal_cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The two-sided p-value of `k` successes in `n` trials against p = ½ (the distribution is
/// symmetric, so twice the tail beyond the farther count, at most 1).
pub fn binomial_test_half(k: usize, n: usize) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let far = k.max(n - k.min(n));
    if 2 * far == n {
        return 1.0;
    }
    // P(X ≥ m) = I_½(m, n − m + 1) for m ≥ 1.
    let tail = incomplete_beta(0.5, far as f64, (n - far) as f64 + 1.0);
    (2.0 * tail).min(1.0)
}

/// Welch's unequal-variances t-test of two samples' means.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Welch {
    /// Mean of the first sample minus the second's.
    pub difference: f64,
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value from Student's t with `df` degrees of freedom.
    pub p: f64,
}

fn mean_and_variance(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

/// Welch's t-test; `None` with fewer than two values in a sample. Two samples without any
/// spread give p = 1 when their means agree and p = 0 when they differ.
pub fn welch(a: &[f64], b: &[f64]) -> Option<Welch> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (ma, va) = mean_and_variance(a);
    let (mb, vb) = mean_and_variance(b);
    let (sa, sb) = (va / a.len() as f64, vb / b.len() as f64);
    let difference = ma - mb;
    let se2 = sa + sb;
    if se2 <= 0.0 || !se2.is_finite() {
        let p = if difference == 0.0 { 1.0 } else { 0.0 };
        return Some(Welch {
            difference,
            t: if difference == 0.0 {
                0.0
            } else {
                difference.signum() * f64::INFINITY
            },
            df: (a.len() + b.len() - 2) as f64,
            p,
        });
    }
    let t = difference / se2.sqrt();
    let df = se2 * se2 / (sa * sa / (a.len() as f64 - 1.0) + sb * sb / (b.len() as f64 - 1.0));
    Some(Welch {
        difference,
        t,
        df,
        p: student_t_two_sided(t, df),
    })
}

/// P(|T| ≥ |t|) for Student's t with `df` degrees of freedom: I_{df/(df+t²)}(df/2, ½).
pub fn student_t_two_sided(t: f64, df: f64) -> f64 {
    if !t.is_finite() {
        return 0.0;
    }
    incomplete_beta(df / (df + t * t), df / 2.0, 0.5).clamp(0.0, 1.0)
}

/// The area under the ROC curve of `score` separating `positive` from the rest: the
/// probability that a random positive scores above a random negative, ties counting half
/// (the Mann–Whitney U over the product of the sample sizes). `None` when either side is
/// empty.
pub fn auc(score: &[f64], positive: &[bool]) -> Option<f64> {
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&i, &j| score[i].total_cmp(&score[j]));
    let positives = positive.iter().filter(|p| **p).count();
    let negatives = score.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    // Mid-ranks, so ties count half.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && score[order[j + 1]] == score[order[i]] {
            j += 1;
        }
        let mid_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += mid_rank * order[i..=j].iter().filter(|&&k| positive[k]).count() as f64;
        i = j + 1;
    }
    let p = positives as f64;
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) {
        assert!((a - b).abs() <= tolerance, "{a} against {b}");
    }

    /// Reference values from SciPy 1.x (`beta.ppf`, `norm.ppf`, `binomtest(k, n, 0.5)`).
    #[test]
    fn agrees_with_scipy() {
        close(
            clopper_pearson_lower(9990, 10_000, 0.001),
            0.9975883080325683,
            1e-9,
        );
        close(
            clopper_pearson_lower(5200, 10_000, 0.001),
            0.5045018488791799,
            1e-9,
        );
        close(
            clopper_pearson_lower(100, 100, 0.001),
            0.933254300796991,
            1e-9,
        );
        close(
            clopper_pearson_lower(73, 100, 0.05),
            0.6473846839831676,
            1e-9,
        );
        assert_eq!(clopper_pearson_lower(0, 100, 0.05), 0.0);
        close(normal_quantile(0.5), 0.0, 1e-12);
        close(normal_quantile(0.6), 0.2533471031357997, 1e-9);
        close(normal_quantile(0.9), 1.2815515655446004, 1e-9);
        close(normal_quantile(0.999), 3.090232306167813, 1e-9);
        close(normal_quantile(0.9999), 3.719016485455709, 1e-8);
        close(binomial_test_half(60, 100), 0.05688793364098089, 1e-9);
        close(binomial_test_half(40, 100), 0.05688793364098089, 1e-9);
        close(binomial_test_half(55, 100), 0.36820161732669615, 1e-9);
        close(binomial_test_half(530, 1000), 0.06202319509836343, 1e-9);
        assert_eq!(binomial_test_half(500, 1000), 1.0);
    }

    /// SciPy: `ttest_ind(a, b, equal_var=False)`, `t.sf(|t|, df) * 2`.
    #[test]
    fn welch_agrees_with_scipy() {
        let a = [
            27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7,
            21.4,
        ];
        let b = [
            27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5,
            24.4,
        ];
        let w = welch(&a, &b).unwrap();
        close(w.t, -2.455356398286006, 1e-9);
        close(w.df, 24.988529290231416, 1e-7);
        close(w.p, 0.021378001462866992, 1e-9);
        close(student_t_two_sided(2.0, 10.0), 0.07338803, 1e-7);
        close(student_t_two_sided(0.0, 3.0), 1.0, 1e-12);
        assert!(welch(&[1.0], &b).is_none());
        assert_eq!(welch(&[2.0, 2.0], &[2.0, 2.0]).unwrap().p, 1.0);
        assert_eq!(welch(&[2.0, 2.0], &[3.0, 3.0]).unwrap().p, 0.0);
    }

    #[test]
    fn auc_counts_pairs_and_ties() {
        assert_eq!(auc(&[3.0, 2.0, 1.0], &[true, false, false]), Some(1.0));
        assert_eq!(auc(&[1.0, 2.0, 3.0], &[true, false, false]), Some(0.0));
        assert_eq!(auc(&[1.0, 1.0], &[true, false]), Some(0.5));
        // Positives 2 and 4 against negatives 1, 3 and 4: 1 + 0 + 0 + 1 + 1 + ½ of 6 pairs.
        close(
            auc(
                &[2.0, 4.0, 1.0, 3.0, 4.0],
                &[true, true, false, false, false],
            )
            .unwrap(),
            3.5 / 6.0,
            1e-12,
        );
        assert_eq!(auc(&[1.0, 2.0], &[true, true]), None);
    }

    #[test]
    fn the_incomplete_beta_is_a_distribution_function() {
        let mut last = 0.0;
        for i in 0..=100 {
            let v = incomplete_beta(i as f64 / 100.0, 3.5, 120.0);
            assert!((0.0..=1.0).contains(&v) && v >= last - 1e-15, "{i}: {v}");
            last = v;
        }
        close(incomplete_beta(0.3, 1.0, 1.0), 0.3, 1e-12);
        close(incomplete_beta(0.5, 7.0, 7.0), 0.5, 1e-12);
    }
}
