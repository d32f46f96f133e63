//! Holds each Rust [`Params`] struct to the WGSL `Params` it writes for its
//! family's entry points, as naga lays it out in the source the pipelines
//! compile: member names and order, offsets, sizes and element types, and
//! the struct's size. Rust padding that WGSL's alignment does not match, a
//! field type WGSL lays out otherwise, or a shader that binds some other
//! uniform fails.

use naga::valid::{Capabilities, ValidationFlags, Validator};
use naga::{AddressSpace, Module, Scalar, ScalarKind, TypeInner};

use super::params::{ConvParams, EltwiseParams, HeadParams, LayoutParams, Params, PoolParams, PreprocessParams};
use super::pipelines::Family;

/// A struct member as `name@offset+size:scalar`, one form for both sides.
fn member(name: &str, offset: usize, size: usize, scalar: &str) -> String {
    format!("{name}@{offset}+{size}:{scalar}")
}

/// The element type of a naga type: the scalar, or that of a vector or array's elements.
fn scalar_name(module: &Module, ty: &TypeInner) -> String {
    match ty {
        TypeInner::Scalar(s) | TypeInner::Vector { scalar: s, .. } => match *s {
            Scalar { kind: ScalarKind::Uint, width: 4 } => "u32".into(),
            Scalar { kind: ScalarKind::Float, width: 4 } => "f32".into(),
            other => format!("{other:?}"),
        },
        TypeInner::Array { base, .. } => scalar_name(module, &module.types[*base].inner),
        other => format!("{other:?}"),
    }
}

/// Members and size of the uniform struct the entry points of `family`'s
/// module read, from naga's IR. Fails unless every entry point that reads
/// a uniform reads the same one, and at least one does.
fn wgsl_layout(family: Family, f16: bool, subgroups: bool) -> (Vec<String>, usize) {
    let source = family.source(f16, subgroups);
    let module =
        naga::front::wgsl::parse_str(&source).unwrap_or_else(|e| panic!("{family:?}: {}", e.emit_to_string(&source)));
    let info = Validator::new(ValidationFlags::all(), Capabilities::all())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{family:?}: {}", e.emit_to_string(&source)));
    let mut bound = Vec::new();
    for (i, entry) in module.entry_points.iter().enumerate() {
        let uses = info.get_entry_point(i);
        let uniforms: Vec<_> = module
            .global_variables
            .iter()
            .filter(|(h, g)| g.space == AddressSpace::Uniform && !uses[*h].is_empty())
            .map(|(_, g)| g.ty)
            .collect();
        assert!(uniforms.len() <= 1, "{family:?}::{} reads {} uniforms", entry.name, uniforms.len());
        bound.extend(uniforms);
    }
    bound.dedup();
    let [ty] = bound[..] else {
        panic!("{family:?}: entry points bind {} distinct uniform structs, not one", bound.len());
    };
    let TypeInner::Struct { members, span } = &module.types[ty].inner else {
        panic!("{family:?}: the uniform is not a struct");
    };
    let gctx = module.to_ctx();
    let members = members
        .iter()
        .map(|m| {
            let inner = &module.types[m.ty].inner;
            let name = m.name.as_deref().unwrap_or("?");
            member(name, m.offset as usize, inner.size(gctx) as usize, &scalar_name(&module, inner))
        })
        .collect();
    (members, *span as usize)
}

/// The members `P` writes, at its fields' offsets, and its size.
fn rust_layout<P: Params>() -> (Vec<String>, usize) {
    (P::layout().iter().map(|m| member(m.name, m.offset, m.size, m.scalar)).collect(), size_of::<P>())
}

fn check<P: Params>() -> Family {
    for (f16, subgroups) in [(false, false), (true, false), (false, true), (true, true)] {
        let wgsl = wgsl_layout(P::FAMILY, f16, subgroups);
        assert_eq!(rust_layout::<P>(), wgsl, "{:?} (f16 weights: {f16}, subgroups: {subgroups})", P::FAMILY);
    }
    P::FAMILY
}

#[test]
fn params_match_the_shaders() {
    let mut checked = [
        check::<ConvParams>(),
        check::<PoolParams>(),
        check::<HeadParams>(),
        check::<EltwiseParams>(),
        check::<LayoutParams>(),
        check::<PreprocessParams>(),
    ]
    .to_vec();
    checked.sort_by_key(|f| format!("{f:?}"));
    let mut all = Family::ALL.to_vec();
    all.sort_by_key(|f| format!("{f:?}"));
    assert_eq!(checked, all, "every family's Params struct is checked once");
}
