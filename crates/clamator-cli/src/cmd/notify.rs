//! `clamator notify <service>.<method> '<json params>'`: a fire-and-forget notification.

use clamator_over_redis::ops::keys;
use serde_json::json;

use crate::cmd::{parse_target, read_params, start_client};
use crate::error::CliError;
use crate::global::Global;
use crate::output;

/// Options of `clamator notify`.
#[derive(clap::Args, Debug)]
pub(crate) struct NotifyArgs {
    /// The notification method, as `<service>.<method>` (e.g. `arith.ping`).
    #[arg(value_name = "SERVICE.METHOD")]
    target: String,

    /// The params as JSON (an object or array); `-` reads them from stdin. Default `{}`.
    #[arg(value_name = "PARAMS", allow_hyphen_values = true)]
    params: Option<String>,
}

/// Sends the notification; returns once Redis accepted it. No reply ever comes.
pub(crate) async fn run(global: &Global, args: NotifyArgs) -> Result<(), CliError> {
    let prefix = global.prefix("notify")?;
    let (service, method) = parse_target(&args.target)?;
    let params = read_params(args.params.as_deref())?;
    let client = start_client(global, prefix, None).await?;
    let outcome = client.notify(&service, &method, params).await;
    client.close().await;
    outcome.map_err(|e| CliError::from_call(e, &service, &method, prefix, &global.redis_url))?;
    let stream = keys::command_stream(prefix, &service);
    if global.json {
        output::json(&json!({
            "sent": true,
            "method": format!("{service}.{method}"),
            "stream": stream,
        }))
    } else {
        output::line(&format!(
            "sent notification {service}.{method} to {stream} (notifications get no reply)"
        ))
    }
}
