//! Scan throughput: an opcode-dense, memo-heavy 31 MB protocol-2 pickle (compare with Python's
//! `pickletools.genops` walk of the same file: `bench/scan_speed.sh` runs both), a
//! 10-million-opcode pickle, a 200 MB PyTorch zip, and the labelled corpus.
//! `cargo bench -p aisec-scan --bench scan`.

use aisec_scan::craft::{self, PickleWriter};
use aisec_scan::scanner::{scan_bytes, ScanOptions};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// The allocator the `aisec` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What `pickle.dumps([(i, i * 0.5, "s%d" % (i % 1000), [i, i + 1]) for i in range(n)],
/// protocol=2)` writes, byte for byte: opcode-dense and memo-heavy (three memo entries per
/// record), the shape that measures the machine rather than the reading of bytes.
pub fn dense_records(n: u32) -> Vec<u8> {
    fn int(out: &mut Vec<u8>, i: u32) {
        match i {
            0..=0xff => out.extend_from_slice(&[b'K', i as u8]),
            0x100..=0xffff => {
                out.push(b'M');
                out.extend_from_slice(&(i as u16).to_le_bytes());
            }
            _ => {
                out.push(b'J');
                out.extend_from_slice(&i.to_le_bytes());
            }
        }
    }
    let mut memo = 0u32;
    let mut put = |out: &mut Vec<u8>| {
        if memo < 256 {
            out.extend_from_slice(&[b'q', memo as u8]);
        } else {
            out.push(b'r');
            out.extend_from_slice(&memo.to_le_bytes());
        }
        memo += 1;
    };
    let mut out = vec![0x80, 2, b']'];
    put(&mut out);
    for batch in (0..n).collect::<Vec<_>>().chunks(1000) {
        out.push(b'(');
        for &i in batch {
            out.push(b'(');
            int(&mut out, i);
            out.push(b'G');
            out.extend_from_slice(&(f64::from(i) * 0.5).to_be_bytes());
            let s = format!("s{}", i % 1000);
            out.push(b'X');
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
            put(&mut out);
            out.push(b']');
            put(&mut out);
            out.push(b'(');
            int(&mut out, i);
            int(&mut out, i + 1);
            out.push(b'e');
            out.push(b't');
            put(&mut out);
        }
        out.push(b'e');
    }
    out.push(b'.');
    out
}

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
    // Set AISEC_DENSE_PICKLE to a file Python wrote to check the generator against it.
    let dense = dense_records(600_000);
    if let Ok(path) = std::env::var("AISEC_DENSE_PICKLE") {
        assert!(
            std::fs::read(path).unwrap() == dense,
            "the generator differs from Python's pickle"
        );
    }
    group.throughput(Throughput::Bytes(dense.len() as u64));
    group.bench_function("pickle_dense_600k_records_31mb", |b| {
        b.iter(|| scan_bytes("dense.pkl", &dense, &options))
    });
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
