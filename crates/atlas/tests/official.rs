//! The knowledge base, exports and validator against the official ATLAS 5.6.0 data.
//! Each test prints that it was skipped when the official file is not available.

mod common;

use std::collections::HashSet;

use aisec_atlas::export::{navigator, stix};
use aisec_atlas::kb::EMBEDDED_FACTS;
use aisec_atlas::validate::{validate_document_text, Level};
use aisec_atlas::views::{MatrixView, MitigationsFilter, MitigationsView, SearchView, ShowView};
use aisec_atlas::{embed, read_atlas_file, KnowledgeBase};

#[test]
fn embedded_facts_equal_what_the_generator_makes() {
    let Some(path) = common::official_atlas("embedded_facts_equal_what_the_generator_makes") else {
        return;
    };
    let atlas = read_atlas_file(&path).unwrap();
    let generated = embed::facts_json(&atlas);
    assert!(
        generated == EMBEDDED_FACTS,
        "crates/atlas/data/atlas-facts.json is stale: regenerate it with `cargo run -- atlas embed {} --out crates/atlas/data/atlas-facts.json`",
        path.display()
    );
}

#[test]
fn embedded_facts_carry_no_prose() {
    let kb = KnowledgeBase::embedded().unwrap();
    assert!(!kb.has_full_text());
    assert!(kb
        .mitigations
        .iter()
        .all(|m| m.description.is_none() && m.techniques.iter().all(|u| u.usage.is_none())));
    assert!(kb
        .case_studies
        .iter()
        .all(|c| c.summary.is_none() && c.procedure.iter().all(|s| s.description.is_none())));
    assert!(kb
        .case_studies
        .iter()
        .flat_map(|c| &c.references)
        .all(|r| r.title.is_none() && r.url.is_some()));
}

#[test]
fn embedded_and_full_knowledge_bases_hold_the_same_objects() {
    let embedded = KnowledgeBase::embedded().unwrap();
    assert_eq!(
        (
            embedded.tactics.len(),
            embedded.techniques.len(),
            embedded.mitigations.len(),
            embedded.case_studies.len()
        ),
        (16, 170, 35, 57)
    );
    assert_eq!(embedded.version, "5.6.0");
    let Some(path) =
        common::official_atlas("embedded_and_full_knowledge_bases_hold_the_same_objects")
    else {
        return;
    };
    let full = KnowledgeBase::from_path(&path).unwrap();
    assert!(full.has_full_text());
    let ids = |kb: &KnowledgeBase| -> Vec<String> {
        kb.tactics
            .iter()
            .map(|t| t.id.clone())
            .chain(kb.techniques.iter().map(|t| t.id.clone()))
            .chain(kb.mitigations.iter().map(|m| m.id.clone()))
            .chain(kb.case_studies.iter().map(|c| c.id.clone()))
            .collect()
    };
    assert_eq!(ids(&embedded), ids(&full));
}

#[test]
fn reverse_links_of_a_technique() {
    let kb = KnowledgeBase::embedded().unwrap();
    let view = serde_json::to_value(ShowView::new(&kb, "AML.T0051").unwrap()).unwrap();
    let mitigations: Vec<&str> = view["mitigations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        mitigations,
        [
            "AML.M0019",
            "AML.M0020",
            "AML.M0021",
            "AML.M0022",
            "AML.M0024",
            "AML.M0033"
        ]
    );
    let m20 = &view["mitigations"][1];
    assert_eq!(
        m20["phases"],
        serde_json::json!(["ML Model Engineering", "ML Model Evaluation", "Deployment"])
    );
    assert_eq!(view["tactics"][0]["id"], "AML.TA0005");
    assert_eq!(view["subtechniques"].as_array().unwrap().len(), 3);

    let sub = serde_json::to_value(ShowView::new(&kb, "t0043.003").unwrap()).unwrap();
    assert_eq!(sub["id"], "AML.T0043.003");
    assert_eq!(sub["parent"]["id"], "AML.T0043");
    let studies: Vec<&str> = sub["case_studies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(studies.contains(&"AML.CS0000"), "{studies:?}");
    // A sub-technique's tactics are its parent's.
    assert_eq!(sub["tactics"][0]["id"], "AML.TA0001");

    // The parent lists the studies of its sub-techniques too, marked with the one used:
    // one study names AML.T0043 itself, eleven more use its sub-techniques.
    let parent = serde_json::to_value(ShowView::new(&kb, "AML.T0043").unwrap()).unwrap();
    let studies = parent["case_studies"].as_array().unwrap();
    assert_eq!(studies.len(), 12, "{studies:?}");
    let by_id = |id: &str| studies.iter().find(|c| c["id"] == id).unwrap().clone();
    assert!(by_id("AML.CS0002").get("via").is_none());
    assert_eq!(
        by_id("AML.CS0000")["via"],
        serde_json::json!(["AML.T0043.003"])
    );
    let text = ShowView::new(&kb, "AML.T0043").unwrap().render_text();
    assert!(text.contains("Case studies (12)"), "{text}");
    assert!(text.contains("(via AML.T0043.003)"), "{text}");
}

#[test]
fn show_covers_every_kind_and_suggests_near_ids() {
    let kb = KnowledgeBase::embedded().unwrap();
    let tactic = serde_json::to_value(ShowView::new(&kb, "AML.TA0000").unwrap()).unwrap();
    assert_eq!(tactic["kind"], "tactic");
    assert!(tactic["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == "AML.T0040"));
    let mitigation = serde_json::to_value(ShowView::new(&kb, "AML.M0003").unwrap()).unwrap();
    assert_eq!(mitigation["kind"], "mitigation");
    assert_eq!(
        mitigation["lifecycle_phases"],
        serde_json::json!(["Data Preparation", "ML Model Engineering"])
    );
    let study = serde_json::to_value(ShowView::new(&kb, "AML.CS0000").unwrap()).unwrap();
    assert_eq!(study["kind"], "case-study");
    assert_eq!(study["procedure"].as_array().unwrap().len(), 6);
    assert_eq!(study["procedure"][3]["technique"]["id"], "AML.T0043.003");

    let err = ShowView::new(&kb, "AML.T0O51").unwrap_err().to_string();
    assert!(
        err.contains("unknown ATLAS ID `AML.T0O51`") && err.contains("AML.T0051"),
        "{err}"
    );
}

#[test]
fn typo_tolerant_search_finds_the_technique_first() {
    let embedded = KnowledgeBase::embedded().unwrap();
    let cases = [
        ("prompt injektion", "AML.T0051"),
        ("prompt injection", "AML.T0051"),
        ("jailbrake", "AML.T0054"),
        ("membership inference", "AML.T0024.000"),
        ("evade model", "AML.T0015"),
        ("T0043", "AML.T0043"),
        ("model hardening", "AML.M0003"),
    ];
    let mut kbs = vec![embedded];
    if let Some(path) =
        common::official_atlas("typo_tolerant_search_finds_the_technique_first (full text)")
    {
        kbs.push(KnowledgeBase::from_path(&path).unwrap());
    }
    for kb in &kbs {
        for (query, top) in cases {
            let view = SearchView::new(kb, query, 5);
            assert_eq!(
                view.results.first().map(|r| r.id.as_str()),
                Some(top),
                "query {query:?} (full text: {})",
                kb.has_full_text()
            );
        }
        assert!(SearchView::new(kb, "zzzqqq", 5).results.is_empty());
    }
}

#[test]
fn matrix_follows_atlas_order_and_the_maturity_slider() {
    let kb = KnowledgeBase::embedded().unwrap();
    let all = MatrixView::new(&kb, None);
    let names: Vec<&str> = all.tactics.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names.first(), Some(&"Reconnaissance"));
    assert_eq!(names.last(), Some(&"Impact"));
    assert_eq!(names.len(), 16);
    assert_eq!(all.technique_count, 101);
    assert_eq!(all.subtechnique_count, 69);
    let realized = MatrixView::new(&kb, Some(aisec_atlas::model::Maturity::Realized));
    let demonstrated = MatrixView::new(&kb, Some(aisec_atlas::model::Maturity::Demonstrated));
    assert!(
        realized.technique_count < demonstrated.technique_count
            && demonstrated.technique_count < all.technique_count
    );
    for column in &realized.tactics {
        for cell in &column.techniques {
            let own = cell.maturity == Some(aisec_atlas::model::Maturity::Realized);
            assert!(
                own || !cell.subtechniques.is_empty(),
                "{} should not pass the realized filter",
                cell.id
            );
        }
    }
    for width in [120, 80] {
        let text = all.render_text(width, aisec_atlas::views::SubtechniqueMode::Counted);
        for line in text.lines() {
            assert!(
                line.chars().count() <= width,
                "line wider than {width}: {line}"
            );
        }
        assert!(text.contains("T0051 LLM Prom"), "{text}");
    }
}

#[test]
fn mitigations_filter_by_phase_and_category() {
    let kb = KnowledgeBase::embedded().unwrap();
    let by = |phase: Option<&str>, category: Option<&str>| {
        MitigationsView::new(
            &kb,
            &MitigationsFilter {
                phase: phase.map(Into::into),
                category: category.map(Into::into),
            },
        )
    };
    assert_eq!(by(None, None).unwrap().mitigations.len(), 35);
    assert_eq!(by(Some("deployment"), None).unwrap().mitigations.len(), 24);
    assert_eq!(
        by(Some("Deployment"), Some("technical-ml"))
            .unwrap()
            .mitigations
            .len(),
        11
    );
    assert_eq!(by(None, Some("policy")).unwrap().mitigations.len(), 7);
    let err = by(Some("testing"), None).unwrap_err().to_string();
    assert!(
        err.contains("--phase") && err.contains("ML Model Evaluation"),
        "{err}"
    );
}

#[test]
fn validator_reports_only_the_real_problems_of_atlas_5_6_0() {
    let Some(path) =
        common::official_atlas("validator_reports_only_the_real_problems_of_atlas_5_6_0")
    else {
        return;
    };
    let report = validate_document_text(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let found: Vec<(Level, String, String)> = report
        .problems
        .iter()
        .map(|p| {
            (
                p.level,
                p.object.clone().unwrap_or_default(),
                p.path.clone(),
            )
        })
        .collect();
    // Each of these was checked by hand against ATLAS.yaml 5.6.0.
    let expected = [
        // modified_date 2025-10-27 precedes created_date 2025-10-31
        (
            Level::Warning,
            "AML.T0087",
            "matrices[0].techniques[129].modified_date",
        ),
        (
            Level::Warning,
            "AML.T0096",
            "matrices[0].techniques[140].modified_date",
        ),
        // reference with title ''
        (
            Level::Warning,
            "AML.T0096",
            "matrices[0].techniques[140].references[0].title",
        ),
        // AML.T0043.001 linked twice
        (
            Level::Warning,
            "AML.M0002",
            "matrices[0].mitigations[2].techniques[7].id",
        ),
        (
            Level::Warning,
            "AML.M0004",
            "matrices[0].mitigations[4].techniques[11].id",
        ),
        // a {id, use} technique link sits inside the ml-lifecycle list
        (
            Level::Error,
            "AML.M0018",
            "matrices[0].mitigations[18].ml-lifecycle[6]",
        ),
        (
            Level::Error,
            "AML.M0034",
            "matrices[0].mitigations[34].ml-lifecycle[4]",
        ),
        // dates more precise than their granularity
        (
            Level::Warning,
            "AML.CS0006",
            "case-studies[6].incident-date",
        ),
        // an incident without a reporter
        (Level::Error, "AML.CS0006", "case-studies[6].reporter"),
        (
            Level::Warning,
            "AML.CS0031",
            "case-studies[31].incident-date",
        ),
        (
            Level::Warning,
            "AML.CS0033",
            "case-studies[33].incident-date",
        ),
        (
            Level::Warning,
            "AML.CS0044",
            "case-studies[44].incident-date",
        ),
    ];
    let expected: Vec<(Level, String, String)> = expected
        .iter()
        .map(|(l, o, p)| (*l, o.to_string(), p.to_string()))
        .collect();
    assert_eq!(found, expected, "{:#?}", report.problems);
    assert_eq!(report.checked.techniques, 170);
}

#[test]
fn stix_bundle_ids_are_unique_deterministic_and_agree_with_official_ones() {
    let kb = KnowledgeBase::embedded().unwrap();
    let bundle = stix::bundle(&kb);
    assert_eq!(bundle, stix::bundle(&kb), "same data, same bundle");
    let objects = bundle["objects"].as_array().unwrap();
    let ids: Vec<&str> = objects.iter().map(|o| o["id"].as_str().unwrap()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "duplicate STIX IDs");
    // Values computed with Python's uuid.uuid5 and the official generator's naming.
    assert_eq!(bundle["id"], "bundle--605de3ac-53fd-5ac4-8e2a-5298846423cc");
    for expected in [
        "x-mitre-tactic--8d151547-7423-5bac-bc2d-a6fd02afba29",
        "attack-pattern--6ff098e9-2864-579e-bebb-a0f1c92ec772",
        "x-mitre-matrix--967c63ff-22bd-5ff8-aa59-1e1fca8dec78",
        "relationship--70c0f393-a662-55d0-8ce3-86c7255d1d30",
    ] {
        assert!(unique.contains(expected), "{expected} missing");
    }
    let count = |t: &str| objects.iter().filter(|o| o["type"] == t).count();
    assert_eq!(count("x-mitre-tactic"), 16);
    assert_eq!(count("attack-pattern"), 170);
    assert_eq!(count("course-of-action"), 35);
    assert_eq!(count("report"), 57);
    assert_eq!(count("x-mitre-matrix"), 1);
    assert_eq!(count("x-mitre-collection"), 1);
    assert_eq!(count("identity"), 1);
    let rels = |kind: &str| {
        objects
            .iter()
            .filter(|o| o["relationship_type"] == kind)
            .count()
    };
    assert_eq!(rels("subtechnique-of"), 69);
    assert_eq!(
        rels("mitigates"),
        244,
        "one per distinct mitigation-technique link"
    );
    for o in objects {
        assert_eq!(o["spec_version"], "2.1", "{}", o["id"]);
        for key in ["source_ref", "target_ref", "created_by_ref"] {
            if let Some(r) = o[key].as_str() {
                assert!(unique.contains(r), "{} refers to missing {r}", o["id"]);
            }
        }
        if o["type"] == "attack-pattern" {
            assert!(
                !o["kill_chain_phases"].as_array().unwrap().is_empty(),
                "{}",
                o["id"]
            );
        }
    }
    let collection = objects
        .iter()
        .find(|o| o["type"] == "x-mitre-collection")
        .unwrap();
    assert_eq!(
        collection["x_mitre_contents"].as_array().unwrap().len(),
        objects.len() - 2
    );
}

#[test]
fn navigator_layers() {
    let kb = KnowledgeBase::embedded().unwrap();
    let matrix = navigator::matrix_layer(&kb).unwrap();
    assert_eq!(matrix["versions"]["layer"], "4.5");
    assert_eq!(matrix["domain"], "atlas-atlas");
    // One entry per technique and tactic column it appears in.
    assert_eq!(matrix["techniques"].as_array().unwrap().len(), 185);

    let study = kb.case_study("AML.CS0000").unwrap();
    let layer = navigator::case_study_layer(&kb, study).unwrap();
    let entries = layer["techniques"].as_array().unwrap();
    let marked: Vec<(&str, &str)> = entries
        .iter()
        .filter(|e| e["color"].is_string())
        .map(|e| {
            (
                e["techniqueID"].as_str().unwrap(),
                e["tactic"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        marked,
        [
            ("AML.T0000.001", "reconnaissance"),
            ("AML.T0002.000", "resource-development"),
            ("AML.T0005", "ai-attack-staging"),
            ("AML.T0043.003", "ai-attack-staging"),
            ("AML.T0042", "ai-attack-staging"),
            ("AML.T0015", "defense-evasion"),
        ]
    );
    // Parents of marked sub-techniques are expanded so Navigator shows them.
    assert!(entries
        .iter()
        .any(|e| e["techniqueID"] == "AML.T0043" && e["showSubtechniques"] == true));
    assert_eq!(
        layer["metadata"][0]["value"],
        "https://atlas.mitre.org/studies/AML.CS0000"
    );

    let chosen =
        navigator::techniques_layer(&kb, &["AML.T0015".into(), "T0051".into()], None).unwrap();
    // AML.T0015 sits under three tactics; AML.T0051 under one.
    assert_eq!(chosen["techniques"].as_array().unwrap().len(), 4);
    let err = navigator::techniques_layer(&kb, &["AML.T9999".into()], None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("AML.T9999"), "{err}");
}
