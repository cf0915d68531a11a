//! Replacing a parameter's value without losing its gradient tracking.

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
