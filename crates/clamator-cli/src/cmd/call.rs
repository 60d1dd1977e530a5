//! `clamator call <service>.<method> '<json params>'`: one call, its result on stdout.

use std::time::Duration;

use clamator_protocol::TransportError;
use tokio::time::Instant;

use crate::cmd::{parse_target, read_params, start_client};
use crate::error::CliError;
use crate::global::Global;
use crate::output;

/// Options of `clamator call`.
#[derive(clap::Args, Debug)]
pub(crate) struct CallArgs {
    /// The method to call, as `<service>.<method>` (e.g. `arith.add`).
    #[arg(value_name = "SERVICE.METHOD")]
    target: String,

    /// The params as JSON (an object or array); `-` reads them from stdin. Default `{}`.
    #[arg(value_name = "PARAMS", allow_hyphen_values = true)]
    params: Option<String>,

    /// How long to wait for the reply, in milliseconds, connecting to Redis included.
    #[arg(long, value_name = "MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    timeout_ms: u64,
}

/// Calls the method and prints its result; an RPC error is printed as its
/// error object (`code`, `message`, `data`) and exits 1.
pub(crate) async fn run(global: &Global, args: CallArgs) -> Result<(), CliError> {
    let prefix = global.prefix("call")?;
    let (service, method) = parse_target(&args.target)?;
    let params = read_params(args.params.as_deref())?;
    let timeout = Duration::from_millis(args.timeout_ms);
    // One deadline for the whole command: a Redis that accepts connections and
    // never answers must not make the call outlast its --timeout-ms.
    let deadline = Instant::now() + timeout;
    let client = match tokio::time::timeout_at(
        deadline,
        start_client(global, prefix, Some(timeout)),
    )
    .await
    {
        Ok(started) => started?,
        Err(_) => {
            return Err(CliError::Unreachable {
                url: global.redis_url.clone(),
                reason: format!(
                    "starting the client: no answer within {} ms (--timeout-ms)",
                    timeout.as_millis()
                ),
            });
        }
    };
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        client.close().await;
        return Err(call_timeout(&service, &method, prefix, timeout));
    }
    let outcome = tokio::select! {
        outcome = client.call(&service, &method, params, Some(left)) => Some(outcome),
        _ = tokio::signal::ctrl_c() => None,
    };
    client.close().await; // deletes the reply stream
    let Some(outcome) = outcome else {
        return Err(CliError::Interrupted(format!(
            "stopped waiting for {service}.{method}; the server may still run it"
        )));
    };
    match outcome {
        Ok(result) if global.json => output::json(&result),
        Ok(result) => output::json_pretty(&result),
        // The call had what was left of the timeout: report the timeout the user gave.
        Err(clamator_protocol::Error::Transport(TransportError::Timeout { .. })) => {
            Err(call_timeout(&service, &method, prefix, timeout))
        }
        Err(e) => {
            let e = CliError::from_call(e, &service, &method, prefix, &global.redis_url);
            if let CliError::Rpc { error, .. } = &e {
                if global.json {
                    output::json(error)?;
                } else {
                    output::json_pretty(error)?;
                }
            }
            Err(e)
        }
    }
}

/// "No reply within `timeout`" for `<service>.<method>`.
fn call_timeout(service: &str, method: &str, prefix: &str, timeout: Duration) -> CliError {
    CliError::CallTimeout {
        method: format!("{service}.{method}"),
        service: service.to_owned(),
        prefix: prefix.to_owned(),
        timeout,
    }
}
