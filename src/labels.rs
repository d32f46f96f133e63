//! Label names (stub: being written).
pub fn imagenet1k() -> Vec<String> {
    include_str!("labels/imagenet1k.txt").lines().map(str::to_string).collect()
}
