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

fn column_for(name: &str) -> Col {
    if LABEL_COLUMNS.iter().any(|l| name.eq_ignore_ascii_case(l)) {
        Col::Label(Vec::new())
    } else {
        Col::Num(Vec::new())
    }
}

enum Col {
    Num(Vec<Option<f64>>),
    Label(Vec<Option<String>>),
    Text,
}

thread_local! {
    /// The csv crate's parser (csv-core), built once per thread and `reset` per file:
    /// building its DFA costs about as much as parsing a small file, and the corpus
    /// has dozens of small files. (Not cloned: csv-core 0.1's `Clone` for a built
    /// reader copies only part of its DFA.)
    static READER: std::cell::RefCell<csv_core::Reader> =
        std::cell::RefCell::new(csv_core::Reader::new());
}

/// One parsed record: its fields, unquoted, in one buffer.
struct Record<'a> {
    out: &'a [u8],
    ends: &'a [usize],
}

impl<'a> Record<'a> {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> Option<&'a str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        // Fields split on ASCII bytes of valid UTF-8 text, so they are UTF-8.
        std::str::from_utf8(&self.out[start..end]).ok()
    }

    fn iter(&self) -> impl Iterator<Item = &'a str> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or(""))
    }
}

/// Calls `on_record(line, record)` for every record of `text` (RFC 4180 quoting,
/// CRLF/LF/CR terminators, records of varying length, empty lines skipped), where
/// `line` is the 1-based line the record starts on. Stops at the first `Err`.
fn for_each_record<E>(
    text: &str,
    mut on_record: impl FnMut(u64, &Record<'_>) -> Result<(), E>,
) -> Result<(), E> {
    READER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut rdr) => {
            rdr.reset();
            read_records_with(&mut rdr, text, &mut on_record)
        }
        // Only reachable if `on_record` itself parsed CSV: use a fresh reader.
        Err(_) => read_records_with(&mut csv_core::Reader::new(), text, &mut on_record),
    })
}

fn read_records_with<E>(
    rdr: &mut csv_core::Reader,
    text: &str,
    on_record: &mut impl FnMut(u64, &Record<'_>) -> Result<(), E>,
) -> Result<(), E> {
    use csv_core::ReadRecordResult as R;
    let input = text.as_bytes();
    let mut out = vec![0u8; input.len() + 1];
    let mut ends = vec![0usize; 32];
    let mut pos = 0;
    loop {
        let line = rdr.line();
        let (mut nout, mut nend) = (0, 0);
        let res = loop {
            let (res, nin, o, e) =
                rdr.read_record(&input[pos..], &mut out[nout..], &mut ends[nend..]);
            pos += nin;
            nout += o;
            nend += e;
            match res {
                R::OutputFull => out.resize(out.len() * 2, 0),
                R::OutputEndsFull => ends.resize(ends.len() * 2, 0),
                R::InputEmpty => {}
                R::Record | R::End => break res,
            }
        };
        if res == R::End {
            return Ok(());
        }
        let record = Record {
            out: &out[..nout],
            ends: &ends[..nend],
        };
        on_record(line, &record)?;
    }
}

pub(super) fn parse(text: &str) -> Result<CsvData, String> {
    let mut header: Option<Vec<String>> = None;
    let mut cols: Vec<Col> = Vec::new();
    let mut rows = 0u64;
    let mut ragged_rows = Vec::new();
    for_each_record(text, |line, fields| {
        let Some(header) = &header else {
            let names: Vec<String> = fields.iter().map(|f| f.trim().to_string()).collect();
            if names.iter().all(|h| h.is_empty()) {
                return Err("CSV has no header row".to_string());
            }
            cols = names.iter().map(|h| column_for(h)).collect();
            header = Some(names);
            return Ok(());
        };
        rows += 1;
        if fields.len() != header.len() {
            ragged_rows.push(line);
        }
        for (i, col) in cols.iter_mut().enumerate() {
            let cell = fields.get(i).map(|c| c.trim()).filter(|c| !c.is_empty());
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
        Ok(())
    })?;
    let Some(header) = header else {
        return Err("CSV has no header row".into());
    };
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
