//! What a model will hold in memory, counted from its configuration before anything is
//! allocated: its parameters, and the activations of one image in a forward pass. The counts
//! follow each family's layer shapes (docs/format.md) to within the small terms; they are for
//! refusing sizes no machine holds, not for planning to the byte.

use genood_flows::coupling::CouplingKind;

use crate::ModelConfig;
use crate::mixture;
use crate::vae::DecoderKind;

/// Bytes of one `f32`.
const F32: u128 = 4;

/// Values kept per activation for the backward pass (inputs, outputs and the intermediate
/// normalisations of each layer), a generous round figure.
const KEPT_PER_ACTIVATION: u128 = 4;

/// The number of parameters of the model `config` describes.
pub fn parameter_count(config: &ModelConfig) -> u128 {
    let n = |v: usize| v as u128;
    match config {
        ModelConfig::Glow(glow) => {
            let flow = &glow.flow;
            let hidden = n(flow.hidden_channels);
            let [mut c, _, _] = glow.image.dims().map(n);
            let mut total: u128 = 0;
            for level in 0..flow.levels {
                c = c.saturating_mul(4);
                let (kept, rest) = (c / 2, c - c / 2);
                let out = match flow.coupling {
                    CouplingKind::Affine => 2 * rest,
                    CouplingKind::Additive => rest,
                };
                let step = 4 * c
                    + 3 * c.saturating_mul(c)
                    + 9 * hidden.saturating_mul(kept)
                    + hidden.saturating_mul(hidden)
                    + 9 * out.saturating_mul(hidden)
                    + 7 * hidden
                    + 2 * out;
                total = total.saturating_add(step.saturating_mul(n(flow.steps_per_level)));
                if level + 1 < flow.levels {
                    total = total.saturating_add(18 * kept.saturating_mul(rest) + 4 * rest);
                    c = kept;
                }
            }
            total.saturating_add(2 * c)
        }
        ModelConfig::PixelCnn(pixelcnn) => {
            let f = n(pixelcnn.filters);
            // Gated blocks of the up and down passes at three resolutions, two streams each.
            let blocks = 12 * n(pixelcnn.resnet_blocks) + 6;
            let outputs = n(mixture::parameter_count(
                pixelcnn.image.channels,
                pixelcnn.mixtures,
            ));
            (40 * f.saturating_mul(f))
                .saturating_mul(blocks)
                .saturating_add(outputs.saturating_mul(f))
        }
        ModelConfig::Vae(vae) => {
            let [c, h, w] = vae.image.dims().map(n);
            let (f, d, l) = (n(vae.channels), n(vae.hidden), n(vae.latent));
            let map = (2 * f).saturating_mul(h / 4).saturating_mul(w / 4);
            let outputs = match vae.decoder {
                DecoderKind::Categorical => 256 * c,
                DecoderKind::Logistic => n(mixture::parameter_count(vae.image.channels, 1)),
            };
            let g = n(vae.flow_hidden);
            let flow = n(vae.flow_layers).saturating_mul(3 * l.saturating_mul(g));
            [
                9 * f * c,
                48 * f.saturating_mul(f),
                2 * map.saturating_mul(d),
                3 * d.saturating_mul(l),
                flow,
                f.saturating_mul(outputs),
            ]
            .into_iter()
            .fold(0u128, u128::saturating_add)
        }
        ModelConfig::Hvae(hvae) => {
            let h = n(hvae.hidden);
            // The bottom layer is a VAE; each layer above adds a path and a posterior head,
            // each layer below the top a conditional prior.
            let widths = hvae.widths();
            let above: u128 = widths[1..]
                .iter()
                .map(|&l| h.saturating_mul(h + 2 * n(l)))
                .fold(0, u128::saturating_add);
            let priors: u128 = widths
                .windows(2)
                .map(|pair| h.saturating_mul(n(pair[1]) + 2 * n(pair[0])))
                .fold(0, u128::saturating_add);
            let vae = parameter_count(&ModelConfig::Vae(hvae.bottom()));
            let bottom = if hvae.conv_bottom {
                // A convolutional bottom trades the dense head, the decoder's dense layers
                // and first transposed convolution for two 3×3 convolutions.
                let [_, height, width] = hvae.image.dims().map(n);
                let (f, l) = (n(hvae.channels), n(hvae.latents[0]));
                let map = (2 * f).saturating_mul(height / 4).saturating_mul(width / 4);
                vae.saturating_sub(map.saturating_mul(h) + 3 * h.saturating_mul(l))
                    .saturating_add(27 * f.saturating_mul(l))
            } else {
                vae
            };
            bottom.saturating_add(above).saturating_add(priors)
        }
        ModelConfig::Diffusion(diffusion) => {
            let c = n(diffusion.image.channels);
            let e = 4 * n(diffusion.channels);
            let widths: Vec<u128> = diffusion.level_channels().into_iter().map(n).collect();
            let block = |i: u128, o: u128| {
                let skip = if i == o { 0 } else { i.saturating_mul(o) };
                (9 * i.saturating_mul(o))
                    .saturating_add(9 * o.saturating_mul(o))
                    .saturating_add(e.saturating_mul(o))
                    .saturating_add(skip)
            };
            let top = widths.len() - 1;
            let blocks = n(diffusion.blocks);
            let mut total = e.saturating_mul(e) + e * widths[0] / 4 + 9 * c * widths[0] * 2;
            for (l, &w) in widths.iter().enumerate() {
                let below = if l == top { w } else { widths[l + 1] };
                total = total
                    .saturating_add(block(w, w).saturating_mul(2 * blocks))
                    .saturating_add(block(below + w, w).saturating_sub(block(w, w)));
                if l < top {
                    // The stride-2 convolution down and the transposed one up.
                    total = total.saturating_add(25 * w.saturating_mul(w));
                }
            }
            total.saturating_add(block(widths[top], widths[top]))
        }
    }
}

/// The configuration's size fields, as written in `config.json`: what to make smaller.
pub fn size_fields(config: &ModelConfig) -> String {
    match config {
        ModelConfig::Glow(glow) => format!(
            "model.flow.levels = {}, steps_per_level = {}, hidden_channels = {}",
            glow.flow.levels, glow.flow.steps_per_level, glow.flow.hidden_channels
        ),
        ModelConfig::PixelCnn(p) => format!(
            "model.filters = {}, resnet_blocks = {}, mixtures = {}",
            p.filters, p.resnet_blocks, p.mixtures
        ),
        ModelConfig::Vae(v) => format!(
            "model.latent = {}, channels = {}, hidden = {}, flow_layers = {}, flow_hidden = {}",
            v.latent, v.channels, v.hidden, v.flow_layers, v.flow_hidden
        ),
        ModelConfig::Hvae(v) => format!(
            "model.latents = {:?}, conv_bottom = {}, channels = {}, hidden = {}",
            v.latents, v.conv_bottom, v.channels, v.hidden
        ),
        ModelConfig::Diffusion(d) => format!(
            "model.channels = {}, multipliers = {:?}, blocks = {}",
            d.channels, d.multipliers, d.blocks
        ),
    }
}

/// The activations of one image in a forward pass (what a batch multiplies).
pub fn activations_per_image(config: &ModelConfig) -> u128 {
    let n = |v: usize| v as u128;
    match config {
        ModelConfig::Glow(glow) => {
            let [c, h, w] = glow.image.dims().map(n);
            let pixels = h.saturating_mul(w);
            // Each step holds its input and its network's hidden maps at its level's size;
            // the levels' sizes shrink by 4 (a geometric sum below 4/3 of the first's).
            let per_step = (c.saturating_mul(pixels))
                .saturating_add(n(glow.flow.hidden_channels).saturating_mul(pixels) / 2);
            per_step.saturating_mul(n(glow.flow.steps_per_level)) * 4 / 3
        }
        ModelConfig::PixelCnn(pixelcnn) => {
            let [_, h, w] = pixelcnn.image.dims().map(n);
            (n(pixelcnn.filters) * 4)
                .saturating_mul(h.saturating_mul(w))
                .saturating_mul(12 * n(pixelcnn.resnet_blocks) + 6)
        }
        ModelConfig::Vae(vae) => {
            let [c, h, w] = vae.image.dims().map(n);
            (n(vae.channels) * 4 + 256 * c).saturating_mul(h.saturating_mul(w))
        }
        ModelConfig::Hvae(hvae) => activations_per_image(&ModelConfig::Vae(hvae.bottom())),
        ModelConfig::Diffusion(diffusion) => {
            let [_, h, w] = diffusion.image.dims().map(n);
            // Each block keeps about six maps of its width (norms, convolutions, the sum), on
            // the way down and up; each level has a quarter of the pixels of the one above.
            let per_block = 6 * (4 * n(diffusion.blocks) + 2);
            diffusion
                .level_channels()
                .into_iter()
                .enumerate()
                .map(|(l, width)| {
                    let pixels = h.saturating_mul(w) >> (2 * l.min(60));
                    n(width).saturating_mul(pixels).saturating_mul(per_block)
                })
                .fold(0u128, u128::saturating_add)
        }
    }
}

/// Bytes a model needs for `batch` images at once: its parameters (with their gradients and
/// two optimiser moments when `training`) and the batch's activations (kept for the
/// backward pass when `training`).
pub fn bytes_needed(config: &ModelConfig, batch: usize, training: bool) -> u128 {
    let (copies, kept) = if training {
        (4, KEPT_PER_ACTIVATION)
    } else {
        (1, 1)
    };
    let parameters = parameter_count(config).saturating_mul(copies);
    let activations = activations_per_image(config)
        .saturating_mul(batch as u128)
        .saturating_mul(kept);
    parameters.saturating_add(activations).saturating_mul(F32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ImageShape;
    use crate::Named;
    use crate::presets::{ModelKind, Preset};

    const MNIST: ImageShape = ImageShape {
        channels: 1,
        height: 28,
        width: 28,
    };

    #[test]
    fn parameter_counts_match_the_built_models() {
        use burn::module::Module;
        use burn::prelude::Device;
        use rand::SeedableRng;
        let device = Device::flex();
        for (preset, kind) in ModelKind::ALL
            .iter()
            .flat_map(|&kind| [(Preset::Tiny, kind), (Preset::Quick, kind)])
        {
            let config = preset.model(MNIST, kind);
            let model =
                crate::Model::new(&config, &mut rand::rngs::StdRng::seed_from_u64(0), &device);
            let built = model.num_params() as f64;
            let counted = parameter_count(&config) as f64;
            // A round figure, close to what is built (PixelCNN++'s blocks are counted alike).
            assert!(
                (0.8..=1.35).contains(&(counted / built)),
                "{preset:?} {kind:?}: counted {counted}, built {built}"
            );
        }
    }

    #[test]
    fn absurd_sizes_count_without_overflowing() {
        let mut config = Preset::Quick.model(MNIST, ModelKind::Glow);
        if let ModelConfig::Glow(glow) = &mut config {
            glow.flow.hidden_channels = 100_000_000;
            glow.flow.steps_per_level = 100_000;
        }
        assert!(bytes_needed(&config, 64, true) > 1 << 60);
    }
}
