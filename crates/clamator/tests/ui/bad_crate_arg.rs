#[clamator::contract(service = "arith", crate = "::clamator<u8>")]
pub trait Arith {
    async fn add(&self, params: u32) -> Result<u32, clamator::RpcError>;
}

fn main() {}
