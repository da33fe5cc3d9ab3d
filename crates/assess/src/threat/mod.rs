//! The threat model of one AI system: from a profile of its models and LLM applications to
//! the ATLAS techniques that apply (each with the profile fields that made it apply), the
//! families that do not (with why), the adversary tiers, likelihood × severity on the scale in
//! [`SCALE`], the mitigations for each risk from the knowledge base's links grouped by
//! lifecycle phase, and the aisec attacks, probes and scans that test each risk — read from
//! their registries, so a new attack with the risk's technique IDs is picked up unedited.

pub mod assessment;
pub mod llm_rules;
pub mod plan;
pub mod prior;
pub mod profile;
pub mod render;
pub mod report;
pub mod rules;

use std::collections::BTreeMap;

use aisec_atlas::kb::ObjectRef;
use aisec_atlas::model::LIFECYCLE_PHASES;
use aisec_atlas::KnowledgeBase;
use aisec_attacks::Access;
use serde::Serialize;

use profile::{Level, LoadedProfile, Objective, Profile};
use rules::Verdict;

/// How much the attacker knows of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Knowledge {
    BlackBox,
    GrayBox,
    WhiteBox,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Targeting {
    /// Against chosen victims or outputs.
    Targeted,
    /// Any error or any copy will do.
    Untargeted,
    Either,
}

/// The adversary tiers, from the least to the most privileged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdversaryKind {
    AnonymousUser,
    Customer,
    ContentAuthor,
    DataContributor,
    Supplier,
    InternalUser,
    Insider,
}

impl AdversaryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AdversaryKind::AnonymousUser => "anonymous-user",
            AdversaryKind::Customer => "customer",
            AdversaryKind::ContentAuthor => "content-author",
            AdversaryKind::DataContributor => "data-contributor",
            AdversaryKind::Supplier => "supplier",
            AdversaryKind::InternalUser => "internal-user",
            AdversaryKind::Insider => "insider",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            AdversaryKind::AnonymousUser => "Anonymous API user",
            AdversaryKind::Customer => "Authenticated customer",
            AdversaryKind::ContentAuthor => "Author of content the system retrieves",
            AdversaryKind::DataContributor => "Contributor to the training data",
            AdversaryKind::Supplier => "Publisher of a model or dataset the team downloads",
            AdversaryKind::InternalUser => "Employee with internal access",
            AdversaryKind::Insider => "Insider with the weights",
        }
    }
    fn capabilities(self) -> &'static str {
        match self {
            AdversaryKind::AnonymousUser => "queries the public API within its rate limits; sees what it answers; no account history",
            AdversaryKind::Customer => "queries with an account, so with a larger budget and a traceable identity",
            AdversaryKind::ContentAuthor => "writes documents, pages or messages the application later retrieves into its context",
            AdversaryKind::DataContributor => "writes part of the training data (feedback, uploads, pages that are scraped)",
            AdversaryKind::Supplier => "publishes weights, code or datasets the team loads without writing them",
            AdversaryKind::InternalUser => "knows the architecture and the data's distribution, queries internal tools",
            AdversaryKind::Insider => "holds the weights and the training pipeline: gradients, retraining, the artifacts",
        }
    }
    fn knowledge(self) -> Knowledge {
        match self {
            AdversaryKind::AnonymousUser
            | AdversaryKind::Customer
            | AdversaryKind::ContentAuthor => Knowledge::BlackBox,
            AdversaryKind::DataContributor | AdversaryKind::InternalUser => Knowledge::GrayBox,
            AdversaryKind::Supplier | AdversaryKind::Insider => Knowledge::WhiteBox,
        }
    }
}

/// The documented scale, carried in every output so a reader can check each figure.
#[derive(Debug, Clone, Serialize)]
pub struct Scale {
    pub likelihood: &'static str,
    pub severity: &'static str,
    pub risk: &'static str,
}

pub const SCALE: Scale = Scale {
    likelihood: "1–5 (1 very-low, 2 low, 3 moderate, 4 high, 5 critical): the widest audience that can mount it (public 4, customers 3, internal 2, insiders only 1; an outside content author 4; a data contributor 2 if the model is trained once, 3 if retrained periodically, 4 if continuously; a supplier 2, 3 from a public hub), −1 where callers see labels only, −1 for exfiltration through rendering (it needs an injection to succeed first), +1 where artifacts run code when loaded, then the technique's ATLAS maturity: realized +1, demonstrated 0, feasible −1; clamped to 1–5; then +1 (at most 5) where an AI Vulnerability Database record given with --avid documents the risk for the component",
    severity: "1–5 (1 very-low … 5 critical): the highest over the objectives the risk threatens and the profile lists; the owner's impact rating where given, else confidentiality from the training data's sensitivity (public 1, internal 3, personal 4, special-category 5; secrets in a prompt or retrieved internal documents 4; a model's IP 3; tool results 3), integrity from what outputs decide (advisory 3, automated 4, safety-critical 5; an LLM reply 3, tools with side effects 4), code run by a malicious artifact 4 for confidentiality and integrity and 3 for availability, availability otherwise 3",
    risk: "likelihood × severity, 1–25: 1–3 very-low, 4–6 low, 8–10 moderate, 12–16 high, 20–25 critical",
};

fn rating(score: u8) -> Level {
    match score {
        0..=3 => Level::VeryLow,
        4..=6 => Level::Low,
        7..=10 => Level::Moderate,
        11..=16 => Level::High,
        _ => Level::Critical,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Adversary {
    pub id: AdversaryKind,
    pub name: &'static str,
    pub knowledge: Knowledge,
    pub capabilities: &'static str,
    /// The components it reaches.
    pub reaches: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TechniqueRef {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maturity: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rated {
    pub level: Level,
    pub score: u8,
    pub why: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MitigationRef {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub category: Vec<String>,
    /// The techniques of this risk it is linked to in ATLAS.
    pub for_techniques: Vec<String>,
    /// aisec defences that implement it (`--defend` forms or commands).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aisec: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseMitigations {
    pub phase: String,
    pub mitigations: Vec<MitigationRef>,
}

/// An aisec attack, probe or scan that tests a risk.
#[derive(Debug, Clone, Serialize)]
pub struct TestRef {
    pub name: String,
    /// `attack evasion`, `attack extract`, `llm probe`, `scan` …
    pub command: String,
    pub access: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Risk {
    /// `component/family`, stable across runs of the same profile.
    pub id: String,
    pub component: String,
    pub component_kind: &'static str,
    pub family: &'static str,
    pub title: String,
    pub techniques: Vec<TechniqueRef>,
    pub rationale: Vec<String>,
    pub adversary: AdversaryKind,
    pub knowledge: Knowledge,
    pub targeting: Targeting,
    pub objectives: Vec<Objective>,
    pub likelihood: Rated,
    pub severity: Rated,
    /// Likelihood × severity.
    pub score: u8,
    pub rating: Level,
    pub mitigations: Vec<PhaseMitigations>,
    pub tested_by: Vec<TestRef>,
    /// Public vulnerability records that document it for this component (`--avid`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prior: Vec<prior::PriorRef>,
    /// Whether query answers carry scores (chooses score- or decision-based attacks).
    #[serde(skip)]
    pub scores: bool,
}

/// An applicable technique, with every reason it applies.
#[derive(Debug, Clone, Serialize)]
pub struct TechniqueEntry {
    pub id: String,
    pub name: String,
    pub tactics: Vec<String>,
    pub rationale: Vec<String>,
    pub risks: Vec<String>,
    /// The highest risk score among the risks it belongs to.
    pub score: u8,
}

/// A family considered for a component that does not apply, and why.
#[derive(Debug, Clone, Serialize)]
pub struct NotApplicable {
    pub component: String,
    pub family: &'static str,
    pub techniques: Vec<TechniqueRef>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThreatModel {
    pub system: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub profile: String,
    pub atlas_version: String,
    pub scale: Scale,
    pub objectives: Vec<Objective>,
    pub adversaries: Vec<Adversary>,
    /// Highest score first.
    pub risks: Vec<Risk>,
    pub techniques: Vec<TechniqueEntry>,
    pub not_applicable: Vec<NotApplicable>,
    /// The AVID records read with `--avid`, each with the risks it raised or why none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prior_evidence: Vec<prior::AvidRecord>,
}

fn technique_ref(kb: &KnowledgeBase, id: &str) -> TechniqueRef {
    let t = kb.technique(id);
    TechniqueRef {
        id: id.to_string(),
        name: t
            .map(|t| t.name.clone())
            .unwrap_or_else(|| "(not in this ATLAS version)".into()),
        maturity: t.and_then(|t| kb.effective_maturity(t)).map(|m| m.as_str()),
    }
}

fn maturity_adjustment(kb: &KnowledgeBase, id: &str) -> (i32, String) {
    use aisec_atlas::model::Maturity;
    match kb.technique(id).and_then(|t| kb.effective_maturity(t)) {
        Some(Maturity::Realized) => (1, format!("{id} is realized in ATLAS (+1)")),
        Some(Maturity::Demonstrated) => (0, format!("{id} is demonstrated in ATLAS (0)")),
        Some(Maturity::Feasible) => (-1, format!("{id} is only feasible in ATLAS (−1)")),
        None => (0, format!("{id} has no maturity in this ATLAS version (0)")),
    }
}

/// The mitigations ATLAS links to `techniques` (a sub-technique without links of its own
/// takes its parent's), grouped by lifecycle phase in lifecycle order.
pub fn mitigations(kb: &KnowledgeBase, techniques: &[&str], llm: bool) -> Vec<PhaseMitigations> {
    let mut found: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for id in techniques {
        let Some(ObjectRef::Technique(i)) = kb.get(id) else {
            continue;
        };
        let mut links = kb.mitigations_of(i);
        if links.is_empty() {
            if let Some(ObjectRef::Technique(p)) = kb.techniques[i]
                .subtechnique_of
                .as_deref()
                .and_then(|p| kb.get(p))
            {
                links = kb.mitigations_of(p);
            }
        }
        for m in links {
            let entry = found.entry(*m).or_default();
            if !entry.iter().any(|t| t == id) {
                entry.push(id.to_string());
            }
        }
    }
    let mut phases: Vec<PhaseMitigations> = Vec::new();
    let mut place =
        |phase: &str, r: MitigationRef| match phases.iter_mut().find(|p| p.phase == phase) {
            Some(p) => p.mitigations.push(r),
            None => phases.push(PhaseMitigations {
                phase: phase.to_string(),
                mitigations: vec![r],
            }),
        };
    for (i, for_techniques) in &found {
        let m = &kb.mitigations[*i];
        // Only the defences of this kind of component: a backdoor filter does not validate
        // an LLM application, whatever mitigation both are filed under.
        let aisec: Vec<String> = aisec_defenses::registry::defenses()
            .filter(|d| d.mitigations.contains(&m.id.as_str()))
            .filter(|d| d.families.contains(&aisec_defenses::Family::Llm) == llm)
            .map(|d| d.name.to_string())
            .collect();
        let r = MitigationRef {
            id: m.id.clone(),
            name: m.name.clone(),
            category: m.category.clone(),
            for_techniques: for_techniques.clone(),
            aisec,
        };
        if m.ml_lifecycle.is_empty() {
            place("No lifecycle phase in ATLAS", r);
        } else {
            for phase in &m.ml_lifecycle {
                place(phase, r.clone());
            }
        }
    }
    phases.sort_by_key(|p| {
        LIFECYCLE_PHASES
            .iter()
            .position(|q| *q == p.phase)
            .unwrap_or(LIFECYCLE_PHASES.len())
    });
    phases
}

fn access_fits(access: Access, white_box: bool, scores: bool) -> bool {
    match access {
        Access::WhiteBox | Access::WeightMemory => white_box,
        Access::ScoreBased => scores || white_box,
        Access::DecisionBased | Access::TrainingData | Access::ResponseTime => true,
    }
}

fn command_of(name: &str) -> &'static str {
    match name.split('.').next().unwrap_or("") {
        "evasion" => "attack evasion",
        "poison" => "attack poison",
        "extract" => "attack extract",
        "membership" => "attack membership",
        "inversion" if name.ends_with("attribute") => "attack attribute",
        "inversion" => "attack invert",
        "fault" => "attack bitflip",
        "sidechannel" => "attack timing",
        _ => "attack",
    }
}

/// The registered attacks, probes and scan rules whose techniques meet the risk's and whose
/// access the adversary has.
pub fn tested_by(
    techniques: &[&str],
    knowledge: Knowledge,
    scores: bool,
    llm: bool,
) -> Vec<TestRef> {
    let meets = |atlas: &[&str]| atlas.iter().any(|a| techniques.contains(a));
    // Full model access (an insider beside outside users) opens the gradient attacks.
    let white_box = knowledge == Knowledge::WhiteBox || techniques.contains(&"AML.T0044");
    let mut out = Vec::new();
    if !llm {
        for info in aisec_attacks::registry::listing() {
            // AML.T0040 (API access) is how most attacks reach a model, not what they test.
            let specific: Vec<&str> = info
                .atlas
                .iter()
                .copied()
                .filter(|a| *a != "AML.T0040")
                .collect();
            if meets(&specific) && access_fits(info.access, white_box, scores) {
                out.push(TestRef {
                    name: info.name.to_string(),
                    command: command_of(info.name).to_string(),
                    access: info.access.as_str().to_string(),
                });
            }
        }
        if aisec_scan::rules::RULES.iter().any(|r| meets(r.atlas)) {
            out.push(TestRef {
                name: "scan".into(),
                command: "scan".into(),
                access: "the artifact".into(),
            });
        }
    } else {
        for probe in aisec_llm::probes::REGISTRY {
            let info = probe.info();
            if meets(info.atlas) {
                out.push(TestRef {
                    name: info.name.to_string(),
                    command: "llm probe".into(),
                    access: "black-box chat".into(),
                });
            }
        }
    }
    out
}

pub fn build(loaded: &LoadedProfile, kb: &KnowledgeBase) -> ThreatModel {
    let p: &Profile = &loaded.profile;
    let mut risks = Vec::new();
    let mut not_applicable = Vec::new();
    let mut adversaries: BTreeMap<AdversaryKind, Vec<String>> = BTreeMap::new();
    let components = p
        .models
        .iter()
        .enumerate()
        .map(|(i, m)| {
            (
                m.name.clone(),
                "model",
                rules::for_model(&format!("models[{i}]"), m),
            )
        })
        .chain(p.llm_apps.iter().enumerate().map(|(i, a)| {
            (
                a.name.clone(),
                "llm-app",
                llm_rules::for_llm_app(&format!("llm_apps[{i}]"), a),
            )
        }));
    for (component, kind, verdicts) in components {
        for v in verdicts {
            match v {
                Verdict::Absent(a) => not_applicable.push(NotApplicable {
                    component: component.clone(),
                    family: a.family,
                    techniques: a.techniques.iter().map(|t| technique_ref(kb, t)).collect(),
                    reason: a.reason,
                }),
                Verdict::Applies(d) => match risk(p, kb, &component, kind, *d) {
                    Ok(r) => {
                        let reaches = adversaries.entry(r.adversary).or_default();
                        if !reaches.contains(&component) {
                            reaches.push(component.clone());
                        }
                        risks.push(r);
                    }
                    Err(n) => not_applicable.push(n),
                },
            }
        }
    }
    risks.sort_by(|a, b| b.score.cmp(&a.score).then(a.id.cmp(&b.id)));
    let mut techniques: Vec<TechniqueEntry> = Vec::new();
    for r in &risks {
        for t in &r.techniques {
            let entry = match techniques.iter_mut().position(|e| e.id == t.id) {
                Some(i) => &mut techniques[i],
                None => {
                    let tactics = kb
                        .technique(&t.id)
                        .map(|x| kb.effective_tactics(x).to_vec())
                        .unwrap_or_default();
                    techniques.push(TechniqueEntry {
                        id: t.id.clone(),
                        name: t.name.clone(),
                        tactics,
                        rationale: Vec::new(),
                        risks: Vec::new(),
                        score: 0,
                    });
                    techniques.last_mut().expect("just pushed")
                }
            };
            entry.risks.push(r.id.clone());
            entry.score = entry.score.max(r.score);
            for why in &r.rationale {
                if !entry.rationale.contains(why) {
                    entry.rationale.push(why.clone());
                }
            }
        }
    }
    ThreatModel {
        system: p.name.clone(),
        description: p.description.clone(),
        profile: loaded.path.display().to_string(),
        atlas_version: kb.version.clone(),
        scale: SCALE,
        objectives: p.objectives.clone(),
        adversaries: adversaries
            .into_iter()
            .map(|(id, reaches)| Adversary {
                id,
                name: id.name(),
                knowledge: id.knowledge(),
                capabilities: id.capabilities(),
                reaches,
            })
            .collect(),
        risks,
        techniques,
        not_applicable,
        prior_evidence: Vec::new(),
    }
}

/// The threat model with AVID records as prior evidence (`aisec threat-model --avid`).
pub fn with_prior_evidence(
    mut tm: ThreatModel,
    loaded: &LoadedProfile,
    mut records: Vec<prior::AvidRecord>,
) -> ThreatModel {
    let p = &loaded.profile;
    let names: Vec<(String, Vec<String>)> = p
        .models
        .iter()
        .map(|m| (m.name.clone(), m.known_as.clone()))
        .chain(p.llm_apps.iter().map(|a| {
            let mut known = a.known_as.clone();
            known.extend(a.model.clone());
            (a.name.clone(), known)
        }))
        .collect();
    prior::apply(&mut tm, &mut records, &names);
    tm.prior_evidence = records;
    tm
}

fn risk(
    p: &Profile,
    kb: &KnowledgeBase,
    component: &str,
    kind: &'static str,
    d: rules::Draft,
) -> Result<Risk, NotApplicable> {
    let harms: Vec<&(Objective, i32, String)> = d
        .harms
        .iter()
        .filter(|(o, _, _)| p.objectives.contains(o))
        .collect();
    if harms.is_empty() {
        let threatened: Vec<&str> = d.harms.iter().map(|(o, _, _)| o.as_str()).collect();
        return Err(NotApplicable {
            component: component.to_string(),
            family: d.family,
            techniques: d.techniques.iter().map(|t| technique_ref(kb, t)).collect(),
            reason: format!(
                "objectives does not list {}, the only objective{} it threatens",
                threatened.join(" or "),
                if threatened.len() == 1 { "" } else { "s" }
            ),
        });
    }
    let mut severity = 0;
    let mut severity_why = Vec::new();
    for (objective, default, why) in &harms {
        let (score, why) = match p.impact.of(*objective) {
            Some(level) => (
                level.score() as i32,
                format!(
                    "{}: impact.{} is {}",
                    objective.as_str(),
                    objective.as_str(),
                    level.as_str()
                ),
            ),
            None => (*default, format!("{}: {why}", objective.as_str())),
        };
        severity = severity.max(score);
        severity_why.push(why);
    }
    let (maturity, maturity_why) = maturity_adjustment(kb, d.techniques[0]);
    let likelihood = (d.exposure + maturity).clamp(1, 5);
    let likelihood = Level::from_score(likelihood);
    let severity = Level::from_score(severity);
    let score = likelihood.score() * severity.score();
    let technique_ids = d.techniques.clone();
    Ok(Risk {
        id: format!("{component}/{}", d.family),
        component: component.to_string(),
        component_kind: kind,
        family: d.family,
        title: d.title,
        techniques: d.techniques.iter().map(|t| technique_ref(kb, t)).collect(),
        rationale: d.rationale,
        adversary: d.adversary,
        // An employee knows the architecture and the data even when querying as anyone does.
        knowledge: if d.adversary == AdversaryKind::InternalUser
            && d.knowledge == Knowledge::BlackBox
        {
            Knowledge::GrayBox
        } else {
            d.knowledge
        },
        targeting: d.targeting,
        objectives: harms.iter().map(|(o, _, _)| *o).collect(),
        likelihood: Rated {
            level: likelihood,
            score: likelihood.score(),
            why: vec![d.exposure_why, maturity_why],
        },
        severity: Rated {
            level: severity,
            score: severity.score(),
            why: severity_why,
        },
        score,
        rating: rating(score),
        mitigations: mitigations(kb, &technique_ids, kind == "llm-app"),
        tested_by: tested_by(&technique_ids, d.knowledge, d.scores, kind == "llm-app"),
        prior: Vec::new(),
        scores: d.scores,
    })
}
