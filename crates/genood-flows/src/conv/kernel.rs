//! A `k × k` convolution with `same` padding, stride 1 and a bias, forward and backward, as
//! a handful of large matrix products.
//!
//! The input is copied once into a channel-major, zero-padded buffer: row `c` holds channel
//! `c` of every image, one image after another, each image's lines followed by `p = ⌊k/2⌋`
//! zeros and each image by `p` zero lines, with `p` zero lines (and `p` zeros) before the
//! first image and after the last. The zeros after one line are also the zeros before the
//! next, and the zero lines after one image those before the next, so every kernel tap
//! `(i, j)` reads at one constant shift `(i − p)·(W + p) + (j − p)` of the flattened index,
//! and the convolution is `k²` products `out[:, q] += W[:, :, i, j] · x[:, q + shift(i, j)]`
//! over all positions `q` of the whole batch at once. The outputs at the padding positions are
//! computed and thrown away (15% extra work at 14×14, 31% at 7×7, for 3×3 kernels), which
//! costs far less than an im2col buffer `k²` times the input. Both gradients are `k²` products
//! of the same shape.
//!
//! Every sum runs in a fixed order on one thread, so results are bit-reproducible.

use std::iter::Sum;
use std::ops::Add;

/// The float types the kernels run in.
pub trait Real: Copy + Default + Add<Output = Self> + Sum + Send + Sync + 'static {
    /// The multiplicative identity.
    const ONE: Self;
}

impl Real for f32 {
    const ONE: Self = 1.0;
}

impl Real for f64 {
    const ONE: Self = 1.0;
}

/// The shapes of one convolution: `[batch, inputs, height, width]` in,
/// `[batch, outputs, height, width]` out, an odd `kernel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Images in the batch.
    pub batch: usize,
    /// Input channels.
    pub inputs: usize,
    /// Output channels.
    pub outputs: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Kernel side (odd).
    pub kernel: usize,
}

impl Geometry {
    /// The geometry of `x` (`[n, c, h, w]`) convolved with `weight` (`[o, c, k, k]`).
    ///
    /// # Panics
    /// If the channel counts disagree or the kernel is not square and odd.
    pub fn new(x: [usize; 4], weight: [usize; 4]) -> Self {
        let [batch, inputs, height, width] = x;
        let [outputs, weight_inputs, kernel, kernel_w] = weight;
        assert_eq!(inputs, weight_inputs, "input channels of x and weight");
        assert!(
            kernel == kernel_w && kernel % 2 == 1,
            "same-padding kernel must be square and odd, got {kernel}×{kernel_w}"
        );
        Self {
            batch,
            inputs,
            outputs,
            height,
            width,
            kernel,
        }
    }

    fn pad(&self) -> usize {
        self.kernel / 2
    }

    /// A line and the zeros after it.
    fn padded_width(&self) -> usize {
        self.width + self.pad()
    }

    /// An image and the zero lines after it.
    fn padded_plane(&self) -> usize {
        (self.height + self.pad()) * self.padded_width()
    }

    /// Positions of the whole batch, padding included: the columns of every product.
    fn positions(&self) -> usize {
        self.batch * self.padded_plane()
    }

    /// Zeros before the first and after the last position, so that every shift stays inside
    /// and reads zeros beyond the batch's edges.
    fn margin(&self) -> usize {
        self.pad() * (self.padded_width() + 1)
    }

    /// The length of one channel's row in a padded buffer.
    fn row(&self) -> usize {
        self.positions() + 2 * self.margin()
    }

    /// Offset of kernel tap `(i, j)` along a row, relative to the output position.
    fn shift(&self, i: usize, j: usize) -> isize {
        let pad = self.pad() as isize;
        (i as isize - pad) * self.padded_width() as isize + (j as isize - pad)
    }

    /// Kernel taps as `(index into a k×k plane, start of the shifted window in a row)`.
    fn taps(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let k = self.kernel;
        (0..k * k).map(move |t| {
            let start = self.margin() as isize + self.shift(t / k, t % k);
            (
                t,
                usize::try_from(start).expect("the margin covers every shift"),
            )
        })
    }

    /// Copies `x` (`[n, channels, h, w]`) into a zeroed channel-major padded buffer.
    fn padded<T: Real>(&self, x: &[T], channels: usize) -> Vec<T> {
        let (h, w, pw) = (self.height, self.width, self.padded_width());
        assert_eq!(x.len(), self.batch * channels * h * w, "tensor size");
        let row = self.row();
        let mut buffer = vec![T::default(); channels * row];
        for (plane, source) in x.chunks_exact(h * w).enumerate() {
            let (image, channel) = (plane / channels, plane % channels);
            let base = channel * row + self.margin() + image * self.padded_plane();
            for (y, line) in source.chunks_exact(w).enumerate() {
                let start = base + y * pw;
                buffer[start..start + w].copy_from_slice(line);
            }
        }
        buffer
    }

    /// The interior of a channel-major padded buffer (rows of `row_len`, positions starting
    /// at `offset`), as `[n, channels, h, w]`, each element passed through `f(channel, v)`.
    fn unpadded<T: Real>(
        &self,
        buffer: &[T],
        channels: usize,
        row_len: usize,
        offset: usize,
        f: impl Fn(usize, T) -> T,
    ) -> Vec<T> {
        let (h, w, pw) = (self.height, self.width, self.padded_width());
        let mut out = vec![T::default(); self.batch * channels * h * w];
        for (plane, target) in out.chunks_exact_mut(h * w).enumerate() {
            let (image, channel) = (plane / channels, plane % channels);
            let base = channel * row_len + offset + image * self.padded_plane();
            for (y, line) in target.chunks_exact_mut(w).enumerate() {
                let start = base + y * pw;
                for (t, &s) in line.iter_mut().zip(&buffer[start..start + w]) {
                    *t = f(channel, s);
                }
            }
        }
        out
    }
}

/// A matrix inside a slice: element `(r, c)` at `offset + r·row_stride + c·col_stride`.
#[derive(Debug, Clone, Copy)]
struct View {
    offset: usize,
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl View {
    /// Panics unless every element lies inside a slice of `len`.
    fn check(&self, len: usize) {
        if self.rows == 0 || self.cols == 0 {
            return;
        }
        let last =
            self.offset + (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride;
        assert!(last < len, "matrix view ends at {last}, slice has {len}");
    }
}

/// `dst (+)= lhs · rhs` (added to `dst` when `accumulate`), single-threaded.
fn product<T: Real>(
    dst: &mut [T],
    d: View,
    accumulate: bool,
    lhs: &[T],
    l: View,
    rhs: &[T],
    r: View,
) {
    assert!(
        l.rows == d.rows && r.cols == d.cols && l.cols == r.rows,
        "product shapes"
    );
    d.check(dst.len());
    l.check(lhs.len());
    r.check(rhs.len());
    let stride = |s: usize| isize::try_from(s).expect("stride fits isize");
    // SAFETY: every element each view addresses was checked to lie inside its slice above;
    // `dst` is borrowed mutably, so it cannot alias `lhs` or `rhs`.
    unsafe {
        gemm::gemm(
            d.rows,
            d.cols,
            l.cols,
            dst.as_mut_ptr().add(d.offset),
            stride(d.col_stride),
            stride(d.row_stride),
            accumulate,
            lhs.as_ptr().add(l.offset),
            stride(l.col_stride),
            stride(l.row_stride),
            rhs.as_ptr().add(r.offset),
            stride(r.col_stride),
            stride(r.row_stride),
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// The weights of tap `t` as an `outputs × inputs` matrix (or its transpose).
fn tap(g: &Geometry, t: usize, transposed: bool) -> View {
    let k2 = g.kernel * g.kernel;
    let (rows, cols, row_stride, col_stride) = if transposed {
        (g.inputs, g.outputs, k2, g.inputs * k2)
    } else {
        (g.outputs, g.inputs, g.inputs * k2, k2)
    };
    View {
        offset: t,
        rows,
        cols,
        row_stride,
        col_stride,
    }
}

/// `channels` rows of a padded buffer, the window of every position starting at `start`.
fn window(g: &Geometry, channels: usize, row_len: usize, start: usize) -> View {
    View {
        offset: start,
        rows: channels,
        cols: g.positions(),
        row_stride: row_len,
        col_stride: 1,
    }
}

/// `conv(x, weight) + bias`: `x` is `[n, c, h, w]`, `weight` `[o, c, k, k]`, `bias` `[o]`;
/// returns `[n, o, h, w]`.
pub fn forward<T: Real>(g: &Geometry, x: &[T], weight: &[T], bias: &[T]) -> Vec<T> {
    assert_eq!(bias.len(), g.outputs, "bias size");
    let padded = g.padded(x, g.inputs);
    let positions = g.positions();
    let mut out = vec![T::default(); g.outputs * positions];
    let out_view = window(g, g.outputs, positions, 0);
    for (t, start) in g.taps() {
        let input = window(g, g.inputs, g.row(), start);
        product(
            &mut out,
            out_view,
            t > 0,
            weight,
            tap(g, t, false),
            &padded,
            input,
        );
    }
    g.unpadded(&out, g.outputs, positions, 0, |o, v| v + bias[o])
}

/// The gradients of [`forward`] given the output's gradient `grad` (`[n, o, h, w]`):
/// `(∂x, ∂weight, ∂bias)`.
pub fn backward<T: Real>(
    g: &Geometry,
    x: &[T],
    weight: &[T],
    grad: &[T],
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let padded = g.padded(x, g.inputs);
    // Zero on the border positions, so they add nothing to the weight gradient.
    let grad_padded = g.padded(grad, g.outputs);
    let row = g.row();
    let grad_view = window(g, g.outputs, row, g.margin());
    let grad_bias = grad_padded
        .chunks_exact(row)
        .map(|r| r.iter().copied().sum())
        .collect();
    let mut grad_weight = vec![T::default(); weight.len()];
    let mut grad_x_padded = vec![T::default(); g.inputs * row];
    for (t, start) in g.taps() {
        // ∂W[:, :, i, j] = ∂out · x_shiftedᵀ, a sum over every position of the batch.
        let x_transposed = View {
            offset: start,
            rows: g.positions(),
            cols: g.inputs,
            row_stride: 1,
            col_stride: row,
        };
        let (grad_tap, grad_rows) = (tap(g, t, false), grad_view);
        product(
            &mut grad_weight,
            grad_tap,
            false,
            &grad_padded,
            grad_rows,
            &padded,
            x_transposed,
        );
        // ∂x_shifted += W[:, :, i, j]ᵀ · ∂out.
        product(
            &mut grad_x_padded,
            window(g, g.inputs, row, start),
            true,
            weight,
            tap(g, t, true),
            &grad_padded,
            grad_view,
        );
    }
    let grad_x = g.unpadded(&grad_x_padded, g.inputs, row, g.margin(), |_, v| v);
    (grad_x, grad_weight, grad_bias)
}
