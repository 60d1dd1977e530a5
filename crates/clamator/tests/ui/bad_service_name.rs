#[clamator::contract(service = "Arith")]
pub trait Arith {
    async fn add(&self, params: u32) -> Result<u32, clamator::RpcError>;
}
fn main() {}
