#[clamator::model]
pub fn params() -> u32 {
    1
}

fn main() {}
