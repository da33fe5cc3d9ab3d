//! aisec's WordPiece against Hugging Face's ids (from `bench/minilm_reference.py`):
//! `cargo run --release -p aisec-llm --example wordpiece_agreement -- VOCAB.txt REFERENCE.jsonl`.
//! Prints how many texts agree id for id and the first disagreements.

use std::io::BufRead;
use std::path::Path;

use aisec_llm::guard::wordpiece::WordPiece;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [vocab, reference] = &args[..] else {
        eprintln!("usage: wordpiece_agreement VOCAB.txt REFERENCE.jsonl");
        std::process::exit(2);
    };
    let wp = WordPiece::from_vocab_file(Path::new(vocab)).expect("a vocab.txt");
    let file = std::fs::File::open(reference).expect("the reference file");
    let (mut same, mut total, mut shown) = (0, 0, 0);
    for line in std::io::BufReader::new(file).lines() {
        let v: serde_json::Value = serde_json::from_str(&line.expect("a line")).expect("JSON");
        let text = v["text"].as_str().expect("text");
        let want: Vec<u32> = v["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        let got = wp.encode(text, 256);
        total += 1;
        if got == want {
            same += 1;
        } else if shown < 5 {
            shown += 1;
            let at = got
                .iter()
                .zip(&want)
                .position(|(a, b)| a != b)
                .unwrap_or(got.len().min(want.len()));
            println!(
                "differs at id {at}: {:?}\n  aisec {:?}\n  hf    {:?}",
                text.chars().take(120).collect::<String>(),
                &got[at.saturating_sub(2)..(at + 4).min(got.len())],
                &want[at.saturating_sub(2)..(at + 4).min(want.len())]
            );
        }
    }
    println!("{same}/{total} texts tokenized identically");
}
