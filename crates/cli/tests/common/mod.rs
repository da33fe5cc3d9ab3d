//! Running the aisec binary from the command-line tests.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary as CI does, on the embedded knowledge base (the caller's
/// AISEC_ATLAS_DATA and RUST_LOG removed).
pub fn aisec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aisec"))
        .args(args)
        .env_remove("AISEC_ATLAS_DATA")
        .env_remove("RUST_LOG")
        .env("CI", "true")
        .output()
        .expect("the aisec binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The JSON a successful run printed.
pub fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    json_of_any_exit(o)
}

/// The JSON a run printed, whatever its exit code (findings exit 1 with a report).
pub fn json_of_any_exit(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

pub fn fails_with(o: &Output, mentions: &str) {
    assert_eq!(
        o.status.code(),
        Some(2),
        "stdout {} stderr {}",
        stdout(o),
        stderr(o)
    );
    let err = stderr(o);
    assert!(err.starts_with("error:"), "{err}");
    assert!(
        err.contains(mentions),
        "stderr should mention {mentions:?}: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// The digits test split as `dir/x.npy` and `dir/y.npy` (`aisec data export`): user data,
/// with no input range aisec knows.
pub fn export_digits(dir: &Path) {
    let o = aisec(&[
        "data",
        "export",
        "--dataset",
        "digits",
        "--split",
        "test",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

pub fn train(dir: &Path, arch: &str, dataset: &str) -> String {
    let out = dir.join(format!("{arch}-{dataset}"));
    let o = aisec(&[
        "model",
        "train",
        "--arch",
        arch,
        "--dataset",
        dataset,
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    out.to_str().unwrap().to_string()
}

/// A JSON number, or a failing test naming what was there instead: comparing `as_f64()`
/// options would let a missing figure pass (`None < Some(x)`).
pub fn num(v: &serde_json::Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("expected a number, found {v}"))
}

/// Runs the binary on one command line split at whitespace, as a user types it (no argument
/// of these tests contains a space).
pub fn aisec_line(line: &str) -> Output {
    aisec(&line.split_whitespace().collect::<Vec<_>>())
}

/// `aisec model serve` running in the background, killed when dropped.
pub struct Served {
    child: std::process::Child,
    /// The rest of the server's log, to read after it stopped.
    pub log: std::io::BufReader<std::process::ChildStderr>,
    /// The first log line (the address and the limits it serves under).
    pub banner: String,
    pub url: String,
}

/// Starts `aisec model serve --port 0 ARGS…` and reads the URL it announces.
pub fn serve(args: &[&str]) -> Served {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_aisec"))
        .args(["model", "serve", "--port", "0"])
        .args(args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the aisec binary runs");
    let mut log = std::io::BufReader::new(child.stderr.take().expect("piped stderr"));
    let mut banner = String::new();
    log.read_line(&mut banner)
        .expect("the server logs its address");
    let url = banner
        .split_whitespace()
        .find(|w| w.starts_with("kserve+http://"))
        .unwrap_or_else(|| panic!("no URL in {banner:?}"))
        .trim_end_matches(':')
        .to_string();
    Served {
        child,
        log,
        banner,
        url,
    }
}

impl Served {
    /// Stops the server and returns what it logged after its first line.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut self.log, &mut rest);
        rest
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `scripts/SCRIPT` (a fetch script that prints the folder it filled on its last line),
/// with the test's aisec binary as AISEC_BIN. Without the network the test is skipped, and
/// under CI=true it fails: CI must run every tier.
pub fn fetched(script: &str, what: &str) -> Option<std::path::PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(script);
    let out = std::process::Command::new("bash")
        .arg(path)
        .env("AISEC_BIN", env!("CARGO_BIN_EXE_aisec"))
        .output();
    let why = match out {
        Ok(o) if o.status.success() => {
            let stdout = String::from_utf8_lossy(&o.stdout);
            let dir = stdout.trim().lines().last().unwrap_or("").to_string();
            return Some(dir.into());
        }
        Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
        Err(e) => e.to_string(),
    };
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    assert!(!ci, "{what} under CI=true: {why}");
    eprintln!("skipped: no {what} ({why})");
    None
}

/// `aisec threat-model PROFILE --plan PLAN`, which must succeed.
pub fn plan_of(profile: &Path, plan: &Path) {
    let o = aisec(&[
        "threat-model",
        profile.to_str().unwrap(),
        "--plan",
        plan.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A child process killed when the test ends, passed or not.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `aisec serve --port 0 ARGS…` (the web UI) and returns it with the URL it printed.
pub fn serve_web(args: &[&str]) -> (Killed, String) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_aisec"))
        .args(["serve", "--port", "0"])
        .args(args)
        .env_remove("AISEC_ATLAS_DATA")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("aisec serve starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("aisec serve says where it listens")
            .unwrap();
        if let Some(rest) = line.strip_prefix("aisec serve: ") {
            break rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches('/')
                .to_string();
        }
    };
    // Keep reading so that the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Killed(child), url)
}

/// A port nobody listens on now (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

fn run_ok(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A virtual environment with `packages` (pip requirement strings), made on first use under
/// `AISEC_TEST_CACHE` (else `~/.cache/aisec-tests`), outside the repository, as `name`.
/// Tests, test binaries and runs that share the cache take its lock first, so one installs
/// while the others wait and then find the venv complete.
pub fn cached_venv(name: &str, packages: &[&str]) -> Result<std::path::PathBuf, String> {
    use std::path::PathBuf;
    let cache = std::env::var_os("AISEC_TEST_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/aisec-tests")))
        .ok_or("no AISEC_TEST_CACHE and no HOME")?;
    let venv = cache.join(name);
    let complete = venv.join(".aisec-complete");
    let wanted = packages.join(" ");
    std::fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    let lock_path = cache.join(format!(".{name}.lock"));
    let lock =
        std::fs::File::create(&lock_path).map_err(|e| format!("{}: {e}", lock_path.display()))?;
    // File::lock is newer than the workspace's MSRV (1.85); tests run on the one toolchain
    // the machines have (1.95), and the library crates keep the MSRV.
    #[allow(clippy::incompatible_msrv)]
    lock.lock()
        .map_err(|e| format!("locking {}: {e}", lock_path.display()))?;
    if std::fs::read_to_string(&complete).is_ok_and(|v| v == wanted) {
        return Ok(venv);
    }
    let python = std::env::var("AISEC_PYTHON").unwrap_or_else(|_| "python3".into());
    // A venv holds absolute paths, so it is built in place; the marker is written only when
    // pip has finished, so an interrupted install is redone.
    let _ = std::fs::remove_dir_all(&venv);
    run_ok(
        Command::new(&python).args(["-m", "venv"]).arg(&venv),
        "python3 -m venv",
    )?;
    run_ok(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(packages),
        &format!("pip install {wanted}"),
    )?;
    std::fs::write(&complete, &wanted).map_err(|e| format!("{}: {e}", complete.display()))?;
    Ok(venv)
}
