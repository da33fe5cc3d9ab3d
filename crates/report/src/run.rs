use aisec_core::{AtlasRef, DefenseRef, Details, Finding, Metrics};
use serde::{Deserialize, Serialize};

/// What kind of run a report describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunKind {
    /// An attack, possibly measured again behind a defence (`defended`).
    Attack,
    /// A defence measured on its own terms (detection, data sanitising).
    Defense,
    /// A model-file scan.
    Scan,
    /// A model trained or evaluated.
    Model,
    /// Several stages at once (`aisec demo`).
    Assessment,
    /// LLM red-team probes against a chat model (`aisec llm probe`).
    LlmProbe,
}

/// The machine-readable result of one attack, defence or scan (DESIGN.md, "Machine-readable
/// output"). `defended` holds the same object for the model with the defence applied.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    pub kind: RunKind,
    pub name: String,
    pub atlas: Vec<AtlasRef>,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The settings the run used, as its module declares them.
    pub config: Details,
    pub seed: u64,
    pub metrics: Metrics,
    /// What the run observed beyond the shared metrics (curves, per-stage counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observations: Option<Details>,
    /// Written with the framework items each finding evidences ([`crate::frameworks`]).
    #[serde(serialize_with = "crate::frameworks::serialize_findings")]
    pub findings: Vec<Finding>,
    /// The defence this run was measured behind.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::frameworks::serialize_defense"
    )]
    pub defense: Option<DefenseRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defended: Option<Box<RunReport>>,
    /// On a defended run: the adaptive attack that knows the defence, where one exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<Box<RunReport>>,
}

impl RunReport {
    /// A report of `kind` with its identity and measurements; data, observations, findings
    /// and the defence are set on the result. ATLAS IDs come from the registries' constants,
    /// which their tests parse; one that does not parse is left out with a warning.
    pub fn new(
        kind: RunKind,
        name: impl Into<String>,
        atlas: &[impl AsRef<str>],
        target: impl Into<String>,
        config: Details,
        seed: u64,
        metrics: Metrics,
    ) -> Self {
        let atlas = atlas
            .iter()
            .filter_map(|a| match AtlasRef::parse(a.as_ref()) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!("{e}: left out of the report");
                    None
                }
            })
            .collect();
        RunReport {
            kind,
            name: name.into(),
            atlas,
            target: target.into(),
            data: None,
            config,
            seed,
            metrics,
            observations: None,
            findings: Vec::new(),
            defense: None,
            defended: None,
            adaptive: None,
        }
    }

    pub fn with_data(mut self, data: impl Into<String>) -> Self {
        self.data = Some(data.into());
        self
    }

    pub fn with_observations(mut self, observations: Details) -> Self {
        self.observations = Some(observations);
        self
    }

    pub fn with_findings(mut self, findings: Vec<Finding>) -> Self {
        self.findings = findings;
        self
    }

    pub fn with_defense(mut self, defense: DefenseRef) -> Self {
        self.defense = Some(defense);
        self
    }
}

/// A model a command trained and saved: where, and how it fits its own data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSaved {
    pub out: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_examples: Option<usize>,
}

/// A model evaluated on labelled data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelEvaluated {
    pub examples: usize,
    /// Rows: true class; columns: predicted class.
    pub confusion_matrix: Vec<Vec<usize>>,
}

/// A run that takes no settings (its inputs are named by `target` and `data`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoSettings {}

/// A named curve for plots: (x, y) points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// A whole HTML document of one run: its identity, findings, then the [`sections`] of its
/// measurements (what `aisec report merge` writes as `report.html`).
pub fn document(run: &crate::RunReport) -> crate::html::Document {
    let value = serde_json::to_value(run).unwrap_or(serde_json::Value::Null);
    let mut facts = vec![
        ("Kind".to_string(), format!("{:?}", run.kind).to_lowercase()),
        ("Target".to_string(), run.target.clone()),
    ];
    if let Some(d) = &run.data {
        facts.push(("Data".into(), d.clone()));
    }
    facts.push(("Seed".into(), run.seed.to_string()));
    facts.push((
        "ATLAS".into(),
        run.atlas
            .iter()
            .map(|a| a.as_str().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    ));
    facts.push(("aisec".into(), env!("CARGO_PKG_VERSION").into()));
    crate::html::Document {
        title: format!("aisec: {}", run.name),
        facts,
        findings: run.findings.clone(),
        sections: crate::run_view::sections(&value),
        ..Default::default()
    }
}
