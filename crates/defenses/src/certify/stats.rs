//! The statistics of the certification procedure: the regularized incomplete beta function
//! (continued fraction, Lentz's method), its inverse for Clopper–Pearson bounds, the
//! standard normal quantile, and the two-sided binomial test at p = ½ of PREDICT.

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

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) {
        assert!((a - b).abs() <= tolerance, "{a} against {b}");
    }

    /// Reference values from SciPy 1.x (`beta.ppf`, `norm.ppf`, `binomtest(k, n, 0.5)`).
    #[test]
    fn agrees_with_scipy() {
        close(clopper_pearson_lower(9990, 10_000, 0.001), 0.9975883080325683, 1e-9);
        close(clopper_pearson_lower(5200, 10_000, 0.001), 0.5045018488791799, 1e-9);
        close(clopper_pearson_lower(100, 100, 0.001), 0.933254300796991, 1e-9);
        close(clopper_pearson_lower(73, 100, 0.05), 0.6473846839831676, 1e-9);
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
