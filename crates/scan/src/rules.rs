//! The scan rules: stable IDs (SARIF `ruleId`), what each finds, its default severity, CWE and
//! ATLAS techniques. Adding a rule means adding one entry here and emitting its ID.

use aisec_core::Severity;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    pub id: &'static str,
    pub name: &'static str,
    pub summary: &'static str,
    pub severity: Severity,
    pub cwe: &'static [&'static str],
    pub atlas: &'static [&'static str],
}

const PICKLE_ATLAS: &[&str] = &["AML.T0011.000", "AML.T0010.003", "AML.T0018.002"];
const CONTAINER_ATLAS: &[&str] = &["AML.T0010.003", "AML.T0011.000"];

pub const RULES: &[Rule] = &[
    Rule {
        id: "AISEC-PKL-001",
        name: "pickle-dangerous-call",
        summary: "The pickle calls a callable that executes code or reaches processes, files, the network or the import machinery",
        severity: Severity::Critical,
        cwe: &["CWE-502", "CWE-94"],
        atlas: PICKLE_ATLAS,
    },
    Rule {
        id: "AISEC-PKL-002",
        name: "pickle-dangerous-import",
        summary: "The pickle imports a dangerous callable (loading imports it even where it is not called directly)",
        severity: Severity::High,
        cwe: &["CWE-502"],
        atlas: PICKLE_ATLAS,
    },
    Rule {
        id: "AISEC-PKL-003",
        name: "pickle-unknown-import",
        summary: "The pickle imports a callable that is not on the allowlist",
        severity: Severity::Medium,
        cwe: &["CWE-502"],
        atlas: PICKLE_ATLAS,
    },
    Rule {
        id: "AISEC-PKL-007",
        name: "pickle-unreviewed-call",
        summary: "The pickle calls a callable that is neither allowlisted nor denied (REDUCE, NEWOBJ, OBJ, INST): calling unreviewed code at load time; allow it with --allow after review",
        severity: Severity::Medium,
        cwe: &["CWE-502"],
        atlas: PICKLE_ATLAS,
    },
    Rule {
        id: "AISEC-PKL-008",
        name: "pickle-frame-straddle",
        summary: "An opcode's operand crosses the end of its FRAME: CPython's readers disagree on the bytes that follow (pure Python refuses, the C reader on a file reads from the frame's end, frame-ignoring parsers read on), a way to hide a payload from scanners",
        severity: Severity::High,
        cwe: &["CWE-436", "CWE-502"],
        atlas: PICKLE_ATLAS,
    },
    Rule {
        id: "AISEC-PKL-009",
        name: "pickle-staged-payload",
        summary: "A string or bytes value holds another pickle (raw, base64 or hex) or Python source: a staged payload for a program that unpickles or evaluates it; an inner pickle is scanned as a part of its own",
        severity: Severity::Medium,
        cwe: &["CWE-502", "CWE-94"],
        atlas: PICKLE_ATLAS,
    },
    Rule {
        id: "AISEC-PKL-004",
        name: "pickle-mutates-import",
        summary: "The pickle mutates an imported object (BUILD, SETITEM or APPEND on a module attribute or class)",
        severity: Severity::High,
        cwe: &["CWE-502", "CWE-915"],
        atlas: PICKLE_ATLAS,
    },
    Rule {
        id: "AISEC-PKL-005",
        name: "pickle-call-on-call-result",
        summary: "The pickle calls the result of another call (a gadget chain such as getattr(...)(...))",
        severity: Severity::High,
        cwe: &["CWE-502"],
        atlas: PICKLE_ATLAS,
    },
    Rule {
        id: "AISEC-PKL-006",
        name: "pickle-trailing-data",
        summary: "Data follows the pickle's STOP: a second pickle, or bytes a naive scanner skips",
        severity: Severity::Low,
        cwe: &["CWE-434"],
        atlas: CONTAINER_ATLAS,
    },
    Rule {
        id: "AISEC-ARC-001",
        name: "zip-header-mismatch",
        summary: "A zip entry's local header disagrees with the central directory (name, method or sizes): loaders and scanners may read different data",
        severity: Severity::High,
        cwe: &["CWE-436"],
        atlas: CONTAINER_ATLAS,
    },
    Rule {
        id: "AISEC-ARC-007",
        name: "pickle-zip-polyglot",
        summary: "The file parses as a pickle from its start and as a zip from its end: different loaders run different contents; both are scanned",
        severity: Severity::Medium,
        cwe: &["CWE-436"],
        atlas: CONTAINER_ATLAS,
    },
    Rule {
        id: "AISEC-XML-001",
        name: "xml-entity-attack",
        summary: "An XML model file (PMML …) declares external entities (the loader's parser reads local files or URLs) or nests internal entities into an expansion bomb",
        severity: Severity::High,
        cwe: &["CWE-611", "CWE-776"],
        atlas: CONTAINER_ATLAS,
    },
    Rule {
        id: "AISEC-ARC-002",
        name: "zip-bad-crc",
        summary: "A zip entry's CRC-32 is wrong: Python's zipfile refuses it, PyTorch's reader does not",
        severity: Severity::Medium,
        cwe: &["CWE-436"],
        atlas: CONTAINER_ATLAS,
    },
    Rule {
        id: "AISEC-ARC-003",
        name: "zip-odd-flags",
        summary: "A zip entry sets flag bits (encryption, patched data) that some readers honour and loaders ignore",
        severity: Severity::Medium,
        cwe: &["CWE-436"],
        atlas: CONTAINER_ATLAS,
    },
    Rule {
        id: "AISEC-ARC-004",
        name: "archive-duplicate-name",
        summary: "Two archive entries share a name: different readers pick different ones",
        severity: Severity::High,
        cwe: &["CWE-436"],
        atlas: CONTAINER_ATLAS,
    },
    Rule {
        id: "AISEC-ARC-005",
        name: "archive-path-traversal",
        summary: "An archive entry's name is absolute or climbs out of the extraction folder",
        severity: Severity::High,
        cwe: &["CWE-22"],
        atlas: CONTAINER_ATLAS,
    },
    Rule {
        id: "AISEC-ARC-006",
        name: "zip-overlapping-entries",
        summary: "Zip entries overlap in the file (the construction of non-recursive zip bombs and of polyglots)",
        severity: Severity::High,
        cwe: &["CWE-409"],
        atlas: CONTAINER_ATLAS,
    },
    Rule {
        id: "AISEC-NPY-001",
        name: "npy-object-array",
        summary: "A NumPy array of dtype object: its data is a pickle, loaded when allow_pickle=True",
        severity: Severity::Medium,
        cwe: &["CWE-502"],
        atlas: PICKLE_ATLAS,
    },
    Rule {
        id: "AISEC-ST-001",
        name: "safetensors-invalid",
        summary: "A safetensors header whose offsets, dtypes or shapes do not describe its data",
        severity: Severity::High,
        cwe: &["CWE-20"],
        atlas: CONTAINER_ATLAS,
    },
    Rule {
        id: "AISEC-ST-002",
        name: "safetensors-trailing-data",
        summary: "Bytes after the last tensor of a safetensors file (room for a polyglot payload)",
        severity: Severity::Medium,
        cwe: &["CWE-20"],
        atlas: CONTAINER_ATLAS,
    },
    Rule {
        id: "AISEC-ONNX-001",
        name: "onnx-external-data-escape",
        summary: "An ONNX tensor's external data path is absolute or leaves the model's folder (arbitrary file read)",
        severity: Severity::High,
        cwe: &["CWE-22"],
        atlas: &["AML.T0011.000", "AML.T0010.003"],
    },
    Rule {
        id: "AISEC-ONNX-002",
        name: "onnx-custom-domain",
        summary: "An ONNX node uses a custom operator domain: loading it needs a native custom-op library",
        severity: Severity::Medium,
        cwe: &["CWE-829"],
        atlas: &["AML.T0011.000", "AML.T0010.003"],
    },
    Rule {
        id: "AISEC-ONNX-003",
        name: "onnx-input-triggered-override",
        summary: "An ONNX graph output the network computes is switched by a comparison or other step of the raw input alone (through Where, If or a cast mask) with no weighted layer in between: an architectural backdoor that overrides the network when an input carries the key",
        severity: Severity::High,
        cwe: &["CWE-506"],
        atlas: &["AML.T0018.001", "AML.T0010.003"],
    },
    Rule {
        id: "AISEC-KERAS-001",
        name: "keras-lambda-layer",
        summary: "A Keras Lambda layer: its function is marshalled Python bytecode, run on load outside safe mode",
        severity: Severity::Critical,
        cwe: &["CWE-94"],
        atlas: PICKLE_ATLAS,
    },
    Rule {
        id: "AISEC-KERAS-002",
        name: "keras-foreign-reference",
        summary: "A Keras config names a module or function outside Keras, which deserialisation imports",
        severity: Severity::High,
        cwe: &["CWE-470"],
        atlas: PICKLE_ATLAS,
    },
    Rule {
        id: "AISEC-GGUF-001",
        name: "gguf-template-injection",
        summary: "A GGUF chat template reaches for Python internals (Jinja server-side template injection)",
        severity: Severity::Critical,
        cwe: &["CWE-1336"],
        atlas: &["AML.T0011.000", "AML.T0010.003", "AML.T0018.002"],
    },
    Rule {
        id: "AISEC-GGUF-002",
        name: "gguf-invalid",
        summary: "A GGUF tensor or metadata value lies outside the file or is inconsistent",
        severity: Severity::High,
        cwe: &["CWE-125"],
        atlas: CONTAINER_ATLAS,
    },
    Rule {
        id: "AISEC-ARC-008",
        name: "decompression-bomb",
        summary: "A compressed stream or member expands far beyond what model data compresses to (a decompression bomb): a loader or scanner that expands it runs out of memory or disk (denial of service)",
        severity: Severity::High,
        cwe: &["CWE-409", "CWE-400"],
        atlas: &["AML.T0029", "AML.T0010.003"],
    },
    Rule {
        id: "AISEC-TS-001",
        name: "torchscript-effect-operator",
        summary: "TorchScript code calls an operator that reads or writes files or talks to other processes when the model runs",
        severity: Severity::Critical,
        cwe: &["CWE-73", "CWE-94"],
        atlas: &["AML.T0011.000", "AML.T0010.003"],
    },
    Rule {
        id: "AISEC-TS-002",
        name: "torchscript-custom-operator",
        summary: "TorchScript code calls an operator or class from a namespace PyTorch does not ship: it runs only through a native library the deployment loads",
        severity: Severity::Medium,
        cwe: &["CWE-829"],
        atlas: &["AML.T0011.000", "AML.T0010.003"],
    },
    Rule {
        id: "AISEC-TS-003",
        name: "torchscript-unknown-name",
        summary: "TorchScript code names something that is not an operator of PyTorch's registry, or uses a builtin module as a value",
        severity: Severity::Low,
        cwe: &["CWE-94"],
        atlas: &["AML.T0011.000"],
    },
    Rule {
        id: "AISEC-TF-001",
        name: "tensorflow-effect-op",
        summary: "A TensorFlow graph runs an op that reads or writes files, runs Python or another program, or reaches the network",
        severity: Severity::Critical,
        cwe: &["CWE-73", "CWE-94"],
        atlas: &["AML.T0011.000", "AML.T0010.003"],
    },
    Rule {
        id: "AISEC-TF-002",
        name: "tensorflow-custom-op",
        summary: "A TensorFlow graph uses an op that TensorFlow does not register: it runs only through a native library loaded with tf.load_op_library",
        severity: Severity::Medium,
        cwe: &["CWE-829"],
        atlas: &["AML.T0011.000", "AML.T0010.003"],
    },
];

/// Every rule, by name: a finding names its rule with one of these, so a mistyped ID is a
/// compile error, not a panic at scan time. The order is the order of [`RULES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleId {
    /// `AISEC-PKL-001`
    PickleDangerousCall,
    /// `AISEC-PKL-002`
    PickleDangerousImport,
    /// `AISEC-PKL-003`
    PickleUnknownImport,
    /// `AISEC-PKL-007`
    PickleUnreviewedCall,
    /// `AISEC-PKL-008`
    PickleFrameStraddle,
    /// `AISEC-PKL-009`
    PickleStagedPayload,
    /// `AISEC-PKL-004`
    PickleMutatesImport,
    /// `AISEC-PKL-005`
    PickleCallOnCallResult,
    /// `AISEC-PKL-006`
    PickleTrailingData,
    /// `AISEC-ARC-001`
    ZipHeaderMismatch,
    /// `AISEC-ARC-007`
    PickleZipPolyglot,
    /// `AISEC-XML-001`
    XmlEntityAttack,
    /// `AISEC-ARC-002`
    ZipBadCrc,
    /// `AISEC-ARC-003`
    ZipOddFlags,
    /// `AISEC-ARC-004`
    ArchiveDuplicateName,
    /// `AISEC-ARC-005`
    ArchivePathTraversal,
    /// `AISEC-ARC-006`
    ZipOverlappingEntries,
    /// `AISEC-NPY-001`
    NpyObjectArray,
    /// `AISEC-ST-001`
    SafetensorsInvalid,
    /// `AISEC-ST-002`
    SafetensorsTrailingData,
    /// `AISEC-ONNX-001`
    OnnxExternalDataEscape,
    /// `AISEC-ONNX-002`
    OnnxCustomDomain,
    /// `AISEC-ONNX-003`
    OnnxInputTriggeredOverride,
    /// `AISEC-KERAS-001`
    KerasLambdaLayer,
    /// `AISEC-KERAS-002`
    KerasForeignReference,
    /// `AISEC-GGUF-001`
    GgufTemplateInjection,
    /// `AISEC-GGUF-002`
    GgufInvalid,
    /// `AISEC-ARC-008`
    DecompressionBomb,
    /// `AISEC-TS-001`
    TorchScriptEffectOperator,
    /// `AISEC-TS-002`
    TorchScriptCustomOperator,
    /// `AISEC-TS-003`
    TorchScriptUnknownName,
    /// `AISEC-TF-001`
    TensorflowEffectOp,
    /// `AISEC-TF-002`
    TensorflowCustomOp,
}

impl RuleId {
    pub const ALL: &'static [RuleId] = &[
        RuleId::PickleDangerousCall,
        RuleId::PickleDangerousImport,
        RuleId::PickleUnknownImport,
        RuleId::PickleUnreviewedCall,
        RuleId::PickleFrameStraddle,
        RuleId::PickleStagedPayload,
        RuleId::PickleMutatesImport,
        RuleId::PickleCallOnCallResult,
        RuleId::PickleTrailingData,
        RuleId::ZipHeaderMismatch,
        RuleId::PickleZipPolyglot,
        RuleId::XmlEntityAttack,
        RuleId::ZipBadCrc,
        RuleId::ZipOddFlags,
        RuleId::ArchiveDuplicateName,
        RuleId::ArchivePathTraversal,
        RuleId::ZipOverlappingEntries,
        RuleId::NpyObjectArray,
        RuleId::SafetensorsInvalid,
        RuleId::SafetensorsTrailingData,
        RuleId::OnnxExternalDataEscape,
        RuleId::OnnxCustomDomain,
        RuleId::OnnxInputTriggeredOverride,
        RuleId::KerasLambdaLayer,
        RuleId::KerasForeignReference,
        RuleId::GgufTemplateInjection,
        RuleId::GgufInvalid,
        RuleId::DecompressionBomb,
        RuleId::TorchScriptEffectOperator,
        RuleId::TorchScriptCustomOperator,
        RuleId::TorchScriptUnknownName,
        RuleId::TensorflowEffectOp,
        RuleId::TensorflowCustomOp,
    ];

    pub fn rule(self) -> &'static Rule {
        &RULES[self as usize]
    }

    /// The stable ID, e.g. `AISEC-PKL-001` (SARIF `ruleId`).
    pub fn id(self) -> &'static str {
        self.rule().id
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_enum_follows_the_table() {
        assert_eq!(super::RuleId::ALL.len(), super::RULES.len());
        for (i, id) in super::RuleId::ALL.iter().enumerate() {
            assert_eq!(*id as usize, i);
            assert_eq!(id.id(), super::RULES[i].id);
        }
    }

    #[test]
    fn ids_are_unique_and_atlas_ids_parse() {
        let mut seen = std::collections::HashSet::new();
        for r in super::RULES {
            assert!(seen.insert(r.id), "{}", r.id);
            for a in r.atlas {
                aisec_core::AtlasRef::parse(a).unwrap();
            }
        }
    }
}
