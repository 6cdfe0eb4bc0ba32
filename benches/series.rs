//! Plot series over a long scenario: one pass over the recorded effects (`Series::new`)
//! against the baseline of asking the broker for its state after every step, which is what
//! the plots would cost without following messages through the effects.
//!
//! `cargo bench --bench series`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use queue_playground::scenario::{parse, Limits, Scenario};
use queue_playground::timeline::{Timeline, TimelineConfig};
use queue_playground::view::series::Series;

const STEPS: usize = 10_000;

/// Two workers with prefetch 10 on a durable queue; each round publishes two messages and
/// each worker settles one, every seventh a nack with requeue; a TTL queue on the side.
fn work_queue(steps: usize) -> Scenario {
    let mut parts = vec![
        r#"{"op":"queue.declare","queue":"jobs","durable":true}"#.to_owned(),
        r#"{"op":"queue.declare","queue":"offers","arguments":{"x-message-ttl":50}}"#.to_owned(),
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
            r#"{{"op":"basic.publish","channel":"p","routing_key":"offers","body":"offer {i}"}}"#
        ));
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
        parts.push(r#"{"op":"clock.advance","ms":20}"#.to_owned());
        i += 1;
    }
    parts.truncate(steps);
    let text = format!(
        r#"{{"format":"queue-playground/v1","name":"bench","steps":[{}]}}"#,
        parts.join(",")
    );
    parse(&text, &Limits::default()).expect("the bench scenario is valid")
}

/// The baseline: the broker's state after every step, read from a replay.
fn depths_from_state(timeline: &Timeline) -> Vec<usize> {
    let mut t = timeline.clone();
    (0..=t.len())
        .map(|i| {
            t.seek(i);
            t.state()
                .queues
                .iter()
                .map(|q| q.ready.len() + q.unacked)
                .sum()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let timeline = Timeline::new(work_queue(STEPS), TimelineConfig::default());
    let mut g = c.benchmark_group("series");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function("Series::new, 10k steps", |b| {
        b.iter(|| Series::new(black_box(&timeline)))
    });
    g.bench_function("baseline: state() after each of 10k steps", |b| {
        b.iter(|| depths_from_state(black_box(&timeline)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
