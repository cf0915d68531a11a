//! Reading genood's own CSV files: a fixed header, then rows of a fixed number of fields
//! without quoting (no field ever holds a comma), with errors that name the file and line.

use std::path::Path;

/// Reads `path`, checks its first line is `header`, and parses each further row's fields
/// with `parse` (which returns `None` for a malformed row). `what` names the kind of file in
/// the error, e.g. "scores".
pub fn read_rows<T>(
    path: &Path,
    header: &str,
    what: &str,
    parse: impl Fn(&[&str]) -> Option<T>,
) -> Result<Vec<T>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines();
    if lines.next() != Some(header) {
        return Err(format!(
            "{}: not a genood {what} file (header)",
            path.display()
        ));
    }
    let width = header.split(',').count();
    lines
        .enumerate()
        .map(|(i, line)| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields.len() == width)
                .then(|| parse(&fields))
                .flatten()
                .ok_or_else(|| {
                    format!("{}: line {}: malformed row `{line}`", path.display(), i + 2)
                })
        })
        .collect()
}
