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
    pub values: LabelValues,
}

/// A label column's cells, one per data row, `None` where the cell was empty or
/// missing: the `Vec<Option<String>>` they stand for, held as one text buffer and
/// one span per row (a few allocations per column instead of one per cell). It
/// compares, prints (`{:?}`) and serializes exactly as that vector does.
#[derive(Clone, Default, PartialEq)]
pub struct LabelValues {
    /// The present cells, concatenated in row order.
    text: String,
    /// Per row: the cell's span in `text`, if present.
    spans: Vec<Option<(usize, usize)>>,
}

impl LabelValues {
    /// The cell of data row `i` (0-based); `None` when empty, missing or past the end.
    pub fn get(&self, i: usize) -> Option<&str> {
        let (start, end) = (*self.spans.get(i)?)?;
        Some(&self.text[start..end])
    }

    /// The cells in row order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Option<&str>> + '_ {
        self.spans.iter().map(|s| s.map(|(a, b)| &self.text[a..b]))
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// `true` when the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Appends a row's cell.
    fn push(&mut self, cell: Option<&str>) {
        self.spans.push(cell.map(|c| {
            let start = self.text.len();
            self.text.push_str(c);
            (start, self.text.len())
        }));
    }
}

impl std::fmt::Debug for LabelValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for LabelValues {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
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
        Col::Label(LabelValues::default())
    } else {
        Col::Num(Vec::new())
    }
}

enum Col {
    Num(Vec<Option<f64>>),
    Label(LabelValues),
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
}

/// Calls `on_record(line, record)` for every record of `text` (RFC 4180 quoting,
/// CRLF/LF/CR terminators, records of varying length, empty lines skipped), where
/// `line` is csv-core's line count when it starts reading the record (1 + the `\n`
/// bytes consumed before). Stops at the first `Err`.
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

/// What a record gives [`Builder::record`]: its field count and fields.
trait Fields<'r> {
    fn count(&self) -> usize;
    fn field(&self, i: usize) -> Option<&'r str>;
}

impl<'r> Fields<'r> for Record<'r> {
    fn count(&self) -> usize {
        self.len()
    }
    fn field(&self, i: usize) -> Option<&'r str> {
        self.get(i)
    }
}

impl<'r> Fields<'r> for [&'r str] {
    fn count(&self) -> usize {
        self.len()
    }
    fn field(&self, i: usize) -> Option<&'r str> {
        self.get(i).copied()
    }
}

/// Builds a [`CsvData`] from records, the first being the header.
struct Builder {
    header: Option<Vec<String>>,
    cols: Vec<Col>,
    rows: u64,
    ragged_rows: Vec<u64>,
    /// Expected data rows (capacity of the column vectors).
    rows_hint: usize,
}

impl Builder {
    fn new(rows_hint: usize) -> Self {
        Self {
            header: None,
            cols: Vec::new(),
            rows: 0,
            ragged_rows: Vec::new(),
            rows_hint,
        }
    }

    fn record<'r, F: Fields<'r> + ?Sized>(&mut self, line: u64, fields: &F) -> Result<(), String> {
        let Some(header) = &self.header else {
            let names: Vec<String> = (0..fields.count())
                .map(|i| fields.field(i).unwrap_or("").trim().to_string())
                .collect();
            if names.iter().all(|h| h.is_empty()) {
                return Err("CSV has no header row".to_string());
            }
            self.cols = names
                .iter()
                .map(|h| match column_for(h) {
                    Col::Num(mut v) => {
                        v.reserve(self.rows_hint);
                        Col::Num(v)
                    }
                    Col::Label(mut v) => {
                        v.spans.reserve(self.rows_hint);
                        Col::Label(v)
                    }
                    Col::Text => Col::Text,
                })
                .collect();
            self.header = Some(names);
            return Ok(());
        };
        self.rows += 1;
        if fields.count() != header.len() {
            self.ragged_rows.push(line);
        }
        for (i, col) in self.cols.iter_mut().enumerate() {
            let cell = fields.field(i).map(trim).filter(|c| !c.is_empty());
            match col {
                Col::Num(values) => match cell {
                    None => values.push(None),
                    Some(c) => match parse_f64(c) {
                        Some(v) if v.is_finite() => values.push(Some(v)),
                        _ => *col = Col::Text,
                    },
                },
                Col::Label(values) => values.push(cell),
                Col::Text => {}
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<CsvData, String> {
        let Some(header) = self.header else {
            return Err("CSV has no header row".into());
        };
        let mut numeric = Vec::new();
        let mut labels = Vec::new();
        for (index, (col, name)) in self.cols.into_iter().zip(&header).enumerate() {
            match col {
                Col::Num(values) if values.iter().any(Option::is_some) => {
                    numeric.push(NumericColumn {
                        name: name.clone(),
                        index,
                        values,
                    })
                }
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
            rows: self.rows,
            ragged_rows: self.ragged_rows,
            numeric,
            labels,
        })
    }
}

/// Exact powers of ten (every one up to 1e22 is an `f64` exactly).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// `s.trim()`, without its Unicode scan when both ends are printable ASCII (no
/// whitespace at either end: nothing to trim).
fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(z)) if a.is_ascii_graphic() && z.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// `s.parse::<f64>().ok()`, with a shortcut for plain decimals (`-?d*.?d*`, 1 to 15
/// digits): their digits are an exact integer below 2^53 and the divisor an exact
/// power of ten, so one IEEE division gives the correctly rounded value, the one
/// `str::parse` gives. Everything else (signs, exponents, `inf`, more digits) goes
/// to `str::parse`. The shortcut reads the bytes once: digits into the mantissa,
/// the first dot noted, anything else (a second dot included) handed to `parse`.
fn parse_f64(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let (neg, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    // At most 15 digits and one dot; 16 digits cannot overflow the mantissa either.
    if digits.is_empty() || digits.len() > 16 {
        return s.parse().ok();
    }
    let mut mantissa = 0u64;
    let mut dot = usize::MAX;
    for (i, &c) in digits.iter().enumerate() {
        let d = c.wrapping_sub(b'0');
        if d <= 9 {
            mantissa = mantissa * 10 + u64::from(d);
        } else if c == b'.' && dot == usize::MAX {
            dot = i;
        } else {
            return s.parse().ok();
        }
    }
    let (ndigits, frac) = if dot == usize::MAX {
        (digits.len(), 0)
    } else {
        (digits.len() - 1, digits.len() - 1 - dot)
    };
    if ndigits == 0 || ndigits > 15 {
        return s.parse().ok();
    }
    let v = mantissa as f64 / POW10[frac];
    Some(if neg { -v } else { v })
}

/// Index of the first `,`, `\r` or `\n` in `b` at or after `from`, else `b.len()`.
/// A byte loop: fields are short, where memchr's set-up costs more than the scan.
fn field_end(b: &[u8], from: usize) -> usize {
    b[from..]
        .iter()
        .position(|&c| matches!(c, b',' | b'\r' | b'\n'))
        .map_or(b.len(), |e| from + e)
}

/// Splits `text` into records exactly as csv-core's default reader does (see
/// [`for_each_record`]), for text whose quoted fields are all simple: a field that
/// starts with `"` runs to the next `"`, which ends the field (followed by `,`, a
/// line break or the end). Returns `None`, having built nothing that is kept, for
/// anything else (an escaped `""`, text after a closing quote, an unclosed quote, a
/// leading byte-order mark csv-core would strip): [`parse`] then uses csv-core.
fn parse_simple(text: &str) -> Option<Result<CsvData, String>> {
    let b = text.as_bytes();
    if b.starts_with(b"\xef\xbb\xbf") {
        return None;
    }
    let n = b.len();
    let mut builder = Builder::new(memchr::memchr_iter(b'\n', b).count());
    let mut fields: Vec<&str> = Vec::with_capacity(32);
    let mut pos = 0;
    // csv-core's line count when it starts on a record: 1 + the `\n` bytes before
    // the end of the previous record (its terminator included), counted as read.
    let mut line = 1u64;
    let mut lfs = 0u64;
    loop {
        line += lfs;
        lfs = 0;
        let record_line = line;
        // Empty lines (and the LF of a CRLF) before the record.
        while pos < n && (b[pos] == b'\r' || b[pos] == b'\n') {
            lfs += u64::from(b[pos] == b'\n');
            pos += 1;
        }
        if pos == n {
            break;
        }
        fields.clear();
        loop {
            if pos < n && b[pos] == b'"' {
                let close = pos + 1 + memchr::memchr(b'"', &b[pos + 1..])?;
                let quoted = &text[pos + 1..close];
                lfs += quoted.bytes().filter(|&c| c == b'\n').count() as u64;
                fields.push(quoted);
                pos = close + 1;
                match b.get(pos) {
                    None => break,
                    Some(b',') => pos += 1,
                    Some(&end @ (b'\r' | b'\n')) => {
                        lfs += u64::from(end == b'\n');
                        pos += 1;
                        break;
                    }
                    Some(_) => return None,
                }
            } else {
                let end = field_end(b, pos);
                fields.push(&text[pos..end]);
                pos = end;
                match b.get(pos) {
                    None => break,
                    Some(b',') => pos += 1,
                    Some(&end) => {
                        lfs += u64::from(end == b'\n');
                        pos += 1;
                        break;
                    }
                }
            }
        }
        if let Err(e) = builder.record(record_line, fields.as_slice()) {
            return Some(Err(e));
        }
    }
    Some(builder.finish())
}

pub(super) fn parse(text: &str) -> Result<CsvData, String> {
    if let Some(parsed) = parse_simple(text) {
        return parsed;
    }
    parse_csv_core(text)
}

/// [`parse`] with csv-core for every file (the reference for [`parse_simple`]).
pub(super) fn parse_csv_core(text: &str) -> Result<CsvData, String> {
    let mut builder = Builder::new(0);
    for_each_record(text, |line, record| builder.record(line, record))?;
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]

        /// The one-pass shortcut gives exactly `str::parse`'s value (bits and
        /// sign of zero included) or its failure, on cells made of digits, dots,
        /// signs, exponents and a few letters and spaces, up to 20 bytes.
        #[test]
        fn parse_f64_is_std_parse(
            cell in proptest::collection::vec(proptest::sample::select(
                b"0123456789000999..--+eE x\xc3\xa9".to_vec()
            ), 0..20),
        ) {
            let cell = String::from_utf8_lossy(&cell);
            let want = cell.parse::<f64>().ok().map(f64::to_bits);
            proptest::prop_assert_eq!(parse_f64(&cell).map(f64::to_bits), want, "{:?}", cell);
        }
    }

    #[test]
    fn shortcuts_agree_with_std() {
        let cells = [
            "0",
            "-0",
            "7",
            "-7",
            "79.14",
            "0.000",
            "5.",
            ".5",
            "-.5",
            "-5.",
            ".",
            "-",
            "-.",
            "1.2.3",
            "1..2",
            "--1",
            "+1",
            "1e5",
            "inf",
            "NaN",
            "123456789012345",
            "1234567890123456",
            "0.000000000000001",
            "12345678901234.5",
            "9007199254740993",
            "00012.50",
            "1,5",
            "2025-01-21",
            " 7",
            "7 ",
            "\u{a0}7",
            "x",
            "",
        ];
        for c in cells {
            let want: Option<f64> = c.parse().ok();
            assert_eq!(
                format!("{:?}", parse_f64(c)),
                format!("{want:?}"),
                "parse_f64({c:?})"
            );
        }
        for c in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\ta\n",
            "\u{a0}a",
            "a\u{2003}",
            "a b",
            "\u{e9}",
            "ab",
        ] {
            assert_eq!(trim(c), c.trim(), "trim({c:?})");
        }
    }

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
        assert_eq!(d.label("model").unwrap().values.get(2), Some("m3"));
        let errors = &d.label("error").unwrap().values;
        assert_eq!(
            errors.iter().collect::<Vec<_>>(),
            [None, None, Some("boom")]
        );
        let want: Vec<Option<String>> = vec![None, None, Some("boom".into())];
        assert_eq!(format!("{errors:?}"), format!("{want:?}"));
        assert_eq!(
            serde_json::to_string(errors).unwrap(),
            serde_json::to_string(&want).unwrap()
        );
        assert_eq!((errors.len(), errors.is_empty()), (3, false));
        assert_eq!(errors.get(3), None);
    }
}
