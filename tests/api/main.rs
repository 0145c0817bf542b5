//! Integration tests: the real server on 127.0.0.1:0, called over the
//! network with tonic clients; the trainer on generated data.

mod account_training;
mod accounts;
mod architecture;
mod bad_input;
mod bundled;
mod calibration_reference;
mod cli_errors;
mod deploy;
mod events;
mod explain;
mod faults;
mod fuzz_regressions;
mod health;
mod helpers;
mod http;
mod import;
mod leadforge_events;
mod leakage_real;
mod limits;
mod models;
mod oip;
mod oip_rest;
mod prometheus;
mod properties;
mod reference;
mod reflection;
mod reload;
mod score;
mod shap_reference;
mod shutdown;
mod stream;
mod tls;
mod tracing_export;
mod trainer;
mod training;
