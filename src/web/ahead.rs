//! The GPU pipelines compiled while a model file downloads
//! ([`crate::gpu::Prepared`]): a [`super::ModelStream`] made for WebGPU starts
//! once the file's header and integer tensors are in, and `Session.create`
//! builds its backend on the device this opened.

use std::cell::Cell;
use std::rc::Rc;

use futures_channel::oneshot;

use super::backend::check_webgpu_reachable;
use super::mark;
use crate::error::Result;
use crate::gpu::Prepared;
use crate::model::incoming::Incoming;
use crate::plan::{compile_owned, CompileOptions};

/// The compile ahead for one stream; see the module docs.
pub(super) struct GpuAhead {
    /// Bytes of the file received so far.
    received: Rc<Cell<usize>>,
    /// The input shape to plan for (None: the model's own).
    shape: Option<Vec<usize>>,
    /// Set once the shapes were in and the compile started.
    compile: Option<Compile>,
}

struct Compile {
    done: oneshot::Receiver<Result<Prepared>>,
    /// Bytes of the file received when the pipelines were ready.
    ready_at: Rc<Cell<Option<usize>>>,
}

/// A device with the pipelines compiled ahead, and how many bytes of the
/// file had arrived when they were ready.
pub(super) struct Ready {
    pub prepared: Prepared,
    pub at_byte: usize,
}

impl GpuAhead {
    /// A compile for input `shape` (None: the model's own); None where
    /// WebGPU can't be reached.
    pub fn new(shape: Option<Vec<usize>>) -> Option<Self> {
        check_webgpu_reachable().ok()?;
        Some(GpuAhead { received: Rc::default(), shape, compile: None })
    }

    /// Notes a chunk of `len` bytes that `incoming` was just given, and starts
    /// the compile once its shapes are in.
    pub fn after(&mut self, incoming: &Incoming, len: usize) {
        self.received.set(self.received.get() + len);
        if self.compile.is_some() {
            return;
        }
        let Some(graph) = incoming.shapes() else { return };
        let plan = compile_owned(graph, &CompileOptions { input_shape: self.shape.take() });
        let (tx, done) = oneshot::channel();
        let ready_at = Rc::new(Cell::new(None));
        let (received, at) = (Rc::clone(&self.received), Rc::clone(&ready_at));
        mark("header-plan");
        wasm_bindgen_futures::spawn_local(async move {
            let prepared = match plan {
                Ok(plan) => Prepared::new(plan).await,
                Err(e) => Err(e),
            };
            if prepared.is_ok() {
                at.set(Some(received.get()));
                mark("pipelines");
            }
            // Nobody waits once the stream was dropped unused.
            let _ = tx.send(prepared);
        });
        self.compile = Some(Compile { done, ready_at });
    }

    /// The device and its pipelines once compiled; None if the compile never
    /// started or failed (the backend is then built as usual, which reports
    /// any real problem).
    pub async fn ready(self) -> Option<Ready> {
        let c = self.compile?;
        let prepared = c.done.await.ok()?.ok()?;
        Some(Ready { prepared, at_byte: c.ready_at.get()? })
    }
}
