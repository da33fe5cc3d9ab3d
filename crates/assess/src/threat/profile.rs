//! The system profile a threat model starts from: the models and LLM applications of one AI
//! system, who can reach them and how, where their training data and artifacts come from,
//! and what the owner protects. Parsed strictly (an unknown field is an error naming it, so a
//! misspelt `trainig_data` is not silently ignored) and validated with errors that name the
//! field path, e.g. `models[0].endpoint`.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{AssessError, Result};

/// An AI system: its models and LLM applications, and what its owner protects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The system's name, used in report titles.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Predictive models (classifiers, regressors, embedders) and their deployment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelProfile>,
    /// Applications built on a large language model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub llm_apps: Vec<LlmApp>,
    /// What the owner protects. Risks that threaten only objectives left out are listed as
    /// not applicable. Default: all three.
    #[serde(default = "Objective::all")]
    pub objectives: Vec<Objective>,
    /// How bad a breach of each objective would be; sets the severity scale's base. Default:
    /// confidentiality from the training data's sensitivity, integrity from the decisions
    /// the system makes, availability moderate.
    #[serde(default, skip_serializing_if = "Impact::is_empty")]
    pub impact: Impact,
}

/// One predictive model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelProfile {
    pub name: String,
    /// Names public vulnerability databases list it under (the base model's Hugging Face
    /// name, a product name), matched against the artifacts of `--avid` records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub known_as: Vec<String>,
    pub task: Task,
    /// A file or folder aisec can scan and, for `aisec assess`, load: an ONNX file, a model
    /// directory written by `aisec model train`, or any model file. Relative to the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
    /// Where it is served: `kserve+http(s)://HOST:PORT/v2/models/NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// What a caller gets back.
    pub outputs: Outputs,
    /// Who can send it inputs and read its outputs (`insiders` also have the weights).
    pub access: Vec<Audience>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_data: Option<TrainingData>,
    /// Where its artifacts and code come from, beyond the team's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supply_chain: Vec<SupplyChain>,
    /// What its outputs decide. Default: `advisory`.
    #[serde(default)]
    pub decisions: Decisions,
    /// Labelled inputs from its input distribution, for the attacks `aisec assess` runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataRef>,
    /// A CSV of records it was trained on (label column as `data.label_column`), for
    /// membership inference against a model whose training split aisec did not record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<String>,
    /// A CSV of records from the same distribution it never saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_members: Option<String>,
}

/// Where labelled inputs come from: one of `dataset` (a built-in set: digits, iris, …) and
/// `csv` (a path relative to the profile).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<String>,
    /// With `csv`: the label column (default: the last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_column: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    Classification,
    Regression,
    Generation,
    Embedding,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Outputs {
    /// The predicted label only.
    Labels,
    /// The top few labels, possibly with their scores.
    TopK,
    /// A score for every class.
    Probabilities,
    /// A regression value or an embedding vector.
    Values,
    /// Generated text.
    Text,
}

impl Outputs {
    /// Whether a caller sees more than the decision: scores make extraction, membership
    /// inference and inversion cheaper.
    pub fn gives_scores(self) -> bool {
        matches!(
            self,
            Outputs::TopK | Outputs::Probabilities | Outputs::Values
        )
    }
}

/// Who can reach a model, from the widest audience to the narrowest.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Audience {
    /// Anyone on the internet, unauthenticated or with a free account.
    Public,
    /// Authenticated, paying or vetted customers.
    Customers,
    /// Employees and contractors through internal tools.
    Internal,
    /// People with the weights or the training pipeline (ML engineers, operators).
    Insiders,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Public => "public",
            Audience::Customers => "customers",
            Audience::Internal => "internal",
            Audience::Insiders => "insiders",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingData {
    pub sources: Vec<DataSource>,
    pub retrained: Retraining,
    /// The most sensitive kind of record it holds. Default: `internal`.
    #[serde(default)]
    pub sensitivity: Sensitivity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DataSource {
    /// Submitted by the system's own users (feedback, uploads, transactions).
    UserGenerated,
    /// Collected from the web.
    Scraped,
    /// Bought or licensed from a third party.
    Vendor,
    /// Produced and curated inside the organisation.
    Internal,
}

impl DataSource {
    /// Sources an outsider can write to.
    pub fn outsiders_write(self) -> bool {
        matches!(
            self,
            DataSource::UserGenerated | DataSource::Scraped | DataSource::Vendor
        )
    }
    pub fn as_str(self) -> &'static str {
        match self {
            DataSource::UserGenerated => "user-generated",
            DataSource::Scraped => "scraped",
            DataSource::Vendor => "vendor",
            DataSource::Internal => "internal",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Retraining {
    Never,
    Periodically,
    Continuously,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Sensitivity {
    Public,
    #[default]
    Internal,
    /// Personal data (GDPR's sense).
    Personal,
    /// Health, biometric, financial or other special-category personal data.
    SpecialCategory,
}

impl Sensitivity {
    pub fn as_str(self) -> &'static str {
        match self {
            Sensitivity::Public => "public",
            Sensitivity::Internal => "internal",
            Sensitivity::Personal => "personal",
            Sensitivity::SpecialCategory => "special-category",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SupplyChain {
    /// Pretrained weights downloaded from a public model hub.
    PretrainedFromHub,
    /// Artifacts in a format that runs code when loaded (pickle, joblib, `torch.save`).
    PickledArtifacts,
    /// Datasets downloaded from public sources.
    ThirdPartyDatasets,
    /// A model or model API provided by a vendor.
    VendorModel,
}

impl SupplyChain {
    pub fn as_str(self) -> &'static str {
        match self {
            SupplyChain::PretrainedFromHub => "pretrained-from-hub",
            SupplyChain::PickledArtifacts => "pickled-artifacts",
            SupplyChain::ThirdPartyDatasets => "third-party-datasets",
            SupplyChain::VendorModel => "vendor-model",
        }
    }
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Decisions {
    /// A person reads the output and decides.
    #[default]
    Advisory,
    /// The output decides on its own (approves a loan, blocks a payment, unlocks a door).
    Automated,
    /// The output decides on its own where a wrong decision can hurt someone.
    SafetyCritical,
}

/// An application built on a large language model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LlmApp {
    pub name: String,
    /// Names public vulnerability databases list it or its model under, matched against
    /// the artifacts of `--avid` records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub known_as: Vec<String>,
    /// `openai+http(s)://HOST:PORT/v1`: an OpenAI-compatible chat API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The model name to ask the endpoint for, where it serves several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// A file holding its system prompt (relative to the profile), sent with every probe
    /// where the endpoint is a bare model rather than the application itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// Who can chat with it. Default: `[public]`.
    #[serde(default = "public_only")]
    pub access: Vec<Audience>,
    /// Whether its system prompt holds something a user must not read (codes, internal
    /// rules, other customers' data).
    #[serde(default)]
    pub system_prompt_secrets: bool,
    /// Documents retrieved into its context.
    #[serde(default)]
    pub rag: Rag,
    /// Tools it may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// Whether its replies are rendered as Markdown/HTML (images and links load).
    #[serde(default)]
    pub renders_markdown: bool,
}

fn public_only() -> Vec<Audience> {
    vec![Audience::Public]
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Rag {
    #[default]
    None,
    /// Documents the organisation wrote and controls.
    InternalDocuments,
    /// Documents anyone can write: web pages, e-mails, tickets, uploads.
    UntrustedDocuments,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    /// Whether calling it changes something (pays, sends, deletes, writes).
    #[serde(default)]
    pub side_effects: bool,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    Confidentiality,
    Integrity,
    Availability,
}

impl Objective {
    pub const ALL: [Objective; 3] = [
        Objective::Confidentiality,
        Objective::Integrity,
        Objective::Availability,
    ];
    fn all() -> Vec<Objective> {
        Objective::ALL.to_vec()
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Objective::Confidentiality => "confidentiality",
            Objective::Integrity => "integrity",
            Objective::Availability => "availability",
        }
    }
}

/// The owner's own rating of a breach, per objective.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Impact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidentiality: Option<Level>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<Level>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<Level>,
}

impl Impact {
    fn is_empty(&self) -> bool {
        self.confidentiality.is_none() && self.integrity.is_none() && self.availability.is_none()
    }
    pub fn of(&self, objective: Objective) -> Option<Level> {
        match objective {
            Objective::Confidentiality => self.confidentiality,
            Objective::Integrity => self.integrity,
            Objective::Availability => self.availability,
        }
    }
}

/// A five-point rating, used for likelihood and severity alike.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    VeryLow,
    Low,
    Moderate,
    High,
    Critical,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::VeryLow,
        Level::Low,
        Level::Moderate,
        Level::High,
        Level::Critical,
    ];
    pub fn score(self) -> u8 {
        self as u8 + 1
    }
    pub fn from_score(score: i32) -> Level {
        Level::ALL[(score.clamp(1, 5) - 1) as usize]
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Level::VeryLow => "very-low",
            Level::Low => "low",
            Level::Moderate => "moderate",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

/// A profile read from a file, with the folder its relative paths are resolved against.
#[derive(Debug, Clone)]
pub struct LoadedProfile {
    pub profile: Profile,
    pub path: PathBuf,
}

impl LoadedProfile {
    /// The artifact of `model`, resolved against the profile's folder.
    pub fn artifact_path(&self, model: &ModelProfile) -> Option<PathBuf> {
        let artifact = model.artifact.as_deref()?;
        let base = self.path.parent().unwrap_or(Path::new("."));
        Some(base.join(artifact))
    }
}

/// The profile's JSON Schema, as `aisec threat-model --schema` prints it.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Profile)).unwrap_or_default()
}

pub fn load(path: &Path) -> Result<LoadedProfile> {
    let text = super::plan::read_limited(path, "profile")?;
    let profile = parse(&text).map_err(|e| match e {
        AssessError::Config(m) => AssessError::Config(format!("{}: {m}", path.display())),
        other => other,
    })?;
    Ok(LoadedProfile {
        profile,
        path: path.to_path_buf(),
    })
}

/// Parses and validates a profile; every error names the field.
pub fn parse(text: &str) -> Result<Profile> {
    let profile: Profile = serde_yaml_ng::from_str(text)
        .map_err(|e| AssessError::Config(format!("not a valid system profile: {e}")))?;
    let problems = validate(&profile);
    if problems.is_empty() {
        Ok(profile)
    } else {
        Err(AssessError::Config(format!(
            "the system profile has {} problem{}:\n  {}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            problems.join("\n  ")
        )))
    }
}

/// Every problem of a parsed profile, each starting with its field path.
/// Models or LLM applications one profile may describe: every risk is built per component,
/// so the threat model grows with their number.
pub const MAX_COMPONENTS: usize = 64;

pub fn validate(p: &Profile) -> Vec<String> {
    let mut out = Vec::new();
    if p.name.trim().is_empty() {
        out.push("name: must not be empty".to_string());
    }
    if p.models.is_empty() && p.llm_apps.is_empty() {
        out.push("models, llm_apps: the profile describes no model and no LLM application".into());
    }
    for (field, n) in [("models", p.models.len()), ("llm_apps", p.llm_apps.len())] {
        if n > MAX_COMPONENTS {
            out.push(format!(
                "{field}: {n} entries; a profile describes at most {MAX_COMPONENTS} (split a larger estate into several profiles)"
            ));
        }
    }
    fn repeated<T: PartialEq + Serialize>(items: &[T]) -> Option<String> {
        items
            .iter()
            .enumerate()
            .find(|(i, x)| items[..*i].contains(x))
            .map(|(_, x)| kebab(x))
    }
    let mut lists: Vec<(String, Option<String>)> =
        vec![("objectives".into(), repeated(&p.objectives))];
    for (i, m) in p.models.iter().enumerate() {
        lists.push((format!("models[{i}].access"), repeated(&m.access)));
        lists.push((
            format!("models[{i}].supply_chain"),
            repeated(&m.supply_chain),
        ));
        if let Some(t) = &m.training_data {
            lists.push((
                format!("models[{i}].training_data.sources"),
                repeated(&t.sources),
            ));
        }
    }
    for (i, a) in p.llm_apps.iter().enumerate() {
        lists.push((format!("llm_apps[{i}].access"), repeated(&a.access)));
    }
    for (field, twice) in lists {
        if let Some(value) = twice {
            out.push(format!("{field}: {value} is listed twice"));
        }
    }
    if p.objectives.is_empty() {
        out.push("objectives: empty; list what the owner protects (confidentiality, integrity, availability) or leave the field out for all three".into());
    }
    let mut seen = std::collections::BTreeMap::new();
    let names = p
        .models
        .iter()
        .enumerate()
        .map(|(i, m)| (format!("models[{i}].name"), &m.name))
        .chain(
            p.llm_apps
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("llm_apps[{i}].name"), &a.name)),
        );
    for (field, name) in names {
        if name.chars().any(|c| c.is_control() || c == '/') {
            out.push(format!("{field}: {name:?} holds a control character or '/'; names become risk IDs (`name/family`) and report lines"));
        } else if name.chars().count() > 200 {
            out.push(format!("{field}: longer than 200 characters"));
        } else if name.trim().is_empty() {
            out.push(format!("{field}: must not be empty"));
        } else if let Some(first) = seen.insert(name.trim().to_lowercase(), field.clone()) {
            out.push(format!(
                "{field}: {name:?} is already the name of {first}; names must be unique"
            ));
        }
    }
    let known = p
        .models
        .iter()
        .enumerate()
        .map(|(i, m)| (format!("models[{i}].known_as"), &m.known_as))
        .chain(
            p.llm_apps
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("llm_apps[{i}].known_as"), &a.known_as)),
        );
    for (field, names) in known {
        for (j, name) in names.iter().enumerate() {
            if name.trim().is_empty() || name.chars().any(char::is_control) {
                out.push(format!(
                    "{field}[{j}]: {name:?} is empty or holds a control character"
                ));
            }
        }
    }
    // Values the plan passes on aisec command lines: one that starts with '-' would be read
    // as an option there (`--store-db=…` taken for a model path).
    let mut arguments: Vec<(String, &Option<String>)> = Vec::new();
    for (i, m) in p.models.iter().enumerate() {
        arguments.push((format!("models[{i}].artifact"), &m.artifact));
        arguments.push((format!("models[{i}].members"), &m.members));
        arguments.push((format!("models[{i}].non_members"), &m.non_members));
        if let Some(d) = &m.data {
            arguments.push((format!("models[{i}].data.csv"), &d.csv));
        }
    }
    for (i, a) in p.llm_apps.iter().enumerate() {
        arguments.push((format!("llm_apps[{i}].system_prompt"), &a.system_prompt));
        arguments.push((format!("llm_apps[{i}].model"), &a.model));
    }
    for (field, value) in arguments {
        match value.as_deref() {
            Some(v) if v.starts_with('-') => out.push(format!(
                "{field}: {v:?} starts with '-', which the plan's aisec command lines would read as an option; write a path as ./{v}"
            )),
            Some(v) if v.chars().any(char::is_control) => {
                out.push(format!("{field}: holds a control character"))
            }
            _ => {}
        }
    }
    for (i, m) in p.models.iter().enumerate() {
        let at = format!("models[{i}]");
        if m.access.is_empty() {
            out.push(format!("{at}.access: empty; say who can query the model (public, customers, internal, insiders)"));
        }
        if let Some(e) = &m.endpoint {
            if let Err(why) = check_url(e, "kserve+", "/v2/models/") {
                out.push(format!(
                    "{at}.endpoint: {why}; expected kserve+http(s)://HOST:PORT/v2/models/NAME"
                ));
            }
        }
        if let Some(a) = &m.artifact {
            if a.trim().is_empty() {
                out.push(format!("{at}.artifact: empty; give a path relative to the profile or leave the field out"));
            }
        }
        let fits = match m.task {
            Task::Classification => m.outputs != Outputs::Text && m.outputs != Outputs::Values,
            Task::Regression | Task::Embedding => m.outputs == Outputs::Values,
            Task::Generation => m.outputs == Outputs::Text,
        };
        if !fits {
            let expected = match m.task {
                Task::Classification => "labels, top-k or probabilities",
                Task::Regression | Task::Embedding => "values",
                Task::Generation => "text",
            };
            out.push(format!(
                "{at}.outputs: {} does not fit task {}; expected {expected}",
                kebab(&m.outputs),
                kebab(&m.task)
            ));
        }
        if let Some(d) = &m.data {
            if d.dataset.is_some() == d.csv.is_some() {
                out.push(format!("{at}.data: give exactly one of dataset and csv"));
            }
            if d.label_column.is_some() && d.csv.is_none() {
                out.push(format!("{at}.data.label_column: only with data.csv"));
            }
        }
        if m.members.is_some() != m.non_members.is_some() {
            out.push(format!(
                "{at}.members, {at}.non_members: give both or neither"
            ));
        }
        if let Some(t) = &m.training_data {
            if t.sources.is_empty() {
                out.push(format!("{at}.training_data.sources: empty; name at least one (user-generated, scraped, vendor, internal)"));
            }
        }
    }
    for (i, a) in p.llm_apps.iter().enumerate() {
        let at = format!("llm_apps[{i}]");
        if a.access.is_empty() {
            out.push(format!(
                "{at}.access: empty; say who can chat with it or leave the field out (public)"
            ));
        }
        if let Some(e) = &a.endpoint {
            if let Err(why) = check_url(e, "openai+", "") {
                out.push(format!(
                    "{at}.endpoint: {why}; expected openai+http(s)://HOST:PORT/v1"
                ));
            }
        }
        for (j, t) in a.tools.iter().enumerate() {
            if t.name.trim().is_empty() {
                out.push(format!("{at}.tools[{j}].name: must not be empty"));
            }
        }
    }
    out
}

fn check_url(url: &str, scheme: &str, must_contain: &str) -> std::result::Result<(), String> {
    let Some(rest) = url.strip_prefix(scheme) else {
        return Err(format!("{url:?} does not start with {scheme}"));
    };
    let Some(after) = rest
        .strip_prefix("http://")
        .or_else(|| rest.strip_prefix("https://"))
    else {
        return Err(format!("{url:?}: after {scheme} comes http:// or https://"));
    };
    let host = after.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err(format!("{url:?} names no host"));
    }
    if !must_contain.is_empty() && !after.contains(must_contain) {
        return Err(format!("{url:?} has no {must_contain}NAME path"));
    }
    Ok(())
}

/// A value's spelling in the profile.
pub fn kebab<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}
