//! Case-study checks, shared by the distribution file and the website's case-study files
//! (`{study: ..., meta: ...}`).

use std::path::Path;

use aisec_core::AtlasRefKind;
use serde_yaml_ng::Value;

use super::document::{check_date, check_references, check_uuid};
use super::tree::{type_name, Node};
use super::{Catalog, Report};
use crate::date::Date;
use crate::error::AtlasError;
use crate::model::{CaseStudyType, DateGranularity};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Inside `ATLAS.yaml`: an ID and `object-type` are required, steps reference IDs.
    Distribution,
    /// A website case-study file: the ID is optional, steps may define new tactics and
    /// techniques inline.
    Website,
}

const DIST_KEYS: &[&str] = &[
    "id",
    "uuid",
    "object-type",
    "name",
    "summary",
    "incident-date",
    "incident-date-granularity",
    "procedure",
    "reporter",
    "target",
    "actor",
    "case-study-type",
    "references",
];
/// The website's case-study files have the distribution's fields and who reported it.
const WEBSITE_ONLY_KEYS: &[&str] = &["reported-by"];

/// Validates a case-study file in the ATLAS website format against `catalog`.
pub fn validate_case_study_file(path: &Path, catalog: &dyn Catalog) -> Result<Report, AtlasError> {
    let text = crate::load::read_text(path)?;
    crate::load::check_yaml_nesting(&text, "case study").map_err(|message| AtlasError::Parse {
        path: path.to_path_buf(),
        message,
    })?;
    let value: Value = serde_yaml_ng::from_str(&text).map_err(|e| AtlasError::Parse {
        path: path.to_path_buf(),
        message: format!("not valid YAML: {e}"),
    })?;
    Ok(validate_case_study_value(&value, catalog))
}

pub fn validate_case_study_value(value: &Value, catalog: &dyn Catalog) -> Report {
    let mut report = Report::default();
    let Some(top) = Node::new(value, None, String::new(), &mut report) else {
        return report;
    };
    if let Some(meta) = top.get("meta") {
        if !matches!(meta, Value::Mapping(_)) {
            top.error(
                &mut report,
                "meta",
                format!("expected a mapping, found {}", type_name(meta)),
            );
        }
    }
    let Some(study) = top.get("study") else {
        top.error(
            &mut report,
            "study",
            "missing required field: a case-study file is `{study: ..., meta: ...}`".into(),
        );
        return report;
    };
    let id = study.get("id").and_then(Value::as_str).map(str::to_string);
    if let Some(node) = Node::new(study, id, "study".into(), &mut report) {
        check_case_study(&node, catalog, Mode::Website, &mut report);
        report.checked.case_studies = 1;
    }
    report
}

pub(crate) fn check_case_study(
    node: &Node,
    catalog: &dyn Catalog,
    mode: Mode,
    report: &mut Report,
) {
    match mode {
        Mode::Distribution => {
            node.unknown_keys(report, DIST_KEYS);
            node.req_str(report, "id");
            match node.get("object-type") {
                Some(Value::String(s)) if s == "case-study" => {}
                None => node.error(
                    report,
                    "object-type",
                    "missing required field: expected `case-study`".into(),
                ),
                Some(other) => node.error(
                    report,
                    "object-type",
                    format!("expected `case-study`, found {}", type_name(other)),
                ),
            }
        }
        Mode::Website => {
            node.unknown_keys(report, &[DIST_KEYS, WEBSITE_ONLY_KEYS].concat());
            if let Some(id) = node.opt_str(report, "id") {
                if aisec_core::AtlasRef::parse(id).map(|r| r.kind()) != Ok(AtlasRefKind::CaseStudy)
                {
                    node.error(
                        report,
                        "id",
                        format!("`{id}` is not a case-study ID: expected AML.CS0000"),
                    );
                }
            }
            if node.get("reported-by").is_some() {
                node.warn(
                    report,
                    "reported-by",
                    "deprecated since case-study format 1.1: use `reporter`".into(),
                );
            }
        }
    }
    node.req_str(report, "name");
    node.req_str(report, "summary");
    check_uuid(node, report);
    node.opt_str(report, "target");
    node.opt_str(report, "actor");

    let date = match mode {
        Mode::Distribution => check_date(node, "incident-date", true, report),
        Mode::Website => node.req_str(report, "incident-date").and_then(|s| {
            Date::parse_date_or_timestamp(s)
                .map_err(|msg| node.error(report, "incident-date", msg))
                .ok()
        }),
    };
    let granularity = node
        .req_str(report, "incident-date-granularity")
        .and_then(|s| {
            let g = match s {
                "YEAR" => Some(DateGranularity::Year),
                "MONTH" => Some(DateGranularity::Month),
                "DATE" => Some(DateGranularity::Date),
                _ => None,
            };
            if g.is_none() {
                node.error(
                    report,
                    "incident-date-granularity",
                    format!("`{s}` is not a granularity: expected YEAR, MONTH or DATE"),
                );
            }
            g
        });
    if let (Some(d), Some(g)) = (date, granularity) {
        let consistent = match g {
            DateGranularity::Year => d.month == 1 && d.day == 1,
            DateGranularity::Month => d.day == 1,
            DateGranularity::Date => true,
        };
        if !consistent {
            let canonical = match g {
                DateGranularity::Year => format!("{:04}-01-01", d.year),
                _ => format!("{:04}-{:02}-01", d.year, d.month),
            };
            node.warn(report, "incident-date", format!("{d} is more precise than granularity {}: write {canonical}, or use a finer granularity", g.as_str()));
        }
    }

    let study_type = node.req_str(report, "case-study-type").and_then(|s| {
        let t = match s {
            "incident" => Some(CaseStudyType::Incident),
            "exercise" => Some(CaseStudyType::Exercise),
            _ => None,
        };
        if t.is_none() {
            node.error(
                report,
                "case-study-type",
                format!("`{s}` is not a case-study type: expected incident or exercise"),
            );
        }
        t
    });
    let reporter = node.opt_str(report, "reporter");
    if study_type == Some(CaseStudyType::Incident)
        && reporter.is_none()
        && node.get("reporter").is_none()
    {
        node.error(
            report,
            "reporter",
            "missing: an incident must name who reported it".into(),
        );
    }
    check_references(node, report);
    check_procedure(node, catalog, mode, report);
}

fn check_procedure(node: &Node, catalog: &dyn Catalog, mode: Mode, report: &mut Report) {
    let Some(steps) = node.list(report, "procedure", true) else {
        return;
    };
    if steps.is_empty() {
        node.error(report, "procedure", "must have at least one step".into());
    }
    for (i, step) in steps.iter().enumerate() {
        let path = node.field_path(&format!("procedure[{i}]"));
        let Some(s) = Node::new(step, node.object.clone(), path, report) else {
            continue;
        };
        s.unknown_keys(report, &["tactic", "technique", "description"]);
        s.req_str(report, "description");
        let tactic = step_ref(&s, "tactic", catalog, mode, report);
        let technique = step_ref(&s, "technique", catalog, mode, report);
        if let (Some(tactic), Some(technique)) = (tactic, technique) {
            if let Some(allowed) = catalog.technique_tactics(&technique) {
                if !allowed.contains(&tactic) {
                    let list = if allowed.is_empty() {
                        "none".to_string()
                    } else {
                        allowed.join(", ")
                    };
                    s.error(
                        report,
                        "tactic",
                        format!(
                            "`{tactic}` is not a tactic of `{technique}` (its tactics: {list})"
                        ),
                    );
                }
            }
        }
    }
}

/// Checks a step's `tactic` or `technique`; returns the ID when it resolved.
fn step_ref(
    s: &Node,
    key: &str,
    catalog: &dyn Catalog,
    mode: Mode,
    report: &mut Report,
) -> Option<String> {
    let want_tactic = key == "tactic";
    match s.get(key) {
        None => {
            s.error(report, key, "missing required field".into());
            None
        }
        Some(Value::String(id)) => {
            let ok = match catalog.kind_of(id) {
                Some(AtlasRefKind::Tactic) => want_tactic,
                Some(AtlasRefKind::Technique | AtlasRefKind::SubTechnique) => !want_tactic,
                _ => false,
            };
            if ok {
                Some(id.clone())
            } else {
                let what = if want_tactic {
                    "tactic"
                } else {
                    "technique or sub-technique"
                };
                let kind = catalog
                    .kind_of(id)
                    .map_or("unknown ID".to_string(), |k| format!("a {}", k.label()));
                s.error(
                    report,
                    key,
                    format!("`{id}` is not a known {what} ({kind})"),
                );
                None
            }
        }
        Some(inline @ Value::Mapping(_)) if mode == Mode::Website => {
            // A new tactic or technique proposed by the case study.
            let path = s.field_path(key);
            if let Some(n) = Node::new(inline, s.object.clone(), path, report) {
                n.req_str(report, "name");
                n.req_str(report, "description");
                let expected = if want_tactic { "tactic" } else { "technique" };
                match n.get("object-type") {
                    Some(Value::String(t)) if t == expected => {}
                    _ => n.error(
                        report,
                        "object-type",
                        format!("an inline {key} needs `object-type: {expected}`"),
                    ),
                }
            }
            None
        }
        Some(other) => {
            s.error(
                report,
                key,
                format!("expected an ID string, found {}", type_name(other)),
            );
            None
        }
    }
}
