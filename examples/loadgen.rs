//! Load generator for `LeadScoring.Score`, in two modes.
//!
//! **Sweep** (the default): one line per concurrency level with throughput and
//! latency percentiles over the whole level.
//!
//! ```sh
//! cargo run --release --bin leadscore-server &
//! cargo run --release --example loadgen -- --addr http://127.0.0.1:50051 \
//!     --concurrency 1,4,16,64 --batch 1 --seconds 5
//! ```
//!
//! **Soak**: add `--report-every <secs>` and, while a level runs, one `window`
//! line is printed per window: its start (UTC wall clock, to line up with the
//! server's logs), seconds since the level started, requests/s, leads/s,
//! p50/p90/p99 of the requests completed in that window, and the errors so
//! far. The level's summary row follows as in a sweep. `--fail-on-error`
//! makes the exit status non-zero when any request failed.
//!
//! ```sh
//! cargo run --release --example loadgen -- --addr http://127.0.0.1:50051 \
//!     --concurrency 8 --batch 10 --seconds 600 --report-every 30 --fail-on-error
//! ```
//!
//! In both modes the first few distinct error statuses (code and message) are
//! printed with the time each was first seen: at once in soak mode, at the
//! end of the level in a sweep.
//!
//! Leads are dense vectors built from the served model's schema (GetModel):
//! numeric features take their imputed value jittered, categoricals cycle
//! through their categories, booleans alternate. Each concurrency level runs
//! for `--seconds` over `--connections` HTTP/2 connections; requests are
//! closed-loop (a worker sends its next request when the last one returns).
//! Requests name no version, so they follow the newest loaded one through
//! hot reloads.
//!
//! `--rpc empty` sends `inference.GRPCInferenceService/ServerLive` instead: an
//! RPC with an empty request and a one-flag answer on the same server, the
//! transport's own limit to hold `Score` against (same connections, same
//! concurrency, same closed loop).
//!
//! `--rpc stream` opens one `ScoreStream` per worker instead and keeps up
//! to 64 messages of `--batch` leads in flight on it; the "latencies" are then
//! the gaps between successive answers on a stream, and requests/s counts
//! answered messages. For the server's CPU per lead, read its utime + stime
//! from `/proc/<pid>/stat` before and after (docs/scale.md).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use leadscore::serve::proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use leadscore::serve::proto::inference::ServerLiveRequest;
use leadscore::serve::proto::lead_scoring_client::LeadScoringClient;
use leadscore::serve::proto::{FeatureKind, GetModelRequest, Lead, ModelInfo, ScoreRequest};
use tonic::transport::Channel;

/// How many distinct error statuses are kept and printed per level.
const DISTINCT_ERRORS_SHOWN: usize = 5;

/// Concurrency sweep (or soak) against LeadScoring.Score.
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
    /// `score` (LeadScoring.Score), `stream` (LeadScoring.ScoreStream, one
    /// stream per worker) or `empty` (OIP ServerLive: the transport baseline).
    #[arg(long, default_value = "score", value_parser = ["score", "stream", "empty"])]
    rpc: String,
    /// Seconds per level.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// HTTP/2 connections shared by the workers.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Soak mode: print a `window` line every this many seconds while a level runs.
    #[arg(long, value_name = "SECS")]
    report_every: Option<f64>,
    /// Exit non-zero if any request failed.
    #[arg(long)]
    fail_on_error: bool,
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

/// `812µs`, `1.4ms`, `2.05s`.
fn human(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0}µs")
    } else if us < 1e6 {
        format!("{:.1}ms", us / 1e3)
    } else {
        format!("{:.2}s", us / 1e6)
    }
}

/// UTC wall-clock time of day, `HH:MM:SS`.
fn clock(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// What the workers of one level share: the current report window and errors.
#[derive(Default)]
struct Shared {
    /// Latencies completed since the last `window` line (soak mode only).
    window: Mutex<Vec<Duration>>,
    errors: AtomicU64,
    /// The first distinct `code: message` statuses, with when each was first seen.
    distinct: Mutex<Vec<(SystemTime, String)>>,
}

impl Shared {
    fn record_error(&self, status: &tonic::Status, print_now: bool) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut message: String = status.message().chars().take(200).collect();
        if message.is_empty() {
            message = "(no message)".into();
        }
        let key = format!("{:?}: {message}", status.code());
        let mut distinct = self.distinct.lock().unwrap_or_else(|e| e.into_inner());
        if distinct.len() < DISTINCT_ERRORS_SHOWN && !distinct.iter().any(|(_, k)| *k == key) {
            let now = SystemTime::now();
            if print_now {
                println!("error   {}Z  first seen: {key}", clock(now));
            }
            distinct.push((now, key));
        }
    }

    fn take_window(&self) -> Vec<Duration> {
        std::mem::take(&mut *self.window.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Prints one `window` line for the requests completed in `[start, end)`.
fn print_window(
    mut latencies: Vec<Duration>,
    level_start: (Instant, SystemTime),
    start: Instant,
    end: Instant,
    batch: usize,
    errors_so_far: u64,
) {
    latencies.sort_unstable();
    let secs = end.duration_since(start).as_secs_f64().max(1e-9);
    let rps = latencies.len() as f64 / secs;
    let offset = start.duration_since(level_start.0);
    let pct = |q| {
        if latencies.is_empty() {
            "-".to_string()
        } else {
            human(percentile(&latencies, q))
        }
    };
    println!(
        "window  {}Z  {:>6.0}  {rps:>10.0}  {:>8.0}  {:>8} {:>8} {:>8}  {errors_so_far:>6}",
        clock(level_start.1 + offset),
        offset.as_secs_f64(),
        rps * batch as f64,
        pct(0.5),
        pct(0.9),
        pct(0.99),
    );
}

/// One `ScoreStream` until `until`: up to 64 messages in flight, each answer
/// timed from the previous one.
async fn stream_worker(
    mut client: LeadScoringClient<Channel>,
    request: ScoreRequest,
    until: Instant,
    shared: Arc<Shared>,
) -> Vec<Duration> {
    const IN_FLIGHT: usize = 64;
    let (tx, rx) = tokio::sync::mpsc::channel::<ScoreRequest>(IN_FLIGHT);
    let credits = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let producer = {
        let credits = credits.clone();
        tokio::spawn(async move {
            while Instant::now() < until {
                let Ok(permit) = credits.acquire().await else {
                    return;
                };
                permit.forget();
                if tx.send(request.clone()).await.is_err() {
                    return;
                }
            }
        })
    };
    let mut latencies = Vec::new();
    let requests = tokio_stream::wrappers::ReceiverStream::new(rx);
    match client.score_stream(requests).await {
        Ok(response) => {
            let mut answers = response.into_inner();
            let mut last = Instant::now();
            loop {
                match answers.message().await {
                    Ok(Some(_)) => {
                        credits.add_permits(1);
                        let now = Instant::now();
                        latencies.push(now - last);
                        last = now;
                    }
                    Ok(None) => break,
                    Err(status) => {
                        shared.record_error(&status, false);
                        break;
                    }
                }
            }
        }
        Err(status) => shared.record_error(&status, false),
    }
    producer.abort();
    latencies
}

const SUMMARY_HEADER: &str =
    "concurrency  requests/s  leads/s      p50       p90       p99   errors";
const WINDOW_HEADER: &str =
    "window  start(UTC)  t(s)  requests/s   leads/s       p50      p90      p99  errors";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let report_every = args
        .report_every
        .filter(|s| *s > 0.0)
        .map(Duration::from_secs_f64);
    let mut channels = Vec::new();
    for _ in 0..args.connections.max(1) {
        channels.push(Channel::from_shared(args.addr.clone())?.connect().await?);
    }
    let model = LeadScoringClient::new(channels[0].clone())
        .get_model(GetModelRequest::default())
        .await?
        .into_inner();
    println!(
        "rpc {}, model {} v{} ({} features), batch {}, {} s per level, {} connections",
        args.rpc,
        model.name,
        model.version,
        model.features.len(),
        args.batch,
        args.seconds,
        channels.len()
    );
    if report_every.is_none() {
        println!("{SUMMARY_HEADER}");
    }
    let mut total_requests = 0u64;
    let mut total_errors = 0u64;
    for &concurrency in &args.concurrency {
        let level_start = (Instant::now(), SystemTime::now());
        let until = level_start.0 + Duration::from_secs_f64(args.seconds);
        let shared = Arc::new(Shared::default());
        let soak = report_every.is_some();
        if soak {
            println!(
                "level: concurrency {concurrency}, started {}Z",
                clock(level_start.1)
            );
            println!("{WINDOW_HEADER}");
        }
        let mut workers = Vec::new();
        for w in 0..concurrency {
            let mut client = LeadScoringClient::new(channels[w % channels.len()].clone());
            let mut empty = GrpcInferenceServiceClient::new(channels[w % channels.len()].clone());
            let request = ScoreRequest {
                leads: dense_leads(&model, args.batch, w),
                ..Default::default()
            };
            let score = args.rpc == "score";
            let shared = shared.clone();
            if args.rpc == "stream" {
                workers.push(tokio::spawn(stream_worker(client, request, until, shared)));
                continue;
            }
            workers.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    let started = Instant::now();
                    let outcome = if score {
                        client.score(request.clone()).await.map(|_| ())
                    } else {
                        empty.server_live(ServerLiveRequest {}).await.map(|_| ())
                    };
                    match outcome {
                        Ok(_) => {
                            let latency = started.elapsed();
                            latencies.push(latency);
                            if soak {
                                shared
                                    .window
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .push(latency);
                            }
                        }
                        Err(status) => shared.record_error(&status, soak),
                    }
                }
                latencies
            }));
        }
        // Soak mode: a reporter prints every full window; the main task
        // prints the last (partial) one once the workers are done.
        let reporter = report_every.map(|every| {
            let shared = shared.clone();
            let batch = args.batch;
            tokio::spawn(async move {
                let mut window_start = level_start.0;
                loop {
                    let next = window_start + every;
                    if next >= until {
                        return window_start;
                    }
                    tokio::time::sleep_until(next.into()).await;
                    let latencies = shared.take_window();
                    let errors = shared.errors.load(Ordering::Relaxed);
                    print_window(latencies, level_start, window_start, next, batch, errors);
                    window_start = next;
                }
            })
        });
        let started = Instant::now();
        let mut latencies = Vec::new();
        for worker in workers {
            latencies.extend(worker.await?);
        }
        let elapsed = started.elapsed().as_secs_f64();
        let errors = shared.errors.load(Ordering::Relaxed);
        if let Some(reporter) = reporter {
            let window_start = reporter.await?;
            print_window(
                shared.take_window(),
                level_start,
                window_start,
                Instant::now(),
                args.batch,
                errors,
            );
            println!("{SUMMARY_HEADER}");
        }
        latencies.sort_unstable();
        let rps = latencies.len() as f64 / elapsed;
        println!(
            "{concurrency:>11}  {rps:>10.0}  {:>7.0}  {:>7.0}µs {:>7.0}µs {:>7.0}µs  {errors:>6}",
            rps * args.batch as f64,
            percentile(&latencies, 0.5).as_secs_f64() * 1e6,
            percentile(&latencies, 0.9).as_secs_f64() * 1e6,
            percentile(&latencies, 0.99).as_secs_f64() * 1e6,
        );
        let distinct = shared.distinct.lock().unwrap_or_else(|e| e.into_inner());
        if !soak && !distinct.is_empty() {
            println!("  first distinct errors at concurrency {concurrency}:");
            for (at, key) in distinct.iter() {
                println!("    {}Z  {key}", clock(*at));
            }
        }
        total_requests += latencies.len() as u64 + errors;
        total_errors += errors;
    }
    if report_every.is_some() || total_errors > 0 {
        println!("total: {total_requests} requests, {total_errors} errors");
    }
    if args.fail_on_error && total_errors > 0 {
        eprintln!("loadgen: {total_errors} of {total_requests} requests failed (--fail-on-error)");
        std::process::exit(1);
    }
    Ok(())
}
