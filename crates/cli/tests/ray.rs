//! The Ray driver (`integrations/ray`) on a real local Ray cluster: the script installs Ray
//! into a venv cached outside the repository (`AISEC_TEST_CACHE`, else `~/.cache/aisec-tests`),
//! starts a head node on 127.0.0.1, runs a sharded scan of a generated registry of 3,000 files
//! with one worker killed mid-run (Ray runs it again) and a sharded LiRA shadow-model job, and
//! checks each merged report against the single-process one. Without Python or Ray's wheel it
//! says it was skipped; under `CI=true` that is a failure.

mod common;

use std::process::Command;

#[test]
fn sharded_jobs_on_a_local_ray_cluster_merge_into_the_single_process_reports() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../integrations/ray/run-local-cluster-test.sh");
    if Command::new("python3").arg("--version").output().is_err() {
        assert!(!common::in_ci(), "Ray tier under CI=true: no python3");
        eprintln!("skipped the Ray tier: no python3");
        return;
    }
    let o = Command::new("bash")
        .arg(&script)
        .env("AISEC_BIN", env!("CARGO_BIN_EXE_aisec"))
        .env_remove("AISEC_ATLAS_DATA")
        .env_remove("RAY_ADDRESS")
        .output()
        .expect("bash runs");
    let (out, err) = (common::stdout(&o), common::stderr(&o));
    if o.status.code() == Some(77) {
        assert!(
            !common::in_ci(),
            "Ray tier under CI=true: Ray could not be installed: {err}"
        );
        eprintln!("skipped the Ray tier: Ray could not be installed");
        return;
    }
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("RAY-MEASURED"), "{out}");
    // The measurements, for docs/scale.md, in the test log.
    eprintln!(
        "{}",
        out.lines()
            .find(|l| l.starts_with("RAY-MEASURED"))
            .unwrap_or("")
    );
}
