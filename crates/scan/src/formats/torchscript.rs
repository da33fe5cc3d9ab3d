//! TorchScript code: the Python-like sources under `code/` in a `torch.jit.save` archive,
//! which `torch.jit.load` compiles and the model then runs. Every operator they name is judged
//! against PyTorch's own operator registry (`policy/torch_ops.txt`, generated from a torch
//! install by `bench/torch_op_table.py`):
//!
//! - operators that take a file name (`aten::save`, `aten::from_file`, a debug loader): the model
//!   reads or writes files when it runs — dangerous;
//! - collective-communication namespaces (`c10d`, `symm_mem`, …): the model sends tensors to
//!   other processes — suspicious;
//! - a namespace PyTorch does not ship (`ops.myns.op`) or a custom class (`torch.classes.…`):
//!   it runs only through a native library the deployment loads first — suspicious;
//! - a name in a known namespace that the registry does not hold: unknown.
//!
//! The sources are tokenised, never run; names inside strings and comments are not calls.
//! The attacker writes these files by hand, so every reference counts, called or not, and the
//! builtin modules used as values (`f = torch`) are unknown rather than ignored.
//! ATLAS: AML.T0011.000 (unsafe AI artifacts), AML.T0010.003 (supply chain: model).

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use crate::policy::Verdict;
use crate::rules::RuleId;
use crate::scanner::{Ctx, Location, ScanFinding};

const REGISTRY: &str = include_str!("../policy/torch_ops.txt");

/// Operators whose schema takes a file name (found by `bench/torch_op_table.py`).
const FILE_OPERATORS: &[(&str, &str)] = &[
    ("aten::save", "writes a tensor to a file"),
    ("aten::from_file", "maps or reads a file into a tensor"),
    (
        "debugprims::load_tensor",
        "loads a tensor from a debug store",
    ),
];

/// Namespaces whose operators talk to other processes or devices across the network.
const COMMUNICATION: &[&str] = &[
    "c10d",
    "_c10d_functional",
    "_c10d_functional_autograd",
    "symm_mem",
    "_dtensor",
    "fsdp",
];

struct Registry {
    operators: HashSet<&'static str>,
    namespaces: HashSet<&'static str>,
    /// TorchBind classes torch registers itself, `namespace.Name`.
    classes: HashSet<&'static str>,
}

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| {
        let operators: HashSet<&str> = REGISTRY
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty() && !l.starts_with("class "))
            .collect();
        let classes = REGISTRY
            .lines()
            .filter_map(|l| l.strip_prefix("class "))
            .collect();
        let namespaces = operators
            .iter()
            .filter_map(|o| o.split_once("::").map(|(ns, _)| ns))
            .collect();
        Registry {
            operators,
            namespaces,
            classes,
        }
    })
}

#[derive(Debug, PartialEq)]
enum Token {
    /// A dotted name, its start offset, and whether it follows a `.` (an attribute of an
    /// expression, such as `(fc).forward`, rather than a name the resolver looks up).
    Name(String, usize, bool),
    Str(String),
    Punct(char),
}

/// Skips what may sit between a name and its `.` without ending the expression: spaces and
/// newlines, backslash line continuations and comments (inside brackets a comment may end a
/// line and the expression go on).
fn skip_gap(b: &[u8], mut k: usize) -> usize {
    loop {
        match b.get(k) {
            Some(c) if c.is_ascii_whitespace() => k += 1,
            Some(b'\\') if matches!(b.get(k + 1), Some(b'\n' | b'\r')) => k += 2,
            Some(b'#') => {
                while k < b.len() && b[k] != b'\n' {
                    k += 1;
                }
            }
            _ => return k,
        }
    }
}

/// Splits TorchScript source into dotted names, string literals and punctuation; comments
/// are dropped and whitespace (newlines too) may surround the dots.
fn tokens(src: &str) -> Vec<Token> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut after_dot = false;
    while i < b.len() {
        let c = b[i];
        if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'"' || c == b'\'' {
            let triple = b[i..].starts_with(&[c, c, c]);
            let quote: &[u8] = if triple { &b[i..i + 3] } else { &b[i..i + 1] };
            let start = i + quote.len();
            let mut j = start;
            while j < b.len() && !b[j..].starts_with(quote) {
                if b[j] == b'\\' {
                    j += 1;
                }
                j += 1;
            }
            let end = j.min(b.len());
            let value = String::from_utf8_lossy(&b[start..end]).into_owned();
            // Adjacent literals are one string, as in Python ("sa" "ve").
            match out.last_mut() {
                Some(Token::Str(prev)) => prev.push_str(&value),
                _ => out.push(Token::Str(value)),
            }
            i = (end + quote.len()).min(b.len());
            after_dot = false;
            continue;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            let mut name = String::new();
            loop {
                let s = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                name.push_str(&src[s..i]);
                let k = skip_gap(b, i);
                if k < b.len() && b[k] == b'.' {
                    let m = skip_gap(b, k + 1);
                    if m < b.len() && (b[m].is_ascii_alphabetic() || b[m] == b'_') {
                        name.push('.');
                        i = m;
                        continue;
                    }
                }
                break;
            }
            // String prefixes (r"…", b'…') belong to the literal that follows.
            let prefix = name.len() <= 2
                && name.chars().all(|c| "rbuRBU".contains(c))
                && matches!(b.get(i), Some(b'"' | b'\''));
            if !prefix {
                out.push(Token::Name(name, start, after_dot));
                after_dot = false;
            }
            continue;
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
                i += 1;
            }
            after_dot = false;
            continue;
        } else if !c.is_ascii_whitespace() {
            out.push(Token::Punct(c as char));
            after_dot = c == b'.';
        }
        i += 1;
    }
    out
}

/// What one reference is, when it is not plain tensor code.
struct Concern {
    rule: RuleId,
    verdict: Verdict,
    why: String,
}

fn judge_operator(namespace: &str, name: &str) -> Option<Concern> {
    let qualified = format!("{namespace}::{name}");
    if let Some((_, what)) = FILE_OPERATORS.iter().find(|(op, _)| *op == qualified) {
        return Some(Concern {
            rule: RuleId::TorchScriptEffectOperator,
            verdict: Verdict::Dangerous,
            why: format!("{qualified} {what} when the model runs"),
        });
    }
    if COMMUNICATION.contains(&namespace) {
        return Some(Concern {
            rule: RuleId::TorchScriptEffectOperator,
            verdict: Verdict::Suspicious,
            why: format!("{qualified} sends or receives tensors from other processes"),
        });
    }
    let r = registry();
    if !r.namespaces.contains(namespace) {
        return Some(Concern {
            rule: RuleId::TorchScriptCustomOperator,
            verdict: Verdict::Suspicious,
            why: format!("{qualified}: namespace {namespace:?} is not PyTorch's or torchvision's; it runs only through a native library the deployment loads first (torch.ops.load_library)"),
        });
    }
    if !r.operators.contains(qualified.as_str()) {
        return Some(Concern {
            rule: RuleId::TorchScriptUnknownName,
            verdict: Verdict::Unknown,
            why: format!("{qualified} is not an operator of the PyTorch this table was made from"),
        });
    }
    None
}

/// Judges one dotted name the TorchScript resolver would look up.
fn judge(name: &str) -> Option<Concern> {
    let parts: Vec<&str> = name.split('.').collect();
    // torch's own TorchBind classes (quantized packed parameters, RNN cell parameters) are
    // what `quantize_dynamic` and `convert` put in every quantized model; the communication
    // ones reach other processes; any other is a native library's.
    let custom_class = |rest: &[&str]| -> Option<Concern> {
        let class = rest.join(".");
        let namespace = rest.first().copied().unwrap_or("");
        if registry().classes.contains(class.as_str()) {
            return (COMMUNICATION.contains(&namespace) || namespace == "dist_rpc").then(|| {
                Concern {
                    rule: RuleId::TorchScriptEffectOperator,
                    verdict: Verdict::Suspicious,
                    why: format!("class {class} sends or receives tensors from other processes"),
                }
            });
        }
        Some(Concern {
            rule: RuleId::TorchScriptCustomOperator,
            verdict: Verdict::Suspicious,
            why: format!(
                "custom class {class}: a C++ class from a native library the deployment loads first"
            ),
        })
    };
    // The exporter never writes these: TorchScript resolves `torch.x` and `ops.ns.x` by name,
    // so a module bound to a variable or handed to getattr hides which operator it reaches.
    let module_as_value = || Concern {
        rule: RuleId::TorchScriptCustomOperator,
        verdict: Verdict::Suspicious,
        why: format!("{name} is used as a value, so the operators it reaches are not named"),
    };
    match parts.as_slice() {
        ["torch"] | ["ops"] | ["torch", "ops"] | ["ops", _] | ["torch", "ops", _] => {
            Some(module_as_value())
        }
        ["torch", "classes", rest @ ..] | ["__torch__", "torch", "classes", rest @ ..] => {
            custom_class(rest)
        }
        ["torch", "ops", ns, op, ..] | ["ops", ns, op, ..] => judge_operator(ns, op),
        ["torch", op, ..] => judge_operator("aten", op),
        _ => None,
    }
}

/// Scans one TorchScript source file.
pub fn scan_code(ctx: &mut Ctx, source: &[u8], at: &Location) {
    let src = String::from_utf8_lossy(source);
    let toks = tokens(&src);
    // One finding per operator, with where it first appears and how often.
    let mut seen: BTreeMap<String, (Concern, usize, usize)> = BTreeMap::new();
    let mut note = |name: String, offset: usize| {
        if let Some(c) = judge(&name) {
            seen.entry(name)
                .and_modify(|e| e.2 += 1)
                .or_insert((c, offset, 1));
        }
    };
    for (i, t) in toks.iter().enumerate() {
        let Token::Name(name, offset, attribute) = t else {
            continue;
        };
        if *attribute {
            continue;
        }
        note(name.clone(), *offset);
        // getattr(torch, "save") names the operator in a string (parenthesised or not);
        // a name it cannot read leaves the module itself judged, as a value.
        if name == "getattr" {
            if let [Token::Punct('('), Token::Name(module, _, false), Token::Punct(','), rest @ ..] =
                &toks[i + 1..]
            {
                let literal = match rest {
                    [Token::Str(a), Token::Punct(')'), ..] => Some(a),
                    [Token::Punct('('), Token::Str(a), Token::Punct(')'), Token::Punct(')'), ..] => {
                        Some(a)
                    }
                    _ => None,
                };
                if let Some(attr) =
                    literal.filter(|a| a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                {
                    note(format!("{module}.{attr}"), *offset);
                }
            }
        }
    }
    for (name, (concern, offset, count)) in seen {
        let line = src[..offset].matches('\n').count() + 1;
        let times = if count > 1 {
            format!(" ({count} references)")
        } else {
            String::new()
        };
        ctx.findings.push(
            ScanFinding::new(
                concern.rule,
                concern.verdict,
                at,
                format!("line {line}: {name}: {}{times}", concern.why),
            )
            .at(offset as u64),
        );
    }
}

/// Scans a mobile (lite-interpreter) archive's `bytecode.pkl`: the lite interpreter runs its
/// operator table, not `code/`, so an archive whose sources are clean can still call
/// `aten::save` there. The table's entries are strings `namespace::name`, read from the
/// pickle's string opcodes without running it (the pickle itself is judged as any other).
pub fn scan_bytecode(ctx: &mut Ctx, pickle: &[u8], at: &Location) {
    let mut seen: BTreeMap<String, (Concern, usize, usize)> = BTreeMap::new();
    let mut i = 0;
    while i < pickle.len() {
        let (len, start) = match pickle[i] {
            // BINUNICODE: a 4-byte length; SHORT_BINUNICODE: a 1-byte length.
            b'X' if i + 5 <= pickle.len() => (
                u32::from_le_bytes([pickle[i + 1], pickle[i + 2], pickle[i + 3], pickle[i + 4]])
                    as usize,
                i + 5,
            ),
            0x8c if i + 2 <= pickle.len() => (usize::from(pickle[i + 1]), i + 2),
            _ => {
                i += 1;
                continue;
            }
        };
        let Some(bytes) = start
            .checked_add(len)
            .and_then(|end| pickle.get(start..end))
        else {
            i += 1;
            continue;
        };
        if let Some((ns, name)) = std::str::from_utf8(bytes)
            .ok()
            .and_then(|t| t.split_once("::"))
            .filter(|(ns, name)| {
                [ns, name].iter().all(|p| {
                    !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                })
            })
        {
            // `aten::add.Tensor`: the overload is not part of the operator's name.
            let op = name.split('.').next().unwrap_or(name);
            if let Some(c) = judge_operator(ns, op) {
                seen.entry(format!("{ns}::{op}"))
                    .and_modify(|e| e.2 += 1)
                    .or_insert((c, i, 1));
            }
            i = start + len;
            continue;
        }
        i += 1;
    }
    for (name, (concern, offset, _)) in seen {
        ctx.findings.push(
            ScanFinding::new(
                concern.rule,
                concern.verdict,
                at,
                format!("operator table entry {name}: {}", concern.why),
            )
            .at(offset as u64),
        );
    }
}

/// Whether a member of a zip is TorchScript source: a `.py` under a `code/` folder of an
/// archive that holds a TorchScript model's pickles.
pub fn is_code_member(name: &str, archive_names: &[&str]) -> bool {
    let in_code = name.starts_with("code/") || name.contains("/code/");
    in_code
        && name.ends_with(".py")
        && archive_names.iter().any(|n| {
            ["constants.pkl", "data.pkl", "bytecode.pkl"]
                .iter()
                .any(|p| *n == *p || n.ends_with(&format!("/{p}")))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(src: &str) -> Vec<String> {
        tokens(src)
            .into_iter()
            .filter_map(|t| match t {
                Token::Name(n, _, false) => Some(n),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn dotted_names_skip_strings_comments_and_attributes() {
        let src = "x = torch.add(a, b)  # torch.save(x)\ny = \"torch.from_file\"\nz = (fc).forward(x)\nw = torch .\n  save(x, 'p')";
        assert_eq!(
            names(src),
            [
                "x",
                "torch.add",
                "a",
                "b",
                "y",
                "z",
                "fc",
                "x",
                "w",
                "torch.save",
                "x"
            ]
        );
    }

    #[test]
    fn operators_are_judged_by_the_registry() {
        assert!(judge("torch.add").is_none());
        assert!(judge("torch.linear").is_none());
        assert!(judge("ops.prim.NumToTensor").is_none());
        assert!(judge("ops.torchvision.nms").is_none());
        assert_eq!(judge("torch.save").unwrap().verdict, Verdict::Dangerous);
        assert_eq!(
            judge("torch.from_file").unwrap().verdict,
            Verdict::Dangerous
        );
        assert_eq!(judge("ops.aten.save").unwrap().verdict, Verdict::Dangerous);
        assert_eq!(judge("ops.myns.boom").unwrap().verdict, Verdict::Suspicious);
        assert_eq!(
            judge("__torch__.torch.classes.myns.Shell").unwrap().verdict,
            Verdict::Suspicious
        );
        assert_eq!(
            judge("ops.c10d.broadcast_").unwrap().verdict,
            Verdict::Suspicious
        );
        assert_eq!(judge("torch.not_an_op").unwrap().verdict, Verdict::Unknown);
        assert_eq!(judge("torch").unwrap().verdict, Verdict::Suspicious);
        assert!(judge("__torch__.Net").is_none());
        // torch's own classes, which every quantized model holds.
        assert!(judge("__torch__.torch.classes.quantized.LinearPackedParamsBase").is_none());
        assert!(judge("__torch__.torch.classes.rnn.CellParamsBase").is_none());
        assert_eq!(
            judge("__torch__.torch.classes.c10d.ProcessGroup")
                .unwrap()
                .verdict,
            Verdict::Suspicious
        );
        assert!(judge("math.sqrt").is_none());
    }

    #[test]
    fn string_prefixes_are_not_names() {
        assert_eq!(names("a = b\"torch.save\" + r'x'"), ["a"]);
    }
}
