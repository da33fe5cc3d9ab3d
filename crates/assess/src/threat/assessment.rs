//! Runs an assessment plan: each step is an aisec command run as a child process of the same
//! binary (so one step that fails, panics or is killed loses nothing else), its JSON run
//! report kept under `OUT/steps/ID.json` with the exit code, the time and the log. A step
//! whose result is on disk for the same command is not rerun, so an interrupted assessment
//! resumes where it stopped. Criteria are checked on the run as deployed, behind the defence
//! and on the adaptive run, each where the command measured it; a figure the run does not
//! carry is "not measured", never a pass and never 0.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::plan::{Criterion, Plan, Step};
use crate::{AssessError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Every criterion holds on the run as deployed.
    Passed,
    /// A criterion does not hold on the run as deployed.
    Failed,
    /// The run finished but does not carry a figure a criterion needs.
    NotMeasured,
    /// The command failed (exit code 2, no JSON, killed).
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::NotMeasured => "not-measured",
            Status::Error => "error",
        }
    }
}

/// Which run of a step a check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Part {
    Deployed,
    Defended,
    Adaptive,
}

impl Part {
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Deployed => "as deployed",
            Part::Defended => "behind the defence",
            Part::Adaptive => "adaptive attack on the defence",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub metric: String,
    pub part: Part,
    /// None: the run does not carry the figure.
    pub value: Option<f64>,
    pub threshold: String,
    /// None when not measured.
    pub passed: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepResult {
    pub id: String,
    pub risk: String,
    pub techniques: Vec<String>,
    pub adversary: String,
    pub why: String,
    /// What ran: `aisec` followed by these arguments, in the plan's folder.
    pub command: Vec<String>,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub seconds: f64,
    pub checks: Vec<Check>,
    pub criteria: Vec<Criterion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The command's JSON run report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<serde_json::Value>,
    /// The defence the step was measured behind (`--defend`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defense: Option<String>,
    /// True when this result was read back from an earlier, interrupted assessment.
    #[serde(default)]
    pub resumed: bool,
    /// The local files the command reads (size and modification time): a result is reused
    /// only while they are unchanged.
    #[serde(default)]
    pub inputs: Vec<String>,
}

/// Size and modification time of every local file the command names (a folder's files, one
/// level deep), for deciding whether an earlier result still stands.
fn fingerprint(plan_dir: &Path, command: &[String]) -> Vec<String> {
    let stamp = |p: &Path| -> Option<String> {
        let m = std::fs::metadata(p).ok()?;
        let modified = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Some(format!("{}:{}:{modified}", p.display(), m.len()))
    };
    let mut out = Vec::new();
    for arg in command
        .iter()
        .filter(|a| !a.starts_with('-') && !a.contains("://"))
    {
        let path = plan_dir.join(arg);
        if path.is_file() {
            out.extend(stamp(&path));
        } else if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .take(1000)
                .collect();
            files.sort();
            out.extend(files.iter().filter_map(|f| stamp(f)));
        }
    }
    out
}

/// What a front end hears as the assessment goes.
pub enum Progress<'a> {
    Starting {
        index: usize,
        total: usize,
        step: &'a Step,
    },
    Done {
        index: usize,
        total: usize,
        result: &'a StepResult,
    },
}

fn figure(run: &serde_json::Value, metric: &str) -> Option<f64> {
    run.get("metrics")
        .and_then(|m| m.get(metric))
        .or_else(|| run.get("observations").and_then(|o| o.get(metric)))
        .and_then(serde_json::Value::as_f64)
        .filter(|v| v.is_finite())
}

/// The criteria on each run the report holds.
pub fn check(report: &serde_json::Value, criteria: &[Criterion]) -> Vec<Check> {
    let defended = report.get("defended").filter(|v| v.is_object());
    let adaptive = defended
        .and_then(|d| d.get("adaptive"))
        .filter(|v| v.is_object());
    let parts = [
        (Part::Deployed, Some(report)),
        (Part::Defended, defended),
        (Part::Adaptive, adaptive),
    ];
    let mut out = Vec::new();
    for (part, run) in parts {
        let Some(run) = run else { continue };
        for c in criteria {
            let value = figure(run, &c.metric);
            let passed = value.map(|v| {
                c.at_most.is_none_or(|max| v <= max) && c.at_least.is_none_or(|min| v >= min)
            });
            let threshold = match (c.at_most, c.at_least) {
                (Some(max), Some(min)) => format!("between {min} and {max}"),
                (Some(max), None) => format!("at most {max}"),
                (None, Some(min)) => format!("at least {min}"),
                (None, None) => "no threshold".into(),
            };
            out.push(Check {
                metric: c.metric.clone(),
                part,
                value,
                threshold,
                passed,
            });
        }
    }
    out
}

fn status_of(checks: &[Check]) -> Status {
    let deployed: Vec<&Check> = checks.iter().filter(|c| c.part == Part::Deployed).collect();
    if deployed.iter().any(|c| c.passed == Some(false)) {
        Status::Failed
    } else if deployed.is_empty() || deployed.iter().any(|c| c.passed.is_none()) {
        Status::NotMeasured
    } else {
        Status::Passed
    }
}

fn defense_of(command: &[String]) -> Option<String> {
    command
        .iter()
        .position(|a| a == "--defend")
        .and_then(|i| command.get(i + 1))
        .cloned()
}

fn result_path(out: &Path, id: &str) -> PathBuf {
    out.join("steps").join(format!("{id}.json"))
}

/// A finished result of the same command on the same files from an earlier run, if any.
fn resumable(out: &Path, plan_dir: &Path, step: &Step) -> Option<StepResult> {
    let text = std::fs::read_to_string(result_path(out, &step.id)).ok()?;
    let mut r: StepResult = serde_json::from_str(&text).ok()?;
    let same_inputs = r.inputs == fingerprint(plan_dir, &step.command);
    (r.command == step.command && same_inputs && r.status != Status::Error).then(|| {
        r.resumed = true;
        // Criteria may have been edited since: check them again on the stored report.
        if let Some(report) = &r.report {
            r.checks = check(report, &step.criteria);
            r.status = status_of(&r.checks);
            r.criteria = step.criteria.clone();
        }
        r
    })
}

fn run_step(exe: &Path, plan_dir: &Path, out: &Path, step: &Step, timeout: Duration) -> StepResult {
    let started = Instant::now();
    let log_path = out.join("steps").join(format!("{}.log", step.id));
    let mut result = StepResult {
        id: step.id.clone(),
        risk: step.risk.clone(),
        techniques: step.techniques.clone(),
        adversary: step.adversary.clone(),
        why: step.why.clone(),
        command: step.command.clone(),
        status: Status::Error,
        exit_code: None,
        seconds: 0.0,
        checks: Vec::new(),
        criteria: step.criteria.clone(),
        error: None,
        report: None,
        defense: defense_of(&step.command),
        resumed: false,
        inputs: fingerprint(plan_dir, &step.command),
    };
    let output = run_child(exe, plan_dir, &step.command, timeout);
    result.seconds = started.elapsed().as_secs_f64();
    let output = match output {
        Ok(o) => o,
        Err(e) => {
            result.error = Some(e);
            return result;
        }
    };
    let _ = std::fs::write(&log_path, &output.stderr);
    result.exit_code = output.status.code();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Some commands report a failure in their JSON (a file the scanner could not read).
    let stdout_error = || {
        serde_json::from_slice::<serde_json::Value>(&output.stdout)
            .ok()
            .and_then(|v| {
                let errors = v["observations"]["files"]
                    .as_array()?
                    .iter()
                    .flat_map(|f| f["errors"].as_array().cloned().unwrap_or_default());
                let texts: Vec<String> = errors
                    .filter_map(|e| {
                        e.as_str().map(String::from).or_else(|| {
                            let message = e["message"].as_str()?;
                            Some(match e["location"].as_str() {
                                Some(at) => format!("{at}: {message}"),
                                None => message.to_string(),
                            })
                        })
                    })
                    .collect();
                (!texts.is_empty()).then(|| format!("error: {}", texts.join("; ")))
            })
    };
    let last_error = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .map(str::to_string)
        .or_else(stdout_error);
    // Exit 1 means the command ran and found something; 2 (or a signal) that it failed.
    if !matches!(result.exit_code, Some(0) | Some(1)) {
        result.error = Some(last_error.unwrap_or_else(|| {
            format!(
                "exited with {} (log: {})",
                result
                    .exit_code
                    .map_or("a signal".to_string(), |c| format!("code {c}")),
                log_path.display()
            )
        }));
        return result;
    }
    match serde_json::from_slice::<serde_json::Value>(&output.stdout) {
        Ok(report) => {
            result.checks = check(&report, &step.criteria);
            result.status = status_of(&result.checks);
            result.report = Some(report);
        }
        Err(e) => result.error = Some(format!("its output is not a JSON run report: {e}")),
    }
    result
}

/// `aisec COMMAND --format json` in the plan's folder; killed (and an error) past `timeout`.
fn run_child(
    exe: &Path,
    dir: &Path,
    command: &[String],
    timeout: Duration,
) -> std::result::Result<std::process::Output, String> {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = std::process::Command::new(exe)
        .args(command)
        .args(["--format", "json"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    // Read both pipes as the child writes, or a chatty child blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "stopped after {} s, the step timeout (--step-timeout)",
                    timeout.as_secs_f64()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("cannot wait for the step: {e}")),
        }
    };
    Ok(std::process::Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// Runs every step in order (resuming finished ones) and returns their results. A step that
/// runs longer than `step_timeout` is stopped and recorded as an error; the others still run.
pub fn run(
    plan: &Plan,
    plan_path: &Path,
    out: &Path,
    exe: &Path,
    step_timeout: Duration,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<StepResult>> {
    run_steps(plan, plan_path, out, exe, step_timeout, &|_| true, progress)
}

/// The steps of shard `shard` of a plan: every N-th step from the I-th (steps of one plan
/// are of every size, so counting them round-robin spreads the kinds of attack evenly).
pub fn shard_steps(plan: &Plan, shard: aisec_scan::shard::Shard) -> Vec<usize> {
    (0..plan.steps.len())
        .filter(|i| i % shard.count == shard.index - 1)
        .collect()
}

/// [`run`] for the steps whose index `wanted` accepts.
pub fn run_steps(
    plan: &Plan,
    plan_path: &Path,
    out: &Path,
    exe: &Path,
    step_timeout: Duration,
    wanted: &dyn Fn(usize) -> bool,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<StepResult>> {
    let steps_dir = out.join("steps");
    std::fs::create_dir_all(&steps_dir).map_err(|source| AssessError::Write {
        path: steps_dir.clone(),
        source,
    })?;
    let plan_dir = match plan_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let total = plan.steps.len();
    let mut results = Vec::new();
    for (index, step) in plan.steps.iter().enumerate() {
        if !wanted(index) {
            continue;
        }
        progress(Progress::Starting { index, total, step });
        let result = match resumable(out, &plan_dir, step) {
            Some(r) => r,
            None => run_step(exe, &plan_dir, out, step, step_timeout),
        };
        let path = result_path(out, &step.id);
        let text = serde_json::to_string_pretty(&result)
            .map_err(|e| AssessError::Config(format!("cannot serialise step {}: {e}", step.id)))?;
        std::fs::write(&path, text).map_err(|source| AssessError::Write { path, source })?;
        progress(Progress::Done {
            index,
            total,
            result: &result,
        });
        results.push(result);
    }
    Ok(results)
}
