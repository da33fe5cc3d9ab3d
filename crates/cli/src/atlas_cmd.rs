use std::path::{Path, PathBuf};

use aisec_atlas::export::{navigator, stix};
use aisec_atlas::model::Maturity;
use aisec_atlas::validate::{self, Report};
use aisec_atlas::views::{
    MatrixView, MitigationsFilter, MitigationsView, SearchView, ShowView, SubtechniqueMode,
};
use aisec_atlas::KnowledgeBase;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::output::{print_json, print_text, write_output, Format};
use crate::{Cli, Outcome};

#[derive(Debug, Subcommand)]
pub enum AtlasCommand {
    /// Tactics as columns in ATLAS order, with their techniques.
    Matrix {
        /// Show only techniques at this maturity or above (feasible < demonstrated < realized).
        #[arg(long, value_parser = parse_maturity)]
        maturity: Option<Maturity>,
        /// List sub-techniques under their technique instead of counting them.
        #[arg(long)]
        subtechniques: bool,
        /// Width to fit, in columns (at least 40). Default: the terminal's width on a
        /// terminal, 120 in a pipe.
        #[arg(long, value_parser = clap::value_parser!(u16).range(40..))]
        width: Option<u16>,
    },
    /// Any tactic, technique, sub-technique, mitigation or case study, with its links.
    Show {
        /// An ATLAS ID such as AML.T0051 (the AML. prefix may be left out).
        id: String,
    },
    /// Ranked, typo-tolerant search over names (and descriptions with --atlas-data).
    Search {
        /// Words to look for.
        #[arg(required = true, num_args = 1..)]
        query: Vec<String>,
        /// How many results to show, best first. (In the attack commands `--limit N` means
        /// the first N inputs; here the name says what it counts.)
        #[arg(
            long = "max-results",
            alias = "limit",
            value_name = "N",
            default_value_t = 10
        )]
        limit: usize,
    },
    /// Mitigations by CRISP-ML(Q) lifecycle phase and category.
    Mitigations {
        /// A lifecycle phase, e.g. "Deployment" or "ml model engineering".
        #[arg(long)]
        phase: Option<String>,
        /// A category: Policy, "Technical - ML" or "Technical - Cyber".
        #[arg(long)]
        category: Option<String>,
    },
    /// Strictly validates an ATLAS-format file. Exit 0 clean, 1 problems, 2 unreadable.
    Validate { path: PathBuf },
    /// What changed between two ATLAS releases: tactics, techniques and mitigations added,
    /// removed and renamed; techniques re-parented, moved between tactics or re-rated;
    /// mitigation links and lifecycle phases; case studies. Matched by ID. Exit 0 when they
    /// are the same, 1 when they differ.
    Diff {
        /// The older ATLAS.yaml, or `embedded` for the facts compiled into aisec.
        old: String,
        /// The newer ATLAS.yaml, or `embedded`.
        new: String,
    },
    /// Exports for other tools.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Writes the embedded-facts file from an official ATLAS.yaml (descriptions stripped).
    Embed {
        path: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// An ATT&CK Navigator layer (format 4.5): the whole matrix, chosen techniques, or a case study.
    Navigator(NavigatorArgs),
    /// A STIX 2.1 bundle of the whole knowledge base.
    Stix {
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct NavigatorArgs {
    /// Mark only these techniques (comma-separated IDs).
    #[arg(long, value_delimiter = ',', conflicts_with = "case_study")]
    techniques: Vec<String>,
    /// A case study's procedure: an ID such as AML.CS0000, or a case-study file.
    #[arg(long)]
    case_study: Option<String>,
    /// Layer name (default: chosen from what is exported).
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    out: Option<PathBuf>,
}

fn parse_maturity(s: &str) -> Result<Maturity, String> {
    Maturity::parse(s).ok_or_else(|| {
        format!("`{s}` is not a maturity: expected feasible, demonstrated or realized")
    })
}

pub fn load_kb(cli: &Cli) -> Result<KnowledgeBase> {
    let started = std::time::Instant::now();
    let kb =
        KnowledgeBase::load(cli.atlas_data.as_deref()).with_context(|| match &cli.atlas_data {
            Some(p) => format!(
                "cannot load ATLAS data from {} (given by --atlas-data or {})",
                p.display(),
                aisec_atlas::ATLAS_DATA_ENV
            ),
            None => "cannot load the embedded ATLAS facts".to_string(),
        })?;
    tracing::info!(source = %kb.source, version = %kb.version, elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "ATLAS knowledge base loaded");
    Ok(kb)
}

pub fn run(cli: &Cli, cmd: &AtlasCommand) -> Result<Outcome> {
    match cmd {
        AtlasCommand::Matrix {
            maturity,
            subtechniques,
            width,
        } => {
            let kb = load_kb(cli)?;
            let view = MatrixView::new(&kb, *maturity);
            match cli.format {
                Format::Json => print_json(&view)?,
                Format::Text | Format::Sarif | Format::Jsonl | Format::Html => {
                    let mode = if *subtechniques {
                        SubtechniqueMode::Listed
                    } else {
                        SubtechniqueMode::Counted
                    };
                    print_text(&view.render_text(text_width(*width), mode))?
                }
            }
        }
        AtlasCommand::Show { id } => {
            let kb = load_kb(cli)?;
            let view = ShowView::new(&kb, id)?;
            match cli.format {
                Format::Json => print_json(&view)?,
                Format::Text | Format::Sarif | Format::Jsonl | Format::Html => {
                    print_text(&view.render_text())?
                }
            }
        }
        AtlasCommand::Search { query, limit } => {
            if *limit == 0 {
                bail!("--max-results must be at least 1");
            }
            if query.iter().all(|w| w.trim().is_empty()) {
                bail!("atlas search: the query is empty; give at least one word to look for");
            }
            let kb = load_kb(cli)?;
            let view = SearchView::new(&kb, &query.join(" "), *limit);
            match cli.format {
                Format::Json => print_json(&view)?,
                Format::Text | Format::Sarif | Format::Jsonl | Format::Html => {
                    print_text(&view.render_text())?
                }
            }
        }
        AtlasCommand::Mitigations { phase, category } => {
            let kb = load_kb(cli)?;
            let filter = MitigationsFilter {
                phase: phase.clone(),
                category: category.clone(),
            };
            let view = MitigationsView::new(&kb, &filter)?;
            match cli.format {
                Format::Json => print_json(&view)?,
                Format::Text | Format::Sarif | Format::Jsonl | Format::Html => {
                    print_text(&view.render_text())?
                }
            }
        }
        AtlasCommand::Diff { old, new } => {
            let load = |which: &str| -> Result<KnowledgeBase> {
                if which == "embedded" {
                    Ok(KnowledgeBase::embedded()?)
                } else {
                    KnowledgeBase::from_path(std::path::Path::new(which))
                        .with_context(|| format!("cannot load ATLAS data from {which}"))
                }
            };
            let d = aisec_atlas::diff::diff(&load(old)?, &load(new)?);
            match cli.format {
                Format::Json => print_json(&d)?,
                _ => print_text(&aisec_atlas::diff::text(&d))?,
            }
            return Ok(if d.is_empty() {
                Outcome::Ok
            } else {
                Outcome::ProblemsFound
            });
        }
        AtlasCommand::Validate { path } => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let report = validate::validate_document_text(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            return report_validation(cli, path, &report);
        }
        AtlasCommand::Export(ExportCommand::Stix { out }) => {
            let kb = load_kb(cli)?;
            let bundle = stix::bundle(&kb);
            let text = serde_json::to_string_pretty(&bundle)? + "\n";
            write_output(out.as_deref(), &text)?;
        }
        AtlasCommand::Export(ExportCommand::Navigator(args)) => {
            let kb = load_kb(cli)?;
            let layer = navigator_layer(&kb, args)?;
            let text = serde_json::to_string_pretty(&layer)? + "\n";
            write_output(args.out.as_deref(), &text)?;
        }
        AtlasCommand::Embed { path, out } => {
            let atlas = aisec_atlas::read_atlas_file(path)?;
            let text = aisec_atlas::embed::facts_json(&atlas);
            std::fs::write(out, &text)
                .with_context(|| format!("cannot write {}", out.display()))?;
            eprintln!(
                "wrote the facts of ATLAS {} ({} bytes) to {}",
                atlas.version,
                text.len(),
                out.display()
            );
        }
    }
    Ok(Outcome::Ok)
}

fn navigator_layer(kb: &KnowledgeBase, args: &NavigatorArgs) -> Result<serde_json::Value> {
    if let Some(cs) = &args.case_study {
        let path = Path::new(cs);
        let study = if kb.case_study(cs).is_some() || !path.exists() {
            match kb
                .case_study(cs)
                .or_else(|| kb.case_study(&cs.to_ascii_uppercase()))
            {
                Some(study) => study.clone(),
                None if kb.technique(&cs.to_ascii_uppercase()).is_some() => {
                    bail!("--case-study {cs}: {cs} is a technique, not a case study; a layer of chosen techniques is `--techniques {cs}`")
                }
                None => {
                    return Err(aisec_atlas::AtlasError::UnknownId {
                        id: cs.clone(),
                        suggestions: kb.nearest_ids(cs, 3),
                    })
                    .context(
                        "--case-study takes a case-study ID or the path of a case-study file",
                    );
                }
            }
        } else {
            aisec_atlas::case_study::read_case_study_file(path, kb)?
                .study
                .to_case_study()
        };
        let mut layer = navigator::case_study_layer(kb, &study)?;
        if let Some(name) = &args.name {
            layer["name"] = json!(name);
        }
        return Ok(layer);
    }
    if !args.techniques.is_empty() {
        let ids: Vec<String> = args
            .techniques
            .iter()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        return Ok(navigator::techniques_layer(kb, &ids, args.name.as_deref())?);
    }
    let mut layer = navigator::matrix_layer(kb)?;
    if let Some(name) = &args.name {
        layer["name"] = json!(name);
    }
    Ok(layer)
}

/// Prints a validation report; exit 1 when it found problems.
pub fn report_validation(cli: &Cli, path: &Path, report: &Report) -> Result<Outcome> {
    match cli.format {
        Format::Json => print_json(&json!({
            "kind": "validation",
            "file": path.display().to_string(),
            "valid": report.is_clean(),
            "errors": report.errors(),
            "warnings": report.warnings(),
            "checked": report.checked,
            "problems": report.problems,
        }))?,
        Format::Text | Format::Sarif | Format::Jsonl | Format::Html => {
            let mut out = String::new();
            for p in &report.problems {
                out.push_str(&format!("{p}\n"));
            }
            let c = &report.checked;
            let checked: Vec<String> = [
                (c.tactics, "tactic", "tactics"),
                (c.techniques, "technique", "techniques"),
                (c.mitigations, "mitigation", "mitigations"),
                (c.case_studies, "case study", "case studies"),
            ]
            .iter()
            .filter(|(n, _, _)| *n > 0)
            .map(|(n, one, many)| crate::output::count(*n, one, many))
            .collect();
            out.push_str(&format!(
                "{}: {}, {} (checked {})\n",
                path.display(),
                crate::output::count(report.errors(), "error", "errors"),
                crate::output::count(report.warnings(), "warning", "warnings"),
                if checked.is_empty() {
                    "nothing".to_string()
                } else {
                    checked.join(", ")
                }
            ));
            print_text(&out)?;
        }
    }
    Ok(if report.is_clean() {
        Outcome::Ok
    } else {
        Outcome::ProblemsFound
    })
}

/// The width to lay the matrix out in: the flag, else the terminal's, else 120 columns.
fn text_width(flag: Option<u16>) -> usize {
    use std::io::IsTerminal;
    flag.map(usize::from)
        .or_else(|| {
            std::io::stdout()
                .is_terminal()
                .then(terminal_size::terminal_size)
                .flatten()
                .map(|(w, _)| usize::from(w.0).max(40))
        })
        .unwrap_or(120)
}
