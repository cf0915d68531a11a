//! The flows' `same`-padded convolution, with a faster CPU kernel.
//!
//! On the CPU backend the flow's small convolutions (a few to a few dozen channels, 7×7 to
//! 32×32 planes) spend most of their time in layout changes and many tiny matrix products.
//! [`kernel`] computes forward and both gradients as `k²` large products over the whole batch
//! instead (3 to 4 times faster per convolution on the quick Glow's shapes). It is plugged
//! into burn as a backend extension for the CPU backend and its autodiff wrapper; every other
//! device, and float types the kernel does not cover (bf16), use burn's own `conv2d`.

pub mod kernel;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, DType, Flex, backend_extension};
use burn::backend::{Dispatch, DispatchDevice};
use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Element, TensorData};
use bytemuck::Pod;

use kernel::Geometry;

/// `conv(x, weight) + bias` with stride 1 and `same` padding: `x` `[n, c, h, w]`, `weight`
/// `[o, c, k, k]` with `k` odd, `bias` `[o]`; returns `[n, o, h, w]`. Differentiable.
pub fn conv2d_same(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    if runs_on_flex(&x.device()) {
        let out = <Dispatch as SameConvBackend>::same_conv(
            x.into_dispatch(),
            weight.into_dispatch(),
            bias.into_dispatch(),
        );
        return Tensor::from_dispatch(out);
    }
    let k = weight.dims()[2];
    conv2d(x, weight, Some(bias), options(k))
}

/// Whether `device` is the CPU backend, directly or under autodiff.
fn runs_on_flex(device: &Device) -> bool {
    match device.as_dispatch() {
        DispatchDevice::Flex(_) => true,
        DispatchDevice::Autodiff(inner) => runs_on_flex(&Device::new(inner.clone().inner())),
        #[allow(unreachable_patterns)]
        _ => false,
    }
}

/// Stride 1, `same` padding for an odd `kernel`.
fn options(kernel: usize) -> ConvOptions<2> {
    ConvOptions::new([1, 1], [kernel / 2, kernel / 2], [1, 1], 1)
}

/// The backend operation behind [`conv2d_same`].
#[backend_extension(Flex, Autodiff)]
pub trait SameConvBackend: Backend {
    /// `conv(x, weight) + bias`, `same` padding, stride 1.
    fn same_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

impl SameConvBackend for Flex {
    fn same_conv(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        let [x, weight, bias] = contiguous([x, weight, bias]);
        let g = geometry(&x, &weight);
        match x.dtype() {
            DType::F32 => forward_in::<f32>(&g, &x, &weight, &bias),
            DType::F64 => forward_in::<f64>(&g, &x, &weight, &bias),
            _ => Flex::conv2d(x, weight, Some(bias), options(g.kernel)),
        }
    }
}

/// [`kernel::forward`] on tensors of element type `T`.
fn forward_in<T: kernel::Real + Element + Pod>(
    g: &Geometry,
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
) -> FlexTensor {
    let out = kernel::forward(g, values::<T>(x), values::<T>(weight), values::<T>(bias));
    from_vec(out, [g.batch, g.outputs, g.height, g.width])
}

/// [`kernel::backward`] on tensors of element type `T`.
fn backward_in<T: kernel::Real + Element + Pod>(
    g: &Geometry,
    x: &FlexTensor,
    weight: &FlexTensor,
    grad: &FlexTensor,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let (dx, dw, db) = kernel::backward(g, values::<T>(x), values::<T>(weight), values::<T>(grad));
    (
        from_vec(dx, [g.batch, g.inputs, g.height, g.width]),
        from_vec(dw, [g.outputs, g.inputs, g.kernel, g.kernel]),
        from_vec(db, [g.outputs]),
    )
}

/// `(∂x, ∂weight, ∂bias)` of [`SameConvBackend::same_conv`] on the CPU backend.
fn same_conv_backward(
    x: FlexTensor,
    weight: FlexTensor,
    grad: FlexTensor,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let [x, weight, grad] = contiguous([x, weight, grad]);
    let g = geometry(&x, &weight);
    match x.dtype() {
        DType::F32 => backward_in::<f32>(&g, &x, &weight, &grad),
        DType::F64 => backward_in::<f64>(&g, &x, &weight, &grad),
        _ => {
            let opts = options(g.kernel);
            let bias = FlexTensor::zeros([g.outputs].into(), x.dtype());
            (
                Flex::conv2d_x_backward(x.clone(), weight.clone(), grad.clone(), opts.clone()),
                Flex::conv2d_weight_backward(x.clone(), weight, grad.clone(), opts),
                Flex::conv2d_bias_backward(x, bias, grad),
            )
        }
    }
}

/// The autodiff node of [`SameConvBackend::same_conv`] on the CPU backend.
#[derive(Debug)]
struct SameConvGrad;

impl Backward<Flex, 3> for SameConvGrad {
    type State = (NodeId, NodeId);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x_state, weight_state) = ops.state;
        let x = checkpointer.retrieve_node_output::<FlexTensor>(x_state);
        let weight = checkpointer.retrieve_node_output::<FlexTensor>(weight_state);
        let (dx, dw, db) = same_conv_backward(x, weight, grad);
        for (node, value) in [(node_x, dx), (node_weight, dw), (node_bias, db)] {
            if let Some(node) = node {
                grads.register::<Flex>(node.id, value);
            }
        }
    }
}

impl<C: CheckpointStrategy> SameConvBackend for Autodiff<Flex, C> {
    fn same_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let prepared = SameConvGrad
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful();
        match prepared {
            OpsKind::Tracked(mut prep) => {
                let state = (prep.checkpoint(&x), prep.checkpoint(&weight));
                let out = Flex::same_conv(
                    x.into_primitive(),
                    weight.into_primitive(),
                    bias.into_primitive(),
                );
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::same_conv(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
            )),
        }
    }
}

/// The shapes of `x` convolved with `weight`.
fn geometry(x: &FlexTensor, weight: &FlexTensor) -> Geometry {
    let dims = |t: &FlexTensor| -> [usize; 4] {
        t.layout()
            .shape()
            .to_vec()
            .try_into()
            .expect("a convolution takes 4-d tensors")
    };
    Geometry::new(dims(x), dims(weight))
}

/// The elements of a tensor made contiguous by [`contiguous`].
fn values<T: Element + Pod>(t: &FlexTensor) -> &[T] {
    t.as_slice()
        .expect("the tensor was made contiguous, in the matching dtype")
}

/// Owned, row-major copies (or the tensors themselves when they already are).
fn contiguous<const N: usize>(tensors: [FlexTensor; N]) -> [FlexTensor; N] {
    tensors.map(|t| t.to_contiguous())
}

/// A contiguous tensor of `shape` holding `values`.
fn from_vec<T: Element, const D: usize>(values: Vec<T>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}
