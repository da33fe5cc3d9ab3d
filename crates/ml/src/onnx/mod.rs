//! ONNX classifiers evaluated with burn at run time, so that gradients with respect to the
//! input are available (white box) for any ONNX model built from the common operators
//! (see [`ops::SUPPORTED`]). The file is parsed, never executed; an unsupported operator is
//! an error that names it.

pub mod batched_conv;
mod control;
mod exporter_ops;
mod guard;
mod host_autodiff;
pub mod host_conv;
mod host_conv_direct;
pub mod host_conv_grad;
mod host_pool;
pub mod inspect;
mod keras_ops;
mod more_ops;
mod ops;
pub mod probe;
pub mod proto;
mod recurrent;
mod resize;
mod value;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;

pub use ops::SUPPORTED;
use proto::{GraphProto, ModelProto, TensorProto, DOUBLE, FLOAT, INT32, INT64};
use value::Value;

use crate::error::{MlError, Result};
use crate::model::{rows, Differentiable, LocalModel, ModelInfo, QueryBudget};
use crate::tensor;

/// Converts an ONNX tensor into a graph value on `device`.
fn tensor_value(t: &TensorProto, device: &Device) -> Result<Value> {
    let shape: Vec<usize> = t
        .dims
        .iter()
        .map(|d| {
            usize::try_from(*d).map_err(|_| {
                MlError::Invalid(format!("tensor `{}` has a negative dimension", t.name))
            })
        })
        .collect::<Result<_>>()?;
    match t.data_type {
        FLOAT | DOUBLE => Value::from_floats(&t.floats, &shape, device),
        INT64 | INT32 => Ok(Value::Ints(t.ints.clone(), shape)),
        other if proto::SMALL_INTS.contains(&other) => Ok(Value::Ints(t.ints.clone(), shape)),
        other => Err(MlError::Invalid(format!(
            "tensor `{}` has ONNX element type {other}; aisec reads float, double, integers and bool",
            t.name
        ))),
    }
}

/// Evaluates `nodes` in order, adding their outputs to `values`. A name is looked up in
/// `values`, then in the enclosing scopes (innermost last; a `Loop` body reads its graph's
/// values), then among the constants. Stops once `stop` is produced.
fn evaluate<'g>(
    nodes: &'g [proto::NodeProto],
    values: &mut HashMap<&'g str, Value>,
    scopes: &[&HashMap<&'g str, Value>],
    constants: &HashMap<String, Value>,
    device: &Device,
    stop: Option<&str>,
) -> Result<()> {
    for node in nodes {
        let inputs: Vec<Option<Value>> = node
            .inputs
            .iter()
            .map(|name| {
                if name.is_empty() {
                    return Ok(None);
                }
                lookup(name, values, scopes, constants)
                    .cloned()
                    .map(Some)
                    .ok_or_else(|| {
                        MlError::Invalid(format!(
                            "node `{}` ({}) reads `{name}`, which no earlier node produces",
                            node.name, node.op_type
                        ))
                    })
            })
            .collect::<Result<_>>()?;
        let in_node =
            |e: MlError| MlError::Invalid(format!("node `{}` ({}): {e}", node.name, node.op_type));
        let outputs = if node.op_type == "Loop" || node.op_type == "If" {
            let mut chain: Vec<&HashMap<&'g str, Value>> = scopes.to_vec();
            chain.push(values);
            let run = if node.op_type == "Loop" {
                control::run_loop
            } else {
                control::run_if
            };
            guard::caught(|| run(node, &inputs, &chain, constants, device)).map_err(in_node)?
        } else {
            guard::caught(|| ops::eval(node, &inputs, device)).map_err(in_node)?
        };
        for (name, value) in node.outputs.iter().zip(outputs) {
            values.insert(name.as_str(), value);
        }
        if stop.is_some_and(|s| node.outputs.iter().any(|o| o == s)) {
            break;
        }
    }
    Ok(())
}

fn lookup<'a>(
    name: &str,
    values: &'a HashMap<&str, Value>,
    scopes: &[&'a HashMap<&str, Value>],
    constants: &'a HashMap<String, Value>,
) -> Option<&'a Value> {
    values
        .get(name)
        .or_else(|| scopes.iter().rev().find_map(|s| s.get(name)))
        .or_else(|| constants.get(name))
}

/// How an error names a node: by its name, or by its position when it has none.
pub(crate) fn node_label(node: &proto::NodeProto, index: usize) -> String {
    if node.name.is_empty() {
        format!("unnamed node #{index}")
    } else {
        format!("node `{}`", node.name)
    }
}

/// Whether `name` is a Softmax's output, through shape-only nodes and through every branch
/// of an If (an early-exit network's exits each end in one); `scopes` are the enclosing
/// graphs, innermost last (a branch reads its outer graph's values).
fn made_by_softmax(scopes: &[&GraphProto], name: &str, depth: usize) -> bool {
    if depth > 32 {
        return false;
    }
    let Some((level, node)) = scopes.iter().enumerate().rev().find_map(|(level, g)| {
        g.nodes
            .iter()
            .find(|n| n.outputs.iter().any(|o| o == name))
            .map(|n| (level, n))
    }) else {
        return false;
    };
    let visible = &scopes[..=level];
    match node.op_type.as_str() {
        "Softmax" => true,
        "Identity" | "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" => node
            .inputs
            .first()
            .is_some_and(|i| made_by_softmax(visible, i, depth + 1)),
        "If" => {
            let Some(position) = node.outputs.iter().position(|o| o == name) else {
                return false;
            };
            ["then_branch", "else_branch"].iter().all(|b| {
                node.attr(b)
                    .and_then(|a| a.g.as_deref())
                    .and_then(|g| g.outputs.get(position).map(|o| (g, o.name.as_str())))
                    .is_some_and(|(g, out)| {
                        let mut inner = visible.to_vec();
                        inner.push(g);
                        made_by_softmax(&inner, out, depth + 1)
                    })
            })
        }
        _ => false,
    }
}

/// Rows each thread of a split query gets at least: below this, starting threads costs more
/// than they save.
const MIN_ROWS_PER_WORKER: usize = 16;

pub struct OnnxModel {
    path: PathBuf,
    model: ModelProto,
    input_name: String,
    logits_name: String,
    /// The output is probabilities that no top-level Softmax made (the Softmax sits inside
    /// the branches of an If): read as their logarithm, so that a softmax gives them back.
    probability_output: bool,
    info: ModelInfo,
    budget: QueryBudget,
    plain_constants: HashMap<String, Value>,
    autodiff_constants: HashMap<String, Value>,
    host_weights: std::sync::Arc<host_conv::WeightCache>,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish()
    }
}

impl OnnxModel {
    pub fn load(path: &Path) -> Result<Self> {
        let model = ModelProto::read(path)?;
        let in_file = |e: MlError| MlError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let graph = &model.graph;
        let unsupported: Vec<(String, String)> = graph
            .all_nodes()
            .into_iter()
            .enumerate()
            .filter(|(_, n)| {
                !(n.domain.is_empty() || n.domain == "ai.onnx")
                    || !SUPPORTED.contains(&n.op_type.as_str())
            })
            .map(|(i, n)| {
                let op = if n.domain.is_empty() {
                    n.op_type.clone()
                } else {
                    format!("{}::{}", n.domain, n.op_type)
                };
                (op, node_label(n, i))
            })
            .collect();
        if !unsupported.is_empty() {
            // Each operator once, with the first node that uses it.
            let mut names: Vec<String> = Vec::new();
            let mut seen: Vec<&str> = Vec::new();
            for (op, node) in &unsupported {
                if !seen.contains(&op.as_str()) {
                    seen.push(op);
                    names.push(format!("{op} ({node})"));
                }
            }
            names.sort();
            return Err(MlError::Format {
                path: path.to_path_buf(),
                message: format!(
                    "unsupported operator(s) {}; aisec evaluates {}",
                    names.join(", "),
                    SUPPORTED.join(", ")
                ),
            });
        }
        let initialized: Vec<&str> = graph.initializers.iter().map(|t| t.name.as_str()).collect();
        let input = graph
            .inputs
            .iter()
            .find(|i| !initialized.contains(&i.name.as_str()))
            .ok_or_else(|| MlError::Format {
                path: path.to_path_buf(),
                message: "the graph has no input".into(),
            })?;
        // A second input the nodes read (a key fed beside the data, a mask) is one aisec
        // cannot supply: say so rather than fail on the first node that reads it.
        let read: std::collections::HashSet<&str> = graph
            .nodes
            .iter()
            .flat_map(|n| n.inputs.iter().map(String::as_str))
            .collect();
        let others: Vec<&str> = graph
            .inputs
            .iter()
            .filter(|i| i.name != input.name && !initialized.contains(&i.name.as_str()))
            .map(|i| i.name.as_str())
            .filter(|name| read.contains(name))
            .collect();
        if !others.is_empty() {
            return Err(MlError::Format {
                path: path.to_path_buf(),
                message: format!(
                    "the graph reads {} input(s) besides `{}`: {}; aisec evaluates classifiers with one input",
                    others.len(),
                    input.name,
                    others.join(", ")
                ),
            });
        }
        if input.elem_type != FLOAT {
            return Err(MlError::Format {
                path: path.to_path_buf(),
                message: format!(
                    "input `{}` has element type {}; aisec attacks float inputs",
                    input.name, input.elem_type
                ),
            });
        }
        let sample: Vec<usize> = input
            .shape
            .iter()
            .skip(1)
            .map(|d| d.and_then(|v| usize::try_from(v).ok()).unwrap_or(0))
            .collect();
        if sample.is_empty() || sample.contains(&0) {
            return Err(MlError::Format {
                path: path.to_path_buf(),
                message: format!(
                    "input `{}` has shape {:?}; aisec needs fixed dimensions after the batch axis",
                    input.name, input.shape
                ),
            });
        }
        let output = graph.outputs.first().ok_or_else(|| MlError::Format {
            path: path.to_path_buf(),
            message: "the graph has no output".into(),
        })?;
        // Attacks want logits: when the model ends in Softmax or LogSoftmax (PyTorch's
        // classic MNIST example ends in log_softmax), its input is the logits.
        let logits_name = match graph
            .nodes
            .iter()
            .find(|n| n.outputs.contains(&output.name))
        {
            Some(n) if n.op_type == "Softmax" || n.op_type == "LogSoftmax" => n
                .inputs
                .first()
                .cloned()
                .unwrap_or_else(|| output.name.clone()),
            _ => output.name.clone(),
        };
        let probability_output =
            logits_name == output.name && made_by_softmax(&[graph], &output.name, 0);
        let constants = |device: &Device| -> Result<HashMap<String, Value>> {
            graph
                .all_initializers()
                .into_iter()
                .map(|t| Ok((t.name.clone(), tensor_value(t, device)?)))
                .collect()
        };
        let opset = model
            .opsets
            .iter()
            .find(|(d, _)| d.is_empty() || d == "ai.onnx")
            .map_or(0, |(_, v)| *v);
        let mut m = OnnxModel {
            path: path.to_path_buf(),
            input_name: input.name.clone(),
            logits_name,
            probability_output,
            info: ModelInfo {
                description: format!(
                    "onnx {} (opset {opset}, {} nodes{}){}",
                    path.display(),
                    graph.nodes.len(),
                    if probability_output {
                        "; its output is probabilities, read as log-probabilities"
                    } else {
                        ""
                    },
                    tensor::compute().suffix()
                ),
                input_shape: sample.clone(),
                num_classes: 0,
                input_range: None,
            },
            budget: QueryBudget::new(None),
            plain_constants: constants(&tensor::device()).map_err(in_file)?,
            autodiff_constants: constants(&tensor::autodiff_device()).map_err(in_file)?,
            host_weights: Default::default(),
            model,
        };
        m.host_weights = std::sync::Arc::new(host_conv::WeightCache::new(
            &m.model.graph.nodes,
            &m.plain_constants,
        ));
        // One forward pass on zeros checks shapes and finds the number of classes.
        let features: usize = sample.iter().product();
        let probe = m
            .run(
                tensor::matrix(&vec![0.0; features], 1, &tensor::device()),
                &m.plain_constants,
            )
            .map_err(in_file)?;
        let classes = probe.dims()[1];
        if classes < 2 {
            return Err(MlError::Format { path: path.to_path_buf(), message: format!("the model outputs {classes} score per input; aisec needs a classifier with at least two classes") });
        }
        m.info.num_classes = classes;
        Ok(m)
    }

    pub fn with_budget(mut self, max: Option<u64>) -> Self {
        self.budget = QueryBudget::new(max);
        self
    }

    /// Evaluates the graph on `[n, features]` inputs; returns `[n, classes]` logits.
    fn run(&self, x: Tensor<2>, constants: &HashMap<String, Value>) -> Result<Tensor<2>> {
        let device = x.device();
        let n = x.dims()[0];
        let mut shape = vec![n];
        shape.extend(&self.info.input_shape);
        let mut values: HashMap<&str, Value> = HashMap::new();
        values.insert(self.input_name.as_str(), Value::F2(x).reshape(&shape)?);
        evaluate(
            &self.model.graph.nodes,
            &mut values,
            &[],
            constants,
            &device,
            Some(&self.logits_name),
        )?;
        let logits = values.remove(self.logits_name.as_str()).ok_or_else(|| {
            MlError::Invalid(format!("the graph never produces `{}`", self.logits_name))
        })?;
        let dims = logits.dims();
        let per_row: usize = dims.iter().skip(1).product();
        let out = logits.reshape(&[n, per_row])?.float2()?;
        Ok(if self.probability_output {
            out.clamp_min(1e-30).log()
        } else {
            out
        })
    }

    fn logits_plain(&self, x: &[f32]) -> Result<Vec<f32>> {
        let n = rows(x, self.info.features())?;
        let f = self.info.features();
        // Rows are independent: a batch queried from the main thread (a Square run of one
        // part, an evaluation) is split across the cores, with the same answers. Threads
        // an attack already runs on every core do not split again.
        let workers = crate::model::worker_threads().min(n / MIN_ROWS_PER_WORKER);
        if workers > 1 && std::thread::current().name() == Some("main") {
            let per = n.div_ceil(workers);
            let parts: Vec<Result<Vec<f32>>> = std::thread::scope(|scope| {
                let handles: Vec<_> = x
                    .chunks(per * f)
                    .map(|part| scope.spawn(move || self.logits_sequential(part)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(MlError::Invalid("a query thread panicked".into()))
                        })
                    })
                    .collect()
            });
            let mut out = Vec::with_capacity(n * self.info.num_classes);
            for part in parts {
                out.extend(part?);
            }
            return Ok(out);
        }
        self.logits_sequential(x)
    }

    fn logits_sequential(&self, x: &[f32]) -> Result<Vec<f32>> {
        let f = self.info.features();
        let n = x.len() / f.max(1);
        let mut out = Vec::with_capacity(n * self.info.num_classes);
        for chunk in x.chunks(512 * f) {
            let logits = self.host_weights.active(|| {
                self.run(
                    tensor::matrix(chunk, chunk.len() / f, &tensor::device()),
                    &self.plain_constants,
                )
            })?;
            out.extend(tensor::to_vec(logits));
        }
        Ok(out)
    }
}

impl LocalModel for OnnxModel {
    fn model_info(&self) -> &ModelInfo {
        &self.info
    }

    fn plain_logits(&self, x: &[f32]) -> Result<Vec<f32>> {
        self.logits_plain(x)
    }

    fn query_budget(&self) -> &QueryBudget {
        &self.budget
    }
}

impl Differentiable for OnnxModel {
    fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        self.host_weights
            .active(|| self.run(x, &self.autodiff_constants))
    }

    /// The weights are constants made from data, never tracked.
    fn gradient_threads(&self) -> crate::model::GradientThreads {
        crate::model::GradientThreads::Concurrent
    }
}
