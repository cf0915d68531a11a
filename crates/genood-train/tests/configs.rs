//! The checked-in experiment configurations stay loadable and buildable.

use std::path::Path;

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
