//! CSV parsing: header, typed numeric columns, label columns, ragged rows.

use serde::Serialize;

/// Column names kept as text (they label rows: which model, which error...).
const LABEL_COLUMNS: [&str; 5] = ["model", "error", "backend", "status", "config"];

/// A column in which every non-empty cell parsed as a finite number.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NumericColumn {
    /// Header name (trimmed).
    pub name: String,
    /// Position in the header.
    pub index: usize,
    /// One value per data row; `None` where the cell was empty or missing.
    pub values: Vec<Option<f64>>,
}

/// A text column that labels rows (`model`, `error`, `backend`, `status`, `config`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelColumn {
    /// Header name (trimmed, as written).
    pub name: String,
    /// Position in the header.
    pub index: usize,
    /// One value per data row; `None` where the cell was empty or missing.
    pub values: Vec<Option<String>>,
}

/// What a parsed CSV file holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CsvData {
    /// Header fields (trimmed).
    pub header: Vec<String>,
    /// Number of data rows (ragged ones included).
    pub rows: u64,
    /// 1-based line numbers of rows whose field count differs from the header's.
    pub ragged_rows: Vec<u64>,
    /// Numeric columns, in header order.
    pub numeric: Vec<NumericColumn>,
    /// Label columns, in header order.
    pub labels: Vec<LabelColumn>,
}

impl CsvData {
    /// The numeric column with this name (ASCII case-insensitive), if any.
    pub fn numeric(&self, name: &str) -> Option<&NumericColumn> {
        self.numeric
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The label column with this name (ASCII case-insensitive), if any.
    pub fn label(&self, name: &str) -> Option<&LabelColumn> {
        self.labels
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }
}

enum Col {
    Num(Vec<Option<f64>>),
    Label(Vec<Option<String>>),
    Text,
}

pub(super) fn parse(text: &str) -> Result<CsvData, String> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = match rdr.headers() {
        Ok(h) => h.iter().map(|f| f.trim().to_string()).collect(),
        Err(e) => return Err(format!("invalid CSV header: {e}")),
    };
    if header.iter().all(|h| h.is_empty()) {
        return Err("CSV has no header row".into());
    }
    let mut cols: Vec<Col> = header
        .iter()
        .map(|h| {
            if LABEL_COLUMNS.iter().any(|l| h.eq_ignore_ascii_case(l)) {
                Col::Label(Vec::new())
            } else {
                Col::Num(Vec::new())
            }
        })
        .collect();
    let mut rows = 0u64;
    let mut ragged_rows = Vec::new();
    let mut rec = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(format!("invalid CSV after row {rows}: {e}")),
        }
        rows += 1;
        if rec.len() != header.len() {
            ragged_rows.push(rec.position().map_or(rows + 1, |p| p.line()));
        }
        for (i, col) in cols.iter_mut().enumerate() {
            let cell = rec.get(i).map(str::trim).filter(|c| !c.is_empty());
            match col {
                Col::Num(values) => match cell {
                    None => values.push(None),
                    Some(c) => match c.parse::<f64>() {
                        Ok(v) if v.is_finite() => values.push(Some(v)),
                        _ => *col = Col::Text,
                    },
                },
                Col::Label(values) => values.push(cell.map(str::to_string)),
                Col::Text => {}
            }
        }
    }
    let mut numeric = Vec::new();
    let mut labels = Vec::new();
    for (index, (col, name)) in cols.into_iter().zip(&header).enumerate() {
        match col {
            Col::Num(values) if values.iter().any(Option::is_some) => numeric.push(NumericColumn {
                name: name.clone(),
                index,
                values,
            }),
            Col::Label(values) => labels.push(LabelColumn {
                name: name.clone(),
                index,
                values,
            }),
            _ => {}
        }
    }
    Ok(CsvData {
        header,
        rows,
        ragged_rows,
        numeric,
        labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_columns_and_flags_ragged_rows() {
        let d =
            parse("model,tokens_s,note,error\nm1,80.5,x,\nm2,,y\nm3,90,z,boom,extra\n").unwrap();
        assert_eq!(d.rows, 3);
        assert_eq!(d.ragged_rows, vec![3, 4]);
        assert_eq!(d.numeric.len(), 1);
        assert_eq!(
            d.numeric("TOKENS_S").unwrap().values,
            vec![Some(80.5), None, Some(90.0)]
        );
        assert_eq!(d.label("model").unwrap().values[2].as_deref(), Some("m3"));
        assert_eq!(
            d.label("error").unwrap().values,
            vec![None, None, Some("boom".into())]
        );
    }
}
