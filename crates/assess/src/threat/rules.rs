//! Which ATLAS techniques apply to each part of a system, and why. One function per risk
//! family; each reads the profile's fields and returns either a draft risk whose rationale
//! quotes the fields that made it apply, or the reason it does not apply. Scores here are the
//! documented scale's inputs (see [`super::SCALE`]); the ATLAS facts (names, maturity,
//! mitigations) are added from the knowledge base by the caller.

use super::profile::{
    Audience, DataSource, Decisions, ModelProfile, Objective, Outputs, Retraining, Sensitivity,
    SupplyChain, Task, TrainingData,
};
use super::{AdversaryKind, Knowledge, Targeting};

/// A risk before the knowledge base and the owner's objectives are applied.
pub struct Draft {
    pub family: &'static str,
    pub title: String,
    pub techniques: Vec<&'static str>,
    pub rationale: Vec<String>,
    pub adversary: AdversaryKind,
    pub knowledge: Knowledge,
    pub targeting: Targeting,
    /// Likelihood before the technique's ATLAS maturity is counted, 1–5.
    pub exposure: i32,
    pub exposure_why: String,
    /// The objectives it threatens, each with the severity (1–5) it has unless the owner
    /// rated the objective in `impact`, and why.
    pub harms: Vec<(Objective, i32, String)>,
    /// Whether a query-based attack would see scores (for choosing aisec's attacks).
    pub scores: bool,
}

/// A family considered for a component and found not to apply.
pub struct Absent {
    pub family: &'static str,
    pub techniques: Vec<&'static str>,
    pub reason: String,
}

pub enum Verdict {
    Applies(Box<Draft>),
    Absent(Absent),
}

pub(super) fn absent(family: &'static str, techniques: &[&'static str], reason: String) -> Verdict {
    Verdict::Absent(Absent {
        family,
        techniques: techniques.to_vec(),
        reason,
    })
}

/// The widest audience among `access` that is not `insiders` (who have the weights and need
/// no queries), with its likelihood base.
pub(super) fn outside_reach(access: &[Audience]) -> Option<(Audience, i32)> {
    access
        .iter()
        .copied()
        .filter(|a| *a != Audience::Insiders)
        .min()
        .map(|a| (a, reach_score(a)))
}

pub(super) fn reach_score(a: Audience) -> i32 {
    match a {
        Audience::Public => 4,
        Audience::Customers => 3,
        Audience::Internal => 2,
        Audience::Insiders => 1,
    }
}

pub(super) fn adversary_of(a: Audience) -> AdversaryKind {
    match a {
        Audience::Public => AdversaryKind::AnonymousUser,
        Audience::Customers => AdversaryKind::Customer,
        Audience::Internal => AdversaryKind::InternalUser,
        Audience::Insiders => AdversaryKind::Insider,
    }
}

pub(super) fn audience_words(a: Audience) -> &'static str {
    match a {
        Audience::Public => "anyone can send it inputs and read its outputs",
        Audience::Customers => "every customer can send it inputs and read its outputs",
        Audience::Internal => "employees can send it inputs and read its outputs",
        Audience::Insiders => "insiders hold its weights",
    }
}

fn outputs_words(o: Outputs) -> &'static str {
    match o {
        Outputs::Labels => "callers see the label only",
        Outputs::TopK => "callers see the top classes' scores",
        Outputs::Probabilities => "callers see a score for every class",
        Outputs::Values => "callers see the raw output values",
        Outputs::Text => "callers see generated text",
    }
}

fn confidentiality_of_data(at: &str, data: Option<&TrainingData>) -> (i32, String) {
    let s = data.map(|d| d.sensitivity).unwrap_or_default();
    let score = match s {
        Sensitivity::Public => 1,
        Sensitivity::Internal => 3,
        Sensitivity::Personal => 4,
        Sensitivity::SpecialCategory => 5,
    };
    let why = match data {
        Some(_) => format!("{at}.training_data.sensitivity is {}", s.as_str()),
        None => format!("{at}.training_data is not given: assumed internal"),
    };
    (score, why)
}

fn integrity_of_decisions(at: &str, d: Decisions) -> (i32, String) {
    let score = match d {
        Decisions::Advisory => 3,
        Decisions::Automated => 4,
        Decisions::SafetyCritical => 5,
    };
    let name = match d {
        Decisions::Advisory => "advisory: a person reviews each output",
        Decisions::Automated => "automated: a wrong output takes effect unreviewed",
        Decisions::SafetyCritical => "safety-critical: a wrong output can hurt someone",
    };
    (score, format!("{at}.decisions is {name}"))
}

/// Evasion at inference time: inputs crafted to change the model's output.
pub fn evasion(at: &str, m: &ModelProfile) -> Verdict {
    const TECHNIQUES: &[&str] = &["AML.T0015", "AML.T0043"];
    if m.task == Task::Generation {
        return absent(
            "evasion",
            TECHNIQUES,
            format!("{at}.task is generation: attacks on generated text are assessed as LLM applications (llm_apps)"),
        );
    }
    let mut techniques = vec!["AML.T0015", "AML.T0043"];
    let mut rationale = Vec::new();
    let insiders = m.access.contains(&Audience::Insiders);
    let (adversary, knowledge, exposure, exposure_why) = match outside_reach(&m.access) {
        Some((a, base)) => {
            techniques.push("AML.T0040");
            techniques.push("AML.T0043.001");
            rationale.push(format!(
                "{at}.access includes {}: {}, so a black-box attacker can search for inputs that change them",
                a.as_str(),
                audience_words(a)
            ));
            rationale.push(format!(
                "{at}.outputs is {}: {}",
                super::profile::kebab(&m.outputs),
                outputs_words(m.outputs)
            ));
            let labels_only = !m.outputs.gives_scores();
            (
                adversary_of(a),
                Knowledge::BlackBox,
                base - i32::from(labels_only),
                if labels_only {
                    format!(
                        "{} reach; label-only answers make the search slower (−1)",
                        a.as_str()
                    )
                } else {
                    format!("{} reach", a.as_str())
                },
            )
        }
        None => (
            AdversaryKind::Insider,
            Knowledge::WhiteBox,
            reach_score(Audience::Insiders),
            "only insiders reach it".to_string(),
        ),
    };
    if insiders {
        techniques.push("AML.T0044");
        techniques.push("AML.T0043.000");
        rationale.push(format!(
            "{at}.access includes insiders: with the weights, gradient attacks apply"
        ));
    }
    if m.supply_chain.contains(&SupplyChain::PretrainedFromHub) {
        techniques.push("AML.T0043.002");
        rationale.push(format!(
            "{at}.supply_chain includes pretrained-from-hub: anyone can download the base model and craft examples that transfer"
        ));
    }
    let (severity, why) = integrity_of_decisions(at, m.decisions);
    Verdict::Applies(Box::new(Draft {
        family: "evasion",
        title: "Adversarial inputs change the model's decisions".into(),
        techniques,
        rationale,
        adversary,
        knowledge,
        targeting: Targeting::Either,
        exposure,
        exposure_why,
        harms: vec![(Objective::Integrity, severity, why)],
        scores: m.outputs.gives_scores(),
    }))
}

/// Functional extraction through the prediction API.
pub fn extraction(at: &str, m: &ModelProfile) -> Verdict {
    const TECHNIQUES: &[&str] = &["AML.T0024.002", "AML.T0005.001", "AML.T0048.004"];
    if m.task == Task::Generation {
        return absent(
            "extraction",
            TECHNIQUES,
            format!(
                "{at}.task is generation: aisec's extraction attacks replicate predictive models"
            ),
        );
    }
    let Some((a, base)) = outside_reach(&m.access).filter(|(a, _)| *a <= Audience::Customers)
    else {
        return absent(
            "extraction",
            TECHNIQUES,
            format!("{at}.access reaches no one outside the organisation (public or customers); insiders already hold the weights"),
        );
    };
    let labels_only = !m.outputs.gives_scores();
    let rationale = vec![
        format!(
            "{at}.access includes {}: {}; enough answers train a copy",
            a.as_str(),
            audience_words(a)
        ),
        format!(
            "{at}.outputs is {}: {}",
            super::profile::kebab(&m.outputs),
            outputs_words(m.outputs)
        ),
    ];
    Verdict::Applies(Box::new(Draft {
        family: "extraction",
        title: "A copy of the model is trained from its answers".into(),
        techniques: vec!["AML.T0024.002", "AML.T0005.001", "AML.T0048.004", "AML.T0040"],
        rationale,
        adversary: adversary_of(a),
        knowledge: Knowledge::BlackBox,
        targeting: Targeting::Untargeted,
        exposure: base - i32::from(labels_only),
        exposure_why: if labels_only {
            format!("{} reach; labels only need more queries (−1)", a.as_str())
        } else {
            format!("{} reach", a.as_str())
        },
        harms: vec![(
            Objective::Confidentiality,
            3,
            "the model is intellectual property; a copy also lets an attacker craft transfer attacks offline".into(),
        )],
        scores: m.outputs.gives_scores(),
    }))
}

/// Membership inference on the training set.
pub fn membership(at: &str, m: &ModelProfile) -> Verdict {
    const TECHNIQUES: &[&str] = &["AML.T0024.000"];
    if m.task == Task::Generation {
        return absent(
            "membership",
            TECHNIQUES,
            format!(
                "{at}.task is generation: aisec's membership attacks read a classifier's scores"
            ),
        );
    }
    if let Some(d) = &m.training_data {
        if d.sensitivity == Sensitivity::Public {
            return absent("membership", TECHNIQUES, format!("{at}.training_data.sensitivity is public: that a record was trained on reveals nothing"));
        }
    }
    let (adversary, knowledge, exposure, reach) = match outside_reach(&m.access) {
        Some((a, base)) => (adversary_of(a), Knowledge::BlackBox, base, a),
        None => (
            AdversaryKind::Insider,
            Knowledge::WhiteBox,
            1,
            Audience::Insiders,
        ),
    };
    let labels_only = !m.outputs.gives_scores();
    let (severity, why) = confidentiality_of_data(at, m.training_data.as_ref());
    Verdict::Applies(Box::new(Draft {
        family: "membership",
        title: "Whether a person's record was in the training set is inferred".into(),
        techniques: TECHNIQUES.to_vec(),
        rationale: vec![
            format!(
                "{at}.access includes {}: {}",
                reach.as_str(),
                audience_words(reach)
            ),
            why.clone(),
            format!(
                "{at}.outputs is {}: {}",
                super::profile::kebab(&m.outputs),
                outputs_words(m.outputs)
            ),
        ],
        adversary,
        knowledge,
        targeting: Targeting::Targeted,
        exposure: exposure - i32::from(labels_only),
        exposure_why: if labels_only {
            format!(
                "{} reach; label-only membership attacks are weaker (−1)",
                reach.as_str()
            )
        } else {
            format!("{} reach", reach.as_str())
        },
        harms: vec![(Objective::Confidentiality, severity, why)],
        scores: !labels_only,
    }))
}

/// Model inversion: reconstructing what a class's training records look like.
pub fn inversion(at: &str, m: &ModelProfile) -> Verdict {
    const TECHNIQUES: &[&str] = &["AML.T0024.001"];
    if m.task != Task::Classification {
        return absent(
            "inversion",
            TECHNIQUES,
            format!(
                "{at}.task is {}: aisec's inversion attacks reconstruct a classifier's classes",
                super::profile::kebab(&m.task)
            ),
        );
    }
    let sensitivity = m
        .training_data
        .as_ref()
        .map(|d| d.sensitivity)
        .unwrap_or_default();
    if sensitivity < Sensitivity::Personal {
        return absent(
            "inversion",
            TECHNIQUES,
            format!(
                "{at}.training_data.sensitivity is {}: a class's average record reveals no one",
                sensitivity.as_str()
            ),
        );
    }
    let insiders_only = outside_reach(&m.access).is_none();
    if !m.outputs.gives_scores() && !insiders_only {
        return absent("inversion", TECHNIQUES, format!("{at}.outputs is labels: inversion climbs a class's confidence, which callers do not see"));
    }
    let (adversary, knowledge, exposure, reach) = match outside_reach(&m.access) {
        Some((a, base)) => (adversary_of(a), Knowledge::BlackBox, base, a),
        None => (
            AdversaryKind::Insider,
            Knowledge::WhiteBox,
            1,
            Audience::Insiders,
        ),
    };
    let (severity, why) = confidentiality_of_data(at, m.training_data.as_ref());
    Verdict::Applies(Box::new(Draft {
        family: "inversion",
        title: "Training records of a class are reconstructed from the model".into(),
        techniques: TECHNIQUES.to_vec(),
        rationale: vec![
            format!(
                "{at}.access includes {}: {}",
                reach.as_str(),
                audience_words(reach)
            ),
            why.clone(),
            format!(
                "{at}.outputs is {}: {}",
                super::profile::kebab(&m.outputs),
                outputs_words(m.outputs)
            ),
        ],
        adversary,
        knowledge,
        targeting: Targeting::Targeted,
        exposure,
        exposure_why: format!("{} reach", reach.as_str()),
        harms: vec![(Objective::Confidentiality, severity, why)],
        scores: true,
    }))
}

/// Poisoning and backdoors through training data outsiders can write.
pub fn poisoning(at: &str, m: &ModelProfile) -> Verdict {
    const TECHNIQUES: &[&str] = &["AML.T0020", "AML.T0018.000", "AML.T0043.004"];
    let Some(data) = &m.training_data else {
        return absent(
            "poisoning",
            TECHNIQUES,
            format!("{at}.training_data is not given: say where it comes from to judge poisoning"),
        );
    };
    let open: Vec<DataSource> = data
        .sources
        .iter()
        .copied()
        .filter(|s| s.outsiders_write())
        .collect();
    if open.is_empty() {
        return absent(
            "poisoning",
            TECHNIQUES,
            format!("{at}.training_data.sources is internal only: no outsider writes to the training data"),
        );
    }
    let mut techniques = vec!["AML.T0020", "AML.T0018.000", "AML.T0043.004", "AML.T0059"];
    let names: Vec<&str> = open.iter().map(|s| s.as_str()).collect();
    let mut rationale = vec![format!(
        "{at}.training_data.sources includes {}: outsiders write part of what it learns from",
        names.join(", ")
    )];
    if open.contains(&DataSource::Scraped)
        || open.contains(&DataSource::Vendor)
        || m.supply_chain.contains(&SupplyChain::ThirdPartyDatasets)
    {
        techniques.push("AML.T0010.002");
        techniques.push("AML.T0019");
        rationale.push(format!(
            "{at}: datasets from third parties are a supply chain an attacker can publish into"
        ));
    }
    let (exposure, why) = match data.retrained {
        Retraining::Never => (2, "trained once: only data present at that time counts"),
        Retraining::Periodically => (
            3,
            "retrained periodically: new poison is picked up at each retraining",
        ),
        Retraining::Continuously => (
            4,
            "retrained continuously: poison takes effect within a cycle",
        ),
    };
    rationale.push(format!(
        "{at}.training_data.retrained is {}",
        super::profile::kebab(&data.retrained)
    ));
    let (severity, sev_why) = integrity_of_decisions(at, m.decisions);
    Verdict::Applies(Box::new(Draft {
        family: "poisoning",
        title: "Poisoned training data plants a backdoor or degrades the model".into(),
        techniques,
        rationale,
        adversary: AdversaryKind::DataContributor,
        knowledge: Knowledge::GrayBox,
        targeting: Targeting::Either,
        exposure,
        exposure_why: why.into(),
        harms: vec![(Objective::Integrity, severity, sev_why)],
        scores: m.outputs.gives_scores(),
    }))
}

/// Formats that run code when loaded.
pub fn runs_code_when_loaded(artifact: &str) -> bool {
    let lower = artifact.to_ascii_lowercase();
    [
        ".pt", ".pth", ".bin", ".pkl", ".pickle", ".joblib", ".ckpt", ".dill", ".sav", ".h5",
        ".keras",
    ]
    .iter()
    .any(|ext| lower.ends_with(ext))
}

/// Malicious or tampered model artifacts from the supply chain.
pub fn artifacts(at: &str, m: &ModelProfile) -> Verdict {
    const TECHNIQUES: &[&str] = &["AML.T0010.003", "AML.T0011.000", "AML.T0018.002"];
    let mut rationale = Vec::new();
    let mut exposure = 2;
    let mut why = "artifacts the team loads".to_string();
    if m.supply_chain.contains(&SupplyChain::PretrainedFromHub) {
        rationale.push(format!(
            "{at}.supply_chain includes pretrained-from-hub: anyone can publish a model there"
        ));
        exposure = 3;
        why = "weights from a public hub".into();
    }
    if m.supply_chain.contains(&SupplyChain::VendorModel) {
        rationale.push(format!(
            "{at}.supply_chain includes vendor-model: the vendor's artifacts run in this system"
        ));
    }
    if m.supply_chain.contains(&SupplyChain::PickledArtifacts) {
        rationale.push(format!(
            "{at}.supply_chain includes pickled-artifacts: loading them runs code they carry"
        ));
        exposure += 1;
        why.push_str("; pickled formats run code on load (+1)");
    } else if let Some(a) = m.artifact.as_deref().filter(|a| runs_code_when_loaded(a)) {
        rationale.push(format!(
            "{at}.artifact {a:?} is in a format that can run code when loaded"
        ));
        exposure += 1;
        why.push_str("; its format can run code on load (+1)");
    }
    if rationale.is_empty() {
        return absent(
            "artifacts",
            TECHNIQUES,
            format!("{at}: no model artifact from outside the team (supply_chain names none of pretrained-from-hub, pickled-artifacts, vendor-model) and none in a format that runs code when loaded"),
        );
    }
    Verdict::Applies(Box::new(Draft {
        family: "artifacts",
        title: "A malicious model file runs code where it is loaded".into(),
        techniques: TECHNIQUES.to_vec(),
        rationale,
        adversary: AdversaryKind::Supplier,
        knowledge: Knowledge::WhiteBox,
        targeting: Targeting::Untargeted,
        exposure,
        exposure_why: why,
        harms: vec![
            (
                Objective::Confidentiality,
                4,
                "code on the serving or training host reads its data and credentials".into(),
            ),
            (
                Objective::Integrity,
                4,
                "code on the host can change the model and its answers".into(),
            ),
            (
                Objective::Availability,
                3,
                "code on the host can stop the service".into(),
            ),
        ],
        scores: false,
    }))
}

/// Flooding a public model or LLM with costly requests.
pub(super) fn denial(at: &str, access: &[Audience], llm: bool) -> Verdict {
    const TECHNIQUES: &[&str] = &["AML.T0029", "AML.T0034"];
    let Some((a, base)) = outside_reach(access).filter(|(a, _)| *a <= Audience::Customers) else {
        return absent(
            "denial",
            TECHNIQUES,
            format!("{at}.access reaches no one outside the organisation"),
        );
    };
    Verdict::Applies(Box::new(Draft {
        family: "denial",
        title: if llm {
            "Costly prompts exhaust the service or its budget".into()
        } else {
            "Request floods exhaust the prediction service".into()
        },
        techniques: TECHNIQUES.to_vec(),
        rationale: vec![format!(
            "{at}.access includes {}: {}",
            a.as_str(),
            audience_words(a)
        )],
        adversary: adversary_of(a),
        knowledge: Knowledge::BlackBox,
        targeting: Targeting::Untargeted,
        exposure: base,
        exposure_why: format!("{} reach", a.as_str()),
        harms: vec![(
            Objective::Availability,
            3,
            "default availability impact (moderate)".into(),
        )],
        scores: false,
    }))
}

pub fn model_denial(at: &str, m: &ModelProfile) -> Verdict {
    denial(at, &m.access, false)
}

/// The rules for a model, in report order.
pub fn for_model(at: &str, m: &ModelProfile) -> Vec<Verdict> {
    vec![
        evasion(at, m),
        extraction(at, m),
        membership(at, m),
        inversion(at, m),
        poisoning(at, m),
        artifacts(at, m),
        model_denial(at, m),
    ]
}
