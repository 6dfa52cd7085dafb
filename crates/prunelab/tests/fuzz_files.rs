//! Fuzzing every file parser on stable Rust: arbitrary and mutated model files (binary, with the header's
//! length and checksum recomputed so the parser behind them is reached; JSON, with numbers and lengths
//! mutated) and IDX files (plain and gzip), seeded with every valid file kind the library writes. Each case
//! runs under a counting allocator: no panic, no abort, and no case allocates more than a bound
//! proportional to the bytes it was given (a single request above 1 GiB is refused outright, which aborts
//! this test binary: that is the failure the test exists to catch).
//!
//! `PRUNELAB_FUZZ_CASES=N` runs N cases per target instead of the default.

use std::io::Write;

use ndarray::Array2;
use proptest::prelude::*;
use prunelab::nn::{FREE_WEIGHTS, WEIGHTS_PER_VALUE};
use prunelab::prelude::*;

mod counting;
use counting::{cases, peak_of};

// ---------------------------------------------------------------- model files

/// Every kind of model the library writes: dense, masked (bitmap and gap-coded), biases pruned, densely
/// connected, compacted.
fn seed_models() -> Vec<Mlp> {
    let dense = Mlp::config(&[4, 6, 3, 2])
        .output_activation(Activation::Softmax)
        .seed(1)
        .build()
        .unwrap();
    let mut half = dense.clone();
    prune_to_sparsity(&mut half, 0.5, Scope::Layerwise, &[]).unwrap();
    let mut sparse = Mlp::config(&[20, 30, 2]).seed(2).build().unwrap();
    prune_to_sparsity(&mut sparse, 0.97, Scope::Global, &[]).unwrap();
    let mut units = Mlp::config(&[3, 8, 2]).seed(3).build().unwrap();
    UnitPruning::l1(0.5).apply(&mut units).unwrap();
    let compact = units.compact().unwrap();
    let dc = Mlp::config(&[1, 4, 4, 2])
        .topology(Topology::DenselyConnected)
        .bias(false)
        .seed(4)
        .build()
        .unwrap();
    vec![dense, half, sparse, units, compact, dc]
}

/// The binary header with a recomputed length and checksum around `body`.
fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = b"PRUNELAB".to_vec();
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// The most a model parser may allocate for `len` input bytes: the weights the format lets `len` bytes
/// claim, a dense copy and a mask of each, the parsed values, with a generous factor for ndarray's copies.
fn model_bound(len: usize) -> usize {
    let claim = FREE_WEIGHTS + WEIGHTS_PER_VALUE * len;
    4 * 5 * claim + 64 * len + (1 << 20)
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Truncate(usize),
    /// Overwrite with a varint-like run of 0xff bytes (huge lengths and shapes).
    Huge(usize, usize),
    /// Replace one byte with the varint of a large number, keeping what follows aligned (a shape or a length
    /// field inflated in place).
    Varint(usize, u32),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        1 => (any::<usize>(), 1usize..16).prop_map(|(i, n)| Mutation::Remove(i, n)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), 1usize..6).prop_map(|(i, n)| Mutation::Huge(i, n)),
        3 => (any::<usize>(), 1000u32..).prop_map(|(i, v)| Mutation::Varint(i, v)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    let at = |i: usize, len: usize| i % len;
    match m {
        Mutation::Set(i, b) => {
            let i = at(*i, bytes.len());
            bytes[i] = *b;
        }
        Mutation::Flip(i, b) => {
            let i = at(*i, bytes.len());
            bytes[i] ^= 1 << b;
        }
        Mutation::Insert(i, v) => {
            let i = at(*i, bytes.len() + 1);
            bytes.splice(i..i, v.iter().copied());
        }
        Mutation::Remove(i, n) => {
            let i = at(*i, bytes.len());
            let end = (i + n).min(bytes.len());
            bytes.drain(i..end);
        }
        Mutation::Truncate(n) => {
            let n = at(*n, bytes.len());
            bytes.truncate(n);
        }
        Mutation::Varint(i, v) => {
            let i = at(*i, bytes.len());
            let (mut v, mut enc) = (*v, Vec::new());
            while v >= 0x80 {
                enc.push((v as u8) | 0x80);
                v >>= 7;
            }
            enc.push(v as u8);
            bytes.splice(i..i + 1, enc);
        }
        Mutation::Huge(i, n) => {
            let i = at(*i, bytes.len());
            for k in i..(i + n).min(bytes.len()) {
                bytes[k] = if k + 1 == i + n { 0x0f } else { 0xff };
            }
        }
    }
}

/// The body of a valid binary file (what the checksum covers).
fn body_of(model: &Mlp) -> Vec<u8> {
    model.to_bytes().unwrap()[24..].to_vec()
}

fn check_model_bytes(bytes: &[u8]) -> std::result::Result<(), TestCaseError> {
    let (result, peak) = peak_of(|| Mlp::from_bytes(bytes));
    prop_assert!(
        peak <= model_bound(bytes.len()),
        "{} input bytes allocated {peak} bytes at once",
        bytes.len()
    );
    if let Ok(model) = result {
        // Whatever loads is a usable network.
        let x = Array2::<f32>::zeros((2, model.n_inputs()));
        let _ = model.forward(&x);
    }
    Ok(())
}

/// A hostile replacement for a number in JSON text: limits of the integer types, a float beyond f64's exact
/// integers, huge, negative, zero, NaN, and values of other JSON types.
fn hostile_number() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("4294967295".to_string()),
        Just("18446744073709551615".to_string()),
        Just("9007199254740993".to_string()),
        Just("1e308".to_string()),
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("NaN".to_string()),
        Just("1000000".to_string()),
        Just("[]".to_string()),
        Just("null".to_string()),
        Just("\"x\"".to_string()),
    ]
}

/// Replaces whole number tokens of `text` (shapes, lengths, offsets, weights), picked by index, with the edits'
/// replacements, one after another.
fn replace_numbers(text: &mut String, edits: &[(usize, String)]) {
    for (pick, replacement) in edits {
        let spans = regex_lite_numbers(text);
        if spans.is_empty() {
            break;
        }
        let (a, b) = spans[pick % spans.len()];
        text.replace_range(a..b, replacement);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(10_000), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_binary_models_never_panic_or_overallocate(
        seed in 0usize..6,
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let mut body = body_of(&seed_models()[seed]);
        for m in &mutations {
            apply(&mut body, m);
        }
        check_model_bytes(&framed(&body))?;
    }

    #[test]
    fn arbitrary_bytes_never_panic_or_overallocate(
        body in proptest::collection::vec(any::<u8>(), 0..256),
        framed_first in any::<bool>(),
    ) {
        let bytes = if framed_first { framed(&body) } else { body };
        check_model_bytes(&bytes)?;
    }

    #[test]
    fn mutated_json_models_never_panic_or_overallocate(
        seed in 0usize..6,
        edits in proptest::collection::vec((any::<usize>(), hostile_number()), 1..4),
    ) {
        let json = seed_models()[seed].to_json().unwrap();
        // Replace whole number tokens (shapes, lengths, indices, weights) with hostile ones.
        let spans: Vec<(usize, usize)> = regex_lite_numbers(&json);
        let mut text = json.clone();
        replace_numbers(&mut text, &edits);
        prop_assert!(!spans.is_empty());
        let (result, peak) = peak_of(|| Mlp::from_json(&text));
        prop_assert!(peak <= model_bound(text.len()), "{} JSON bytes allocated {peak}", text.len());
        if let Ok(model) = result {
            let _ = model.forward(&Array2::<f32>::zeros((1, model.n_inputs())));
        }
    }
}

/// Byte spans of the numbers in a JSON text.
fn regex_lite_numbers(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts = bytes[i].is_ascii_digit()
            || (bytes[i] == b'-' && i + 1 < bytes.len() && bytes[i + 1].is_ascii_digit());
        if starts && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'.')) {
            let start = i;
            i += 1;
            while i < bytes.len()
                && (bytes[i].is_ascii_digit()
                    || matches!(bytes[i], b'.' | b'e' | b'E' | b'-' | b'+'))
            {
                i += 1;
            }
            spans.push((start, i));
        } else {
            i += 1;
        }
    }
    spans
}

// ---------------------------------------------------------------- PyTorch state dicts (safetensors)

/// Every kind of network that has a safetensors form (all but the densely connected one).
fn seed_safetensors() -> Vec<Vec<u8>> {
    seed_models()
        .iter()
        .filter(|m| m.topology() == Topology::Chain)
        .map(|m| m.to_safetensors().unwrap())
        .collect()
}

/// The file with its JSON header replaced by `header` (length prefix recomputed).
fn with_header(bytes: &[u8], header: &str) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&bytes[(8 + n).min(bytes.len())..]);
    out
}

/// Runs `parse` on `bytes` under the counting allocator: at most 32 bytes allocated at once per input byte
/// (plus 1 MiB), and whatever loads is a usable network.
fn check_interchange_bytes(
    bytes: &[u8],
    parse: impl FnOnce(&[u8]) -> prunelab::Result<Mlp>,
) -> std::result::Result<(), TestCaseError> {
    let (result, peak) = peak_of(|| parse(bytes));
    prop_assert!(
        peak <= 32 * bytes.len() + (1 << 20),
        "{} input bytes allocated {peak} bytes at once",
        bytes.len()
    );
    if let Ok(model) = result {
        let x = Array2::<f32>::zeros((2, model.n_inputs()));
        let _ = model.forward(&x);
    }
    Ok(())
}

fn check_safetensors_bytes(bytes: &[u8]) -> std::result::Result<(), TestCaseError> {
    check_interchange_bytes(bytes, |b| {
        Mlp::from_safetensors_bytes(b, &prunelab::nn::TorchSpec::new())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(5_000), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_safetensors_files_never_panic_or_overallocate(
        seed in 0usize..5,
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let mut bytes = seed_safetensors()[seed].clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        check_safetensors_bytes(&bytes)?;
    }

    #[test]
    fn safetensors_headers_with_hostile_numbers_never_panic_or_overallocate(
        seed in 0usize..5,
        edits in proptest::collection::vec((any::<usize>(), hostile_number()), 1..4),
    ) {
        let bytes = seed_safetensors()[seed].clone();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let mut header = String::from_utf8(bytes[8..8 + n].to_vec()).unwrap();
        replace_numbers(&mut header, &edits);
        check_safetensors_bytes(&with_header(&bytes, &header))?;
    }
}

// ---------------------------------------------------------------- ONNX models

/// Every kind of network whose ONNX form prunelab reads back (the chains), and one it refuses.
fn seed_onnx() -> Vec<Vec<u8>> {
    seed_models().iter().map(|m| m.to_onnx().unwrap()).collect()
}

fn check_onnx_bytes(bytes: &[u8]) -> std::result::Result<(), TestCaseError> {
    check_interchange_bytes(bytes, Mlp::from_onnx_bytes)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(5_000), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_onnx_models_never_panic_or_overallocate(
        seed in 0usize..6,
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let mut bytes = seed_onnx()[seed].clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        check_onnx_bytes(&bytes)?;
    }

    #[test]
    fn arbitrary_bytes_as_onnx_never_panic_or_overallocate(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        check_onnx_bytes(&bytes)?;
    }
}

#[test]
fn a_few_hundred_bytes_claiming_a_huge_network_is_a_format_error() {
    // The file that used to abort with "memory allocation of 160000000000 bytes failed": one gap-coded
    // layer of 200,000 x 200,000 weights with nothing kept.
    let model = Mlp::config(&[2, 2]).bias(false).seed(0).build().unwrap();
    let json = model.to_json().unwrap();
    let hostile = json
        .replacen("\"inputs\":2", "\"inputs\":200000", 1)
        .replacen("\"units\":2", "\"units\":200000", 1)
        .replacen(
            "{\"Full\":{\"values\":",
            "{\"Sparse\":{\"kept_gaps\":[],\"values\":[],\"x\":",
            1,
        );
    assert!(hostile.len() < 400, "{}", hostile.len());
    let (result, peak) = peak_of(|| Mlp::from_json(&hostile));
    let err = result.unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err}");
    assert!(peak < 1 << 20, "{peak}");
    // The same claim in the binary form.
    let mut file = seed_models()[2].clone();
    prune_to_sparsity(&mut file, 0.99, Scope::Layerwise, &[]).unwrap();
    let body = body_of(&file);
    // `inputs` is the first varint of the first layer: find the 20-input layer's shape and inflate it.
    let at = body
        .windows(2)
        .position(|w| w == [20, 30])
        .expect("layer shape in the body");
    let mut big = body[..at].to_vec();
    big.extend_from_slice(&[0xc0, 0x9a, 0x0c, 0xc0, 0x9a, 0x0c]); // 200,000 twice
    big.extend_from_slice(&body[at + 2..]);
    let bytes = framed(&big);
    assert!(bytes.len() < 400, "{}", bytes.len());
    let (result, peak) = peak_of(|| Mlp::from_bytes(&bytes));
    assert!(matches!(result, Err(Error::Format { .. })), "{result:?}");
    assert!(peak < 1 << 20, "{peak}");
}

// ---------------------------------------------------------------- IDX files

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn idx_images(n: u32, side: u32) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 3];
    for d in [n, side, side] {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend((0..n * side * side).map(|i| (i * 37 % 256) as u8));
    v
}

fn idx_labels(n: u32) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 1];
    v.extend_from_slice(&n.to_be_bytes());
    v.extend((0..n).map(|i| (i % 10) as u8));
    v
}

/// Reading IDX may hold the file, the payload and its f32 copy: proportional to what was read, and a gzip
/// stream cannot inflate more than deflate's ~1032:1.
fn idx_bound(len: usize, gz: bool) -> usize {
    let data = if gz { 1032 * len + 4096 } else { len };
    2 * data + 8 * data + 64 * len + (1 << 20)
}

fn temp_file(tag: &str) -> std::path::PathBuf {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "prunelab-fuzz-{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ))
}

fn check_idx(bytes: &[u8], gz: bool) -> std::result::Result<(), TestCaseError> {
    let path = temp_file("idx");
    std::fs::write(&path, bytes).unwrap();
    let ((images, labels), peak) = peak_of(|| {
        (
            data::read_idx_images(&path).map(|a| a.dim()),
            data::read_idx_labels(&path).map(|l| l.len()),
        )
    });
    let _ = std::fs::remove_file(&path);
    prop_assert!(
        peak <= idx_bound(bytes.len(), gz),
        "{} bytes allocated {peak}",
        bytes.len()
    );
    let most = bytes.len() * if gz { 1032 } else { 1 };
    if let Ok((n, d)) = images {
        prop_assert!(n * d <= most, "{n}x{d} from {} bytes", bytes.len());
    }
    if let Ok(n) = labels {
        prop_assert!(n <= most, "{n} labels from {} bytes", bytes.len());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(3000), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_idx_files_never_panic_or_overallocate(
        labels in any::<bool>(),
        gz in any::<bool>(),
        mutations in proptest::collection::vec(mutation(), 1..5),
    ) {
        let mut plain = if labels { idx_labels(40) } else { idx_images(3, 6) };
        for m in &mutations {
            apply(&mut plain, m);
        }
        if gz {
            // Mutate the compressed stream too, half the time.
            let mut z = gzip(&plain);
            if mutations.len() % 2 == 0 {
                apply(&mut z, &mutations[0]);
            }
            check_idx(&z, true)?;
        } else {
            check_idx(&plain, false)?;
        }
    }
}

#[test]
fn a_gzip_stream_longer_than_its_header_is_an_error_read_only_so_far() {
    // The header promises 1 label; the stream holds 64 MB more.
    let mut plain = idx_labels(1);
    plain.extend(std::iter::repeat_n(0u8, 64 << 20));
    let z = gzip(&plain);
    let path = temp_file("bomb");
    std::fs::write(&path, &z).unwrap();
    let (result, peak) = peak_of(|| data::read_idx_labels(&path));
    let _ = std::fs::remove_file(&path);
    let err = result.unwrap_err();
    assert!(
        err.to_string()
            .contains("more data than the header promises"),
        "{err}"
    );
    assert!(peak < 1 << 20, "read past the promise: {peak} bytes");
    // A header that promises 4 billion images backed by a few bytes is a short file, not an allocation.
    let mut claim = vec![0, 0, 8, 3];
    for d in [u32::MAX, 28, 28] {
        claim.extend_from_slice(&d.to_be_bytes());
    }
    claim.extend_from_slice(&[1, 2, 3]);
    for bytes in [claim.clone(), gzip(&claim)] {
        let path = temp_file("claim");
        std::fs::write(&path, &bytes).unwrap();
        let (result, peak) = peak_of(|| data::read_idx_images(&path));
        let _ = std::fs::remove_file(&path);
        assert!(result.unwrap_err().to_string().contains("truncated"));
        assert!(peak < 1 << 20, "{peak}");
    }
}
