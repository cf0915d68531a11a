//! Reading and writing genood's own CSV files: a header, then rows of as many fields, with
//! errors that name the file and line. Numbers are never quoted; a text field (an image's
//! path) is quoted as RFC 4180 says when it holds a comma, a quote or a line break.

use std::borrow::Cow;
use std::path::Path;

/// `field` as a CSV field: as is, or quoted with its quotes doubled.
pub fn quote(field: &str) -> Cow<'_, str> {
    if field.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", field.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(field)
    }
}

fn fields_of(row: &[String]) -> Vec<&str> {
    row.iter().map(String::as_str).collect()
}

/// The records of CSV `text`, each with the line it starts on (1-based); quoted fields may
/// hold commas, doubled quotes and line breaks.
fn records(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let (mut fields, mut field) = (Vec::new(), String::new());
    let (mut line, mut start, mut quoted) = (1, 1, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            ('\r', false) => {}
            ('\n', false) => {
                fields.push(std::mem::take(&mut field));
                out.push((start, std::mem::take(&mut fields)));
                line += 1;
                start = line;
            }
            (c, _) => {
                line += usize::from(c == '\n');
                field.push(c);
            }
        }
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        out.push((start, fields));
    }
    out
}

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
    let mut rows = records(&text).into_iter();
    let header = rows.next().map(|(_, fields)| fields).unwrap_or_default();
    if !accept(&fields_of(&header)) {
        return Err(format!(
            "{}: not a genood {what} file (header)",
            path.display()
        ));
    }
    let rows = rows
        .map(|(line, row)| {
            (row.len() == header.len())
                .then(|| parse(&fields_of(&row)))
                .flatten()
                .ok_or_else(|| {
                    format!(
                        "{}: line {line}: malformed row `{}`",
                        path.display(),
                        row.join(",")
                    )
                })
        })
        .collect::<Result<_, _>>()?;
    Ok((header, rows))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_round_trip() {
        let path = "a,b/\"c\"\nd.png";
        let text = format!("index,path\n1,{}\n2,plain.png\n", quote(path));
        let parsed = records(&text);
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[1], (2, vec!["1".to_string(), path.to_string()]));
        assert_eq!(
            parsed[2],
            (4, vec!["2".to_string(), "plain.png".to_string()])
        );
        assert_eq!(quote("plain.png"), "plain.png");
    }
}
