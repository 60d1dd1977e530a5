#[clamator::model]
pub union Params {
    a: u32,
    b: f32,
}

fn main() {}
