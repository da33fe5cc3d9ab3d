//! A labelled corpus of artifacts built with [`crate::craft`]: dangerous patterns, benign
//! look-alikes and container tricks, each with the verdict a correct scanner gives. The
//! side-by-side benchmark writes it to disk for other scanners; the fuzz targets start from it.

use crate::craft::{self, call, PickleWriter, ZipEntry, ZipWriter};
use crate::Verdict;

pub struct Sample {
    pub name: &'static str,
    pub expected: Verdict,
    pub what: &'static str,
    pub data: Vec<u8>,
}

fn sample(name: &'static str, expected: Verdict, what: &'static str, data: Vec<u8>) -> Sample {
    Sample {
        name,
        expected,
        what,
        data,
    }
}

/// The bytes of the sample called `name`, so that tests check the very artifact the benchmark
/// hands to other scanners instead of building a second copy.
pub fn named(name: &str) -> Option<Vec<u8>> {
    samples()
        .into_iter()
        .find(|s| s.name == name)
        .map(|s| s.data)
}

pub fn samples() -> Vec<Sample> {
    use Verdict::{Dangerous, Safe};
    let evil = call("os", "system", &["id"]);
    let state = craft::torch_state_dict(2, 8);
    let storages = vec![vec![0u8; 32], vec![7u8; 32]];
    let mut out = vec![
        sample(
            "benign-state-dict.pt",
            Safe,
            "torch.save zip of a state dict",
            craft::torch_zip(&state, &storages),
        ),
        sample("benign-raw.pkl", Safe, "a state-dict pickle", state.clone()),
        sample(
            "benign-strings.pkl",
            Safe,
            "strings that name dangerous calls, as data",
            PickleWriter::new()
                .proto(2)
                .empty_dict()
                .string("cmd")
                .string("os.system('id')")
                .setitem()
                .stop()
                .finish(),
        ),
        sample(
            "benign.npy",
            Safe,
            "float array",
            craft::npy("<f4", "(2, 2)", &[0u8; 16]),
        ),
        sample(
            "benign.safetensors",
            Safe,
            "one tensor",
            craft::safetensors(
                r#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
                &[0u8; 16],
            ),
        ),
        sample(
            "os-system.pkl",
            Dangerous,
            "GLOBAL os.system + REDUCE",
            evil.clone(),
        ),
        sample(
            "posix-system-proto0.pkl",
            Dangerous,
            "protocol 0 text, posix alias",
            b"cposix\nsystem\n(S'id'\ntR.".to_vec(),
        ),
        sample(
            "builtin-eval-py2.pkl",
            Dangerous,
            "__builtin__.eval (Python 2 name)",
            call("__builtin__", "eval", &["1+1"]),
        ),
        sample(
            "stack-global-memo.pkl",
            Dangerous,
            "STACK_GLOBAL with operands from the memo",
            PickleWriter::new()
                .proto(4)
                .string("subprocess")
                .memoize()
                .string("getoutput")
                .memoize()
                .pop()
                .pop()
                .binget(0)
                .binget(1)
                .op(0x93)
                .string("id")
                .tuple1()
                .reduce()
                .stop()
                .finish(),
        ),
        sample(
            "getattr-chain.pkl",
            Dangerous,
            "getattr(__import__('os'), 'system')('id')",
            PickleWriter::new()
                .proto(2)
                .global("builtins", "getattr")
                .global("builtins", "__import__")
                .string("os")
                .tuple1()
                .reduce()
                .string("system")
                .tuple2()
                .reduce()
                .string("id")
                .tuple1()
                .reduce()
                .stop()
                .finish(),
        ),
        sample(
            "asyncio-submodule.pkl",
            Dangerous,
            "asyncio.unix_events submodule",
            call("asyncio.unix_events", "_UnixSubprocessTransport", &["id"]),
        ),
        sample(
            "pkgutil-resolve.pkl",
            Dangerous,
            "pkgutil.resolve_name",
            call("pkgutil", "resolve_name", &["os:system"]),
        ),
        sample(
            "runpy.pkl",
            Dangerous,
            "runpy._run_code",
            call("runpy", "_run_code", &["import os", "{}"]),
        ),
        sample(
            "operator-methodcaller.pkl",
            Dangerous,
            "_operator.methodcaller gadget",
            call("_operator", "methodcaller", &["system", "id"]),
        ),
        sample(
            "timeit.pkl",
            Dangerous,
            "timeit.timeit",
            call("timeit", "timeit", &["__import__('os').system('id')"]),
        ),
        sample(
            "numpy-runstring.pkl",
            Dangerous,
            "numpy.testing._private.utils.runstring",
            call(
                "numpy.testing._private.utils",
                "runstring",
                &["import os", "{}"],
            ),
        ),
        sample(
            "inst-opcode.pkl",
            Dangerous,
            "INST opcode",
            b"(S'id'\nios\nsystem\n.".to_vec(),
        ),
        sample(
            "environ-setitem.pkl",
            Dangerous,
            "SETITEM on os.environ",
            PickleWriter::new()
                .proto(2)
                .global("os", "environ")
                .string("LD_PRELOAD")
                .string("/tmp/x.so")
                .setitem()
                .stop()
                .finish(),
        ),
        sample(
            "raw-pickle-as.safetensors",
            Dangerous,
            "a pickle named .safetensors",
            evil.clone(),
        ),
        sample(
            "plain.pt",
            Dangerous,
            "torch zip with a malicious data.pkl",
            craft::torch_zip(&evil, &storages),
        ),
        sample(
            "gzip-wrapped.pkl.gz",
            Dangerous,
            "gzip around the pickle",
            craft::gzip(&evil),
        ),
        sample(
            "object.npy",
            Dangerous,
            "object-dtype .npy with a malicious pickle",
            craft::npy("|O", "(1,)", &evil),
        ),
        sample(
            "zip-in-zip.zip",
            Dangerous,
            "a torch zip inside a zip",
            ZipWriter::new()
                .file("inner/model.pt", &craft::torch_zip(&evil, &[]))
                .finish(),
        ),
        sample(
            "second-pickle.pkl",
            Dangerous,
            "benign pickle, then a malicious one after STOP",
            [state.clone(), evil.clone()].concat(),
        ),
        sample(
            "legacy.tar",
            Dangerous,
            "legacy torch tar with a malicious pickle",
            craft::tar(&[("sys_info", &state), ("pickle", &evil)]),
        ),
    ];
    let mut bad_crc = ZipEntry::new("archive/data.pkl", &evil);
    bad_crc.crc = Some(0xdead_beef);
    out.push(sample(
        "bad-crc.pt",
        Dangerous,
        "torch zip, wrong CRC on data.pkl",
        ZipWriter::new()
            .entry(bad_crc)
            .file("archive/version", b"3\n")
            .finish(),
    ));
    let mut flags = ZipEntry::new("archive/data.pkl", &evil);
    flags.flags = 0x1;
    out.push(sample(
        "encrypted-flag.pt",
        Dangerous,
        "torch zip, encrypted bit set",
        ZipWriter::new()
            .entry(flags)
            .file("archive/version", b"3\n")
            .finish(),
    ));
    let mut renamed = ZipEntry::new("archive/data.pkl", &evil);
    renamed.local_name = Some("archive/notes.txt".into());
    out.push(sample(
        "name-mismatch.pt",
        Dangerous,
        "local and central names differ",
        ZipWriter::new().entry(renamed).finish(),
    ));
    let blob = vec![b'.'; 100 << 20];
    out.push(sample(
        "payload-after-100mb.pkl",
        Dangerous,
        "100 MB of benign bytes, then os.system",
        PickleWriter::new()
            .proto(4)
            .raw(b"\x8e")
            .raw(&(blob.len() as u64).to_le_bytes())
            .raw(&blob)
            .pop()
            .global("os", "system")
            .string("id")
            .tuple1()
            .reduce()
            .stop()
            .finish(),
    ));
    out
}
