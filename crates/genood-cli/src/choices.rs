//! Parsers for flags that name one of a closed set (presets, models, scores, number formats):
//! clap lists the names in `--help`, refuses any other with the list, and hands the typed
//! value to the library.

use clap::builder::{PossibleValuesParser, TypedValueParser};
use genood_models::Named;

/// The parser of a [`Named`] type's names.
pub fn named<T: Named + Send + Sync>() -> impl TypedValueParser<Value = T> {
    named_of(T::ALL)
}

/// The parser of some of a [`Named`] type's names (`detect` thresholds four of the scores).
pub fn named_of<T: Named + Send + Sync>(choices: &[T]) -> impl TypedValueParser<Value = T> {
    let names: Vec<&'static str> = choices.iter().map(|c| c.name()).collect();
    PossibleValuesParser::new(names).map(|name| T::parse(&name).expect("a listed name"))
}

/// The parser of a training precision: `f32` or `bf16`.
pub fn precision() -> impl TypedValueParser<Value = genood_flows::multiscale::Precision> {
    PossibleValuesParser::new(["f32", "bf16"]).map(|name| name.parse().expect("a listed name"))
}
