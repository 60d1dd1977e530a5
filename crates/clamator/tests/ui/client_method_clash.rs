#[clamator::contract(service = "arith")]
pub trait Arith {
    async fn transport(&self, params: u32) -> Result<u32, clamator::RpcError>;
}

fn main() {}
