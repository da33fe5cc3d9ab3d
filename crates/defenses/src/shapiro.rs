//! The Shapiro–Wilk test of normality, with Royston's (1992, 1995) approximations of the
//! coefficients and of the p-value, valid for 3 ≤ n ≤ 5000. PRADA decides that a client's
//! query stream is an extraction when its minimum distances stop looking normal.

/// W and its p-value for `sample`, or `None` when the sample is too small (n < 3) or has no
/// spread (every value equal).
pub fn shapiro_wilk(sample: &[f64]) -> Option<(f64, f64)> {
    let n = sample.len();
    if n < 3 {
        return None;
    }
    let mut x: Vec<f64> = sample.to_vec();
    x.sort_by(f64::total_cmp);
    let mean = x.iter().sum::<f64>() / n as f64;
    let ss: f64 = x.iter().map(|v| (v - mean).powi(2)).sum();
    if ss <= f64::EPSILON * mean.abs().max(1.0) {
        return None;
    }
    let a = coefficients(n);
    let numerator: f64 = a.iter().zip(&x).map(|(a, x)| a * x).sum::<f64>().powi(2);
    let w = (numerator / ss).clamp(0.0, 1.0);
    Some((w, p_value(w, n)))
}

/// Royston's approximation of the Shapiro–Wilk coefficients, antisymmetric, ascending order.
fn coefficients(n: usize) -> Vec<f64> {
    let nf = n as f64;
    if n == 3 {
        let c = std::f64::consts::FRAC_1_SQRT_2;
        return vec![-c, 0.0, c];
    }
    let m: Vec<f64> = (1..=n)
        .map(|i| normal_quantile((i as f64 - 0.375) / (nf + 0.25)))
        .collect();
    let mm: f64 = m.iter().map(|v| v * v).sum();
    let u = 1.0 / nf.sqrt();
    let poly = |c: &[f64]| c.iter().rev().fold(0.0, |acc, k| acc * u + k);
    let last =
        m[n - 1] / mm.sqrt() + poly(&[0.0, 0.221157, -0.147981, -2.071190, 4.434685, -2.706056]);
    let mut a = vec![0.0; n];
    if n > 5 {
        let second = m[n - 2] / mm.sqrt()
            + poly(&[0.0, 0.042981, -0.293762, -1.752461, 5.682633, -3.582633]);
        let phi = (mm - 2.0 * m[n - 1].powi(2) - 2.0 * m[n - 2].powi(2))
            / (1.0 - 2.0 * last.powi(2) - 2.0 * second.powi(2));
        for i in 2..n - 2 {
            a[i] = m[i] / phi.sqrt();
        }
        a[n - 1] = last;
        a[n - 2] = second;
        a[0] = -last;
        a[1] = -second;
    } else {
        let phi = (mm - 2.0 * m[n - 1].powi(2)) / (1.0 - 2.0 * last.powi(2));
        for i in 1..n - 1 {
            a[i] = m[i] / phi.sqrt();
        }
        a[n - 1] = last;
        a[0] = -last;
    }
    a
}

/// Royston's normalising transformations of W.
fn p_value(w: f64, n: usize) -> f64 {
    let nf = n as f64;
    if n == 3 {
        let p = 6.0 / std::f64::consts::PI * (w.sqrt().asin() - (0.75f64).sqrt().asin());
        return p.clamp(0.0, 1.0);
    }
    if w >= 1.0 {
        return 1.0;
    }
    let (mu, sigma, y) = if n <= 11 {
        let gamma = -2.273 + 0.459 * nf;
        let mu = 0.5440 - 0.39978 * nf + 0.025054 * nf * nf - 0.0006714 * nf.powi(3);
        let sigma = (1.3822 - 0.77857 * nf + 0.062767 * nf * nf - 0.0020322 * nf.powi(3)).exp();
        let inner = gamma - (1.0 - w).ln();
        if inner <= 0.0 {
            return 0.0;
        }
        (mu, sigma, -inner.ln())
    } else {
        let ln = nf.ln();
        let mu = 0.0038915 * ln.powi(3) - 0.083751 * ln * ln - 0.31082 * ln - 1.5861;
        let sigma = (0.0030302 * ln * ln - 0.082676 * ln - 0.4803).exp();
        (mu, sigma, (1.0 - w).ln())
    };
    1.0 - normal_cdf((y - mu) / sigma)
}

/// Φ(z), from erfc with a relative error below 1.2·10⁻⁷ (Numerical Recipes' Chebyshev fit).
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807
                                + t * (-1.13520398
                                    + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// Φ⁻¹(p) by Acklam's rational approximation (relative error below 1.2·10⁻⁹).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e+01,
        2.209460984245205e+02,
        -2.759285104469687e+02,
        1.38357751867269e+02,
        -3.066479806614716e+01,
        2.506628277459239e+00,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e+01,
        1.615858368580409e+02,
        -1.556989798598866e+02,
        6.680131188771972e+01,
        -1.328068155288572e+01,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e+00,
        -2.549732539343734e+00,
        4.374664141464968e+00,
        2.938163982698783e+00,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-03,
        3.224671290700398e-01,
        2.445134137142996e+00,
        3.754408661907416e+00,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_and_cdf_agree() {
        for p in [0.001, 0.025, 0.3, 0.5, 0.8, 0.975, 0.9999] {
            assert!((normal_cdf(normal_quantile(p)) - p).abs() < 1e-6, "{p}");
        }
        assert!((normal_quantile(0.975) - 1.959964).abs() < 1e-5);
    }

    /// Reference values from scipy.stats.shapiro (SciPy 1.17, the same Royston algorithm).
    #[test]
    fn matches_the_reference_implementation() {
        let linear: Vec<f64> = (1..=20).map(f64::from).collect();
        let squares: Vec<f64> = (1..=30).map(|i| f64::from(i * i)).collect();
        let small = [2.0, 4.5, 3.1, 9.0, 5.5, 6.0, 1.2];
        for (sample, w_ref, p_ref) in [
            (&linear[..], LINEAR_W, LINEAR_P),
            (&squares[..], SQUARES_W, SQUARES_P),
            (&small[..], SMALL_W, SMALL_P),
        ] {
            let (w, p) = shapiro_wilk(sample).unwrap();
            assert!((w - w_ref).abs() < 1e-4, "W {w} vs {w_ref}");
            assert!((p - p_ref).abs() < 2e-3, "p {p} vs {p_ref}");
        }
        assert!(shapiro_wilk(&[1.0, 1.0, 1.0, 1.0]).is_none());
        assert!(shapiro_wilk(&[1.0, 2.0]).is_none());
    }

    const LINEAR_W: f64 = 0.960375;
    const LINEAR_P: f64 = 0.551372;
    const SQUARES_W: f64 = 0.901421;
    const SQUARES_P: f64 = 0.009100;
    const SMALL_W: f64 = 0.964945;
    const SMALL_P: f64 = 0.859867;
}
