//! Minimal NumPy `.npy` reader/writer for `f32` arrays (test fixtures, CLI
//! tensor I/O). Reads format versions 1-3, little-endian `<f4` (and `<f8`,
//! narrowed to f32), C order; writes version 1.0 byte-for-byte as `np.save`.

use crate::error::{Error, Result};

const MAGIC: &[u8] = b"\x93NUMPY";
/// NumPy aligns the data to this many bytes.
const ALIGN: usize = 64;
/// NumPy pads the header so the first axis can grow to this many digits in place.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;

fn bad(msg: impl Into<String>) -> Error {
    Error::InvalidInput(format!("bad .npy: {}", msg.into()))
}

/// Parses a `.npy` file into its shape and row-major data.
pub fn read_f32(bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>)> {
    let rest = bytes.strip_prefix(MAGIC).ok_or_else(|| bad("missing \\x93NUMPY magic"))?;
    let (major, rest) = match rest {
        [major, _minor, rest @ ..] => (*major, rest),
        _ => return Err(bad("truncated preamble")),
    };
    let (header_len, rest) = match major {
        1 => match rest {
            [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), rest),
            _ => return Err(bad("truncated preamble")),
        },
        2 | 3 => match rest {
            [a, b, c, d, rest @ ..] => (u32::from_le_bytes([*a, *b, *c, *d]) as usize, rest),
            _ => return Err(bad("truncated preamble")),
        },
        v => return Err(bad(format!("unsupported format version {v}"))),
    };
    if rest.len() < header_len {
        return Err(bad("truncated header"));
    }
    let (header, data) = rest.split_at(header_len);
    let header = std::str::from_utf8(header).map_err(|_| bad("header is not text"))?;
    let Header { descr, fortran_order, shape } = parse_header(header)?;

    let item_size = match descr.as_str() {
        "<f4" => 4,
        "<f8" => 8,
        d => return Err(bad(format!("dtype {d:?} is not supported (want '<f4' or '<f8')"))),
    };
    if fortran_order {
        return Err(bad("fortran_order arrays are not supported"));
    }
    let count = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| bad(format!("shape {shape:?} is too large")))?;
    let expected = count.checked_mul(item_size).ok_or_else(|| bad(format!("shape {shape:?} is too large")))?;
    if data.len() != expected {
        return Err(bad(format!("shape {shape:?} of {descr} needs {expected} data bytes, file has {}", data.len())));
    }
    let values = if item_size == 4 {
        data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    } else {
        data.chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect()
    };
    Ok((shape, values))
}

/// Serialises a C-order `f32` array as `.npy` version 1.0, with the same
/// header and padding `np.save` writes.
pub fn write_f32(shape: &[usize], data: &[f32]) -> Result<Vec<u8>> {
    let count = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if count != Some(data.len()) {
        return Err(Error::InvalidInput(format!("npy: shape {shape:?} does not hold {} values", data.len())));
    }
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_repr = match dims.as_slice() {
        [one] => format!("({one},)"),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_repr}, }}");
    if let Some(first) = dims.first() {
        header.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(first.len())));
    }
    // Preamble (magic, version, u16 length) + header + '\n' ends on an ALIGN boundary.
    let unpadded = MAGIC.len() + 2 + 2 + header.len() + 1;
    header.push_str(&" ".repeat(ALIGN - unpadded % ALIGN));
    header.push('\n');
    let header_len = u16::try_from(header.len())
        .map_err(|_| Error::InvalidInput(format!("npy: {}-dimensional header is too long", shape.len())))?;

    let mut out = Vec::with_capacity(MAGIC.len() + 4 + header.len() + 4 * data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    Ok(out)
}

struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

/// Parses the header: a Python dict literal with exactly the keys
/// `descr` (string), `fortran_order` (bool) and `shape` (tuple of ints).
fn parse_header(text: &str) -> Result<Header> {
    let mut p = Parser { text, s: text.as_bytes(), i: 0 };
    let (mut descr, mut fortran_order, mut shape) = (None, None, None);
    p.expect(b'{')?;
    while !p.eat(b'}') {
        let key = p.string()?;
        p.expect(b':')?;
        let value = p.value()?;
        match (key.as_str(), value) {
            ("descr", Value::Str(s)) if descr.is_none() => descr = Some(s),
            ("fortran_order", Value::Bool(b)) if fortran_order.is_none() => fortran_order = Some(b),
            ("shape", Value::Tuple(t)) if shape.is_none() => shape = Some(t),
            (k, _) => return Err(bad(format!("unexpected or duplicate header entry {k:?}"))),
        }
        if !p.eat(b',') {
            p.expect(b'}')?;
            break;
        }
    }
    p.skip_ws();
    if p.i != p.s.len() {
        return Err(bad("junk after the header dict"));
    }
    match (descr, fortran_order, shape) {
        (Some(descr), Some(fortran_order), Some(shape)) => Ok(Header { descr, fortran_order, shape }),
        _ => Err(bad("header lacks one of descr, fortran_order, shape")),
    }
}

struct Parser<'a> {
    text: &'a str,
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.s.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    /// Skips whitespace, then consumes `c` if it is next.
    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        let hit = self.s.get(self.i) == Some(&c);
        self.i += usize::from(hit);
        hit
    }

    fn expect(&mut self, c: u8) -> Result<()> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(bad(format!("header: expected '{}' at byte {}", c as char, self.i)))
        }
    }

    fn string(&mut self) -> Result<String> {
        self.skip_ws();
        let quote = match self.s.get(self.i) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err(bad(format!("header: expected a string at byte {}", self.i))),
        };
        let start = self.i + 1;
        let len = self.s[start..].iter().position(|&c| c == quote).ok_or_else(|| bad("header: unterminated string"))?;
        self.i = start + len + 1;
        // Both ends sit next to an ASCII quote, so they are char boundaries.
        Ok(self.text[start..start + len].to_string())
    }

    fn value(&mut self) -> Result<Value> {
        self.skip_ws();
        let rest = &self.s[self.i..];
        if rest.starts_with(b"True") || rest.starts_with(b"False") {
            let b = rest[0] == b'T';
            self.i += if b { 4 } else { 5 };
            return Ok(Value::Bool(b));
        }
        if self.eat(b'(') {
            let mut dims = Vec::new();
            while !self.eat(b')') {
                dims.push(self.int()?);
                if !self.eat(b',') {
                    self.expect(b')')?;
                    break;
                }
            }
            return Ok(Value::Tuple(dims));
        }
        self.string().map(Value::Str)
    }

    /// A non-negative integer; Python 2 NumPy wrote longs as `3L`.
    fn int(&mut self) -> Result<usize> {
        self.skip_ws();
        let start = self.i;
        let mut n = 0usize;
        while let Some(&c @ b'0'..=b'9') = self.s.get(self.i) {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(usize::from(c - b'0')))
                .ok_or_else(|| bad("header: dimension overflows"))?;
            self.i += 1;
        }
        if self.i == start {
            return Err(bad(format!("header: expected a dimension at byte {}", self.i)));
        }
        self.i += usize::from(self.s.get(self.i) == Some(&b'L'));
        Ok(n)
    }
}
