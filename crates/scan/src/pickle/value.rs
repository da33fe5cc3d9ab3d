//! The symbolic values of the pickle machine. Containers are shared (`Rc`) as Python shares
//! them through the memo, so a DUP or memo expansion costs one pointer, not a copy; each
//! value carries its logical size (the number of values it would expand to), which is what
//! the expansion budget limits.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt::Write;
use std::rc::Rc;

/// A value on the machine's stack or in its memo. Scalars and strings are held inline —
/// strings as ranges of the scanned buffer, decoded only when something reads them — so the
/// commonest opcodes allocate nothing; containers, imports, calls and the rest are shared
/// [`Node`]s.
#[derive(Debug, Clone)]
pub enum V {
    None,
    Bool(bool),
    Int(i64),
    /// An integer too long for i64: its length in bytes.
    BigInt(usize),
    Float(f64),
    /// UTF-8 text in the scanned buffer (decoded leniently).
    Utf8 {
        start: usize,
        len: u32,
    },
    /// Protocol-2 byte strings, read as latin-1.
    Latin1 {
        start: usize,
        len: u32,
    },
    /// Text that had to be decoded (protocol-0 escapes, very long strings).
    Owned(Rc<String>),
    Node(Rc<Node>),
}

#[derive(Debug)]
pub struct Node {
    pub val: Val,
    /// Values this one would expand to, saturating.
    pub weight: Cell<u64>,
}

#[derive(Debug)]
pub enum Val {
    /// Bytes in the scanned buffer: `start..start + len`.
    Bytes {
        start: usize,
        len: usize,
    },
    Tuple(Vec<V>),
    List(RefCell<Vec<V>>),
    Dict(RefCell<Vec<(V, V)>>),
    Set(RefCell<Vec<V>>),
    FrozenSet(Vec<V>),
    /// An imported callable or object: an index into the machine's imports.
    Global(usize),
    /// The result of calling something: an index into the machine's calls.
    Call(usize),
    /// What `persistent_load` returns for this ID.
    Persistent(V),
    /// An out-of-band buffer (protocol 5).
    Buffer,
}

impl Node {
    pub fn shared(val: Val) -> V {
        let weight = 1 + match &val {
            Val::Tuple(items) | Val::FrozenSet(items) => sum(items.iter()),
            Val::Persistent(v) => v.weight(),
            _ => 0,
        };
        V::Node(Rc::new(Node {
            val,
            weight: Cell::new(weight),
        }))
    }
}

impl V {
    pub fn owned(s: String) -> V {
        V::Owned(Rc::new(s))
    }

    pub fn weight(&self) -> u64 {
        match self {
            V::Node(n) => n.weight.get(),
            _ => 1,
        }
    }

    pub fn add_weight(&self, w: u64) {
        if let V::Node(n) = self {
            n.weight.set(n.weight.get().saturating_add(w));
        }
    }

    /// The node's value, for containers, imports, calls and the rest; `None` for scalars.
    pub fn val(&self) -> Option<&Val> {
        match self {
            V::Node(n) => Some(&n.val),
            _ => None,
        }
    }

    /// The text of a string value.
    pub fn text<'a>(&'a self, data: &'a [u8]) -> Option<Cow<'a, str>> {
        match self {
            V::Utf8 { start, len } => Some(String::from_utf8_lossy(
                data.get(*start..*start + *len as usize)?,
            )),
            V::Latin1 { start, len } => Some(Cow::Owned(
                data.get(*start..*start + *len as usize)?
                    .iter()
                    .map(|b| *b as char)
                    .collect(),
            )),
            V::Owned(s) => Some(Cow::Borrowed(s.as_str())),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            V::Int(i) => Some(*i),
            V::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    pub fn items(&self) -> Option<Vec<V>> {
        match self.val()? {
            Val::Tuple(items) | Val::FrozenSet(items) => Some(items.clone()),
            Val::List(items) | Val::Set(items) => Some(items.borrow().clone()),
            _ => None,
        }
    }
}

pub fn sum<'a>(items: impl Iterator<Item = &'a V>) -> u64 {
    items.fold(0u64, |acc, v| acc.saturating_add(v.weight()))
}

/// Renders values as Python-like text, bounded in length and depth so that a shared
/// structure that expands exponentially still renders in constant time.
pub struct Renderer<'a> {
    pub data: &'a [u8],
    pub global_name: &'a dyn Fn(usize) -> String,
    pub call_text: &'a dyn Fn(usize) -> String,
    pub max_chars: usize,
}

impl Renderer<'_> {
    pub fn render(&self, v: &V) -> String {
        let mut out = String::new();
        self.write(v, 0, &mut out);
        if out.len() > self.max_chars {
            let mut cut = self.max_chars;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push('…');
        }
        out
    }

    fn write(&self, v: &V, depth: usize, out: &mut String) {
        if out.len() > self.max_chars {
            return;
        }
        if depth > 6 {
            out.push('…');
            return;
        }
        let val = match v {
            V::None => return out.push_str("None"),
            V::Bool(b) => return out.push_str(if *b { "True" } else { "False" }),
            V::Int(i) => {
                let _ = write!(out, "{i}");
                return;
            }
            V::BigInt(n) => {
                let _ = write!(out, "<{n}-byte int>");
                return;
            }
            V::Float(f) => {
                let _ = write!(out, "{f:?}");
                return;
            }
            V::Utf8 { .. } | V::Latin1 { .. } | V::Owned(_) => {
                let text = v.text(self.data).unwrap_or_default();
                let shown: String = text.chars().take(self.max_chars).collect();
                let _ = write!(out, "{shown:?}");
                return;
            }
            V::Node(n) => &n.val,
        };
        match val {
            Val::Bytes { start, len } => {
                let end = (*start + (*len).min(48)).min(self.data.len());
                let head = &self.data[(*start).min(end)..end];
                out.push_str("b'");
                for b in head {
                    if b.is_ascii_graphic() || *b == b' ' {
                        if *b == b'\'' || *b == b'\\' {
                            out.push('\\');
                        }
                        out.push(*b as char);
                    } else {
                        let _ = write!(out, "\\x{b:02x}");
                    }
                }
                out.push('\'');
                if *len > 48 {
                    let _ = write!(out, "…({len} bytes)");
                }
            }
            Val::Tuple(items) => self.seq("(", ")", items, items.len() == 1, depth, out),
            Val::List(items) => self.seq("[", "]", &items.borrow(), false, depth, out),
            Val::Set(items) => self.seq("{", "}", &items.borrow(), false, depth, out),
            Val::FrozenSet(items) => {
                out.push_str("frozenset(");
                self.seq("{", "}", items, false, depth, out);
                out.push(')');
            }
            Val::Dict(pairs) => {
                out.push('{');
                for (i, (k, val)) in pairs.borrow().iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    if out.len() > self.max_chars {
                        return;
                    }
                    self.write(k, depth + 1, out);
                    out.push_str(": ");
                    self.write(val, depth + 1, out);
                }
                out.push('}');
            }
            Val::Global(i) => out.push_str(&(self.global_name)(*i)),
            Val::Call(i) => out.push_str(&(self.call_text)(*i)),
            Val::Persistent(pid) => {
                out.push_str("persistent_load(");
                self.write(pid, depth + 1, out);
                out.push(')');
            }
            Val::Buffer => out.push_str("<out-of-band buffer>"),
        }
    }

    fn seq(&self, open: &str, close: &str, items: &[V], one: bool, depth: usize, out: &mut String) {
        out.push_str(open);
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            if out.len() > self.max_chars {
                return;
            }
            self.write(item, depth + 1, out);
        }
        if one {
            out.push(',');
        }
        out.push_str(close);
    }
}
