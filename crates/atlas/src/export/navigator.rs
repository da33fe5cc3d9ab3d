//! ATT&CK Navigator layers (layer format 4.5) in the `atlas-atlas` domain used by the
//! ATLAS Navigator.

use serde::Serialize;
use serde_json::{json, Value};

use super::tactic_shortname;
use crate::error::AtlasError;
use crate::kb::KnowledgeBase;
use crate::model::{CaseStudy, Maturity};

pub const LAYER_VERSION: &str = "4.5";
pub const NAVIGATOR_VERSION: &str = "5.1.0";
pub const DOMAIN: &str = "atlas-atlas";
const HIGHLIGHT: &str = "#C8E6C9";

/// One technique to mark on a layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Highlight {
    pub technique: String,
    /// Restricts the mark to one tactic column; `None` marks every column it appears in.
    pub tactic: Option<String>,
    pub score: Option<f64>,
    pub color: Option<String>,
    pub comment: Option<String>,
}

/// A layer marking `highlights`. Unknown technique IDs are an error naming them.
pub fn layer(
    kb: &KnowledgeBase,
    name: &str,
    description: &str,
    highlights: &[Highlight],
    legend: &[(&str, &str)],
) -> Result<Value, AtlasError> {
    let mut entries: Vec<Value> = Vec::new();
    for h in highlights {
        let technique = match kb.resolve(&h.technique) {
            Some(crate::kb::ObjectRef::Technique(i)) => Some(&kb.techniques[i]),
            _ => None,
        };
        let Some(technique) = technique else {
            return Err(AtlasError::UnknownId {
                id: h.technique.clone(),
                suggestions: kb.nearest_ids(&h.technique, 3),
            });
        };
        let tactics: Vec<&str> = match &h.tactic {
            Some(t) => vec![t.as_str()],
            None => kb
                .effective_tactics(technique)
                .iter()
                .map(String::as_str)
                .collect(),
        };
        for tactic_id in tactics {
            let Some(tactic) = kb.tactic(tactic_id) else {
                return Err(AtlasError::UnknownId {
                    id: tactic_id.to_string(),
                    suggestions: kb.nearest_ids(tactic_id, 3),
                });
            };
            let shortname = tactic_shortname(&tactic.name);
            let mut entry = json!({
                "techniqueID": technique.id,
                "tactic": shortname,
                "enabled": true,
                "showSubtechniques": false,
            });
            if let Some(score) = h.score {
                entry["score"] = json!(score);
            }
            entry["color"] =
                json!(h
                    .color
                    .as_deref()
                    .unwrap_or(if h.score.is_some() { "" } else { HIGHLIGHT }));
            if let Some(comment) = &h.comment {
                entry["comment"] = json!(comment);
            }
            entries.push(entry);
            // Navigator only shows a marked sub-technique when its parent is expanded.
            if let Some(parent) = &technique.subtechnique_of {
                let expanded = json!({
                    "techniqueID": parent,
                    "tactic": shortname,
                    "showSubtechniques": true,
                });
                if !entries.iter().any(|e| {
                    e["techniqueID"] == expanded["techniqueID"] && e["tactic"] == expanded["tactic"]
                }) {
                    entries.push(expanded);
                }
            }
        }
    }
    // A parent that is itself marked keeps its mark and is expanded.
    let mut merged: Vec<Value> = Vec::new();
    for e in entries {
        if let Some(existing) = merged
            .iter_mut()
            .find(|m| m["techniqueID"] == e["techniqueID"] && m["tactic"] == e["tactic"])
        {
            let (Some(dst), Some(src)) = (existing.as_object_mut(), e.as_object()) else {
                continue;
            };
            for (k, v) in src {
                match (k.as_str(), dst.get(k)) {
                    ("showSubtechniques", Some(Value::Bool(true))) => {}
                    ("comment", Some(Value::String(old)))
                        if v.is_string() && old != v.as_str().unwrap_or("") =>
                    {
                        let joined = format!("{old}; {}", v.as_str().unwrap_or(""));
                        dst.insert(k.clone(), json!(joined));
                    }
                    _ => {
                        dst.insert(k.clone(), v.clone());
                    }
                }
            }
        } else {
            merged.push(e);
        }
    }
    let scores: Vec<f64> = highlights.iter().filter_map(|h| h.score).collect();
    let max_score = scores.iter().copied().fold(1.0, f64::max);
    Ok(json!({
        "name": name,
        "versions": { "layer": LAYER_VERSION, "navigator": NAVIGATOR_VERSION },
        "domain": DOMAIN,
        "description": description,
        "filters": { "platforms": ["ATLAS"] },
        "sorting": 0,
        "layout": {
            "layout": "side",
            "aggregateFunction": "average",
            "showID": true,
            "showName": true,
            "showAggregateScores": false,
            "countUnscored": false,
            "expandedSubtechniques": "annotated"
        },
        "hideDisabled": false,
        "techniques": merged,
        "gradient": { "colors": ["#ffffffff", "#66b1ffff"], "minValue": 0, "maxValue": max_score },
        "legendItems": legend.iter().map(|(label, color)| json!({"label": label, "color": color})).collect::<Vec<_>>(),
        "metadata": [
            { "name": "atlas_data_version", "value": kb.version },
            { "name": "generated_by", "value": concat!("aisec ", env!("CARGO_PKG_VERSION")) }
        ],
        "links": [],
        "showTacticRowBackground": false,
        "tacticRowBackground": "#dddddd",
        "selectTechniquesAcrossTactics": true,
        "selectSubtechniquesWithParent": false,
        "selectVisibleTechniques": false
    }))
}

/// The whole matrix, each technique scored by maturity (1 feasible, 2 demonstrated,
/// 3 realized) so that the layer shows where attacks have been seen in the wild.
pub fn matrix_layer(kb: &KnowledgeBase) -> Result<Value, AtlasError> {
    let highlights: Vec<Highlight> = kb
        .techniques
        .iter()
        .map(|t| {
            let maturity = kb.effective_maturity(t);
            Highlight {
                technique: t.id.clone(),
                score: maturity.map(|m| match m {
                    Maturity::Feasible => 1.0,
                    Maturity::Demonstrated => 2.0,
                    Maturity::Realized => 3.0,
                }),
                color: Some(String::new()),
                comment: maturity.map(|m| format!("maturity: {}", m.as_str())),
                ..Highlight::default()
            }
        })
        .collect();
    let mut layer = layer(
        kb,
        &format!("ATLAS {} matrix", kb.version),
        "Every ATLAS technique, scored by maturity: 1 feasible, 2 demonstrated, 3 realized.",
        &highlights,
        &[],
    )?;
    layer["gradient"] =
        json!({ "colors": ["#fff3b2ff", "#fd8d3cff", "#bd0026ff"], "minValue": 1, "maxValue": 3 });
    Ok(layer)
}

/// The techniques named in `ids`, highlighted.
pub fn techniques_layer(
    kb: &KnowledgeBase,
    ids: &[String],
    name: Option<&str>,
) -> Result<Value, AtlasError> {
    let highlights: Vec<Highlight> = ids
        .iter()
        .map(|id| Highlight {
            technique: id.clone(),
            ..Highlight::default()
        })
        .collect();
    layer(
        kb,
        name.unwrap_or("aisec techniques"),
        &format!("Techniques: {}", ids.join(", ")),
        &highlights,
        &[("Selected technique", HIGHLIGHT)],
    )
}

/// A case study's procedure: each step's technique, in the step's tactic, commented with
/// its step number.
pub fn case_study_layer(kb: &KnowledgeBase, study: &CaseStudy) -> Result<Value, AtlasError> {
    let highlights: Vec<Highlight> = study
        .procedure
        .iter()
        .enumerate()
        .map(|(i, step)| Highlight {
            technique: step.technique.clone(),
            tactic: Some(step.tactic.clone()),
            comment: Some(format!("step {}", i + 1)),
            ..Highlight::default()
        })
        .collect();
    let mut layer = layer(
        kb,
        &study.name,
        &if study.id.is_empty() {
            "Procedure of a case study".to_string()
        } else {
            format!("Procedure of case study {}", study.id)
        },
        &highlights,
        &[("Used in case study", HIGHLIGHT)],
    )?;
    if let Some(meta) = layer["metadata"]
        .as_array_mut()
        .filter(|_| !study.id.is_empty())
    {
        meta.insert(0, json!({ "name": "url", "value": format!("https://atlas.mitre.org/studies/{}", study.id) }));
    }
    Ok(layer)
}
