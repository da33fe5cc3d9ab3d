use super::*;
use serde_json::json;

fn run(name: &str, target: &str, findings: serde_json::Value) -> serde_json::Value {
    json!({
        "kind": "attack", "name": name, "atlas": ["AML.T0043.000", "AML.TA0005"],
        "target": target, "config": {}, "seed": 0, "metrics": {}, "findings": findings,
    })
}

fn finding(severity: &str, atlas: &[&str]) -> serde_json::Value {
    json!({"title": "t", "severity": severity, "atlas": atlas, "mitigations": [], "evidence": {}})
}

#[test]
fn a_run_is_stored_as_written_and_indexed_by_its_techniques() {
    let mut store = Store::in_memory().unwrap();
    let mut r = run(
        "evasion.pgd",
        "digits CNN",
        json!([finding("high", &["AML.T0043.000", "AML.T0015"])]),
    );
    r["defended"] = run(
        "evasion.pgd",
        "digits CNN behind top1",
        json!([finding("medium", &["AML.T0043.001"])]),
    );
    let id = store.add(&r).unwrap();
    let stored = store.get(id).unwrap().unwrap();
    assert_eq!(stored.report, r);
    assert_eq!(stored.summary.family, "evasion");
    assert_eq!(stored.summary.findings, 2);
    assert_eq!(stored.summary.worst_severity, Some(Severity::High));
    // Tactic IDs are not techniques; the defended run's technique is the run's too.
    assert_eq!(
        stored.summary.techniques,
        ["AML.T0015", "AML.T0043.000", "AML.T0043.001"]
    );
    assert!(store.get(id + 1).unwrap().is_none());
}

#[test]
fn runs_filter_by_target_family_technique_and_date() {
    let mut store = Store::in_memory().unwrap();
    let a = store
        .add(&run(
            "evasion.fgsm",
            "a",
            json!([finding("low", &["AML.T0043.000"])]),
        ))
        .unwrap();
    let b = store
        .add(&run(
            "extract.knockoff",
            "b",
            json!([finding("high", &["AML.T0024.002"])]),
        ))
        .unwrap();
    let ids = |f: RunFilter| -> Vec<i64> { store.list(&f).unwrap().iter().map(|r| r.id).collect() };
    assert_eq!(ids(RunFilter::default()), [b, a]);
    assert_eq!(
        ids(RunFilter {
            target: Some("a".into()),
            ..RunFilter::default()
        }),
        [a]
    );
    assert_eq!(
        ids(RunFilter {
            family: Some("extract".into()),
            ..RunFilter::default()
        }),
        [b]
    );
    // A parent technique finds its sub-techniques; a prefix of another ID does not.
    assert_eq!(
        ids(RunFilter {
            technique: Some("AML.T0024".into()),
            ..RunFilter::default()
        }),
        [b]
    );
    assert!(ids(RunFilter {
        technique: Some("AML.T002".into()),
        ..RunFilter::default()
    })
    .is_empty());
    // `%` and `_` are characters, not wildcards.
    for pattern in ["%", "AML.T00__", "AML.T0024%"] {
        assert!(
            ids(RunFilter {
                technique: Some(pattern.into()),
                ..RunFilter::default()
            })
            .is_empty(),
            "{pattern}"
        );
    }
    assert_eq!(
        ids(RunFilter {
            limit: 1,
            offset: 1,
            ..RunFilter::default()
        }),
        [a]
    );
    // Counts past SQLite's i64 read as "all" and "past the end", not as a type error.
    assert_eq!(
        ids(RunFilter {
            limit: usize::MAX,
            ..RunFilter::default()
        }),
        [b, a]
    );
    assert!(ids(RunFilter {
        offset: usize::MAX,
        ..RunFilter::default()
    })
    .is_empty());
    assert_eq!(
        ids(RunFilter {
            since: Some("2000-01-01".into()),
            until: Some("9999-01-01".into()),
            limit: 1,
            ..RunFilter::default()
        }),
        [b]
    );
    assert!(ids(RunFilter {
        until: Some("2000-01-01".into()),
        ..RunFilter::default()
    })
    .is_empty());
}

#[test]
fn the_heat_map_counts_runs_findings_and_the_worst_severity() {
    let mut store = Store::in_memory().unwrap();
    store
        .add(&run(
            "evasion.fgsm",
            "a",
            json!([finding("low", &["AML.T0043.000"])]),
        ))
        .unwrap();
    store
        .add(&run(
            "evasion.pgd",
            "a",
            json!([
                finding("critical", &["AML.T0043.000"]),
                finding("info", &["AML.T0043.000"])
            ]),
        ))
        .unwrap();
    store.add(&run("evasion.pgd", "b", json!([]))).unwrap();
    let heat = store.heat().unwrap();
    assert_eq!(heat.len(), 1, "{heat:?}");
    let cell = &heat[0];
    assert_eq!(cell.technique, "AML.T0043.000");
    assert_eq!((cell.runs, cell.findings), (3, 3));
    assert_eq!(cell.worst_severity, Some(Severity::Critical));
}

#[test]
fn what_is_not_a_run_object_is_refused_naming_the_field() {
    let mut store = Store::in_memory().unwrap();
    let mut err = |v: serde_json::Value| store_err(&mut store, v);
    assert!(err(json!([1, 2])).contains("not a JSON object"));
    assert!(
        err(json!({"kind": "attack", "name": 3, "target": "t", "findings": []})).contains("`name`")
    );
    assert!(
        err(json!({"kind": "attack", "name": "n", "target": "t", "metrics": {}}))
            .contains("`findings`")
    );
    assert!(err(run(
        "evasion.pgd",
        "t",
        json!([{"title": "t", "severity": "catastrophic"}])
    ))
    .contains("findings[0].severity"));
    // Each field the pages read, in the type `--format json` writes it.
    let cases = [
        (
            "findings",
            json!([{"title": 5, "severity": "low"}]),
            "findings[0].title",
        ),
        (
            "findings",
            json!([{"title": "t", "severity": "low", "mitigations": [5]}]),
            "findings[0].mitigations[0].id",
        ),
        (
            "findings",
            json!([{"title": "t", "severity": "low", "atlas": "AML.T0043"}]),
            "findings[0].atlas",
        ),
        ("atlas", json!("AML.T0043"), "`atlas`"),
        ("metrics", json!([1, 2]), "`metrics`"),
        ("metrics", json!({"auc": "high"}), "`metrics.auc`"),
        ("data", json!(5), "`data`"),
        ("name", json!(""), "`name`"),
        ("kind", json!(" "), "`kind`"),
        ("target", json!("a\u{0}b"), "`target`"),
        ("defended", json!(5), "`defended`"),
    ];
    for (field, value, named) in cases {
        let mut r = run("evasion.pgd", "t", json!([]));
        r[field] = value;
        let e = err(r);
        assert!(e.contains(named), "{field}: {e}");
    }
    let mut nested = run("evasion.pgd", "t", json!([]));
    nested["defended"] = run(
        "evasion.pgd",
        "t",
        json!([{"title": "", "severity": "low"}]),
    );
    assert!(err(nested).contains("`defended.findings[0].title`"));
    let mut deep = run("evasion.pgd", "t", json!([]));
    for _ in 0..6 {
        let mut outer = run("evasion.pgd", "t", json!([]));
        outer["defended"] = deep;
        deep = outer;
    }
    assert!(err(deep).contains("nested"));
    assert_eq!(store.count().unwrap(), 0);
}

fn store_err(store: &mut Store, v: serde_json::Value) -> String {
    store.add(&v).unwrap_err().to_string()
}

#[test]
fn a_file_is_created_migrated_once_and_refused_when_newer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/aisec.db");
    {
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
        store
            .add(&run("scan.model-artifacts", "m.pt", json!([])))
            .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.count().unwrap(), 1);
    store
        .conn
        .execute_batch(&format!("PRAGMA user_version = {}", MIGRATIONS.len() + 1))
        .unwrap();
    drop(store);
    let Err(e) = Store::open(&path) else {
        panic!("a newer schema must be refused")
    };
    assert!(e.to_string().contains("newer aisec"), "{e}");
}

#[test]
fn technique_ids_are_told_from_tactics_and_mitigations() {
    assert!(is_technique("AML.T0043"));
    assert!(is_technique("AML.T0043.000"));
    assert!(!is_technique("AML.TA0005"));
    assert!(!is_technique("AML.M0015"));
    assert!(!is_technique("AML.T0043.0001"));
}

#[test]
fn calendar_dates_are_days_that_exist() {
    for ok in ["2026-12-07", "2028-02-29", "2000-02-29", "2026-01-31"] {
        assert!(is_calendar_date(ok), "{ok}");
    }
    for bad in [
        "2026-02-29",
        "1900-02-29",
        "2026-13-01",
        "2026-04-31",
        "2026-00-10",
        "2026-1-1",
        "garbage!!!",
        "2026-12-0x",
    ] {
        assert!(!is_calendar_date(bad), "{bad}");
    }
}
