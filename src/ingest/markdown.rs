//! Markdown parsing with pulldown-cmark: headings, tables, list items.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use serde::Serialize;

/// A heading and its level (1–6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heading {
    /// 1 for `#`, 2 for `##`...
    pub level: u8,
    /// Plain text of the heading.
    pub text: String,
}

/// A table (GFM syntax) and the heading it sits under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MdTable {
    /// Text of the closest preceding heading, if any.
    pub section: Option<String>,
    /// Header cells.
    pub header: Vec<String>,
    /// Body rows (cells as plain text).
    pub rows: MdRows,
}

/// A table's body rows: the `Vec<Vec<String>>` of their cells' texts, held as one
/// text buffer and the ends of cells and rows (a few allocations per table instead
/// of one per cell and per row). It compares, prints (`{:?}`) and serializes
/// exactly as that vector does.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MdRows {
    /// Every cell's text, concatenated in order.
    text: String,
    /// The end of each cell in `text`.
    cell_ends: Vec<usize>,
    /// The end of each row in `cell_ends`.
    row_ends: Vec<usize>,
}

/// One row of [`MdRows`].
#[derive(Clone, Copy)]
pub struct MdRow<'a> {
    rows: &'a MdRows,
    /// The row's cells, as indices into `rows.cell_ends`.
    cells: (usize, usize),
}

impl MdRows {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.row_ends.len()
    }

    /// `true` when the table has no body row.
    pub fn is_empty(&self) -> bool {
        self.row_ends.is_empty()
    }

    /// The rows in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = MdRow<'_>> + '_ {
        (0..self.row_ends.len()).map(move |r| MdRow {
            rows: self,
            cells: (
                if r == 0 { 0 } else { self.row_ends[r - 1] },
                self.row_ends[r],
            ),
        })
    }

    fn cell_text(&self, c: usize) -> &str {
        let start = if c == 0 { 0 } else { self.cell_ends[c - 1] };
        &self.text[start..self.cell_ends[c]]
    }

    /// Appends a cell to the row being built.
    fn push_cell(&mut self, text: &str) {
        self.text.push_str(text);
        self.cell_ends.push(self.text.len());
    }

    /// Ends the row being built (its cells are those pushed since the last row).
    fn end_row(&mut self) {
        self.row_ends.push(self.cell_ends.len());
    }
}

impl<'a> MdRow<'a> {
    /// Number of cells.
    pub fn len(&self) -> usize {
        self.cells.1 - self.cells.0
    }

    /// `true` for a row without cells.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text of cell `i` (0-based), if the row has it.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        (i < self.len()).then(|| self.rows.cell_text(self.cells.0 + i))
    }

    /// The cells' texts in order.
    pub fn cells(&self) -> impl ExactSizeIterator<Item = &'a str> + 'a {
        let rows = self.rows;
        (self.cells.0..self.cells.1).map(move |c| rows.cell_text(c))
    }
}

impl std::fmt::Debug for MdRow<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.cells()).finish()
    }
}

impl std::fmt::Debug for MdRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for MdRow<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.cells())
    }
}

impl Serialize for MdRows {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl MdTable {
    /// `true` for two-or-more-column tables whose header starts `Metric | Value`
    /// (case-insensitive): each row is then a metric/value pair.
    pub fn is_metric_value(&self) -> bool {
        self.header.len() >= 2
            && self.header[0].trim().eq_ignore_ascii_case("metric")
            && self.header[1].trim().eq_ignore_ascii_case("value")
    }
}

/// A list item and the heading it sits under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MdBullet {
    /// Text of the closest preceding heading, if any.
    pub section: Option<String>,
    /// Plain text of the item (nested items are separate bullets).
    pub text: String,
}

/// What a parsed Markdown file holds, in document order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MarkdownData {
    /// All headings.
    pub headings: Vec<Heading>,
    /// All tables.
    pub tables: Vec<MdTable>,
    /// All list items (bulleted or numbered).
    pub bullets: Vec<MdBullet>,
}

/// Text being collected, in reused buffers: one allocation per kept string (its
/// trimmed copy), none per cell, heading or item.
#[derive(Default)]
struct Open {
    /// Level of the heading being read, if one is.
    heading: Option<u8>,
    heading_text: String,
    /// A table cell is being read.
    in_cell: bool,
    cell_text: String,
    /// Open list items: their texts are `items[..depth]` (buffers past `depth` are
    /// kept for reuse).
    items: Vec<String>,
    depth: usize,
}

impl Open {
    /// The buffer that text goes to: the cell, else the heading, else the innermost
    /// open item, else none.
    fn text_sink(&mut self) -> Option<&mut String> {
        if self.in_cell {
            Some(&mut self.cell_text)
        } else if self.heading.is_some() {
            Some(&mut self.heading_text)
        } else {
            self.depth.checked_sub(1).map(|d| &mut self.items[d])
        }
    }

    fn start_item(&mut self) {
        if self.depth == self.items.len() {
            self.items.push(String::new());
        } else {
            self.items[self.depth].clear();
        }
        self.depth += 1;
    }
}

pub(super) fn parse(text: &str) -> MarkdownData {
    let mut data = MarkdownData {
        headings: Vec::new(),
        tables: Vec::new(),
        bullets: Vec::new(),
    };
    let mut open = Open::default();
    let mut section: Option<String> = None;
    let mut table: Option<MdTable> = None;
    let mut row: Vec<String> = Vec::new();
    // Columns of the current table (the cells its header is expected to have).
    let mut width = 0;
    // The header row is being read (its cells go to `row`, body cells to the table).
    let mut in_head = false;
    for ev in Parser::new_ext(text, Options::ENABLE_TABLES) {
        match ev {
            Event::Start(Tag::Heading { level, .. }) => {
                open.heading = Some(level as u8);
                open.heading_text.clear();
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some(level) = open.heading.take() {
                    let t = open.heading_text.trim().to_string();
                    section = Some(t.clone());
                    data.headings.push(Heading { level, text: t });
                }
            }
            Event::Start(Tag::Table(columns)) => {
                width = columns.len();
                table = Some(MdTable {
                    section: section.clone(),
                    header: Vec::new(),
                    rows: MdRows::default(),
                })
            }
            Event::End(TagEnd::Table) => data.tables.extend(table.take()),
            Event::Start(Tag::TableHead) => {
                in_head = true;
                row.reserve_exact(width);
            }
            Event::Start(Tag::TableCell) => {
                open.in_cell = true;
                open.cell_text.clear();
            }
            Event::End(TagEnd::TableCell) if open.in_cell => {
                open.in_cell = false;
                let cell = open.cell_text.trim();
                match table.as_mut() {
                    Some(t) if !in_head => t.rows.push_cell(cell),
                    _ => row.push(cell.to_string()),
                }
            }
            Event::End(TagEnd::TableHead) => {
                in_head = false;
                if let Some(t) = table.as_mut() {
                    t.header = std::mem::take(&mut row);
                }
            }
            Event::End(TagEnd::TableRow) => {
                if let Some(t) = table.as_mut() {
                    t.rows.end_row();
                }
            }
            Event::Start(Tag::Item) => open.start_item(),
            Event::End(TagEnd::Item) => {
                if let Some(d) = open.depth.checked_sub(1) {
                    open.depth = d;
                    let t = open.items[d].trim();
                    if !t.is_empty() {
                        data.bullets.push(MdBullet {
                            section: section.clone(),
                            text: t.to_string(),
                        });
                    }
                }
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some(sink) = open.text_sink() {
                    sink.push_str(&t);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some(d) = open.depth.checked_sub(1) {
                    open.items[d].push(' ');
                }
            }
            _ => {}
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_tables_and_items() {
        let d = parse(
            "# Title\n\n## Results\n\n| Metric | Value |\n|---|---|\n| Mean | 9.5 `tok/s` |\n\n## Key Findings\n\n- one\n  more\n- two\n  1. nested\n",
        );
        assert_eq!(d.headings.len(), 3);
        assert_eq!(
            d.headings[1],
            Heading {
                level: 2,
                text: "Results".into()
            }
        );
        assert_eq!(d.tables.len(), 1);
        assert!(d.tables[0].is_metric_value());
        let want = vec![vec!["Mean".to_string(), "9.5 tok/s".to_string()]];
        let rows = &d.tables[0].rows;
        assert_eq!(format!("{rows:?}"), format!("{want:?}"));
        assert_eq!(format!("{rows:#?}"), format!("{want:#?}"));
        assert_eq!(
            serde_json::to_string(rows).unwrap(),
            serde_json::to_string(&want).unwrap()
        );
        let first = rows.iter().next().unwrap();
        assert_eq!(
            (rows.len(), first.len(), first.get(1)),
            (1, 2, Some("9.5 tok/s"))
        );
        assert_eq!(first.get(2), None);
        assert_eq!(d.tables[0].section.as_deref(), Some("Results"));
        let texts: Vec<_> = d.bullets.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(texts, ["one more", "nested", "two"]);
        assert_eq!(d.bullets[0].section.as_deref(), Some("Key Findings"));
    }
}
