#[clamator::contract(service = "arith")]
pub trait Arith {
    async fn slow_add(&self, params: u32) -> Result<u32, clamator::RpcError>;
    #[clamator(name = "slowAdd")]
    async fn other(&self, params: u32) -> Result<u32, clamator::RpcError>;
}
fn main() {}
