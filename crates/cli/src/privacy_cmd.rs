//! `aisec privacy`: the DP-SGD accountant on its own, as TF Privacy's
//! `compute_dp_sgd_privacy` and `compute_noise` are.

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use serde::Serialize;

use aisec_defenses::dp::{self, DpSgdSetting};

use crate::output::{print_json, print_text, Format};
use crate::{Cli, Outcome};

#[derive(Debug, Subcommand)]
pub enum PrivacyCommand {
    /// ε spent by DP-SGD (Poisson-subsampled Gaussian, RDP accountant) at a δ.
    Epsilon(EpsilonArgs),
    /// The smallest noise multiplier that keeps DP-SGD within a target ε at a δ.
    Noise(NoiseArgs),
}

/// How often each example is sampled and for how long.
#[derive(Debug, Args)]
pub struct Schedule {
    /// Poisson sampling rate q: the chance that an example joins a given batch (batch size
    /// over dataset size). Or give --batch-size and --dataset-size.
    #[arg(long, value_name = "Q")]
    pub sampling_rate: Option<f64>,
    /// Expected batch size; with --dataset-size gives q = batch / dataset.
    #[arg(long, requires = "dataset_size", conflicts_with = "sampling_rate")]
    pub batch_size: Option<u64>,
    /// Training-set size; with --batch-size gives q.
    #[arg(long, requires = "batch_size")]
    pub dataset_size: Option<u64>,
    /// Noisy gradient steps in all. Or give --epochs.
    #[arg(long, conflicts_with = "epochs")]
    pub steps: Option<u64>,
    /// Passes over the data; steps = ⌈epochs / q⌉.
    #[arg(long)]
    pub epochs: Option<f64>,
    /// δ: the probability mass the guarantee may fail on; use less than 1 / dataset size.
    #[arg(long, default_value_t = 1e-5)]
    pub delta: f64,
}

#[derive(Debug, Args)]
pub struct EpsilonArgs {
    #[command(flatten)]
    pub schedule: Schedule,
    /// σ: Gaussian noise standard deviation as a multiple of the clipping norm.
    #[arg(long, value_name = "SIGMA")]
    pub noise_multiplier: f64,
}

#[derive(Debug, Args)]
pub struct NoiseArgs {
    #[command(flatten)]
    pub schedule: Schedule,
    /// The ε not to exceed.
    #[arg(long, value_name = "EPSILON")]
    pub target_epsilon: f64,
}

impl Schedule {
    fn sampling_rate(&self) -> Result<f64> {
        match (self.sampling_rate, self.batch_size, self.dataset_size) {
            (Some(q), _, _) => Ok(q),
            (None, Some(b), Some(n)) => {
                if b == 0 || b > n {
                    bail!("--batch-size must be between 1 and --dataset-size ({n}), got {b}");
                }
                Ok(b as f64 / n as f64)
            }
            _ => bail!("give --sampling-rate, or --batch-size and --dataset-size"),
        }
    }

    fn steps(&self, q: f64) -> Result<u64> {
        match (self.steps, self.epochs) {
            (Some(s), _) => Ok(s),
            (None, Some(e)) if e > 0.0 && e.is_finite() => Ok((e / q).ceil() as u64),
            (None, Some(e)) => bail!("--epochs must be a positive number, got {e}"),
            (None, None) => bail!("give --steps or --epochs"),
        }
    }
}

/// What both commands print: the setting and what it spends.
#[derive(Debug, Serialize)]
struct Answer {
    accountant: &'static str,
    sampling_rate: f64,
    noise_multiplier: f64,
    steps: u64,
    epsilon: f64,
    delta: f64,
    /// The Rényi order whose conversion gave the smallest ε.
    rdp_order: f64,
}

pub fn run(cli: &Cli, cmd: &PrivacyCommand) -> Result<Outcome> {
    let (schedule, sigma) = match cmd {
        PrivacyCommand::Epsilon(a) => (&a.schedule, Some(a.noise_multiplier)),
        PrivacyCommand::Noise(a) => (&a.schedule, None),
    };
    let q = schedule.sampling_rate()?;
    if !(q > 0.0 && q <= 1.0) {
        bail!("--sampling-rate must be in (0, 1], got {q}");
    }
    let steps = schedule.steps(q)?;
    let delta = schedule.delta;
    if !(delta > 0.0 && delta < 1.0) {
        bail!("--delta must be in (0, 1), got {delta}");
    }
    if let Some(s) = sigma.filter(|s| !(*s > 0.0 && s.is_finite())) {
        bail!("--noise-multiplier must be a positive number, got {s}");
    }
    if let PrivacyCommand::Noise(a) = cmd {
        if !(a.target_epsilon > 0.0 && a.target_epsilon.is_finite()) {
            bail!(
                "--target-epsilon must be a positive number, got {}",
                a.target_epsilon
            );
        }
    }
    let (noise_multiplier, spent) = match (cmd, sigma) {
        (PrivacyCommand::Noise(a), _) => dp::noise_for_epsilon(q, steps, a.target_epsilon, delta)?,
        (_, Some(s)) => (
            s,
            dp::epsilon(
                &DpSgdSetting {
                    sampling_rate: q,
                    noise_multiplier: s,
                    steps,
                },
                delta,
            )?,
        ),
        _ => unreachable!("epsilon always has a noise multiplier"),
    };
    let answer = Answer {
        accountant: "rdp",
        sampling_rate: q,
        noise_multiplier,
        steps,
        epsilon: spent.epsilon,
        delta,
        rdp_order: spent.order,
    };
    if cli.format == Format::Json {
        print_json(&answer)?;
    } else {
        print_text(&format!(
            "DP-SGD with sampling rate {:.4}% and noise multiplier {:.4} over {} steps is \
             (ε = {:.3}, δ = {:e})-differentially private (RDP accountant, order {}).\n",
            q * 100.0,
            noise_multiplier,
            steps,
            spent.epsilon,
            delta,
            spent.order
        ))?;
    }
    Ok(Outcome::Ok)
}
