//! Load generator for `LeadScoring.Score`: a concurrency sweep reporting
//! throughput and latency percentiles.
//!
//! ```sh
//! cargo run --release --bin leadscore-server &
//! cargo run --release --example loadgen -- --addr http://127.0.0.1:50051 \
//!     --concurrency 1,4,16,64 --batch 1 --seconds 5
//! ```
//!
//! Leads are dense vectors built from the served model's schema (GetModel):
//! numeric features take their imputed value jittered, categoricals cycle
//! through their categories, booleans alternate. Each concurrency level runs
//! for `--seconds` over `--connections` HTTP/2 connections; requests are
//! closed-loop (a worker sends its next request when the last one returns).

use std::time::{Duration, Instant};

use clap::Parser;
use leadscore::proto::lead_scoring_client::LeadScoringClient;
use leadscore::proto::{FeatureKind, GetModelRequest, Lead, ModelInfo, ScoreRequest};
use tonic::transport::Channel;

/// Concurrency sweep against LeadScoring.Score.
#[derive(Debug, Parser)]
struct Args {
    /// Server URL.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    addr: String,
    /// Concurrency levels (in-flight requests), comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16,64")]
    concurrency: Vec<usize>,
    /// Leads per request.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Seconds per level.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// HTTP/2 connections shared by the workers.
    #[arg(long, default_value_t = 4)]
    connections: usize,
}

fn dense_leads(model: &ModelInfo, batch: usize, seed: usize) -> Vec<Lead> {
    (0..batch)
        .map(|i| {
            let k = seed * batch + i;
            let values = model
                .features
                .iter()
                .map(|f| match f.kind() {
                    FeatureKind::Categorical => (k % f.categories.len().max(1)) as f64,
                    FeatureKind::Boolean => (k % 2) as f64,
                    _ => {
                        f.imputed_value.parse::<f64>().unwrap_or(0.0)
                            * (0.5 + (k % 10) as f64 / 10.0)
                    }
                })
                .collect();
            Lead {
                lead_id: format!("load-{k}"),
                values,
                ..Default::default()
            }
        })
        .collect()
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut channels = Vec::new();
    for _ in 0..args.connections.max(1) {
        channels.push(Channel::from_shared(args.addr.clone())?.connect().await?);
    }
    let model = LeadScoringClient::new(channels[0].clone())
        .get_model(GetModelRequest::default())
        .await?
        .into_inner();
    println!(
        "model {} v{} ({} features), batch {}, {} s per level, {} connections",
        model.name,
        model.version,
        model.features.len(),
        args.batch,
        args.seconds,
        channels.len()
    );
    println!("concurrency  requests/s  leads/s      p50       p90       p99   errors");
    for &concurrency in &args.concurrency {
        let until = Instant::now() + Duration::from_secs_f64(args.seconds);
        let mut workers = Vec::new();
        for w in 0..concurrency {
            let mut client = LeadScoringClient::new(channels[w % channels.len()].clone());
            let request = ScoreRequest {
                leads: dense_leads(&model, args.batch, w),
                ..Default::default()
            };
            workers.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                while Instant::now() < until {
                    let started = Instant::now();
                    match client.score(request.clone()).await {
                        Ok(_) => latencies.push(started.elapsed()),
                        Err(_) => errors += 1,
                    }
                }
                (latencies, errors)
            }));
        }
        let started = Instant::now();
        let mut latencies = Vec::new();
        let mut errors = 0;
        for worker in workers {
            let (l, e) = worker.await?;
            latencies.extend(l);
            errors += e;
        }
        let elapsed = started.elapsed().as_secs_f64();
        latencies.sort_unstable();
        let rps = latencies.len() as f64 / elapsed;
        println!(
            "{concurrency:>11}  {rps:>10.0}  {:>7.0}  {:>7.0}µs {:>7.0}µs {:>7.0}µs  {errors:>6}",
            rps * args.batch as f64,
            percentile(&latencies, 0.5).as_secs_f64() * 1e6,
            percentile(&latencies, 0.9).as_secs_f64() * 1e6,
            percentile(&latencies, 0.99).as_secs_f64() * 1e6,
        );
    }
    Ok(())
}
