//! Numeric CSV: comma-separated numbers, an optional header row naming the columns.

use crate::error::{DataError, Result};
use psionic_array::{DType, Tensor};
use std::path::Path;

/// A table of numbers: `data [rows, columns]` and the column names (from the header, or
/// `"0"`, `"1"`, ... without one).
#[derive(Debug)]
pub struct Csv {
    pub columns: Vec<String>,
    pub data: Tensor,
}

fn fields(line: &str) -> Vec<&str> {
    line.split(',').map(|f| f.trim().trim_matches('"')).collect()
}

/// Parses CSV text into `dtype` (a floating type). Blank lines are skipped; a row with
/// the wrong number of fields or a field that is not a number is an error naming its
/// line and column.
pub fn parse_csv(text: &str, header: bool, dtype: DType, what: &str) -> Result<Csv> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let mut columns: Vec<String> = vec![];
    if header {
        let (_, first) = lines.next().ok_or_else(|| DataError::format(what, "empty file, expected a header row"))?;
        columns = fields(first).into_iter().map(String::from).collect();
    }
    let mut values = vec![];
    let mut rows = 0;
    for (no, line) in lines {
        let f = fields(line);
        if columns.is_empty() {
            columns = (0..f.len()).map(|i| i.to_string()).collect();
        }
        if f.len() != columns.len() {
            return Err(DataError::format(
                what,
                format!("line {}: {} fields, expected {}", no + 1, f.len(), columns.len()),
            ));
        }
        for (c, v) in f.iter().enumerate() {
            let x: f64 = v.parse().map_err(|_| {
                DataError::format(what, format!("line {}, column {:?}: {v:?} is not a number", no + 1, columns[c]))
            })?;
            values.push(x);
        }
        rows += 1;
    }
    let data = Tensor::from_vec(values, &[rows, columns.len()]).to_dtype(dtype);
    Ok(Csv { columns, data })
}

pub fn read_csv(path: &Path, header: bool, dtype: DType) -> Result<Csv> {
    let text =
        std::fs::read_to_string(path).map_err(|source| DataError::File { path: path.display().to_string(), source })?;
    parse_csv(&text, header, dtype, &path.display().to_string())
}
