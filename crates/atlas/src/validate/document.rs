//! Validation of a whole ATLAS distribution file (`ATLAS.yaml`).

use std::collections::HashMap;

use aisec_core::AtlasRefKind;
use serde_yaml_ng::Value;

use super::case_study::{check_case_study, Mode};
use super::tree::{type_name, Node};
use super::{Catalog, Level, Report};
use crate::date::Date;
use crate::model::{Maturity, LIFECYCLE_PHASES, MITIGATION_CATEGORIES};

const ROOT_KEYS: &[&str] = &["id", "name", "version", "uuid", "matrices", "case-studies"];
const MATRIX_KEYS: &[&str] = &["id", "name", "uuid", "tactics", "techniques", "mitigations"];
const TACTIC_KEYS: &[&str] = &[
    "id",
    "uuid",
    "object-type",
    "name",
    "description",
    "ATT&CK-reference",
    "references",
    "created_date",
    "modified_date",
];
const TECHNIQUE_KEYS: &[&str] = &[
    "id",
    "uuid",
    "object-type",
    "name",
    "description",
    "tactics",
    "subtechnique-of",
    "maturity",
    "ATT&CK-reference",
    "references",
    "created_date",
    "modified_date",
];
const MITIGATION_KEYS: &[&str] = &[
    "id",
    "uuid",
    "object-type",
    "name",
    "description",
    "techniques",
    "ml-lifecycle",
    "category",
    "ATT&CK-reference",
    "references",
    "created_date",
    "modified_date",
];

/// Parses and validates ATLAS YAML text. `Err` when the text is not YAML at all.
pub fn validate_document_text(text: &str) -> Result<Report, String> {
    if text.trim().is_empty() {
        return Err("the file is empty: expected an ATLAS data file".into());
    }
    let value: Value = serde_yaml_ng::from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
    Ok(validate_document(&value))
}

/// The objects of the file being validated, as references see them.
#[derive(Default)]
struct FileCatalog {
    kinds: HashMap<String, AtlasRefKind>,
    tactics_of: HashMap<String, Vec<String>>,
    parent_of: HashMap<String, String>,
}

impl Catalog for FileCatalog {
    fn kind_of(&self, id: &str) -> Option<AtlasRefKind> {
        self.kinds.get(id).copied()
    }

    fn technique_tactics(&self, id: &str) -> Option<Vec<String>> {
        // A sub-technique whose parent is missing has unknown tactics: that is reported
        // once, at the sub-technique, not again at every step that uses it.
        let owner = match self.kinds.get(id)? {
            AtlasRefKind::Technique => id,
            AtlasRefKind::SubTechnique => self.parent_of.get(id)?.as_str(),
            _ => return None,
        };
        self.tactics_of.get(owner).cloned()
    }
}

/// An object found in the first pass, checked in the second.
struct Entry<'a> {
    value: &'a Value,
    path: String,
    id: Option<String>,
}

pub fn validate_document(root: &Value) -> Report {
    let mut report = Report::default();
    let Some(top) = Node::new(root, None, String::new(), &mut report) else {
        return report;
    };
    top.unknown_keys(&mut report, ROOT_KEYS);
    top.req_str(&mut report, "id");
    top.req_str(&mut report, "name");
    match top.get("version") {
        None => top.error(&mut report, "version", "missing required field".into()),
        Some(Value::String(s)) if s.trim().is_empty() => {
            top.error(&mut report, "version", "must not be empty".into())
        }
        Some(Value::String(_) | Value::Number(_)) => {}
        Some(other) => top.error(
            &mut report,
            "version",
            format!(
                "expected a version string such as 5.6.0, found {}",
                type_name(other)
            ),
        ),
    }

    let mut tactics = Vec::new();
    let mut techniques = Vec::new();
    let mut mitigations = Vec::new();
    if let Some(matrices) = top.list(&mut report, "matrices", true) {
        if matrices.is_empty() {
            top.error(
                &mut report,
                "matrices",
                "must list at least one matrix".into(),
            );
        }
        for (mi, matrix) in matrices.iter().enumerate() {
            let Some(m) = Node::new(matrix, None, format!("matrices[{mi}]"), &mut report) else {
                continue;
            };
            m.unknown_keys(&mut report, MATRIX_KEYS);
            m.req_str(&mut report, "id");
            m.req_str(&mut report, "name");
            for (key, required, out) in [
                ("tactics", true, &mut tactics),
                ("techniques", true, &mut techniques),
                ("mitigations", false, &mut mitigations),
            ] {
                for (i, v) in m
                    .list(&mut report, key, required)
                    .unwrap_or(&[])
                    .iter()
                    .enumerate()
                {
                    out.push(Entry {
                        value: v,
                        path: format!("{}.{key}[{i}]", m.path),
                        id: None,
                    });
                }
            }
        }
    }
    let mut case_studies = Vec::new();
    for (i, v) in top
        .list(&mut report, "case-studies", false)
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        case_studies.push(Entry {
            value: v,
            path: format!("case-studies[{i}]"),
            id: None,
        });
    }

    // First pass: IDs, their grammar and uniqueness, and what references will need.
    let mut catalog = FileCatalog::default();
    let mut first_seen: HashMap<String, String> = HashMap::new();
    let groups: [(&mut Vec<Entry>, &[AtlasRefKind]); 4] = [
        (&mut tactics, &[AtlasRefKind::Tactic]),
        (
            &mut techniques,
            &[AtlasRefKind::Technique, AtlasRefKind::SubTechnique],
        ),
        (&mut mitigations, &[AtlasRefKind::Mitigation]),
        (&mut case_studies, &[AtlasRefKind::CaseStudy]),
    ];
    for (entries, kinds) in groups {
        for entry in entries.iter_mut() {
            let Value::Mapping(map) = entry.value else {
                continue;
            };
            let id = match map.get("id") {
                Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
                _ => continue,
            };
            let kind = aisec_core::AtlasRef::parse(&id).ok().map(|r| r.kind());
            match kind {
                Some(k) if kinds.contains(&k) => {
                    if let Some(first) = first_seen.get(&id) {
                        report.push(
                            Level::Error,
                            Some(&id),
                            &format!("{}.id", entry.path),
                            format!("duplicate ID: already used at {first}"),
                        );
                    } else {
                        first_seen.insert(id.clone(), entry.path.clone());
                        catalog.kinds.insert(id.clone(), k);
                        if k == AtlasRefKind::Technique {
                            let tactics = match map.get("tactics") {
                                Some(Value::Sequence(items)) => items
                                    .iter()
                                    .filter_map(|v| v.as_str().map(str::to_string))
                                    .collect(),
                                _ => Vec::new(),
                            };
                            catalog.tactics_of.insert(id.clone(), tactics);
                        }
                        if let Some(Value::String(parent)) = map.get("subtechnique-of") {
                            catalog.parent_of.insert(id.clone(), parent.clone());
                        }
                    }
                }
                _ => {
                    let expected = kinds
                        .iter()
                        .map(|k| id_example(*k))
                        .collect::<Vec<_>>()
                        .join(" or ");
                    report.push(
                        Level::Error,
                        Some(&id),
                        &format!("{}.id", entry.path),
                        format!("`{id}` is not a valid ID here: expected {expected}"),
                    );
                }
            }
            entry.id = Some(id);
        }
    }

    for e in &tactics {
        check_tactic(e, &mut report);
    }
    for e in &techniques {
        check_technique(e, &catalog, &mut report);
    }
    for e in &mitigations {
        check_mitigation(e, &catalog, &mut report);
    }
    for e in &case_studies {
        if let Some(node) = Node::new(e.value, e.id.clone(), e.path.clone(), &mut report) {
            check_case_study(&node, &catalog, Mode::Distribution, &mut report);
        }
    }
    report.checked.tactics = tactics.len();
    report.checked.techniques = techniques.len();
    report.checked.mitigations = mitigations.len();
    report.checked.case_studies = case_studies.len();
    report
}

fn id_example(kind: AtlasRefKind) -> &'static str {
    match kind {
        AtlasRefKind::Tactic => "a tactic ID like AML.TA0002",
        AtlasRefKind::Technique => "a technique ID like AML.T0051",
        AtlasRefKind::SubTechnique => "a sub-technique ID like AML.T0051.000",
        AtlasRefKind::Mitigation => "a mitigation ID like AML.M0003",
        AtlasRefKind::CaseStudy => "a case-study ID like AML.CS0000",
    }
}

/// Checks shared by tactics, techniques and mitigations.
fn check_common(node: &Node, object_type: &str, report: &mut Report) {
    node.req_str(report, "id");
    node.req_str(report, "name");
    node.req_str(report, "description");
    match node.get("object-type") {
        None => node.error(
            report,
            "object-type",
            format!("missing required field: expected `{object_type}`"),
        ),
        Some(Value::String(s)) if s == object_type => {}
        Some(other) => node.error(
            report,
            "object-type",
            format!("expected `{object_type}`, found {}", describe(other)),
        ),
    }
    let created = check_date(node, "created_date", true, report);
    let modified = check_date(node, "modified_date", true, report);
    if let (Some(c), Some(m)) = (created, modified) {
        if m < c {
            node.warn(
                report,
                "modified_date",
                format!("modified {m} is before created {c}"),
            );
        }
    }
    check_uuid(node, report);
    check_references(node, report);
    if let Some(v) = node.get("ATT&CK-reference") {
        check_attack_reference(node, v, report);
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{s}`"),
        other => type_name(other).to_string(),
    }
}

pub(super) fn check_date(
    node: &Node,
    key: &str,
    required: bool,
    report: &mut Report,
) -> Option<Date> {
    let s = if required {
        node.req_str(report, key)
    } else {
        node.opt_str(report, key)
    }?;
    match Date::parse(s) {
        Ok(d) => Some(d),
        Err(msg) => {
            node.error(report, key, msg);
            None
        }
    }
}

/// The `uuid` that ATLAS v6 gives every object: canonical 8-4-4-4-12 hex.
pub(super) fn check_uuid(node: &Node, report: &mut Report) {
    let Some(u) = node.opt_str(report, "uuid") else {
        return;
    };
    if uuid::Uuid::try_parse(u).is_err() || u.len() != 36 {
        node.error(
            report,
            "uuid",
            format!("`{u}` is not a UUID (expected 8-4-4-4-12 hex digits)"),
        );
    }
}

pub(super) fn check_references(node: &Node, report: &mut Report) {
    let Some(items) = node.list(report, "references", false) else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let path = node.field_path(&format!("references[{i}]"));
        let Some(r) = Node::new(item, node.object.clone(), path, report) else {
            continue;
        };
        r.unknown_keys(report, &["title", "url"]);
        for key in ["title", "url"] {
            if r.get(key).is_none() {
                r.error(
                    report,
                    key,
                    "missing required field (it may be null)".into(),
                );
            }
        }
        let title = match r.get("title") {
            Some(Value::String(t)) if t.trim().is_empty() => {
                r.warn(
                    report,
                    "title",
                    "empty title: give the title or write null".into(),
                );
                None
            }
            _ => r.opt_str(report, "title"),
        };
        let url = r.opt_str(report, "url");
        if let Some(u) = url {
            if !(u.starts_with("https://") || u.starts_with("http://"))
                || u.contains(char::is_whitespace)
            {
                r.error(report, "url", format!("`{u}` is not an http(s) URL"));
            }
        }
        if title.is_none() && url.is_none() {
            r.warn(
                report,
                "url",
                "reference has neither a title nor a URL".into(),
            );
        }
    }
}

fn check_attack_reference(node: &Node, v: &Value, report: &mut Report) {
    let path = node.field_path("ATT&CK-reference");
    let Some(r) = Node::new(v, node.object.clone(), path, report) else {
        return;
    };
    r.unknown_keys(report, &["id", "url"]);
    if let Some(id) = r.req_str(report, "id") {
        let ok = id
            .strip_prefix("TA")
            .or_else(|| id.strip_prefix('T'))
            .or_else(|| id.strip_prefix('M'))
            .is_some_and(|rest| {
                let (main, sub) = rest.split_once('.').unwrap_or((rest, "000"));
                main.len() == 4
                    && sub.len() == 3
                    && main.bytes().chain(sub.bytes()).all(|b| b.is_ascii_digit())
            });
        if !ok {
            r.error(
                report,
                "id",
                format!("`{id}` is not an ATT&CK ID: expected TA0000, T0000, T0000.000 or M0000"),
            );
        }
    }
    if let Some(url) = r.req_str(report, "url") {
        if !url.starts_with("https://attack.mitre.org/") {
            r.error(
                report,
                "url",
                format!("`{url}` is not an ATT&CK URL: expected https://attack.mitre.org/..."),
            );
        }
    }
}

fn check_tactic(e: &Entry, report: &mut Report) {
    let Some(node) = Node::new(e.value, e.id.clone(), e.path.clone(), report) else {
        return;
    };
    node.unknown_keys(report, TACTIC_KEYS);
    check_common(&node, "tactic", report);
}

fn check_technique(e: &Entry, catalog: &FileCatalog, report: &mut Report) {
    let Some(node) = Node::new(e.value, e.id.clone(), e.path.clone(), report) else {
        return;
    };
    node.unknown_keys(report, TECHNIQUE_KEYS);
    check_common(&node, "technique", report);
    match node.get("maturity") {
        None => node.error(
            report,
            "maturity",
            "missing required field: expected feasible, demonstrated or realized".into(),
        ),
        Some(Value::String(s)) if Maturity::ALL.iter().any(|m| m.as_str() == s) => {}
        Some(other) => node.error(
            report,
            "maturity",
            format!(
                "expected feasible, demonstrated or realized, found {}",
                describe(other)
            ),
        ),
    }
    let id = e.id.as_deref().unwrap_or_default();
    let is_sub = catalog.kind_of(id) == Some(AtlasRefKind::SubTechnique);
    let tactics = node.str_list(report, "tactics", false);
    for (i, tactic) in &tactics {
        if catalog.kind_of(tactic) != Some(AtlasRefKind::Tactic) {
            node.error(
                report,
                &format!("tactics[{i}]"),
                format!("`{tactic}` is not a tactic of this file"),
            );
        }
    }
    let parent = node.opt_str(report, "subtechnique-of");
    if is_sub {
        let Some(parent) = parent else {
            node.error(
                report,
                "subtechnique-of",
                "missing: a sub-technique ID (T0000.000) must name its parent technique".into(),
            );
            return;
        };
        let expected_parent = id.rsplit_once('.').map_or("", |(head, _)| head);
        if parent != expected_parent {
            node.error(report, "subtechnique-of", format!("`{parent}` does not match the ID: `{id}` is a sub-technique of `{expected_parent}`"));
        }
        match catalog.kind_of(parent) {
            Some(AtlasRefKind::Technique) => {}
            Some(AtlasRefKind::SubTechnique) => node.error(
                report,
                "subtechnique-of",
                format!("`{parent}` is itself a sub-technique; sub-techniques nest one level only"),
            ),
            _ => node.error(
                report,
                "subtechnique-of",
                format!("`{parent}` is not a technique of this file"),
            ),
        }
        if !tactics.is_empty() {
            let parent_tactics = catalog.tactics_of.get(parent).cloned().unwrap_or_default();
            for (i, tactic) in &tactics {
                if !parent_tactics.iter().any(|t| t == tactic) {
                    node.error(report, &format!("tactics[{i}]"), format!("`{tactic}` is not a tactic of the parent `{parent}`; sub-techniques inherit their parent's tactics"));
                }
            }
        }
    } else {
        if let Some(parent) = parent {
            node.error(report, "subtechnique-of", format!("`{id}` names parent `{parent}` but has a technique ID; a sub-technique's ID is its parent's plus .000"));
        }
        if tactics.is_empty()
            && node
                .get("tactics")
                .is_none_or(|v| matches!(v, Value::Sequence(s) if s.is_empty()))
        {
            node.error(
                report,
                "tactics",
                "a top-level technique must list at least one tactic".into(),
            );
        }
    }
}

fn check_mitigation(e: &Entry, catalog: &FileCatalog, report: &mut Report) {
    let Some(node) = Node::new(e.value, e.id.clone(), e.path.clone(), report) else {
        return;
    };
    node.unknown_keys(report, MITIGATION_KEYS);
    check_common(&node, "mitigation", report);

    let phases = node.str_list(report, "ml-lifecycle", true);
    if phases.is_empty()
        && node
            .get("ml-lifecycle")
            .is_some_and(|v| matches!(v, Value::Sequence(_)))
    {
        node.error(
            report,
            "ml-lifecycle",
            "must name at least one lifecycle phase".into(),
        );
    }
    for (i, phase) in phases {
        if !LIFECYCLE_PHASES.contains(&phase) {
            node.error(
                report,
                &format!("ml-lifecycle[{i}]"),
                format!(
                    "unknown lifecycle phase `{phase}`: expected one of {}",
                    LIFECYCLE_PHASES.join(", ")
                ),
            );
        }
    }
    let categories: Vec<(usize, &str)> = match node.get("category") {
        Some(Value::String(s)) => vec![(0, s.as_str())],
        _ => node.str_list(report, "category", true),
    };
    if categories.is_empty()
        && node
            .get("category")
            .is_some_and(|v| matches!(v, Value::Sequence(_)))
    {
        node.error(report, "category", "must name at least one category".into());
    }
    for (i, cat) in categories {
        if !MITIGATION_CATEGORIES.contains(&cat) {
            node.error(
                report,
                &format!("category[{i}]"),
                format!(
                    "unknown category `{cat}`: expected one of {}",
                    MITIGATION_CATEGORIES.join(", ")
                ),
            );
        }
    }

    let Some(items) = node.list(report, "techniques", true) else {
        return;
    };
    if items.is_empty() {
        node.warn(report, "techniques", "addresses no technique".into());
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let path = node.field_path(&format!("techniques[{i}]"));
        let Some(u) = Node::new(item, node.object.clone(), path, report) else {
            continue;
        };
        u.unknown_keys(report, &["id", "use"]);
        u.req_str(report, "use");
        let Some(tid) = u.req_str(report, "id") else {
            continue;
        };
        match catalog.kind_of(tid) {
            Some(AtlasRefKind::Technique | AtlasRefKind::SubTechnique) => {}
            Some(_) => u.error(report, "id", format!("`{tid}` is not a technique")),
            None => u.error(
                report,
                "id",
                format!("`{tid}` is not a technique of this file"),
            ),
        }
        if let Some(first) = seen.insert(tid, i) {
            u.warn(
                report,
                "id",
                format!("`{tid}` is listed twice (first at techniques[{first}])"),
            );
        }
    }
}
