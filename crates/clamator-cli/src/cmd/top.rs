//! `clamator top`: a live view of every service under the prefix, sampled
//! every `--interval-ms`: requests per second, pending entries, lag, the
//! consumers and how long each has been idle, dead letters, and the reply
//! streams (how many, how many idle).
//!
//! On a terminal it draws a screen (raw mode, alternate screen, redrawn after
//! each sample) and reads keys: `q` / Ctrl-C quit, `s` cycles the sort
//! column, `p` pauses. Otherwise (stdout not a terminal, or `--json`) it
//! prints one JSON object per sample. Each sample is what `clamator services`
//! and `clamator replies` compute ([`services::collect`], [`replies::list`]);
//! calls/s is the growth of the command stream's `entries-added` between two
//! samples over the time between them. A failed sample (Redis down, a
//! command without an answer in time) is shown as an error line and the next
//! one reconnects: top never exits because Redis went away.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossterm::event::{Event, EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::{cursor, queue, style, terminal};
use futures::StreamExt;
use serde::Serialize;

use crate::clock;
use crate::cmd::replies;
use crate::cmd::services::{self, ConsumerInfo};
use crate::conn::{Redis, Target, redact};
use crate::error::CliError;
use crate::global::Global;
use crate::output;
use crate::table::{Table, truncate};

/// Options of `clamator top`.
#[derive(clap::Args, Debug)]
pub(crate) struct TopArgs {
    /// Milliseconds between two samples.
    #[arg(long, value_name = "MS", default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(50..=3_600_000))]
    interval_ms: u64,

    /// Stop after this many samples (a failed sample counts too); without it,
    /// run until `q`, Ctrl-C or a closed stdout.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,

    /// Reply streams nothing was written to for longer than this count as idle
    /// (what `clamator gc --older-than` would delete): `30s`, `10m`, `1h`.
    #[arg(long, value_name = "DURATION", default_value = "1m",
          value_parser = clock::parse_duration)]
    idle_after: Duration,
}

/// One service in a sample.
#[derive(Debug, Clone, Serialize)]
struct ServiceRow {
    /// The service name.
    service: String,
    /// Requests and notifications added per second since the previous
    /// sample; `null` in the first sample, for a service new since then, or
    /// before Redis 7 (no `entries-added`).
    calls_per_sec: Option<f64>,
    /// `entries-added` of the command stream (`XINFO STREAM`).
    entries_added: Option<u64>,
    /// Entries in the command stream.
    length: usize,
    /// Entries delivered to the service's group and not acknowledged; `null`
    /// when the group does not exist (no worker ever started).
    pending: Option<usize>,
    /// Entries not delivered to the service's group yet; `null` when unknown.
    lag: Option<usize>,
    /// The consumers of the service's group, with their idle times.
    consumers: Vec<ConsumerInfo>,
    /// Entries in `<prefix>:dead:<service>`; `null` when that key is not a stream.
    dead_letters: Option<usize>,
}

/// The reply streams of a sample.
#[derive(Debug, Clone, Serialize)]
struct ReplyStats {
    /// Reply streams under the prefix.
    total: usize,
    /// Those idle longer than `idle_after_ms` (or empty).
    idle: usize,
    /// The threshold (`--idle-after`).
    idle_after_ms: u64,
}

/// Everything one refresh shows.
#[derive(Debug, Clone, Serialize)]
struct Sample {
    /// When it was taken (this machine's clock, UTC).
    timestamp: String,
    /// Milliseconds since the previous successful sample, `null` for the first.
    elapsed_ms: Option<u64>,
    /// The services, by name.
    services: Vec<ServiceRow>,
    /// The reply streams.
    reply_streams: ReplyStats,
}

/// A sample that failed, in JSON mode.
#[derive(Debug, Serialize)]
struct ErrorLine<'a> {
    /// When it failed (this machine's clock, UTC).
    timestamp: &'a str,
    /// What failed; the next sample reconnects.
    error: &'a str,
}

/// Takes samples, keeping the connection between them and reconnecting after a failure.
#[derive(Debug)]
struct Sampler {
    /// Where Redis is.
    target: Target,
    /// The key prefix.
    prefix: String,
    /// `--idle-after` in milliseconds.
    idle_after_ms: u64,
    /// The connection, `None` until connected and after a failure.
    redis: Option<Redis>,
    /// When the previous successful sample was taken and each service's `entries-added` then.
    previous: Option<(Instant, HashMap<String, u64>)>,
}

impl Sampler {
    fn new(target: Target, prefix: &str, idle_after: Duration) -> Sampler {
        Sampler {
            target,
            prefix: prefix.to_owned(),
            idle_after_ms: u64::try_from(idle_after.as_millis()).unwrap_or(u64::MAX),
            redis: None,
            previous: None,
        }
    }

    /// One sample; after a failure the connection is dropped and the next sample reconnects.
    async fn sample(&mut self) -> Result<Sample, CliError> {
        let result = self.try_sample().await;
        if result.is_err() {
            self.redis = None;
        }
        result
    }

    async fn try_sample(&mut self) -> Result<Sample, CliError> {
        let redis = match &mut self.redis {
            Some(redis) => redis,
            None => self.redis.insert(Redis::connect(&self.target).await?),
        };
        let services = services::collect(redis, &self.prefix).await?;
        let reply_streams = replies::list(redis, &self.prefix).await?;
        let at = Instant::now();
        let elapsed = self.previous.as_ref().map(|(then, _)| at - *then);
        let mut added = HashMap::with_capacity(services.len());
        let rows = services
            .into_iter()
            .map(|s| {
                let before = self
                    .previous
                    .as_ref()
                    .and_then(|(_, added)| added.get(&s.service));
                let calls_per_sec = match (s.entries_added, before, elapsed) {
                    (Some(now), Some(&before), Some(elapsed)) if !elapsed.is_zero() => {
                        Some(rate(now.saturating_sub(before), elapsed))
                    }
                    _ => None,
                };
                if let Some(n) = s.entries_added {
                    added.insert(s.service.clone(), n);
                }
                let group = s.own_group();
                ServiceRow {
                    calls_per_sec,
                    entries_added: s.entries_added,
                    length: s.length,
                    pending: group.map(|g| g.pending),
                    lag: group.and_then(|g| g.lag),
                    consumers: group.map(|g| g.consumers.clone()).unwrap_or_default(),
                    dead_letters: s.dead_letters,
                    service: s.service,
                }
            })
            .collect();
        self.previous = Some((at, added));
        let idle = reply_streams
            .iter()
            .filter(|r| r.idle_longer_than(self.idle_after_ms))
            .count();
        Ok(Sample {
            timestamp: now_utc(),
            elapsed_ms: elapsed.map(|e| u64::try_from(e.as_millis()).unwrap_or(u64::MAX)),
            services: rows,
            reply_streams: ReplyStats {
                total: reply_streams.len(),
                idle,
                idle_after_ms: self.idle_after_ms,
            },
        })
    }
}

/// `n` per `elapsed`, per second, to two decimals.
fn rate(n: u64, elapsed: Duration) -> f64 {
    (n as f64 / elapsed.as_secs_f64() * 100.0).round() / 100.0
}

/// This machine's time as ISO 8601 UTC.
fn now_utc() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    clock::iso_utc(ms)
}

/// Shows the live view, or prints JSON lines when stdout is not a terminal or with `--json`.
pub(crate) async fn run(global: &Global, args: TopArgs) -> Result<(), CliError> {
    let prefix = global.prefix("top")?;
    let sampler = Sampler::new(global.target()?, prefix, args.idle_after);
    let interval = Duration::from_millis(args.interval_ms);
    if global.json || !std::io::stdout().is_terminal() {
        return run_json(sampler, interval, args.count).await;
    }
    let view = View {
        prefix: prefix.to_owned(),
        url: redact(&global.redis_url),
        interval,
        sort: SortKey::Name,
        paused: false,
        sample: None,
        error: None,
    };
    run_screen(sampler, view, args.count).await
}

/// A ticker that skips ticks missed while a sample took longer than the interval.
fn ticker(interval: Duration) -> tokio::time::Interval {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker
}

/// One JSON object per sample (`{"timestamp", "error"}` for a failed one)
/// until `count` samples, Ctrl-C, or a closed stdout. When the last sample
/// of `--count` failed, so does the command (exit 3).
async fn run_json(
    mut sampler: Sampler,
    interval: Duration,
    count: Option<u64>,
) -> Result<(), CliError> {
    let mut ticker = ticker(interval);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut taken: u64 = 0;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = &mut ctrl_c => return Ok(()),
        }
        let result = tokio::select! {
            result = sampler.sample() => result,
            _ = &mut ctrl_c => return Ok(()),
        };
        taken += 1;
        let last = count.is_some_and(|c| taken >= c);
        match result {
            Ok(sample) => output::json(&sample)?,
            Err(e) => {
                output::json(&ErrorLine {
                    timestamp: &now_utc(),
                    error: &e.to_string(),
                })?;
                if last {
                    return Err(e);
                }
            }
        }
        if last {
            return Ok(());
        }
    }
}

/// The column the services are sorted by (`s` cycles through them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortKey {
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
    fn next(self) -> SortKey {
        match self {
            SortKey::Name => SortKey::CallsPerSec,
            SortKey::CallsPerSec => SortKey::Pending,
            SortKey::Pending => SortKey::Lag,
            SortKey::Lag => SortKey::Name,
        }
    }

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
        let desc_f = |r: &ServiceRow| std::cmp::Reverse(r.calls_per_sec.map(ordered));
        match self {
            SortKey::Name => rows.sort_by(|a, b| a.service.cmp(&b.service)),
            SortKey::CallsPerSec => {
                rows.sort_by(|a, b| desc_f(a).cmp(&desc_f(b)).then(a.service.cmp(&b.service)));
            }
            SortKey::Pending => {
                rows.sort_by(|a, b| b.pending.cmp(&a.pending).then(a.service.cmp(&b.service)))
            }
            SortKey::Lag => rows.sort_by(|a, b| b.lag.cmp(&a.lag).then(a.service.cmp(&b.service))),
        }
    }
}

/// A non-negative rate as an integer that sorts like it (hundredths).
fn ordered(rate: f64) -> u64 {
    (rate.max(0.0) * 100.0).round() as u64
}

/// What the screen shows.
#[derive(Debug)]
struct View {
    /// The key prefix.
    prefix: String,
    /// The Redis URL, password hidden.
    url: String,
    /// Time between samples.
    interval: Duration,
    /// The sort column.
    sort: SortKey,
    /// Paused: new samples are not shown.
    paused: bool,
    /// The latest successful sample.
    sample: Option<Sample>,
    /// The latest failure (when, what), cleared by the next successful sample.
    error: Option<(String, String)>,
}

impl View {
    /// Takes in a sample or a failure (unless paused).
    fn update(&mut self, result: Result<Sample, String>) {
        if self.paused {
            return;
        }
        match result {
            Ok(sample) => {
                self.sample = Some(sample);
                self.error = None;
            }
            Err(e) => self.error = Some((now_utc(), e)),
        }
    }

    /// The screen's lines, each at most `cols` wide, at most `rows` of them
    /// (the last one the key help).
    fn render(&self, cols: usize, rows: usize) -> Vec<String> {
        let mut lines = Vec::new();
        let taken = self
            .sample
            .as_ref()
            .map_or("-", |s| time_part(&s.timestamp));
        lines.push(format!(
            "clamator top - prefix `{}` - {} - every {} - {} UTC{}",
            self.prefix,
            self.url,
            clock::human(u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX)),
            taken,
            if self.paused { " - PAUSED" } else { "" }
        ));
        match &self.sample {
            Some(s) => {
                let dead: usize = s.services.iter().filter_map(|r| r.dead_letters).sum();
                lines.push(format!(
                    "services {}  reply streams {} ({} idle > {})  dead letters {}",
                    s.services.len(),
                    s.reply_streams.total,
                    s.reply_streams.idle,
                    clock::human(s.reply_streams.idle_after_ms),
                    dead
                ));
            }
            None if self.error.is_none() => lines.push("sampling...".to_owned()),
            None => lines.push(String::new()),
        }
        if let Some((when, error)) = &self.error {
            // Wrapped (up to three lines): the end of the message says what to do.
            let text = truncate(
                &format!(
                    "ERROR at {} UTC (retrying every {}): {}",
                    time_part(when),
                    clock::human(u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX)),
                    error,
                ),
                usize::MAX,
            );
            let chars: Vec<char> = text.chars().collect();
            lines.extend(
                chars
                    .chunks(cols.max(1))
                    .take(3)
                    .map(|chunk| chunk.iter().collect::<String>()),
            );
        }
        lines.push(String::new());
        if let Some(s) = &self.sample {
            self.render_services(s, &mut lines, rows.saturating_sub(1));
        }
        let body = rows.saturating_sub(1);
        lines.truncate(body);
        lines.resize(body, String::new());
        lines.push(format!(
            "q quit  s sort (by {})  p {}",
            self.sort.label(),
            if self.paused { "resume" } else { "pause" }
        ));
        lines.iter().map(|l| fit(l, cols)).collect()
    }

    /// The services table and, as far as `body` rows allow, their consumers.
    fn render_services(&self, s: &Sample, lines: &mut Vec<String>, body: usize) {
        if s.services.is_empty() {
            lines.push(format!(
                "no services under key prefix `{}` (no stream matches {}:cmds:*)",
                self.prefix, self.prefix
            ));
            return;
        }
        let mut rows: Vec<&ServiceRow> = s.services.iter().collect();
        self.sort.sort(&mut rows);
        let header = |title: &str, key: Option<SortKey>| {
            if key == Some(self.sort) {
                format!("{title}*")
            } else {
                title.to_owned()
            }
        };
        let headers = [
            header("SERVICE", Some(SortKey::Name)),
            header("CALLS/S", Some(SortKey::CallsPerSec)),
            header("PENDING", Some(SortKey::Pending)),
            header("LAG", Some(SortKey::Lag)),
            header("CONSUMERS", None),
            header("MAX IDLE", None),
            header("DEAD", None),
        ];
        let titles: Vec<&str> = headers.iter().map(String::as_str).collect();
        let mut table = Table::new(&titles).right(&[1, 2, 3, 4, 5, 6]);
        let dash = || "-".to_owned();
        for r in &rows {
            table.push(vec![
                r.service.clone(),
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
            ]);
        }
        lines.extend(table.render().lines().map(str::to_owned));
        let consumers: Vec<(&str, &ConsumerInfo)> = rows
            .iter()
            .flat_map(|r| r.consumers.iter().map(|c| (r.service.as_str(), c)))
            .collect();
        if consumers.is_empty() {
            return;
        }
        // A blank line and the consumers' header, then as many as fit.
        let room = body.saturating_sub(lines.len() + 2);
        if room == 0 {
            return;
        }
        let shown = if consumers.len() > room {
            room - 1
        } else {
            consumers.len()
        };
        let mut table = Table::new(&["CONSUMER", "SERVICE", "IDLE", "PENDING"]).right(&[2, 3]);
        for (service, c) in &consumers[..shown] {
            table.push(vec![
                c.name.clone(),
                (*service).to_owned(),
                clock::human(c.idle_ms as u64),
                c.pending.to_string(),
            ]);
        }
        lines.push(String::new());
        lines.extend(table.render().lines().map(str::to_owned));
        if shown < consumers.len() {
            lines.push(format!(
                "... {} more consumers (make the window taller)",
                consumers.len() - shown
            ));
        }
    }
}

/// `HH:MM:SS` of an ISO 8601 timestamp.
fn time_part(iso: &str) -> &str {
    iso.get(11..19).unwrap_or(iso)
}

/// `line` cut to `cols` characters, control characters made spaces (names and
/// errors come from Redis: nothing in them may move the cursor).
fn fit(line: &str, cols: usize) -> String {
    let clean = truncate(line, usize::MAX);
    clean.chars().take(cols).collect()
}

/// The terminal in raw mode on the alternate screen, restored when dropped
/// (also when the command fails or panics).
#[derive(Debug)]
struct Screen;

impl Screen {
    fn enter() -> Result<Screen, CliError> {
        let failed = |e: std::io::Error| {
            CliError::Usage(format!(
                "could not take over the terminal ({e}): run `clamator top --json` for JSON lines \
                 instead"
            ))
        };
        terminal::enable_raw_mode().map_err(failed)?;
        let screen = Screen;
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        crossterm::execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        )
        .map_err(failed)?;
        Ok(screen)
    }

    /// Draws `lines` from the top left, clearing what was there.
    fn draw(&self, lines: &[String]) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        for (row, line) in lines.iter().enumerate() {
            let row = u16::try_from(row).unwrap_or(u16::MAX);
            queue!(
                out,
                cursor::MoveTo(0, row),
                style::Print(line),
                terminal::Clear(terminal::ClearType::UntilNewLine)
            )?;
        }
        out.flush()
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves the alternate screen, shows the cursor, and ends raw mode.
fn restore() {
    let _ = crossterm::execute!(
        std::io::stdout(),
        cursor::Show,
        terminal::LeaveAlternateScreen
    );
    let _ = terminal::disable_raw_mode();
}

/// Resolves when the process is asked to stop (SIGTERM, SIGHUP), so the
/// terminal is restored then too; never elsewhere.
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) {
            tokio::select! {
                _ = term.recv() => return,
                _ = hup.recv() => return,
            }
        }
    }
    std::future::pending::<()>().await;
}

/// What a key does.
enum Action {
    Quit,
    Redraw,
    Nothing,
}

fn on_key(view: &mut View, key: KeyEvent) -> Action {
    if key.kind != KeyEventKind::Press {
        return Action::Nothing;
    }
    match key.code {
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Action::Quit,
        KeyCode::Char('q' | 'Q') | KeyCode::Esc => Action::Quit,
        KeyCode::Char('s' | 'S') => {
            view.sort = view.sort.next();
            Action::Redraw
        }
        KeyCode::Char('p' | 'P' | ' ') => {
            view.paused = !view.paused;
            Action::Redraw
        }
        _ => Action::Nothing,
    }
}

/// Aborts the sampling task when the screen loop ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The live screen: a task samples every interval, this loop draws each
/// sample and reacts to keys at once (also while a sample is being taken).
async fn run_screen(
    mut sampler: Sampler,
    mut view: View,
    count: Option<u64>,
) -> Result<(), CliError> {
    let screen = Screen::enter()?;
    let mut keys = EventStream::new();
    let (tx, mut samples) = tokio::sync::mpsc::channel::<Result<Sample, String>>(1);
    let interval = view.interval;
    let _sampling = AbortOnDrop(tokio::spawn(async move {
        let mut ticker = ticker(interval);
        loop {
            ticker.tick().await;
            let result = sampler.sample().await.map_err(|e| e.to_string());
            if tx.send(result).await.is_err() {
                return;
            }
        }
    }));
    let terminated = terminated();
    tokio::pin!(terminated);
    let mut received: u64 = 0;
    let draw = |view: &View| {
        let (cols, rows) = terminal::size().unwrap_or((80, 24));
        screen.draw(&view.render(usize::from(cols), usize::from(rows)))
    };
    draw(&view).map_err(screen_error)?;
    loop {
        tokio::select! {
            sample = samples.recv() => {
                let Some(sample) = sample else { return Ok(()) };
                view.update(sample);
                received += 1;
                draw(&view).map_err(screen_error)?;
                if count.is_some_and(|c| received >= c) {
                    return Ok(());
                }
            }
            event = keys.next() => match event {
                Some(Ok(Event::Key(key))) => match on_key(&mut view, key) {
                    Action::Quit => return Ok(()),
                    Action::Redraw => draw(&view).map_err(screen_error)?,
                    Action::Nothing => {}
                },
                Some(Ok(Event::Resize(..))) => draw(&view).map_err(screen_error)?,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(screen_error(e)),
                None => return Ok(()),
            },
            () = &mut terminated => return Ok(()),
        }
    }
}

/// The terminal failed under us (closed, gone).
fn screen_error(e: std::io::Error) -> CliError {
    CliError::Internal(format!(
        "writing to or reading from the terminal failed: {e}"
    ))
}

#[cfg(test)]
mod tests {
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

    fn view(services: Vec<ServiceRow>) -> View {
        View {
            prefix: "app".to_owned(),
            url: "redis://h:1".to_owned(),
            interval: Duration::from_secs(1),
            sort: SortKey::Name,
            paused: false,
            sample: Some(Sample {
                timestamp: "2024-05-01T12:00:01.123Z".to_owned(),
                elapsed_ms: Some(1_000),
                services,
                reply_streams: ReplyStats {
                    total: 3,
                    idle: 1,
                    idle_after_ms: 60_000,
                },
            }),
            error: None,
        }
    }

    #[test]
    fn sorts_cycle_and_mark_the_column() {
        let mut v = view(vec![
            row("alpha", Some(1.0), 5, 0),
            row("beta", Some(9.5), 0, 7),
            row("gamma", None, 2, 1),
        ]);
        let order = |v: &View| -> Vec<String> {
            v.render(200, 40)
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
        assert!(v.render(200, 40).iter().any(|l| l.starts_with("SERVICE*")));
        v.sort = v.sort.next();
        assert_eq!(order(&v), ["beta", "alpha", "gamma"]);
        assert!(v.render(200, 40).iter().any(|l| l.contains("CALLS/S*")));
        v.sort = v.sort.next();
        assert_eq!(order(&v), ["alpha", "gamma", "beta"]);
        v.sort = v.sort.next();
        assert_eq!(order(&v), ["beta", "gamma", "alpha"]);
        assert_eq!(v.sort.next(), SortKey::Name);
    }

    #[test]
    fn screen_fits_and_says_what_it_shows() {
        let v = view(vec![row("arith", Some(12.0), 1, 0)]);
        let lines = v.render(60, 12);
        assert_eq!(lines.len(), 12);
        assert!(lines.iter().all(|l| l.chars().count() <= 60), "{lines:#?}");
        assert!(lines[1].starts_with("services 1  reply streams 3 (1 idle > 1m 00s)"));
        assert!(
            lines.iter().any(|l| l.starts_with("arith:w1")),
            "{lines:#?}"
        );
        assert!(lines[11].starts_with("q quit  s sort (by name)"));
        // Too small for the consumers: they are left out, the help stays.
        let lines = v.render(60, 6);
        assert_eq!(lines.len(), 6);
        assert!(lines[5].starts_with("q quit"));
    }

    #[test]
    fn errors_show_and_pause_freezes() {
        let mut v = view(vec![]);
        v.update(Err("cannot reach Redis\x1b[2J".to_owned()));
        let lines = v.render(30, 10);
        assert!(lines[2].starts_with("ERROR at "), "{lines:#?}");
        let error = lines[2..5].concat();
        assert!(
            error.ends_with("): cannot reach Redis [2J"),
            "wrapped, escape removed: {lines:#?}"
        );
        v.paused = true;
        v.update(Ok(view(vec![row("x", None, 0, 0)]).sample.unwrap()));
        assert!(v.render(200, 10)[0].ends_with("PAUSED"));
        assert!(v.error.is_some(), "paused: nothing changes");
    }

    #[test]
    fn rates() {
        assert_eq!(rate(30, Duration::from_millis(1_500)), 20.0);
        assert_eq!(rate(1, Duration::from_secs(3)), 0.33);
    }
}
