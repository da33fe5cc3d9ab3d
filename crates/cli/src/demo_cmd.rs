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
}

pub fn run(cli: &Cli, args: &DemoArgs) -> Result<Outcome> {
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
            out.push_str("\nstage times (HopSkipJump runs beside detection):\n");
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
