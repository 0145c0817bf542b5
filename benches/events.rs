//! Events → features: the cost of computing the default window features
//! from 200 events per lead (issue target: ≤ 5 µs per lead added to Score).
//!
//! `cargo bench --bench events`

use std::collections::BTreeSet;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use leadscore::scoring::events::{EventDefinition, RawEvent};
use leadscore::scoring::time::{Timestamp, MS_PER_DAY};

const TYPES: [&str; 5] = [
    "page_view",
    "demo_action",
    "report_created",
    "email_open",
    "meeting",
];

fn history(n: usize, seed: u64) -> Vec<RawEvent<'static>> {
    // A small LCG: deterministic, no dependency.
    let mut state = seed;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let as_of = 20_000 * MS_PER_DAY;
    (0..n)
        .map(|_| RawEvent {
            event_type: TYPES[(next() % 5) as usize],
            at: Timestamp(as_of - (next() as i64 % (120 * MS_PER_DAY))),
            value: Some((next() % 600) as f64),
        })
        .collect()
}

fn events(c: &mut Criterion) {
    let types: BTreeSet<String> = TYPES.iter().map(|t| t.to_string()).collect();
    let definition = EventDefinition::defaults(&types, &types);
    let compiled = definition.compile();
    let leads: Vec<Vec<RawEvent<'static>>> = (0..64).map(|s| history(200, s)).collect();
    let as_of = Timestamp(20_000 * MS_PER_DAY);
    let mut out = vec![0.0; compiled.width()];
    let mut group = c.benchmark_group("events");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("defaults_5_types_200_events_per_lead", |b| {
        b.iter(|| {
            i = (i + 1) % leads.len();
            black_box(compiled.compute(black_box(&leads[i]), as_of, &mut out))
        })
    });
    group.finish();
}

criterion_group!(benches, events);
criterion_main!(benches);
