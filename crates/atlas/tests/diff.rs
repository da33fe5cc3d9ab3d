//! `atlas diff` on the official data against an edited copy of itself: every kind of change
//! made by hand is found, and nothing else; the embedded facts equal the file they came from.

mod common;

use aisec_atlas::diff::diff;
use aisec_atlas::KnowledgeBase;
use serde_yaml_ng::Value;

fn find<'a>(list: &'a mut Value, id: &str) -> &'a mut Value {
    list.as_sequence_mut()
        .unwrap()
        .iter_mut()
        .find(|v| v["id"].as_str() == Some(id))
        .unwrap_or_else(|| panic!("{id} not in the file"))
}

#[test]
fn the_embedded_facts_do_not_differ_from_their_source() {
    let Some(path) = common::official_atlas("the_embedded_facts_do_not_differ_from_their_source")
    else {
        return;
    };
    let d = diff(
        &KnowledgeBase::embedded().unwrap(),
        &KnowledgeBase::from_path(&path).unwrap(),
    );
    assert!(d.is_empty(), "{}", aisec_atlas::diff::text(&d));
}

#[test]
fn every_kind_of_change_is_found_and_nothing_else() {
    let Some(path) = common::official_atlas("every_kind_of_change_is_found_and_nothing_else")
    else {
        return;
    };
    let text = std::fs::read_to_string(&path).unwrap();
    let mut doc: Value = serde_yaml_ng::from_str(&text).unwrap();
    // A sub-technique nothing else refers to, to remove without dangling links.
    let lonely = {
        let techniques = doc["matrices"][0]["techniques"].as_sequence().unwrap();
        techniques
            .iter()
            .filter_map(|t| t["id"].as_str())
            .filter(|id| id.matches('.').count() == 2)
            .find(|id| text.matches(id).count() == 1)
            .expect("a sub-technique without references")
            .to_string()
    };
    let dropped = {
        let m = &mut doc["matrices"][0];
        find(&mut m["tactics"], "AML.TA0011")["name"] = Value::from("Impact (renamed)");
        let techniques = &mut m["techniques"];
        find(techniques, "AML.T0015")["name"] = Value::from("Evade AI Model (renamed)");
        find(techniques, "AML.T0043.004")["subtechnique-of"] = Value::from("AML.T0018");
        let t = find(techniques, "AML.T0029");
        t["tactics"] = serde_yaml_ng::from_str("[AML.TA0011, AML.TA0007]").unwrap();
        find(techniques, "AML.T0056")["maturity"] = Value::from("realized");
        let seq = techniques.as_sequence_mut().unwrap();
        seq.retain(|t| t["id"].as_str() != Some(lonely.as_str()));
        seq.push(
            serde_yaml_ng::from_str(
                "{id: AML.T9999, name: A new technique, tactics: [AML.TA0011], maturity: feasible}",
            )
            .unwrap(),
        );
        let mitigation = find(&mut m["mitigations"], "AML.M0002");
        let links = mitigation["techniques"].as_sequence_mut().unwrap();
        let dropped = links.remove(0)["id"].as_str().unwrap().to_string();
        mitigation["ml-lifecycle"] = serde_yaml_ng::from_str("[Deployment]").unwrap();
        dropped
    };
    let removed_study = {
        let studies = doc["case-studies"].as_sequence_mut().unwrap();
        let s = studies.pop().unwrap();
        s["id"].as_str().unwrap().to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    let edited = dir.path().join("ATLAS.yaml");
    std::fs::write(&edited, serde_yaml_ng::to_string(&doc).unwrap()).unwrap();
    let d = diff(
        &KnowledgeBase::from_path(&path).unwrap(),
        &KnowledgeBase::from_path(&edited).unwrap(),
    );
    let report = aisec_atlas::diff::text(&d);

    assert_eq!(d.tactics_renamed.len(), 1, "{report}");
    assert_eq!(d.tactics_renamed[0].new, "Impact (renamed)");
    assert_eq!(
        d.techniques_renamed
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        ["AML.T0015"],
        "{report}"
    );
    assert_eq!(d.techniques_reparented.len(), 1, "{report}");
    assert_eq!(
        d.techniques_reparented[0].old_parent.as_deref(),
        Some("AML.T0043")
    );
    assert_eq!(
        d.techniques_reparented[0].new_parent.as_deref(),
        Some("AML.T0018")
    );
    assert_eq!(d.technique_tactics_changed.len(), 1, "{report}");
    assert_eq!(d.technique_tactics_changed[0].added, ["AML.TA0007"]);
    assert_eq!(
        d.technique_maturity_changed
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>(),
        ["AML.T0056"],
        "{report}"
    );
    assert_eq!(
        d.techniques_added
            .iter()
            .map(|n| n.id.as_str())
            .collect::<Vec<_>>(),
        ["AML.T9999"]
    );
    assert_eq!(
        d.techniques_removed
            .iter()
            .map(|n| n.id.as_str())
            .collect::<Vec<_>>(),
        [lonely.as_str()]
    );
    assert_eq!(d.mitigation_links_changed.len(), 1, "{report}");
    assert_eq!(d.mitigation_links_changed[0].removed, [dropped]);
    assert_eq!(d.mitigation_phases_changed.len(), 1, "{report}");
    assert_eq!(
        d.case_studies_removed
            .iter()
            .map(|n| n.id.as_str())
            .collect::<Vec<_>>(),
        [removed_study.as_str()]
    );
    assert_eq!(d.len(), 10, "{report}");
}
