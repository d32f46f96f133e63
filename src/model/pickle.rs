//! The subset of Python's pickle machine that `torch.save` output needs.
//!
//! Objects live in an arena and the stack holds their ids, so memo hits and
//! later mutation (SETITEMS after BINPUT) share one object and nothing is
//! copied. Every opcode adds at most one object, so the arena is bounded by the
//! input length. Only torch's own callables are interpreted: OrderedDict,
//! `_rebuild_tensor_v2` and `_rebuild_parameter`; any other REDUCE yields an
//! opaque object that fails later, where a tensor was expected.

use crate::error::{Error, Result};

pub type Id = usize;

/// Element type of a torch storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl DType {
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 | DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }

    /// From torch's legacy storage class names, which torch still writes into pickles.
    fn from_storage_class(name: &str) -> Option<DType> {
        Some(match name {
            "DoubleStorage" => DType::F64,
            "FloatStorage" => DType::F32,
            "HalfStorage" => DType::F16,
            "BFloat16Storage" => DType::BF16,
            "LongStorage" => DType::I64,
            "IntStorage" => DType::I32,
            "ShortStorage" => DType::I16,
            "CharStorage" => DType::I8,
            "ByteStorage" => DType::U8,
            "BoolStorage" => DType::Bool,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Obj {
    None,
    Bool(bool),
    Int(i64),
    /// An integer wider than 64 bits (torch's magic number), little-endian two's complement.
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    /// Byte strings are never needed by value.
    Bytes,
    Tuple(Vec<Id>),
    List(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Global {
        module: String,
        name: String,
    },
    /// A persistent id `('storage', class, key, location, numel[, view])`.
    Storage {
        dtype: DType,
        key: String,
        numel: u64,
    },
    Tensor {
        storage: Id,
        offset: u64,
        size: Vec<u64>,
        stride: Vec<u64>,
    },
    /// Anything else, described for error messages.
    Opaque(String),
}

/// The state of one pickle run, kept after STOP so callers can walk the result.
pub struct Pickle {
    pub objs: Vec<Obj>,
    pub root: Id,
    /// Bytes consumed, including STOP (the legacy format has pickles back to back).
    pub len: usize,
}

impl Pickle {
    pub fn get(&self, id: Id) -> &Obj {
        &self.objs[id]
    }
    pub fn str(&self, id: Id) -> Option<&str> {
        match self.get(id) {
            Obj::Str(s) => Some(s),
            _ => None,
        }
    }
}

fn err(pos: usize, msg: impl std::fmt::Display) -> Error {
    Error::ModelFormat(format!("pickle at byte {pos}: {msg}"))
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.data.len() - self.pos {
            return Err(err(self.pos, format!("needs {n} more bytes, the data ends first")));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn len_u64(&mut self) -> Result<usize> {
        let n = self.u64()?;
        usize::try_from(n).map_err(|_| err(self.pos, "length out of range"))
    }
    fn line(&mut self) -> Result<&'a str> {
        let rest = &self.data[self.pos..];
        let end = rest.iter().position(|&b| b == b'\n').ok_or_else(|| err(self.pos, "unterminated line"))?;
        let s = std::str::from_utf8(&rest[..end]).map_err(|_| err(self.pos, "line is not UTF-8"))?;
        self.pos += end + 1;
        Ok(s)
    }
}

struct Vm<'a> {
    rd: Reader<'a>,
    objs: Vec<Obj>,
    stack: Vec<Id>,
    marks: Vec<usize>,
    memo: std::collections::HashMap<u32, Id>,
}

impl Vm<'_> {
    fn push(&mut self, o: Obj) {
        self.objs.push(o);
        self.stack.push(self.objs.len() - 1);
    }
    fn pop(&mut self) -> Result<Id> {
        self.stack.pop().ok_or_else(|| err(self.rd.pos, "stack underflow"))
    }
    fn top(&self) -> Result<Id> {
        self.stack.last().copied().ok_or_else(|| err(self.rd.pos, "stack underflow"))
    }
    /// Pops everything above the last MARK.
    fn pop_mark(&mut self) -> Result<Vec<Id>> {
        let m = self.marks.pop().ok_or_else(|| err(self.rd.pos, "no MARK on the stack"))?;
        if m > self.stack.len() {
            return Err(err(self.rd.pos, "MARK above the stack top"));
        }
        Ok(self.stack.split_off(m))
    }
    fn memo_put(&mut self, key: u32) -> Result<()> {
        let top = self.top()?;
        self.memo.insert(key, top);
        Ok(())
    }
    fn memo_get(&mut self, key: u32) -> Result<()> {
        let id = *self.memo.get(&key).ok_or_else(|| err(self.rd.pos, format!("memo key {key} was never stored")))?;
        self.stack.push(id);
        Ok(())
    }
    fn string(&mut self, n: usize) -> Result<()> {
        let b = self.rd.take(n)?;
        let s = std::str::from_utf8(b).map_err(|_| err(self.rd.pos, "string is not UTF-8"))?;
        self.push(Obj::Str(s.to_string()));
        Ok(())
    }
    fn int(&self, id: Id) -> Option<i64> {
        match self.objs[id] {
            Obj::Int(v) => Some(v),
            _ => None,
        }
    }
    fn uint_list(&self, id: Id, what: &str) -> Result<Vec<u64>> {
        let items = match &self.objs[id] {
            Obj::Tuple(v) | Obj::List(v) => v,
            _ => return Err(err(self.rd.pos, format!("tensor {what} is not a tuple"))),
        };
        items
            .iter()
            .map(|&i| self.int(i).and_then(|v| u64::try_from(v).ok()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| err(self.rd.pos, format!("tensor {what} holds a non-integer or negative value")))
    }
    fn tuple_items(&self, id: Id) -> Result<Vec<Id>> {
        match &self.objs[id] {
            Obj::Tuple(v) => Ok(v.clone()),
            _ => Err(err(self.rd.pos, "REDUCE arguments are not a tuple")),
        }
    }

    /// `('storage', StorageClass, key, location, numel[, view_metadata])`.
    fn persistent(&mut self, pid: Id) -> Result<Obj> {
        let pos = self.rd.pos;
        let items = match &self.objs[pid] {
            Obj::Tuple(v) if v.len() == 5 || v.len() == 6 => v.clone(),
            _ => return Err(err(pos, "persistent id is not a torch storage tuple")),
        };
        if self.objs[items[0]] != Obj::Str("storage".into()) {
            return Err(err(pos, "persistent id is not a storage (a whole pickled module is not supported)"));
        }
        let dtype = match &self.objs[items[1]] {
            Obj::Global { name, .. } => {
                DType::from_storage_class(name).ok_or_else(|| err(pos, format!("unsupported storage type {name}")))?
            }
            _ => return Err(err(pos, "storage type is not a class")),
        };
        let key = match &self.objs[items[2]] {
            Obj::Str(s) => s.clone(),
            _ => return Err(err(pos, "storage key is not a string")),
        };
        let numel = self.int(items[4]).and_then(|v| u64::try_from(v).ok());
        let numel = numel.ok_or_else(|| err(pos, "storage size is not a non-negative integer"))?;
        if items.len() == 6 && self.objs[items[5]] != Obj::None {
            return Err(err(pos, "storage views (torch < 1.0 files) are not supported"));
        }
        Ok(Obj::Storage { dtype, key, numel })
    }

    fn reduce(&mut self, callable: Id, args: Id) -> Result<Obj> {
        let (module, name) = match &self.objs[callable] {
            Obj::Global { module, name } => (module.as_str(), name.as_str()),
            _ => return Ok(Obj::Opaque("result of calling a non-class".into())),
        };
        match (module, name) {
            ("collections", "OrderedDict") => Ok(Obj::Dict(Vec::new())),
            ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => {
                let a = self.tuple_items(args)?;
                if a.len() < 4 {
                    return Err(err(self.rd.pos, "_rebuild_tensor with fewer than 4 arguments"));
                }
                if !matches!(self.objs[a[0]], Obj::Storage { .. }) {
                    return Err(err(self.rd.pos, "tensor storage is not a persistent storage"));
                }
                let offset = self.int(a[1]).and_then(|v| u64::try_from(v).ok());
                let offset =
                    offset.ok_or_else(|| err(self.rd.pos, "tensor storage offset is not a non-negative integer"))?;
                let size = self.uint_list(a[2], "size")?;
                let stride = self.uint_list(a[3], "stride")?;
                if size.len() != stride.len() {
                    return Err(err(self.rd.pos, "tensor size and stride have different ranks"));
                }
                Ok(Obj::Tensor { storage: a[0], offset, size, stride })
            }
            ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
                let a = self.tuple_items(args)?;
                let first = a.first().ok_or_else(|| err(self.rd.pos, "_rebuild_parameter without arguments"))?;
                Ok(self.objs[*first].clone())
            }
            _ => Ok(Obj::Opaque(format!("{module}.{name}"))),
        }
    }

    /// Runs one opcode; true at STOP. Each opcode family has its own method, which
    /// answers false for an opcode that is not its own.
    fn step(&mut self, op: u8) -> Result<bool> {
        if op == b'.' {
            return Ok(true);
        }
        let pos = self.rd.pos - 1;
        let known = self.stack_op(op)?
            || self.scalar(op)?
            || self.container(op, pos)?
            || self.object(op, pos)?
            || self.memo_op(op, pos)?;
        if known {
            Ok(false)
        } else {
            Err(err(pos, format!("unsupported opcode 0x{op:02x}")))
        }
    }

    fn stack_op(&mut self, op: u8) -> Result<bool> {
        match op {
            0x80 => {
                self.rd.u8()?; // PROTO: every protocol's opcodes are accepted
            }
            0x95 => {
                self.rd.u64()?; // FRAME: a hint only
            }
            b'(' => self.marks.push(self.stack.len()),
            b'0' => {
                self.pop()?;
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => {
                let t = self.top()?;
                self.stack.push(t);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// None, booleans, integers, floats, strings and bytes.
    fn scalar(&mut self, op: u8) -> Result<bool> {
        match op {
            b'N' => self.push(Obj::None),
            0x88 => self.push(Obj::Bool(true)),
            0x89 => self.push(Obj::Bool(false)),
            b'J' => {
                let v = self.rd.u32()? as i32;
                self.push(Obj::Int(v as i64));
            }
            b'K' => {
                let v = self.rd.u8()?;
                self.push(Obj::Int(v as i64));
            }
            b'M' => {
                let v = self.rd.u16()?;
                self.push(Obj::Int(v as i64));
            }
            0x8a | 0x8b => {
                let n = if op == 0x8a { self.rd.u8()? as usize } else { self.rd.u32()? as usize };
                let b = self.rd.take(n)?;
                let o = if n <= 8 {
                    // Sign-extend from the top byte.
                    let fill = if b.last().is_some_and(|&x| x & 0x80 != 0) { 0xff } else { 0 };
                    let mut buf = [fill; 8];
                    buf[..n].copy_from_slice(b);
                    Obj::Int(i64::from_le_bytes(buf))
                } else {
                    Obj::BigInt(b.to_vec())
                };
                self.push(o);
            }
            b'G' => {
                let v = f64::from_be_bytes(self.rd.take(8)?.try_into().unwrap());
                self.push(Obj::Float(v));
            }
            // Python 2 str (T, U): torch never puts names in these, keep them as text when they are.
            b'X' | b'T' => {
                let n = self.rd.u32()? as usize;
                self.string(n)?;
            }
            0x8c | b'U' => {
                let n = self.rd.u8()? as usize;
                self.string(n)?;
            }
            0x8d => {
                let n = self.rd.len_u64()?;
                self.string(n)?;
            }
            b'B' | b'C' | 0x8e => {
                let n = match op {
                    b'B' => self.rd.u32()? as usize,
                    b'C' => self.rd.u8()? as usize,
                    _ => self.rd.len_u64()?,
                };
                self.rd.take(n)?;
                self.push(Obj::Bytes);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Tuples, lists and dicts.
    fn container(&mut self, op: u8, pos: usize) -> Result<bool> {
        match op {
            b')' => self.push(Obj::Tuple(Vec::new())),
            b't' => {
                let items = self.pop_mark()?;
                self.push(Obj::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if self.stack.len() < n {
                    return Err(err(pos, "stack underflow"));
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.push(Obj::Tuple(items));
            }
            b']' => self.push(Obj::List(Vec::new())),
            b'l' => {
                let items = self.pop_mark()?;
                self.push(Obj::List(items));
            }
            b'a' | b'e' => {
                let items = if op == b'a' { vec![self.pop()?] } else { self.pop_mark()? };
                let list = self.top()?;
                match &mut self.objs[list] {
                    Obj::List(v) => v.extend(items),
                    _ => return Err(err(pos, "APPEND to a non-list")),
                }
            }
            b'}' => self.push(Obj::Dict(Vec::new())),
            b'd' => {
                let items = self.pop_mark()?;
                if items.len() % 2 != 0 {
                    return Err(err(pos, "DICT with an odd number of items"));
                }
                let pairs = items.chunks_exact(2).map(|p| (p[0], p[1])).collect();
                self.push(Obj::Dict(pairs));
            }
            b's' | b'u' => {
                let items = if op == b's' {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    vec![k, v]
                } else {
                    self.pop_mark()?
                };
                if items.len() % 2 != 0 {
                    return Err(err(pos, "SETITEMS with an odd number of items"));
                }
                let dict = self.top()?;
                match &mut self.objs[dict] {
                    Obj::Dict(d) => d.extend(items.chunks_exact(2).map(|p| (p[0], p[1]))),
                    _ => return Err(err(pos, "SETITEM on a non-dict")),
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Globals, calls, BUILD and persistent ids.
    fn object(&mut self, op: u8, pos: usize) -> Result<bool> {
        match op {
            b'c' => {
                let module = self.rd.line()?.to_string();
                let name = self.rd.line()?.to_string();
                self.push(Obj::Global { module, name });
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                match (&self.objs[module], &self.objs[name]) {
                    (Obj::Str(m), Obj::Str(n)) => {
                        let g = Obj::Global { module: m.clone(), name: n.clone() };
                        self.push(g);
                    }
                    _ => return Err(err(pos, "STACK_GLOBAL operands are not strings")),
                }
            }
            b'R' | 0x81 => {
                let args = self.pop()?;
                let callable = self.pop()?;
                let o = self.reduce(callable, args)?;
                self.push(o);
            }
            b'b' => {
                // BUILD sets attributes (OrderedDict's `_metadata`); nothing the weights need.
                self.pop()?;
                self.top()?;
            }
            b'Q' => {
                let pid = self.pop()?;
                let o = self.persistent(pid)?;
                self.push(o);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn memo_op(&mut self, op: u8, pos: usize) -> Result<bool> {
        // BINPUT, LONG_BINPUT and MEMOIZE store the stack top; BINGET and LONG_BINGET push a stored value.
        let (key, put) = match op {
            b'q' => (self.rd.u8()? as u32, true),
            b'r' => (self.rd.u32()?, true),
            0x94 => (u32::try_from(self.memo.len()).map_err(|_| err(pos, "memo overflow"))?, true),
            b'h' => (self.rd.u8()? as u32, false),
            b'j' => (self.rd.u32()?, false),
            _ => return Ok(false),
        };
        if put {
            self.memo_put(key)?;
        } else {
            self.memo_get(key)?;
        }
        Ok(true)
    }
}

/// Runs one pickle that starts at `data[0]`, up to and including its STOP.
pub fn load(data: &[u8]) -> Result<Pickle> {
    let mut vm = Vm {
        rd: Reader { data, pos: 0 },
        objs: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: std::collections::HashMap::new(),
    };
    loop {
        let op = vm.rd.u8()?;
        if vm.step(op)? {
            let root = vm.pop()?;
            return Ok(Pickle { objs: vm.objs, root, len: vm.rd.pos });
        }
    }
}
