//! A pair of your own choosing: a Glow trained on FashionMNIST against three OOD sets at
//! once (MNIST, FashionMNIST with its pixels inverted, and constant images), every score.
//!
//! `cargo run --release --example custom_pair`

mod common;

use genood_data::SetSpec;
use genood_lab::evaluation::{EvalOptions, evaluate_sets};
use genood_lab::score::{Bootstrap, Comparison, markdown, score_rows};
use genood_lab::{Context, LabError, Quiet};

fn main() -> Result<(), LabError> {
    let dir = common::scratch("custom-pair");
    let data = common::data(&dir)?;
    let run = common::trained_glow(&dir, &data)?;
    let [train, test] = [
        SetSpec::parse("fashion-mnist:train")?,
        SetSpec::parse("fashion-mnist:test")?,
    ];
    let ood = vec![
        SetSpec::parse("mnist:test")?,
        SetSpec::parse("inverted/fashion-mnist:test")?,
        SetSpec::parse("constant/fashion-mnist:test")?,
    ];
    let mut sets = vec![train.clone(), test.clone()];
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
        in_dist: test,
        ood,
        reference: train,
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
