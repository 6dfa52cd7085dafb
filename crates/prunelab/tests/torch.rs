//! PyTorch state dicts in safetensors form: networks go out and come back equal (masks, biases pruned,
//! compacted), the names and metadata are PyTorch's, the same network gives the same bytes, every malformed
//! file is a typed error naming what is wrong, and files made by the real `safetensors` library and numpy
//! (`python/torch-fixtures/make_fixtures.py`, committed under `tests/data/torch/`) load into networks whose
//! outputs equal numpy's.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ndarray::{Array2, Axis};
use prunelab::nn::{TorchSpec, ACTIVATIONS_KEY};
use prunelab::prelude::*;
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

fn model() -> Mlp {
    Mlp::config(&[4, 8, 6, 3])
        .output_activation(Activation::Softmax)
        .seed(5)
        .build()
        .unwrap()
}

fn names(bytes: &[u8]) -> Vec<String> {
    let mut n: Vec<String> = SafeTensors::deserialize(bytes)
        .unwrap()
        .names()
        .into_iter()
        .map(str::to_string)
        .collect();
    n.sort();
    n
}

fn metadata(bytes: &[u8]) -> std::collections::HashMap<String, String> {
    SafeTensors::read_metadata(bytes)
        .unwrap()
        .1
        .metadata()
        .clone()
        .unwrap()
}

#[test]
fn a_dense_network_goes_out_and_comes_back_equal() {
    let m = model();
    let bytes = m.to_safetensors().unwrap();
    assert_eq!(
        names(&bytes),
        ["0.bias", "0.weight", "2.bias", "2.weight", "4.bias", "4.weight"]
    );
    let meta = metadata(&bytes);
    assert_eq!(meta["format"], "pt");
    assert_eq!(meta[ACTIVATIONS_KEY], "relu,relu,softmax");
    assert_eq!(
        meta["prunelab.sequential"],
        "nn.Sequential(Linear(4, 8, bias=True), ReLU(), Linear(8, 6, bias=True), ReLU(), \
         Linear(6, 3, bias=True), Softmax(dim=-1))"
    );
    let back = Mlp::from_safetensors_bytes(&bytes, &TorchSpec::new()).unwrap();
    assert_eq!(back, m);
    // Through a file as well.
    let dir = std::env::temp_dir().join(format!("prunelab-torch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.safetensors");
    m.save_safetensors(&path).unwrap();
    assert_eq!(Mlp::from_safetensors(&path, &TorchSpec::new()).unwrap(), m);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn the_same_network_gives_the_same_bytes() {
    let m = model();
    let first = m.to_safetensors().unwrap();
    for _ in 0..20 {
        assert_eq!(m.to_safetensors().unwrap(), first);
    }
}

#[test]
fn module_indices_skip_only_the_activations_that_are_modules() {
    // Linear, Sigmoid, Linear (identity: no module), Linear, Tanh.
    let m = Mlp::from_layers(
        2,
        Topology::Chain,
        vec![
            Dense::new(Array2::ones((3, 2)), None, Activation::Sigmoid).unwrap(),
            Dense::new(Array2::ones((3, 3)), None, Activation::Identity).unwrap(),
            Dense::new(Array2::ones((1, 3)), None, Activation::Tanh).unwrap(),
        ],
    )
    .unwrap();
    let bytes = m.to_safetensors().unwrap();
    assert_eq!(names(&bytes), ["0.weight", "2.weight", "3.weight"]);
    assert_eq!(
        Mlp::from_safetensors_bytes(&bytes, &TorchSpec::new()).unwrap(),
        m
    );
}

#[test]
fn a_masked_network_is_written_as_torch_prune_writes_it_and_keeps_its_original_values() {
    let mut m = model();
    prune_to_sparsity(&mut m, 0.6, Scope::Layerwise, &[]).unwrap();
    let bytes = m.to_safetensors().unwrap();
    let n = names(&bytes);
    assert!(n.contains(&"0.weight_orig".to_string()) && n.contains(&"0.weight_mask".to_string()));
    assert!(!n.contains(&"0.weight".to_string()));
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let f32s = |name: &str| -> Vec<f32> {
        file.tensor(name)
            .unwrap()
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    // weight_orig * weight_mask is the masked weight, exactly; the mask is 0/1 and marks the pruned ones.
    let (orig, mask) = (f32s("0.weight_orig"), f32s("0.weight_mask"));
    let kept = m.mask(0).unwrap();
    for (k, (&w, &z)) in orig.iter().zip(&mask).enumerate() {
        let (u, i) = (k / 4, k % 4);
        assert_eq!(z, if kept[[u, i]] { 1.0 } else { 0.0 });
        assert_eq!(w * z, m.weight(0, u, i).unwrap());
        if !kept[[u, i]] {
            assert_ne!(w, 0.0, "weight_orig keeps the value a pruned weight had");
        }
    }
    let mut back = Mlp::from_safetensors_bytes(&bytes, &TorchSpec::new()).unwrap();
    assert_eq!(back, m);
    // Undoing the pruning gives back the same values on both sides.
    let mut original = m.clone();
    original.reset_masks();
    back.reset_masks();
    assert_eq!(back, original);
}

#[test]
fn pruned_units_and_compacted_networks_come_back_equal() {
    let mut units = Mlp::config(&[3, 8, 4, 2]).seed(3).build().unwrap();
    UnitPruning::l1(0.5).apply(&mut units).unwrap();
    let bytes = units.to_safetensors().unwrap();
    let n = names(&bytes);
    assert!(n.contains(&"0.bias_orig".to_string()) && n.contains(&"0.bias_mask".to_string()));
    assert_eq!(
        Mlp::from_safetensors_bytes(&bytes, &TorchSpec::new()).unwrap(),
        units
    );
    let compact = units.compact().unwrap();
    let bytes = compact.to_safetensors().unwrap();
    assert!(names(&bytes)
        .iter()
        .all(|n| n.ends_with(".weight") || n.ends_with(".bias")));
    assert_eq!(
        Mlp::from_safetensors_bytes(&bytes, &TorchSpec::new()).unwrap(),
        compact
    );
}

#[test]
fn a_densely_connected_network_has_no_sequential_form() {
    let dc = Mlp::config(&[2, 3, 2])
        .topology(Topology::DenselyConnected)
        .build()
        .unwrap();
    assert!(matches!(dc.to_safetensors(), Err(Error::Incompatible(_))));
}

/// A safetensors file of the given F32 tensors and metadata.
fn file(tensors: &[(&str, Vec<usize>, Vec<f32>)], meta: &[(&str, &str)]) -> Vec<u8> {
    let data: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .zip(&data)
        .map(|((name, shape, _), d)| {
            (
                name.to_string(),
                TensorView::new(Dtype::F32, shape.clone(), d).unwrap(),
            )
        })
        .collect();
    let meta = meta
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    safetensors::serialize(views, Some(meta)).unwrap()
}

fn error_of(bytes: &[u8], spec: &TorchSpec) -> String {
    match Mlp::from_safetensors_bytes(bytes, spec) {
        Err(e @ Error::Format { .. }) => e.to_string(),
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn malformed_files_are_errors_that_name_the_problem() {
    let relu_id = TorchSpec::new().activations(&[Activation::Relu, Activation::Identity]);
    let w = |r: usize, c: usize| (vec![r, c], vec![0.5; r * c]);
    let (s0, v0) = w(3, 2);
    let (s2, v2) = w(1, 3);
    let good = [
        ("0.weight", s0.clone(), v0.clone()),
        ("2.weight", s2.clone(), v2.clone()),
    ];
    assert!(Mlp::from_safetensors_bytes(&file(&good, &[]), &relu_id).is_ok());

    let cases: Vec<(Vec<u8>, TorchSpec, &str)> = vec![
        (
            file(&good, &[]),
            TorchSpec::new(),
            "TorchSpec::new().activations",
        ),
        (
            file(&good, &[(ACTIVATIONS_KEY, "relu,swish")]),
            TorchSpec::new(),
            "unknown activation \"swish\"",
        ),
        (
            file(&good, &[]),
            TorchSpec::new().activations(&[Activation::Relu]),
            "1 activations for 2",
        ),
        (
            file(
                &[
                    ("0.weight", s0.clone(), v0.clone()),
                    ("2.weight", vec![1, 4], vec![1.0; 4]),
                ],
                &[],
            ),
            relu_id.clone(),
            "do not chain",
        ),
        (
            file(
                &[
                    ("0.weight", s0.clone(), v0.clone()),
                    ("2.running_mean", vec![3], vec![0.0; 3]),
                ],
                &[],
            ),
            relu_id.clone(),
            "\"2.running_mean\" is not a Linear layer's parameter",
        ),
        (
            file(
                &[
                    ("0.weight", s0.clone(), v0.clone()),
                    ("net.2.weight", s2.clone(), v2.clone()),
                ],
                &[],
            ),
            relu_id.clone(),
            "outside the Sequential",
        ),
        (
            file(
                &[
                    ("0.weight_orig", s0.clone(), v0.clone()),
                    (
                        "0.weight_mask",
                        s0.clone(),
                        vec![1.0, 0.5, 1.0, 0.0, 1.0, 1.0],
                    ),
                    ("2.weight", s2.clone(), v2.clone()),
                ],
                &[],
            ),
            relu_id.clone(),
            "holds 0.5",
        ),
        (
            file(
                &[
                    ("0.weight_orig", s0.clone(), v0.clone()),
                    ("2.weight", s2.clone(), v2.clone()),
                ],
                &[],
            ),
            relu_id.clone(),
            "weight_orig without its weight_mask",
        ),
        (
            file(
                &[
                    ("0.weight", s0.clone(), v0.clone()),
                    ("0.weight_orig", s0.clone(), v0.clone()),
                    ("0.weight_mask", s0.clone(), vec![1.0; 6]),
                    ("2.weight", s2.clone(), v2.clone()),
                ],
                &[],
            ),
            relu_id.clone(),
            "both a plain weight",
        ),
        (
            file(
                &[
                    ("0.weight", s0.clone(), v0.clone()),
                    ("0.bias", vec![2], vec![0.0; 2]),
                    ("2.weight", s2.clone(), v2.clone()),
                ],
                &[],
            ),
            relu_id.clone(),
            "expected [3]",
        ),
        (
            file(
                &[
                    ("0.weight", vec![6], v0.clone()),
                    ("2.weight", s2.clone(), v2.clone()),
                ],
                &[],
            ),
            relu_id.clone(),
            "a Linear weight is 2-D",
        ),
        (
            file(
                &[
                    ("0.weight", s0.clone(), vec![f32::NAN; 6]),
                    ("2.weight", s2.clone(), v2.clone()),
                ],
                &[],
            ),
            relu_id.clone(),
            "Linear layer 0",
        ),
        (
            file(&[], &[("format", "pt")]),
            relu_id.clone(),
            "no tensors",
        ),
        (
            b"not a safetensors file at all".to_vec(),
            relu_id.clone(),
            "not a safetensors file",
        ),
    ];
    for (bytes, spec, expected) in cases {
        let message = error_of(&bytes, &spec);
        assert!(
            message.contains(expected),
            "{message:?} should say {expected:?}"
        );
    }
    // A dtype that is not a float.
    let ints = [1i32, 2, 3, 4, 5, 6];
    let data: Vec<u8> = ints.iter().flat_map(|x| x.to_le_bytes()).collect();
    let bytes = safetensors::serialize(
        [(
            "0.weight".to_string(),
            TensorView::new(Dtype::I32, vec![3, 2], &data).unwrap(),
        )],
        None,
    )
    .unwrap();
    let message = error_of(&bytes, &TorchSpec::new().activations(&[Activation::Relu]));
    assert!(message.contains("dtype I32"), "{message}");
}

#[test]
fn half_and_double_precision_weights_load() {
    let w64: Vec<u8> = [0.5f64, -1.25, 2.0, 0.0, 1.0, -0.5]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    // 0.5, -1.25, 2.0, 0.0, 1.0, -0.5 in IEEE half precision.
    let w16: Vec<u8> = [0x3800u16, 0xbd00, 0x4000, 0x0000, 0x3c00, 0xb800]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    // The same in bfloat16 (the top half of the f32 bits).
    let wbf: Vec<u8> = [0.5f32, -1.25, 2.0, 0.0, 1.0, -0.5]
        .iter()
        .flat_map(|x| ((x.to_bits() >> 16) as u16).to_le_bytes())
        .collect();
    for (dtype, data) in [(Dtype::F64, &w64), (Dtype::F16, &w16), (Dtype::BF16, &wbf)] {
        let bytes = safetensors::serialize(
            [(
                "0.weight".to_string(),
                TensorView::new(dtype, vec![3, 2], data).unwrap(),
            )],
            None,
        )
        .unwrap();
        let m = Mlp::from_safetensors_bytes(
            &bytes,
            &TorchSpec::new().activations(&[Activation::Identity]),
        )
        .unwrap();
        let w: Vec<f32> = m.layers()[0].weight().iter().copied().collect();
        assert_eq!(w, [0.5, -1.25, 2.0, 0.0, 1.0, -0.5], "{dtype:?}");
    }
}

// ------------------------------------------------ files made by the real safetensors library and numpy

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/torch")
}

fn activation(name: &str) -> Activation {
    match name {
        "identity" => Activation::Identity,
        "relu" => Activation::Relu,
        "sigmoid" => Activation::Sigmoid,
        "tanh" => Activation::Tanh,
        "gelu" => Activation::Gelu,
        "softmax" => Activation::Softmax,
        other => panic!("unknown activation {other}"),
    }
}

#[test]
fn files_made_by_safetensors_and_numpy_give_numpy_s_outputs() {
    let expected: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap())
            .unwrap();
    assert!(expected.len() >= 3, "fixtures: {:?}", expected.keys());
    for (name, case) in &expected {
        let acts: Vec<Activation> = case["activations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| activation(a.as_str().unwrap()))
            .collect();
        let rows = |key: &str| -> Array2<f32> {
            let rows: Vec<Vec<f32>> = serde_json::from_value(case[key].clone()).unwrap();
            let cols = rows[0].len();
            Array2::from_shape_vec((rows.len(), cols), rows.concat()).unwrap()
        };
        let path = fixtures().join(name);
        // With the activations given, and (where the file names them) from its metadata.
        let model = Mlp::from_safetensors(&path, &TorchSpec::new().activations(&acts)).unwrap();
        let meta = SafeTensors::read_metadata(&std::fs::read(&path).unwrap())
            .unwrap()
            .1
            .metadata()
            .clone()
            .unwrap_or_default();
        if meta.contains_key(ACTIVATIONS_KEY) {
            assert_eq!(
                Mlp::from_safetensors(&path, &TorchSpec::new()).unwrap(),
                model
            );
        } else {
            let err = Mlp::from_safetensors(&path, &TorchSpec::new()).unwrap_err();
            assert!(err.to_string().contains("TorchSpec"), "{err}");
        }
        let (x, want) = (rows("inputs"), rows("outputs"));
        let got = model.forward(&x).unwrap();
        for (row_got, row_want) in got.axis_iter(Axis(0)).zip(want.axis_iter(Axis(0))) {
            for (&g, &w) in row_got.iter().zip(row_want) {
                assert!(
                    (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                    "{name}: prunelab {g}, numpy {w}"
                );
            }
        }
        if let Some(n) = case.get("n_remaining").and_then(serde_json::Value::as_u64) {
            assert_eq!(model.n_remaining() as u64, n, "{name}");
        }
    }
}
