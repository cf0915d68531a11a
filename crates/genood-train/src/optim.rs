//! Adam and Adamax over a whole module, with global gradient-norm clipping and a state that is
//! saved by parameter name (so it survives a reload, unlike parameter ids).

use std::collections::HashMap;
use std::path::Path;

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Gradients;
use genood_flows::host::{tensor_from_f32, to_f32_vec};
use genood_models::config::OptimizerKind;

use crate::params::{gradients_by_path, map_parameters};
use crate::weights::{NamedTensors, WeightsError, read_safetensors, write_safetensors};

const BETA_1: f64 = 0.9;
const BETA_2: f64 = 0.999;
const EPSILON: f64 = 1e-8;

/// The outcome of one optimiser step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StepOutcome {
    /// Parameters updated; the global gradient norm before clipping.
    Applied {
        /// L2 norm of all gradients together.
        grad_norm: f64,
    },
    /// The gradient was not finite; nothing changed.
    SkippedNonFinite,
}

/// Per-parameter moments, flattened.
#[derive(Debug, Clone)]
struct Moments {
    first: Tensor<1>,
    /// Adam: the running mean of squared gradients. Adamax: the running max of |g|.
    second: Tensor<1>,
}

/// Adam or Adamax with bias correction, keyed by parameter path.
#[derive(Debug, Clone)]
pub struct Optimizer {
    kind: OptimizerKind,
    max_grad_norm: Option<f64>,
    /// Number of updates applied so far.
    time: u64,
    moments: HashMap<String, Moments>,
}

impl Optimizer {
    /// A fresh optimiser.
    pub fn new(kind: OptimizerKind, max_grad_norm: Option<f64>) -> Self {
        Self {
            kind,
            max_grad_norm,
            time: 0,
            moments: HashMap::new(),
        }
    }

    /// Updates applied so far.
    pub fn time(&self) -> u64 {
        self.time
    }

    /// One update of `module` from `grads` at learning rate `lr`. A non-finite gradient leaves
    /// both the module and the state untouched.
    pub fn step<M: Module>(&mut self, module: M, grads: &Gradients, lr: f64) -> (M, StepOutcome) {
        let found = gradients_by_path(&module, grads);
        self.apply(module, found, lr)
    }

    /// [`Optimizer::step`] from gradients already gathered by parameter path, in module order
    /// (as [`gradients_by_path`] lists them, or summed over data-parallel workers).
    pub fn apply<M: Module>(
        &mut self,
        module: M,
        found: Vec<(String, Tensor<1>)>,
        lr: f64,
    ) -> (M, StepOutcome) {
        // Summed in module order: a hash map's order changes from process to process, and so
        // would the norm's last bits, the clipping factor and, soon, the whole run.
        let Some(squared_norm) = found
            .iter()
            .map(|(_, g)| g.clone().square().sum())
            .reduce(|a, b| a + b)
        else {
            return (module, StepOutcome::Applied { grad_norm: 0.0 });
        };
        let mut gradients: HashMap<String, Tensor<1>> = found.into_iter().collect();
        let grad_norm = squared_norm.into_scalar::<f64>().sqrt();
        if !grad_norm.is_finite() {
            return (module, StepOutcome::SkippedNonFinite);
        }
        let clip = match self.max_grad_norm {
            Some(max) if grad_norm > max => max / grad_norm,
            _ => 1.0,
        };
        self.time += 1;
        let t = self.time as i32;
        let kind = self.kind;
        let moments = &mut self.moments;
        let module = map_parameters(module, |path, value, _| {
            let Some(grad) = gradients.remove(path) else {
                return value;
            };
            let grad = grad.mul_scalar(clip);
            let previous = moments.remove(path);
            let (first, second) = match previous {
                Some(m) => (m.first.mul_scalar(BETA_1), m.second.mul_scalar(BETA_2)),
                None => (grad.zeros_like(), grad.zeros_like()),
            };
            let first = first + grad.clone().mul_scalar(1.0 - BETA_1);
            let bias_1 = 1.0 - BETA_1.powi(t);
            let (second, update) = match kind {
                OptimizerKind::Adam => {
                    let second = second + grad.square().mul_scalar(1.0 - BETA_2);
                    let bias_2 = 1.0 - BETA_2.powi(t);
                    let denominator = second.clone().div_scalar(bias_2).sqrt().add_scalar(EPSILON);
                    (second, first.clone().div_scalar(bias_1) / denominator)
                }
                OptimizerKind::Adamax => {
                    let second = second.max_pair(grad.abs());
                    let denominator = second.clone().add_scalar(EPSILON);
                    (second, first.clone().div_scalar(bias_1) / denominator)
                }
            };
            let updated = value.detach() - update.mul_scalar(lr);
            moments.insert(path.to_string(), Moments { first, second });
            updated
        });
        (module, StepOutcome::Applied { grad_norm })
    }

    /// Saves the moments (`first.<path>`, `second.<path>`) and the update count, atomically.
    pub fn save(&self, path: &Path) -> Result<(), WeightsError> {
        let mut tensors = NamedTensors::new();
        for (name, m) in &self.moments {
            for (prefix, t) in [("first", &m.first), ("second", &m.second)] {
                let values = to_f32_vec(t.clone());
                tensors.insert(format!("{prefix}.{name}"), (vec![values.len()], values));
            }
        }
        let metadata = HashMap::from([
            ("time".to_string(), self.time.to_string()),
            (
                "kind".to_string(),
                serde_json::to_string(&self.kind).expect("serialisable"),
            ),
        ]);
        write_safetensors(path, &tensors, metadata)
    }

    /// Restores a state written by [`Optimizer::save`] onto `device`.
    pub fn load(
        kind: OptimizerKind,
        max_grad_norm: Option<f64>,
        path: &Path,
        device: &Device,
    ) -> Result<Self, WeightsError> {
        let (tensors, metadata) = read_safetensors(path)?;
        let mismatch = |name: &str, reason: &str| WeightsError::Mismatch {
            path: path.to_path_buf(),
            name: name.to_string(),
            reason: reason.to_string(),
        };
        let time = metadata
            .get("time")
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| mismatch("__metadata__.time", "missing or not a number"))?;
        let mut firsts = HashMap::new();
        let mut seconds = HashMap::new();
        for (name, (_, values)) in tensors {
            let len = values.len();
            let tensor = tensor_from_f32(values, [len], device);
            if let Some(param) = name.strip_prefix("first.") {
                firsts.insert(param.to_string(), tensor);
            } else if let Some(param) = name.strip_prefix("second.") {
                seconds.insert(param.to_string(), tensor);
            } else {
                return Err(mismatch(&name, "neither a first nor a second moment"));
            }
        }
        let mut moments = HashMap::new();
        for (param, first) in firsts {
            let second = seconds
                .remove(&param)
                .ok_or_else(|| mismatch(&format!("second.{param}"), "missing"))?;
            moments.insert(param, Moments { first, second });
        }
        Ok(Self {
            kind,
            max_grad_norm,
            time,
            moments,
        })
    }
}
