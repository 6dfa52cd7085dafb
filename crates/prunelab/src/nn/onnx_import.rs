//! Reading an MLP from an ONNX graph as `torch.onnx.export` writes it for an `nn.Sequential` of `nn.Linear`
//! layers and activations (and as [`Mlp::to_onnx`](super::Mlp::to_onnx) writes a chain): from the graph's
//! input, optionally through `Flatten`, `Reshape` or `Identity`, each layer is a `Gemm` (`transB` 0 or 1,
//! `alpha = beta = 1`) or a `MatMul` with a constant weight followed by an `Add` of a constant bias, then at
//! most one activation: `Relu`, `Sigmoid`, `Tanh`, `Softmax` over the last axis, `Gelu` (opset 20) or GELU
//! written with `Erf` (`x·0.5·(1 + erf(x/√2))`, as exporters write it below opset 20). Anything else is an
//! error that names the node.

use std::collections::HashMap;
use std::path::Path;

use ndarray::{Array1, Array2};
use prost::Message;

use super::file::format_error;
use super::onnx_proto::{AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto};
use super::{Activation, Dense};
use crate::error::Result;

/// `TensorProto.DataType`: FLOAT, DOUBLE, FLOAT16, BFLOAT16.
const FLOAT: i32 = 1;
const DOUBLE: i32 = 11;
/// The ops that are read as "nothing happens" on a batch of rows.
const PASS_THROUGH: [&str; 3] = ["Flatten", "Reshape", "Identity"];

/// A constant tensor: its shape and values as `f32`.
struct Constant {
    dims: Vec<usize>,
    values: Vec<f32>,
}

impl Constant {
    fn scalar(&self) -> Option<f32> {
        (self.values.len() == 1).then(|| self.values[0])
    }
}

/// A constant from a `TensorProto` (raw little-endian data or the typed fields), checked against its dims.
fn constant(source: &Path, t: &TensorProto) -> Result<Constant> {
    let what = || format!("tensor {:?}", t.name);
    if t.data_location == 1 {
        return Err(format_error(
            source,
            format!(
                "{} keeps its data in an external file, which prunelab does not read",
                what()
            ),
        ));
    }
    let mut count = 1usize;
    let mut dims = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        let d = usize::try_from(d).map_err(|_| {
            format_error(source, format!("{} has a negative dimension {d}", what()))
        })?;
        count = count.checked_mul(d).ok_or_else(|| {
            format_error(
                source,
                format!("{} has dimensions {:?} too large", what(), t.dims),
            )
        })?;
        dims.push(d);
    }
    let values: Vec<f32> = match t.data_type {
        FLOAT if !t.raw_data.is_empty() => t
            .raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        FLOAT => t.float_data.clone(),
        DOUBLE if !t.raw_data.is_empty() => t
            .raw_data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        DOUBLE => t.double_data.iter().map(|&v| v as f32).collect(),
        other => {
            return Err(format_error(
                source,
                format!(
                    "{} has data type {other}; weights must be FLOAT or DOUBLE",
                    what()
                ),
            ))
        }
    };
    let bytes_per_value = if t.data_type == DOUBLE { 8 } else { 4 };
    if values.len() != count
        || (!t.raw_data.is_empty() && t.raw_data.len() != count * bytes_per_value)
    {
        return Err(format_error(
            source,
            format!(
                "{} holds {} values for dimensions {:?}",
                what(),
                values.len(),
                t.dims
            ),
        ));
    }
    Ok(Constant { dims, values })
}

fn attribute<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn int_attribute(node: &NodeProto, name: &str, default: i64) -> i64 {
    attribute(node, name).and_then(|a| a.i).unwrap_or(default)
}

fn float_attribute(node: &NodeProto, name: &str, default: f32) -> f32 {
    attribute(node, name).and_then(|a| a.f).unwrap_or(default)
}

/// How a node is named in messages: its name and op, or its op and output.
fn describe(node: &NodeProto) -> String {
    if node.name.is_empty() {
        format!(
            "{} node producing {:?}",
            node.op_type,
            node.output.first().map_or("", String::as_str)
        )
    } else {
        format!("node {:?} ({})", node.name, node.op_type)
    }
}

/// The graph, indexed: constants by name (initializers and `Constant` nodes) and consumers of each value.
struct Graph<'a> {
    source: &'a Path,
    constants: HashMap<&'a str, Constant>,
    consumers: HashMap<&'a str, Vec<&'a NodeProto>>,
}

impl<'a> Graph<'a> {
    fn new(source: &'a Path, g: &'a GraphProto) -> Result<Self> {
        let mut constants = HashMap::new();
        for t in &g.initializer {
            constants.insert(t.name.as_str(), constant(source, t)?);
        }
        let mut consumers: HashMap<&str, Vec<&NodeProto>> = HashMap::new();
        for node in &g.node {
            if node.op_type == "Constant" {
                let value = attribute(node, "value")
                    .and_then(|a| a.t.as_ref())
                    .ok_or_else(|| {
                        format_error(source, format!("{} has no tensor value", describe(node)))
                    })?;
                if let Some(out) = node.output.first() {
                    constants.insert(out.as_str(), constant(source, value)?);
                }
                continue;
            }
            for input in &node.input {
                consumers.entry(input.as_str()).or_default().push(node);
            }
        }
        Ok(Graph {
            source,
            constants,
            consumers,
        })
    }

    /// The one node reading `value`, if any; a branch is an error, except GELU's own (its input is read by
    /// the `Div`/`Mul` that starts it and by a later `Mul`): then the start.
    fn next(&self, value: &str) -> Result<Option<&'a NodeProto>> {
        let starts_gelu = |n: &NodeProto| {
            matches!(n.op_type.as_str(), "Div" | "Mul")
                && self
                    .other_constant(n, value)
                    .and_then(Constant::scalar)
                    .is_some()
        };
        match self.consumers.get(value).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([one]) => Ok(Some(one)),
            Some([a, b]) if starts_gelu(a) && b.op_type == "Mul" => Ok(Some(a)),
            Some([a, b]) if starts_gelu(b) && a.op_type == "Mul" => Ok(Some(b)),
            Some(many) => {
                Err(format_error(
                    self.source,
                    format!(
                    "value {value:?} is read by {} nodes ({}); prunelab reads a chain of layers",
                    many.len(),
                    many.iter().map(|n| describe(n)).collect::<Vec<_>>().join(", ")
                ),
                ))
            }
        }
    }

    /// The constant feeding `node`'s input other than `value`.
    fn other_constant(&self, node: &NodeProto, value: &str) -> Option<&Constant> {
        node.input
            .iter()
            .filter(|i| i.as_str() != value)
            .find_map(|i| self.constants.get(i.as_str()))
    }

    fn error(&self, node: &NodeProto, why: &str) -> crate::Error {
        format_error(self.source, format!("{}: {why}", describe(node)))
    }
}

/// A layer being read: weight `(out, in)` and bias, its activation once seen.
struct Pending {
    weight: Array2<f32>,
    bias: Option<Array1<f32>>,
    activation: Option<Activation>,
}

/// The input width and the layers of the MLP an ONNX model holds (see the module's documentation).
pub(super) fn read_onnx(bytes: &[u8], source: &Path) -> Result<(usize, Vec<Dense>)> {
    let model = ModelProto::decode(bytes)
        .map_err(|e| format_error(source, format!("not an ONNX model: {e}")))?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| format_error(source, "the ONNX model has no graph"))?;
    let g = Graph::new(source, graph)?;
    let inputs: Vec<&str> = graph
        .input
        .iter()
        .map(|i| i.name.as_str())
        .filter(|n| !g.constants.contains_key(n))
        .collect();
    let [input] = inputs.as_slice() else {
        return Err(format_error(
            source,
            format!(
                "the graph has {} non-constant inputs {inputs:?}; an MLP has one",
                inputs.len()
            ),
        ));
    };
    let [output] = graph.output.as_slice() else {
        return Err(format_error(
            source,
            format!(
                "the graph has {} outputs; an MLP has one",
                graph.output.len()
            ),
        ));
    };
    let mut layers: Vec<Pending> = Vec::new();
    let mut current: String = input.to_string();
    while let Some(node) = g.next(&current)? {
        let out = node
            .output
            .first()
            .ok_or_else(|| g.error(node, "has no output"))?
            .clone();
        let activation = |a: Activation, layers: &mut Vec<Pending>| -> Result<()> {
            match layers.last_mut() {
                Some(p) if p.activation.is_none() => {
                    p.activation = Some(a);
                    Ok(())
                }
                _ => Err(g.error(node, "is an activation that does not follow a Linear layer")),
            }
        };
        match node.op_type.as_str() {
            op if PASS_THROUGH.contains(&op) => {
                if op != "Identity" && !layers.is_empty() {
                    return Err(g.error(node, "reshapes between layers; prunelab reads it only at the input"));
                }
                current = out;
            }
            "Gemm" => {
                if node.input.first() != Some(&current) {
                    return Err(g.error(node, "multiplies a constant by the data (A must be the data)"));
                }
                if int_attribute(node, "transA", 0) != 0
                    || float_attribute(node, "alpha", 1.0) != 1.0
                    || float_attribute(node, "beta", 1.0) != 1.0
                {
                    return Err(g.error(node, "has transA, alpha or beta other than 0, 1, 1"));
                }
                let b = node
                    .input
                    .get(1)
                    .and_then(|n| g.constants.get(n.as_str()))
                    .ok_or_else(|| g.error(node, "has a weight (B) that is not a constant"))?;
                let weight = matrix(&g, node, b)?;
                let weight = if int_attribute(node, "transB", 0) == 1 {
                    weight
                } else {
                    weight.reversed_axes().as_standard_layout().into_owned()
                };
                let bias = match node.input.get(2).filter(|n| !n.is_empty()) {
                    None => None,
                    Some(c) => {
                        let c = g.constants.get(c.as_str()).ok_or_else(|| g.error(node, "has a bias (C) that is not a constant"))?;
                        Some(bias(&g, node, c, weight.nrows())?)
                    }
                };
                layers.push(Pending { weight, bias, activation: None });
                current = out;
            }
            "MatMul" => {
                if node.input.first() != Some(&current) {
                    return Err(g.error(node, "multiplies a constant by the data"));
                }
                let w = g.other_constant(node, &current).ok_or_else(|| g.error(node, "has a weight that is not a constant"))?;
                let weight = matrix(&g, node, w)?.reversed_axes().as_standard_layout().into_owned();
                let mut pending = Pending { weight, bias: None, activation: None };
                current = out;
                // A bias is an Add of a constant right after.
                if let Some(add) = g.next(&current)?.filter(|n| n.op_type == "Add") {
                    if let Some(c) = g.other_constant(add, &current) {
                        pending.bias = Some(bias(&g, add, c, pending.weight.nrows())?);
                        current = add.output.first().ok_or_else(|| g.error(add, "has no output"))?.clone();
                    }
                }
                layers.push(pending);
            }
            "Relu" => {
                activation(Activation::Relu, &mut layers)?;
                current = out;
            }
            "Sigmoid" => {
                activation(Activation::Sigmoid, &mut layers)?;
                current = out;
            }
            "Tanh" => {
                activation(Activation::Tanh, &mut layers)?;
                current = out;
            }
            "Softmax" => {
                let axis = int_attribute(node, "axis", -1);
                if axis != -1 && axis != 1 {
                    return Err(g.error(node, &format!("is a softmax over axis {axis}, not over the outputs")));
                }
                activation(Activation::Softmax, &mut layers)?;
                current = out;
            }
            "Gelu" => {
                let approximate = attribute(node, "approximate").map(|a| a.s.as_slice()).unwrap_or(b"none");
                if approximate != b"none" {
                    return Err(g.error(node, "is the tanh approximation of GELU; prunelab's GELU is the exact one"));
                }
                activation(Activation::Gelu, &mut layers)?;
                current = out;
            }
            "Mul" | "Div" => {
                current = erf_gelu(&g, node, &current)?;
                activation(Activation::Gelu, &mut layers)?;
            }
            op => {
                return Err(g.error(
                    node,
                    &format!(
                        "{op} is not supported: prunelab reads Gemm, MatMul + Add, Relu, Sigmoid, Tanh, Softmax, \
                         Gelu (or its Erf form), and Flatten/Reshape at the input"
                    ),
                ))
            }
        }
    }
    if current != output.name {
        return Err(format_error(
            source,
            format!(
                "the chain from {input:?} ends at {current:?}, not at the graph's output {:?}",
                output.name
            ),
        ));
    }
    if layers.is_empty() {
        return Err(format_error(
            source,
            "the graph has no Gemm or MatMul layer",
        ));
    }
    let n_inputs = layers[0].weight.ncols();
    let mut dense = Vec::with_capacity(layers.len());
    for (k, p) in layers.into_iter().enumerate() {
        if let Some(prev) = dense.last().map(Dense::n_outputs) {
            if p.weight.ncols() != prev {
                return Err(format_error(
                    source,
                    format!(
                        "layer {k} takes {} inputs, but the layer before has {prev} outputs",
                        p.weight.ncols()
                    ),
                ));
            }
        }
        let layer = Dense::new(
            p.weight,
            p.bias,
            p.activation.unwrap_or(Activation::Identity),
        )
        .map_err(|e| format_error(source, format!("layer {k}: {e}")))?;
        dense.push(layer);
    }
    Ok((n_inputs, dense))
}

/// A 2-D constant as a matrix.
fn matrix(g: &Graph<'_>, node: &NodeProto, c: &Constant) -> Result<Array2<f32>> {
    let &[rows, cols] = c.dims.as_slice() else {
        return Err(g.error(
            node,
            &format!("has a weight of dimensions {:?}, not 2-D", c.dims),
        ));
    };
    Array2::from_shape_vec((rows, cols), c.values.clone())
        .map_err(|e| g.error(node, &e.to_string()))
}

/// A bias of `len` values (dimensions `[len]` or `[1, len]`).
fn bias(g: &Graph<'_>, node: &NodeProto, c: &Constant, len: usize) -> Result<Array1<f32>> {
    if c.values.len() != len || !(c.dims == [len] || c.dims == [1, len]) {
        return Err(g.error(
            node,
            &format!("has a bias of dimensions {:?} for {len} outputs", c.dims),
        ));
    }
    Ok(Array1::from(c.values.clone()))
}

/// The exact GELU as exporters write it below opset 20, starting at `node` on the pre-activation `z`:
/// `Div(z, √2)` or `Mul(z, 1/√2)` → `Erf` → `Add(·, 1)` → `Mul(z, ·)` or `Mul(·, z)` → `Mul(·, 0.5)` (the last
/// two in either order: `Mul(z, 0.5)` first is read too). Returns the GELU's output.
fn erf_gelu(g: &Graph<'_>, first: &NodeProto, z: &str) -> Result<String> {
    let not_gelu = || {
        g.error(
            first,
            "is not the start of a GELU (x·0.5·(1 + erf(x/√2))), the only Mul or Div read",
        )
    };
    let close = |v: Option<f32>, want: f32| {
        v.is_some_and(|v| (v - want).abs() <= 1e-6 * want.abs().max(1.0))
    };
    let scale = g.other_constant(first, z).and_then(Constant::scalar);
    let divides = first.op_type == "Div" && close(scale, std::f32::consts::SQRT_2);
    let multiplies = first.op_type == "Mul" && close(scale, std::f32::consts::FRAC_1_SQRT_2);
    if !(divides || multiplies) || first.input.first().map(String::as_str) != Some(z) {
        return Err(not_gelu());
    }
    let out = |n: &NodeProto| n.output.first().cloned().ok_or_else(not_gelu);
    let erf = g
        .next(&out(first)?)?
        .filter(|n| n.op_type == "Erf")
        .ok_or_else(not_gelu)?;
    let add = g
        .next(&out(erf)?)?
        .filter(|n| n.op_type == "Add")
        .ok_or_else(not_gelu)?;
    if !close(
        g.other_constant(add, &out(erf)?).and_then(Constant::scalar),
        1.0,
    ) {
        return Err(not_gelu());
    }
    let plus = out(add)?;
    // z · (1 + erf) then · 0.5.
    let times = g
        .next(&plus)?
        .filter(|n| n.op_type == "Mul")
        .ok_or_else(not_gelu)?;
    let by_z = times.input.iter().any(|i| i == z) && times.input.contains(&plus);
    let by_half = close(
        g.other_constant(times, &plus).and_then(Constant::scalar),
        0.5,
    );
    let next = out(times)?;
    let last = g
        .next(&next)?
        .filter(|n| n.op_type == "Mul")
        .ok_or_else(not_gelu)?;
    let ok = if by_z {
        close(
            g.other_constant(last, &next).and_then(Constant::scalar),
            0.5,
        )
    } else {
        // (1 + erf)·0.5 first, then · z: the z input of the last Mul is the pre-activation.
        by_half && last.input.iter().any(|i| i == z)
    };
    if !ok {
        return Err(not_gelu());
    }
    out(last)
}
