//! Allowlist first. An import is *safe* only when it is on the allowlist of callables that
//! rebuild data (each entry says why, [`allow`]); *dangerous* when it reaches code execution,
//! files, the network, processes or the import machinery; *unknown* otherwise. What the
//! scanner then does with an unknown name depends on its use (see [`crate::pickle`]): a call
//! of it (REDUCE, NEWOBJ, OBJ, INST, BUILD on a class) is *suspicious* and fails by default —
//! calling an unreviewed callable can do anything — while a plain reference is reported as
//! unknown and fails only under `--strict`. The reference point is PyTorch's own
//! `torch.load(weights_only=True)`: what it accepts is on the allowlist; what it refuses is at
//! least suspicious unless an entry here names it with a reason.
//!
//! Matching is on whole dotted components: a rule for `os` covers `os.path` and
//! `asyncio` covers `asyncio.unix_events`, but `osx` is not `os`. Dotted names
//! (`Popen.__init__`, `__builtins__.eval`), which Python resolves attribute by attribute, are
//! dangerous when any component is a dunder that leads to globals, builtins or code.

use std::collections::BTreeMap;

use serde::Serialize;

pub mod allow;
pub mod deny;
use allow::{ALLOW, ALLOW_FAMILIES};
use deny::{DANGEROUS_ATTRIBUTES, DENY_MODULES, DENY_NAMES};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Safe,
    /// Not on the allowlist, only referenced: fails under `--strict`.
    Unknown,
    /// An unreviewed callable is called: fails by default; `--allow` it after review.
    Suspicious,
    Dangerous,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Safe => "safe",
            Verdict::Unknown => "unknown",
            Verdict::Suspicious => "suspicious",
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
        // Exact allowlist entries are reviewed names, so they win over a denied module
        // (`torch.jit._pickle.build_intlist` inside `torch.jit`).
        if let Some((_, _, why)) = ALLOW.iter().find(|(m, n, _)| *m == module && *n == name) {
            return Classification {
                verdict: Verdict::Safe,
                reason: (*why).to_string(),
            };
        }
        if legacy_tensor_type(module, name) {
            return Classification {
                verdict: Verdict::Safe,
                reason: "legacy typed tensor or storage class (on torch.load(weights_only=True)'s own list)".into(),
            };
        }
        if let Some(category) = builtin_deny(module, name) {
            return Classification {
                verdict: Verdict::Dangerous,
                reason: category,
            };
        }
        if let Some((_, _, why)) = ALLOW_FAMILIES
            .iter()
            .find(|(prefix, suffix, _)| in_family(prefix, suffix, module, name))
        {
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
            reason: format!("not on the allowlist: importing it runs its module's code and calling it can do anything; after review, allow it with --allow {qualified}"),
        }
    }
}

/// `torch.cuda.FloatTensor`, `torch.cuda.sparse.LongTensor`, `torch.sparse.HalfTensor` …:
/// the legacy typed classes that `torch.load(weights_only=True)` accepts (checked by
/// `bench/torch_weights_only_diff.py`), inside modules that are otherwise denied (`torch.cuda`).
fn legacy_tensor_type(module: &str, name: &str) -> bool {
    const ELEMENTS: &[&str] = &[
        "BFloat16",
        "Bool",
        "Byte",
        "Char",
        "ComplexDouble",
        "ComplexFloat",
        "Double",
        "Float",
        "Half",
        "Int",
        "Long",
        "Short",
    ];
    let (element, storage) = if let Some(e) = name.strip_suffix("Storage") {
        (e, true)
    } else if let Some(e) = name.strip_suffix("Tensor") {
        (e, false)
    } else {
        return false;
    };
    ELEMENTS.contains(&element)
        && match module {
            "torch.cuda" => true,
            "torch.cuda.sparse" | "torch.sparse" => !storage,
            _ => false,
        }
}

/// A class (or Cython's unpickle helper) of an allowed family; never a dotted name, which
/// Python resolves attribute by attribute.
fn in_family(prefix: &str, suffix: &str, module: &str, name: &str) -> bool {
    // Private classes (`_BinMapper`, `_CFNode`) are classes too; `__dunder__` names are not.
    let class_like = name
        .trim_start_matches('_')
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_uppercase())
        && !name.starts_with("__")
        || name.starts_with("__pyx_unpickle_");
    covers(prefix, module)
        && class_like
        && !name.contains('.')
        && name.ends_with(suffix)
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
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
    fn weights_only_typed_classes_are_allowed_inside_denied_torch_cuda() {
        let p = Policy::new();
        for (m, n) in [
            ("torch.cuda", "FloatTensor"),
            ("torch.cuda", "BFloat16Storage"),
            ("torch.cuda.sparse", "LongTensor"),
            ("torch.sparse", "HalfTensor"),
        ] {
            assert_eq!(p.classify(m, n).verdict, Verdict::Safe, "{m}.{n}");
        }
        assert_eq!(
            p.classify("torch.cuda", "set_device").verdict,
            Verdict::Dangerous
        );
        assert_eq!(
            p.classify("torch.cuda", "EvilTensor").verdict,
            Verdict::Dangerous
        );
        assert_ne!(
            p.classify("torch.sparse", "FloatStorage").verdict,
            Verdict::Safe
        );
    }

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
            Verdict::Safe
        );
        // Families allow classes, not functions, dotted names or denied corners.
        assert_eq!(
            p.classify("sklearn.utils", "some_function").verdict,
            Verdict::Unknown
        );
        assert_eq!(
            p.classify(
                "sklearn.linear_model",
                "LogisticRegression.__init__.__globals__"
            )
            .verdict,
            Verdict::Dangerous
        );
        assert_eq!(
            p.classify("sklearn.datasets", "Fetcher").verdict,
            Verdict::Dangerous
        );
        // Exact entries beat a denied module; the rest of the module stays denied.
        assert_eq!(
            p.classify("torch.jit._pickle", "build_intlist").verdict,
            Verdict::Safe
        );
        assert_eq!(p.classify("torch.jit", "load").verdict, Verdict::Dangerous);
        for (m, n) in [
            ("pydoc", "pipepager"),
            ("doctest", "debug_script"),
            ("imaplib", "IMAP4_stream"),
            ("_pyrepl.pager", "pipe_pager"),
            ("test.support.script_helper", "assert_python_ok"),
            ("logging", "FileHandler"),
            ("aiohttp.client", "ClientSession"),
            ("lib2to3.pgen2.pgen", "generate_grammar"),
            ("_xxsubinterpreters", "run_string"),
            ("torch", "compile"),
            ("torch.utils.collect_env", "run"),
            ("torch.fx.experimental.symbolic_shapes", "ShapeEnv"),
            ("torch.utils.data.datapipes.utils.decoder", "basichandlers"),
        ] {
            assert_eq!(p.classify(m, n).verdict, Verdict::Dangerous, "{m}.{n}");
        }
        assert_eq!(p.classify("osx", "thing").verdict, Verdict::Unknown);
    }

    #[test]
    fn the_user_extends_the_allowlist_but_not_past_the_deny_list() {
        let mut p = Policy::new();
        p.allow("mylib.models.Classifier", "ours").unwrap();
        assert_eq!(
            p.classify("mylib.models", "Classifier").verdict,
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
