#![allow(dead_code)]

mod official;
#[allow(unused_imports)] // not every suite that includes `common` reads the official file
pub use official::official_atlas;

/// A small, valid ATLAS document: two tactics, a technique with a sub-technique, a second
/// technique, a mitigation and a case study. Written as JSON, which is YAML too.
pub fn minimal_atlas() -> serde_json::Value {
    serde_json::json!({
        "id": "ATLAS",
        "name": "Test matrix",
        "version": "5.6.0",
        "matrices": [{
            "id": "ATLAS",
            "name": "ATLAS Matrix",
            "tactics": [
                {"id": "AML.TA0000", "object-type": "tactic", "name": "AI Model Access", "description": "d",
                 "created_date": "2022-01-24", "modified_date": "2025-04-09"},
                {"id": "AML.TA0007", "object-type": "tactic", "name": "Defense Evasion", "description": "d",
                 "ATT&CK-reference": {"id": "TA0005", "url": "https://attack.mitre.org/tactics/TA0005/"},
                 "created_date": "2022-01-24", "modified_date": "2025-04-09"}
            ],
            "techniques": [
                {"id": "AML.T0015", "object-type": "technique", "name": "Evade AI Model", "description": "d",
                 "tactics": ["AML.TA0007"], "maturity": "realized",
                 "created_date": "2021-05-13", "modified_date": "2025-04-09"},
                {"id": "AML.T0043", "object-type": "technique", "name": "Craft Adversarial Data", "description": "d",
                 "tactics": ["AML.TA0007"], "maturity": "demonstrated",
                 "created_date": "2021-05-13", "modified_date": "2025-04-09"},
                {"id": "AML.T0043.000", "object-type": "technique", "name": "White-Box Optimization", "description": "d",
                 "subtechnique-of": "AML.T0043", "maturity": "demonstrated",
                 "created_date": "2021-05-13", "modified_date": "2025-04-09"},
                {"id": "AML.T0040", "object-type": "technique", "name": "AI Model Inference API Access", "description": "d",
                 "tactics": ["AML.TA0000"], "maturity": "realized",
                 "created_date": "2021-05-13", "modified_date": "2025-04-09"}
            ],
            "mitigations": [
                {"id": "AML.M0003", "object-type": "mitigation", "name": "Model Hardening", "description": "d",
                 "techniques": [{"id": "AML.T0015", "use": "u"}, {"id": "AML.T0043.000", "use": "u"}],
                 "ml-lifecycle": ["Data Preparation", "ML Model Engineering"], "category": ["Technical - ML"],
                 "created_date": "2023-04-12", "modified_date": "2025-12-23"}
            ]
        }],
        "case-studies": [
            {"id": "AML.CS0000", "object-type": "case-study", "name": "Study", "summary": "s",
             "incident-date": "2020-01-01", "incident-date-granularity": "YEAR",
             "procedure": [
                {"tactic": "AML.TA0000", "technique": "AML.T0040", "description": "queried"},
                {"tactic": "AML.TA0007", "technique": "AML.T0043.000", "description": "crafted"}
             ],
             "target": "t", "actor": "a", "case-study-type": "incident", "reporter": "r",
             "references": [{"title": "paper", "url": "https://arxiv.org/abs/1706.06083"}]}
        ]
    })
}
