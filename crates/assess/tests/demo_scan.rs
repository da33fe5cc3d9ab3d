//! The demo's supply-chain stage: the checkpoint it writes scans clean, the poisoned copy is
//! caught at the injected call with its ATLAS techniques and AML.M0016.

use aisec_atlas::KnowledgeBase;
use aisec_ml::data::BuiltinDataset;
use aisec_ml::native::{Manifest, NativeModel};
use aisec_ml::net::Architecture;
use aisec_ml::train::init_network;
use aisec_scan::Verdict;

#[test]
fn the_checkpoint_scans_clean_and_the_poisoned_copy_is_caught() {
    let (train, _) = BuiltinDataset::Digits.split();
    let network = init_network(Architecture::Cnn, &train, 7).unwrap();
    let model = NativeModel::new(network, Manifest::new(Architecture::Cnn, &train, 7));
    let kb = KnowledgeBase::embedded().unwrap();
    let stage = aisec_assess::demo::scan::run(&model, &kb).unwrap();
    if let Ok(path) = std::env::var("AISEC_WRITE_DEMO_CHECKPOINT") {
        // For checking by hand that torch.load(weights_only=True) reads it.
        std::fs::write(path, &stage.checkpoint).unwrap();
    }

    assert!(stage.tensors >= 4, "{}", stage.tensors);
    let b = &stage.benign;
    assert!(
        b.errors.is_empty() && b.findings.is_empty(),
        "{:?} {:?}",
        b.errors,
        b.findings
    );
    assert_eq!(b.verdict, Verdict::Safe);
    let storages = b
        .parts
        .iter()
        .filter(|(_, f)| f.as_str() == "tensor-data")
        .count();
    assert_eq!(storages, stage.tensors);

    let p = &stage.poisoned;
    assert_eq!(p.verdict, Verdict::Dangerous);
    let hit = &p.findings[0];
    assert_eq!(hit.rule, "AISEC-PKL-001");
    assert_eq!(hit.member.as_deref(), Some("baseline/data.pkl"));
    assert_eq!(
        hit.offset,
        Some(
            2 + "cposix\nsystem\n(S'".len() as u64
                + aisec_assess::demo::scan::PAYLOAD_COMMAND.len() as u64
                + 3
        ),
        "REDUCE after PROTO, GLOBAL, MARK, STRING, TUPLE"
    );
    assert!(hit.call.as_deref().unwrap().contains("posix.system(\"curl"));

    let f = &stage.report.findings[0];
    let atlas: Vec<_> = f.atlas.iter().map(|a| a.as_str().to_string()).collect();
    assert!(
        atlas.contains(&"AML.T0010.003".to_string())
            && atlas.contains(&"AML.T0011.000".to_string())
    );
    let m0016 = f
        .mitigations
        .iter()
        .find(|m| m.id.as_str() == "AML.M0016")
        .unwrap();
    assert!(
        m0016.phases.iter().any(|p| p.contains("Model Engineering")),
        "{:?}",
        m0016.phases
    );
}
