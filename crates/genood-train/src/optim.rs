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

/// The moments of every parameter one step updated, concatenated in module order, so that a
/// step is a few operations on two long vectors instead of a dozen per parameter tensor.
#[derive(Debug, Clone)]
struct FlatMoments {
    /// Each parameter's path and length, in order.
    layout: Vec<(String, usize)>,
    moments: Moments,
}

impl FlatMoments {
    /// The moments cut back into one pair per parameter path.
    fn split(self) -> impl Iterator<Item = (String, Moments)> {
        let mut offset = 0;
        let Moments { first, second } = self.moments;
        self.layout.into_iter().map(move |(path, len)| {
            let moments = Moments {
                first: first.clone().narrow(0, offset, len),
                second: second.clone().narrow(0, offset, len),
            };
            offset += len;
            (path, moments)
        })
    }
}

/// Adam or Adamax with bias correction, keyed by parameter path.
#[derive(Debug, Clone)]
pub struct Optimizer {
    kind: OptimizerKind,
    max_grad_norm: Option<f64>,
    /// Number of updates applied so far.
    time: u64,
    /// The moments of the parameters the last step updated.
    flat: Option<FlatMoments>,
    /// Moments of other parameters (all of them after a load), by path.
    moments: HashMap<String, Moments>,
}

impl Optimizer {
    /// A fresh optimiser.
    pub fn new(kind: OptimizerKind, max_grad_norm: Option<f64>) -> Self {
        Self {
            kind,
            max_grad_norm,
            time: 0,
            flat: None,
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
        if found.is_empty() {
            return (module, StepOutcome::Applied { grad_norm: 0.0 });
        }
        let layout: Vec<(String, usize)> = found
            .iter()
            .map(|(path, g)| (path.clone(), g.dims()[0]))
            .collect();
        // One vector in module order: its norm's last bits (and so the clipping factor and
        // the run) must not depend on a hash map's order.
        let grad = Tensor::cat(found.into_iter().map(|(_, g)| g).collect(), 0);
        let grad_norm = grad.clone().square().sum().into_scalar::<f64>().sqrt();
        if !grad_norm.is_finite() {
            return (module, StepOutcome::SkippedNonFinite);
        }
        let clip = match self.max_grad_norm {
            Some(max) if grad_norm > max => max / grad_norm,
            _ => 1.0,
        };
        self.time += 1;
        let t = self.time as i32;
        let grad = grad.mul_scalar(clip);
        let Moments { first, second } = self.moments_laid_out(&layout, &grad);
        let first = first.mul_scalar(BETA_1) + grad.clone().mul_scalar(1.0 - BETA_1);
        let bias_1 = 1.0 - BETA_1.powi(t);
        let (second, update) = match self.kind {
            OptimizerKind::Adam => {
                let second = second.mul_scalar(BETA_2) + grad.square().mul_scalar(1.0 - BETA_2);
                let bias_2 = 1.0 - BETA_2.powi(t);
                let denominator = second.clone().div_scalar(bias_2).sqrt().add_scalar(EPSILON);
                (second, first.clone().div_scalar(bias_1) / denominator)
            }
            OptimizerKind::Adamax => {
                let second = second.mul_scalar(BETA_2).max_pair(grad.abs());
                let denominator = second.clone().add_scalar(EPSILON);
                (second, first.clone().div_scalar(bias_1) / denominator)
            }
        };
        let step = update.mul_scalar(lr);
        let mut offsets = HashMap::with_capacity(layout.len());
        let mut offset = 0;
        for (path, len) in &layout {
            offsets.insert(path.as_str(), (offset, *len));
            offset += len;
        }
        let module = map_parameters(module, |path, value, _| match offsets.get(path) {
            Some(&(offset, len)) => value.detach() - step.clone().narrow(0, offset, len),
            None => value,
        });
        self.flat = Some(FlatMoments {
            layout,
            moments: Moments { first, second },
        });
        (module, StepOutcome::Applied { grad_norm })
    }

    /// The moments for the parameters of `layout`, concatenated in its order: the last step's
    /// when it updated the same parameters, else gathered by path (zeros for a parameter never
    /// updated), the moments of parameters outside `layout` kept aside by path.
    fn moments_laid_out(&mut self, layout: &[(String, usize)], like: &Tensor<1>) -> Moments {
        if let Some(flat) = self.flat.take() {
            if flat.layout == layout {
                return flat.moments;
            }
            self.moments.extend(flat.split());
        }
        let (firsts, seconds): (Vec<_>, Vec<_>) = layout
            .iter()
            .map(|(path, len)| match self.moments.remove(path) {
                Some(m) => (m.first, m.second),
                None => {
                    let zeros = Tensor::zeros([*len], &like.device());
                    (zeros.clone(), zeros)
                }
            })
            .unzip();
        Moments {
            first: Tensor::cat(firsts, 0),
            second: Tensor::cat(seconds, 0),
        }
    }

    /// Saves the moments (`first.<path>`, `second.<path>`) and the update count, atomically.
    pub fn save(&self, path: &Path) -> Result<(), WeightsError> {
        let mut tensors = NamedTensors::new();
        let laid_out = self.flat.clone().into_iter().flat_map(FlatMoments::split);
        let aside = self.moments.iter().map(|(p, m)| (p.clone(), m.clone()));
        for (name, m) in laid_out.chain(aside) {
            for (prefix, t) in [("first", &m.first), ("second", &m.second)] {
                let values = to_f32_vec(t.clone());
                tensors.insert(format!("{prefix}.{name}"), (vec![values.len()], values));
            }
        }
        // One entry: safetensors writes the metadata in its hash map's order, which differs
        // from process to process, and identical runs must write identical bytes. The kind
        // of optimiser is in the run's config.json.
        let metadata = HashMap::from([("time".to_string(), self.time.to_string())]);
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
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                let reason = format!(
                    "element {i} is {}: the optimiser state is damaged",
                    values[i]
                );
                return Err(mismatch(&name, &reason));
            }
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
            flat: None,
            moments,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use genood_flows::actnorm::ActNorm;

    fn values(layer: &ActNorm) -> [Vec<f32>; 2] {
        [
            to_f32_vec(layer.bias.val().reshape([-1])),
            to_f32_vec(layer.log_scale.val().reshape([-1])),
        ]
    }

    fn gradient(values: [f32; 2], device: &Device) -> Tensor<1> {
        tensor_from_f32(values.to_vec(), [2], device)
    }

    /// Adam by hand, in f64, for one element: `(value, first, second)` after a step.
    fn adam(value: f64, first: f64, second: f64, g: f64, t: i32, lr: f64) -> [f64; 3] {
        let first = BETA_1 * first + (1.0 - BETA_1) * g;
        let second = BETA_2 * second + (1.0 - BETA_2) * g * g;
        let update =
            first / (1.0 - BETA_1.powi(t)) / ((second / (1.0 - BETA_2.powi(t))).sqrt() + EPSILON);
        [value - lr * update, first, second]
    }

    /// Three steps: both parameters, then only the bias, then both; the log-scale's moments
    /// wait unchanged through the step that skips it, also across a save and a load.
    #[test]
    fn moments_follow_each_parameter_across_steps_it_skips_and_a_reload() {
        let device = Device::flex();
        let lr = 0.01;
        let (g_bias, g_scale) = ([0.5, -2.0], [1.5, 0.25]);
        let steps: [Vec<(&str, [f32; 2])>; 3] = [
            vec![("bias", g_bias), ("log_scale", g_scale)],
            vec![("bias", g_scale)],
            vec![("bias", g_bias), ("log_scale", g_bias)],
        ];
        let run = |reload: bool| {
            let mut layer = ActNorm::new(2, &device);
            let mut optimizer = Optimizer::new(OptimizerKind::Adam, None);
            for (k, step) in steps.iter().enumerate() {
                if reload && k == 1 {
                    let dir =
                        std::env::temp_dir().join(format!("genood-optim-{}", std::process::id()));
                    std::fs::create_dir_all(&dir).expect("temp dir");
                    let file = dir.join("optimizer.safetensors");
                    optimizer.save(&file).expect("save");
                    optimizer =
                        Optimizer::load(OptimizerKind::Adam, None, &file, &device).expect("load");
                    std::fs::remove_dir_all(&dir).expect("clean up");
                }
                let found = step
                    .iter()
                    .map(|(path, g)| (path.to_string(), gradient(*g, &device)))
                    .collect();
                layer = optimizer.apply(layer, found, lr).0;
            }
            (values(&layer), optimizer.time())
        };
        // By hand: the bias steps at t = 1, 2, 3; the log-scale at t = 1 and 3.
        let mut expected = [vec![], vec![]];
        for i in 0..2 {
            let [v, m, s] = adam(0.0, 0.0, 0.0, g_bias[i].into(), 1, lr);
            let [v, m, s] = adam(v, m, s, g_scale[i].into(), 2, lr);
            expected[0].push(adam(v, m, s, g_bias[i].into(), 3, lr)[0]);
            let [v, m, s] = adam(0.0, 0.0, 0.0, g_scale[i].into(), 1, lr);
            expected[1].push(adam(v, m, s, g_bias[i].into(), 3, lr)[0]);
        }
        for reload in [false, true] {
            let (got, time) = run(reload);
            assert_eq!(time, 3);
            for (got, expected) in got.iter().zip(&expected) {
                for (g, e) in got.iter().zip(expected) {
                    assert!(
                        (f64::from(*g) - e).abs() < 1e-6,
                        "{g} vs {e} (reload {reload})"
                    );
                }
            }
        }
        assert_eq!(run(false).0, run(true).0, "a reload changes nothing");
    }
}
