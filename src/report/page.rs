//! The one HTML page shell: every page agentbench writes (the run report, the history
//! page, the peers page, the sweep page) is a [`Page`] — one document head, one
//! style sheet, sections with headings, figures with captions, tables, and one
//! escaping function.
//!
//! Guarantees: a page is self-contained (inline CSS and SVG; no script, no external
//! style sheet, font or image); every text argument of [`Page`]'s methods is escaped
//! with [`escape`] unless the method's name ends in `_html`, which takes markup the
//! caller built (and escaped) itself.

use std::fmt::Write as _;

/// The pages' inline CSS.
pub const STYLE: &str = r#"
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --bg:#ffffff; --alt:#f6f8fa; --accent:#4e79a7; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: var(--fg); background: var(--bg); margin: 0; line-height: 1.5; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 32px 64px; }
h1 { font-size: 1.8rem; margin: 0 0 4px; }
h2 { font-size: 1.3rem; margin: 40px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 24px 0 6px; }
p.lead, .muted { color: var(--muted); }
table { border-collapse: collapse; width: 100%; font-size: 0.88rem; margin: 8px 0 16px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--alt); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fbfcfd; }
figure { margin: 16px 0 28px; padding: 12px; border: 1px solid var(--line); border-radius: 6px; }
figure svg { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { font-size: 0.88rem; color: var(--muted); margin-top: 8px; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.85rem; }
pre { background: var(--alt); padding: 8px; border-radius: 4px; white-space: pre-wrap; word-break: break-word; max-height: 320px; overflow: auto; }
details { margin: 6px 0; }
summary { cursor: pointer; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 0 16px; }
@media (max-width: 900px) { .grid { grid-template-columns: 1fr; } }
.badge { display: inline-block; padding: 0 6px; border-radius: 10px; background: var(--alt); border: 1px solid var(--line); font-size: 0.8rem; }
.err { color: #b42318; }
"#;

/// Escapes `& < > " '` so that `s` is inert as HTML text or as a quoted attribute
/// value. Every record-derived string goes through it.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A `<figure>` with an id, an inline SVG and a caption that is already HTML
/// (escape text with [`escape`] first). `id` must be a plain identifier.
pub fn figure(id: &str, svg: &str, caption_html: &str) -> String {
    format!("<figure id=\"{id}\">\n{svg}\n<figcaption>{caption_html}</figcaption>\n</figure>\n")
}

/// Markdown (CommonMark with pipe tables and strikethrough) rendered to HTML by
/// pulldown-cmark. Raw HTML in the input is escaped, not passed through, and links
/// and images are reduced to their text, so record-derived text in the Markdown
/// stays inert.
pub fn markdown_html(md: &str) -> String {
    use pulldown_cmark::{html, Event, Options, Parser, Tag, TagEnd};
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let events = Parser::new_ext(md, opts).filter_map(|ev| match ev {
        Event::Html(h) | Event::InlineHtml(h) => Some(Event::Text(h)),
        // No links or images from data: their text stays, the URL goes.
        Event::Start(Tag::Link { .. } | Tag::Image { .. })
        | Event::End(TagEnd::Link | TagEnd::Image) => None,
        other => Some(other),
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

/// One table cell: text (escaped when rendered) or HTML, left- or right-aligned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    html: String,
    numeric: bool,
}

impl Cell {
    /// A text cell (escaped).
    pub fn text(s: &str) -> Self {
        Self {
            html: escape(s),
            numeric: false,
        }
    }

    /// A right-aligned, tabular-figures cell (escaped).
    pub fn num(s: &str) -> Self {
        Self {
            html: escape(s),
            numeric: true,
        }
    }

    /// A cell of markup the caller built and escaped.
    pub fn html(s: &str) -> Self {
        Self {
            html: s.to_string(),
            numeric: false,
        }
    }
}

/// A table: a header row and body rows of [`Cell`]s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Header cells.
    pub head: Vec<Cell>,
    /// Body rows.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// A table with these header cells and no rows.
    pub fn new(head: Vec<Cell>) -> Self {
        Self {
            head,
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    pub fn row(&mut self, cells: Vec<Cell>) -> &mut Self {
        self.rows.push(cells);
        self
    }

    /// The table's HTML.
    pub fn to_html(&self) -> String {
        let cell = |tag: &str, c: &Cell| {
            let class = if c.numeric { " class=\"num\"" } else { "" };
            format!("<{tag}{class}>{}</{tag}>", c.html)
        };
        let mut s = String::from("<table><thead><tr>");
        for c in &self.head {
            s.push_str(&cell("th", c));
        }
        s.push_str("</tr></thead><tbody>\n");
        for r in &self.rows {
            s.push_str("<tr>");
            for c in r {
                s.push_str(&cell("td", c));
            }
            s.push_str("</tr>\n");
        }
        s.push_str("</tbody></table>\n");
        s
    }
}

/// A self-contained HTML page under construction. Build it top to bottom, then
/// [`finish`](Page::finish) it.
#[derive(Debug, Clone)]
pub struct Page {
    out: String,
}

impl Page {
    /// A page whose `<title>` and `<h1>` are `title` (escaped).
    pub fn new(title: &str) -> Self {
        let t = escape(title);
        let mut out = String::new();
        out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        let _ = write!(out, "<title>{t}</title>\n<style>");
        out.push_str(STYLE);
        let _ = writeln!(out, "</style>\n</head>\n<body>\n<main>\n<h1>{t}</h1>");
        Self { out }
    }

    /// A lead paragraph under the title (escaped).
    pub fn lead(&mut self, text: &str) -> &mut Self {
        let _ = writeln!(self.out, "<p class=\"lead\">{}</p>", escape(text));
        self
    }

    /// Provenance lines: a two-column table of (what, value), both escaped, the
    /// value in `<code>`.
    pub fn provenance(&mut self, lines: &[(&str, String)]) -> &mut Self {
        self.out.push_str("<table><tbody>\n");
        for (k, v) in lines {
            let _ = writeln!(
                self.out,
                "<tr><th>{}</th><td><code>{}</code></td></tr>",
                escape(k),
                escape(v)
            );
        }
        self.out.push_str("</tbody></table>\n");
        self
    }

    /// A section heading (`<h2>`) with an anchor id (a plain identifier).
    pub fn section(&mut self, id: &str, heading: &str) -> &mut Self {
        let _ = writeln!(self.out, "<h2 id=\"{id}\">{}</h2>", escape(heading));
        self
    }

    /// A sub-heading (`<h3>`).
    pub fn subsection(&mut self, heading: &str) -> &mut Self {
        let _ = writeln!(self.out, "<h3>{}</h3>", escape(heading));
        self
    }

    /// A paragraph (escaped).
    pub fn paragraph(&mut self, text: &str) -> &mut Self {
        let _ = writeln!(self.out, "<p>{}</p>", escape(text));
        self
    }

    /// A muted note, e.g. a section's method (escaped).
    pub fn note(&mut self, text: &str) -> &mut Self {
        let _ = writeln!(self.out, "<p class=\"muted\">{}</p>", escape(text));
        self
    }

    /// An inline SVG figure with an anchor id and a caption (escaped).
    pub fn figure(&mut self, id: &str, svg: &str, caption: &str) -> &mut Self {
        self.out.push_str(&figure(id, svg, &escape(caption)));
        self
    }

    /// A table.
    pub fn table(&mut self, t: &Table) -> &mut Self {
        self.out.push_str(&t.to_html());
        self
    }

    /// Markdown rendered by [`markdown_html`].
    pub fn markdown(&mut self, md: &str) -> &mut Self {
        self.out.push_str(&markdown_html(md));
        self
    }

    /// Markup the caller built and escaped itself.
    pub fn push_html(&mut self, html: &str) -> &mut Self {
        self.out.push_str(html);
        self
    }

    /// The finished document.
    pub fn finish(mut self) -> String {
        self.out.push_str("</main>\n</body>\n</html>\n");
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_argument_is_escaped() {
        let evil = "<script>alert('x')</script>&\"";
        let mut p = Page::new(evil);
        let mut t = Table::new(vec![Cell::text(evil), Cell::num("1")]);
        t.row(vec![Cell::text(evil), Cell::num(evil)]);
        p.lead(evil)
            .provenance(&[(evil, evil.to_string())])
            .section("s", evil)
            .subsection(evil)
            .paragraph(evil)
            .note(evil)
            .figure("f", "<svg></svg>", evil)
            .table(&t)
            .markdown(&format!(
                "# {evil}\n\n| a |\n|---|\n| {evil} |\n\n<b>raw</b> [x](javascript:alert(1))\n"
            ));
        let html = p.finish();
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<b>raw"), "{html}");
        assert!(!html.contains("href"), "{html}");
        assert!(html.starts_with("<!DOCTYPE html>\n"));
        assert!(html.ends_with("</main>\n</body>\n</html>\n"));
        assert!(
            html.contains("<td class=\"num\">1</td>") || html.contains("<th class=\"num\">1</th>")
        );
        assert!(html.contains("<table>") && html.contains("<svg></svg>"));
    }
}
