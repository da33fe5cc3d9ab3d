//! Pickle scanning: run every pickle in a stream on the emulated machine ([`machine`]), then
//! judge the call graph it recorded against the [`Policy`].
//!
//! A stream may hold several pickles back to back (legacy `torch.save` writes five, then raw
//! storage bytes). After each STOP the scanner tries the rest as another pickle; what parses
//! to a STOP is judged like the first, what does not is reported as trailing data — never
//! silently ignored.

pub mod embedded;
pub mod machine;
pub mod value;

use aisec_core::Severity;

use crate::policy::{Policy, Verdict};
use crate::rules::RuleId;
use crate::scanner::{Limits, Location, ScanFinding};
use crate::ScanError;
use machine::{Budget, Failure, FrameReading, Machine, MachineError, Trace};
use value::{Renderer, Val};

/// What the pickle scan of one stream found.
#[derive(Debug, Default)]
pub struct PickleScan {
    pub findings: Vec<ScanFinding>,
    pub pickles: usize,
    pub opcodes: u64,
    /// Persistent IDs the pickles asked for (PyTorch storages), rendered.
    pub persistent_ids: Vec<Vec<String>>,
    /// Legacy `torch.save` stream (`_use_new_zipfile_serialization=False`): the offset where
    /// its raw storage records start after the five pickles.
    pub legacy_torch_storages: Option<usize>,
    /// Pickles found inside string or bytes values, `(label, bytes)`, for the caller to scan
    /// as parts of their own.
    pub embedded: Vec<(String, Vec<u8>)>,
}

/// Legacy `torch.save` opens with a pickle of this integer (0x1950a86a20f9469cfc6c, LONG1).
const LEGACY_TORCH_MAGIC: &[u8] = b"\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";

fn legacy_torch(data: &[u8], first_end: usize) -> bool {
    data[..first_end.min(data.len())]
        .windows(LEGACY_TORCH_MAGIC.len())
        .any(|w| w == LEGACY_TORCH_MAGIC)
        && first_end <= 24
}

fn budget(limits: &Limits) -> Budget {
    Budget {
        opcodes_left: limits.max_opcodes,
        max_memo: limits.max_memo,
        max_stack: limits.max_stack,
        max_expansion: limits.max_expansion,
        deadline: limits.deadline,
    }
}

fn machine_error(location: &Location, e: &MachineError) -> ScanError {
    match &e.failure {
        Failure::Malformed(m) => ScanError::Malformed {
            location: location.display(),
            format: "pickle".into(),
            offset: e.offset as u64,
            message: m.clone(),
        },
        Failure::Budget(m) => ScanError::Budget {
            location: location.display(),
            message: format!("{m} (pickle, byte {})", e.offset),
        },
    }
}

/// Scans `data` as a stream of pickles. Findings made before an error are returned with it:
/// a loader would have run those calls before failing.
pub fn scan(
    data: &[u8],
    location: &Location,
    policy: &Policy,
    limits: &Limits,
) -> (PickleScan, Option<ScanError>) {
    let mut out = PickleScan::default();
    let mut budget = budget(limits);
    let mut pos = 0;
    loop {
        let run = run_checked(data, pos, location, policy, &mut budget, &mut out);
        match run {
            Ok(trace) => {
                out.pickles += 1;
                out.opcodes += trace.opcodes;
                judge(&trace, data, location, policy, &mut out);
                pos = trace.end;
            }
            Err(failed) => {
                let (trace, e) = *failed;
                if out.pickles == 0 {
                    judge(&trace, data, location, policy, &mut out);
                    return (out, Some(machine_error(location, &e)));
                }
                // Not a further pickle: bytes after the last STOP.
                if matches!(e.failure, Failure::Budget(_)) {
                    return (out, Some(machine_error(location, &e)));
                }
                // Legacy torch.save: magic, protocol, system info, the object, the storage
                // keys — then the storages' raw bytes, which torch.load never unpickles.
                if out.legacy_torch_storages.is_some() && out.pickles == 5 {
                    out.legacy_torch_storages = Some(pos);
                    if trace.imports.is_empty() {
                        return (out, None);
                    }
                }
                // A second pickle.load runs what it reads before it fails; judge that part
                // when it imports real names (random bytes rarely spell an identifier).
                if !trace.imports.is_empty()
                    && trace
                        .imports
                        .iter()
                        .all(|i| identifier(&i.module) && identifier(&i.name))
                {
                    judge(&trace, data, location, policy, &mut out);
                }
                let mut f = ScanFinding::new(
                    RuleId::PickleTrailingData,
                    Verdict::Unknown,
                    location,
                    format!(
                        "{} bytes after the last pickle's STOP do not parse as a pickle (raw data such as legacy PyTorch storages, or a payload for a second reader)",
                        data.len() - pos
                    ),
                );
                f.offset = Some(pos as u64);
                f.severity = Severity::Info;
                out.findings.push(f);
                return (out, None);
            }
        }
        if pos >= data.len() {
            return (out, None);
        }
        if out.pickles == 1 && legacy_torch(data, pos) {
            out.legacy_torch_storages = Some(data.len());
        } else if out.pickles == 1 {
            let mut f = ScanFinding::new(
                RuleId::PickleTrailingData,
                Verdict::Unknown,
                location,
                format!("another pickle follows the first one's STOP at byte {pos}: a second pickle.load reads it"),
            );
            f.offset = Some(pos as u64);
            out.findings.push(f);
        }
    }
}

/// Runs and judges exactly one pickle at `start` (for formats that interleave pickles with
/// raw records, such as legacy PyTorch tars). The trace gives its end, result and imports.
pub fn scan_one(
    data: &[u8],
    start: usize,
    location: &Location,
    policy: &Policy,
    limits: &Limits,
) -> (PickleScan, Result<Trace, ScanError>) {
    let mut out = PickleScan::default();
    let mut budget = budget(limits);
    match run_checked(data, start, location, policy, &mut budget, &mut out) {
        Ok(trace) => {
            out.pickles = 1;
            out.opcodes = trace.opcodes;
            judge(&trace, data, location, policy, &mut out);
            (out, Ok(trace))
        }
        Err(failed) => {
            let (trace, e) = *failed;
            judge(&trace, data, location, policy, &mut out);
            (out, Err(machine_error(location, &e)))
        }
    }
}

/// Runs one pickle and, where an operand crossed its frame's end, the second reading too.
fn run_checked(
    data: &[u8],
    start: usize,
    location: &Location,
    policy: &Policy,
    budget: &mut Budget,
    out: &mut PickleScan,
) -> Result<Trace, Box<(Trace, MachineError)>> {
    let run = Machine::run(data, start, budget);
    let straddles = match &run {
        Ok(trace) => &trace.frame_straddles,
        Err(failed) => &failed.0.frame_straddles,
    };
    if !straddles.is_empty() {
        let straddles = straddles.clone();
        frame_differential(data, start, &straddles, location, policy, budget, out);
    }
    run
}

/// An opcode crossed its FRAME's end: reported, and the pickle is run a second time the way
/// CPython's C unpickler reads it from a file, so a payload only that reader sees is judged.
fn frame_differential(
    data: &[u8],
    start: usize,
    straddles: &[usize],
    location: &Location,
    policy: &Policy,
    budget: &mut Budget,
    out: &mut PickleScan,
) {
    let mut f = ScanFinding::new(
        RuleId::PickleFrameStraddle,
        Verdict::Dangerous,
        location,
        format!(
            "{} opcode(s) cross the end of their FRAME (first at byte {}): pickle.loads and frame-ignoring parsers read on, the C unpickler on an unbuffered stream (torch.load's BytesIO) reads a crossing line from the frame's end, the pure-Python unpickler refuses — both readings are scanned",
            straddles.len(),
            straddles[0]
        ),
    );
    f.offset = Some(straddles[0] as u64);
    out.findings.push(f);
    let trace = match Machine::run_reading(data, start, budget, FrameReading::DropFrameRest) {
        Ok(trace) => trace,
        Err(failed) => failed.0,
    };
    judge(&trace, data, location, policy, out);
}

/// `functools.partial(f, …)` builds a callable and calls nothing (torchvision's ViT stores
/// `partial(nn.LayerNorm, eps=1e-6)` as a layer factory); calling the partial later is a call on
/// a call's result, a finding of its own, and any other callable it is rebuilt with is an
/// import judged on its own. So a partial whose every construction wraps an allowed name is as
/// safe as that name; wrapping anything else keeps `functools` denied.
fn partial_of_reviewed_callables(trace: &Trace, classes: &mut [crate::policy::Classification]) {
    for (g, import) in trace.imports.iter().enumerate() {
        if (import.module.as_str(), import.name.as_str()) != ("functools", "partial") {
            continue;
        }
        let mut constructions = trace.calls.iter().filter(|c| {
            c.method.is_none() && matches!(c.callee.val(), Some(Val::Global(x)) if *x == g)
        });
        let wraps_allowed = |c: &machine::Call| match c.args.val() {
            Some(Val::Tuple(items)) => matches!(
                items.first().and_then(|f| f.val()),
                Some(Val::Global(f)) if classes[*f].verdict == Verdict::Safe
            ),
            _ => false,
        };
        let mut any = false;
        if constructions.all(|c| {
            any = true;
            wraps_allowed(c)
        }) && any
        {
            classes[g] = crate::policy::Classification {
                verdict: Verdict::Safe,
                reason:
                    "functools.partial of an allowed callable: builds a callable, calls nothing"
                        .into(),
            };
        }
    }
}

fn judge(trace: &Trace, data: &[u8], location: &Location, policy: &Policy, out: &mut PickleScan) {
    for nested in &trace.nested {
        judge(nested, data, location, policy, out);
    }
    embedded::inspect(trace, data, location, out);
    let global_name = |i: usize| trace.imports[i].qualified();
    let call_text = |i: usize| -> String {
        let c = &trace.calls[i];
        let inner = Renderer {
            data,
            global_name: &|g| trace.imports[g].qualified(),
            call_text: &|_| "…(…)".to_string(),
            max_chars: 160,
        };
        describe_call(c, &inner)
    };
    let render = Renderer {
        data,
        global_name: &global_name,
        call_text: &call_text,
        max_chars: 400,
    };
    for pid in &trace.persistent_ids {
        let mut strings = Vec::new();
        machine::strings_in(pid, data, &mut strings, 0);
        out.persistent_ids.push(strings);
    }

    let mut classes: Vec<_> = trace
        .imports
        .iter()
        .map(|i| policy.classify(&i.module, &i.name))
        .collect();
    partial_of_reviewed_callables(trace, &mut classes);
    let mut called = vec![false; trace.imports.len()];
    let mut reported_calls = 0usize;
    for c in &trace.calls {
        match (c.callee.val(), c.method) {
            (Some(Val::Global(g)), None | Some("__new__")) => {
                called[*g] = true;
                let class = &classes[*g];
                if class.verdict == Verdict::Safe || reported_calls >= 64 {
                    continue;
                }
                reported_calls += 1;
                let import = &trace.imports[*g];
                let (id, verdict) = if class.verdict == Verdict::Dangerous {
                    (RuleId::PickleDangerousCall, Verdict::Dangerous)
                } else {
                    (RuleId::PickleUnreviewedCall, Verdict::Suspicious)
                };
                let mut f = ScanFinding::new(
                    id,
                    verdict,
                    location,
                    format!("calls {}: {}", import.qualified(), class.reason),
                );
                f.offset = Some(c.offset as u64);
                f.opcode = Some(c.opcode.to_string());
                f.call = Some(describe_call(c, &render));
                out.findings.push(f);
            }
            (Some(Val::Global(g)), Some(method)) => {
                let import = &trace.imports[*g];
                let mut f = ScanFinding::new(
                    RuleId::PickleMutatesImport,
                    Verdict::Dangerous,
                    location,
                    format!(
                        "{} changes the imported object {} through {method}: module or class state altered at load time",
                        c.opcode,
                        import.qualified()
                    ),
                );
                f.offset = Some(c.offset as u64);
                f.opcode = Some(c.opcode.to_string());
                f.call = Some(describe_call(c, &render));
                out.findings.push(f);
            }
            (Some(Val::Call(_)), None) => {
                let mut f = ScanFinding::new(
                    RuleId::PickleCallOnCallResult,
                    Verdict::Dangerous,
                    location,
                    "calls what another call returned: a gadget chain".to_string(),
                );
                f.offset = Some(c.offset as u64);
                f.opcode = Some(c.opcode.to_string());
                f.call = Some(describe_call(c, &render));
                out.findings.push(f);
            }
            _ => {}
        }
    }
    // Imports that were never called directly still run their module's code, and dangerous
    // ones feed gadgets (an argument to a safe-looking call, a BUILD state …).
    let mut seen = std::collections::HashSet::new();
    for (i, import) in trace.imports.iter().enumerate() {
        if called[i] || classes[i].verdict == Verdict::Safe || !seen.insert(import.qualified()) {
            continue;
        }
        let (id, verdict) = if classes[i].verdict == Verdict::Dangerous {
            (RuleId::PickleDangerousImport, Verdict::Dangerous)
        } else {
            (RuleId::PickleUnknownImport, Verdict::Unknown)
        };
        let mut f = ScanFinding::new(
            id,
            verdict,
            location,
            format!("imports {}: {}", import.qualified(), classes[i].reason),
        );
        f.offset = Some(import.offset as u64);
        f.opcode = Some(import.opcode.to_string());
        f.call = Some(import.qualified());
        out.findings.push(f);
    }
}

fn describe_call(c: &machine::Call, r: &Renderer) -> String {
    let callee = r.render(&c.callee);
    let args = match c.args.val() {
        Some(Val::Tuple(items)) => items
            .iter()
            .map(|a| r.render(a))
            .collect::<Vec<_>>()
            .join(", "),
        _ => format!("*{}", r.render(&c.args)),
    };
    let kwargs = c
        .kwargs
        .as_ref()
        .map(|k| format!(", **{}", r.render(k)))
        .unwrap_or_default();
    match c.method {
        None => format!("{callee}({args}{kwargs})"),
        Some("__new__") if args.is_empty() => format!("{callee}.__new__({callee}{kwargs})"),
        Some("__new__") => format!("{callee}.__new__({callee}, {args}{kwargs})"),
        Some(m) => format!("{callee}.{m}({args})"),
    }
}

fn identifier(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// True when the bytes start like a pickle: a PROTO opcode, or a protocol 0/1 opcode that
/// can open a pickle.
pub fn looks_like_pickle(data: &[u8]) -> bool {
    match data {
        [0x80, p, ..] => *p <= 5,
        [first, ..] => b"(]}cN)KJIFSVXUGTlde".contains(first),
        [] => false,
    }
}
