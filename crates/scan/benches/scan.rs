//! Scan throughput: a 10-million-opcode pickle, a 200 MB PyTorch zip, and the labelled corpus.
//! `cargo bench -p aisec-scan --bench scan`.

use aisec_scan::craft::{self, PickleWriter};
use aisec_scan::scanner::{scan_bytes, ScanOptions};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn benches(c: &mut Criterion) {
    let options = ScanOptions::default();
    let mut body = Vec::new();
    for _ in 0..5_000_000 {
        body.extend_from_slice(b"h\x00a");
    }
    let pickle = PickleWriter::new()
        .proto(4)
        .empty_list()
        .int(7)
        .binput(0)
        .pop()
        .raw(&body)
        .stop()
        .finish();
    let mut group = c.benchmark_group("scan");
    group.sample_size(10);
    group.throughput(Throughput::Elements(10_000_000));
    group.bench_function("pickle_10m_opcodes", |b| {
        b.iter(|| scan_bytes("big.pkl", &pickle, &options))
    });
    let zip = craft::torch_zip(
        &craft::torch_state_dict(1, 50 << 20),
        &[vec![0u8; 200 << 20]],
    );
    group.throughput(Throughput::Bytes(zip.len() as u64));
    group.bench_function("torch_zip_200mb", |b| {
        b.iter(|| scan_bytes("big.pt", &zip, &options))
    });
    let corpus: Vec<_> = aisec_scan::corpus::samples()
        .into_iter()
        .filter(|s| s.data.len() < 1 << 20)
        .collect();
    group.throughput(Throughput::Elements(corpus.len() as u64));
    group.bench_function("labelled_corpus", |b| {
        b.iter(|| {
            corpus
                .iter()
                .map(|s| scan_bytes(s.name, &s.data, &options).findings.len())
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(scan, benches);
criterion_main!(scan);
