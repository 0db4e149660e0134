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
    pub rows: Vec<Vec<String>>,
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
    // Columns of the current table (the cells a row is expected to have).
    let mut width = 0;
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
                    rows: Vec::new(),
                })
            }
            Event::End(TagEnd::Table) => data.tables.extend(table.take()),
            Event::Start(Tag::TableHead | Tag::TableRow) => row.reserve_exact(width),
            Event::Start(Tag::TableCell) => {
                open.in_cell = true;
                open.cell_text.clear();
            }
            Event::End(TagEnd::TableCell) if open.in_cell => {
                open.in_cell = false;
                row.push(open.cell_text.trim().to_string());
            }
            Event::End(TagEnd::TableHead) => {
                if let Some(t) = table.as_mut() {
                    t.header = std::mem::take(&mut row);
                }
            }
            Event::End(TagEnd::TableRow) => {
                if let Some(t) = table.as_mut() {
                    t.rows.push(std::mem::take(&mut row));
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
        assert_eq!(
            d.tables[0].rows,
            vec![vec!["Mean".to_string(), "9.5 tok/s".to_string()]]
        );
        assert_eq!(d.tables[0].section.as_deref(), Some("Results"));
        let texts: Vec<_> = d.bullets.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(texts, ["one more", "nested", "two"]);
        assert_eq!(d.bullets[0].section.as_deref(), Some("Key Findings"));
    }
}
