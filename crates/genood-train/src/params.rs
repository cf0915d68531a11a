//! Walking a module's float parameters by their dotted path names (`flow.levels.0.…`).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Gradients;
use genood_flows::param::replace_value;

/// Tracks the dotted path of the parameter being visited or mapped.
#[derive(Debug, Default)]
pub struct PathTracker {
    parts: Vec<String>,
}

impl PathTracker {
    /// Descends into a field or element.
    pub fn enter(&mut self, name: &str) {
        self.parts.push(name.to_string());
    }

    /// Returns to the parent.
    pub fn exit(&mut self) {
        self.parts.pop();
    }

    /// The current path, parts joined by `.`.
    pub fn path(&self) -> String {
        self.parts.join(".")
    }
}

/// Calls `f(path, tensor)` for every float parameter of `module`.
pub fn for_each_parameter<M: Module>(module: &M, f: impl FnMut(&str, Tensor<1>, Vec<usize>)) {
    struct Visitor<F> {
        path: PathTracker,
        f: F,
    }
    impl<F: FnMut(&str, Tensor<1>, Vec<usize>)> ModuleVisitor for Visitor<F> {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.enter(name);
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.exit();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let value = param.val();
            let shape = value.dims().to_vec();
            (self.f)(&self.path.path(), value.reshape([-1]), shape);
        }
    }
    module.visit(&mut Visitor {
        path: PathTracker::default(),
        f,
    });
}

/// The gradient of every float parameter that has one in `grads`, flattened, by path.
pub fn gradients_by_path<M: Module>(module: &M, grads: &Gradients) -> Vec<(String, Tensor<1>)> {
    struct Visitor<'a> {
        path: PathTracker,
        grads: &'a Gradients,
        found: Vec<(String, Tensor<1>)>,
    }
    impl ModuleVisitor for Visitor<'_> {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.enter(name);
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.exit();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            // The gradient belongs to the parameter's own tensor, not to a reshaped copy.
            if let Some(grad) = param.val().grad(self.grads) {
                self.found.push((self.path.path(), grad.reshape([-1])));
            }
        }
    }
    let mut visitor = Visitor {
        path: PathTracker::default(),
        grads,
        found: Vec::new(),
    };
    module.visit(&mut visitor);
    visitor.found
}

/// Replaces every float parameter of `module` by `f(path, current value, shape)` (the value
/// flattened; the result is reshaped back). Parameter ids and gradient settings are kept.
pub fn map_parameters<M: Module>(
    module: M,
    f: impl FnMut(&str, Tensor<1>, &[usize]) -> Tensor<1>,
) -> M {
    struct Mapper<F> {
        path: PathTracker,
        f: F,
    }
    impl<F: FnMut(&str, Tensor<1>, &[usize]) -> Tensor<1>> ModuleMapper for Mapper<F> {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.enter(name);
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.exit();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let path = self.path.path();
            let value = param.val();
            let shape = value.shape();
            let updated = (self.f)(&path, value.reshape([-1]), shape.as_slice()).reshape(shape);
            replace_value(param, updated)
        }
    }
    module.map(&mut Mapper {
        path: PathTracker::default(),
        f,
    })
}
