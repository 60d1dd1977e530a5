#[clamator::contract(service = "arith")]
pub trait Arith {
    #[clamator(notification)]
    async fn ping(&self, params: u32) -> Result<u32, clamator::RpcError>;
}
fn main() {}
