//! `leadscore-train`: trains a model from a CRM export (CSV or Parquet) and
//! writes `<out>/model.json` for the server's model repository, with
//! `report.json`, `report.html` and `report.md` beside it.
//!
//! Settings come from `--config train.toml` (optional) and flags; a flag
//! overrides the file ([`leadscore::train::TrainSettings`] is both). This
//! binary only parses them, shows progress and calls the library.
//! `leadscore-train import` turns a LightGBM or XGBoost model into our
//! artifact instead ([`leadscore::train::import`]). Errors
//! end it with plain lines, never a backtrace ([`leadscore::cli`]).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::Context;
use clap::{Arg, ArgAction, CommandFactory, FromArgMatches};
use indicatif::{ProgressBar, ProgressStyle};
use leadscore::train::{self, Progress, TrainSettings};

/// A progress bar on a terminal, plain lines otherwise (CI logs, pipes).
struct TerminalProgress {
    bar: Mutex<Option<ProgressBar>>,
    stage: Mutex<String>,
    interactive: bool,
}

impl Progress for TerminalProgress {
    fn start(&self, stage: &str, total: u64) {
        *self.stage.lock().unwrap_or_else(|e| e.into_inner()) = stage.to_string();
        if self.interactive {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{msg:<40} [{bar:30}] {pos}/{len} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_message(stage.to_string());
            *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
        } else {
            eprintln!("{stage} ...");
        }
    }
    fn advance(&self, n: u64) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            bar.inc(n);
        }
    }
    fn finish(&self, summary: &str) {
        let stage = self.stage.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish_and_clear();
        }
        eprintln!("{stage}: {summary}");
    }
}

fn main() -> ExitCode {
    let flags = TrainSettings::command()
        .arg(
            Arg::new("debug")
                .long("debug")
                .global(true)
                .action(ArgAction::SetTrue)
                .help("Show Rust's panic output with a backtrace (also LEADSCORE_DEBUG=1)"),
        )
        .subcommand(train::import::ImportArgs::command().name("import"))
        .subcommand(
            TrainSettings::command()
                .name("features")
                .about(
                    "Write the table the model sees: --data with the window features of --events \
                     computed point in time, as CSV",
                )
                .arg(
                    Arg::new("output")
                        .long("output")
                        .value_name("FILE")
                        .value_parser(clap::value_parser!(std::path::PathBuf))
                        .help("Where to write the CSV (default: standard output)"),
                ),
        )
        .args_conflicts_with_subcommands(true)
        .get_matches();
    leadscore::cli::run_main("leadscore-train", || match flags.subcommand() {
        Some(("import", sub)) => import(train::import::ImportArgs::from_arg_matches(sub)?),
        Some(("features", sub)) => features(sub),
        _ => run(&flags),
    })
}

fn features(flags: &clap::ArgMatches) -> anyhow::Result<()> {
    let settings = TrainSettings::from_flags(flags)?;
    let (table, materialised) = train::events::feature_table(&settings)?;
    let csv = train::events::to_csv(&table);
    match flags.get_one::<std::path::PathBuf>("output") {
        Some(path) => {
            std::fs::write(path, csv).with_context(|| format!("cannot write {}", path.display()))?
        }
        None => print!("{csv}"),
    }
    eprintln!("{}", materialised.notice());
    Ok(())
}

fn import(args: train::import::ImportArgs) -> anyhow::Result<()> {
    let command = train::command_line(std::env::args());
    let summary = train::import::run(&args.into_settings(command))?;
    println!(
        "imported {} model: {} trees, features {}; {}\nwrote {}",
        summary.library,
        summary.trees,
        summary.features.join(", "),
        match summary.sample_rows {
            Some(rows) => format!("bands from {rows} sample rows"),
            None => "no data: one band, \"unbanded\"".to_string(),
        },
        summary.path.display()
    );
    Ok(())
}

fn run(flags: &clap::ArgMatches) -> anyhow::Result<()> {
    let mut settings = TrainSettings::from_flags(flags)?;
    settings.command = train::command_line(std::env::args());
    let settings = settings.check()?;
    let out = settings.out_dir()?;
    let progress = TerminalProgress {
        bar: Mutex::new(None),
        stage: Mutex::new(String::new()),
        interactive: std::io::stderr().is_terminal(),
    };
    let outcome = train::train_with_progress(&settings, &progress)
        .with_context(|| format!("training on {}", settings.data().display()))?;
    for notice in &outcome.notices {
        eprintln!("note: {notice}");
    }
    let written = train::write_outputs(&outcome, out)?;
    print!("{}", outcome.summary(&settings, &written));
    Ok(())
}
