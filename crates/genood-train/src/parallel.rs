//! One worker thread per core: a training batch split into shards whose gradients are summed
//! in a fixed order, and evaluation batches taken by whichever worker is free, results kept in
//! batch order.
//!
//! Each worker runs every operation of its shard on one thread: genood's convolutions are too
//! small (2–16 channels) for the backend's intra-operation threads to share out well, while
//! whole shards on separate cores run side by side. Each worker computes alone and the results
//! are combined in shard order, so a run is bit-identical for a given thread count.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use genood_flows::noise::Noise;
use genood_models::{DensityModel, KlWeight, Model};
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

/// The loss `−objective in bits per dimension (+ extra(θ))` of a batch of `batch_size` images
/// given as `shards`, with the KL terms weighted by `kl`, and its gradient: each shard on its
/// own thread, the sums taken in shard order. `extra` (an L2 penalty, say) is added once, by
/// the first shard. The bpd reported is the bound's.
pub fn batch_gradients(
    model: &Model,
    shards: Vec<Shard>,
    batch_size: usize,
    kl: KlWeight,
    extra: Option<&(dyn Fn(&Model) -> Tensor<1> + Sync)>,
) -> BatchGradients {
    let scale = 1.0 / (batch_size * model.dims()) as f64 / std::f64::consts::LN_2;
    let one = |model: &Model, shard: Shard, first: bool| {
        let Shard { pixels, mut rng } = shard;
        let terms = model.training_terms(pixels, &mut Noise::Batch(&mut rng), kl);
        let in_bits = |t: Tensor<1>| t.sum().neg().mul_scalar(scale);
        let bpd = in_bits(terms.log_p).into_scalar::<f64>();
        if !bpd.is_finite() {
            return (bpd, None);
        }
        // A non-finite objective under a finite bound gives non-finite gradients, which the
        // optimiser skips like any other.
        let objective = in_bits(terms.objective);
        let loss = match extra.filter(|_| first) {
            Some(extra) => objective + extra(model),
            None => objective,
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

/// `f(0) … f(count − 1)` computed by up to `threads` workers, each taking the next index as it
/// becomes free (a core slowed by other work then holds up only its own batch), and handed to
/// `done(i, result)` in index order.
pub fn for_each_batch<T: Send>(
    count: usize,
    threads: usize,
    f: &(dyn Fn(usize) -> T + Sync),
    done: &mut dyn FnMut(usize, T),
) {
    let threads = threads.clamp(1, count.max(1));
    if threads == 1 {
        (0..count).for_each(|i| done(i, f(i)));
        return;
    }
    let next = AtomicUsize::new(0);
    let (sender, receiver) = mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (next, sender) = (&next, sender.clone());
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count || sender.send((i, f(i))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        // Results arrive in any order; hand them on in index order.
        let mut waiting = BTreeMap::new();
        let mut expected = 0;
        for (i, result) in receiver {
            waiting.insert(i, result);
            while let Some(result) = waiting.remove(&expected) {
                done(expected, result);
                expected += 1;
            }
        }
        assert_eq!(expected, count, "an evaluation worker panicked");
    });
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
        // Early batches take longest, so results arrive out of order.
        let slow_first = |i: usize| {
            std::thread::sleep(std::time::Duration::from_millis(5 * (7 - i as u64)));
            i * 10
        };
        for_each_batch(7, 3, &slow_first, &mut |i, v| seen.push((i, v)));
        assert_eq!(seen, (0..7).map(|i| (i, i * 10)).collect::<Vec<_>>());
    }
}
