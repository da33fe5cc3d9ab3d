//! The pickle machine, emulated: the opcodes of protocols 0–5 run on a symbolic stack, memo
//! and mark stack exactly as CPython's `Unpickler` would run them, except that imports and
//! calls are recorded instead of performed. What Python would refuse (an unknown opcode,
//! a stack underflow, a missing memo key, a truncated operand) is refused here too, with the
//! byte offset.

use std::cell::RefCell;

use super::value::{sum, Node, Val, V};
pub use operands::{dtype_itemsize, strings_in};
use operands::{long_le, pairs, python_string_literal, raw_unicode_escape};

mod compat;
mod containers;
mod joblib;
mod memo;
mod operands;
mod reader;

use compat::{python3_module, python3_name};
use memo::Memo;

/// How far the machine may go; shared by all pickles of one file.
#[derive(Debug, Clone)]
pub struct Budget {
    pub opcodes_left: u64,
    pub max_memo: usize,
    pub max_stack: usize,
    /// Largest logical size (values it would expand to) of one value.
    pub max_expansion: u64,
    /// Wall-clock limit, checked every 65,536 opcodes.
    pub deadline: Option<std::time::Instant>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Python would refuse this pickle too.
    Malformed(String),
    Budget(String),
}

#[derive(Debug, Clone)]
pub struct MachineError {
    pub offset: usize,
    pub failure: Failure,
}

/// An import: GLOBAL, INST or STACK_GLOBAL, after Python 2 names are mapped as Python 3's
/// `find_class` maps them.
#[derive(Debug, Clone)]
pub struct Import {
    pub module: String,
    pub name: String,
    pub offset: usize,
    pub opcode: &'static str,
}

impl Import {
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.module, self.name)
    }
}

/// A call: REDUCE, INST, OBJ, NEWOBJ, NEWOBJ_EX, or a method a container opcode calls on an
/// object that is not a plain container (APPEND(S) → append/extend, SETITEM(S) → __setitem__,
/// ADDITEMS → add, BUILD → __setstate__ or attribute updates).
#[derive(Debug, Clone)]
pub struct Call {
    pub callee: V,
    /// For method calls (`append`, `__setitem__`, `__setstate__` …), the method's name.
    pub method: Option<&'static str>,
    pub args: V,
    pub kwargs: Option<V>,
    pub offset: usize,
    pub opcode: &'static str,
}

/// A long string or bytes operand: where its opcode is and its content.
#[derive(Debug, Clone)]
pub enum Blob {
    /// Bytes in the scanned buffer, UTF-8/latin-1 text or bytes.
    Raw {
        offset: usize,
        start: usize,
        len: usize,
        text: bool,
    },
    /// A protocol-0 string, decoded from its escapes.
    Decoded { offset: usize, text: String },
}

/// Everything one pickle did.
#[derive(Debug, Default)]
pub struct Trace {
    pub imports: Vec<Import>,
    pub calls: Vec<Call>,
    pub persistent_ids: Vec<V>,
    pub protocol: Option<u8>,
    pub opcodes: u64,
    pub start: usize,
    /// The offset just past STOP.
    pub end: usize,
    pub result: Option<V>,
    /// Out-of-line blobs the machine stepped over (joblib arrays), as `(offset, len)`.
    pub skipped: Vec<(usize, usize)>,
    /// Nested pickles found inline (joblib object arrays), traced separately.
    pub nested: Vec<Trace>,
    /// Offsets of opcodes whose operand crosses the end of the FRAME holding them (or a FRAME
    /// that starts before the last one ended). Picklers never write these; readers disagree on
    /// them (see [`FrameReading`]).
    pub frame_straddles: Vec<usize>,
    /// String and bytes values long enough to hold a staged payload ([`crate::pickle::embedded`]).
    pub blobs: Vec<Blob>,
    /// Every mutable container made, so that cycles (a list that contains itself through
    /// the memo) are broken when the trace is dropped instead of leaking.
    containers: Vec<V>,
}

impl Drop for Trace {
    fn drop(&mut self) {
        for c in self.containers.drain(..) {
            match c.val() {
                Some(Val::List(items) | Val::Set(items)) => items.borrow_mut().clear(),
                Some(Val::Dict(pairs)) => pairs.borrow_mut().clear(),
                _ => {}
            }
        }
    }
}

/// How a read that crosses a FRAME's end goes on. `pickle.loads`, the C unpickler on a
/// buffered file and frame-ignoring parsers read on contiguously. The C unpickler on a file
/// object without `peek` — `torch.load` hands it an `io.BytesIO` — reads a text line it cannot
/// finish inside the frame from the file anew, dropping the frame's remaining bytes (checked
/// against CPython 3.11). The pure-Python unpickler refuses the pickle. The scanner runs both
/// readings where they differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FrameReading {
    #[default]
    Contiguous,
    DropFrameRest,
}

pub struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    /// Where the current FRAME ends, while one is being read.
    frame_end: Option<usize>,
    frame_reading: FrameReading,
    stack: Vec<V>,
    marks: Vec<usize>,
    memo: Memo,
    budget: &'a mut Budget,
    trace: Trace,
}

/// Errors are boxed so that every step's result stays one word wide on the hot path.
type Step<T> = Result<T, Box<MachineError>>;

impl<'a> Machine<'a> {
    /// Runs one pickle starting at `start` up to and including its STOP.
    pub fn run(
        data: &'a [u8],
        start: usize,
        budget: &'a mut Budget,
    ) -> Result<Trace, Box<(Trace, MachineError)>> {
        Self::run_reading(data, start, budget, FrameReading::Contiguous)
    }

    pub fn run_reading(
        data: &'a [u8],
        start: usize,
        budget: &'a mut Budget,
        frame_reading: FrameReading,
    ) -> Result<Trace, Box<(Trace, MachineError)>> {
        let mut m = Machine {
            data,
            pos: start,
            frame_end: None,
            frame_reading,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: Memo::default(),
            budget,
            trace: {
                let mut t = Trace::default();
                t.start = start;
                t
            },
        };
        match m.execute() {
            Ok(()) => Ok(m.trace),
            Err(e) => Err(Box::new((m.trace, *e))),
        }
    }

    #[cold]
    fn fail<T>(&self, at: usize, message: impl Into<String>) -> Step<T> {
        Err(Box::new(MachineError {
            offset: at,
            failure: Failure::Malformed(message.into()),
        }))
    }

    #[cold]
    fn over<T>(&self, at: usize, message: impl Into<String>) -> Step<T> {
        Err(Box::new(MachineError {
            offset: at,
            failure: Failure::Budget(message.into()),
        }))
    }

    #[inline]
    fn push(&mut self, v: V, at: usize) -> Step<()> {
        if self.stack.len() >= self.budget.max_stack || v.weight() > self.budget.max_expansion {
            return self.push_refused(at);
        }
        self.stack.push(v);
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn push_refused(&self, at: usize) -> Step<()> {
        if self.stack.len() >= self.budget.max_stack {
            return self.over(
                at,
                format!("more than {} values on the stack", self.budget.max_stack),
            );
        }
        self.over(
            at,
            format!(
                "a value expands to more than {} values (memo/DUP expansion bomb)",
                self.budget.max_expansion
            ),
        )
    }

    #[inline]
    fn pop(&mut self, at: usize, op: &str) -> Step<V> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return self.fail(at, format!("{op}: the stack is empty"));
        }
        Ok(self.stack.pop().expect("checked"))
    }

    #[inline]
    fn top(&self, at: usize, op: &str) -> Step<V> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return self.fail(at, format!("{op}: the stack is empty"));
        }
        Ok(self.stack.last().expect("checked").clone())
    }

    fn pop_mark(&mut self, at: usize, op: &str) -> Step<Vec<V>> {
        match self.marks.pop() {
            Some(m) => Ok(self.stack.split_off(m)),
            None => self.fail(at, format!("{op}: no MARK to pop to")),
        }
    }

    #[inline]
    fn memo_put(&mut self, key: u64, at: usize) -> Step<()> {
        let v = self.top(at, "PUT")?;
        if self.memo.len >= self.budget.max_memo && !self.memo.contains(key) {
            return self.over(
                at,
                format!("more than {} memo entries", self.budget.max_memo),
            );
        }
        self.memo.insert(key, v);
        Ok(())
    }

    fn memo_get(&mut self, key: u64, at: usize) -> Step<()> {
        match self.memo.get(key) {
            Some(v) => {
                let v = v.clone();
                self.push(v, at)
            }
            None => self.fail(at, format!("GET: memo key {key} was never PUT")),
        }
    }

    fn import(&mut self, module: String, name: String, at: usize, opcode: &'static str) -> V {
        let (module, name) = if self.trace.protocol.unwrap_or(0) < 3 {
            match python3_name(&module, &name) {
                Some((m, n)) => (m.to_string(), n.to_string()),
                None => (python3_module(&module).to_string(), name),
            }
        } else {
            (module, name)
        };
        self.trace.imports.push(Import {
            module,
            name,
            offset: at,
            opcode,
        });
        Node::shared(Val::Global(self.trace.imports.len() - 1))
    }

    fn call(
        &mut self,
        callee: V,
        method: Option<&'static str>,
        args: V,
        kwargs: Option<V>,
        at: usize,
        opcode: &'static str,
    ) -> V {
        let weight = callee
            .weight()
            .saturating_add(args.weight())
            .saturating_add(kwargs.as_ref().map_or(0, |k| k.weight()));
        self.trace.calls.push(Call {
            callee,
            method,
            args,
            kwargs,
            offset: at,
            opcode,
        });
        let v = Node::shared(Val::Call(self.trace.calls.len() - 1));
        v.add_weight(weight);
        v
    }

    fn container(&mut self, val: Val) -> V {
        let v = Node::shared(val);
        self.trace.containers.push(v.clone());
        v
    }

    fn tuple(items: Vec<V>) -> V {
        Node::shared(Val::Tuple(items))
    }

    /// A container opcode on something that is not the plain container Python expects calls
    /// a method of that object; record it as a call.
    fn method_on(
        &mut self,
        target: &V,
        method: &'static str,
        args: Vec<V>,
        at: usize,
        opcode: &'static str,
    ) {
        let args = Self::tuple(args);
        self.call(target.clone(), Some(method), args, None, at, opcode);
    }

    fn execute(&mut self) -> Step<()> {
        loop {
            let at = self.pos;
            if self.budget.opcodes_left == 0 {
                return self.over(at, "opcode budget spent");
            }
            self.budget.opcodes_left -= 1;
            self.trace.opcodes += 1;
            if self.trace.opcodes % 65_536 == 0
                && self
                    .budget
                    .deadline
                    .is_some_and(|d| std::time::Instant::now() > d)
            {
                return self.over(at, "wall-time budget spent");
            }
            let Some(&op) = self.data.get(at) else {
                return self.fail(at, "the pickle ends without STOP");
            };
            self.pos += 1;
            match op {
                b'.' => {
                    let result = self.pop(at, "STOP")?;
                    self.trace.result = Some(result);
                    self.trace.end = self.pos;
                    return Ok(());
                }
                0x80 => {
                    let proto = self.u8(at, "PROTO")? as u8;
                    if proto > 5 {
                        return self.fail(at, format!("PROTO: unsupported protocol {proto}"));
                    }
                    self.trace.protocol = Some(proto);
                }
                0x95 => {
                    let len = self.len_u64(at, "FRAME")?;
                    if self.data.len() - self.pos < len {
                        return self.fail(at, format!("FRAME of {len} bytes runs past the end"));
                    }
                    if self.frame_end.is_some_and(|end| end > at) {
                        self.trace.frame_straddles.push(at);
                    }
                    self.frame_end = Some(self.pos + len);
                }
                b'(' => {
                    if self.marks.len() >= self.budget.max_stack {
                        return self.over(at, "too many nested MARKs");
                    }
                    self.marks.push(self.stack.len());
                }
                b'0' => {
                    let floor = self.marks.last().copied().unwrap_or(0);
                    if self.stack.len() > floor {
                        self.stack.pop();
                    } else {
                        self.pop_mark(at, "POP")?;
                    }
                }
                b'1' => {
                    self.pop_mark(at, "POP_MARK")?;
                }
                b'2' => {
                    let v = self.top(at, "DUP")?;
                    self.push(v, at)?;
                }
                b'N' => self.push(V::None, at)?,
                0x88 => self.push(V::Bool(true), at)?,
                0x89 => self.push(V::Bool(false), at)?,
                b'I' => {
                    let s = self.text_line(at, "INT")?;
                    let v = match s.as_str() {
                        "01" => V::Bool(true),
                        "00" => V::Bool(false),
                        t => self.parse_int(t, at, "INT")?,
                    };
                    self.push(v, at)?;
                }
                b'J' => {
                    let v = self.u32(at, "BININT")? as i32 as i64;
                    self.push(V::Int(v), at)?;
                }
                b'K' => {
                    let v = self.u8(at, "BININT1")? as i64;
                    self.push(V::Int(v), at)?;
                }
                b'M' => {
                    let v = self.u16(at, "BININT2")? as i64;
                    self.push(V::Int(v), at)?;
                }
                b'L' => {
                    let s = self.text_line(at, "LONG")?;
                    let t = s.strip_suffix('L').unwrap_or(&s);
                    let v = self.parse_int(t, at, "LONG")?;
                    self.push(v, at)?;
                }
                0x8a => {
                    let n = self.u8(at, "LONG1")?;
                    let bytes = self.take(n, at, "LONG1")?;
                    self.push(long_le(bytes), at)?;
                }
                0x8b => {
                    let n = self.u32(at, "LONG4")? as i32;
                    if n < 0 {
                        return self.fail(at, "LONG4 with a negative length");
                    }
                    let bytes = self.take(n as usize, at, "LONG4")?;
                    self.push(long_le(bytes), at)?;
                }
                b'F' => {
                    let s = self.text_line(at, "FLOAT")?;
                    match s.trim().parse::<f64>() {
                        Ok(f) => self.push(V::Float(f), at)?,
                        Err(_) => return self.fail(at, format!("FLOAT: {s:?} is not a number")),
                    }
                }
                b'G' => {
                    let b = self.take(8, at, "BINFLOAT")?;
                    let f = f64::from_be_bytes(b.try_into().expect("8 bytes"));
                    self.push(V::Float(f), at)?;
                }
                b'S' => {
                    let raw = self.line(at, "STRING")?;
                    let s = match python_string_literal(raw) {
                        Some(s) => s,
                        None => return self.fail(at, "STRING: the operand is not a quoted string"),
                    };
                    self.decoded_blob(&s, at);
                    self.push(V::owned(s), at)?;
                }
                b'T' => {
                    let n = self.u32(at, "BINSTRING")? as i32;
                    if n < 0 {
                        return self.fail(at, "BINSTRING with a negative length");
                    }
                    self.push_bytes_as_str(n as usize, at, "BINSTRING")?;
                }
                b'U' => {
                    let n = self.u8(at, "SHORT_BINSTRING")?;
                    self.push_bytes_as_str(n, at, "SHORT_BINSTRING")?;
                }
                b'V' => {
                    let raw = self.line(at, "UNICODE")?;
                    let s = raw_unicode_escape(raw);
                    self.decoded_blob(&s, at);
                    self.push(V::owned(s), at)?;
                }
                b'X' => {
                    let n = self.u32(at, "BINUNICODE")? as usize;
                    self.push_utf8(n, at, "BINUNICODE")?;
                }
                0x8c => {
                    let n = self.u8(at, "SHORT_BINUNICODE")?;
                    self.push_utf8(n, at, "SHORT_BINUNICODE")?;
                }
                0x8d => {
                    let n = self.len_u64(at, "BINUNICODE8")?;
                    self.push_utf8(n, at, "BINUNICODE8")?;
                }
                b'B' => {
                    let n = self.u32(at, "BINBYTES")? as usize;
                    self.push_bytes(n, at, "BINBYTES")?;
                }
                b'C' => {
                    let n = self.u8(at, "SHORT_BINBYTES")?;
                    self.push_bytes(n, at, "SHORT_BINBYTES")?;
                }
                0x8e => {
                    let n = self.len_u64(at, "BINBYTES8")?;
                    self.push_bytes(n, at, "BINBYTES8")?;
                }
                0x96 => {
                    let n = self.len_u64(at, "BYTEARRAY8")?;
                    self.push_bytes(n, at, "BYTEARRAY8")?;
                }
                0x97 => self.push(Node::shared(Val::Buffer), at)?,
                0x98 => {
                    self.top(at, "READONLY_BUFFER")?;
                }
                b')' => self.push(Self::tuple(Vec::new()), at)?,
                b't' => {
                    let items = self.pop_mark(at, "TUPLE")?;
                    self.push(Self::tuple(items), at)?;
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop(at, "TUPLEn")?);
                    }
                    items.reverse();
                    self.push(Self::tuple(items), at)?;
                }
                b']' => {
                    let v = self.container(Val::List(RefCell::new(Vec::new())));
                    self.push(v, at)?;
                }
                b'l' => {
                    let items = self.pop_mark(at, "LIST")?;
                    let w = sum(items.iter());
                    let v = self.container(Val::List(RefCell::new(items)));
                    v.add_weight(w);
                    self.push(v, at)?;
                }
                b'}' => {
                    let v = self.container(Val::Dict(RefCell::new(Vec::new())));
                    self.push(v, at)?;
                }
                b'd' => {
                    let items = self.pop_mark(at, "DICT")?;
                    if items.len() % 2 != 0 {
                        return self.fail(at, "DICT: an odd number of items");
                    }
                    let w = sum(items.iter());
                    let pairs = pairs(items);
                    let v = self.container(Val::Dict(RefCell::new(pairs)));
                    v.add_weight(w);
                    self.push(v, at)?;
                }
                0x8f => {
                    let v = self.container(Val::Set(RefCell::new(Vec::new())));
                    self.push(v, at)?;
                }
                0x91 => {
                    let items = self.pop_mark(at, "FROZENSET")?;
                    self.push(Node::shared(Val::FrozenSet(items)), at)?;
                }
                b'a' => {
                    let item = self.pop(at, "APPEND")?;
                    let target = self.top(at, "APPEND")?;
                    self.extend(&target, vec![item], at, "APPEND")?;
                }
                b'e' => {
                    // The common case, a list under the mark, moves the items straight from
                    // the stack into it (no intermediate vector per batch).
                    let mark = self.marks.last().copied();
                    let below = self.marks.len().checked_sub(2).map_or(0, |i| self.marks[i]);
                    let list_target = mark
                        .filter(|&m| m > below)
                        .map(|m| self.stack[m - 1].clone())
                        .filter(|t| matches!(t.val(), Some(Val::List(_))));
                    match (mark, list_target) {
                        (Some(m), Some(target)) => {
                            self.marks.pop();
                            target.add_weight(sum(self.stack[m..].iter()));
                            if let Some(Val::List(list)) = target.val() {
                                list.borrow_mut().extend(self.stack.drain(m..));
                            }
                            self.check_weight(&target, at)?;
                        }
                        _ => {
                            let items = self.pop_mark(at, "APPENDS")?;
                            let target = self.top(at, "APPENDS")?;
                            self.extend(&target, items, at, "APPENDS")?;
                        }
                    }
                }
                b's' => {
                    let value = self.pop(at, "SETITEM")?;
                    let key = self.pop(at, "SETITEM")?;
                    let target = self.top(at, "SETITEM")?;
                    self.set_items(&target, vec![key, value], at, "SETITEM")?;
                }
                b'u' => {
                    let items = self.pop_mark(at, "SETITEMS")?;
                    if items.len() % 2 != 0 {
                        return self.fail(at, "SETITEMS: an odd number of items");
                    }
                    let target = self.top(at, "SETITEMS")?;
                    self.set_items(&target, items, at, "SETITEMS")?;
                }
                0x90 => {
                    let items = self.pop_mark(at, "ADDITEMS")?;
                    let target = self.top(at, "ADDITEMS")?;
                    match target.val() {
                        Some(Val::Set(set)) => {
                            target.add_weight(sum(items.iter()));
                            set.borrow_mut().extend(items);
                        }
                        _ => self.method_on(&target, "add", items, at, "ADDITEMS"),
                    }
                    self.check_weight(&target, at)?;
                }
                b'p' => {
                    let s = self.text_line(at, "PUT")?;
                    let key = self.memo_key(&s, at, "PUT")?;
                    self.memo_put(key, at)?;
                }
                b'q' => {
                    let key = self.u8(at, "BINPUT")? as u64;
                    self.memo_put(key, at)?;
                }
                b'r' => {
                    let key = self.u32(at, "LONG_BINPUT")? as u64;
                    self.memo_put(key, at)?;
                }
                0x94 => {
                    let key = self.memo.len as u64;
                    self.memo_put(key, at)?;
                }
                b'g' => {
                    let s = self.text_line(at, "GET")?;
                    let key = self.memo_key(&s, at, "GET")?;
                    self.memo_get(key, at)?;
                }
                b'h' => {
                    let key = self.u8(at, "BINGET")? as u64;
                    self.memo_get(key, at)?;
                }
                b'j' => {
                    let key = self.u32(at, "LONG_BINGET")? as u64;
                    self.memo_get(key, at)?;
                }
                b'c' => {
                    let module = self.text_line(at, "GLOBAL")?;
                    let name = self.text_line(at, "GLOBAL")?;
                    let v = self.import(module, name, at, "GLOBAL");
                    self.push(v, at)?;
                }
                0x93 => {
                    let name = self.pop(at, "STACK_GLOBAL")?;
                    let module = self.pop(at, "STACK_GLOBAL")?;
                    let (Some(module), Some(name)) = (module.text(self.data), name.text(self.data))
                    else {
                        return self.fail(at, "STACK_GLOBAL: module and name must be strings");
                    };
                    let v = self.import(module.into_owned(), name.into_owned(), at, "STACK_GLOBAL");
                    self.push(v, at)?;
                }
                b'i' => {
                    let module = self.text_line(at, "INST")?;
                    let name = self.text_line(at, "INST")?;
                    let args = self.pop_mark(at, "INST")?;
                    let class = self.import(module, name, at, "INST");
                    let v = self.call(class, None, Self::tuple(args), None, at, "INST");
                    self.push(v, at)?;
                }
                b'o' => {
                    let mut items = self.pop_mark(at, "OBJ")?;
                    if items.is_empty() {
                        return self.fail(at, "OBJ: no class after the MARK");
                    }
                    let class = items.remove(0);
                    let v = self.call(class, None, Self::tuple(items), None, at, "OBJ");
                    self.push(v, at)?;
                }
                b'R' => {
                    let args = self.pop(at, "REDUCE")?;
                    let callable = self.pop(at, "REDUCE")?;
                    let v = self.call(callable, None, args, None, at, "REDUCE");
                    self.push(v, at)?;
                }
                0x81 => {
                    let args = self.pop(at, "NEWOBJ")?;
                    let class = self.pop(at, "NEWOBJ")?;
                    let v = self.call(class, Some("__new__"), args, None, at, "NEWOBJ");
                    self.push(v, at)?;
                }
                0x92 => {
                    let kwargs = self.pop(at, "NEWOBJ_EX")?;
                    let args = self.pop(at, "NEWOBJ_EX")?;
                    let class = self.pop(at, "NEWOBJ_EX")?;
                    let v = self.call(class, Some("__new__"), args, Some(kwargs), at, "NEWOBJ_EX");
                    self.push(v, at)?;
                }
                b'b' => {
                    let state = self.pop(at, "BUILD")?;
                    let target = self.top(at, "BUILD")?;
                    self.method_on(&target, "__setstate__", vec![state.clone()], at, "BUILD");
                    self.after_build(&target, &state, at)?;
                }
                b'P' => {
                    let pid = self.text_line(at, "PERSID")?;
                    let pid = V::owned(pid);
                    self.trace.persistent_ids.push(pid.clone());
                    self.push(Node::shared(Val::Persistent(pid)), at)?;
                }
                b'Q' => {
                    let pid = self.pop(at, "BINPERSID")?;
                    self.trace.persistent_ids.push(pid.clone());
                    self.push(Node::shared(Val::Persistent(pid)), at)?;
                }
                0x82..=0x84 => {
                    let code = match op {
                        0x82 => self.u8(at, "EXT1")? as u32,
                        0x83 => self.u16(at, "EXT2")? as u32,
                        _ => self.u32(at, "EXT4")?,
                    };
                    if code == 0 {
                        return self.fail(at, "EXT: extension code 0 is invalid");
                    }
                    // The copyreg extension registry is empty unless the loading process fills
                    // it; what the code names depends on that process, so it stays unresolved.
                    let v = self.import(
                        "copyreg.extension_registry".into(),
                        format!("<code {code}>"),
                        at,
                        "EXT",
                    );
                    self.push(v, at)?;
                }
                other => {
                    return self.fail(at, format!("unknown opcode 0x{other:02x}"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
