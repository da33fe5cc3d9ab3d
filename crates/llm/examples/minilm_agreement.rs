//! aisec's MiniLM encoder against reference embeddings (from `bench/minilm_reference.py
//! --embeddings`): cosine similarity per text, and the time per text.
//! `cargo run --release -p aisec-llm --example minilm_agreement -- MODEL_DIR REFERENCE.jsonl`

use std::io::BufRead;
use std::path::Path;
use std::time::Instant;

use aisec_llm::guard::minilm::MiniLm;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, reference] = &args[..] else {
        eprintln!("usage: minilm_agreement MODEL_DIR REFERENCE.jsonl");
        std::process::exit(2);
    };
    let m = MiniLm::load(Path::new(model)).expect("the model");
    let file = std::fs::File::open(reference).expect("the reference file");
    let mut cosines = Vec::new();
    let mut micros = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let v: serde_json::Value = serde_json::from_str(&line.expect("a line")).expect("JSON");
        let want: Vec<f32> = v["embedding"]
            .as_array()
            .expect("embedding")
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        let started = Instant::now();
        let got = m.embed(v["text"].as_str().expect("text"));
        micros.push(started.elapsed().as_secs_f64() * 1e6);
        cosines.push(got.iter().zip(&want).map(|(a, b)| a * b).sum::<f32>());
    }
    cosines.sort_by(f32::total_cmp);
    let lat = aisec_llm::guard::eval::latency(micros).expect("texts");
    println!(
        "{} texts: cosine min {:.6}, median {:.6}; time per text p50 {:.1} ms, p99 {:.1} ms",
        cosines.len(),
        cosines[0],
        cosines[cosines.len() / 2],
        lat.p50_us / 1e3,
        lat.p99_us / 1e3
    );
}
