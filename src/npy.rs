//! Minimal .npy reader/writer for f32 arrays (stub: being written).
