//! The results: JSON lines as they come (`--json`), or a table at the end,
//! and the targets of the issue checked against the numbers of this run.
//!
//! Every JSON line is an object with a `kind`:
//! - `run`: the machine, the build, the exact command and the plan;
//! - `row`: one pair at one concurrency (a [`Measurement`]);
//! - `skipped`: a pair that could not be measured, and why;
//! - `memory`: client memory per call in flight, per client language;
//! - `target`: one target, its value, its limit and whether it was met;
//! - `done`: total errors, load at the end, wall time.

use serde::Serialize;
use serde_json::{Value, json};

use super::cpu::CpuCost;
use super::machine::Machine;
use super::memory::ProbeReport;
use super::pairs::{ClientKind, Pair};
use super::stats::Measurement;
use crate::table::Table;

/// Rust->Rust sequential p50 must be within this factor of the floor's.
pub(crate) const P50_FACTOR_MAX: f64 = 1.15;
/// Rust->Rust best throughput must be at least this share of the floor's best.
pub(crate) const FLOOR_THROUGHPUT_MIN: f64 = 0.95;
/// Rust->Rust CPU per call (client + server + Redis) at 64 in flight must be
/// at most this multiple of the floor's.
pub(crate) const FLOOR_CPU_MAX: f64 = 1.0;
/// Rust->Rust best throughput must be at least this multiple of the peer's best.
pub(crate) const THROUGHPUT_FACTOR_MIN: f64 = 20.0;

/// One measured row.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    /// The pair measured.
    pub(crate) pair: Pair,
    /// Who called.
    pub(crate) client: &'static str,
    /// Who answered.
    pub(crate) server: &'static str,
    /// Calls kept in flight.
    pub(crate) concurrency: usize,
    /// The numbers.
    #[serde(flatten)]
    pub(crate) m: Measurement,
    /// Why the row differs from what was asked (e.g. fewer calls in flight).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
}

/// One client's memory probe.
#[derive(Debug, Clone)]
pub(crate) struct MemoryRow {
    /// Whose client.
    pub(crate) client: ClientKind,
    /// What the probe reported, or why it failed.
    pub(crate) probe: Result<ProbeReport, String>,
}

/// A target checked against this run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Target {
    /// What is compared.
    pub(crate) name: String,
    /// The measured value (`None`: not measured in this run).
    pub(crate) value: Option<f64>,
    /// The bound.
    pub(crate) limit: String,
    /// Whether it was met (`None`: not measured).
    pub(crate) met: Option<bool>,
}

/// Everything a run produced, printed as it comes in JSON mode.
#[derive(Debug)]
pub(crate) struct Report {
    /// JSON lines on stdout instead of a table at the end.
    json: bool,
    /// The machine line.
    machine: Machine,
    /// The plan and command, as printed in the `run` line.
    run: Value,
    /// Measured rows, in order.
    pub(crate) rows: Vec<Row>,
    /// Pairs not measured, and why.
    pub(crate) skipped: Vec<(Pair, String)>,
    /// Memory probes.
    pub(crate) memory: Vec<MemoryRow>,
}

/// Writes one JSON line; a closed stdout ends the output quietly.
fn emit(value: &Value) {
    let _ = crate::output::json(value);
}

impl Report {
    /// A report; prints the `run` line in JSON mode.
    pub(crate) fn new(json: bool, machine: Machine, run: Value) -> Report {
        if json {
            let mut line = json!({"kind": "run"});
            merge(
                &mut line,
                &serde_json::to_value(&machine).unwrap_or(Value::Null),
            );
            merge(&mut line, &run);
            emit(&line);
        }
        Report {
            json,
            machine,
            run,
            rows: Vec::new(),
            skipped: Vec::new(),
            memory: Vec::new(),
        }
    }

    /// Adds a measured row.
    pub(crate) fn row(&mut self, pair: Pair, concurrency: usize, m: Measurement) {
        self.row_with_note(pair, concurrency, m, None);
    }

    /// Adds a measured row that differs from what was asked, saying why.
    pub(crate) fn row_with_note(
        &mut self,
        pair: Pair,
        concurrency: usize,
        m: Measurement,
        note: Option<String>,
    ) {
        let row = Row {
            pair,
            client: pair.client().label(),
            server: pair.server().label(),
            concurrency,
            m,
            note,
        };
        if self.json {
            let mut line = json!({"kind": "row"});
            merge(
                &mut line,
                &serde_json::to_value(&row).unwrap_or(Value::Null),
            );
            emit(&line);
        }
        self.rows.push(row);
    }

    /// Records a pair that was not measured.
    pub(crate) fn skip(&mut self, pair: Pair, reason: String) {
        if self.json {
            emit(&json!({"kind": "skipped", "pair": pair, "reason": reason}));
        }
        self.skipped.push((pair, reason));
    }

    /// Adds a memory probe.
    pub(crate) fn memory(&mut self, client: ClientKind, probe: Result<ProbeReport, String>) {
        if self.json {
            let line = match &probe {
                Ok(p) => json!({
                    "kind": "memory", "client": client, "in_flight": p.in_flight, "held": p.held,
                    "rss_before_kb": p.rss_before_kb, "rss_after_kb": p.rss_after_kb,
                    "bytes_per_call": p.bytes_per_call().round(),
                }),
                Err(e) => json!({"kind": "memory", "client": client, "error": e}),
            };
            emit(&line);
        }
        self.memory.push(MemoryRow { client, probe });
    }

    /// Errors over every row, plus failed memory probes.
    pub(crate) fn total_errors(&self) -> usize {
        self.rows.iter().map(|r| r.m.errors).sum::<usize>()
            + self.memory.iter().filter(|m| m.probe.is_err()).count()
    }

    fn find(&self, pair: Pair, concurrency: usize) -> Option<&Measurement> {
        self.rows
            .iter()
            .find(|r| r.pair == pair && r.concurrency == concurrency)
            .map(|r| &r.m)
    }

    fn best(&self, pair: Pair) -> Option<f64> {
        self.rows
            .iter()
            .filter(|r| r.pair == pair && r.m.errors == 0)
            .map(|r| r.m.calls_per_sec)
            .reduce(f64::max)
    }

    /// The targets, checked against this run's numbers.
    pub(crate) fn targets(&self) -> Vec<Target> {
        let p50 = match (self.find(Pair::RustRust, 1), self.find(Pair::Raw, 1)) {
            (Some(r), Some(f)) if f.p50_us > 0.0 => Some(r.p50_us / f.p50_us),
            _ => None,
        };
        let throughput = match (self.best(Pair::RustRust), self.best(Pair::PyPy)) {
            (Some(r), Some(p)) if p > 0.0 => Some(r / p),
            _ => None,
        };
        let vs_floor = match (self.best(Pair::RustRust), self.best(Pair::Raw)) {
            (Some(r), Some(f)) if f > 0.0 => Some(r / f),
            _ => None,
        };
        let cpu = |pair| {
            let c = self.find(pair, 64)?.cpu.as_ref()?;
            Some(c.client_us_per_call? + c.server_us_per_call? + c.redis_us_per_call?)
        };
        let cpu_vs_floor = match (cpu(Pair::RustRust), cpu(Pair::Raw)) {
            (Some(r), Some(f)) if f > 0.0 => Some(r / f),
            _ => None,
        };
        let errors = self.total_errors();
        vec![
            Target {
                name: "rust-rust sequential p50 / raw floor p50".to_owned(),
                value: p50,
                limit: format!("<= {P50_FACTOR_MAX}"),
                met: p50.map(|v| v <= P50_FACTOR_MAX),
            },
            Target {
                name: "rust-rust best calls/s / raw floor best".to_owned(),
                value: vs_floor,
                limit: format!(">= {FLOOR_THROUGHPUT_MIN}"),
                met: vs_floor.map(|v| v >= FLOOR_THROUGHPUT_MIN),
            },
            Target {
                name: "rust-rust CPU/call at 64 / raw floor's".to_owned(),
                value: cpu_vs_floor,
                limit: format!("<= {FLOOR_CPU_MAX}"),
                met: cpu_vs_floor.map(|v| v <= FLOOR_CPU_MAX),
            },
            Target {
                name: "rust-rust best calls/s / py-py best calls/s".to_owned(),
                value: throughput,
                limit: format!(">= {THROUGHPUT_FACTOR_MIN}"),
                met: throughput.map(|v| v >= THROUGHPUT_FACTOR_MIN),
            },
            Target {
                name: "errors".to_owned(),
                value: Some(errors as f64),
                limit: "== 0".to_owned(),
                met: Some(errors == 0),
            },
        ]
    }

    /// Prints the end of the report: the targets and a `done` line in JSON
    /// mode, or the whole report as tables.
    pub(crate) fn finish(&self, seconds: f64, load_at_end: Option<f64>) {
        let targets = self.targets();
        if self.json {
            for t in &targets {
                let mut line = json!({"kind": "target"});
                merge(&mut line, &serde_json::to_value(t).unwrap_or(Value::Null));
                emit(&line);
            }
            emit(&json!({
                "kind": "done", "errors": self.total_errors(),
                "load_at_end": load_at_end, "seconds": seconds,
            }));
            return;
        }
        let _ = crate::output::line(&self.render(&targets, seconds, load_at_end));
    }

    /// The human report.
    pub(crate) fn render(
        &self,
        targets: &[Target],
        seconds: f64,
        load_at_end: Option<f64>,
    ) -> String {
        let m = &self.machine;
        let load = |l: Option<f64>| l.map_or("?".to_owned(), |l| format!("{l:.2}"));
        let mut out = format!(
            "clamator-bench ({} build): {} cores, {}, Redis {}, load {} at start, {} at end, {:.0} s\n",
            m.build,
            m.nproc,
            m.cpu,
            m.redis_version,
            load(m.load_at_start),
            load(load_at_end),
            seconds
        );
        if let Some(cmd) = self.run.get("command").and_then(Value::as_str) {
            out.push_str(&format!("command: {cmd}\n"));
        }
        if m.build == "debug" {
            out.push_str("warning: a debug build; numbers for the record come from --release\n");
        }
        out.push('\n');
        let mut table = Table::new(&[
            "PAIR",
            "CLIENT->SERVER",
            "CONC",
            "CALLS",
            "ERRORS",
            "CALLS/S",
            "P50 µs",
            "P99 µs",
            "MAX µs",
            "IN FLIGHT",
            "REDIS CMDS/CALL",
            "REDIS µs/CALL",
            "CPU µs/CALL CLIENT/SERVER/REDIS",
        ])
        .right(&[2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        for r in &self.rows {
            table.push(vec![
                r.pair.name().to_owned(),
                format!("{}->{}", r.client, r.server),
                r.concurrency.to_string(),
                r.m.calls.to_string(),
                r.m.errors.to_string(),
                thousands(r.m.calls_per_sec),
                thousands(r.m.p50_us),
                thousands(r.m.p99_us),
                r.m.max_us.map_or("-".to_owned(), thousands),
                r.m.max_in_flight.to_string(),
                r.m.redis
                    .as_ref()
                    .map_or("-".to_owned(), |c| format!("{:.2}", c.commands_per_call)),
                r.m.redis
                    .as_ref()
                    .map_or("-".to_owned(), |c| format!("{:.1}", c.usec_per_call)),
                r.m.cpu.as_ref().map_or("-".to_owned(), cpu_cell),
            ]);
        }
        out.push_str(&table.render());
        out.push('\n');
        for r in self.rows.iter().filter(|r| r.m.first_error.is_some()) {
            out.push_str(&format!(
                "{} at {}: first error: {}\n",
                r.pair.name(),
                r.concurrency,
                r.m.first_error.as_deref().unwrap_or_default()
            ));
        }
        for r in self.rows.iter().filter(|r| r.note.is_some()) {
            out.push_str(&format!(
                "{} at {}: {}\n",
                r.pair.name(),
                r.concurrency,
                r.note.as_deref().unwrap_or_default()
            ));
        }
        for (pair, reason) in &self.skipped {
            out.push_str(&format!("{}: skipped: {reason}\n", pair.name()));
        }
        if !self.memory.is_empty() {
            out.push_str("\nclient memory per call in flight (VmRSS growth / calls held):\n");
            for row in &self.memory {
                match &row.probe {
                    Ok(p) => out.push_str(&format!(
                        "  {:<7} {:>7.0} bytes/call  ({} of {} held, {} -> {} KiB)\n",
                        row.client.label(),
                        p.bytes_per_call(),
                        p.held,
                        p.in_flight,
                        p.rss_before_kb,
                        p.rss_after_kb
                    )),
                    Err(e) => {
                        out.push_str(&format!("  {:<7} failed: {e}\n", row.client.label()));
                    }
                }
            }
        }
        out.push_str("\ntargets:\n");
        for t in targets {
            let verdict = match t.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "not measured",
            };
            let value = t.value.map_or("-".to_owned(), |v| format!("{v:.2}"));
            out.push_str(&format!(
                "  {:<44} {:>8} (target {}) {verdict}\n",
                t.name, value, t.limit
            ));
        }
        out.trim_end().to_owned()
    }
}

/// `client/server/redis` CPU µs per call, `-` for a process not read.
fn cpu_cell(c: &CpuCost) -> String {
    let one = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
    format!(
        "{}/{}/{}",
        one(c.client_us_per_call),
        one(c.server_us_per_call),
        one(c.redis_us_per_call)
    )
}

/// Adds the fields of `from` (an object) to `into` (an object).
fn merge(into: &mut Value, from: &Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        for (k, v) in from {
            into.insert(k.clone(), v.clone());
        }
    }
}

/// `1234567.8` as `1,234,568`.
fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> Machine {
        Machine::probe("redis_version:7.0.15\r\n")
    }

    fn m(p50: f64, cps: f64) -> Measurement {
        Measurement {
            calls: 100,
            seconds: 100.0 / cps,
            calls_per_sec: cps,
            p50_us: p50,
            p99_us: p50 * 2.0,
            max_us: Some(p50 * 3.0),
            max_in_flight: 1,
            ..Measurement::default()
        }
    }

    #[test]
    fn formats_thousands() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1234567.8), "1,234,568");
    }

    #[test]
    fn checks_targets_from_the_rows() {
        let mut r = Report::new(false, machine(), json!({"command": "clamator-bench"}));
        r.row(Pair::Raw, 1, m(100.0, 9_000.0));
        r.row(Pair::RustRust, 1, m(120.0, 8_000.0));
        r.row(Pair::RustRust, 64, m(900.0, 50_000.0));
        r.row(Pair::PyPy, 64, m(30_000.0, 2_000.0));
        let t = r.targets();
        assert_eq!(t[0].met, Some(false), "{t:?}");
        assert!((t[0].value.unwrap() - 1.2).abs() < 1e-9);
        assert_eq!(t[1].met, Some(true), "{t:?}");
        assert!((t[1].value.unwrap() - 50.0 / 9.0).abs() < 1e-9);
        assert_eq!(t[2].met, None, "no CPU measured: {t:?}");
        assert_eq!(t[3].met, Some(true));
        assert!((t[3].value.unwrap() - 25.0).abs() < 1e-9);
        assert_eq!(t[4].met, Some(true));

        let mut failing = m(200.0, 100.0);
        failing.errors = 3;
        r.row(Pair::RustRust, 16, failing);
        assert_eq!(r.targets()[4].met, Some(false));
        let text = r.render(&r.targets(), 1.0, Some(0.5));
        assert!(text.contains("rust-rust"), "{text}");
        assert!(text.contains("MISSED"), "{text}");
    }

    #[test]
    fn targets_without_their_rows_are_not_measured() {
        let mut r = Report::new(false, machine(), json!({}));
        r.row(Pair::RustRust, 1, m(120.0, 8_000.0));
        r.skip(Pair::PyPy, "no python".to_owned());
        let t = r.targets();
        assert_eq!((t[0].met, t[1].met, t[3].met), (None, None, None));
        assert!(
            r.render(&t, 1.0, None)
                .contains("py-py: skipped: no python")
        );
    }
}
