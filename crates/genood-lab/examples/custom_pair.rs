//! A pair of your own choosing: a Glow trained on FashionMNIST against three OOD sets at
//! once (MNIST, FashionMNIST with its pixels inverted, and constant images), every score.
//!
//! `cargo run --release --example custom_pair`

mod common;

use genood_lab::evaluation::{EvalOptions, evaluate_sets};
use genood_lab::score::{Bootstrap, Comparison, markdown, score_rows};
use genood_lab::{Context, LabError, Quiet};

fn main() -> Result<(), LabError> {
    let dir = common::scratch("custom-pair");
    let data = common::data(&dir)?;
    let run = common::trained_glow(&dir, &data)?;
    let ood = [
        "mnist:test",
        "inverted/fashion-mnist:test",
        "constant/fashion-mnist:test",
    ]
    .map(String::from);
    let mut sets = vec![
        "fashion-mnist:train".to_string(),
        "fashion-mnist:test".into(),
    ];
    sets.extend(ood.iter().cloned());
    let eval = EvalOptions {
        limit: Some(1000),
        ..EvalOptions::default()
    };
    let context = Context::cpu(data);
    for s in evaluate_sets(&run, &sets, &context, &eval, &mut Quiet)? {
        println!(
            "{}: mean {:.3} bpd over {} images",
            s.set, s.mean_bpd, s.count
        );
    }
    let comparison = Comparison {
        in_dist: "fashion-mnist:test".into(),
        ood: ood.to_vec(),
        reference: "fashion-mnist:train".into(),
        background: None,
        ensemble: Vec::new(),
    };
    println!(
        "{}",
        markdown(&score_rows(
            &run,
            &comparison,
            Bootstrap {
                resamples: 200,
                seed: 0
            },
            &context.data
        )?)
    );
    Ok(())
}
