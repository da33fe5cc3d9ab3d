//! The RDP accountant against Google's `dp_accounting` 0.6.0 (RDP accountant, default
//! orders), figures printed by `bench/dp_reference.py`. The first row is the MNIST setting of
//! Abadi et al. (q = 256/60000, σ = 1.1, 60 epochs, δ = 1e-5).

use aisec_defenses::dp::{epsilon, noise_for_epsilon, DpSgdSetting};

/// (q, σ, steps, δ, dp_accounting's RDP ε).
const REFERENCE: &[(f64, f64, u64, f64, f64)] = &[
    (256.0 / 60000.0, 1.1, 14062, 1e-5, 2.596556),
    (256.0 / 60000.0, 1.1, 3515, 1e-5, 1.281144),
    (0.01, 1.0, 1000, 1e-5, 2.101367),
    (0.02, 0.8, 500, 1e-6, 6.164547),
    (0.1, 2.0, 100, 1e-5, 2.580571),
    (1.0, 5.0, 10, 1e-5, 2.813653),
    (0.001, 0.6, 10000, 1e-5, 3.321955),
    (0.032, 1.5, 937, 1e-5, 3.510966),
];

#[test]
fn epsilon_matches_dp_accounting_within_a_tenth_of_a_percent() {
    for &(q, sigma, steps, delta, expected) in REFERENCE {
        let spent = epsilon(
            &DpSgdSetting {
                sampling_rate: q,
                noise_multiplier: sigma,
                steps,
            },
            delta,
        )
        .unwrap();
        let rel = (spent.epsilon - expected).abs() / expected;
        println!(
            "q={q} σ={sigma} steps={steps} δ={delta}: ε={:.6} (dp_accounting {expected}), order {}",
            spent.epsilon, spent.order
        );
        assert!(
            rel < 1e-3,
            "q={q} σ={sigma} steps={steps}: {} vs {expected}",
            spent.epsilon
        );
    }
}

#[test]
fn the_noise_search_inverts_the_accountant() {
    let (q, steps, delta) = (256.0 / 60000.0, 14062, 1e-5);
    let (sigma, spent) = noise_for_epsilon(q, steps, 2.596556, delta).unwrap();
    assert!((sigma - 1.1).abs() < 0.01, "σ = {sigma}");
    assert!(spent.epsilon <= 2.596556 + 1e-9);
    // More privacy costs more noise.
    let (tighter, _) = noise_for_epsilon(q, steps, 1.0, delta).unwrap();
    assert!(tighter > sigma);
}
