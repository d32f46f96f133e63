//! .npy reading and writing: files written by NumPy, round trips, and
//! malformed or hostile input (always `INVALID_INPUT`, never a panic).

use webresnet::npy::{read_f32, write_f32};

/// `np.save(f, np.array([[1.5, -2.0, 3.25], [0.0, 1e-3, -7e10]], dtype='<f4'))`, NumPy 2.4.
const NUMPY_F4_2X3: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }                                                          \x0a\x00\x00\xc0?\x00\x00\x00\xc0\x00\x00P@\x00\x00\x00\x00o\x12\x83:\x9ab\x82\xd1";
const F4_2X3: [f32; 6] = [1.5, -2.0, 3.25, 0.0, 1e-3, -7e10];

/// `np.lib.format.write_array(f, np.array([[0.1, -0.2], [1e300, 3.0]]), version=(2, 0))`.
const NUMPY_F8_2X2_V2: &[u8] = b"\x93NUMPY\x02\x00t\x00\x00\x00{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }                                                        \x0a\x9a\x99\x99\x99\x99\x99\xb9?\x9a\x99\x99\x99\x99\x99\xc9\xbf\x9cu\x00\x88<\xe47~\x00\x00\x00\x00\x00\x00\x08@";

/// A version 1.0 file with the given header text (unpadded) and data bytes.
fn npy(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn f4_header(shape: &str) -> String {
    format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}")
}

#[track_caller]
fn assert_invalid(bytes: &[u8], what: &str) {
    match read_f32(bytes) {
        Err(e) => assert_eq!(e.code(), "INVALID_INPUT", "{what}: {e}"),
        Ok((shape, _)) => panic!("{what}: accepted with shape {shape:?}"),
    }
}

#[test]
fn reads_numpy_f4() {
    let (shape, data) = read_f32(NUMPY_F4_2X3).unwrap();
    assert_eq!(shape, [2, 3]);
    assert_eq!(data, F4_2X3);
}

#[test]
fn reads_numpy_f8_version_2_narrowing_to_f32() {
    let (shape, data) = read_f32(NUMPY_F8_2X2_V2).unwrap();
    assert_eq!(shape, [2, 2]);
    assert_eq!(data, [0.1f64 as f32, -0.2f64 as f32, f32::INFINITY, 3.0]);
}

#[test]
fn writes_byte_for_byte_what_numpy_writes() {
    assert_eq!(write_f32(&[2, 3], &F4_2X3).unwrap(), NUMPY_F4_2X3);
}

#[test]
fn round_trips_any_rank() {
    let data: Vec<f32> = (0..24).map(|i| i as f32 * 0.5 - 3.0).collect();
    for shape in [vec![24], vec![2, 3, 4], vec![1, 2, 1, 3, 4, 1], vec![24, 1]] {
        let bytes = write_f32(&shape, &data).unwrap();
        assert_eq!((bytes.len() - 4 * data.len()) % 64, 0, "data must start 64-byte aligned");
        assert_eq!(read_f32(&bytes).unwrap(), (shape, data.clone()));
    }
    assert_eq!(read_f32(&write_f32(&[], &[7.0]).unwrap()).unwrap(), (vec![], vec![7.0]));
    assert_eq!(read_f32(&write_f32(&[0, 5], &[]).unwrap()).unwrap(), (vec![0, 5], vec![]));
    let one_d = write_f32(&[3], &[1.0, 2.0, 3.0]).unwrap();
    assert!(std::str::from_utf8(&one_d[10..74]).unwrap().contains("'shape': (3,), "));
}

#[test]
fn write_rejects_a_shape_that_does_not_match() {
    assert_eq!(write_f32(&[2, 2], &[1.0; 3]).unwrap_err().code(), "INVALID_INPUT");
    assert_eq!(write_f32(&[usize::MAX, 2], &[]).unwrap_err().code(), "INVALID_INPUT");
}

#[test]
fn tolerates_header_variations() {
    let data = [0u8; 8];
    for header in [
        "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2,)}",
        "{'shape': (2L,), 'fortran_order': False, 'descr': '<f4'}\n",
        "  { 'descr' : '<f4' , 'fortran_order' : False , 'shape' : ( 1 , 2 ) , }   \n",
    ] {
        let (shape, values) = read_f32(&npy(header, &data)).unwrap_or_else(|e| panic!("{header}: {e}"));
        assert_eq!(shape.iter().product::<usize>(), 2, "{header}");
        assert_eq!(values, [0.0, 0.0]);
    }
}

#[test]
fn rejects_unsupported_arrays() {
    let mut fortran = NUMPY_F4_2X3.to_vec();
    let at = fortran.windows(5).position(|w| w == b"False").unwrap();
    fortran[at..at + 5].copy_from_slice(b"True ");
    assert_invalid(&fortran, "fortran order");
    for descr in ["'>f4'", "'<i4'", "'|u1'", "'<f2'", "[('a', '<f4')]"] {
        let header = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': (2,)}}");
        assert_invalid(&npy(&header, &[0; 8]), descr);
    }
}

#[test]
fn rejects_malformed_files() {
    let good = npy(&f4_header("(2,)"), &[0; 8]);
    assert!(read_f32(&good).is_ok());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("bad magic", b"\x93NUMPZ\x01\x00\x02\x00{}".to_vec()),
        ("preamble cut", b"\x93NUMPY\x01\x00\x10".to_vec()),
        ("version 4", [&b"\x93NUMPY\x04\x00"[..], &good[8..]].concat()),
        ("header longer than file", [&b"\x93NUMPY\x01\x00\xff\xff"[..], &good[10..]].concat()),
        ("data cut", good[..good.len() - 1].to_vec()),
        ("trailing data", [&good[..], &[0]].concat()),
        ("not a dict", npy("['descr', '<f4']", &[0; 8])),
        ("missing shape", npy("{'descr': '<f4', 'fortran_order': False}", &[0; 8])),
        ("extra key", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", &[0; 8])),
        ("duplicate key", npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", &[0; 8])),
        ("unterminated string", npy("{'descr: '<f4'", &[0; 8])),
        ("unclosed dict", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", &[0; 8])),
        ("negative dim", npy(&f4_header("(-2,)"), &[0; 8])),
        ("float dim", npy(&f4_header("(2.0,)"), &[0; 8])),
        ("shape not a tuple", npy(&f4_header("2"), &[0; 8])),
        ("junk after dict", npy(&(f4_header("(2,)") + " x"), &[0; 8])),
        ("dim overflows usize", npy(&f4_header("(99999999999999999999999,)"), &[0; 8])),
        ("shape product overflows", npy(&f4_header("(4294967296, 4294967296, 2)"), &[0; 8])),
        ("byte count overflows", npy(&f4_header("(4611686018427387904,)"), &[0; 8])),
        ("huge shape, tiny file", npy(&f4_header("(100000, 100000)"), &[0; 8])),
        ("NUL in descr", npy("{'descr': '<f4\u{0}', 'fortran_order': False, 'shape': (2,)}", &[0; 8])),
    ];
    for (what, bytes) in cases {
        assert_invalid(&bytes, what);
    }
    let mut latin1 = npy(&f4_header("(2,)"), &[0; 8]);
    latin1[12] = 0xE9;
    assert_invalid(&latin1, "latin-1 byte in header");
}

/// Every truncation and every single-byte corruption of real files must give
/// an answer (Ok or Err), never a panic.
#[test]
fn hostile_bytes_never_panic() {
    for file in [NUMPY_F4_2X3, NUMPY_F8_2X2_V2] {
        for len in 0..file.len() {
            let _ = read_f32(&file[..len]);
        }
        let mut bytes = file.to_vec();
        for i in 0..bytes.len() {
            let orig = bytes[i];
            for v in [0u8, b'(', b')', b',', b'\'', b'}', b'9', 0xFF] {
                bytes[i] = v;
                let _ = read_f32(&bytes);
            }
            bytes[i] = orig;
        }
    }
}
