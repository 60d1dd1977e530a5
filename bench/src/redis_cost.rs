//! What a row cost Redis, from Redis itself: `CONFIG RESETSTAT` before the
//! row, `INFO commandstats` after it, divided by the calls the row made
//! (warm-up included, since it was counted too).
//!
//! The stream commands (`XADD`, `XACK`, `XREADGROUP`, `XREAD`, ...) and `DEL`
//! are what the transports send per call; everything else (the benchmark's
//! own `INFO`, `CONFIG`, `PING`, `CLIENT`) is left out.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use serde::Serialize;

use super::raw::connect;

/// Redis's work per call in one row.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct RedisCost {
    /// Stream commands per call, all kinds together.
    pub(crate) commands_per_call: f64,
    /// Microseconds Redis spent executing them per call (commandstats
    /// `usec`: command execution only, not reading or writing sockets).
    pub(crate) usec_per_call: f64,
    /// Per command (lower case), calls per call.
    pub(crate) per_call: BTreeMap<String, f64>,
}

/// A connection to read and reset Redis's command statistics.
#[derive(Debug)]
pub(crate) struct RedisStats {
    conn: MultiplexedConnection,
}

/// How long one statistics command may take.
const LIMIT: Duration = Duration::from_secs(5);

impl RedisStats {
    /// Connects to the benchmark's Redis.
    pub(crate) async fn connect(url: &str) -> Result<RedisStats, String> {
        let client = redis::Client::open(url).map_err(|e| format!("bad Redis URL {url:?}: {e}"))?;
        Ok(RedisStats {
            conn: connect(&client, LIMIT).await?,
        })
    }

    /// Zeroes the statistics (`CONFIG RESETSTAT`).
    pub(crate) async fn reset(&mut self) -> Result<(), String> {
        let cmd = redis::cmd("CONFIG").arg("RESETSTAT").to_owned();
        match tokio::time::timeout(LIMIT, cmd.query_async::<()>(&mut self.conn)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("CONFIG RESETSTAT failed: {e}")),
            Err(_) => Err("CONFIG RESETSTAT got no answer".to_owned()),
        }
    }

    /// What the commands since the last reset cost per call, for `calls` calls.
    pub(crate) async fn cost(&mut self, calls: usize) -> Result<RedisCost, String> {
        let cmd = redis::cmd("INFO").arg("commandstats").to_owned();
        let info =
            match tokio::time::timeout(LIMIT, cmd.query_async::<String>(&mut self.conn)).await {
                Ok(Ok(info)) => info,
                Ok(Err(e)) => return Err(format!("INFO commandstats failed: {e}")),
                Err(_) => return Err("INFO commandstats got no answer".to_owned()),
            };
        Ok(cost_per_call(&parse_commandstats(&info), calls))
    }
}

/// `(command, calls, usec)` of every `cmdstat_<command>:calls=..,usec=..` line.
fn parse_commandstats(info: &str) -> Vec<(String, u64, u64)> {
    info.lines()
        .filter_map(|line| {
            let (name, fields) = line.trim().strip_prefix("cmdstat_")?.split_once(':')?;
            let field = |key: &str| {
                fields
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                    .and_then(|v| v.parse::<u64>().ok())
            };
            Some((name.to_ascii_lowercase(), field("calls")?, field("usec")?))
        })
        .collect()
}

/// Folds the statistics of the transport's commands into per-call figures.
fn cost_per_call(stats: &[(String, u64, u64)], calls: usize) -> RedisCost {
    let calls = calls.max(1) as f64;
    let mut cost = RedisCost::default();
    for (name, n, usec) in stats {
        if !(name.starts_with('x') || name == "del") {
            continue;
        }
        cost.commands_per_call += *n as f64 / calls;
        cost.usec_per_call += *usec as f64 / calls;
        cost.per_call.insert(name.clone(), *n as f64 / calls);
    }
    cost
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_commandstats() {
        let info = "# Commandstats\r\n\
            cmdstat_xadd:calls=200,usec=1000,usec_per_call=5.00,rejected_calls=0,failed_calls=0\r\n\
            cmdstat_xack:calls=100,usec=300,usec_per_call=3.00,rejected_calls=0,failed_calls=0\r\n\
            cmdstat_xreadgroup:calls=10,usec=200,usec_per_call=20.00,rejected_calls=0,failed_calls=0\r\n\
            cmdstat_config|resetstat:calls=1,usec=5,usec_per_call=5.00,rejected_calls=0,failed_calls=0\r\n\
            cmdstat_info:calls=3,usec=50,usec_per_call=16.6,rejected_calls=0,failed_calls=0\r\n";
        let stats = parse_commandstats(info);
        assert_eq!(stats.len(), 5);
        assert_eq!(stats[0], ("xadd".to_owned(), 200, 1000));
        let cost = cost_per_call(&stats, 100);
        assert!((cost.commands_per_call - 3.1).abs() < 1e-9, "{cost:?}");
        assert!((cost.usec_per_call - 15.0).abs() < 1e-9, "{cost:?}");
        assert_eq!(
            cost.per_call.len(),
            3,
            "config and info are not the transport's"
        );
        assert_eq!(cost.per_call["xadd"], 2.0);
    }
}
