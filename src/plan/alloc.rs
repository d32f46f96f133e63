//! Liveness-based arena allocation (stub).
