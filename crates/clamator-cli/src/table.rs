//! Plain-text tables: a header row, columns padded to their widest cell and
//! two spaces apart, numbers right-aligned, no borders. The layout is
//! `comfy-table`'s (display widths by Unicode width); this module only
//! decides the look every command shares and cuts over-long cells.

use comfy_table::{CellAlignment, presets};

/// A table built row by row, rendered once complete.
#[derive(Debug)]
pub(crate) struct Table {
    /// Column titles.
    headers: Vec<String>,
    /// Cells, one `Vec` per row, as many as headers.
    rows: Vec<Vec<String>>,
    /// Per column: right-align (numbers, durations).
    right: Vec<bool>,
}

/// Cells wider than this are cut with `…`.
const DEFAULT_MAX_CELL: usize = 80;

/// Spaces between two columns.
const GAP: u16 = 2;

impl Table {
    /// A table with these column titles, all left-aligned.
    pub(crate) fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
            right: vec![false; headers.len()],
        }
    }

    /// Right-aligns the columns at these indexes.
    #[must_use]
    pub(crate) fn right(mut self, columns: &[usize]) -> Table {
        for &c in columns {
            if let Some(r) = self.right.get_mut(c) {
                *r = true;
            }
        }
        self
    }

    /// Adds a row; missing cells are blank, extra cells are dropped.
    pub(crate) fn push(&mut self, cells: Vec<String>) {
        let mut cells: Vec<String> = cells
            .into_iter()
            .map(|c| truncate(&c, DEFAULT_MAX_CELL))
            .collect();
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    /// Whether no row was added.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as lines of text without trailing spaces (no trailing
    /// newline on the last).
    pub(crate) fn render(&self) -> String {
        let mut table = comfy_table::Table::new();
        // No borders, no width limit (the caller's terminal is not asked):
        // a table piped into a file looks like the one on screen.
        table
            .load_style(presets::NOTHING)
            .set_header(self.headers.clone())
            .add_rows(self.rows.clone());
        let last = self.headers.len().saturating_sub(1);
        for (i, column) in table.column_iter_mut().enumerate() {
            // The gap is the right padding of every column but the last.
            column.set_padding((0, if i == last { 0 } else { GAP }));
            if self.right.get(i).copied().unwrap_or(false) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        table.trim_fmt()
    }
}

/// Display width, counted in chars (good enough for ids, names and JSON).
pub(crate) fn width(s: &str) -> usize {
    s.chars().count()
}

/// `s` cut to at most `max` chars, ending in `…` when cut; control characters become spaces.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    let clean = |c: char| if c.is_control() { ' ' } else { c };
    if width(s) <= max {
        return s.chars().map(clean).collect();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).map(clean).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_and_aligns() {
        let mut t = Table::new(&["NAME", "N"]).right(&[1]);
        t.push(vec!["arith".into(), "5".into()]);
        t.push(vec!["é".into(), "12345".into()]);
        assert_eq!(t.render(), "NAME       N\narith      5\né      12345");
    }

    #[test]
    fn wide_characters_take_two_columns() {
        let mut t = Table::new(&["NAME", "N"]).right(&[1]);
        t.push(vec!["日本".into(), "1".into()]);
        t.push(vec!["ab".into(), "2".into()]);
        assert_eq!(t.render(), "NAME  N\n日本  1\nab    2");
    }

    #[test]
    fn truncates_and_cleans() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("ab\ncd", 10), "ab cd");
        assert_eq!(truncate("ééé", 3), "ééé");
        let mut t = Table::new(&["A", "B", "C"]);
        t.push(vec!["x".into()]);
        assert_eq!(t.render(), "A  B  C\nx");
    }
}
