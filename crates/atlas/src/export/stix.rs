//! STIX 2.1 bundles of the knowledge base.
//!
//! Object IDs are deterministic: UUIDv5 in the namespace the official ATLAS bundle uses
//! (the bytes of "atlas.mitre.org."), over the ATLAS ID, so that tactic, technique,
//! mitigation, matrix, identity, collection and sub-technique relationship IDs agree with
//! the official `stix-atlas.json`. `mitigates` relationships are named by mitigation and
//! technique (`M-mitigates-T`): the official generator hashes the "use" text instead, which
//! gives two relationships the same ID whenever a mitigation uses one sentence for two
//! techniques, as AML.M0000 does.

use std::collections::HashSet;

use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::tactic_shortname;
use crate::kb::KnowledgeBase;
use crate::model::Reference;

/// The namespace of ATLAS STIX IDs: the ASCII bytes of "atlas.mitre.org.".
pub const ATLAS_NAMESPACE: Uuid = Uuid::from_bytes(*b"atlas.mitre.org.");
const SOURCE_NAME: &str = "mitre-atlas";
const ATLAS_URL: &str = "https://atlas.mitre.org";

pub fn stix_id(kind: &str, name: &str) -> String {
    format!(
        "{kind}--{}",
        Uuid::new_v5(&ATLAS_NAMESPACE, name.as_bytes())
    )
}

fn timestamp(date: Option<&str>, fallback: &str) -> String {
    match date.filter(|d| crate::date::Date::parse(d).is_ok()) {
        Some(d) => format!("{d}T00:00:00.000Z"),
        None => fallback.to_string(),
    }
}

fn external_references(
    route: &str,
    id: &str,
    attack: Option<(&str, &str)>,
    refs: &[Reference],
) -> Vec<Value> {
    let mut out = vec![json!({
        "source_name": SOURCE_NAME,
        "url": format!("{ATLAS_URL}/{route}/{id}"),
        "external_id": id,
    })];
    if let Some((attack_id, url)) = attack {
        out.push(json!({ "source_name": "mitre-attack", "url": url, "external_id": attack_id }));
    }
    for r in refs {
        let mut entry = Map::new();
        entry.insert(
            "source_name".into(),
            json!(r
                .title
                .as_deref()
                .filter(|t| !t.is_empty())
                .unwrap_or("reference")),
        );
        if let Some(url) = &r.url {
            entry.insert("url".into(), json!(url));
        }
        out.push(Value::Object(entry));
    }
    out
}

fn insert_description(obj: &mut Value, text: Option<&str>) {
    if let Some(t) = text {
        obj["description"] = json!(t);
    }
}

/// The whole knowledge base as one STIX 2.1 bundle.
pub fn bundle(kb: &KnowledgeBase) -> Value {
    // A deterministic creation time for the identity and collection: the newest date in
    // the data, so that the same data always gives the same bundle.
    let newest = kb
        .tactics
        .iter()
        .filter_map(|t| t.modified_date.as_deref())
        .chain(
            kb.techniques
                .iter()
                .filter_map(|t| t.modified_date.as_deref()),
        )
        .chain(
            kb.mitigations
                .iter()
                .filter_map(|m| m.modified_date.as_deref()),
        )
        .filter(|d| crate::date::Date::parse(d).is_ok())
        .max()
        .map(|d| format!("{d}T00:00:00.000Z"))
        .unwrap_or_else(|| "2021-01-01T00:00:00.000Z".to_string());

    let identity_id = stix_id("identity", "ATLAS-identity");
    let identity = json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": identity_id,
        "created": newest,
        "modified": newest,
        "name": "MITRE ATLAS",
        "description": ATLAS_URL,
        "identity_class": "organization",
    });

    let mut objects: Vec<Value> = Vec::new();
    let common = |kind: &str, id: &str, created: &str, modified: &str, name: &str| {
        json!({
            "type": kind,
            "spec_version": "2.1",
            "id": id,
            "created": created,
            "modified": modified,
            "created_by_ref": identity_id,
            "name": name,
            "x_mitre_domains": ["atlas-atlas"],
        })
    };

    for t in &kb.tactics {
        let created = timestamp(t.created_date.as_deref(), &newest);
        let modified = timestamp(t.modified_date.as_deref(), &created);
        let mut obj = common(
            "x-mitre-tactic",
            &stix_id("x-mitre-tactic", &t.id),
            &created,
            &modified,
            &t.name,
        );
        insert_description(&mut obj, t.description.as_deref());
        obj["x_mitre_shortname"] = json!(tactic_shortname(&t.name));
        let attack = t
            .attack_reference
            .as_ref()
            .map(|r| (r.id.as_str(), r.url.as_str()));
        obj["external_references"] =
            json!(external_references("tactics", &t.id, attack, &t.references));
        objects.push(obj);
    }

    let mut relationships: Vec<Value> = Vec::new();
    for t in &kb.techniques {
        let created = timestamp(t.created_date.as_deref(), &newest);
        let modified = timestamp(t.modified_date.as_deref(), &created);
        let own_id = stix_id("attack-pattern", &t.id);
        let mut obj = common("attack-pattern", &own_id, &created, &modified, &t.name);
        insert_description(&mut obj, t.description.as_deref());
        let phases: Vec<Value> = kb
            .effective_tactics(t)
            .iter()
            .filter_map(|id| kb.tactic(id))
            .map(|tac| json!({ "kill_chain_name": SOURCE_NAME, "phase_name": tactic_shortname(&tac.name) }))
            .collect();
        obj["kill_chain_phases"] = json!(phases);
        let attack = t
            .attack_reference
            .as_ref()
            .map(|r| (r.id.as_str(), r.url.as_str()));
        obj["external_references"] = json!(external_references(
            "techniques",
            &t.id,
            attack,
            &t.references
        ));
        obj["x_mitre_platforms"] = json!(["ATLAS"]);
        obj["x_mitre_is_subtechnique"] = json!(t.is_subtechnique());
        if let Some(m) = kb.effective_maturity(t) {
            obj["x_mitre_maturity"] = json!(m.as_str());
        }
        objects.push(obj);
        if let Some(parent) = t
            .subtechnique_of
            .as_deref()
            .filter(|p| kb.technique(p).is_some())
        {
            let parent_id = stix_id("attack-pattern", parent);
            relationships.push(json!({
                "type": "relationship",
                "spec_version": "2.1",
                "id": stix_id("relationship", &format!("{}-subtechnique-of-{parent_id}", t.id)),
                "created": created,
                "modified": modified,
                "created_by_ref": identity_id,
                "relationship_type": "subtechnique-of",
                "source_ref": own_id,
                "target_ref": parent_id,
            }));
        }
    }

    for m in &kb.mitigations {
        let created = timestamp(m.created_date.as_deref(), &newest);
        let modified = timestamp(m.modified_date.as_deref(), &created);
        let own_id = stix_id("course-of-action", &m.id);
        let mut obj = common("course-of-action", &own_id, &created, &modified, &m.name);
        insert_description(&mut obj, m.description.as_deref());
        let attack = m
            .attack_reference
            .as_ref()
            .map(|r| (r.id.as_str(), r.url.as_str()));
        obj["external_references"] = json!(external_references(
            "mitigations",
            &m.id,
            attack,
            &m.references
        ));
        obj["x_atlas_ml_lifecycle"] = json!(m.ml_lifecycle);
        obj["x_atlas_category"] = json!(m.category);
        objects.push(obj);
        let mut linked = HashSet::new();
        for u in &m.techniques {
            if kb.technique(&u.id).is_none() || !linked.insert(u.id.as_str()) {
                continue;
            }
            let mut rel = json!({
                "type": "relationship",
                "spec_version": "2.1",
                "id": stix_id("relationship", &format!("{}-mitigates-{}", m.id, u.id)),
                "created": created,
                "modified": modified,
                "created_by_ref": identity_id,
                "relationship_type": "mitigates",
                "source_ref": own_id,
                "target_ref": stix_id("attack-pattern", &u.id),
            });
            insert_description(&mut rel, u.usage.as_deref());
            relationships.push(rel);
        }
    }
    objects.extend(relationships);

    for c in &kb.case_studies {
        let when = timestamp(Some(&c.incident_date), &newest);
        let mut refs: Vec<String> = Vec::new();
        let mut procedure = Vec::new();
        for step in &c.procedure {
            let tactic_ref = kb
                .tactic(&step.tactic)
                .map(|t| stix_id("x-mitre-tactic", &t.id));
            let technique_ref = kb
                .technique(&step.technique)
                .map(|t| stix_id("attack-pattern", &t.id));
            let mut s = json!({ "tactic": step.tactic, "technique": step.technique });
            for (key, r) in [
                ("tactic_ref", &tactic_ref),
                ("technique_ref", &technique_ref),
            ] {
                if let Some(r) = r {
                    s[key] = json!(r);
                    if !refs.contains(r) {
                        refs.push(r.clone());
                    }
                }
            }
            insert_description(&mut s, step.description.as_deref());
            procedure.push(s);
        }
        if refs.is_empty() {
            // STIX reports must reference something; the case study itself is named instead.
            refs.push(identity_id.clone());
        }
        let mut obj = common("report", &stix_id("report", &c.id), &when, &when, &c.name);
        insert_description(&mut obj, c.summary.as_deref());
        obj["report_types"] = json!(["attack-pattern"]);
        obj["published"] = json!(when);
        obj["object_refs"] = json!(refs);
        obj["external_references"] =
            json!(external_references("studies", &c.id, None, &c.references));
        obj["x_atlas_case_study_type"] = json!(c.case_study_type.map(|t| t.as_str()));
        obj["x_atlas_incident_date_granularity"] = json!(c.incident_date_granularity.as_str());
        for (key, v) in [
            ("x_atlas_reporter", &c.reporter),
            ("x_atlas_target", &c.target),
            ("x_atlas_actor", &c.actor),
        ] {
            if let Some(v) = v {
                obj[key] = json!(v);
            }
        }
        obj["x_atlas_procedure"] = json!(procedure);
        objects.push(obj);
    }

    for matrix in &kb.matrices {
        let tactic_refs: Vec<String> = matrix
            .tactics
            .iter()
            .map(|&i| stix_id("x-mitre-tactic", &kb.tactics[i].id))
            .collect();
        let mut obj = common(
            "x-mitre-matrix",
            &stix_id("x-mitre-matrix", &format!("{}-matrix", matrix.id)),
            &newest,
            &newest,
            &matrix.name,
        );
        obj["description"] = json!(format!("{} matrix for {}", kb.id, matrix.name));
        obj["tactic_refs"] = json!(tactic_refs);
        obj["external_references"] =
            json!([{ "source_name": SOURCE_NAME, "url": ATLAS_URL, "external_id": SOURCE_NAME }]);
        objects.push(obj);
    }

    let contents: Vec<Value> = objects
        .iter()
        .map(|o| json!({ "object_ref": o["id"], "object_modified": o["modified"] }))
        .collect();
    let collection = json!({
        "type": "x-mitre-collection",
        "spec_version": "2.1",
        "id": stix_id("x-mitre-collection", "ATLAS-collection"),
        "created": newest,
        "modified": newest,
        "created_by_ref": identity_id,
        "name": kb.id,
        "description": kb.name,
        "x_mitre_version": kb.version,
        "x_mitre_attack_spec_version": "2.1.0",
        "object_marking_refs": [],
        "x_mitre_contents": contents,
    });

    let mut all = vec![identity];
    all.extend(objects);
    all.push(collection);
    json!({
        "type": "bundle",
        "id": stix_id("bundle", "ATLAS-bundle"),
        "objects": all,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_is_atlas_mitre_org_bytes() {
        assert_eq!(
            ATLAS_NAMESPACE.to_string(),
            "61746c61-732e-6d69-7472-652e6f72672e"
        );
    }

    #[test]
    fn ids_are_uuid5_and_stable() {
        let a = stix_id("attack-pattern", "AML.T0051");
        assert_eq!(a, stix_id("attack-pattern", "AML.T0051"));
        assert_ne!(a, stix_id("attack-pattern", "AML.T0051.000"));
        let uuid = Uuid::parse_str(a.trim_start_matches("attack-pattern--")).unwrap();
        assert_eq!(uuid.get_version_num(), 5);
    }
}
