//! Server CPU of one bulk `ScoreStream` of leads sent as raw events: the
//! issue-18 target "10,000 leads × 200 events in one ScoreStream cost ≤ 1 s
//! of server CPU".
//!
//! ```sh
//! cargo build --release --bin leadscore-server --example stream_events_cpu
//! ./target/release/leadscore-server --models models --grpc-addr 127.0.0.1:50051 \
//!     --http-addr off --metrics-addr off &
//! ./target/release/examples/stream_events_cpu --addr http://127.0.0.1:50051 --pid $! \
//!     --leads 10000 --events 200 --repeat 5
//! ```
//!
//! The leads (built once, before any measurement) carry `--events` events
//! each of the served model's event types (GetModel), at dates spread over
//! the 120 days before their `as_of`, plus their static categorical features.
//! Each run sends them as one `ScoreStream` of `--batch`-lead messages and
//! reads the server's utime + stime from `/proc/<pid>/stat` before the first
//! message and after the last answer. Interleaved with each events run is a
//! run of the same leads **without** events (static features only), so the
//! difference is what the events cost. Prints one line per run and the
//! medians with their ranges.

use std::time::Instant;

use clap::Parser;
use leadscore::scoring::time::date_text;
use leadscore::serve::proto::lead_scoring_client::LeadScoringClient;
use leadscore::serve::proto::{
    feature_value, Event, FeatureKind, FeatureValue, GetModelRequest, Lead, ScoreRequest,
};

#[derive(Parser, Debug)]
#[command(about = "Server CPU of one ScoreStream of leads sent as raw events")]
struct Args {
    /// The server's gRPC address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    addr: String,
    /// The server's process id (its CPU is read from /proc/<pid>/stat).
    #[arg(long)]
    pid: u32,
    /// A model with an event definition.
    #[arg(long, default_value = "leadforge_events")]
    model: String,
    /// Leads in the stream.
    #[arg(long, default_value_t = 10_000)]
    leads: usize,
    /// Events per lead.
    #[arg(long, default_value_t = 200)]
    events: usize,
    /// Leads per stream message.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Interleaved pairs of runs (events, then no events).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

/// utime + stime of `pid`, seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow::anyhow!("unexpected /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> { Ok(fields[i].parse::<f64>()?) };
    // utime and stime are fields 14 and 15 of stat; 12 and 13 after ")".
    let hz = 100.0; // USER_HZ on Linux
    Ok((ticks(11)? + ticks(12)?) / hz)
}

/// xorshift64*: a small deterministic generator, enough to spread events.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Runs one stream of `messages`; returns the server CPU seconds and the
/// number of scores answered.
async fn run_stream(
    client: &mut LeadScoringClient<tonic::transport::Channel>,
    pid: u32,
    messages: &[ScoreRequest],
) -> anyhow::Result<(f64, usize, f64)> {
    let messages = messages.to_vec();
    let before = cpu_seconds(pid)?;
    let started = Instant::now();
    let response = client
        .score_stream(tokio_stream::iter(messages))
        .await?
        .into_inner();
    let mut answers = response;
    let mut scored = 0;
    while let Some(answer) = answers.message().await? {
        scored += answer.scores.len();
    }
    let wall = started.elapsed().as_secs_f64();
    Ok((cpu_seconds(pid)? - before, scored, wall))
}

fn median_and_range(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        values[values.len() / 2],
        values[0],
        values[values.len() - 1],
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut client = LeadScoringClient::connect(args.addr.clone())
        .await?
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);
    let info = client
        .get_model(GetModelRequest {
            model: args.model.clone(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let events = info
        .events
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("model {} has no event definition", args.model))?;
    let types = events.event_types.clone();
    let window_features: std::collections::HashSet<&str> =
        events.features.iter().map(|f| f.name.as_str()).collect();
    // Static categorical features: each lead takes one of the categories.
    let statics: Vec<(String, Vec<String>)> = info
        .features
        .iter()
        .filter(|f| {
            f.kind() == FeatureKind::Categorical && !window_features.contains(f.name.as_str())
        })
        .map(|f| (f.name.clone(), f.categories.clone()))
        .collect();

    let as_of_day = leadscore::scoring::time::days_from_civil(2024, 3, 1);
    let dates: Vec<String> = (1..=120).map(|d| date_text(as_of_day - d)).collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let build = Instant::now();
    let leads: Vec<Lead> = (0..args.leads)
        .map(|i| Lead {
            lead_id: format!("lead-{i}"),
            features: statics
                .iter()
                .filter(|(_, c)| !c.is_empty())
                .map(|(name, categories)| {
                    let value = FeatureValue {
                        kind: Some(feature_value::Kind::Category(
                            categories[rng.below(categories.len())].clone(),
                        )),
                    };
                    (name.clone(), value)
                })
                .collect(),
            events: (0..args.events)
                .map(|_| Event {
                    r#type: types[rng.below(types.len())].clone(),
                    time: dates[rng.below(dates.len())].clone(),
                    value: None,
                })
                .collect(),
            as_of: date_text(as_of_day),
            ..Default::default()
        })
        .collect();
    let messages = |with_events: bool| -> Vec<ScoreRequest> {
        leads
            .chunks(args.batch.max(1))
            .map(|chunk| ScoreRequest {
                model: args.model.clone(),
                leads: chunk
                    .iter()
                    .map(|l| Lead {
                        events: if with_events {
                            l.events.clone()
                        } else {
                            Vec::new()
                        },
                        ..l.clone()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect()
    };
    let with_events = messages(true);
    let without = messages(false);
    println!(
        "model {} v{}: {} leads x {} events of {} types, {} leads per message (built in {:.1} s)",
        info.name,
        info.version,
        args.leads,
        args.events,
        types.len(),
        args.batch,
        build.elapsed().as_secs_f64()
    );
    // Warm-up: one small stream of each kind.
    run_stream(&mut client, args.pid, &with_events[..1]).await?;
    run_stream(&mut client, args.pid, &without[..1]).await?;

    let (mut events_cpu, mut plain_cpu) = (Vec::new(), Vec::new());
    for run in 0..args.repeat {
        let (cpu, scored, wall) = run_stream(&mut client, args.pid, &with_events).await?;
        anyhow::ensure!(
            scored == args.leads,
            "{scored} scores for {} leads",
            args.leads
        );
        let (plain, _, plain_wall) = run_stream(&mut client, args.pid, &without).await?;
        println!(
            "run {run}: with events {cpu:.2} s server CPU ({wall:.2} s wall), \
             without {plain:.2} s ({plain_wall:.2} s wall)"
        );
        events_cpu.push(cpu);
        plain_cpu.push(plain);
    }
    let (m, lo, hi) = median_and_range(&mut events_cpu);
    let (pm, plo, phi) = median_and_range(&mut plain_cpu);
    println!(
        "server CPU per stream: with events median {m:.2} s (range {lo:.2}-{hi:.2}), \
         without events {pm:.2} s ({plo:.2}-{phi:.2}); events add {:.2} us per lead",
        (m - pm) / args.leads as f64 * 1e6
    );
    Ok(())
}
