//! The view: what the screen shows, decided from the latest sample, the
//! latest failure and the keys pressed. [`View`] is a ratatui widget that
//! draws into any buffer, so tests render it into one of their own and read
//! the text back; nothing here touches the terminal.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table, Widget};

use super::sample::{Sample, ServiceRow, millis};
use crate::clock;
use crate::cmd::services::ConsumerInfo;
use crate::table::truncate;

/// Names and cells wider than this are cut with `…` (as in the other commands' tables).
const MAX_CELL: usize = 80;

/// Spaces between two table columns.
const GAP: u16 = 2;

/// The column the services are sorted by (`s` cycles through them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SortKey {
    /// By name, A to Z.
    Name,
    /// Busiest first.
    CallsPerSec,
    /// Most pending first.
    Pending,
    /// Most lag first.
    Lag,
}

impl SortKey {
    /// The key after this one, back to [`SortKey::Name`] after the last.
    pub(super) fn next(self) -> SortKey {
        match self {
            SortKey::Name => SortKey::CallsPerSec,
            SortKey::CallsPerSec => SortKey::Pending,
            SortKey::Pending => SortKey::Lag,
            SortKey::Lag => SortKey::Name,
        }
    }

    /// How the help line names it.
    fn label(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::CallsPerSec => "calls/s",
            SortKey::Pending => "pending",
            SortKey::Lag => "lag",
        }
    }

    /// `rows` in this order (ties by name); unknown values last.
    fn sort(self, rows: &mut [&ServiceRow]) {
        let desc_rate = |r: &ServiceRow| std::cmp::Reverse(r.calls_per_sec.map(ordered));
        match self {
            SortKey::Name => rows.sort_by(|a, b| a.service.cmp(&b.service)),
            SortKey::CallsPerSec => rows.sort_by(|a, b| {
                desc_rate(a)
                    .cmp(&desc_rate(b))
                    .then(a.service.cmp(&b.service))
            }),
            SortKey::Pending => {
                rows.sort_by(|a, b| b.pending.cmp(&a.pending).then(a.service.cmp(&b.service)));
            }
            SortKey::Lag => rows.sort_by(|a, b| b.lag.cmp(&a.lag).then(a.service.cmp(&b.service))),
        }
    }
}

/// A non-negative rate as an integer that sorts like it (hundredths).
fn ordered(rate: f64) -> u64 {
    (rate.max(0.0) * 100.0).round() as u64
}

/// A sample that failed: when (ISO 8601 UTC) and what.
#[derive(Debug, Clone)]
pub(super) struct Failure {
    /// When it failed.
    pub(super) at: String,
    /// What failed (the error's message, which says what to do).
    pub(super) message: String,
}

/// What a key asks for.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Action {
    /// Leave top.
    Quit,
    /// The view changed: draw it again.
    Redraw,
    /// Nothing to do.
    Nothing,
}

/// Everything the screen shows.
#[derive(Debug)]
pub(super) struct View {
    /// The key prefix.
    prefix: String,
    /// The Redis URL, password hidden.
    url: String,
    /// Time between samples.
    interval: Duration,
    /// The sort column.
    sort: SortKey,
    /// Paused: new samples and failures are not taken in.
    paused: bool,
    /// The latest successful sample.
    sample: Option<Sample>,
    /// The latest failure, cleared by the next successful sample.
    error: Option<Failure>,
}

impl View {
    /// A view with nothing sampled yet, sorted by name.
    pub(super) fn new(prefix: &str, url: &str, interval: Duration) -> View {
        View {
            prefix: prefix.to_owned(),
            url: url.to_owned(),
            interval,
            sort: SortKey::Name,
            paused: false,
            sample: None,
            error: None,
        }
    }

    /// Takes in a sample or a failure (unless paused).
    pub(super) fn update(&mut self, result: Result<Sample, Failure>) {
        if self.paused {
            return;
        }
        match result {
            Ok(sample) => {
                self.sample = Some(sample);
                self.error = None;
            }
            Err(failure) => self.error = Some(failure),
        }
    }

    /// Reacts to a key: `q`, Esc or Ctrl-C quit, `s` sorts by the next
    /// column, `p` or space pauses and resumes.
    pub(super) fn on_key(&mut self, key: KeyEvent) -> Action {
        if key.kind != KeyEventKind::Press {
            return Action::Nothing;
        }
        match key.code {
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Action::Quit,
            KeyCode::Char('q' | 'Q') | KeyCode::Esc => Action::Quit,
            KeyCode::Char('s' | 'S') => {
                self.sort = self.sort.next();
                Action::Redraw
            }
            KeyCode::Char('p' | 'P' | ' ') => {
                self.paused = !self.paused;
                Action::Redraw
            }
            _ => Action::Nothing,
        }
    }

    /// The first line: what is watched, how often, and when it was sampled.
    fn title(&self) -> Line<'static> {
        let taken = self
            .sample
            .as_ref()
            .map_or("-", |s| time_part(&s.timestamp));
        let mut spans = vec![
            Span::styled("clamator top", Style::new().bold()),
            Span::raw(format!(
                " - prefix `{}` - {} - every {} - {} UTC",
                clean(&self.prefix),
                clean(&self.url),
                clock::human(millis(self.interval)),
                taken,
            )),
        ];
        if self.paused {
            spans.push(Span::raw(" - "));
            spans.push(Span::styled("PAUSED", Style::new().reversed()));
        }
        Line::from(spans)
    }

    /// The second line: totals of the sample, or what is going on without one.
    fn summary(&self) -> Line<'static> {
        match &self.sample {
            Some(s) => {
                let dead: usize = s.services.iter().filter_map(|r| r.dead_letters).sum();
                Line::raw(format!(
                    "services {}  reply streams {} ({} idle > {})  dead letters {}",
                    s.services.len(),
                    s.reply_streams.total,
                    s.reply_streams.idle,
                    clock::human(s.reply_streams.idle_after_ms),
                    dead
                ))
            }
            None if self.error.is_none() => Line::raw("sampling..."),
            None => Line::default(),
        }
    }

    /// The latest failure cut into lines of `cols` characters, at most three:
    /// the end of the message says what to do, so it is wrapped, not cut.
    fn error_lines(&self, cols: u16) -> Vec<Line<'static>> {
        let Some(failure) = &self.error else {
            return Vec::new();
        };
        let text = clean(&format!(
            "ERROR at {} UTC (retrying every {}): {}",
            time_part(&failure.at),
            clock::human(millis(self.interval)),
            failure.message,
        ));
        let chars: Vec<char> = text.chars().collect();
        chars
            .chunks(usize::from(cols.max(1)))
            .take(3)
            .map(|chunk| Line::styled(chunk.iter().collect::<String>(), Style::new().red()))
            .collect()
    }

    /// The last line: the keys.
    fn help(&self) -> Line<'static> {
        let key = |k: &'static str| Span::styled(k, Style::new().bold());
        Line::from(vec![
            key("q"),
            Span::raw(" quit  "),
            key("s"),
            Span::raw(format!(" sort (by {})  ", self.sort.label())),
            key("p"),
            Span::raw(if self.paused { " resume" } else { " pause" }),
        ])
    }

    /// The services table and, as far as the rows left allow, their consumers.
    fn render_services(&self, s: &Sample, out: &mut Lines<'_>) {
        if s.services.is_empty() {
            let prefix = clean(&self.prefix);
            out.line(Line::raw(format!(
                "no services under key prefix `{prefix}` (no stream matches {prefix}:cmds:*)"
            )));
            return;
        }
        let mut rows: Vec<&ServiceRow> = s.services.iter().collect();
        self.sort.sort(&mut rows);
        let title = |title: &str, key: Option<SortKey>| {
            if key == Some(self.sort) {
                (format!("{title}*"), true)
            } else {
                (title.to_owned(), false)
            }
        };
        let headers = [
            title("SERVICE", Some(SortKey::Name)),
            title("CALLS/S", Some(SortKey::CallsPerSec)),
            title("PENDING", Some(SortKey::Pending)),
            title("LAG", Some(SortKey::Lag)),
            title("CONSUMERS", None),
            title("MAX IDLE", None),
            title("DEAD", None),
        ];
        let dash = || "-".to_owned();
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    truncate(&r.service, MAX_CELL),
                    r.calls_per_sec.map_or_else(dash, |c| format!("{c:.1}")),
                    r.pending.map_or_else(dash, |p| p.to_string()),
                    r.lag.map_or_else(dash, |l| l.to_string()),
                    r.consumers.len().to_string(),
                    r.consumers
                        .iter()
                        .map(|c| c.idle_ms)
                        .max()
                        .map_or_else(dash, |ms| clock::human(ms as u64)),
                    r.dead_letters.map_or_else(dash, |d| d.to_string()),
                ]
            })
            .collect();
        out.table(
            &TextTable {
                headers: &headers,
                right: &[false, true, true, true, true, true, true],
                rows: &cells,
            },
            cells.len(),
        );

        let consumers: Vec<(&str, &ConsumerInfo)> = rows
            .iter()
            .flat_map(|r| r.consumers.iter().map(|c| (r.service.as_str(), c)))
            .collect();
        // A blank line and the consumers' header, then as many as fit.
        let room = out.left().saturating_sub(2);
        if consumers.is_empty() || room == 0 {
            return;
        }
        let shown = if consumers.len() > room {
            room - 1
        } else {
            consumers.len()
        };
        let cells: Vec<Vec<String>> = consumers[..shown]
            .iter()
            .map(|(service, c)| {
                vec![
                    truncate(&c.name, MAX_CELL),
                    truncate(service, MAX_CELL),
                    clock::human(c.idle_ms as u64),
                    c.pending.to_string(),
                ]
            })
            .collect();
        let plain = |t: &str| (t.to_owned(), false);
        out.line(Line::default());
        out.table(
            &TextTable {
                headers: &[
                    plain("CONSUMER"),
                    plain("SERVICE"),
                    plain("IDLE"),
                    plain("PENDING"),
                ],
                right: &[false, false, true, true],
                rows: &cells,
            },
            shown,
        );
        if shown < consumers.len() {
            out.line(Line::raw(format!(
                "... {} more consumers (make the window taller)",
                consumers.len() - shown
            )));
        }
    }
}

impl Widget for &View {
    /// Top to bottom: title, summary, the latest error, a blank line, the
    /// services, their consumers; the key help on the last row, always.
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.is_empty() {
            return;
        }
        let body = Rect {
            height: area.height - 1,
            ..area
        };
        let mut out = Lines {
            area: body,
            y: body.y,
            buf,
        };
        out.line(self.title());
        out.line(self.summary());
        for line in self.error_lines(area.width) {
            out.line(line);
        }
        out.line(Line::default());
        if let Some(s) = &self.sample {
            self.render_services(s, &mut out);
        }
        let help = Rect {
            y: area.bottom() - 1,
            height: 1,
            ..area
        };
        self.help().render(help, out.buf);
    }
}

/// A table of plain text: titles (each with whether it is the sort column),
/// which columns are right-aligned, and the cells.
struct TextTable<'t> {
    /// Column titles; `true` marks the column the rows are sorted by.
    headers: &'t [(String, bool)],
    /// Per column: right-align (numbers, durations).
    right: &'t [bool],
    /// The cells, as many per row as titles.
    rows: &'t [Vec<String>],
}

impl TextTable<'_> {
    /// A ratatui table with each column as wide as its widest cell and
    /// [`GAP`] spaces between columns, the header bold (the sort column's
    /// underlined too).
    fn widget(&self) -> Table<'static> {
        let widths: Vec<Constraint> = self
            .headers
            .iter()
            .enumerate()
            .map(|(c, (title, _))| {
                let widest = self
                    .rows
                    .iter()
                    .filter_map(|row| row.get(c))
                    .map(|cell| Span::raw(cell.as_str()).width())
                    .chain([Span::raw(title.as_str()).width()])
                    .max()
                    .unwrap_or(0);
                Constraint::Length(u16::try_from(widest).unwrap_or(u16::MAX))
            })
            .collect();
        let align = |c: usize| {
            if self.right.get(c).copied().unwrap_or(false) {
                Alignment::Right
            } else {
                Alignment::Left
            }
        };
        let header = Row::new(self.headers.iter().enumerate().map(|(c, (title, sorted))| {
            let style = if *sorted {
                Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
            } else {
                Style::new().bold()
            };
            Cell::from(Line::styled(title.clone(), style).alignment(align(c)))
        }));
        let rows = self.rows.iter().map(|row| {
            Row::new(
                row.iter()
                    .enumerate()
                    .map(|(c, cell)| Cell::from(Line::raw(cell.clone()).alignment(align(c)))),
            )
        });
        Table::new(rows, widths).header(header).column_spacing(GAP)
    }
}

/// Writes lines and tables one under the other into an area, dropping what
/// does not fit.
struct Lines<'b> {
    /// Where to write.
    area: Rect,
    /// The next free row.
    y: u16,
    /// The buffer written to.
    buf: &'b mut Buffer,
}

impl Lines<'_> {
    /// Rows left below what was written.
    fn left(&self) -> usize {
        usize::from(self.area.bottom().saturating_sub(self.y))
    }

    /// The next `height` rows (fewer when they do not fit), taken.
    fn take(&mut self, height: usize) -> Rect {
        let height = u16::try_from(height.min(self.left())).unwrap_or(0);
        let rect = Rect {
            y: self.y,
            height,
            ..self.area
        };
        self.y += height;
        rect
    }

    /// One line.
    fn line(&mut self, line: Line<'_>) {
        let rect = self.take(1);
        line.render(rect, self.buf);
    }

    /// A table: its header and `rows` rows.
    fn table(&mut self, table: &TextTable<'_>, rows: usize) {
        let rect = self.take(rows + 1);
        Widget::render(table.widget(), rect, self.buf);
    }
}

/// `HH:MM:SS` of an ISO 8601 timestamp.
fn time_part(iso: &str) -> &str {
    iso.get(11..19).unwrap_or(iso)
}

/// Text from Redis or the command line with control characters made spaces:
/// nothing in it may move the cursor.
fn clean(text: &str) -> String {
    truncate(text, usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::super::sample::ReplyStats;
    use super::*;

    fn row(service: &str, calls: Option<f64>, pending: usize, lag: usize) -> ServiceRow {
        ServiceRow {
            service: service.to_owned(),
            calls_per_sec: calls,
            entries_added: Some(10),
            length: 3,
            pending: Some(pending),
            lag: Some(lag),
            consumers: vec![ConsumerInfo {
                name: format!("{service}:w1"),
                idle_ms: 1_500,
                pending,
            }],
            dead_letters: Some(0),
        }
    }

    fn sample(services: Vec<ServiceRow>) -> Sample {
        Sample {
            timestamp: "2024-05-01T12:00:01.123Z".to_owned(),
            elapsed_ms: Some(1_000),
            services,
            reply_streams: ReplyStats {
                total: 3,
                idle: 1,
                idle_after_ms: 60_000,
            },
        }
    }

    fn view(services: Vec<ServiceRow>) -> View {
        let mut v = View::new("app", "redis://h:1", Duration::from_secs(1));
        v.update(Ok(sample(services)));
        v
    }

    /// The view drawn into a `cols` x `rows` buffer, as text, trailing spaces cut.
    fn screen(v: &View, cols: u16, rows: u16) -> Vec<String> {
        let area = Rect::new(0, 0, cols, rows);
        let mut buf = Buffer::empty(area);
        v.render(area, &mut buf);
        (0..rows)
            .map(|y| {
                (0..cols)
                    .map(|x| buf[(x, y)].symbol())
                    .collect::<String>()
                    .trim_end()
                    .to_owned()
            })
            .collect()
    }

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn sorts_cycle_and_mark_the_column() {
        let mut v = view(vec![
            row("alpha", Some(1.0), 5, 0),
            row("beta", Some(9.5), 0, 7),
            row("gamma", None, 2, 1),
        ]);
        let order = |v: &View| -> Vec<String> {
            screen(v, 200, 40)
                .into_iter()
                .filter(|l| {
                    ["alpha ", "beta ", "gamma "]
                        .iter()
                        .any(|n| l.starts_with(n))
                })
                .map(|l| l.split(' ').next().unwrap_or("").to_owned())
                .collect()
        };
        assert_eq!(order(&v), ["alpha", "beta", "gamma"]);
        assert!(
            screen(&v, 200, 40)
                .iter()
                .any(|l| l.starts_with("SERVICE*"))
        );
        assert_eq!(v.on_key(key('s')), Action::Redraw);
        assert_eq!(order(&v), ["beta", "alpha", "gamma"]);
        let lines = screen(&v, 200, 40);
        assert!(lines.iter().any(|l| l.contains("CALLS/S*")), "{lines:#?}");
        assert!(lines[39].starts_with("q quit  s sort (by calls/s)"));
        v.on_key(key('s'));
        assert_eq!(order(&v), ["alpha", "gamma", "beta"]);
        v.on_key(key('s'));
        assert_eq!(order(&v), ["beta", "gamma", "alpha"]);
        assert_eq!(v.sort.next(), SortKey::Name);
    }

    #[test]
    fn columns_are_two_apart_and_numbers_right_aligned() {
        let v = view(vec![row("arith", Some(12.0), 1, 0)]);
        let lines = screen(&v, 120, 12);
        let header = lines.iter().position(|l| l.starts_with("SERVICE*"));
        let header = header.map(|i| (lines[i].as_str(), lines[i + 1].as_str()));
        assert_eq!(
            header,
            Some((
                "SERVICE*  CALLS/S  PENDING  LAG  CONSUMERS  MAX IDLE  DEAD",
                "arith        12.0        1    0          1      1.5s     0"
            )),
            "{lines:#?}"
        );
    }

    #[test]
    fn screen_fits_and_says_what_it_shows() {
        let v = view(vec![row("arith", Some(12.0), 1, 0)]);
        let lines = screen(&v, 60, 12);
        assert!(lines[0].starts_with("clamator top - prefix `app` - redis://h:1 - every 1.0s"));
        assert!(lines[1].starts_with("services 1  reply streams 3 (1 idle > 1m 00s)"));
        assert!(
            lines.iter().any(|l| l.starts_with("arith:w1")),
            "{lines:#?}"
        );
        assert!(lines[11].starts_with("q quit  s sort (by name)"));
        // Too small for the consumers: they are left out, the help stays.
        let lines = screen(&v, 60, 6);
        assert!(
            !lines.iter().any(|l| l.starts_with("CONSUMER")),
            "{lines:#?}"
        );
        assert!(lines[5].starts_with("q quit"));
        // Room for two consumer lines of three: one shown, the others counted.
        let v = view(vec![
            row("a", None, 0, 0),
            row("b", None, 0, 0),
            row("c", None, 0, 0),
        ]);
        let lines = screen(&v, 60, 12);
        assert!(lines.iter().any(|l| l.starts_with("a:w1")), "{lines:#?}");
        assert!(!lines.iter().any(|l| l.starts_with("b:w1")), "{lines:#?}");
        assert_eq!(lines[10], "... 2 more consumers (make the window taller)");
        // Nothing to draw on: nothing drawn, no panic.
        assert_eq!(screen(&v, 0, 0), Vec::<String>::new());
        assert_eq!(screen(&v, 10, 1), ["q quit  s"]);
    }

    #[test]
    fn errors_show_and_pause_freezes() {
        let mut v = view(vec![]);
        v.update(Err(Failure {
            at: "2024-05-01T12:00:02.000Z".to_owned(),
            message: "cannot reach Redis\x1b[2J".to_owned(),
        }));
        let lines = screen(&v, 30, 10);
        assert!(lines[2].starts_with("ERROR at 12:00:02 UTC"), "{lines:#?}");
        let error = lines[2..5].concat();
        assert!(
            error.ends_with("): cannot reach Redis [2J"),
            "wrapped, escape removed: {lines:#?}"
        );
        assert_eq!(v.on_key(key('p')), Action::Redraw);
        v.update(Ok(sample(vec![row("x", None, 0, 0)])));
        let lines = screen(&v, 200, 10);
        assert!(lines[0].ends_with("PAUSED"), "{lines:#?}");
        assert!(lines[9].ends_with("p resume"), "{lines:#?}");
        assert!(v.error.is_some(), "paused: nothing changes");
        v.on_key(key(' '));
        v.update(Ok(sample(vec![row("x", None, 0, 0)])));
        assert!(v.error.is_none(), "resumed: the sample is taken in");
    }

    #[test]
    fn names_from_redis_cannot_move_the_cursor() {
        let v = view(vec![row("evil\x1b[2Jname", None, 0, 0)]);
        let lines = screen(&v, 120, 12);
        assert!(
            lines.iter().any(|l| l.starts_with("evil [2Jname ")),
            "{lines:#?}"
        );
        assert!(!lines.concat().contains('\x1b'));
    }

    #[test]
    fn keys() {
        let mut v = View::new("app", "redis://h:1", Duration::from_secs(1));
        assert_eq!(v.on_key(key('q')), Action::Quit);
        assert_eq!(
            v.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
            Action::Quit
        );
        assert_eq!(
            v.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Action::Quit
        );
        assert_eq!(v.on_key(key('x')), Action::Nothing);
        let mut release = key('s');
        release.kind = KeyEventKind::Release;
        assert_eq!(v.on_key(release), Action::Nothing);
        assert_eq!(v.sort, SortKey::Name);
        let lines = screen(&v, 80, 5);
        assert_eq!(lines[1], "sampling...");
    }
}
