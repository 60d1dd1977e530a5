#[clamator::model]
#[derive(Debug, serde::Serialize, clamator::schemars::JsonSchema)]
pub struct Params {
    pub a: f64,
}

fn main() {}
