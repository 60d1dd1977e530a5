//! What the numbers were measured on: cores, CPU model, load, Redis version,
//! build profile.

use serde::Serialize;

/// The machine and build a run measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Machine {
    /// Cores this process may use.
    pub(crate) nproc: usize,
    /// `model name` of `/proc/cpuinfo`.
    pub(crate) cpu: String,
    /// The 1-minute load average when the run started.
    pub(crate) load_at_start: Option<f64>,
    /// The Redis server's version (`INFO server`).
    pub(crate) redis_version: String,
    /// `release` or `debug`: numbers only mean something from a release build.
    pub(crate) build: &'static str,
}

impl Machine {
    /// Looks the machine up; `redis_info` is the text of `INFO server`.
    pub(crate) fn probe(redis_info: &str) -> Machine {
        Machine {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu: std::fs::read_to_string("/proc/cpuinfo")
                .ok()
                .and_then(|t| cpu_model(&t))
                .unwrap_or_else(|| "unknown".to_owned()),
            load_at_start: load_average(),
            redis_version: info_field(redis_info, "redis_version")
                .unwrap_or_else(|| "unknown".to_owned()),
            build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
        }
    }
}

/// The 1-minute load average (`/proc/loadavg`).
pub(crate) fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}

fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpuinfo_and_info() {
        let cpu = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: x\n";
        assert_eq!(cpu_model(cpu).as_deref(), Some("AMD EPYC 7B13"));
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n";
        assert_eq!(info_field(info, "redis_version").as_deref(), Some("7.0.15"));
        assert_eq!(info_field(info, "nope"), None);
    }
}
