//! Quickstart: a typed contract, a server and a client over the in-process
//! transport. Run it with `cargo run -p clamator-examples --example quickstart`.

use clamator::RpcError;
use clamator::memory::MemoryBus;

/// Params of `greet`: unknown fields are rejected (-32602).
#[clamator::model]
#[derive(Debug)]
pub struct GreetParams {
    /// Who to greet.
    pub name: String,
}

/// Result of `greet`: a field a newer server adds does not break this caller.
#[clamator::model(allow_unknown_fields)]
#[derive(Debug)]
pub struct Greeting {
    /// The greeting.
    pub text: String,
}

/// The contract, written once: the server implements it, callers get `GreeterClient`.
#[clamator::contract(service = "greeter")]
pub trait Greeter {
    /// Greets someone; an empty name is an application error.
    async fn greet(&self, params: GreetParams) -> Result<Greeting, RpcError>;
}

struct Polite;

impl Greeter for Polite {
    async fn greet(&self, p: GreetParams) -> Result<Greeting, RpcError> {
        if p.name.is_empty() {
            return Err(RpcError::application(
                -32001,
                "name is empty",
                serde_json::Value::Null,
            ));
        }
        Ok(Greeting {
            text: format!("hello, {}", p.name),
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "contract: {}",
        serde_json::to_string(&GreeterContract::descriptor().methods[0].name)?
    );

    let bus = MemoryBus::new();
    let server = bus
        .server()
        .register(GreeterContract, Polite)?
        .start()
        .await?;
    let transport = bus.client();

    let greeter = GreeterClient::new(&transport);
    let g = greeter
        .greet(GreetParams {
            name: "world".into(),
        })
        .await?;
    println!("greet(world) -> {}", g.text);

    match greeter
        .greet(GreetParams {
            name: String::new(),
        })
        .await
    {
        Err(clamator::Error::Rpc(e)) => {
            println!("greet('') -> RPC error {} {:?}", e.code, e.message)
        }
        other => println!("greet('') -> unexpected {other:?}"),
    }

    // Untyped calls reach the same validation: an unknown field is -32602.
    match transport
        .call(
            "greeter",
            "greet",
            serde_json::json!({"name": "x", "extra": 1}),
            None,
        )
        .await
    {
        Err(clamator::Error::Rpc(e)) => {
            println!("untyped call with an extra field -> {} {}", e.code, e.data)
        }
        other => println!("unexpected {other:?}"),
    }

    transport.close().await;
    server.stop().await;
    Ok(())
}
