//! What every defence declares about itself, read by the registry, `aisec defend list`, the
//! `--defend` help text and the reports. Each defence module holds one [`DefenseInfo`] const;
//! its configuration type implements [`Defense`].

use std::any::Any;
use std::sync::Arc;

use aisec_attacks::membership::Recipe;
use aisec_core::{DefenseRef, Details};
use aisec_ml::model::Classifier;
use serde::Serialize;

use crate::guard::Guarded;

/// The part of the system a defence acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppliesTo {
    TrainingData,
    Model,
    Inputs,
    Outputs,
    QueryStream,
}

impl AppliesTo {
    pub fn as_str(self) -> &'static str {
        match self {
            AppliesTo::TrainingData => "training-data",
            AppliesTo::Model => "model",
            AppliesTo::Inputs => "inputs",
            AppliesTo::Outputs => "outputs",
            AppliesTo::QueryStream => "query-stream",
        }
    }
}

/// How it acts there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Trains a new model (adversarial training, retraining on sanitised data).
    Retrain,
    /// Sits between the caller and the model and changes what passes.
    Wrap,
    /// Watches traffic and raises alerts (and may refuse).
    Watch,
    /// Removes or flags examples (training data, or inputs at run time).
    Filter,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Retrain => "retrain",
            Action::Wrap => "wrap",
            Action::Watch => "watch",
            Action::Filter => "filter",
        }
    }
}

/// How the one runner measures a defence, declared by each defence: the runner asks for the
/// role instead of recognising defences by type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Removes training records; the model is trained again on what it keeps.
    DataFilter,
    /// Flags inputs at run time; measured by its detection rate on the attack's inputs and by
    /// an attack that knows it.
    Detector,
    /// Sits in the query path, changing the answers or watching the stream; the attack runs
    /// again through it.
    QueryPath,
    /// Trains a new model; the attack runs against the retrained one.
    Retraining,
}

/// The attack family a defence is measured against; the commands of that family accept it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    Evasion,
    Extraction,
    Poisoning,
    /// Membership inference and other attacks on the training data's privacy.
    Privacy,
    /// Prompt injection, jailbreaks, leakage and tool misuse against an LLM endpoint.
    Llm,
    /// Fault injection into the deployed weights (bit flips).
    Fault,
    /// Side channels of a served model (response time).
    SideChannel,
}

impl Family {
    pub fn command(self) -> &'static str {
        match self {
            Family::Evasion => "aisec attack evasion",
            Family::Extraction => "aisec attack extract",
            Family::Poisoning => "aisec attack poison",
            Family::Privacy => "aisec attack membership",
            Family::Llm => "aisec llm probe",
            Family::Fault => "aisec attack bitflip",
            Family::SideChannel => "aisec attack timing",
        }
    }
}

/// One defence's description, declared once in its module.
#[derive(Debug, Clone, Serialize)]
pub struct DefenseInfo {
    pub name: &'static str,
    pub summary: &'static str,
    /// ATLAS mitigation IDs.
    pub mitigations: &'static [&'static str],
    /// CRISP-ML(Q) phases where it is applied.
    pub phases: &'static [&'static str],
    pub applies_to: AppliesTo,
    pub action: Action,
    /// How the runner measures it.
    pub role: Role,
    /// The attack families whose re-run measures it; their commands accept it.
    pub families: &'static [Family],
    /// The attacks the measurement re-runs.
    pub measured_by: &'static [&'static str],
    /// The adaptive attack aisec runs against it, when there is one (a defence measured
    /// only by the attack it was designed against is not measured).
    pub adaptive_attack: Option<&'static str>,
    /// The `--defend` spellings, e.g. `round:D`.
    pub forms: &'static [&'static str],
}

/// What the retraining defences against membership inference share (DP-SGD, L2, early
/// stopping): ATLAS has no privacy mitigation, so they are filed under AML.M0003 Model
/// Hardening, and the membership attacks measure them. Each module's `INFO` sets its own
/// name, summary, adaptive attack and forms over this.
pub const PRIVACY_RETRAINING: DefenseInfo = DefenseInfo {
    role: Role::Retraining,
    name: "",
    summary: "",
    mitigations: &["AML.M0003"],
    phases: &["ML Model Engineering"],
    applies_to: AppliesTo::Model,
    action: Action::Retrain,
    families: &[Family::Privacy],
    measured_by: &["membership.loss", "membership.lira", "membership.rmia"],
    adaptive_attack: None,
    forms: &[],
};

/// What the training-data filters against backdoors share (spectral signatures, activation
/// clustering): AML.M0007 Sanitize Training Data and AML.M0008 Validate AI Model, measured
/// by the dirty-label backdoors and adapted to by the clean-label one.
pub const BACKDOOR_DATA_FILTER: DefenseInfo = DefenseInfo {
    role: Role::DataFilter,
    name: "",
    summary: "",
    mitigations: &["AML.M0007", "AML.M0008"],
    phases: &["Data Preparation", "ML Model Evaluation"],
    applies_to: AppliesTo::TrainingData,
    action: Action::Filter,
    families: &[Family::Poisoning],
    measured_by: &["poison.badnets", "poison.blend"],
    adaptive_attack: Some(
        "poison.clean-label: correctly labelled poison whose activations sit with its class",
    ),
    forms: &[],
};

/// A configured defence. What a command does with it follows from its [`DefenseInfo`]: a
/// defence on the query path answers [`Defense::guard`]; one that retrains or filters
/// training data is run by its family's assessment, which finds its configuration with
/// [`crate::DefenseSpec::config`].
pub trait Defense: std::fmt::Debug + Send + Sync + Any {
    fn info(&self) -> &'static DefenseInfo;

    /// The settings it runs with, as the report shows them.
    fn settings(&self) -> Details;

    /// How a report names it.
    fn reference(&self) -> DefenseRef {
        let info = self.info();
        DefenseRef {
            name: info.name.to_string(),
            mitigations: info.mitigations.iter().map(|m| m.to_string()).collect(),
            phases: info.phases.iter().map(|p| p.to_string()).collect(),
            settings: Some(self.settings()),
            observed: None,
        }
    }

    /// `model` behind this defence, for defences on the query path (`None` for those that
    /// retrain, inspect training data or are measured by detection).
    fn guard(&self, _model: Arc<dyn Classifier>, _seed: u64) -> Option<Guarded> {
        None
    }

    /// The target the adaptive attack meets, when the defence has one on the query path.
    fn adaptive_guard(&self, _model: Arc<dyn Classifier>, _seed: u64) -> Option<Guarded> {
        None
    }

    /// For defences that retrain the model with a changed training recipe (DP-SGD, L2
    /// regularisation, early stopping): the membership assessment retrains the members with
    /// it and attacks again.
    fn privacy_retraining(&self) -> Option<&dyn PrivacyRetraining> {
        None
    }

    /// For defences that only reshape the API's answers (output hardening): the reshaping,
    /// which an adaptive adversary applies to its own shadow models' outputs too.
    fn answer_view(&self) -> Option<aisec_attacks::membership::shadows::AnswerView> {
        None
    }

    fn as_any(&self) -> &dyn Any;
}

/// A defence that is a change to how the model is trained. The adversary is assumed to know
/// the change (it trains its shadow models with the same recipe), so the re-run measures the
/// defence against the attack that accounts for it.
pub trait PrivacyRetraining {
    /// The recipe the defended model is trained with, from the plain one.
    fn recipe(&self, base: &Recipe) -> Result<Recipe, String>;

    /// What the report should state about the retraining (for DP-SGD: the ε spent).
    fn observed(&self, _recipe: &Recipe) -> Option<Details> {
        None
    }
}

/// Implements [`Defense`] for a configuration that serialises as its settings, with the
/// module's `INFO`; the methods a defence overrides (`guard`, `adaptive_guard`) follow in
/// braces.
macro_rules! defense_from_config {
    ($config:ty) => {
        $crate::defense::defense_from_config!($config, {});
    };
    ($config:ty, { $($methods:tt)* }) => {
        impl $crate::defense::Defense for $config {
            fn info(&self) -> &'static $crate::defense::DefenseInfo {
                &INFO
            }

            fn settings(&self) -> aisec_core::Details {
                aisec_core::Details::new(self.clone())
            }

            fn as_any(&self) -> &dyn std::any::Any {
                self
            }

            $($methods)*
        }
    };
}
pub(crate) use defense_from_config;
