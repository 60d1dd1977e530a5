#[clamator::contract(service = "arith")]
pub trait Arith {
    #[clamator(name = "slow-add")]
    async fn slow_add(&self, params: u32) -> Result<u32, clamator::RpcError>;
}
fn main() {}
