//! Writes the inputs of the scikit-learn reference check:
//! `tests/data/reference_leads.csv` (synthetic leads) and
//! `tests/data/reference_split.json` (the trainer's held-out row indices).
//! Then `python3 scripts/sklearn_reference.py` writes
//! `tests/data/sklearn_reference.json`, which `tests/api/reference.rs` reads.
//!
//! usage: cargo run --example reference_data

use leadscore::train::{stratified_split, TrainParams};

fn main() -> std::io::Result<()> {
    let data = leadscore::train::synthetic::generate(2000, 77);
    std::fs::create_dir_all("tests/data")?;
    std::fs::write("tests/data/reference_leads.csv", data.to_csv())?;
    let labels: Vec<bool> = data.leads.iter().map(|l| l.converted).collect();
    let params = TrainParams::default();
    let (_, test) = stratified_split(&labels, params.test_fraction, params.seed);
    let json = format!(
        "{{\"seed\": {}, \"test_fraction\": {}, \"test_rows\": {:?}}}\n",
        params.seed, params.test_fraction, test
    );
    std::fs::write("tests/data/reference_split.json", json)?;
    println!("wrote tests/data/reference_leads.csv and tests/data/reference_split.json");
    Ok(())
}
