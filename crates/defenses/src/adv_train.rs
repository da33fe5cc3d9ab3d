//! PGD adversarial training (Madry et al., "Towards Deep Learning Models Resistant to
//! Adversarial Attacks", ICLR 2018): every training batch is replaced by PGD adversarial
//! examples against the current model, so the model learns to be right inside the ε-ball.
//! The inner attack is aisec's own `evasion.pgd`, the same code that later measures the
//! result.
//!
//! ATLAS: AML.M0003 Model Hardening, lifecycle phase ML Model Engineering. Measured by
//! re-running FGSM, PGD and APGD-CE against the hardened model.

use aisec_attacks::evasion::pgd::{Pgd, PgdConfig};
use aisec_attacks::evasion::{EvasionAttack, EvasionParams, EvasionTask, Norm};
use aisec_ml::data::{Dataset, InputRange};
use aisec_ml::model::{
    Classifier, Differentiable, ModelInfo, OutputKind, QueryBudget, QueryOutput,
};
use aisec_ml::net::{Architecture, Network};
use aisec_ml::train::{init_network, train, EpochStats, TrainConfig, TrainReport};
use aisec_ml::{tensor, MlError};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::defense::{Role, Action, AppliesTo, DefenseInfo, Family};

pub const INFO: DefenseInfo = DefenseInfo {
    name: "defense.adv-train",
    summary: "PGD adversarial training (Madry et al. 2018): train on PGD examples of each batch",
    mitigations: &["AML.M0003"],
    phases: &["ML Model Engineering"],
    applies_to: AppliesTo::Model,
    action: Action::Retrain,
    role: Role::Retraining,
    families: &[Family::Evasion],
    measured_by: &["evasion.fgsm", "evasion.pgd", "evasion.apgd-ce"],
    adaptive_attack: Some("evasion.apgd-ce at the training ε: step-size-free PGD, the attack AutoAttack runs against hardened models"),
    forms: &[],
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdvTrainConfig {
    /// Training-time budget. Default 0.1 (L∞).
    #[serde(serialize_with = "aisec_core::serialize_f32_decimal")]
    pub eps: f32,
    pub norm: Norm,
    /// PGD steps per batch. Default 7.
    pub steps: usize,
    /// Default 2.5·ε/steps.
    #[serde(serialize_with = "aisec_core::serialize_f32_decimal")]
    pub step_size: f32,
    pub train: TrainConfig,
}

impl AdvTrainConfig {
    pub fn new(arch: Architecture, eps: f32, norm: Norm, seed: u64) -> Self {
        let steps = 7;
        let mut train = TrainConfig::for_architecture(arch, seed);
        // Adversarial batches are harder to fit: a few more epochs than clean training.
        train.epochs += train.epochs / 3;
        AdvTrainConfig {
            eps,
            norm,
            steps,
            step_size: 2.5 * eps / steps as f32,
            train,
        }
    }
}

/// The network being trained, seen as a white-box target by the inner PGD.
struct TrainingTarget<'a> {
    network: &'a Network,
    info: ModelInfo,
    budget: QueryBudget,
}

impl Classifier for TrainingTarget<'_> {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn output_kind(&self) -> OutputKind {
        OutputKind::Logits
    }

    fn query(&self, x: &[f32]) -> Result<QueryOutput, MlError> {
        let n = aisec_ml::model::rows(x, self.info.features())?;
        self.budget.charge(n as u64)?;
        Ok(QueryOutput::Logits(self.logits_of(x, n)))
    }

    fn evaluate(&self, x: &[f32]) -> Result<Vec<usize>, MlError> {
        let n = aisec_ml::model::rows(x, self.info.features())?;
        Ok(tensor::argmax_rows(
            &self.logits_of(x, n),
            self.info.num_classes,
        ))
    }

    fn budget(&self) -> &QueryBudget {
        &self.budget
    }

    fn gradients(&self) -> Option<&dyn Differentiable> {
        Some(self)
    }
}

impl TrainingTarget<'_> {
    fn logits_of(&self, x: &[f32], n: usize) -> Vec<f32> {
        tensor::to_vec(
            self.network
                .forward(tensor::matrix(x, n, &tensor::autodiff_device()))
                .detach(),
        )
    }
}

impl Differentiable for TrainingTarget<'_> {
    fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>, MlError> {
        Ok(self.network.forward(x))
    }

    /// The network being trained lives on the training thread alone, its weights tracked.
    fn gradient_threads(&self) -> aisec_ml::model::GradientThreads {
        aisec_ml::model::GradientThreads::Owned
    }
}

/// Trains a fresh `arch` network on PGD examples of `data`.
pub fn adversarial_training(
    arch: Architecture,
    data: &Dataset,
    config: &AdvTrainConfig,
    on_epoch: impl FnMut(&EpochStats),
) -> aisec_ml::Result<(Network, TrainReport)> {
    let pgd = Pgd(PgdConfig::from_params(&EvasionParams {
        eps: Some(config.eps),
        norm: Some(config.norm),
        steps: Some(config.steps),
        step_size: Some(config.step_size),
        random_start: Some(true),
        restarts: Some(1),
        queries_per_input: None,
    })
    .map_err(|e| MlError::Invalid(e.to_string()))?);
    let info = ModelInfo {
        description: format!("{} under adversarial training", arch.name()),
        input_shape: data.sample_shape.clone(),
        num_classes: data.num_classes,
        input_range: data.input_range,
    };
    let clip: Option<InputRange> = data.input_range;
    let mut batch_seed = config.train.seed;
    let mut failure: Option<String> = None;
    let mut perturb = |network: &Network, x: Tensor<2>, y: Tensor<1, Int>| -> Tensor<2> {
        let target = TrainingTarget {
            network,
            info: info.clone(),
            budget: QueryBudget::new(None),
        };
        let xs = tensor::to_vec(x.clone().detach());
        let ys = tensor::to_labels(y);
        batch_seed = batch_seed.wrapping_add(1);
        let task = EvasionTask {
            model: &target,
            x: &xs,
            y: &ys,
            clip,
            target: None,
            seed: batch_seed,
            stopped: Default::default(),
        };
        match pgd.perturb(&task) {
            Ok(adv) => tensor::matrix(&adv, ys.len(), &tensor::autodiff_device()),
            Err(e) => {
                failure.get_or_insert(e.to_string());
                x
            }
        }
    };
    let network = init_network(arch, data, config.train.seed)?;
    let (network, report) = train(network, data, &config.train, Some(&mut perturb), on_epoch);
    match failure {
        Some(message) => Err(MlError::Invalid(format!(
            "adversarial training could not craft PGD batches: {message}"
        ))),
        None => Ok((network, report)),
    }
}

pub const ENTRY: crate::registry::Entry = crate::registry::unparsed(&INFO);

crate::defense::defense_from_config!(AdvTrainConfig);
