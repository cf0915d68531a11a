use burn::prelude::*;
use genood_flows::coupling::CouplingKind;
use genood_models::config::{GlowConfig, ModelConfig};
use genood_models::presets::Preset;
use genood_models::{DensityModel, ImageShape, Model};
use genood_train::optim::Optimizer;
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let (l, k, h, b) = (args[0], args[1], args[2], args[3]);
    let device = Device::flex().autodiff();
    let image = ImageShape {
        channels: 1,
        height: 28,
        width: 28,
    };
    let mut config = Preset::Quick.model(image, CouplingKind::Affine);
    let ModelConfig::Glow(GlowConfig { flow, .. }) = &mut config;
    flow.levels = l;
    flow.steps_per_level = k;
    flow.hidden_channels = h;
    let mut rng = genood_flows::host::seeded_rng(0);
    let mut model = Model::new(&config, &mut rng, &device);
    let pixels: Vec<f32> = (0..b * 784).map(|i| ((i * 37) % 256) as f32).collect();
    let x = genood_flows::host::tensor_from_f32(pixels, [b, 1, 28, 28], &device);
    model.initialize(x.clone(), &mut rng);
    let mut opt = Optimizer::new(genood_models::config::OptimizerKind::Adam, Some(50.0));
    for i in 0..6 {
        let t = Instant::now();
        let terms = model.log_likelihood(x.clone(), &mut rng);
        let loss = terms.log_p.mean().neg().div_scalar(784.0 * 2f64.ln());
        let v = loss.clone().into_scalar::<f64>();
        let grads = loss.backward();
        let (m, o) = opt.step(model, &grads, 1e-3);
        model = m;
        println!(
            "step {i}: bpd {v:.4} {o:?} {:.3}s  {:.1} img/s",
            t.elapsed().as_secs_f64(),
            b as f64 / t.elapsed().as_secs_f64()
        );
    }
}
