//! genood's own CSV files, on the `csv` crate: a header, then rows of as many fields. A field
//! is quoted only where RFC 4180 needs it (a comma, a quote or a line break in an image's
//! path); numbers are written in Rust's shortest round-trip form ([`number`]), so reading them
//! back gives the same bits; errors name the file and the line.

use std::path::Path;

use genood_data::atomic::write_atomically;
use serde::Serialize;

/// A float as genood writes it: Rust's shortest round-trip form (`0.1`, `1e-7`, `NaN`).
pub fn number(value: f64) -> String {
    format!("{value:?}")
}

/// A CSV file built in memory, header first, then written atomically.
pub struct CsvTable {
    writer: csv::Writer<Vec<u8>>,
}

impl CsvTable {
    /// A table with this header.
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<[u8]>>(header: I) -> Self {
        let mut writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        writer.write_record(header).expect("writing into memory");
        Self { writer }
    }

    /// One row of fields, as text.
    pub fn row<I: IntoIterator<Item = S>, S: AsRef<[u8]>>(&mut self, fields: I) {
        self.writer
            .write_record(fields)
            .expect("writing into memory");
    }

    /// One row from a struct whose fields are the columns, in the header's order.
    pub fn serialize(&mut self, row: &impl Serialize) {
        self.writer
            .serialize(row)
            .expect("a flat row of text and numbers");
    }

    /// The file's bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.writer.into_inner().expect("writing into memory")
    }

    /// Writes the file to `path` atomically.
    pub fn write(self, path: &Path) -> std::io::Result<()> {
        write_atomically(path, &self.into_bytes())
    }
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
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut records = reader.records();
    let header: Vec<String> = match records.next() {
        Some(record) => {
            let record = record.map_err(|e| format!("{}: {e}", path.display()))?;
            record.iter().map(String::from).collect()
        }
        None => Vec::new(),
    };
    let fields: Vec<&str> = header.iter().map(String::as_str).collect();
    if !accept(&fields) {
        return Err(format!(
            "{}: not a genood {what} file (header)",
            path.display()
        ));
    }
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(|e| format!("{}: {e}", path.display()))?;
        let line = record.position().map_or(0, |p| p.line());
        let row: Vec<&str> = record.iter().collect();
        let parsed = (row.len() == header.len()).then(|| parse(&row)).flatten();
        rows.push(parsed.ok_or_else(|| {
            format!(
                "{}: line {line}: malformed row `{}`",
                path.display(),
                row.join(",")
            )
        })?);
    }
    Ok((header, rows))
}

/// [`read_table`] for a file whose header must be exactly `header` (its fields joined by
/// commas).
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
    fn quoted_fields_round_trip_and_rows_name_their_line() {
        let dir = std::env::temp_dir().join(format!("genood-csv-{}", std::process::id()));
        let path = dir.join("t.csv");
        let awkward = "a,b/\"c\"\nd.png";
        let mut table = CsvTable::new(["index", "value", "path"]);
        table.row(["1", &number(0.1), awkward]);
        table.row(["2", &number(1e-7), "plain.png"]);
        table.write(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "index,value,path\n1,0.1,\"a,b/\"\"c\"\"\nd.png\"\n2,1e-7,plain.png\n"
        );
        let parse = |f: &[&str]| Some((f[0].parse::<u32>().ok()?, f[2].to_string()));
        let (header, rows) = read_table(&path, "test", |h| h.len() == 3, parse).unwrap();
        assert_eq!(header, ["index", "value", "path"]);
        assert_eq!(rows, [(1, awkward.to_string()), (2, "plain.png".into())]);
        // A bad row is named by the line it starts on (the quoted path spans two lines).
        std::fs::write(&path, format!("{text}x,0.5,z.png\n")).unwrap();
        let err = read_table(&path, "test", |h| h.len() == 3, parse).unwrap_err();
        assert!(err.contains("line 5: malformed row `x,0.5,z.png`"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
