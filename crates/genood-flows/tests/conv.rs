//! The CPU convolution kernel against burn's own `conv2d`, values and all three gradients,
//! in f64 through the public `conv2d_same`.

use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use genood_flows::conv::conv2d_same;
use genood_flows::host::to_f64_vec;
use genood_flows::testing::{f64_device, max_abs_diff, random_input};

const TOL: f64 = 1e-12;

/// Output and gradients of `conv` on `x`, `weight`, `bias`, with a weighted sum as the loss
/// so that every output element gets its own upstream gradient.
fn run(
    conv: impl Fn(Tensor<4>, Tensor<4>, Tensor<1>) -> Tensor<4>,
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    upstream: Tensor<4>,
) -> [Vec<f64>; 4] {
    let x = x.require_grad();
    let weight = weight.require_grad();
    let bias = bias.require_grad();
    let out = conv(x.clone(), weight.clone(), bias.clone());
    let grads = (out.clone() * upstream).sum().backward();
    [
        to_f64_vec(out),
        to_f64_vec(x.grad(&grads).expect("x gradient")),
        to_f64_vec(weight.grad(&grads).expect("weight gradient")),
        to_f64_vec(bias.grad(&grads).expect("bias gradient")),
    ]
}

fn burn_conv(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    let k = weight.dims()[2];
    conv2d(
        x,
        weight,
        Some(bias),
        ConvOptions::new([1, 1], [k / 2, k / 2], [1, 1], 1),
    )
}

fn check(batch: usize, inputs: usize, outputs: usize, height: usize, width: usize, k: usize) {
    let device = f64_device().autodiff();
    let seed = (batch * 1000 + inputs * 100 + outputs * 10 + k) as u64;
    // A channel slice of a wider tensor: the kernel must not assume a contiguous input.
    let wide = random_input([batch, inputs + 2, height, width], seed, &device);
    let x = wide.narrow(1, 1, inputs);
    let weight = random_input([outputs, inputs, k, k], seed + 1, &device);
    let bias = random_input([1, outputs, 1, 1], seed + 2, &device).reshape([outputs]);
    let upstream = random_input([batch, outputs, height, width], seed + 3, &device);
    let ours = run(
        conv2d_same,
        x.clone(),
        weight.clone(),
        bias.clone(),
        upstream.clone(),
    );
    let reference = run(burn_conv, x, weight, bias, upstream);
    for (name, (a, b)) in ["output", "∂x", "∂weight", "∂bias"]
        .iter()
        .zip(ours.iter().zip(&reference))
    {
        let error = max_abs_diff(a, b);
        assert!(
            error < TOL,
            "{name} of [{batch}, {inputs}, {height}, {width}] * {k}×{k} → {outputs}: {error}"
        );
    }
}

#[test]
fn three_by_three_matches_burn() {
    check(2, 3, 4, 5, 7, 3);
    check(3, 16, 8, 7, 7, 3);
    check(1, 2, 16, 14, 14, 3);
}

#[test]
fn one_by_one_matches_burn() {
    check(2, 16, 16, 6, 6, 1);
    check(1, 1, 2, 4, 4, 1);
}

#[test]
fn larger_kernels_and_single_pixels_match_burn() {
    check(2, 2, 3, 6, 5, 5);
    check(2, 3, 2, 1, 1, 3);
}

#[test]
fn without_gradients_matches_burn() {
    let device = f64_device();
    let x = random_input([2, 4, 6, 6], 7, &device);
    let weight = random_input([5, 4, 3, 3], 8, &device);
    let bias = random_input([1, 5, 1, 1], 9, &device).reshape([5]);
    let ours = conv2d_same(x.clone(), weight.clone(), bias.clone());
    let reference = burn_conv(x, weight, bias);
    assert!(max_abs_diff(&to_f64_vec(ours), &to_f64_vec(reference)) < TOL);
}
