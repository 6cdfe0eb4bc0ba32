//! Stepping through a long scenario: what the UI pays to go back and forth.
//!
//! A 10,000-step scenario (a work queue: publishes, deliveries with prefetch, acks, some
//! nacks with requeue) is played once into a `Timeline`; then we measure one step forward,
//! one step back, and a jump to an arbitrary earlier step. The baseline in the same run is
//! replaying the scenario from the start to that step, which is what stepping back would cost
//! without snapshots.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use queue_playground::scenario::{parse, Limits, Scenario};
use queue_playground::timeline::{Timeline, TimelineConfig};

const STEPS: usize = 10_000;

fn work_queue(steps: usize) -> Scenario {
    let mut parts = vec![
        r#"{"op":"queue.declare","queue":"jobs","durable":true}"#.to_owned(),
        r#"{"op":"basic.qos","channel":"w1","prefetch_count":10}"#.to_owned(),
        r#"{"op":"basic.consume","channel":"w1","queue":"jobs","consumer_tag":"w1"}"#.to_owned(),
        r#"{"op":"basic.qos","channel":"w2","prefetch_count":10}"#.to_owned(),
        r#"{"op":"basic.consume","channel":"w2","queue":"jobs","consumer_tag":"w2"}"#.to_owned(),
    ];
    let mut tags = [0u64; 2];
    let mut i = 0;
    while parts.len() < steps {
        parts.push(format!(
            r#"{{"op":"basic.publish","channel":"p","routing_key":"jobs","body":"job {i}","properties":{{"delivery_mode":2}}}}"#
        ));
        parts.push(format!(
            r#"{{"op":"basic.publish","channel":"p","routing_key":"jobs","body":"job {i}b"}}"#
        ));
        // Each worker settles one delivery per round; every seventh is a nack with requeue.
        for (w, tag) in tags.iter_mut().enumerate() {
            *tag += 1;
            let op = if i % 7 == 3 {
                "basic.nack"
            } else {
                "basic.ack"
            };
            parts.push(format!(
                r#"{{"op":"{op}","channel":"w{}","delivery_tag":{tag}}}"#,
                w + 1
            ));
        }
        i += 1;
    }
    parts.truncate(steps);
    let text = format!(
        r#"{{"format":"queue-playground/v1","name":"bench","steps":[{}]}}"#,
        parts.join(",")
    );
    parse(&text, &Limits::default()).expect("the bench scenario is valid")
}

fn bench(c: &mut Criterion) {
    let scenario = work_queue(STEPS);
    let mut g = c.benchmark_group("timeline");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function("play 10k steps", |b| {
        b.iter(|| Timeline::new(black_box(scenario.clone()), TimelineConfig::default()))
    });
    // Each measurement starts from its own copy positioned at the end, and hands it back so
    // that neither the copy nor its drop is timed.
    let at = |config: TimelineConfig, position: usize| {
        let mut t = Timeline::new(scenario.clone(), config);
        t.seek(position);
        t
    };
    let snapshots = at(TimelineConfig::default(), STEPS);
    let before_last = at(TimelineConfig::default(), STEPS - 1);
    g.bench_function("step forward at 9,999", |b| {
        b.iter_batched(
            || before_last.clone(),
            |mut t| {
                t.seek(black_box(STEPS));
                t
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("step back at 10,000", |b| {
        b.iter_batched(
            || snapshots.clone(),
            |mut t| {
                t.seek(black_box(STEPS - 1));
                t
            },
            BatchSize::LargeInput,
        )
    });
    // Baseline: no snapshots but the first, so going back replays from the start.
    let replay = at(
        TimelineConfig {
            snapshot_every: STEPS + 1,
        },
        STEPS,
    );
    for target in [5_049usize, 9_999] {
        g.bench_with_input(
            BenchmarkId::new("jump back to", target),
            &target,
            |b, &t| {
                b.iter_batched(
                    || snapshots.clone(),
                    |mut tl| {
                        tl.seek(black_box(t));
                        tl
                    },
                    BatchSize::LargeInput,
                )
            },
        );
        g.bench_with_input(
            BenchmarkId::new("replay from start to", target),
            &target,
            |b, &t| {
                b.iter_batched(
                    || replay.clone(),
                    |mut tl| {
                        tl.seek(black_box(t));
                        tl
                    },
                    BatchSize::LargeInput,
                )
            },
        );
    }
    let timeline = snapshots;
    g.bench_function("state() at 10,000", |b| {
        b.iter(|| black_box(timeline.state()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
