//! A minimal, safe protobuf decoder for the parts of ONNX (`onnx.proto`, IR versions 3–10)
//! that classifiers use. Parsing only; unknown fields are skipped, malformed input is an
//! error that says where.

use crate::error::{MlError, Result};

fn bad(what: &str) -> MlError {
    MlError::Invalid(format!("not a valid ONNX protobuf: {what}"))
}

/// One field of a protobuf message.
enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| bad("truncated varint"))?;
            self.pos += 1;
            value |= ((byte & 0x7f) as u64) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(bad("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| bad("a field runs past the end of its message"))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn next(&mut self) -> Result<Option<(u32, Field<'a>)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = (key >> 3) as u32;
        let field = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => Field::Fixed64(u64::from_le_bytes(
                self.take(8)?.try_into().expect("8 bytes"),
            )),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| bad("length too large"))?;
                Field::Bytes(self.take(len)?)
            }
            5 => Field::Fixed32(u32::from_le_bytes(
                self.take(4)?.try_into().expect("4 bytes"),
            )),
            t => return Err(bad(&format!("unsupported wire type {t} in field {number}"))),
        };
        Ok(Some((number, field)))
    }
}

fn string(bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| bad("a string field is not UTF-8"))
}

/// Repeated int64: packed (bytes) or one value per field.
fn push_ints(field: &Field, out: &mut Vec<i64>) -> Result<()> {
    match field {
        Field::Varint(v) => out.push(*v as i64),
        Field::Bytes(b) => {
            let mut r = Reader::new(b);
            while r.pos < b.len() {
                out.push(r.varint()? as i64);
            }
        }
        _ => return Err(bad("expected an integer list")),
    }
    Ok(())
}

/// Repeated float: packed (bytes) or one value per field.
fn push_floats(field: &Field, out: &mut Vec<f32>) -> Result<()> {
    match field {
        Field::Fixed32(v) => out.push(f32::from_bits(*v)),
        Field::Bytes(b) => {
            if b.len() % 4 != 0 {
                return Err(bad("a packed float list is not a multiple of 4 bytes"));
            }
            out.extend(
                b.chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))),
            );
        }
        _ => return Err(bad("expected a float list")),
    }
    Ok(())
}

fn push_doubles(field: &Field, out: &mut Vec<f64>) -> Result<()> {
    match field {
        Field::Fixed64(v) => out.push(f64::from_bits(*v)),
        Field::Bytes(b) => {
            if b.len() % 8 != 0 {
                return Err(bad("a packed double list is not a multiple of 8 bytes"));
            }
            out.extend(
                b.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))),
            );
        }
        _ => return Err(bad("expected a double list")),
    }
    Ok(())
}

/// ONNX tensor element types aisec reads.
pub const FLOAT: i32 = 1;
pub const INT32: i32 = 6;
pub const INT64: i32 = 7;
pub const DOUBLE: i32 = 11;
/// Small integer and boolean element types, read as integers (a grafted graph's `true`).
pub const SMALL_INTS: &[i32] = &[2, 3, 4, 5, 9];

/// Where a tensor's bytes live when the exporter wrote them beside the model (the default of
/// `torch.onnx.export` since PyTorch 2.9 writes `model.onnx.data`): a file relative to the
/// model's folder, a byte offset and a length (`None`: to the end of the file).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExternalData {
    pub location: String,
    pub offset: u64,
    pub length: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TensorProto {
    pub name: String,
    pub dims: Vec<i64>,
    pub data_type: i32,
    /// Values widened to f64 (floats) or kept as i64 (integers).
    pub floats: Vec<f32>,
    pub ints: Vec<i64>,
    /// Set while the values are still in an external file; `ModelProto::read` loads them.
    pub external: Option<ExternalData>,
}

fn external_entry(buf: &[u8], ext: &mut ExternalData, tensor: &str) -> Result<()> {
    let (mut key, mut value) = (String::new(), String::new());
    let mut r = Reader::new(buf);
    while let Some((n, f)) = r.next()? {
        match (n, f) {
            (1, Field::Bytes(b)) => key = string(b)?,
            (2, Field::Bytes(b)) => value = string(b)?,
            _ => {}
        }
    }
    let number = |v: &str| {
        v.parse::<u64>().map_err(|_| {
            MlError::Invalid(format!(
                "tensor `{tensor}`: external data {key} `{v}` is not a byte count"
            ))
        })
    };
    match key.as_str() {
        "location" => ext.location = value,
        "offset" => ext.offset = number(&value)?,
        "length" => ext.length = Some(number(&value)?),
        _ => {}
    }
    Ok(())
}

impl TensorProto {
    fn decode(buf: &[u8]) -> Result<Self> {
        let mut t = TensorProto::default();
        let mut raw: Option<&[u8]> = None;
        let mut doubles = Vec::new();
        let mut external = ExternalData::default();
        let mut is_external = false;
        let mut r = Reader::new(buf);
        while let Some((n, f)) = r.next()? {
            match (n, &f) {
                (1, _) => push_ints(&f, &mut t.dims)?,
                (2, Field::Varint(v)) => t.data_type = *v as i32,
                (4, _) => push_floats(&f, &mut t.floats)?,
                (5, _) | (7, _) => push_ints(&f, &mut t.ints)?,
                (8, Field::Bytes(b)) => t.name = string(b)?,
                (9, Field::Bytes(b)) => raw = Some(b),
                (10, _) => push_doubles(&f, &mut doubles)?,
                (13, Field::Bytes(b)) => {
                    is_external = true;
                    external_entry(b, &mut external, &t.name)?;
                }
                (14, Field::Varint(1)) => is_external = true,
                _ => {}
            }
        }
        if is_external {
            if external.location.is_empty() {
                return Err(MlError::Invalid(format!(
                    "tensor `{}` says its data is external but names no location",
                    t.name
                )));
            }
            t.external = Some(external);
            return Ok(t);
        }
        if let Some(raw) = raw {
            t.set_raw(raw)?;
        } else if !doubles.is_empty() {
            t.floats = doubles.iter().map(|v| *v as f32).collect();
        }
        t.check_count()?;
        Ok(t)
    }

    /// Fills the values from little-endian bytes of the tensor's element type.
    fn set_raw(&mut self, raw: &[u8]) -> Result<()> {
        let width = match self.data_type {
            FLOAT | INT32 => 4,
            DOUBLE | INT64 => 8,
            2 | 3 | 9 => 1,
            4 | 5 => 2,
            other => return Err(MlError::Invalid(format!("tensor `{}` has element type {other}; aisec supports float, double, int8/16/32/64, uint8/16 and bool", self.name))),
        };
        if raw.len() % width != 0 {
            return Err(MlError::Invalid(format!(
                "tensor `{}`: {} bytes are not whole {width}-byte values",
                self.name,
                raw.len()
            )));
        }
        match self.data_type {
            FLOAT => {
                self.floats = raw
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                    .collect()
            }
            DOUBLE => {
                self.floats = raw
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
                    .collect()
            }
            INT64 => {
                self.ints = raw
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect()
            }
            2 | 9 => self.ints = raw.iter().map(|b| *b as i64).collect(),
            3 => self.ints = raw.iter().map(|b| *b as i8 as i64).collect(),
            4 => {
                self.ints = raw
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]) as i64)
                    .collect()
            }
            5 => {
                self.ints = raw
                    .chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]) as i64)
                    .collect()
            }
            _ => {
                self.ints = raw
                    .chunks_exact(4)
                    .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")) as i64)
                    .collect()
            }
        }
        Ok(())
    }

    fn check_count(&self) -> Result<()> {
        let count: i64 = self.dims.iter().product();
        let have = if matches!(self.data_type, FLOAT | DOUBLE) {
            self.floats.len()
        } else {
            self.ints.len()
        };
        if count.max(1) as usize != have && !(count == 0 && have == 0) {
            return Err(MlError::Invalid(format!(
                "tensor `{}` has dims {:?} but {have} values",
                self.name, self.dims
            )));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttributeProto {
    pub name: String,
    pub f: Option<f32>,
    pub i: Option<i64>,
    pub s: Option<String>,
    pub t: Option<TensorProto>,
    pub floats: Vec<f32>,
    pub ints: Vec<i64>,
    pub strings: Vec<String>,
    /// A subgraph (`Loop`'s body).
    pub g: Option<Box<GraphProto>>,
}

impl AttributeProto {
    fn decode(buf: &[u8], depth: usize) -> Result<Self> {
        let mut a = AttributeProto::default();
        let mut r = Reader::new(buf);
        while let Some((n, f)) = r.next()? {
            match (n, &f) {
                (1, Field::Bytes(b)) => a.name = string(b)?,
                (2, Field::Fixed32(v)) => a.f = Some(f32::from_bits(*v)),
                (3, Field::Varint(v)) => a.i = Some(*v as i64),
                (4, Field::Bytes(b)) => a.s = Some(string(b)?),
                (5, Field::Bytes(b)) => a.t = Some(TensorProto::decode(b)?),
                (7, _) => push_floats(&f, &mut a.floats)?,
                (8, _) => push_ints(&f, &mut a.ints)?,
                (9, Field::Bytes(b)) => a.strings.push(string(b)?),
                (6, Field::Bytes(b)) => a.g = Some(Box::new(GraphProto::decode(b, depth + 1)?)),
                _ => {}
            }
        }
        Ok(a)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeProto {
    pub name: String,
    pub op_type: String,
    pub domain: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attributes: Vec<AttributeProto>,
}

impl NodeProto {
    fn decode(buf: &[u8], depth: usize) -> Result<Self> {
        let mut node = NodeProto::default();
        let mut r = Reader::new(buf);
        while let Some((n, f)) = r.next()? {
            match (n, f) {
                (1, Field::Bytes(b)) => node.inputs.push(string(b)?),
                (2, Field::Bytes(b)) => node.outputs.push(string(b)?),
                (3, Field::Bytes(b)) => node.name = string(b)?,
                (4, Field::Bytes(b)) => node.op_type = string(b)?,
                (5, Field::Bytes(b)) => node.attributes.push(AttributeProto::decode(b, depth)?),
                (7, Field::Bytes(b)) => node.domain = string(b)?,
                _ => {}
            }
        }
        Ok(node)
    }

    pub fn attr(&self, name: &str) -> Option<&AttributeProto> {
        self.attributes.iter().find(|a| a.name == name)
    }
}

/// A graph input or output: its name and static shape (`None` for symbolic dimensions).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValueInfo {
    pub name: String,
    pub elem_type: i32,
    pub shape: Vec<Option<i64>>,
}

impl ValueInfo {
    fn decode(buf: &[u8]) -> Result<Self> {
        let mut v = ValueInfo::default();
        let mut r = Reader::new(buf);
        while let Some((n, f)) = r.next()? {
            match (n, f) {
                (1, Field::Bytes(b)) => v.name = string(b)?,
                (2, Field::Bytes(type_proto)) => {
                    let mut tr = Reader::new(type_proto);
                    while let Some((tn, tf)) = tr.next()? {
                        if let (1, Field::Bytes(tensor_type)) = (tn, tf) {
                            let mut ttr = Reader::new(tensor_type);
                            while let Some((k, kf)) = ttr.next()? {
                                match (k, kf) {
                                    (1, Field::Varint(e)) => v.elem_type = e as i32,
                                    (2, Field::Bytes(shape)) => {
                                        let mut sr = Reader::new(shape);
                                        while let Some((d, df)) = sr.next()? {
                                            if let (1, Field::Bytes(dim)) = (d, df) {
                                                let mut dr = Reader::new(dim);
                                                let mut value = None;
                                                while let Some((dn, dv)) = dr.next()? {
                                                    if let (1, Field::Varint(x)) = (dn, dv) {
                                                        value = Some(x as i64);
                                                    }
                                                }
                                                v.shape.push(value);
                                            }
                                        }
                                    }
                                    _ => {}
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(v)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct GraphProto {
    pub name: String,
    pub nodes: Vec<NodeProto>,
    pub initializers: Vec<TensorProto>,
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<ValueInfo>,
}

/// Subgraphs nested deeper than this are refused: decoding recurses once per level, and a
/// crafted file must not exhaust the stack.
const MAX_GRAPH_DEPTH: usize = 8;

impl GraphProto {
    fn decode(buf: &[u8], depth: usize) -> Result<Self> {
        if depth > MAX_GRAPH_DEPTH {
            return Err(MlError::Invalid(format!(
                "subgraphs nested more than {MAX_GRAPH_DEPTH} levels deep"
            )));
        }
        let mut g = GraphProto::default();
        let mut r = Reader::new(buf);
        while let Some((n, f)) = r.next()? {
            match (n, f) {
                (1, Field::Bytes(b)) => g.nodes.push(NodeProto::decode(b, depth)?),
                (2, Field::Bytes(b)) => g.name = string(b)?,
                (5, Field::Bytes(b)) => g.initializers.push(TensorProto::decode(b)?),
                (11, Field::Bytes(b)) => g.inputs.push(ValueInfo::decode(b)?),
                (12, Field::Bytes(b)) => g.outputs.push(ValueInfo::decode(b)?),
                _ => {}
            }
        }
        Ok(g)
    }

    /// Every node, those of subgraphs (`Loop` bodies) included, parents before their bodies.
    pub fn all_nodes(&self) -> Vec<&NodeProto> {
        let mut out = Vec::new();
        for node in &self.nodes {
            out.push(node);
            for a in &node.attributes {
                if let Some(g) = &a.g {
                    out.extend(g.all_nodes());
                }
            }
        }
        out
    }

    /// Every initializer, those of subgraphs included (ONNX names are unique across scopes).
    pub fn all_initializers(&self) -> Vec<&TensorProto> {
        let mut out: Vec<&TensorProto> = self.initializers.iter().collect();
        for node in &self.nodes {
            for a in &node.attributes {
                if let Some(g) = &a.g {
                    out.extend(g.all_initializers());
                }
            }
        }
        out
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelProto {
    pub ir_version: i64,
    pub producer: String,
    /// (domain, version); the default domain is "".
    pub opsets: Vec<(String, i64)>,
    pub graph: GraphProto,
}

impl ModelProto {
    pub fn decode(buf: &[u8]) -> Result<Self> {
        let mut m = ModelProto::default();
        let mut graph = None;
        let mut r = Reader::new(buf);
        while let Some((n, f)) = r.next()? {
            match (n, f) {
                (1, Field::Varint(v)) => m.ir_version = v as i64,
                (2, Field::Bytes(b)) => m.producer = string(b)?,
                (7, Field::Bytes(b)) => graph = Some(GraphProto::decode(b, 0)?),
                (8, Field::Bytes(b)) => {
                    let mut domain = String::new();
                    let mut version = 0;
                    let mut or = Reader::new(b);
                    while let Some((k, kf)) = or.next()? {
                        match (k, kf) {
                            (1, Field::Bytes(d)) => domain = string(d)?,
                            (2, Field::Varint(v)) => version = v as i64,
                            _ => {}
                        }
                    }
                    m.opsets.push((domain, version));
                }
                _ => {}
            }
        }
        m.graph = graph.ok_or_else(|| bad("the model has no graph"))?;
        Ok(m)
    }
}

impl ModelProto {
    /// Reads and decodes an .onnx file, then loads any tensor kept in an external data file
    /// beside it. External locations must stay inside the model's folder (a relative path
    /// without `..`, symbolic links resolved), as onnxruntime requires: a crafted model must not
    /// make aisec read `/etc/shadow` or `../../secrets` into a weight.
    pub fn read(path: &std::path::Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| MlError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let in_file = |e: MlError| MlError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let mut model = ModelProto::decode(&bytes).map_err(in_file)?;
        let folder = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let mut files: std::collections::HashMap<String, Vec<u8>> = Default::default();
        let mut tensors: Vec<&mut TensorProto> = model.graph.initializers.iter_mut().collect();
        for node in &mut model.graph.nodes {
            for attr in &mut node.attributes {
                if let Some(t) = attr.t.as_mut() {
                    tensors.push(t);
                }
            }
        }
        for tensor in tensors {
            let Some(ext) = tensor.external.take() else {
                continue;
            };
            if !files.contains_key(&ext.location) {
                let data = read_external(folder, &ext.location, &tensor.name)?;
                files.insert(ext.location.clone(), data);
            }
            let data = &files[&ext.location];
            let start = usize::try_from(ext.offset).unwrap_or(usize::MAX);
            let end = match ext.length {
                Some(len) => start.saturating_add(usize::try_from(len).unwrap_or(usize::MAX)),
                None => data.len(),
            };
            if start > end || end > data.len() {
                return Err(MlError::Format {
                    path: folder.join(&ext.location),
                    message: format!(
                        "tensor `{}` asks for bytes {start}..{end} of a {}-byte file",
                        tensor.name,
                        data.len()
                    ),
                });
            }
            tensor
                .set_raw(&data[start..end])
                .and_then(|()| tensor.check_count())
                .map_err(in_file)?;
        }
        Ok(model)
    }
}

fn read_external(folder: &std::path::Path, location: &str, tensor: &str) -> Result<Vec<u8>> {
    use std::path::Component;
    let relative = std::path::Path::new(location);
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(MlError::Invalid(format!(
            "tensor `{tensor}` keeps its data at `{location}`, outside the model's folder; aisec reads external data only from files beside the model"
        )));
    }
    let full = folder.join(relative);
    let io = |source| MlError::Io {
        path: full.clone(),
        source,
    };
    let inside = full
        .canonicalize()
        .map_err(io)?
        .starts_with(folder.canonicalize().map_err(io)?);
    if !inside {
        return Err(MlError::Invalid(format!(
            "tensor `{tensor}`: `{}` resolves outside the model's folder (a symbolic link?); refused",
            full.display()
        )));
    }
    std::fs::read(&full).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_truncated_and_garbage_input() {
        assert!(ModelProto::decode(&[0x3a, 0x05, 0x0a]).is_err());
        assert!(ModelProto::decode(b"\x80\x04\x95 pickle?").is_err());
        assert!(ModelProto::decode(&[])
            .unwrap_err()
            .to_string()
            .contains("no graph"));
    }

    #[test]
    fn decodes_packed_and_unpacked_lists() {
        let mut ints = Vec::new();
        push_ints(&Field::Bytes(&[0x01, 0x96, 0x01]), &mut ints).unwrap();
        push_ints(&Field::Varint(7), &mut ints).unwrap();
        assert_eq!(ints, vec![1, 150, 7]);
        let mut floats = Vec::new();
        push_floats(&Field::Bytes(&1.5f32.to_le_bytes()), &mut floats).unwrap();
        push_floats(&Field::Fixed32(2.5f32.to_bits()), &mut floats).unwrap();
        assert_eq!(floats, vec![1.5, 2.5]);
    }

    /// Length-delimited field `number` holding `payload`.
    fn field(number: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2];
        let mut len = payload.len();
        while len >= 0x80 {
            out.push((len as u8 & 0x7f) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend_from_slice(payload);
        out
    }

    /// A model whose graph nests `depth` Loop-like bodies: graph > node > attribute > graph.
    fn nested_model(depth: usize) -> Vec<u8> {
        let mut graph = field(2, b"innermost");
        for _ in 0..depth {
            let attribute = [field(1, b"body"), field(6, &graph)].concat();
            let node = [field(4, b"Loop"), field(5, &attribute)].concat();
            graph = field(1, &node);
        }
        field(7, &graph)
    }

    #[test]
    fn subgraphs_are_read_and_deep_nesting_is_refused() {
        let model = ModelProto::decode(&nested_model(3)).unwrap();
        assert_eq!(model.graph.all_nodes().len(), 3);
        let err = ModelProto::decode(&nested_model(MAX_GRAPH_DEPTH + 2)).unwrap_err();
        assert!(err.to_string().contains("nested more than"), "{err}");
    }
}
