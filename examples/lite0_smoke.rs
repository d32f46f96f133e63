fn main() {
    let bytes = std::fs::read(".cache/models/efficientnet-lite0-57934424.pth").unwrap();
    let f = webresnet::model::state_dict::sniff(&bytes).unwrap();
    let sd = webresnet::model::state_dict::read(&bytes, f).unwrap();
    println!("{:?} {} tensors; first {:?} {:?}", f, sd.tensors.len(), sd.tensors[0].0, sd.tensors[0].1.dims);
    let plan = webresnet::load_plan(&bytes, &Default::default()).unwrap();
    println!("steps {} params {} macs {}", plan.steps.len(), plan.params(), plan.macs());
    let mut be = webresnet::cpu::CpuBackend::new(&plan).unwrap();
    let out = be.run(&vec![0.1; plan.input_len()]).unwrap();
    let mut idx: Vec<usize> = (0..out.len()).collect();
    idx.sort_by(|&a, &b| out[b].partial_cmp(&out[a]).unwrap());
    println!("{:?}", &idx[..5].iter().map(|&i| (i, out[i])).collect::<Vec<_>>());
}
