//! Tolerant parser for the analysis response (any text in, never panics).

use serde::{Deserialize, Serialize};

/// Longest summary kept, in bytes (cut on a char boundary).
pub const MAX_SUMMARY_BYTES: usize = 2000;
/// Longest list item kept, in bytes.
pub const MAX_ITEM_BYTES: usize = 500;
/// Most items kept per list.
pub const MAX_ITEMS: usize = 50;

/// The parsed analysis response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Analysis {
    /// Executive summary paragraph(s), whitespace-normalized, at most
    /// [`MAX_SUMMARY_BYTES`]. Falls back to the first paragraph when no section is found.
    pub summary: String,
    /// Items of the "Key Findings" section.
    pub findings: Vec<String>,
    /// Items of the "Recommendations" section.
    pub recommendations: Vec<String>,
    /// Items of the "Performance Metrics" section (table rows become `a: b` items).
    pub metrics: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Summary,
    Findings,
    Metrics,
    Recommendations,
}

fn classify(text: &str) -> Option<Section> {
    let t = text.to_lowercase();
    if t.contains("recommend") || t.contains("next step") || t.contains("action item") {
        Some(Section::Recommendations)
    } else if t.contains("finding") || t.contains("insight") || t.contains("observation") {
        Some(Section::Findings)
    } else if t.contains("metric") || t.contains("performance") {
        Some(Section::Metrics)
    } else if t.contains("summary") || t.contains("overview") {
        Some(Section::Summary)
    } else {
        None
    }
}

/// Recognizes the usual section names exactly (case-insensitive).
fn canonical(h: &str) -> Option<Section> {
    const NAMES: [&str; 16] = [
        "summary",
        "executive summary",
        "overview",
        "key findings",
        "findings",
        "insights",
        "key insights",
        "performance metrics",
        "metrics",
        "key metrics",
        "performance analysis",
        "performance metrics analysis",
        "recommendations",
        "key recommendations",
        "next steps",
        "tl;dr",
    ];
    let h = h.trim().to_lowercase();
    if NAMES.contains(&h.as_str()) {
        classify(&h).or(Some(Section::Summary))
    } else {
        None
    }
}

/// Cuts `s` to at most `max` bytes on a char boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Strips emphasis markers and surrounding punctuation from a heading-like text.
fn strip_heading(text: &str) -> &str {
    text.trim()
        .trim_matches(|c: char| c == '*' || c == '_' || c == '#' || c == '`' || c.is_whitespace())
        .trim_end_matches(':')
        .trim_matches(|c: char| c == '*' || c == '_' || c.is_whitespace())
}

/// The item text if `line` (trimmed) is a list item: `-`, `*`, `+`, `•`, `1.`, `1)`.
fn bullet(line: &str) -> Option<&str> {
    for p in ["- ", "* ", "+ ", "• "] {
        if let Some(rest) = line.strip_prefix(p) {
            return Some(rest.trim());
        }
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && digits <= 3 {
        let rest = &line[digits..];
        if let Some(r) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            return Some(r.trim());
        }
    }
    None
}

enum Line<'a> {
    /// A heading; the section it names (if recognized) and inline content after a colon.
    Heading(Option<Section>, &'a str),
    Bullet(&'a str),
    TableRow(&'a str),
    TableSeparator,
    Text(&'a str),
    Blank,
}

fn classify_line(raw: &str) -> Line<'_> {
    let line = raw.trim();
    if line.is_empty() {
        return Line::Blank;
    }
    if line.len() >= 3 && line.chars().all(|c| matches!(c, '-' | '*' | '_' | ' ')) {
        return Line::Blank; // horizontal rule
    }
    if line.starts_with('#') {
        return Line::Heading(classify(strip_heading(line)), "");
    }
    if line.starts_with('|') {
        if line.chars().all(|c| matches!(c, '|' | '-' | ':' | ' ')) {
            return Line::TableSeparator;
        }
        return Line::TableRow(line);
    }
    // A whole-line bold text naming a section (`**Key Findings**`, `**Key Findings:**`).
    let bold = (line.starts_with("**") && line.ends_with("**") && line.len() > 4)
        || (line.starts_with("**") && line.ends_with("**:") && line.len() > 5)
        || (line.starts_with("__") && line.ends_with("__") && line.len() > 4);
    if bold && !line[2..line.len() - 2].contains("**") {
        let h = strip_heading(line);
        if h.split_whitespace().count() <= 5 {
            if let Some(s) = classify(h) {
                return Line::Heading(Some(s), "");
            }
        }
    }
    if let Some(item) = bullet(line) {
        // `1. Executive Summary`, `- **Recommendations**`, `- Key Findings:` used as headings.
        let h = strip_heading(item);
        let marked = item.starts_with("**")
            || item.ends_with(':')
            || line.starts_with(|c: char| c.is_ascii_digit());
        if !h.contains(':')
            && (canonical(h).is_some() || marked && h.split_whitespace().count() <= 4)
        {
            if let Some(s) = classify(h) {
                return Line::Heading(Some(s), "");
            }
        }
        return Line::Bullet(item);
    }
    // `Key Findings:` alone, or `Executive Summary: text...` with inline content.
    if let Some((head, rest)) = line.split_once(':') {
        if let Some(s) = canonical(strip_heading(head)) {
            return Line::Heading(Some(s), rest.trim());
        }
    }
    Line::Text(line)
}

fn clean_item(s: &str) -> String {
    let s = s.replace("**", "").replace("__", "");
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate(&s, MAX_ITEM_BYTES).to_string()
}

fn table_item(row: &str) -> String {
    let cells: Vec<&str> = row
        .trim()
        .trim_matches('|')
        .split('|')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    match cells.as_slice() {
        [] => String::new(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first}: {}", rest.join(" | ")),
    }
}

struct Builder {
    items: Vec<String>,
    /// The last line added to an item (a continuation may follow).
    open: bool,
    /// Index of the last table row pushed (a separator after it marks it a header).
    last_table_row: Option<usize>,
}

impl Builder {
    fn new() -> Self {
        Self {
            items: Vec::new(),
            open: false,
            last_table_row: None,
        }
    }

    fn push(&mut self, s: String) {
        if !s.is_empty() && self.items.len() < MAX_ITEMS {
            self.items.push(s);
        }
    }

    fn line(&mut self, l: &Line<'_>, indented: bool) {
        match *l {
            Line::Bullet(t) => {
                self.push(clean_item(t));
                self.open = true;
                self.last_table_row = None;
            }
            Line::TableRow(r) => {
                self.push(clean_item(&table_item(r)));
                self.last_table_row = self.items.len().checked_sub(1);
                self.open = false;
            }
            Line::TableSeparator => {
                if let Some(i) = self.last_table_row.take() {
                    if i + 1 == self.items.len() {
                        self.items.pop();
                    }
                }
            }
            Line::Text(t) => {
                match self.items.last_mut() {
                    Some(last) if self.open && (indented || !t.is_empty()) => {
                        let joined = clean_item(&format!("{last} {t}"));
                        *last = joined;
                    }
                    _ => self.push(clean_item(t)),
                }
                self.open = true;
                self.last_table_row = None;
            }
            Line::Blank => {
                self.open = false;
                self.last_table_row = None;
            }
            Line::Heading(..) => {}
        }
    }
}

/// Parses an analysis response. Accepts any text: headings in any case, `#`-style or
/// `**bold**` or `Name:` headings, `-`/`*`/`+`/`1.` lists, tables, missing sections,
/// garbage and empty input. Never panics; output sizes are bounded.
pub fn parse_analysis(text: &str) -> Analysis {
    let mut section: Option<Section> = None;
    let mut seen_section = false;
    let mut summary = String::new();
    let mut preamble = String::new();
    let mut preamble_done = false;
    let mut first_paragraph = String::new();
    let mut first_paragraph_done = false;
    let mut lists = [Builder::new(), Builder::new(), Builder::new()];
    for raw in text.lines() {
        let indented = raw.starts_with("  ") || raw.starts_with('\t');
        let line = classify_line(raw);
        // The fallback: first paragraph of non-heading text.
        match &line {
            Line::Blank | Line::Heading(..) if !first_paragraph.is_empty() => {
                first_paragraph_done = true
            }
            Line::Bullet(t) | Line::Text(t) | Line::TableRow(t) if !first_paragraph_done => {
                append(&mut first_paragraph, t)
            }
            _ => {}
        }
        if let Line::Heading(s, inline) = line {
            section = s;
            if s.is_some() {
                seen_section = true;
                if !preamble.is_empty() {
                    preamble_done = true;
                }
            }
            if inline.is_empty() {
                continue;
            }
            let content = classify_line(inline);
            dispatch(section, &content, indented, &mut summary, &mut lists);
            continue;
        }
        if !seen_section && !preamble_done {
            if let Line::Text(t) = line {
                append(&mut preamble, t);
            } else if matches!(line, Line::Blank) && !preamble.is_empty() {
                preamble_done = true;
            }
        }
        dispatch(section, &line, indented, &mut summary, &mut lists);
    }
    let [findings, metrics, recommendations] = lists;
    let mut summary = if !seen_section {
        first_paragraph
    } else if summary.is_empty() {
        preamble
    } else {
        summary
    };
    summary = clean_item_bounded(&summary, MAX_SUMMARY_BYTES);
    Analysis {
        summary,
        findings: findings.items,
        recommendations: recommendations.items,
        metrics: metrics.items,
    }
}

fn clean_item_bounded(s: &str, max: usize) -> String {
    let s = s.replace("**", "");
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate(&s, max).to_string()
}

fn append(buf: &mut String, t: &str) {
    if buf.len() > MAX_SUMMARY_BYTES * 2 {
        return;
    }
    if !buf.is_empty() {
        buf.push(' ');
    }
    buf.push_str(t);
}

fn dispatch(
    section: Option<Section>,
    line: &Line<'_>,
    indented: bool,
    summary: &mut String,
    lists: &mut [Builder; 3],
) {
    match section {
        Some(Section::Summary) => match line {
            Line::Text(t) | Line::Bullet(t) => append(summary, t),
            Line::TableRow(r) => append(summary, &table_item(r)),
            _ => {}
        },
        Some(Section::Findings) => lists[0].line(line, indented),
        Some(Section::Metrics) => lists[1].line(line, indented),
        Some(Section::Recommendations) => lists[2].line(line, indented),
        None => {}
    }
}
