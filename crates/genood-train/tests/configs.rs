//! The checked-in experiment configurations stay loadable and buildable.

use std::path::Path;

use genood_models::ImageShape;
use genood_models::presets::{ModelKind, Preset};
use genood_train::run::RunConfig;

#[test]
fn every_checked_in_config_parses_and_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let config: RunConfig =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        config
            .validate()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        count += 1;
    }
    assert!(
        count >= 5,
        "expected the preset configs in {}",
        dir.display()
    );
}

#[test]
fn a_kl_schedule_is_refused_for_a_model_without_kl_terms() {
    let image = ImageShape {
        channels: 1,
        height: 8,
        width: 8,
    };
    let config = |kind| RunConfig {
        model: Preset::Tiny.model(image, kind),
        train: Preset::Quick.train(ModelKind::Hvae),
        data: "x".into(),
        monitor: Vec::new(),
        threads: 1,
    };
    assert!(config(ModelKind::Hvae).train.kl_schedule.is_some());
    assert_eq!(config(ModelKind::Hvae).validate(), Ok(()));
    let error = config(ModelKind::Glow).validate().unwrap_err();
    assert!(
        error.contains("train.kl_schedule") && error.contains("a glow model has none"),
        "{error}"
    );
    let mut negative = config(ModelKind::Hvae);
    if let Some(schedule) = negative.train.kl_schedule.as_mut() {
        schedule.free_nats = -1.0;
    }
    let error = negative.validate().unwrap_err();
    assert!(
        error.contains("train.kl_schedule.free_nats must be finite and at least 0, got -1"),
        "{error}"
    );
}
