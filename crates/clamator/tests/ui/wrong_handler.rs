#[derive(serde::Serialize, serde::Deserialize, clamator::schemars::JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub struct P {}

#[clamator::contract(service = "arith")]
pub trait Arith {
    async fn add(&self, params: P) -> Result<P, clamator::RpcError>;
}

struct NotArith;

fn main() {
    let _ = clamator::Dispatcher::builder().register(ArithContract, NotArith);
}
