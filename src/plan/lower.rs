//! ONNX nodes -> unfused steps (stub).
