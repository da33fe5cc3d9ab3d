//! How long it takes to get a usable knowledge base: the embedded facts, and a full
//! official ATLAS.yaml (found through AISEC_ATLAS_DATA or ../shared/atlas/ATLAS.yaml).

use std::hint::black_box;
use std::path::PathBuf;

use aisec_atlas::KnowledgeBase;
use criterion::{criterion_group, criterion_main, Criterion};

fn official_file() -> Option<PathBuf> {
    std::env::var_os("AISEC_ATLAS_DATA")
        .map(PathBuf::from)
        .or_else(|| {
            Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/atlas/ATLAS.yaml"))
        })
        .filter(|p| p.is_file())
}

fn load(c: &mut Criterion) {
    c.bench_function("embedded facts: parse + index", |b| {
        b.iter(|| black_box(KnowledgeBase::embedded().unwrap()))
    });
    match official_file() {
        Some(path) => {
            c.bench_function("full ATLAS.yaml: read + parse + index", |b| {
                b.iter(|| black_box(KnowledgeBase::from_path(&path).unwrap()))
            });
            let kb = KnowledgeBase::from_path(&path).unwrap();
            c.bench_function("search `prompt injektion` (full text)", |b| {
                b.iter(|| black_box(kb.search_index().search(&kb, "prompt injektion", 10)))
            });
        }
        None => eprintln!("skipped the full ATLAS.yaml benchmarks: set AISEC_ATLAS_DATA or provide ../shared/atlas/ATLAS.yaml"),
    }
}

criterion_group!(benches, load);
criterion_main!(benches);
