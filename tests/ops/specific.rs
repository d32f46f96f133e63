//! Checks that belong to one backend: the CPU's plan validation, the GPU's
//! input check and pipeline sharing.

use crate::build::Builder;
use webresnet::cpu::CpuBackend;
use webresnet::plan::{ActQuant, Activation, Conv, Plan, Requant, Step};
use webresnet::Error;

/// A valid one-conv plan, handed to `edit` to break.
fn conv_plan(edit: impl FnOnce(&mut Plan)) -> (Plan, Vec<f32>) {
    let mut b = Builder::default();
    let input = b.input(&[1, 5, 5, 3], vec![0.5; 75]);
    let output = b.tensor(&[1, 5, 5, 4]);
    let step = Step::Conv(Conv {
        input,
        output,
        residual: None,
        in_channels: 3,
        out_channels: 4,
        kernel: [3, 3],
        stride: [1, 1],
        pad: [1; 4],
        dilation: [1, 1],
        groups: 1,
        weight: vec![0.1; 108],
        bias: vec![0.0; 4],
        activation: Activation::None,
        int8: false,
        input_quant: None,
        requant: None,
    });
    let (mut plan, data) = b.plan(vec![step], output);
    edit(&mut plan);
    (plan, data)
}

fn conv_of(plan: &mut Plan) -> &mut Conv {
    match &mut plan.steps[0] {
        Step::Conv(c) => c,
        _ => unreachable!(),
    }
}

/// Both with f32 weights and with int8 ones (the int8 kernels).
#[track_caller]
fn assert_cpu_rejects(edit: impl Fn(&mut Plan)) {
    for int8 in [false, true] {
        let (plan, _) = conv_plan(|p| {
            conv_of(p).int8 = int8;
            edit(p)
        });
        match CpuBackend::new(&plan) {
            Err(Error::Backend(_)) => {}
            Err(e) => panic!("int8 {int8}: expected a backend error, got {e:?}"),
            Ok(_) => panic!("int8 {int8}: inconsistent plan accepted"),
        }
    }
}

#[test]
fn cpu_errors() {
    let (plan, data) = conv_plan(|_| {});
    let mut backend = CpuBackend::new(&plan).unwrap();
    assert!(backend.run(&data).is_ok());
    assert!(matches!(backend.run(&data[1..]), Err(Error::InvalidInput(_))));

    assert_cpu_rejects(|p| {
        conv_of(p).weight.pop();
    });
    assert_cpu_rejects(|p| conv_of(p).bias.push(1.0));
    assert_cpu_rejects(|p| conv_of(p).groups = 2);
    assert_cpu_rejects(|p| conv_of(p).stride = [0, 1]);
    assert_cpu_rejects(|p| conv_of(p).pad = [0; 4]);
    assert_cpu_rejects(|p| conv_of(p).in_channels = 4);
    assert_cpu_rejects(|p| conv_of(p).input = 99);
    assert_cpu_rejects(|p| conv_of(p).residual = Some(0));
    assert_cpu_rejects(|p| p.arena_len -= 1);
    // A QDQ layer's parameters for fewer outputs than it has.
    let grid = ActQuant { scale: 0.1, zero: 3 };
    let requant = |weight_scale: Vec<f32>, bias: Vec<i32>| Requant { weight_scale, bias, output: Some(grid) };
    for r in [requant(vec![0.01; 3], vec![0; 4]), requant(vec![0.01; 4], vec![0; 5])] {
        let (plan, _) = conv_plan(|p| {
            let c = conv_of(p);
            (c.int8, c.input_quant, c.requant) = (true, Some(grid), Some(r.clone()));
        });
        assert!(matches!(CpuBackend::new(&plan), Err(Error::Backend(_))), "{r:?} accepted");
    }
    assert_cpu_rejects(|p| {
        // Output overlapping the input.
        let out = conv_of(p).output;
        p.tensors[out].offset = 0;
    });
    assert_cpu_rejects(|p| {
        p.steps.push(Step::Pad { input: 0, output: 1, pads: vec![(1, 1)], value: 0.0 });
    });
    assert_cpu_rejects(|p| {
        p.steps.push(Step::Permute { input: 0, output: 1, in_shape: vec![5, 15], perm: vec![0, 0] });
    });
}

#[cfg(feature = "gpu")]
mod gpu {
    use crate::backends::{Backend, Reduction};
    use webresnet::gpu::{GpuBackend, Precision};
    use webresnet::Error;

    /// The loaded backend, or `None` after the harness's loud skip (a failure under CI).
    fn load(plan: &webresnet::plan::Plan, p: Precision) -> Option<GpuBackend> {
        if let Some(why) = Backend::Gpu(p, Reduction::Workgroup).unavailable() {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true: {why}");
            eprintln!("\n!!!!!!!! SKIPPING GPU TEST: {why} !!!!!!!!\n");
            return None;
        }
        Some(GpuBackend::with_precision_blocking(plan, p).expect("GPU backend"))
    }

    #[test]
    fn wrong_input_length_is_an_error() {
        let case = crate::cases::chained_network();
        let Some(mut b) = load(&case.plan, Precision::F32) else { return };
        assert!(matches!(b.run_blocking(&case.data[1..]), Err(Error::InvalidInput(_))));
    }

    /// Every conv tiling the GPU lowering chooses per layer is among the
    /// cases: split-K, the small tile without it, the large tile.
    #[test]
    fn tiling_cases_cover_every_tiling() {
        let convs: Vec<_> = crate::cases::gpu_tiling_cases()
            .into_iter()
            .flat_map(|spec| webresnet::gpu::dispatches(&spec.case().plan).expect("lowering"))
            .filter(|d| d.kind == "conv")
            .collect();
        assert!(convs.iter().any(|d| d.splits > 1 && d.tile == 32), "split-K with the small tile");
        assert!(convs.iter().any(|d| d.splits == 1 && d.tile == 32), "small tile alone");
        assert!(convs.iter().any(|d| d.splits == 1 && d.tile == 64), "large tile");
        // Split-K ranges cover K, each no shallower than two 16-deep slices.
        for d in convs.iter().filter(|d| d.splits > 1) {
            assert!(d.k >= 512 && d.k / d.splits >= 32, "{d}");
        }
    }

    /// The permute runs inside the stem conv and the GAP inside the head.
    #[test]
    fn chained_network_pipelines() {
        let case = crate::cases::chained_network();
        for p in [Precision::F32, Precision::F16] {
            let Some(b) = load(&case.plan, p) else { continue };
            // Stem conv over NCHW, max pool, 1x1 conv, 3x3 conv, pooling dense, softmax.
            assert_eq!(b.pipeline_count(), 6, "{p:?}");
            let kinds: Vec<_> = b.dispatches().iter().map(|d| d.kind).collect();
            assert_eq!(kinds, ["conv", "pool", "conv", "conv", "head", "head"], "{p:?}");
        }
    }

    /// Each folding case lowers to one dispatch where the plan has two:
    /// no permute before the conv, no pooling before the head.
    #[test]
    fn folded_steps_have_no_dispatch() {
        for case in crate::cases::folding_cases() {
            let d = webresnet::gpu::dispatches(&case.plan).expect("lowering");
            let kinds: Vec<_> = d.iter().map(|d| d.kind).filter(|&k| k != "reduce").collect();
            let want = match case.plan.steps[1] {
                webresnet::plan::Step::Dense(_) => "head",
                _ => "conv",
            };
            assert_eq!(kinds, [want], "{}", case.name);
            assert!(d.iter().all(|d| d.step == 1), "{}", case.name);
        }
        // The harness runs them merged into one plan: they fold there too.
        let cases = crate::cases::folding_cases();
        let merged = crate::batch::merge(cases.iter().map(|c| (&c.plan, &c.data[..])));
        let d = webresnet::gpu::dispatches(&merged.plan).expect("lowering");
        assert!(d.iter().all(|d| d.kind != "layout" && d.kind != "pool"), "{d:?}");
    }
}
