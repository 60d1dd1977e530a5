//! Runs a generator over a contract file: `codegen <rust|python|zod> FILE`
//! (the `clamator codegen` command does the same with more options).
use clamator_contract_file::{ContractFile, python, rust, zod};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(kind), Some(path)) = (args.get(1), args.get(2)) else {
        return Err("usage: codegen <rust|python|zod> FILE".into());
    };
    let file = ContractFile::read(std::path::Path::new(path))?;
    match kind.as_str() {
        "rust" => print!(
            "{}",
            rust::generate(&file, path, &rust::RustOptions::default())?
        ),
        "python" => {
            for (_, text) in python::generate_all(&file, path)? {
                print!("{text}");
            }
        }
        "zod" => {
            for (_, text) in zod::generate_all(&file, path)? {
                print!("{text}");
            }
        }
        other => return Err(format!("unknown generator {other}").into()),
    }
    Ok(())
}
