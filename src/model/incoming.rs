//! A model file ([`super::format`]) read while it downloads: its header is
//! parsed as soon as its bytes are in, and each tensor is decoded into place
//! from the chunks that carry it. When the last byte arrives the graph is
//! ready, so loading is left with planning, not with copying and widening
//! tens of megabytes. The file's layout allows this (a header, then each
//! tensor's bytes whole and in order); an ONNX file's protobuf does not.
//!
//! This is only a head start. Anything unexpected (not a model file, a length
//! other than announced, a malformed header, too large a tensor) makes the
//! reader stand aside, and the caller imports the whole file as usual, which
//! reports the problem. The hash is not checked here: the caller checks the
//! same bytes as it would for a file imported whole.

use super::format::{self, Header};
use super::state_dict::{element_count, Budget};
use super::Graph;
use safetensors::tensor::TensorInfo;
use safetensors::Dtype;

/// Bytes as they arrive: a slice here, the browser's chunk in wasm.
pub trait Chunk {
    fn byte_len(&self) -> usize;
    /// Copies the chunk's bytes from `at` on into `dst` (filling it).
    fn copy_into(&self, at: usize, dst: &mut [u8]);
}

impl Chunk for [u8] {
    fn byte_len(&self) -> usize {
        self.len()
    }
    fn copy_into(&self, at: usize, dst: &mut [u8]) {
        dst.copy_from_slice(&self[at..at + dst.len()]);
    }
}

/// A model file of a known length, read chunk by chunk; see the module docs.
pub struct Incoming {
    len: usize,
    received: usize,
    state: State,
}

enum State {
    /// The header's bytes so far.
    Head(Vec<u8>),
    Body(Box<Body>),
    /// Not ours to read: the caller imports the file whole.
    Aside,
}

struct Body {
    header: Header,
    graph: Graph,
    /// The tensors in file order, and how many are complete.
    tensors: Vec<(String, TensorInfo)>,
    done: usize,
    /// The tensor being received and how many of its bytes are in.
    current: Target,
    filled: usize,
    budget: Budget,
}

/// Where a tensor's bytes go: straight into its f32 values where it is
/// stored as f32 (little-endian, as wasm is), else staged for decoding.
enum Target {
    F32(Vec<f32>),
    Staged(Vec<u8>),
}

impl Target {
    fn bytes(&mut self) -> &mut [u8] {
        match self {
            Target::F32(v) => bytemuck::cast_slice_mut(v),
            Target::Staged(v) => v,
        }
    }
}

/// Room for `n` values, or None if the allocator has none (no abort).
fn zeroed<T: Clone + Default>(n: usize) -> Option<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).ok()?;
    v.resize(n, T::default());
    Some(v)
}

impl Incoming {
    /// A reader for a file announced as `len` bytes long.
    pub fn new(len: usize) -> Self {
        Incoming { len, received: 0, state: State::Head(Vec::new()) }
    }

    /// Takes the next bytes of the file.
    pub fn push(&mut self, chunk: &(impl Chunk + ?Sized)) {
        let mut at = 0;
        self.received = self.received.saturating_add(chunk.byte_len());
        if self.received > self.len {
            self.state = State::Aside;
        }
        while at < chunk.byte_len() {
            at += match &mut self.state {
                State::Aside => return,
                State::Head(head) => {
                    let wanted = if head.len() < 8 { Some(8) } else { format::header_end(head) };
                    match wanted.filter(|&w| w <= self.len) {
                        Some(w) if head.len() < w => {
                            let n = (w - head.len()).min(chunk.byte_len() - at);
                            let start = head.len();
                            head.resize(start + n, 0);
                            chunk.copy_into(at, &mut head[start..]);
                            n
                        }
                        Some(_) => {
                            self.state = open(head, self.len).map_or(State::Aside, |b| State::Body(Box::new(b)));
                            0
                        }
                        None => {
                            self.state = State::Aside;
                            0
                        }
                    }
                }
                State::Body(body) => {
                    let n = body.take(chunk, at);
                    if n == 0 || body.complete_current().is_none() {
                        self.state = State::Aside;
                    }
                    n
                }
            };
        }
    }

    /// The graph as its header describes it, once the header and every
    /// integer tensor (shapes that planning reads; a safetensors file stores
    /// them first) are in: float tensors are zeros of their final shape. What
    /// a plan of it needs (its steps, shapes and kernels) can then be made
    /// ready while the weights download. None before that, or once the reader
    /// stood aside.
    pub fn shapes(&self) -> Option<Graph> {
        let State::Body(body) = &self.state else { return None };
        let mut graph = body.header.skeleton().ok()?;
        for (i, (name, t)) in body.tensors.iter().enumerate() {
            let c = match t.dtype {
                Dtype::I64 if i < body.done => body.graph.initializers.get(name)?.clone(),
                Dtype::I64 => return None,
                // The weight's own placeholder stands for it scaled.
                _ if name.ends_with(format::int8::SCALE_SUFFIX) => continue,
                _ => super::Constant::f32(t.shape.clone(), zeroed(element_count(&t.shape, name).ok()?)?),
            };
            graph.initializers.insert(name.clone(), c);
        }
        Some(graph)
    }

    /// The header and the graph once every announced byte was read, else None.
    pub fn finish(self) -> Option<(Header, Graph)> {
        match self.state {
            State::Body(mut body) if self.received == self.len && body.done == body.tensors.len() => {
                body.header.dequantize(&mut body.graph).ok()?;
                Some((body.header, body.graph))
            }
            _ => None,
        }
    }
}

/// The body's reader once `head` holds the whole header; None if it is not
/// a model file's (other safetensors fail the format tag).
fn open(head: &[u8], len: usize) -> Option<Body> {
    let header = format::open_header(head, len).ok()?;
    let graph = header.skeleton().ok()?;
    let tensors = header.tensors_in_file_order().into_iter().cloned().collect();
    let mut body = Body {
        header,
        graph,
        tensors,
        done: 0,
        current: Target::Staged(Vec::new()),
        filled: 0,
        budget: Budget::default(),
    };
    body.start(0)?;
    body.complete_current()?;
    Some(body)
}

impl Body {
    /// Makes room for tensor `i` (if there is one) and makes it current.
    fn start(&mut self, i: usize) -> Option<()> {
        self.filled = 0;
        let Some((name, t)) = self.tensors.get(i) else { return Some(()) };
        let count = element_count(&t.shape, name).ok()?;
        self.budget.spend(count).ok()?;
        self.current = match t.dtype {
            Dtype::F32 => Target::F32(zeroed(count)?),
            _ => Target::Staged(zeroed(t.data_offsets.1 - t.data_offsets.0)?),
        };
        Some(())
    }

    /// Copies what `chunk` holds from `at` on of the current tensor; returns
    /// how many bytes that was.
    fn take(&mut self, chunk: &(impl Chunk + ?Sized), at: usize) -> usize {
        let dst = &mut self.current.bytes()[self.filled..];
        let n = dst.len().min(chunk.byte_len() - at);
        chunk.copy_into(at, &mut dst[..n]);
        self.filled += n;
        n
    }

    /// Moves every complete tensor (zero-sized ones too) into the graph and
    /// starts the next; None if the next does not fit the limits or memory.
    fn complete_current(&mut self) -> Option<()> {
        while self.done < self.tensors.len() && self.filled == self.current.bytes().len() {
            let (name, t) = &self.tensors[self.done];
            let c = match std::mem::replace(&mut self.current, Target::Staged(Vec::new())) {
                Target::F32(mut v) => {
                    if cfg!(target_endian = "big") {
                        v.iter_mut().for_each(|x| *x = f32::from_bits(u32::from_le(x.to_bits())));
                    }
                    super::Constant::f32(t.shape.clone(), v)
                }
                Target::Staged(bytes) => format::decode(t, &bytes.as_slice(), 0..bytes.len()),
            };
            self.graph.initializers.insert(name.clone(), c);
            self.done += 1;
            self.start(self.done)?;
        }
        Some(())
    }
}
