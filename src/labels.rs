//! Label names (stub: being written).
