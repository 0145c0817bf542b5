//! Writes the synthetic wide data of the trainer's scaling runs
//! (`leadscore::train::synthetic::write_wide`): `--rows N` rows of `--features F`
//! numeric columns `x01…` and a 0/1 target `converted`.
//!
//! usage: cargo run --release --example make_wide -- \
//!            --rows 1000000 --features 30 --seed 1 --out /tmp/wide_1m.csv

use std::io::{BufWriter, Write};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rows: usize = 100_000;
    let mut features: usize = 30;
    let mut seed: u64 = 1;
    let mut out: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--rows" => rows = value()?.parse()?,
            "--features" => features = value()?.parse()?,
            "--seed" => seed = value()?.parse()?,
            "--out" => out = Some(value()?),
            "-h" | "--help" => {
                println!("usage: make_wide --rows N --features F --seed S --out FILE");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?} (see --help)").into()),
        }
    }
    let out = out.ok_or("--out FILE is required")?;
    let file = std::fs::File::create(&out)?;
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    leadscore::train::synthetic::write_wide(&mut writer, rows, features, seed)?;
    writer.flush()?;
    eprintln!("wrote {out}: {rows} rows x {features} features (seed {seed})");
    Ok(())
}
