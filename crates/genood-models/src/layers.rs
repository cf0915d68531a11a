//! Plain building blocks of the non-flow models: convolutions with explicit (possibly
//! one-sided) padding, transposed convolutions and dense layers. Weights are drawn on the host
//! from the model's seeded generator, `N(0, 1/fan_in)`, so a seed fixes the whole model.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, PadMode};
use genood_flows::host::{normal_vec, tensor_from_f64};
use rand::Rng;

fn weight<const D: usize>(
    shape: [usize; D],
    fan_in: usize,
    rng: &mut impl Rng,
    device: &Device,
) -> Param<Tensor<D>> {
    let count = shape.iter().product();
    let std = (1.0 / fan_in as f64).sqrt();
    Param::from_tensor(tensor_from_f64(normal_vec(rng, count, std), shape, device))
}

/// Zero padding `[top, bottom, left, right]`.
pub type Padding = [usize; 4];

/// A 2-D convolution with its own zero padding (one-sided for the causal convolutions of
/// PixelCNN++) and stride.
#[derive(Module, Debug)]
pub struct Conv2d {
    /// `[out, in, kh, kw]`.
    pub weight: Param<Tensor<4>>,
    /// `[out]`.
    pub bias: Param<Tensor<1>>,
    #[module(skip)]
    padding: Padding,
    #[module(skip)]
    stride: usize,
}

impl Conv2d {
    /// A `kernel = [kh, kw]` convolution.
    pub fn new(
        inputs: usize,
        outputs: usize,
        kernel: [usize; 2],
        stride: usize,
        padding: Padding,
        rng: &mut impl Rng,
        device: &Device,
    ) -> Self {
        let [kh, kw] = kernel;
        Self {
            weight: weight([outputs, inputs, kh, kw], inputs * kh * kw, rng, device),
            bias: Param::from_tensor(Tensor::zeros([outputs], device)),
            padding,
            stride,
        }
    }

    /// A `k × k` convolution that keeps the image size (k odd) and starts at exactly zero (a
    /// residual branch or an output that begins neutral).
    pub fn same_zeros(inputs: usize, outputs: usize, k: usize, device: &Device) -> Self {
        let p = k / 2;
        Self {
            weight: Param::from_tensor(Tensor::zeros([outputs, inputs, k, k], device)),
            bias: Param::from_tensor(Tensor::zeros([outputs], device)),
            padding: [p; 4],
            stride: 1,
        }
    }

    /// A `k × k` convolution that keeps the image size (k odd).
    pub fn same(
        inputs: usize,
        outputs: usize,
        k: usize,
        rng: &mut impl Rng,
        device: &Device,
    ) -> Self {
        let p = k / 2;
        Self::new(inputs, outputs, [k, k], 1, [p, p, p, p], rng, device)
    }

    /// Applies the convolution.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [top, bottom, left, right] = self.padding;
        let x = if self.padding == [0; 4] {
            x
        } else {
            x.pad((left, right, top, bottom), PadMode::Constant(0.0))
        };
        let options = ConvOptions::new([self.stride; 2], [0, 0], [1, 1], 1);
        conv2d(x, self.weight.val(), Some(self.bias.val()), options)
    }
}

/// A transposed convolution (learned up-sampling).
#[derive(Module, Debug)]
pub struct Deconv2d {
    /// `[in, out, kh, kw]`.
    pub weight: Param<Tensor<4>>,
    /// `[out]`.
    pub bias: Param<Tensor<1>>,
    #[module(skip)]
    stride: usize,
    #[module(skip)]
    padding: usize,
    #[module(skip)]
    output_padding: usize,
}

impl Deconv2d {
    /// A `kernel = [kh, kw]` transposed convolution; output side
    /// `(n − 1)·stride − 2·padding + k + output_padding`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        inputs: usize,
        outputs: usize,
        kernel: [usize; 2],
        stride: usize,
        padding: usize,
        output_padding: usize,
        rng: &mut impl Rng,
        device: &Device,
    ) -> Self {
        let [kh, kw] = kernel;
        Self {
            weight: weight(
                [inputs, outputs, kh, kw],
                inputs * kh * kw / (stride * stride),
                rng,
                device,
            ),
            bias: Param::from_tensor(Tensor::zeros([outputs], device)),
            stride,
            padding,
            output_padding,
        }
    }

    /// Applies the transposed convolution.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let options = ConvTransposeOptions::new(
            [self.stride; 2],
            [self.padding; 2],
            [self.output_padding; 2],
            [1, 1],
            1,
        );
        conv_transpose2d(x, self.weight.val(), Some(self.bias.val()), options)
    }
}

/// A fully connected layer.
#[derive(Module, Debug)]
pub struct Dense {
    /// `[in, out]`.
    pub weight: Param<Tensor<2>>,
    /// `[out]`.
    pub bias: Param<Tensor<1>>,
}

impl Dense {
    /// A dense layer with `N(0, 1/inputs)` weights and zero bias.
    pub fn new(inputs: usize, outputs: usize, rng: &mut impl Rng, device: &Device) -> Self {
        Self {
            weight: weight([inputs, outputs], inputs, rng, device),
            bias: Param::from_tensor(Tensor::zeros([outputs], device)),
        }
    }

    /// A dense layer that starts at exactly zero (an identity coupling, a neutral output).
    pub fn zeros(inputs: usize, outputs: usize, device: &Device) -> Self {
        Self {
            weight: Param::from_tensor(Tensor::zeros([inputs, outputs], device)),
            bias: Param::from_tensor(Tensor::zeros([outputs], device)),
        }
    }

    /// `x W + b` for `x` of shape `[batch, in]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        x.matmul(self.weight.val()) + self.bias.val().unsqueeze()
    }
}
