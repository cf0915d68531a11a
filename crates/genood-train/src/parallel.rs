//! One worker thread per core: a training batch split into shards whose gradients are summed
//! in a fixed order, and evaluation batches handed out round-robin.
//!
//! The CPU backend is fastest here running each operation on one thread: genood's small
//! convolutions are bound by per-operation overhead, which intra-operation threads do not
//! share out, while whole shards on separate cores do. Each worker computes alone and the
//! results are combined in shard order, so a run is bit-identical for a given thread count.

use std::ops::Range;

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use genood_models::{DensityModel, Model};
use rand::rngs::StdRng;

use crate::params::gradients_by_path;

/// The cores this process may use: the default number of worker threads.
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `0..len` cut into at most `parts` contiguous, non-empty ranges whose sizes differ by at
/// most one (the first ones larger).
pub fn shard_ranges(len: usize, parts: usize) -> Vec<Range<usize>> {
    let parts = parts.clamp(1, len.max(1));
    let (size, extra) = (len / parts, len % parts);
    let mut start = 0;
    (0..parts)
        .map(|k| {
            let end = start + size + usize::from(k < extra);
            let range = start..end;
            start = end;
            range
        })
        .filter(|r| !r.is_empty())
        .collect()
}

/// `module` with every parameter on a new autodiff leaf (same values, ids and gradient
/// settings). Workers that share leaves would share one autodiff graph and its lock.
fn fresh_leaves<M: Module>(module: &M) -> M {
    struct Detach;
    impl ModuleMapper for Detach {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            // `detach` starts a new node and keeps `require_grad`.
            param.map(|t| t.detach())
        }
    }
    module.clone().map(&mut Detach)
}

/// One training batch's mean bits per dimension and the gradient of the loss by parameter path
/// (`None` when the loss was not finite and no gradient was taken).
#[derive(Debug)]
pub struct BatchGradients {
    /// Mean training bpd of the batch.
    pub bpd: f64,
    /// `∂loss/∂θ`, flattened, in module order.
    pub gradients: Option<Vec<(String, Tensor<1>)>>,
}

/// A shard of a training batch: its pixels and the generator of its noise.
pub struct Shard {
    /// `[n, C, H, W]` pixel values 0–255 on the autodiff device.
    pub pixels: Tensor<4>,
    /// Dequantization noise and posterior samples of this shard.
    pub rng: StdRng,
}

/// The loss `mean bpd (+ extra(θ))` of a batch of `batch_size` images given as `shards`, and
/// its gradient: each shard on its own thread, the sums taken in shard order. `extra` (an L2
/// penalty, say) is added once, by the first shard.
pub fn batch_gradients(
    model: &Model,
    shards: Vec<Shard>,
    batch_size: usize,
    extra: Option<&(dyn Fn(&Model) -> Tensor<1> + Sync)>,
) -> BatchGradients {
    let scale = 1.0 / (batch_size * model.dims()) as f64 / std::f64::consts::LN_2;
    let one = |model: &Model, shard: Shard, first: bool| {
        let Shard { pixels, mut rng } = shard;
        let terms = model.log_likelihood(pixels, 1, &mut rng);
        let bpd_part = terms.log_p.sum().neg().mul_scalar(scale);
        let bpd = bpd_part.clone().into_scalar::<f64>();
        if !bpd.is_finite() {
            return (bpd, None);
        }
        let loss = match extra.filter(|_| first) {
            Some(extra) => bpd_part + extra(model),
            None => bpd_part,
        };
        let grads = loss.backward();
        (bpd, Some(gradients_by_path(model, &grads)))
    };
    let one = &one;
    let parts: Vec<_> = if shards.len() == 1 {
        shards.into_iter().map(|s| one(model, s, true)).collect()
    } else {
        std::thread::scope(|scope| {
            let workers: Vec<_> = shards
                .into_iter()
                .enumerate()
                .map(|(k, shard)| {
                    let replica = fresh_leaves(model);
                    scope.spawn(move || one(&replica, shard, k == 0))
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("a training worker panicked"))
                .collect()
        })
    };
    let bpd = parts.iter().map(|(b, _)| b).sum();
    let gradients = parts
        .into_iter()
        .map(|(_, g)| g)
        .reduce(|total, part| {
            let (total, part) = (total?, part?);
            Some(
                total
                    .into_iter()
                    .zip(part)
                    .map(|((path, a), (other, b))| {
                        debug_assert_eq!(path, other, "workers visit parameters in one order");
                        (path, a + b)
                    })
                    .collect(),
            )
        })
        .flatten();
    BatchGradients { bpd, gradients }
}

/// `f(0) … f(count − 1)` computed by up to `threads` workers, batch `i` on worker
/// `i mod threads`, returned in order as each round finishes (`done(i, result)`).
pub fn for_each_batch<T: Send>(
    count: usize,
    threads: usize,
    f: &(dyn Fn(usize) -> T + Sync),
    done: &mut dyn FnMut(usize, T),
) {
    let threads = threads.max(1);
    let mut next = 0;
    while next < count {
        let round = next..(next + threads).min(count);
        if round.len() == 1 {
            done(next, f(next));
        } else {
            let results: Vec<T> = std::thread::scope(|scope| {
                let workers: Vec<_> = round.clone().map(|i| scope.spawn(move || f(i))).collect();
                workers
                    .into_iter()
                    .map(|w| w.join().expect("an evaluation worker panicked"))
                    .collect()
            });
            for (i, result) in round.clone().zip(results) {
                done(i, result);
            }
        }
        next = round.end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_batch_in_order() {
        assert_eq!(shard_ranges(32, 2), vec![0..16, 16..32]);
        assert_eq!(shard_ranges(5, 3), vec![0..2, 2..4, 4..5]);
        assert_eq!(shard_ranges(2, 4), vec![0..1, 1..2]);
        assert_eq!(shard_ranges(7, 1), vec![0..7]);
    }

    #[test]
    fn batches_come_back_in_order() {
        let mut seen = Vec::new();
        for_each_batch(7, 3, &|i| i * 10, &mut |i, v| seen.push((i, v)));
        assert_eq!(seen, (0..7).map(|i| (i, i * 10)).collect::<Vec<_>>());
    }
}
