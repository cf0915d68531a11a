//! Scoring your own images: which of them should the model's likelihood not be trusted on?
//! Builds a set from pixels you hold in memory (here 8 FashionMNIST test images and 8 MNIST
//! digits, shuffled together, standing in for your own 28×28 grey images), scores each with
//! a Glow trained on FashionMNIST, and flags each image by typicality: how far its bits per
//! dimension lie from the training images' mean, against a threshold fitted on held-in data.
//!
//! `cargo run --release --example score_own_images`

mod common;

use burn::prelude::Device;
use genood_data::{Conform, ImageSet, SetSpec};
use genood_lab::LabError;
use genood_train::eval::evaluate;
use genood_train::run::RunDir;

fn main() -> Result<(), LabError> {
    let dir = common::scratch("own-images");
    let data = common::data(&dir)?;
    let run = common::trained_glow(&dir, &data)?;
    let (_, model) = RunDir::new(&run).load_model(&Device::flex())?;

    // Your images: `[C, H, W]` bytes each, in a set. Every even image is a digit.
    let fashion = SetSpec::parse("fashion-mnist:test")?.load(&data, 0, Conform::default())?;
    let digits = SetSpec::parse("mnist:test")?.load(&data, 0, Conform::default())?;
    let mut pixels = Vec::new();
    for k in 0..16 {
        let source = if k % 2 == 0 { &digits } else { &fashion };
        pixels.extend_from_slice(source.image(100 + 613 * k));
    }
    let mine = ImageSet::new("my-images", [1, 28, 28], pixels, None);

    // The typicality test's reference: the training images' mean bpd, and a threshold that
    // flags 5% of 1,000 held-in test images.
    let train = SetSpec::parse("fashion-mnist:train")?.load(&data, 0, Conform::default())?;
    let train = train.select(&(0..1000).collect::<Vec<_>>(), "fashion-mnist:train");
    let entropy = mean(&bpd(&evaluate(
        &model,
        &train,
        500,
        1,
        0,
        1,
        &Device::flex(),
    )));
    let held_in = fashion.select(&(5000..6000).collect::<Vec<_>>(), "fashion-mnist:test");
    let mut distances: Vec<f64> = bpd(&evaluate(&model, &held_in, 500, 1, 0, 1, &Device::flex()))
        .iter()
        .map(|b| (b - entropy).abs())
        .collect();
    distances.sort_by(f64::total_cmp);
    let threshold = distances[distances.len() * 95 / 100];

    println!(
        "training images: {entropy:.3} bpd on average; flag |bpd − {entropy:.3}| > {threshold:.3}"
    );
    for score in evaluate(&model, &mine, 16, 1, 0, 1, &Device::flex()) {
        let distance = (score.bpd - entropy).abs();
        let verdict = if distance > threshold {
            "OOD: do not trust"
        } else {
            "typical"
        };
        println!(
            "image {:2} ({}): {:.3} bpd, distance {distance:.3} → {verdict}",
            score.index,
            if score.index % 2 == 0 {
                "digit"
            } else {
                "fashion"
            },
            score.bpd
        );
    }
    Ok(())
}

fn bpd(scores: &[genood_train::eval::ExampleScore]) -> Vec<f64> {
    scores.iter().map(|s| s.bpd).collect()
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}
