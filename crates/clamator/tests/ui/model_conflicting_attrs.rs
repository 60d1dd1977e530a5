#[clamator::model(allow_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct Lenient {
    pub a: f64,
}

#[clamator::model]
#[serde(crate = "clamator::serde")]
#[schemars(crate = "clamator::schemars")]
pub struct OwnCrate {
    pub a: f64,
}

fn main() {}
