// Helpers every kernel family shares; src/gpu/pipelines.rs puts this ahead
// of each family's source, followed by the family's `Params` and its uniform
// `p`, which src/gpu/params.rs writes.

// Flat index of an invocation (or, with `wg` = 1, of a workgroup) in a grid
// that the host folds into y when x would pass the device's dispatch limit:
// `id` is the global invocation (or workgroup) id, `wg` the workgroup width.
fn flat_id(id: vec3<u32>, nwg: vec3<u32>, wg: u32) -> u32 {
    return id.y * nwg.x * wg + id.x;
}
