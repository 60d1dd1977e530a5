#[clamator::contract(service = "arith")]
pub trait Arith {
    fn add(&self, params: u32) -> Result<u32, clamator::RpcError>;
}
fn main() {}
