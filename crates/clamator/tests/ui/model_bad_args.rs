#[clamator::model(deny_unknown_fields)]
pub struct Unknown {
    pub a: f64,
}

#[clamator::model(crate = "not a path")]
pub struct BadPath {
    pub a: f64,
}

fn main() {}
