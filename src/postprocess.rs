//! Softmax, top-k and labels (stub: being written).
