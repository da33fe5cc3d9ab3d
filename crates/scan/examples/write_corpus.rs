//! Writes the labelled corpus to a directory, with `labels.tsv` (file, expected verdict,
//! what it is): `cargo run --release -p aisec-scan --example write_corpus -- DIR`.

fn main() -> std::io::Result<()> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "corpus".into()));
    std::fs::create_dir_all(&dir)?;
    let mut labels = String::from("file\texpected\twhat\n");
    for s in aisec_scan::corpus::samples() {
        std::fs::write(dir.join(s.name), &s.data)?;
        labels.push_str(&format!(
            "{}\t{}\t{}\n",
            s.name,
            s.expected.as_str(),
            s.what
        ));
    }
    std::fs::write(dir.join("labels.tsv"), labels)?;
    eprintln!("wrote the corpus to {}", dir.display());
    Ok(())
}
