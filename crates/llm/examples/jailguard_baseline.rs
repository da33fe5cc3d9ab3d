//! The jailguard crate's classifier (its 384→256→128→1 MLP, read from the crate's own
//! `models/neural_binary_200k.json`) on aisec's MiniLM embeddings — the same frozen
//! all-MiniLM-L6-v2 it was trained on — beside aisec's neural head and lexical guard, on the
//! labelled validation splits. Run by `bench/llm_guard_neural.sh`:
//! `cargo run --release -p aisec-llm --example jailguard_baseline -- MLP.json ENCODER_DIR DATA_DIR`

use std::path::Path;

use aisec_llm::guard::data::{self, Columns};
use aisec_llm::guard::{eval, minilm::MiniLm, neural, Guard};

#[derive(serde::Deserialize)]
struct Mlp {
    w_h1: Vec<Vec<f32>>,
    b_h1: Vec<f32>,
    w_h2: Vec<Vec<f32>>,
    b_h2: Vec<f32>,
    w_out: Vec<Vec<f32>>,
    b_out: Vec<f32>,
}

impl Mlp {
    fn layer(w: &[Vec<f32>], b: &[f32], x: &[f32], relu: bool) -> Vec<f32> {
        w.iter()
            .zip(b)
            .map(|(row, b)| {
                let z = row.iter().zip(x).map(|(a, b)| a * b).sum::<f32>() + b;
                if relu {
                    z.max(0.0)
                } else {
                    z
                }
            })
            .collect()
    }

    fn score(&self, e: &[f32]) -> f64 {
        let h1 = Self::layer(&self.w_h1, &self.b_h1, e, true);
        let h2 = Self::layer(&self.w_h2, &self.b_h2, &h1, true);
        let z = Self::layer(&self.w_out, &self.b_out, &h2, false)[0];
        1.0 / (1.0 + (-z as f64).exp())
    }
}

fn row(name: &str, scores: &[Vec<f64>], labels: &[Vec<u8>], t: f64) {
    let mut cells = vec![name.to_string(), format!("{t:.3}")];
    for (s, l) in scores.iter().zip(labels) {
        let f = eval::figures(s, l, t);
        let x = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.4}"));
        cells.extend([
            x(f.f1),
            x(f.precision),
            x(f.recall),
            x(f.false_positive_rate),
            x(f.auc),
        ]);
    }
    println!("| {} |", cells.join(" | "));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mlp, encoder, data_dir] = &args[..] else {
        eprintln!("usage: jailguard_baseline MLP.json ENCODER_DIR DATA_DIR");
        std::process::exit(2);
    };
    let mlp: Mlp = serde_json::from_str(&std::fs::read_to_string(mlp).expect("the MLP file"))
        .expect("jailguard's MLP JSON");
    let encoder = MiniLm::load(Path::new(encoder)).expect("the encoder");
    let guard = Guard::shipped().expect("the shipped guard");
    let head = guard.neural.as_ref().expect("the shipped neural head");
    let files = [
        "s-labs/validation.csv",
        "neuralchemy/core-validation.parquet",
    ];
    let sets: Vec<_> = files
        .iter()
        .map(|f| {
            data::read(&Path::new(data_dir).join(f), &Columns::default()).expect("labelled data")
        })
        .collect();
    let labels: Vec<Vec<u8>> = sets
        .iter()
        .map(|s| s.iter().map(|r| r.label).collect())
        .collect();
    let embeddings: Vec<Vec<Vec<f32>>> = sets
        .iter()
        .map(|s| {
            neural::embed_all(
                &encoder,
                &s.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(),
            )
        })
        .collect();
    let jg: Vec<Vec<f64>> = embeddings
        .iter()
        .map(|es| es.iter().map(|e| mlp.score(e)).collect())
        .collect();
    let ours: Vec<Vec<f64>> = embeddings
        .iter()
        .map(|es| es.iter().map(|e| head.score_embedding(e)).collect())
        .collect();
    let lexical: Vec<Vec<f64>> = sets
        .iter()
        .map(|s| s.iter().map(|r| guard.check(&r.text).score).collect())
        .collect();
    let pooled = |s: &[Vec<f64>]| eval::best_f1_threshold(&s.concat(), &labels.concat());
    println!("| detector | threshold | S-Labs F1 | P | R | FPR | AUC | neuralchemy F1 | P | R | FPR | AUC |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    row("jailguard 0.1.2 MLP, its 0.5", &jg, &labels, 0.5);
    row(
        "jailguard 0.1.2 MLP, same threshold rule",
        &jg,
        &labels,
        pooled(&jg),
    );
    row("aisec neural head (LR)", &ours, &labels, head.threshold);
    row(
        "aisec lexical guard",
        &lexical,
        &labels,
        guard.meta.threshold,
    );
}
