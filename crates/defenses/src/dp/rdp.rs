//! Rényi-DP accountant for the Poisson-subsampled Gaussian mechanism, which is what DP-SGD
//! releases at each step (Abadi et al. 2016; RDP composition: Mironov 2017; the subsampled
//! Gaussian's RDP at integer and fractional orders: Mironov, Talwar and Zhang 2019).
//!
//! RDP composes by addition over steps; ε at a given δ is the minimum over orders α of the
//! conversion of Canonne, Kamath and Steinke (2020, Prop. 12), the one Google's
//! `dp_accounting` and Opacus use, so the numbers agree with theirs (checked in
//! `tests/accountant.rs` against `bench/dp_reference.py`).

use serde::Serialize;

/// The orders at which the RDP curve is evaluated: fine where the optimum usually lies
/// (1.1–10.9 in steps of 0.1), then integers, then a few large orders for tiny noise. The same
/// grid as the reference libraries, so the minimum is taken over the same points.
pub fn orders() -> Vec<f64> {
    let mut out: Vec<f64> = (1..100).map(|x| 1.0 + x as f64 / 10.0).collect();
    out.extend((11..64).map(f64::from));
    out.extend([128.0, 256.0, 512.0, 1024.0]);
    out
}

/// One DP-SGD run as the accountant sees it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DpSgdSetting {
    /// Poisson sampling rate q: each example joins each batch with probability q.
    pub sampling_rate: f64,
    /// σ: noise standard deviation over the clipping norm.
    pub noise_multiplier: f64,
    pub steps: u64,
}

/// What a setting spends at a δ, and the order that gave the bound.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PrivacySpent {
    pub epsilon: f64,
    pub delta: f64,
    pub order: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AccountantError {
    #[error("{name} must be {expected}, got {value}")]
    Argument {
        name: &'static str,
        expected: &'static str,
        value: f64,
    },
    #[error("no noise multiplier up to {max} reaches ε = {target} at δ = {delta} over so many steps (--steps, or --epochs over the sampling rate)")]
    Unreachable { target: f64, delta: f64, max: f64 },
}

fn check(setting: &DpSgdSetting, delta: f64) -> Result<(), AccountantError> {
    let bad = |name, expected, value| {
        Err(AccountantError::Argument {
            name,
            expected,
            value,
        })
    };
    let q = setting.sampling_rate;
    if !(q > 0.0 && q <= 1.0) {
        return bad("sampling rate", "in (0, 1]", q);
    }
    let sigma = setting.noise_multiplier;
    if !(sigma > 0.0 && sigma.is_finite()) {
        return bad("noise multiplier", "a positive number", sigma);
    }
    if !(delta > 0.0 && delta < 1.0) {
        return bad("delta", "in (0, 1)", delta);
    }
    Ok(())
}

/// (ε, δ) after `setting.steps` steps. Zero steps spend nothing.
pub fn epsilon(setting: &DpSgdSetting, delta: f64) -> Result<PrivacySpent, AccountantError> {
    check(setting, delta)?;
    let mut best = PrivacySpent {
        epsilon: f64::INFINITY,
        delta,
        order: f64::NAN,
    };
    if setting.steps == 0 {
        best.epsilon = 0.0;
        return Ok(best);
    }
    for alpha in orders() {
        let rdp = setting.steps as f64
            * rdp_subsampled_gaussian(setting.sampling_rate, setting.noise_multiplier, alpha);
        let eps = rdp_to_epsilon(rdp, alpha, delta);
        if eps < best.epsilon {
            best.epsilon = eps;
            best.order = alpha;
        }
    }
    best.epsilon = best.epsilon.max(0.0);
    Ok(best)
}

/// The smallest noise multiplier (to 0.1%) whose ε at `delta` is at most `target`, the
/// question TF Privacy's `compute_noise` answers; with the ε it gives.
pub fn noise_for_epsilon(
    sampling_rate: f64,
    steps: u64,
    target: f64,
    delta: f64,
) -> Result<(f64, PrivacySpent), AccountantError> {
    if !(target > 0.0 && target.is_finite()) {
        return Err(AccountantError::Argument {
            name: "target epsilon",
            expected: "a positive number",
            value: target,
        });
    }
    let at = |noise_multiplier: f64| {
        epsilon(
            &DpSgdSetting {
                sampling_rate,
                noise_multiplier,
                steps,
            },
            delta,
        )
    };
    const MIN: f64 = 1e-3;
    const MAX: f64 = 1e4;
    if at(MAX)?.epsilon > target {
        return Err(AccountantError::Unreachable {
            target,
            delta,
            max: MAX,
        });
    }
    if at(MIN)?.epsilon <= target {
        return Ok((MIN, at(MIN)?));
    }
    // ε falls as σ grows: bisect on log σ until the bracket is 0.1% wide.
    let (mut lo, mut hi) = (MIN, MAX);
    while hi / lo > 1.001 {
        let mid = (lo * hi).sqrt();
        if at(mid)?.epsilon <= target {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok((hi, at(hi)?))
}

/// ε from an RDP guarantee at one order (Canonne, Kamath and Steinke 2020, Prop. 12).
fn rdp_to_epsilon(rdp: f64, alpha: f64, delta: f64) -> f64 {
    let eps = rdp + ((alpha - 1.0) / alpha).ln() - (delta.ln() + alpha.ln()) / (alpha - 1.0);
    if eps.is_nan() {
        f64::INFINITY
    } else {
        eps
    }
}

/// RDP of one step of the Poisson-subsampled Gaussian at order `alpha` > 1.
pub fn rdp_subsampled_gaussian(q: f64, sigma: f64, alpha: f64) -> f64 {
    if q == 1.0 {
        // No subsampling: the Gaussian mechanism's RDP is α / (2σ²).
        return alpha / (2.0 * sigma * sigma);
    }
    if alpha.is_infinite() {
        return f64::INFINITY;
    }
    let log_a = if alpha.fract() == 0.0 {
        log_a_integer(q, sigma, alpha as u64)
    } else {
        log_a_fractional(q, sigma, alpha)
    };
    log_a / (alpha - 1.0)
}

/// log A_α for integer α: the binomial expansion of E[(μ₁/μ₀)^α] under the mixture.
fn log_a_integer(q: f64, sigma: f64, alpha: u64) -> f64 {
    let a = alpha as f64;
    let mut log_sum = f64::NEG_INFINITY;
    for k in 0..=alpha {
        let k = k as f64;
        let term = log_binomial(a, k)
            + k * q.ln()
            + (a - k) * (-q).ln_1p()
            + (k * k - k) / (2.0 * sigma * sigma);
        log_sum = log_add(log_sum, term);
    }
    log_sum
}

/// log A_α for fractional α: two series split at the point z₀ where the mixture's densities
/// cross (MTZ19, §3.3). Binomial coefficients of a fractional α change sign once i > α, so the
/// terms are summed with their signs, in log space.
fn log_a_fractional(q: f64, sigma: f64, alpha: f64) -> f64 {
    let mut log_pos = f64::NEG_INFINITY;
    let mut log_neg = f64::NEG_INFINITY;
    let z0 = sigma * sigma * (1.0 / q - 1.0).ln() + 0.5;
    let s2 = std::f64::consts::SQRT_2 * sigma;
    let mut i = 0u32;
    loop {
        let fi = f64::from(i);
        let j = alpha - fi;
        let (log_coef, positive) = signed_log_binomial(alpha, fi);
        let log_t0 = log_coef + fi * q.ln() + j * (-q).ln_1p();
        let log_t1 = log_coef + j * q.ln() + fi * (-q).ln_1p();
        let log_e0 = 0.5f64.ln() + log_erfc((fi - z0) / s2);
        let log_e1 = 0.5f64.ln() + log_erfc((z0 - j) / s2);
        let log_s0 = log_t0 + (fi * fi - fi) / (2.0 * sigma * sigma) + log_e0;
        let log_s1 = log_t1 + (j * j - j) / (2.0 * sigma * sigma) + log_e1;
        let term = log_add(log_s0, log_s1);
        if positive {
            log_pos = log_add(log_pos, term);
        } else {
            log_neg = log_add(log_neg, term);
        }
        let total = log_sub(log_pos, log_neg);
        // The series converges; stop once terms are 30 nats below the running sum.
        if (term < total - 30.0 && fi > alpha) || i > 10_000 {
            return total;
        }
        i += 1;
    }
}

fn log_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// log(eᵃ − eᵇ) for a ≥ b; −∞ when they are equal.
fn log_sub(a: f64, b: f64) -> f64 {
    if b == f64::NEG_INFINITY {
        return a;
    }
    if b >= a {
        return f64::NEG_INFINITY;
    }
    a + (-(b - a).exp()).ln_1p()
}

fn log_binomial(n: f64, k: f64) -> f64 {
    libm::lgamma(n + 1.0) - libm::lgamma(k + 1.0) - libm::lgamma(n - k + 1.0)
}

/// log |C(α, i)| and its sign, for real α and integer i.
fn signed_log_binomial(alpha: f64, i: f64) -> (f64, bool) {
    let (lg_rest, sign_rest) = libm::lgamma_r(alpha - i + 1.0);
    let value = libm::lgamma(alpha + 1.0) - libm::lgamma(i + 1.0) - lg_rest;
    (value, sign_rest > 0)
}

/// log erfc(x), accurate where erfc underflows (x beyond ~26).
fn log_erfc(x: f64) -> f64 {
    if x < 20.0 {
        return libm::erfc(x).ln();
    }
    // Asymptotic series: erfc(x) ≈ e^{-x²}/(x√π) · (1 − 1/(2x²) + 3/(4x⁴) − 15/(8x⁶)).
    let x2 = x * x;
    -x2 - x.ln() - 0.5 * std::f64::consts::PI.ln()
        + (-0.5 / x2 + 0.75 / (x2 * x2) - 1.875 / (x2 * x2 * x2)).ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_and_fractional_formulas_meet_at_integers() {
        for (q, sigma) in [(0.01, 1.0), (0.1, 2.0), (0.3, 0.9)] {
            for alpha in [2.0, 3.0, 8.0] {
                let int = log_a_integer(q, sigma, alpha as u64);
                let frac = log_a_fractional(q, sigma, alpha);
                assert!(
                    (int - frac).abs() < 1e-6 * int.abs().max(1.0),
                    "{q} {sigma} {alpha}: {int} vs {frac}"
                );
            }
        }
    }

    #[test]
    fn without_subsampling_it_is_the_gaussian_mechanism() {
        assert!((rdp_subsampled_gaussian(1.0, 2.0, 4.0) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn bad_arguments_are_named() {
        let s = DpSgdSetting {
            sampling_rate: 0.0,
            noise_multiplier: 1.0,
            steps: 10,
        };
        let e = epsilon(&s, 1e-5).unwrap_err().to_string();
        assert!(e.contains("sampling rate"), "{e}");
    }
}
