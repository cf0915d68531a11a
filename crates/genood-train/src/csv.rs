//! Reading genood's own CSV files: a header, then rows of as many fields without quoting (no
//! field ever holds a comma), with errors that name the file and line.

use std::path::Path;

/// Reads `path`, checks its first line with `accept`, and parses each further row's fields
/// with `parse` (which returns `None` for a malformed row). Returns the header's fields and
/// the rows. `what` names the kind of file in the error, e.g. "scores".
pub fn read_table<T>(
    path: &Path,
    what: &str,
    accept: impl Fn(&[&str]) -> bool,
    parse: impl Fn(&[&str]) -> Option<T>,
) -> Result<(Vec<String>, Vec<T>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    if !accept(&header) {
        return Err(format!(
            "{}: not a genood {what} file (header)",
            path.display()
        ));
    }
    let width = header.len();
    let rows = lines
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
        .collect::<Result<_, _>>()?;
    Ok((header.into_iter().map(String::from).collect(), rows))
}

/// [`read_table`] for a file whose header must be exactly `header`.
pub fn read_rows<T>(
    path: &Path,
    header: &str,
    what: &str,
    parse: impl Fn(&[&str]) -> Option<T>,
) -> Result<Vec<T>, String> {
    read_table(path, what, |h| h.join(",") == header, parse).map(|(_, rows)| rows)
}
