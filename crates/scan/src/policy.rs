//! Allowlist first. An import is *safe* only when it is on the allowlist of callables that
//! rebuild data (each entry says why); *dangerous* when it reaches code execution, files,
//! the network, processes or the import machinery; *unknown* otherwise. Unknown is not safe:
//! importing a module runs its top-level code and calling an unknown callable can do anything,
//! so `--strict` fails on it.
//!
//! Matching is on whole dotted components: a rule for `os` covers `os.path` and
//! `asyncio` covers `asyncio.unix_events`, but `osx` is not `os`. Dotted names
//! (`Popen.__init__`, `__builtins__.eval`), which Python resolves attribute by attribute, are
//! dangerous when any component is a dunder that leads to globals, builtins or code.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Safe,
    Unknown,
    Dangerous,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Safe => "safe",
            Verdict::Unknown => "unknown",
            Verdict::Dangerous => "dangerous",
        }
    }
}

/// Why an import got its verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    pub verdict: Verdict,
    pub reason: String,
}

/// Safe reconstruction callables: `(module, name, reason)`.
const ALLOW: &[(&str, &str, &str)] = &[
    (
        "collections",
        "OrderedDict",
        "dict subclass; state dicts are OrderedDicts",
    ),
    (
        "collections",
        "defaultdict",
        "dict subclass; its factory is an import checked on its own",
    ),
    ("collections", "deque", "container"),
    ("collections", "Counter", "dict subclass"),
    ("builtins", "set", "container"),
    ("builtins", "frozenset", "container"),
    ("builtins", "list", "container"),
    ("builtins", "dict", "container"),
    ("builtins", "tuple", "container"),
    ("builtins", "bytearray", "bytes"),
    ("builtins", "bytes", "bytes"),
    ("builtins", "str", "text"),
    ("builtins", "int", "number"),
    ("builtins", "float", "number"),
    ("builtins", "bool", "number"),
    ("builtins", "complex", "number"),
    ("builtins", "slice", "slice object"),
    ("builtins", "range", "range object"),
    (
        "builtins",
        "object",
        "the base class; copyreg reconstructs plain objects from it",
    ),
    (
        "copyreg",
        "_reconstructor",
        "object.__new__ plus a base's __init__; classes are checked as imports",
    ),
    (
        "_codecs",
        "encode",
        "protocol 2 encodes bytes as latin-1 text and calls this to get them back",
    ),
    ("codecs", "encode", "as _codecs.encode"),
    ("datetime", "datetime", "value type"),
    ("datetime", "date", "value type"),
    ("datetime", "time", "value type"),
    ("datetime", "timedelta", "value type"),
    ("datetime", "timezone", "value type"),
    ("decimal", "Decimal", "value type"),
    ("fractions", "Fraction", "value type"),
    ("uuid", "UUID", "value type"),
    ("numpy", "dtype", "dtype description"),
    ("numpy", "ndarray", "array class"),
    (
        "numpy.core.multiarray",
        "_reconstruct",
        "ndarray reconstruction (NumPy 1.x)",
    ),
    (
        "numpy._core.multiarray",
        "_reconstruct",
        "ndarray reconstruction (NumPy 2.x)",
    ),
    (
        "numpy.core.multiarray",
        "scalar",
        "scalar reconstruction (NumPy 1.x)",
    ),
    (
        "numpy._core.multiarray",
        "scalar",
        "scalar reconstruction (NumPy 2.x)",
    ),
    (
        "numpy.core.numeric",
        "_frombuffer",
        "array from bytes (NumPy 1.x, protocol 5)",
    ),
    (
        "numpy._core.numeric",
        "_frombuffer",
        "array from bytes (NumPy 2.x, protocol 5)",
    ),
    (
        "numpy.random._pickle",
        "__randomstate_ctor",
        "looks a bit generator up by name in a fixed table",
    ),
    (
        "numpy.random._pickle",
        "__generator_ctor",
        "looks a bit generator up by name in a fixed table",
    ),
    (
        "numpy.random._pickle",
        "__bit_generator_ctor",
        "looks a bit generator up by name in a fixed table",
    ),
    (
        "torch._utils",
        "_rebuild_tensor",
        "tensor view of a storage",
    ),
    (
        "torch._utils",
        "_rebuild_tensor_v2",
        "tensor view of a storage",
    ),
    (
        "torch._utils",
        "_rebuild_tensor_v3",
        "tensor view of a storage",
    ),
    (
        "torch._utils",
        "_rebuild_parameter",
        "nn.Parameter around a tensor",
    ),
    (
        "torch._utils",
        "_rebuild_parameter_with_state",
        "nn.Parameter around a tensor",
    ),
    ("torch._utils", "_rebuild_qtensor", "quantized tensor"),
    ("torch._utils", "_rebuild_sparse_tensor", "sparse tensor"),
    (
        "torch._utils",
        "_rebuild_device_tensor_from_numpy",
        "tensor from an array",
    ),
    (
        "torch._utils",
        "_rebuild_meta_tensor_no_storage",
        "meta tensor",
    ),
    (
        "torch._utils",
        "_rebuild_wrapper_subclass",
        "tensor subclass shell",
    ),
    ("torch._utils", "_rebuild_nested_tensor", "nested tensor"),
    (
        "torch._tensor",
        "_rebuild_from_type_v2",
        "tensor subclass rebuild; the subclass is an import checked on its own",
    ),
    ("torch", "Size", "shape"),
    ("torch", "device", "device name"),
    ("torch", "Tensor", "tensor class"),
    ("torch.nn.parameter", "Parameter", "parameter class"),
    ("torch", "UntypedStorage", "storage class (persistent ID)"),
    (
        "torch.storage",
        "UntypedStorage",
        "storage class (persistent ID)",
    ),
    (
        "torch",
        "FloatStorage",
        "legacy storage class (persistent ID)",
    ),
    (
        "torch",
        "DoubleStorage",
        "legacy storage class (persistent ID)",
    ),
    (
        "torch",
        "HalfStorage",
        "legacy storage class (persistent ID)",
    ),
    (
        "torch",
        "BFloat16Storage",
        "legacy storage class (persistent ID)",
    ),
    (
        "torch",
        "LongStorage",
        "legacy storage class (persistent ID)",
    ),
    (
        "torch",
        "IntStorage",
        "legacy storage class (persistent ID)",
    ),
    (
        "torch",
        "ShortStorage",
        "legacy storage class (persistent ID)",
    ),
    (
        "torch",
        "CharStorage",
        "legacy storage class (persistent ID)",
    ),
    (
        "torch",
        "ByteStorage",
        "legacy storage class (persistent ID)",
    ),
    (
        "torch",
        "BoolStorage",
        "legacy storage class (persistent ID)",
    ),
    (
        "torch",
        "ComplexFloatStorage",
        "legacy storage class (persistent ID)",
    ),
    (
        "torch",
        "ComplexDoubleStorage",
        "legacy storage class (persistent ID)",
    ),
    (
        "torch",
        "QUInt8Storage",
        "legacy storage class (persistent ID)",
    ),
    (
        "torch",
        "QInt8Storage",
        "legacy storage class (persistent ID)",
    ),
    (
        "torch",
        "QInt32Storage",
        "legacy storage class (persistent ID)",
    ),
    (
        "torch",
        "QUInt4x2Storage",
        "legacy storage class (persistent ID)",
    ),
    (
        "torch",
        "QUInt2x4Storage",
        "legacy storage class (persistent ID)",
    ),
    ("torch", "float32", "dtype"),
    ("torch", "float64", "dtype"),
    ("torch", "float16", "dtype"),
    ("torch", "bfloat16", "dtype"),
    ("torch", "int64", "dtype"),
    ("torch", "int32", "dtype"),
    ("torch", "int16", "dtype"),
    ("torch", "int8", "dtype"),
    ("torch", "uint8", "dtype"),
    ("torch", "bool", "dtype"),
    ("torch", "complex64", "dtype"),
    ("torch", "complex128", "dtype"),
    ("torch", "per_tensor_affine", "quantization scheme"),
    ("torch", "per_channel_affine", "quantization scheme"),
    (
        "joblib.numpy_pickle",
        "NumpyArrayWrapper",
        "joblib's array placeholder; the array bytes follow it in the stream",
    ),
];

/// Dangerous module prefixes: `(module, category)`.
const DENY_MODULES: &[(&str, &str)] = &[
    ("os", "process and file-system access"),
    ("posix", "process and file-system access (os on Unix)"),
    ("nt", "process and file-system access (os on Windows)"),
    ("subprocess", "process execution"),
    ("_posixsubprocess", "process execution"),
    ("pty", "process execution"),
    ("popen2", "process execution"),
    ("platform", "runs external commands"),
    ("_osx_support", "runs external commands"),
    ("_aix_support", "runs external commands"),
    ("sys", "interpreter state (sys.modules, audit hooks)"),
    (
        "copyreg.extension_registry",
        "an EXT code: whatever the loading process registered under it (unresolvable)",
    ),
    ("importlib", "import machinery"),
    ("imp", "import machinery"),
    ("zipimport", "import machinery"),
    ("pkgutil", "import machinery (resolve_name)"),
    ("runpy", "runs modules"),
    ("pip", "installs packages"),
    ("ensurepip", "installs packages"),
    ("setuptools", "builds and installs packages"),
    ("distutils", "builds packages, spawns compilers"),
    ("marshal", "loads code objects"),
    ("types", "builds functions and code objects"),
    ("code", "interactive code execution"),
    ("codeop", "compiles code"),
    ("pdb", "debugger (runs code)"),
    ("bdb", "debugger (runs code)"),
    ("profile", "runs code under the profiler"),
    ("cProfile", "runs code under the profiler"),
    ("timeit", "runs code"),
    ("trace", "runs code"),
    ("idlelib", "runs code"),
    ("webbrowser", "opens URLs, runs browsers"),
    ("socket", "network"),
    ("_socket", "network"),
    ("socketserver", "network"),
    ("ssl", "network"),
    ("http", "network"),
    ("urllib", "network"),
    ("requests", "network"),
    ("httpx", "network"),
    ("ftplib", "network"),
    ("smtplib", "network"),
    ("telnetlib", "network"),
    ("xmlrpc", "network"),
    (
        "asyncio",
        "processes and network (asyncio.subprocess, unix_events)",
    ),
    ("multiprocessing", "processes"),
    ("concurrent", "processes and threads"),
    ("threading", "threads running arbitrary targets"),
    ("_thread", "threads running arbitrary targets"),
    ("signal", "signal handlers"),
    ("ctypes", "native code"),
    ("_ctypes", "native code"),
    ("cffi", "native code"),
    ("shutil", "file-system writes and deletes"),
    ("tempfile", "file-system writes"),
    ("glob", "file-system listing"),
    ("fileinput", "file reads"),
    ("linecache", "file reads"),
    ("io", "file access (io.open)"),
    ("_io", "file access (_io.open)"),
    ("pathlib", "file access"),
    ("tarfile", "archive extraction (path traversal)"),
    ("zipfile", "archive extraction"),
    ("shelve", "nested pickles"),
    ("dbm", "file access"),
    ("pickle", "nested unpickling"),
    ("_pickle", "nested unpickling"),
    ("cPickle", "nested unpickling"),
    ("dill", "nested unpickling of code"),
    ("cloudpickle", "nested unpickling of code"),
    ("numpy.load", "loads pickles"),
    ("numpy.lib.npyio", "loads pickles"),
    ("numpy.f2py", "compiles and runs code"),
    ("numpy.testing", "runs code (runstring)"),
    ("numpy.distutils", "spawns compilers"),
    ("torch.serialization", "nested torch.load"),
    ("torch.jit", "TorchScript code"),
    ("torch.hub", "downloads and runs code"),
    ("torch.utils.cpp_extension", "compiles native code"),
    ("torch._inductor", "compiles and runs code"),
    ("torch._dynamo", "compiles and runs code"),
    ("torch.package", "loads packaged code"),
    ("gc", "reaches every live object"),
    ("inspect", "reaches frames and globals"),
    (
        "operator",
        "attrgetter/methodcaller gadgets reach any attribute or method",
    ),
    (
        "_operator",
        "attrgetter/methodcaller gadgets reach any attribute or method",
    ),
    (
        "functools",
        "partial/reduce chains call arbitrary callables",
    ),
    ("logging.config", "listen() executes received configuration"),
    ("site", "interpreter start-up hooks"),
    ("venv", "creates environments, runs pip"),
    ("builtins.__import__", "import machinery"),
    ("jinja2", "template code execution"),
    ("sqlite3", "file and database access"),
    ("winreg", "registry access"),
    ("_winapi", "process creation on Windows"),
    ("msvcrt", "native console access"),
    ("resource", "process limits"),
    ("tkinter", "GUI event loop runs callbacks"),
];

/// Dangerous names in otherwise harmless modules.
const DENY_NAMES: &[(&str, &str, &str)] = &[
    ("builtins", "eval", "code execution"),
    ("builtins", "exec", "code execution"),
    ("builtins", "compile", "code compilation"),
    ("builtins", "__import__", "import machinery"),
    ("builtins", "getattr", "reaches any attribute (gadget)"),
    ("builtins", "setattr", "mutates any object"),
    ("builtins", "delattr", "mutates any object"),
    ("builtins", "globals", "reaches module globals"),
    ("builtins", "locals", "reaches frame locals"),
    ("builtins", "vars", "reaches object namespaces"),
    ("builtins", "open", "file access"),
    ("builtins", "input", "reads the terminal"),
    ("builtins", "breakpoint", "starts a debugger"),
    ("builtins", "help", "starts a pager process"),
    ("builtins", "exit", "ends the process"),
    ("builtins", "quit", "ends the process"),
    ("builtins", "execfile", "code execution (Python 2)"),
    ("builtins", "apply", "calls arbitrary callables (Python 2)"),
    ("builtins", "memoryview", "raw memory views"),
    ("builtins", "type", "creates classes at load time"),
    (
        "builtins",
        "__build_class__",
        "creates classes at load time",
    ),
    ("codecs", "open", "file access"),
    ("torch", "load", "nested torch.load"),
    ("joblib", "load", "nested joblib.load"),
    ("joblib.numpy_pickle", "load", "nested joblib.load"),
    (
        "joblib.numpy_pickle",
        "load_compatibility",
        "nested joblib.load",
    ),
    (
        "torch.storage",
        "_load_from_bytes",
        "nested torch.load of embedded bytes",
    ),
    ("numpy", "load", "loads pickles (allow_pickle)"),
    ("numpy", "fromfile", "file access"),
    ("numpy", "save", "file writes"),
    ("numpy", "savetxt", "file writes"),
    ("numpy", "loadtxt", "file reads"),
    ("numpy", "memmap", "maps files"),
    (
        "copyreg",
        "extension_registry",
        "unresolved extension code (EXT1/2/4)",
    ),
    ("uuid", "_popen", "runs external commands"),
    ("uuid", "_get_command_stdout", "runs external commands"),
];

/// Attribute names that lead from any object to globals, builtins, code or the import system.
const DANGEROUS_ATTRIBUTES: &[&str] = &[
    "__globals__",
    "__builtins__",
    "__import__",
    "__subclasses__",
    "__code__",
    "__closure__",
    "__getattribute__",
    "__reduce__",
    "__reduce_ex__",
    "__dict__",
    "__class__",
    "__bases__",
    "__mro__",
    "__base__",
    "__init__",
    "__new__",
    "__call__",
    "__loader__",
    "__spec__",
    "__self__",
    "__func__",
    "__wrapped__",
    "func_globals",
    "f_globals",
    "gi_frame",
    "system",
    "popen",
];

fn covers(rule: &str, module: &str) -> bool {
    module == rule || module.starts_with(rule) && module.as_bytes().get(rule.len()) == Some(&b'.')
}

/// The allowlist and deny list, with the user's additions.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    extra_allow: BTreeMap<String, String>,
}

impl Policy {
    pub fn new() -> Self {
        Policy::default()
    }

    /// Adds `module.name` (or `module.*` for a whole module) to the allowlist. Deny rules
    /// still win: a name on the deny list stays dangerous, and the refusal is returned.
    pub fn allow(&mut self, entry: &str, reason: &str) -> Result<(), String> {
        let entry = entry.trim();
        let Some((module, name)) = entry.rsplit_once('.') else {
            return Err(format!(
                "`{entry}` is not MODULE.NAME (for example sklearn.linear_model._logistic.LogisticRegression or mymodule.*)"
            ));
        };
        if module.is_empty() || name.is_empty() {
            return Err(format!("`{entry}` is not MODULE.NAME"));
        }
        if name != "*" {
            if let Some(c) = builtin_deny(module, name) {
                return Err(format!(
                    "`{entry}` stays dangerous ({c}); the deny list wins over --allow"
                ));
            }
        } else if let Some((_, c)) = DENY_MODULES.iter().find(|(m, _)| covers(m, module)) {
            return Err(format!(
                "`{entry}` overlaps a dangerous module ({c}); the deny list wins over --allow"
            ));
        }
        self.extra_allow
            .insert(entry.to_string(), reason.to_string());
        Ok(())
    }

    /// Reads an allowlist file: one `module.name` per line, `#` comments, optional reason
    /// after whitespace.
    pub fn allow_file(&mut self, text: &str, path: &str) -> Result<(), String> {
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let (entry, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            self.allow(
                entry,
                if reason.is_empty() {
                    "allowed by the user's allowlist"
                } else {
                    reason.trim()
                },
            )
            .map_err(|e| format!("{path}:{}: {e}", i + 1))?;
        }
        Ok(())
    }

    pub fn classify(&self, module: &str, name: &str) -> Classification {
        if let Some(category) = builtin_deny(module, name) {
            return Classification {
                verdict: Verdict::Dangerous,
                reason: category,
            };
        }
        if let Some((_, _, why)) = ALLOW.iter().find(|(m, n, _)| *m == module && *n == name) {
            return Classification {
                verdict: Verdict::Safe,
                reason: (*why).to_string(),
            };
        }
        let qualified = format!("{module}.{name}");
        let wildcard = format!("{module}.*");
        if let Some(why) = self
            .extra_allow
            .get(&qualified)
            .or_else(|| self.extra_allow.get(&wildcard))
        {
            return Classification {
                verdict: Verdict::Safe,
                reason: why.clone(),
            };
        }
        Classification {
            verdict: Verdict::Unknown,
            reason: "not on the allowlist: importing it runs its module's code and calling it can do anything".into(),
        }
    }
}

fn builtin_deny(module: &str, name: &str) -> Option<String> {
    let module = module.trim();
    if let Some((_, c)) = DENY_MODULES.iter().find(|(m, _)| covers(m, module)) {
        return Some((*c).to_string());
    }
    let full = format!("{module}.{name}");
    if let Some((_, c)) = DENY_MODULES.iter().find(|(m, _)| covers(m, &full)) {
        return Some((*c).to_string());
    }
    let first = name.split('.').next().unwrap_or(name);
    if let Some((_, _, c)) = DENY_NAMES
        .iter()
        .find(|(m, n, _)| *m == module && (*n == name || *n == first))
    {
        return Some((*c).to_string());
    }
    if name.contains('.') {
        if let Some(attr) = name
            .split('.')
            .find(|part| DANGEROUS_ATTRIBUTES.contains(part))
        {
            return Some(format!(
                "the dotted name reaches `{attr}`, a path to globals, builtins or code"
            ));
        }
    }
    if module.is_empty() || name.is_empty() {
        return Some("an empty module or name".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_verdicts() {
        let p = Policy::new();
        assert_eq!(
            p.classify("torch._utils", "_rebuild_tensor_v2").verdict,
            Verdict::Safe
        );
        assert_eq!(
            p.classify("numpy._core.multiarray", "_reconstruct").verdict,
            Verdict::Safe
        );
        assert_eq!(p.classify("os", "system").verdict, Verdict::Dangerous);
        assert_eq!(
            p.classify("asyncio.unix_events", "_UnixSubprocessTransport")
                .verdict,
            Verdict::Dangerous
        );
        assert_eq!(
            p.classify("builtins", "getattr").verdict,
            Verdict::Dangerous
        );
        assert_eq!(
            p.classify("_operator", "attrgetter").verdict,
            Verdict::Dangerous
        );
        assert_eq!(
            p.classify("numpy.core.multiarray", "__builtins__.eval")
                .verdict,
            Verdict::Dangerous
        );
        assert_eq!(
            p.classify("torch._utils", "_rebuild_tensor_v2.__globals__")
                .verdict,
            Verdict::Dangerous
        );
        assert_eq!(
            p.classify("sklearn.linear_model", "LogisticRegression")
                .verdict,
            Verdict::Unknown
        );
        assert_eq!(p.classify("osx", "thing").verdict, Verdict::Unknown);
    }

    #[test]
    fn the_user_extends_the_allowlist_but_not_past_the_deny_list() {
        let mut p = Policy::new();
        p.allow("sklearn.linear_model.LogisticRegression", "ours")
            .unwrap();
        assert_eq!(
            p.classify("sklearn.linear_model", "LogisticRegression")
                .verdict,
            Verdict::Safe
        );
        assert!(p.allow("os.system", "").is_err());
        assert!(p.allow("subprocess.*", "").is_err());
        assert!(p.allow("nodot", "").is_err());
        p.allow_file("# mine\nmypkg.models.*  trained in house\n", "allow.txt")
            .unwrap();
        assert_eq!(p.classify("mypkg.models", "Net").verdict, Verdict::Safe);
        let err = p.allow_file("\nbuiltins.eval\n", "allow.txt").unwrap_err();
        assert!(err.starts_with("allow.txt:2:"), "{err}");
    }
}
