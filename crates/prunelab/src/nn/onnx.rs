//! A network as an ONNX model (opset [`ONNX_OPSET`]), for ONNX Runtime and every tool that reads ONNX. The
//! protobuf messages are encoded with `prost`, declared here with the field numbers of `onnx.proto` (only
//! the fields written).
//!
//! The graph: input `input` of shape `[batch, inputs]`; per layer a `Gemm` (`x·Wᵀ + b`, `transB = 1`) and its
//! activation (`Relu`, `Sigmoid`, `Tanh`, `Softmax` over the last axis, GELU as `0.5·x·(1 + erf(x/√2))`, which
//! opset 17 writes with `Erf`); a densely connected network `Concat`s the input and the earlier layers'
//! outputs in front of each layer; output `output`. Weights are stored as they are, so a pruned weight is an
//! exact zero in the file; a compacted network is simply smaller.

use std::path::Path;

use prost::Message;

use super::{Activation, Mlp, Topology};
use crate::error::{Error, Result};

/// The ONNX operator set the models are written for (ONNX Runtime 1.13 and later run it).
pub const ONNX_OPSET: i64 = 17;
/// The ONNX IR version that goes with [`ONNX_OPSET`].
const IR_VERSION: i64 = 8;
/// `TensorProto.DataType.FLOAT`.
const FLOAT: i32 = 1;
/// `AttributeProto.AttributeType.INT`.
const ATTRIBUTE_INT: i32 = 2;

use super::onnx_proto::*;

/// A float tensor initializer.
fn tensor(name: &str, dims: &[usize], values: impl Iterator<Item = f32>) -> TensorProto {
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: FLOAT,
        name: name.to_string(),
        raw_data: values.flat_map(f32::to_le_bytes).collect(),
        ..TensorProto::default()
    }
}

/// A node; `attributes` are integer attributes.
fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    output: &str,
    attributes: &[(&str, i64)],
) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.to_string()],
        name: name.to_string(),
        op_type: op.to_string(),
        domain: String::new(),
        attribute: attributes
            .iter()
            .map(|&(name, i)| AttributeProto {
                name: name.to_string(),
                i: Some(i),
                r#type: ATTRIBUTE_INT,
                ..AttributeProto::default()
            })
            .collect(),
    }
}

/// A float tensor of shape `[batch, width]`.
fn value_info(name: &str, width: usize) -> ValueInfoProto {
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorType {
                elem_type: FLOAT,
                shape: Some(TensorShapeProto {
                    dim: vec![
                        Dimension {
                            dim_value: None,
                            dim_param: Some("batch".to_string()),
                        },
                        Dimension {
                            dim_value: Some(width as i64),
                            dim_param: None,
                        },
                    ],
                }),
            }),
        }),
    }
}

impl Mlp {
    /// The network as an ONNX model (opset [`ONNX_OPSET`]) that ONNX Runtime runs with the same outputs as
    /// [`Mlp::forward`]: dense, masked (pruned weights are exact zeros in the file), compacted and densely
    /// connected networks alike. The input is `input` (`[batch, inputs]`), the output `output`; the model's
    /// metadata gives the activations and prunelab's version.
    ///
    /// ```
    /// use prunelab::prelude::*;
    ///
    /// let model = Mlp::config(&[4, 8, 3]).output_activation(Activation::Softmax).build()?;
    /// let onnx = model.to_onnx()?;
    /// assert!(onnx.len() > 4 * 8 * 4);
    /// # Ok::<(), prunelab::Error>(())
    /// ```
    pub fn to_onnx(&self) -> Result<Vec<u8>> {
        let mut nodes = Vec::new();
        let mut initializer = Vec::new();
        let mut outputs: Vec<String> = vec!["input".to_string()];
        let last = self.layers.len() - 1;
        let mut uses_gelu = false;
        for (k, layer) in self.layers.iter().enumerate() {
            let x = match self.topology {
                Topology::Chain => outputs[k].clone(),
                Topology::DenselyConnected if k == 0 => outputs[0].clone(),
                Topology::DenselyConnected => {
                    let name = format!("layer{k}.in");
                    let parts: Vec<&str> = outputs.iter().map(String::as_str).collect();
                    nodes.push(node(
                        "Concat",
                        &format!("layer{k}.concat"),
                        &parts,
                        &name,
                        &[("axis", 1)],
                    ));
                    name
                }
            };
            let (out, inp) = layer.weight.dim();
            let w = format!("layer{k}.weight");
            initializer.push(tensor(&w, &[out, inp], layer.weight.iter().copied()));
            let mut gemm_inputs = vec![x.as_str(), w.as_str()];
            let b = format!("layer{k}.bias");
            if let Some(bias) = &layer.bias {
                initializer.push(tensor(&b, &[out], bias.iter().copied()));
                gemm_inputs.push(b.as_str());
            }
            let z = if layer.activation == Activation::Identity && k == last {
                "output".to_string()
            } else {
                format!("layer{k}.z")
            };
            nodes.push(node(
                "Gemm",
                &format!("layer{k}.gemm"),
                &gemm_inputs,
                &z,
                &[("transB", 1)],
            ));
            let a = if k == last {
                "output".to_string()
            } else {
                format!("layer{k}.out")
            };
            let act = |op: &str, attributes: &[(&str, i64)]| {
                node(
                    op,
                    &format!("layer{k}.{}", op.to_lowercase()),
                    &[&z],
                    &a,
                    attributes,
                )
            };
            match layer.activation {
                Activation::Identity if k == last => {}
                Activation::Identity => nodes.push(act("Identity", &[])),
                Activation::Relu => nodes.push(act("Relu", &[])),
                Activation::Sigmoid => nodes.push(act("Sigmoid", &[])),
                Activation::Tanh => nodes.push(act("Tanh", &[])),
                Activation::Softmax => nodes.push(act("Softmax", &[("axis", -1)])),
                Activation::Gelu => {
                    uses_gelu = true;
                    let t = |s: &str| format!("layer{k}.gelu.{s}");
                    let (scaled, erf, plus, prod) =
                        (t("scaled"), t("erf"), t("plus_one"), t("x_times"));
                    nodes.push(node("Mul", &t("mul0"), &[&z, "const.rsqrt2"], &scaled, &[]));
                    nodes.push(node("Erf", &t("erf_op"), &[&scaled], &erf, &[]));
                    nodes.push(node("Add", &t("add"), &[&erf, "const.one"], &plus, &[]));
                    nodes.push(node("Mul", &t("mul1"), &[&z, &plus], &prod, &[]));
                    nodes.push(node("Mul", &t("mul2"), &[&prod, "const.half"], &a, &[]));
                }
            }
            outputs.push(a);
        }
        if uses_gelu {
            initializer.push(tensor(
                "const.rsqrt2",
                &[],
                std::iter::once(std::f32::consts::FRAC_1_SQRT_2),
            ));
            initializer.push(tensor("const.one", &[], std::iter::once(1.0)));
            initializer.push(tensor("const.half", &[], std::iter::once(0.5)));
        }
        let activations: Vec<&str> = self.layers.iter().map(|l| l.activation.name()).collect();
        let model = ModelProto {
            ir_version: IR_VERSION,
            producer_name: "prunelab".to_string(),
            producer_version: env!("CARGO_PKG_VERSION").to_string(),
            doc_string: format!("A {:?} MLP of sizes {:?}", self.topology, self.sizes()),
            graph: Some(GraphProto {
                node: nodes,
                name: "prunelab_mlp".to_string(),
                initializer,
                input: vec![value_info("input", self.n_inputs)],
                output: vec![value_info("output", self.n_outputs())],
            }),
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: ONNX_OPSET,
            }],
            metadata_props: vec![
                StringStringEntryProto {
                    key: super::ACTIVATIONS_KEY.to_string(),
                    value: activations.join(","),
                },
                StringStringEntryProto {
                    key: "prunelab.version".to_string(),
                    value: env!("CARGO_PKG_VERSION").to_string(),
                },
            ],
        };
        let mut bytes = Vec::new();
        model.encode(&mut bytes).map_err(|e| Error::Serialize {
            what: "the network",
            format: "ONNX",
            reason: e.to_string(),
        })?;
        Ok(bytes)
    }

    /// Reads an MLP from an ONNX model as `torch.onnx.export` writes one for an `nn.Sequential` of `nn.Linear`
    /// layers and activations, or as [`Mlp::to_onnx`] writes a chain: `Gemm` (or `MatMul` + `Add`) layers,
    /// each followed by at most one of `Relu`, `Sigmoid`, `Tanh`, `Softmax` and GELU (`Gelu`, or its `Erf`
    /// form), with `Flatten`/`Reshape` allowed at the input. Any other node, a branch, an external weight
    /// file or a malformed message is an [`Error::Format`] that names it; the file's size is checked against
    /// the memory this process may use before it is read.
    pub fn from_onnx(path: impl AsRef<Path>) -> Result<Mlp> {
        let path = path.as_ref();
        let bytes = super::file::read_checked(path, "the ONNX file")?;
        let (n_inputs, layers) = super::onnx_import::read_onnx(&bytes, path)?;
        Mlp::from_layers(n_inputs, Topology::Chain, layers)
    }

    /// [`Mlp::from_onnx`] on the file's bytes.
    pub fn from_onnx_bytes(bytes: &[u8]) -> Result<Mlp> {
        let (n_inputs, layers) = super::onnx_import::read_onnx(bytes, Path::new("<onnx>"))?;
        Mlp::from_layers(n_inputs, Topology::Chain, layers)
    }

    /// Writes [`Mlp::to_onnx`] to `path`.
    pub fn save_onnx(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_onnx()?).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prune::ThresholdPruning;

    fn decoded(m: &Mlp) -> ModelProto {
        ModelProto::decode(m.to_onnx().unwrap().as_slice()).unwrap()
    }

    #[test]
    fn a_chain_is_gemm_and_activation_per_layer_with_the_weights_as_they_are() {
        let mut m = Mlp::config(&[3, 4, 2])
            .output_activation(Activation::Softmax)
            .seed(1)
            .build()
            .unwrap();
        ThresholdPruning::new(0.3).apply(&mut m).unwrap();
        let model = decoded(&m);
        assert_eq!(
            (model.ir_version, model.opset_import[0].version),
            (IR_VERSION, ONNX_OPSET)
        );
        let graph = model.graph.unwrap();
        let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Gemm", "Relu", "Gemm", "Softmax"]);
        assert_eq!(graph.node[3].output, ["output"]);
        let w0 = &graph.initializer[0];
        assert_eq!(
            (w0.name.as_str(), w0.dims.as_slice()),
            ("layer0.weight", &[4i64, 3][..])
        );
        let values: Vec<f32> = w0
            .raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let expected: Vec<f32> = m.layers()[0].weight().iter().copied().collect();
        assert_eq!(values, expected);
        assert!(values.contains(&0.0), "pruned weights are exact zeros");
    }

    #[test]
    fn a_densely_connected_network_concatenates_what_each_layer_sees() {
        let m = Mlp::config(&[2, 3, 3, 1])
            .topology(Topology::DenselyConnected)
            .activation(Activation::Gelu)
            .build()
            .unwrap();
        let graph = decoded(&m).graph.unwrap();
        let concats: Vec<&Vec<String>> = graph
            .node
            .iter()
            .filter(|n| n.op_type == "Concat")
            .map(|n| &n.input)
            .collect();
        assert_eq!(
            concats,
            [
                &vec!["input".to_string(), "layer0.out".into()],
                &vec![
                    "input".to_string(),
                    "layer0.out".into(),
                    "layer1.out".into()
                ]
            ]
        );
        assert!(
            graph.node.iter().any(|n| n.op_type == "Erf"),
            "GELU is written with Erf"
        );
        assert_eq!(m.to_onnx().unwrap(), m.to_onnx().unwrap());
    }
}
