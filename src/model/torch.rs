//! torch.save files without torch: the legacy stream format and the zip format.
//!
//! Both pickle the state dict with tensors as `_rebuild_tensor_v2(storage,
//! offset, size, stride)` over persistent storage ids; they differ in where
//! the storage bytes are. Legacy: after the pickles, each storage in the order
//! of the key list as an int64 element count and raw little-endian data. Zip:
//! one entry `<prefix>/data/<key>` per storage next to `<prefix>/data.pkl`.

use super::pickle::{self, DType, Obj, Pickle};
use super::state_dict::{element, element_count, Budget, StateDict, Tensor, MAX_ELEMENTS};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::io::Read;

/// A tensor as the pickle describes it, before its storage is read.
struct Spec {
    name: String,
    key: String,
    dtype: DType,
    numel: u64,
    offset: u64,
    size: Vec<u64>,
    stride: Vec<u64>,
}

fn fmt_err(msg: impl std::fmt::Display) -> Error {
    Error::ModelFormat(format!("torch weights: {msg}"))
}

/// Finds the state dict in the unpickled object: the root dict, or a training
/// checkpoint's `state_dict`/`model` entry. DataParallel's `module.` prefix is dropped.
fn specs(p: &Pickle) -> Result<Vec<Spec>> {
    let dict_of = |id| match p.get(id) {
        Obj::Dict(d) => Some(d),
        _ => None,
    };
    let root = dict_of(p.root).ok_or_else(|| fmt_err("the pickled object is not a dict of tensors"))?;
    let has_tensors = |d: &Vec<(usize, usize)>| d.iter().any(|&(_, v)| matches!(p.get(v), Obj::Tensor { .. }));
    let mut dict = root;
    if !has_tensors(root) {
        let nested = ["state_dict", "model", "model_state_dict", "net"].iter().find_map(|want| {
            root.iter()
                .find(|&&(k, _)| p.str(k) == Some(want))
                .and_then(|&(_, v)| dict_of(v))
                .filter(|d| has_tensors(d))
        });
        dict = nested.ok_or_else(|| fmt_err("no tensors found (not a state dict)"))?;
    }
    let mut out = Vec::new();
    for &(k, v) in dict {
        let Obj::Tensor { storage, offset, size, stride } = p.get(v) else { continue };
        let name = p.str(k).ok_or_else(|| fmt_err("a state dict key is not a string"))?;
        let Obj::Storage { dtype, key, numel } = p.get(*storage) else {
            return Err(fmt_err(format!("tensor '{name}' has no storage")));
        };
        out.push(Spec {
            name: name.strip_prefix("module.").unwrap_or(name).to_string(),
            key: key.clone(),
            dtype: *dtype,
            numel: *numel,
            offset: *offset,
            size: size.clone(),
            stride: stride.clone(),
        });
    }
    Ok(out)
}

/// Reads the strided view `spec` out of `data`, a storage of `numel` elements.
fn gather(spec: &Spec, data: &[u8], numel: u64, budget: &mut Budget) -> Result<Tensor> {
    let name = &spec.name;
    if spec.size.len() > 8 {
        return Err(fmt_err(format!("tensor '{name}' has rank {}", spec.size.len())));
    }
    let dims = spec.size.iter().map(|&d| usize::try_from(d).unwrap_or(usize::MAX)).collect::<Vec<_>>();
    let n = element_count(&dims, name)?;
    budget.spend(n)?;
    let need = (numel as u128) * spec.dtype.size() as u128;
    if (data.len() as u128) < need {
        return Err(fmt_err(format!(
            "storage '{}' holds {} bytes, its {numel} elements need {need}",
            spec.key,
            data.len()
        )));
    }
    if n == 0 {
        return Ok(Tensor { dims, data: Vec::new() });
    }
    // Last element reached, in u128 so hostile strides cannot overflow.
    let last =
        spec.size.iter().zip(&spec.stride).fold(spec.offset as u128, |a, (&s, &st)| a + (s as u128 - 1) * st as u128);
    if last >= numel as u128 {
        return Err(fmt_err(format!(
            "tensor '{name}' (offset {}, size {:?}, stride {:?}) reaches past its {numel}-element storage",
            spec.offset, spec.size, spec.stride
        )));
    }
    // Every index below is at most `last`, so it fits in usize and in `data`.
    let offset = spec.offset as usize;
    let stride: Vec<usize> = spec.stride.iter().map(|&s| s as usize).collect();
    let mut contiguous = true;
    let mut expect = 1usize;
    for (&d, &s) in dims.iter().zip(&stride).rev() {
        contiguous &= d == 1 || s == expect;
        expect *= d;
    }
    let values = if contiguous {
        (offset..offset + n).map(|i| element(data, spec.dtype, i)).collect()
    } else {
        // Odometer over the index, innermost dimension fastest.
        let mut out = Vec::with_capacity(n);
        let mut idx = vec![0usize; dims.len()];
        let mut at = offset;
        for _ in 0..n {
            out.push(element(data, spec.dtype, at));
            for d in (0..dims.len()).rev() {
                idx[d] += 1;
                at += stride[d];
                if idx[d] < dims[d] {
                    break;
                }
                at -= stride[d] * dims[d];
                idx[d] = 0;
            }
        }
        out
    };
    Ok(Tensor { dims, data: values })
}

fn assemble(specs: &[Spec], storages: &HashMap<String, (u64, &[u8])>) -> Result<StateDict> {
    let mut budget = Budget::default();
    let mut tensors = Vec::with_capacity(specs.len());
    for spec in specs {
        let &(numel, data) = storages
            .get(&spec.key)
            .ok_or_else(|| fmt_err(format!("storage '{}' of '{}' is missing", spec.key, spec.name)))?;
        tensors.push((spec.name.clone(), gather(spec, data, numel, &mut budget)?));
    }
    Ok(StateDict { tensors })
}

pub fn read_legacy(bytes: &[u8]) -> Result<StateDict> {
    let mut pos = 0;
    let next = |pos: &mut usize| -> Result<Pickle> {
        let p = pickle::load(&bytes[*pos..])?;
        *pos += p.len;
        Ok(p)
    };
    next(&mut pos)?; // the magic number, already matched by the sniffer
    let proto = next(&mut pos)?;
    if proto.get(proto.root) != &Obj::Int(1001) {
        return Err(fmt_err("unsupported legacy protocol version (expected 1001)"));
    }
    let info = next(&mut pos)?;
    if let Obj::Dict(d) = info.get(info.root) {
        let big_endian =
            d.iter().any(|&(k, v)| info.str(k) == Some("little_endian") && info.get(v) == &Obj::Bool(false));
        if big_endian {
            return Err(fmt_err("big-endian files are not supported"));
        }
    }
    let sd = next(&mut pos)?;
    let specs = specs(&sd)?;
    let list = next(&mut pos)?;
    let Obj::List(keys) = list.get(list.root) else {
        return Err(fmt_err("the storage key list is missing"));
    };
    let dtypes: HashMap<&str, DType> = specs.iter().map(|s| (s.key.as_str(), s.dtype)).collect();
    let mut storages = HashMap::new();
    for &k in keys {
        let key = list.str(k).ok_or_else(|| fmt_err("a storage key is not a string"))?;
        // Only storages that tensors use are written, so each has a known element size.
        let dtype = *dtypes.get(key).ok_or_else(|| fmt_err(format!("storage '{key}' is used by no tensor")))?;
        let count = bytes.get(pos..pos + 8).ok_or_else(|| fmt_err(format!("storage '{key}' is cut off")))?;
        let count = u64::from_le_bytes(count.try_into().unwrap());
        let len = count.checked_mul(dtype.size() as u64).filter(|&l| l <= (bytes.len() - pos - 8) as u64);
        let len = len.ok_or_else(|| fmt_err(format!("storage '{key}' of {count} elements is cut off")))? as usize;
        storages.insert(key.to_string(), (count, &bytes[pos + 8..pos + 8 + len]));
        pos += 8 + len;
    }
    assemble(&specs, &storages)
}

pub fn read_zip(bytes: &[u8]) -> Result<StateDict> {
    let zerr = |e: zip::result::ZipError| fmt_err(format!("zip: {e}"));
    let mut ar = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(zerr)?;
    let pkl = ar
        .file_names()
        .find(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
        .map(str::to_string)
        .ok_or_else(|| fmt_err("zip has no <name>/data.pkl (not a torch.save file)"))?;
    let prefix = &pkl[..pkl.len() - "data.pkl".len()];
    let mut read_entry = |name: &str, limit: u64| -> Result<Vec<u8>> {
        let f = ar.by_name(name).map_err(|e| fmt_err(format!("zip entry {name}: {e}")))?;
        if f.size() > limit {
            return Err(Error::Limit(format!("zip entry {name} is {} bytes (at most {limit} expected)", f.size())));
        }
        let size = f.size();
        let mut out = Vec::new();
        // Reads at most the declared size: a forged size cannot make it read more.
        f.take(size).read_to_end(&mut out).map_err(|e| fmt_err(format!("zip entry {name}: {e}")))?;
        if out.len() as u64 != size {
            return Err(fmt_err(format!("zip entry {name} is shorter than declared")));
        }
        Ok(out)
    };
    if let Ok(order) = read_entry(&format!("{prefix}byteorder"), 16) {
        if order.trim_ascii() == b"big" {
            return Err(fmt_err("big-endian files are not supported"));
        }
    }
    let sd = pickle::load(&read_entry(&pkl, 64 << 20)?)?;
    let specs = specs(&sd)?;
    let mut data: HashMap<String, (u64, Vec<u8>)> = HashMap::new();
    for s in &specs {
        if data.contains_key(&s.key) {
            continue;
        }
        if s.numel > MAX_ELEMENTS as u64 {
            return Err(Error::Limit(format!("storage '{}' of '{}' has {} elements", s.key, s.name, s.numel)));
        }
        let bytes = read_entry(&format!("{prefix}data/{}", s.key), s.numel * s.dtype.size() as u64)?;
        data.insert(s.key.clone(), (s.numel, bytes));
    }
    let storages = data.iter().map(|(k, (n, b))| (k.clone(), (*n, b.as_slice()))).collect();
    assemble(&specs, &storages)
}
