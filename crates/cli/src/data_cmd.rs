//! `aisec data`: the data an attack would use, shown and written out, so that another tool
//! (PyTorch, ART) can be given exactly the same inputs and split.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::json;

use crate::data_args::{DataArgs, Split};
use crate::output::{print_json, print_text, Format};
use crate::{Cli, Outcome};

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Writes one part of the data as NumPy files: DIR/x.npy (float32, the inputs' shape with
    /// the examples first, after any loading transform) and DIR/y.npy (int64 labels), in the
    /// order aisec's commands see them.
    Export {
        #[command(flatten)]
        data: DataArgs,
        /// train or test: the part that `model train` or `attack` uses (80/20 stratified,
        /// seed 0); all: everything, unsplit.
        #[arg(long, value_enum, default_value = "test")]
        split: Split,
        /// Write only the first N examples of that part.
        #[arg(long)]
        limit: Option<usize>,
        /// The output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(cli: &Cli, cmd: &DataCommand) -> Result<Outcome> {
    match cmd {
        DataCommand::Export {
            data,
            split,
            limit,
            out,
        } => {
            if *limit == Some(0) {
                bail!("--limit must be at least 1");
            }
            let ds = data.load_first(*split, *limit)?;
            std::fs::create_dir_all(out)
                .with_context(|| format!("cannot create --out {}", out.display()))?;
            let mut shape = vec![ds.len()];
            shape.extend(&ds.sample_shape);
            let x_path = out.join("x.npy");
            let y_path = out.join("y.npy");
            aisec_ml::data::npy::write_f32(&x_path, &shape, &ds.x)?;
            let labels: Vec<i64> = ds.y.iter().map(|&c| c as i64).collect();
            aisec_ml::data::npy::write_i64(&y_path, &labels)?;
            let split_name = match split {
                Split::Train => "train",
                Split::Test => "test",
                Split::All => "all",
            };
            let summary = json!({
                "source": data.source(),
                "split": split_name,
                "examples": ds.len(),
                "sample_shape": ds.sample_shape,
                "classes": ds.num_classes,
                "class_counts": ds.class_counts(),
                "input_range": ds.input_range.map(|r| [r.lo, r.hi]),
                "x": x_path,
                "y": y_path,
            });
            match cli.format {
                Format::Json => print_json(&summary)?,
                _ => print_text(&format!(
                    "{} examples ({} split of {}), each {:?}, {} classes → {} and {}\n",
                    ds.len(),
                    split_name,
                    data.source(),
                    ds.sample_shape,
                    ds.num_classes,
                    x_path.display(),
                    y_path.display()
                ))?,
            }
            Ok(Outcome::Ok)
        }
    }
}
