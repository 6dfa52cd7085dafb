//! ONNX models in: graphs as `torch.onnx.export` writes them for an `nn.Sequential` MLP (made with the real
//! `onnx` package, `python/torch-fixtures/make_onnx_fixtures.py`, committed under `tests/data/onnx/`) load
//! with the reference outputs; prunelab's own chains come back with the same outputs; what prunelab does not
//! read is an error naming the node.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ndarray::Array2;
use prunelab::prelude::*;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/onnx")
}

fn close(got: &Array2<f32>, want: &Array2<f32>, what: &str) {
    assert_eq!(got.dim(), want.dim(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= 1e-5 * w.abs().max(1.0),
            "{what}: prunelab {g}, reference {w}"
        );
    }
}

#[test]
fn graphs_as_exporters_write_them_load_with_the_reference_outputs() {
    let expected: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap())
            .unwrap();
    let mut loaded = 0;
    for (name, case) in &expected {
        let path = fixtures().join(name);
        if let Some(mentions) = case.get("error_mentions") {
            let err = Mlp::from_onnx(&path).unwrap_err();
            assert!(matches!(err, Error::Format { .. }), "{name}: {err:?}");
            for m in mentions.as_array().unwrap() {
                let m = m.as_str().unwrap();
                assert!(
                    err.to_string().contains(m),
                    "{name}: {err} should name {m:?}"
                );
            }
            continue;
        }
        let model = Mlp::from_onnx(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let sizes: Vec<usize> = serde_json::from_value(case["sizes"].clone()).unwrap();
        assert_eq!(model.sizes(), sizes, "{name}");
        let acts: Vec<String> = serde_json::from_value(case["activations"].clone()).unwrap();
        let got: Vec<&str> = model
            .layers()
            .iter()
            .map(|l| l.activation().name())
            .collect();
        assert_eq!(got, acts, "{name}");
        let rows = |key: &str| -> Array2<f32> {
            let rows: Vec<Vec<f32>> = serde_json::from_value(case[key].clone()).unwrap();
            Array2::from_shape_vec((rows.len(), rows[0].len()), rows.concat()).unwrap()
        };
        close(
            &model.forward(&rows("inputs")).unwrap(),
            &rows("outputs"),
            name,
        );
        loaded += 1;
    }
    assert_eq!(loaded, 4, "the four supported fixtures");
}

#[test]
fn prunelab_s_own_chains_come_back_with_the_same_outputs() {
    let x = Array2::from_shape_fn((7, 5), |(r, c)| ((r * 5 + c) as f32 * 0.41).cos());
    for (k, act) in [
        Activation::Relu,
        Activation::Gelu,
        Activation::Tanh,
        Activation::Identity,
    ]
    .into_iter()
    .enumerate()
    {
        let mut m = Mlp::config(&[5, 9, 6, 3])
            .activation(act)
            .output_activation(Activation::Softmax)
            .seed(k as u64)
            .build()
            .unwrap();
        prune_to_sparsity(&mut m, 0.5, Scope::Layerwise, &[]).unwrap();
        let back = Mlp::from_onnx_bytes(&m.to_onnx().unwrap()).unwrap();
        assert_eq!(back.sizes(), m.sizes());
        // The weights are the same values, pruned ones exact zeros (ONNX has no masks).
        for (a, b) in back.layers().iter().zip(m.layers()) {
            assert_eq!(a.weight(), b.weight(), "{act:?}");
            assert_eq!(a.activation(), b.activation());
        }
        close(
            &back.forward(&x).unwrap(),
            &m.forward(&x).unwrap(),
            act.name(),
        );
    }
    let compact = {
        let mut m = Mlp::config(&[5, 8, 2]).seed(9).build().unwrap();
        UnitPruning::l1(0.5).apply(&mut m).unwrap();
        m.compact().unwrap()
    };
    let back = Mlp::from_onnx_bytes(&compact.to_onnx().unwrap()).unwrap();
    assert_eq!(back, compact);
}

#[test]
fn what_prunelab_does_not_read_is_an_error_naming_it() {
    let dc = Mlp::config(&[2, 3, 2])
        .topology(Topology::DenselyConnected)
        .build()
        .unwrap();
    let err = Mlp::from_onnx_bytes(&dc.to_onnx().unwrap()).unwrap_err();
    assert!(err.to_string().contains("Concat"), "{err}");
    for bytes in [&b"not an onnx file"[..], &[0xff; 64][..], &[][..]] {
        let err = Mlp::from_onnx_bytes(bytes).unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "{err:?}");
    }
    let missing = Mlp::from_onnx(fixtures().join("no-such-file.onnx")).unwrap_err();
    assert!(matches!(missing, Error::Io { .. }));
}
