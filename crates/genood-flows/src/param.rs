//! Replacing a parameter's value without losing its gradient tracking, and changing a whole
//! module's precision.

use burn::module::Param;
use burn::prelude::*;

/// `param` with its value replaced by `value` (detached), keeping its id and, on an autodiff
/// device, its gradient tracking. `Param::map` alone would hand back an untracked leaf, and the
/// parameter would silently stop training.
pub fn replace_value<const D: usize>(
    param: Param<Tensor<D>>,
    value: Tensor<D>,
) -> Param<Tensor<D>> {
    param.map(|old| {
        let value = value.detach();
        if old.is_require_grad() {
            value.require_grad()
        } else {
            value
        }
    })
}

/// `module` with every float parameter converted to `dtype`, e.g. a model trained in `f32`
/// evaluated in `f64` where finite differences need the digits.
pub fn cast_parameters<M: burn::module::Module>(module: M, dtype: burn::tensor::FloatDType) -> M {
    struct Cast(burn::tensor::FloatDType);
    impl burn::module::ModuleMapper for Cast {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let dtype = self.0;
            param.map(|t| t.cast(dtype))
        }
    }
    module.map(&mut Cast(dtype))
}
