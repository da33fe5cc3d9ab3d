//! `aisec model inspect FILE.onnx`: the file's operators, inputs, outputs and size, and whether
//! aisec can attack it white-box.

use std::path::Path;

use anyhow::Result;

use crate::output::{print_json, print_text, Format};
use crate::{Cli, Outcome};

fn shape(dims: &[Option<i64>]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|d| d.map_or("?".to_string(), |v| v.to_string()))
        .collect();
    format!("[{}]", parts.join(", "))
}

pub fn run(cli: &Cli, path: &Path) -> Result<Outcome> {
    let found = aisec_ml::onnx::inspect::inspect(path)?;
    match cli.format {
        Format::Json => print_json(&found)?,
        Format::Text | Format::Sarif | Format::Jsonl | Format::Html => {
            let opsets: Vec<String> = found
                .opsets
                .iter()
                .map(|(d, v)| format!("{}{v}", if d.is_empty() { "" } else { d }))
                .collect();
            let mut out = format!(
                "{}\n  producer {}, IR version {}, opset {}\n  {} nodes, {} parameters\n",
                found.path.display(),
                if found.producer.is_empty() {
                    "(none)"
                } else {
                    &found.producer
                },
                found.ir_version,
                opsets.join(", "),
                found.nodes,
                found.parameters
            );
            for (what, list) in [("input", &found.inputs), ("output", &found.outputs)] {
                for t in list.iter() {
                    out.push_str(&format!(
                        "  {what:<6} {} {} {}\n",
                        t.name,
                        t.element_type,
                        shape(&t.shape)
                    ));
                }
            }
            out.push_str("  operators (nodes, first node):\n");
            for op in &found.operators {
                out.push_str(&format!(
                    "    {:<22} {:>4}  {}{}\n",
                    op.operator,
                    op.nodes,
                    op.first_node,
                    if op.supported { "" } else { "  NOT SUPPORTED" }
                ));
            }
            out.push_str(&format!("{}\n", found.verdict));
            print_text(&out)?;
        }
    }
    Ok(if found.white_box {
        Outcome::Ok
    } else {
        Outcome::ProblemsFound
    })
}
