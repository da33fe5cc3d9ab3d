//! Every output is a view of findings plus run metadata: the JSON run object of DESIGN.md,
//! a self-contained HTML report with SVG plots, and an ATT&CK Navigator layer.

pub mod avid;
pub mod frameworks;
pub mod html;
pub mod navigator;
mod run;
pub mod run_view;
pub mod svg;

pub use run::{
    document as run_document, ModelEvaluated, ModelSaved, NoSettings, RunKind, RunReport, Series,
};
