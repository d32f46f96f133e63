//! A FIFO async lock, so that calls on one session run one at a time.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use futures_channel::oneshot;

/// A FIFO async lock: `acquire` resolves once every earlier holder released.
/// (wasm32 is single-threaded, so `Cell`/`RefCell` suffice.)
#[derive(Default)]
pub(super) struct Turnstile {
    busy: Cell<bool>,
    waiting: RefCell<VecDeque<oneshot::Sender<()>>>,
}

/// A held turn; dropping it lets the next waiter in.
pub(super) struct Turn<'a>(&'a Turnstile);

impl Turnstile {
    pub(super) async fn acquire(&self) -> Turn<'_> {
        if self.busy.replace(true) {
            let (tx, rx) = oneshot::channel();
            self.waiting.borrow_mut().push_back(tx);
            // The sender lives in `waiting` until a release hands over, so this
            // only errs if the lock itself is gone, which can't happen while borrowed.
            // (A waiter dropped after the hand-over would leave the lock held; the
            // futures behind JS promises are always run to completion, so none is.)
            let _ = rx.await;
        }
        Turn(self)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        // Hand the lock straight to the next live waiter (busy stays true);
        // a waiter whose future was dropped fails `send`, so try the next one.
        let mut waiting = self.0.waiting.borrow_mut();
        while let Some(tx) = waiting.pop_front() {
            if tx.send(()).is_ok() {
                return;
            }
        }
        self.0.busy.set(false);
    }
}
