//! Fuzz target `import_lightgbm`: arbitrary bytes as a LightGBM text model.
//!
//! `leadscore::train::import::lightgbm::parse` must return `Err` or a model
//! that validates, whose margin is finite on an all-NaN, an all-zero and an
//! all-one row, and whose TreeSHAP values add up to the margin. Seeds: the
//! models `scripts/import_reference.py` writes (`fuzz/README.md`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(imported) = leadscore::train::import::lightgbm::parse(text) else {
        return;
    };
    let width = imported.features.len();
    imported
        .model
        .validate(width)
        .expect("a parsed model validates");
    for fill in [f64::NAN, 0.0, 1.0] {
        let row = vec![fill; width];
        let margin = imported.model.margin(&row);
        assert!(margin.is_finite());
        let mut phi = vec![0.0; width];
        imported.model.tree_shap(&row, &mut phi);
        let sum = imported.model.expected_value() + phi.iter().sum::<f64>();
        assert!(
            (sum - margin).abs() <= 1e-6 * (1.0 + margin.abs()),
            "{sum} vs {margin}"
        );
    }
});
