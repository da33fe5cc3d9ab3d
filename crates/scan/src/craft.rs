//! Builders for test artifacts: pickles written opcode by opcode and zips with every header
//! field under control. The tests, the fuzz seeds and red teamers who want to probe a
//! scanner use them; nothing here is ever loaded by Python.

use std::io::Write;

/// Writes a pickle opcode by opcode.
#[derive(Debug, Default, Clone)]
pub struct PickleWriter {
    pub buf: Vec<u8>,
}

impl PickleWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn proto(mut self, p: u8) -> Self {
        self.buf.extend_from_slice(&[0x80, p]);
        self
    }

    pub fn op(mut self, op: u8) -> Self {
        self.buf.push(op);
        self
    }

    pub fn raw(mut self, bytes: &[u8]) -> Self {
        self.buf.extend_from_slice(bytes);
        self
    }

    /// GLOBAL: `c module\n name\n`.
    pub fn global(self, module: &str, name: &str) -> Self {
        self.op(b'c').raw(format!("{module}\n{name}\n").as_bytes())
    }

    /// STACK_GLOBAL from two strings on the stack.
    pub fn stack_global(self, module: &str, name: &str) -> Self {
        self.string(module).string(name).op(0x93)
    }

    /// SHORT_BINUNICODE or BINUNICODE.
    pub fn string(mut self, s: &str) -> Self {
        if s.len() < 256 {
            self.buf.extend_from_slice(&[0x8c, s.len() as u8]);
        } else {
            self.buf.push(b'X');
            self.buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s.as_bytes());
        self
    }

    /// BINUNICODE, as protocol 2 writes every string (`torch.save` does; its
    /// `weights_only` reader refuses the protocol-4 SHORT_BINUNICODE).
    pub fn binunicode(mut self, s: &str) -> Self {
        self.buf.push(b'X');
        self.buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(s.as_bytes());
        self
    }

    /// BINBYTES.
    pub fn bytes(mut self, b: &[u8]) -> Self {
        self.buf.push(b'B');
        self.buf.extend_from_slice(&(b.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(b);
        self
    }

    /// BININT.
    pub fn int(mut self, i: i32) -> Self {
        self.buf.push(b'J');
        self.buf.extend_from_slice(&i.to_le_bytes());
        self
    }

    pub fn none(self) -> Self {
        self.op(b'N')
    }
    pub fn mark(self) -> Self {
        self.op(b'(')
    }
    pub fn tuple(self) -> Self {
        self.op(b't')
    }
    pub fn empty_tuple(self) -> Self {
        self.op(b')')
    }
    pub fn tuple1(self) -> Self {
        self.op(0x85)
    }
    pub fn tuple2(self) -> Self {
        self.op(0x86)
    }
    pub fn reduce(self) -> Self {
        self.op(b'R')
    }
    pub fn build(self) -> Self {
        self.op(b'b')
    }
    pub fn newobj(self) -> Self {
        self.op(0x81)
    }
    pub fn empty_dict(self) -> Self {
        self.op(b'}')
    }
    pub fn empty_list(self) -> Self {
        self.op(b']')
    }
    pub fn setitem(self) -> Self {
        self.op(b's')
    }
    pub fn setitems(self) -> Self {
        self.op(b'u')
    }
    pub fn append(self) -> Self {
        self.op(b'a')
    }
    pub fn pop(self) -> Self {
        self.op(b'0')
    }
    pub fn memoize(self) -> Self {
        self.op(0x94)
    }
    pub fn binput(mut self, i: u8) -> Self {
        self.buf.extend_from_slice(&[b'q', i]);
        self
    }
    pub fn binget(mut self, i: u8) -> Self {
        self.buf.extend_from_slice(&[b'h', i]);
        self
    }
    pub fn binpersid(self) -> Self {
        self.op(b'Q')
    }
    pub fn stop(self) -> Self {
        self.op(b'.')
    }

    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// `module.name(*args)` with string arguments, protocol 2, GLOBAL + REDUCE.
pub fn call(module: &str, name: &str, args: &[&str]) -> Vec<u8> {
    let mut w = PickleWriter::new().proto(2).global(module, name).mark();
    for a in args {
        w = w.string(a);
    }
    w.tuple().reduce().stop().finish()
}

/// A pickle shaped like `torch.save(state_dict)`: an OrderedDict of `n` tensors rebuilt by
/// `torch._utils._rebuild_tensor_v2` from persistent storage IDs `'0'..`.
pub fn torch_state_dict(n: usize, numel: i32) -> Vec<u8> {
    let tensors: Vec<(String, Vec<i32>)> = (0..n)
        .map(|i| (format!("layer{i}.weight"), vec![numel]))
        .collect();
    torch_state_dict_of(&tensors)
}

/// The same for named float32 tensors of the given shapes (row-major), storage `i` for
/// tensor `i`, with protocol 2's opcodes only, so that `torch.load(weights_only=True)` reads
/// it (checked with torch 2.15).
pub fn torch_state_dict_of(tensors: &[(String, Vec<i32>)]) -> Vec<u8> {
    let mut w = PickleWriter::new()
        .proto(2)
        .global("collections", "OrderedDict")
        .empty_tuple()
        .reduce()
        .binput(0)
        .mark();
    for (i, (name, shape)) in tensors.iter().enumerate() {
        let numel: i32 = shape.iter().product();
        let mut strides = vec![1i32; shape.len()];
        for d in (0..shape.len().saturating_sub(1)).rev() {
            strides[d] = strides[d + 1] * shape[d + 1];
        }
        w = w
            .binunicode(name)
            .global("torch._utils", "_rebuild_tensor_v2")
            .mark()
            .mark()
            .binunicode("storage")
            .global("torch", "FloatStorage")
            .binunicode(&i.to_string())
            .binunicode("cpu")
            .int(numel)
            .tuple()
            .binpersid()
            .int(0)
            .mark();
        for d in shape {
            w = w.int(*d);
        }
        w = w.tuple().mark();
        for s in &strides {
            w = w.int(*s);
        }
        w = w
            .tuple()
            .op(0x89)
            .global("collections", "OrderedDict")
            .empty_tuple()
            .reduce()
            .tuple()
            .reduce();
    }
    w.setitems().stop().finish()
}

/// One entry of a [`ZipWriter`], with every field that can be tampered with.
#[derive(Debug, Clone)]
pub struct ZipEntry {
    pub name: String,
    /// The name written in the local header (defaults to `name`).
    pub local_name: Option<String>,
    pub data: Vec<u8>,
    pub deflate: bool,
    /// CRC-32 to write instead of the real one.
    pub crc: Option<u32>,
    pub flags: u16,
    pub local_flags: Option<u16>,
    /// Leave the entry out of the central directory.
    pub hidden: bool,
    /// Uncompressed size to declare instead of the data's length (ZipCrypto's 12-byte header
    /// makes the stored data longer than the file it holds).
    pub size: Option<u32>,
}

impl ZipEntry {
    pub fn new(name: &str, data: &[u8]) -> Self {
        ZipEntry {
            name: name.into(),
            local_name: None,
            data: data.to_vec(),
            deflate: false,
            crc: None,
            flags: 0,
            local_flags: None,
            hidden: false,
            size: None,
        }
    }
}

/// Writes a zip: local headers and data in order, then the central directory.
#[derive(Debug, Default, Clone)]
pub struct ZipWriter {
    pub entries: Vec<ZipEntry>,
    /// Bytes in front of the first local header.
    pub prefix: Vec<u8>,
    /// Write the zip64 end record and its locator (76 bytes) between the central directory
    /// and the classic end record, with unsaturated classic fields — as PyTorch 2.x does.
    pub zip64_records: bool,
}

impl ZipWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn entry(mut self, e: ZipEntry) -> Self {
        self.entries.push(e);
        self
    }

    pub fn file(self, name: &str, data: &[u8]) -> Self {
        self.entry(ZipEntry::new(name, data))
    }

    pub fn finish(self) -> Vec<u8> {
        let mut out = self.prefix.clone();
        let mut central = Vec::new();
        let mut listed = 0u16;
        for e in &self.entries {
            let mut crc = flate2::Crc::new();
            crc.update(&e.data);
            let crc = e.crc.unwrap_or(crc.sum());
            let stored = if e.deflate {
                let mut enc =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(&e.data).expect("in memory");
                enc.finish().expect("in memory")
            } else {
                e.data.clone()
            };
            let method: u16 = if e.deflate { 8 } else { 0 };
            let offset = (out.len() - self.prefix.len()) as u32;
            let local_name = e.local_name.clone().unwrap_or_else(|| e.name.clone());
            out.extend_from_slice(b"PK\x03\x04");
            out.extend_from_slice(&20u16.to_le_bytes());
            out.extend_from_slice(&e.local_flags.unwrap_or(e.flags).to_le_bytes());
            out.extend_from_slice(&method.to_le_bytes());
            out.extend_from_slice(&[0, 0, 0x21, 0]);
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&(stored.len() as u32).to_le_bytes());
            out.extend_from_slice(&e.size.unwrap_or(e.data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(local_name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(local_name.as_bytes());
            out.extend_from_slice(&stored);
            if e.hidden {
                continue;
            }
            listed += 1;
            central.extend_from_slice(b"PK\x01\x02");
            central.extend_from_slice(&20u16.to_le_bytes());
            central.extend_from_slice(&20u16.to_le_bytes());
            central.extend_from_slice(&e.flags.to_le_bytes());
            central.extend_from_slice(&method.to_le_bytes());
            central.extend_from_slice(&[0, 0, 0x21, 0]);
            central.extend_from_slice(&crc.to_le_bytes());
            central.extend_from_slice(&(stored.len() as u32).to_le_bytes());
            central.extend_from_slice(&e.size.unwrap_or(e.data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 12]);
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(e.name.as_bytes());
        }
        let cd_offset = (out.len() - self.prefix.len()) as u32;
        let cd_size = central.len() as u32;
        out.extend_from_slice(&central);
        if self.zip64_records {
            let record = (out.len() - self.prefix.len()) as u64;
            out.extend_from_slice(b"PK\x06\x06");
            out.extend_from_slice(&44u64.to_le_bytes());
            out.extend_from_slice(&[45, 0, 45, 0]);
            out.extend_from_slice(&[0; 8]);
            out.extend_from_slice(&u64::from(listed).to_le_bytes());
            out.extend_from_slice(&u64::from(listed).to_le_bytes());
            out.extend_from_slice(&u64::from(cd_size).to_le_bytes());
            out.extend_from_slice(&u64::from(cd_offset).to_le_bytes());
            out.extend_from_slice(b"PK\x06\x07");
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&record.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes());
        }
        out.extend_from_slice(b"PK\x05\x06");
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&listed.to_le_bytes());
        out.extend_from_slice(&listed.to_le_bytes());
        out.extend_from_slice(&cd_size.to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }
}

/// A zip laid out like `torch.save` writes it: `archive/data.pkl`, `archive/version`,
/// `archive/byteorder` and one raw storage record per entry of `storages`.
pub fn torch_zip(pickle: &[u8], storages: &[Vec<u8>]) -> Vec<u8> {
    let mut z = ZipWriter::new()
        .file("archive/data.pkl", pickle)
        .file("archive/byteorder", b"little")
        .file("archive/version", b"3\n");
    for (i, s) in storages.iter().enumerate() {
        z = z.file(&format!("archive/data/{i}"), s);
    }
    z.file("archive/.data/serialization_id", b"1234567890")
        .finish()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("in memory");
    enc.finish().expect("in memory")
}

/// A ustar archive of `(name, data)` entries.
pub fn tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in entries {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000644");
        h[108..115].copy_from_slice(b"0000000");
        h[116..123].copy_from_slice(b"0000000");
        h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// A `.npy` file of `descr` and `shape` with `data` after the header.
pub fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A safetensors file from a header JSON and a data area.
pub fn safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}
