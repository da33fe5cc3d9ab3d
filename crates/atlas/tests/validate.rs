//! The strict validator against small documents that the tests break on purpose.

mod common;

use aisec_atlas::validate::{validate_document_text, Level, Report};
use serde_json::{json, Value};

fn validate(doc: &Value) -> Report {
    validate_document_text(&serde_json::to_string_pretty(doc).unwrap()).unwrap()
}

/// The problems as `object path` strings, for compact assertions.
fn located(report: &Report) -> Vec<String> {
    report
        .problems
        .iter()
        .map(|p| format!("{} {}", p.object.as_deref().unwrap_or("-"), p.path))
        .collect()
}

fn assert_single_error(report: &Report, object: &str, path: &str, message_part: &str) {
    let errors: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.level == Level::Error)
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "expected one error, got {:#?}",
        report.problems
    );
    let e = errors[0];
    assert_eq!(e.object.as_deref(), Some(object), "{e:?}");
    assert_eq!(e.path, path, "{e:?}");
    assert!(
        e.message.contains(message_part),
        "{e:?} should mention {message_part:?}"
    );
}

#[test]
fn minimal_document_is_clean() {
    let report = validate(&common::minimal_atlas());
    assert!(report.is_clean(), "{:#?}", report.problems);
    assert_eq!(report.checked.techniques, 4);
    assert_eq!(report.checked.case_studies, 1);
}

#[test]
fn dangling_references_are_named_with_their_path() {
    let mut doc = common::minimal_atlas();
    doc["matrices"][0]["techniques"][0]["tactics"] = json!(["AML.TA0099"]);
    assert_single_error(
        &validate(&doc),
        "AML.T0015",
        "matrices[0].techniques[0].tactics[0]",
        "AML.TA0099",
    );

    let mut doc = common::minimal_atlas();
    doc["matrices"][0]["mitigations"][0]["techniques"][1]["id"] = json!("AML.T0999");
    assert_single_error(
        &validate(&doc),
        "AML.M0003",
        "matrices[0].mitigations[0].techniques[1].id",
        "AML.T0999",
    );

    let mut doc = common::minimal_atlas();
    doc["case-studies"][0]["procedure"][0]["technique"] = json!("AML.T0041");
    assert_single_error(
        &validate(&doc),
        "AML.CS0000",
        "case-studies[0].procedure[0].technique",
        "AML.T0041",
    );
}

#[test]
fn subtechnique_parent_must_exist_and_match_its_id() {
    let mut doc = common::minimal_atlas();
    doc["matrices"][0]["techniques"][2]["subtechnique-of"] = json!("AML.T0015");
    assert_single_error(
        &validate(&doc),
        "AML.T0043.000",
        "matrices[0].techniques[2].subtechnique-of",
        "AML.T0043",
    );

    let mut doc = common::minimal_atlas();
    doc["matrices"][0]["techniques"][2]
        .as_object_mut()
        .unwrap()
        .remove("subtechnique-of");
    assert_single_error(
        &validate(&doc),
        "AML.T0043.000",
        "matrices[0].techniques[2].subtechnique-of",
        "parent",
    );
}

#[test]
fn step_tactic_must_be_one_of_the_techniques_tactics() {
    let mut doc = common::minimal_atlas();
    // AML.T0043.000 inherits AML.TA0007 from its parent; AML.TA0000 is not among them.
    doc["case-studies"][0]["procedure"][1]["tactic"] = json!("AML.TA0000");
    assert_single_error(
        &validate(&doc),
        "AML.CS0000",
        "case-studies[0].procedure[1].tactic",
        "not a tactic of `AML.T0043.000`",
    );
}

#[test]
fn bad_enums_are_errors() {
    let cases: Vec<(Vec<&str>, Value, &str, &str)> = vec![
        (
            vec!["matrices", "0", "techniques", "0", "maturity"],
            json!("proven"),
            "AML.T0015",
            "matrices[0].techniques[0].maturity",
        ),
        (
            vec!["matrices", "0", "mitigations", "0", "ml-lifecycle"],
            json!(["Deploy"]),
            "AML.M0003",
            "matrices[0].mitigations[0].ml-lifecycle[0]",
        ),
        (
            vec!["matrices", "0", "mitigations", "0", "category"],
            json!(["Technical"]),
            "AML.M0003",
            "matrices[0].mitigations[0].category[0]",
        ),
        (
            vec!["case-studies", "0", "case-study-type"],
            json!("drill"),
            "AML.CS0000",
            "case-studies[0].case-study-type",
        ),
        (
            vec!["case-studies", "0", "incident-date-granularity"],
            json!("WEEK"),
            "AML.CS0000",
            "case-studies[0].incident-date-granularity",
        ),
        (
            vec!["matrices", "0", "tactics", "1", "object-type"],
            json!("technique"),
            "AML.TA0007",
            "matrices[0].tactics[1].object-type",
        ),
    ];
    for (pointer, value, object, path) in cases {
        let mut doc = common::minimal_atlas();
        let mut slot = &mut doc;
        for key in &pointer {
            slot = match key.parse::<usize>() {
                Ok(i) => &mut slot[i],
                Err(_) => &mut slot[*key],
            };
        }
        *slot = value;
        assert_single_error(&validate(&doc), object, path, "");
    }
}

#[test]
fn duplicate_ids_point_at_the_first_use() {
    let mut doc = common::minimal_atlas();
    let copy = doc["matrices"][0]["techniques"][0].clone();
    doc["matrices"][0]["techniques"]
        .as_array_mut()
        .unwrap()
        .push(copy);
    assert_single_error(
        &validate(&doc),
        "AML.T0015",
        "matrices[0].techniques[4].id",
        "matrices[0].techniques[0]",
    );
}

#[test]
fn id_grammar_and_kind_are_checked() {
    let mut doc = common::minimal_atlas();
    doc["matrices"][0]["techniques"][3]["id"] = json!("AML.T40");
    let report = validate(&doc);
    assert!(
        located(&report).contains(&"AML.T40 matrices[0].techniques[3].id".to_string()),
        "{:#?}",
        report.problems
    );

    let mut doc = common::minimal_atlas();
    doc["matrices"][0]["mitigations"][0]["id"] = json!("AML.T0500");
    let report = validate(&doc);
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.message.contains("mitigation ID")),
        "{:#?}",
        report.problems
    );
}

#[test]
fn dates_are_checked_against_the_calendar_and_granularity() {
    let mut doc = common::minimal_atlas();
    doc["matrices"][0]["tactics"][0]["created_date"] = json!("2022-02-30");
    assert_single_error(
        &validate(&doc),
        "AML.TA0000",
        "matrices[0].tactics[0].created_date",
        "2022-02-30",
    );

    let mut doc = common::minimal_atlas();
    doc["case-studies"][0]["incident-date"] = json!("2020-06-15");
    let report = validate(&doc);
    assert_eq!(report.errors(), 0);
    assert_eq!(
        located(&report),
        vec!["AML.CS0000 case-studies[0].incident-date"]
    );
    assert!(report.problems[0].message.contains("granularity YEAR"));
}

#[test]
fn incidents_need_a_reporter_exercises_do_not() {
    let mut doc = common::minimal_atlas();
    doc["case-studies"][0]
        .as_object_mut()
        .unwrap()
        .remove("reporter");
    assert_single_error(
        &validate(&doc),
        "AML.CS0000",
        "case-studies[0].reporter",
        "incident",
    );
    doc["case-studies"][0]["case-study-type"] = json!("exercise");
    assert!(validate(&doc).is_clean());
}

#[test]
fn missing_fields_and_wrong_types_are_reported_together() {
    let mut doc = common::minimal_atlas();
    let t = doc["matrices"][0]["techniques"][0].as_object_mut().unwrap();
    t.remove("name");
    t.insert("tactics".into(), json!("AML.TA0007"));
    let report = validate(&doc);
    let paths = located(&report);
    assert!(
        paths.contains(&"AML.T0015 matrices[0].techniques[0].name".to_string()),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"AML.T0015 matrices[0].techniques[0].tactics".to_string()),
        "{paths:?}"
    );
}

#[test]
fn unknown_fields_are_warnings() {
    let mut doc = common::minimal_atlas();
    doc["matrices"][0]["techniques"][0]["maturty"] = json!("realized");
    let report = validate(&doc);
    assert_eq!(report.errors(), 0);
    assert_eq!(report.warnings(), 1);
    assert!(report.problems[0].message.contains("maturty"));
}

#[test]
fn unparsable_and_empty_text_is_an_error_not_a_report() {
    assert!(validate_document_text("").is_err());
    assert!(validate_document_text("   \n").is_err());
    let err = validate_document_text("id: [unclosed").unwrap_err();
    assert!(err.contains("YAML"), "{err}");
    // YAML that parses but is not a mapping is a problem at the root.
    let report = validate_document_text("- just\n- a list\n").unwrap();
    assert_eq!(report.errors(), 1);
}

#[test]
fn v6_style_calendar_versions_and_uuids_are_accepted() {
    let mut doc = common::minimal_atlas();
    doc["version"] = json!("2026.03");
    doc["matrices"][0]["techniques"][0]["uuid"] = json!("6ff098e9-2864-579e-bebb-a0f1c92ec772");
    doc["case-studies"][0]["uuid"] = json!("70c0f393-a662-55d0-8ce3-86c7255d1d30");
    assert!(validate(&doc).is_clean(), "{:#?}", validate(&doc).problems);
    let atlas = aisec_atlas::parse_atlas(&serde_json::to_string(&doc).unwrap()).unwrap();
    assert_eq!(atlas.version, "2026.03");
    assert_eq!(
        atlas.matrices[0].techniques[0].uuid.as_deref(),
        Some("6ff098e9-2864-579e-bebb-a0f1c92ec772")
    );
    // A numeric version (as some releases wrote it) loads too.
    doc["version"] = json!(4);
    assert_eq!(
        aisec_atlas::parse_atlas(&serde_json::to_string(&doc).unwrap())
            .unwrap()
            .version,
        "4"
    );

    doc["matrices"][0]["tactics"][0]["uuid"] = json!("not-a-uuid");
    assert_single_error(
        &validate(&doc),
        "AML.TA0000",
        "matrices[0].tactics[0].uuid",
        "not a UUID",
    );
}
