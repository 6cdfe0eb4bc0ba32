//! Publish → deliver → ack cycles through the engine, driven as a driver would drive it: one
//! step at a time as `engine::run::Driver::step` does, events and effects taken after every
//! step, and (for persistent messages) every commit applied to a `MemoryStore` and confirmed
//! before the next step.
//!
//! One cycle is one message published, delivered and acked. A round publishes one full
//! prefetch window (consumers × prefetch), every message of which goes straight to a consumer,
//! then every consumer acks what it got: one ack per message with prefetch 1, and with
//! prefetch 100 one `multiple: true` ack per `BATCH_ACK` deliveries, as a real consumer
//! batches its acks.
//!
//! The baseline is the least bookkeeping any broker needs per message: a queue push and pop
//! and an unacked-map insert and remove. It runs before and after the engine's benchmarks.
//!
//! Run: `cargo bench --bench cycles`. Results and how to read them: BENCHMARKS.md.

use std::collections::{HashMap, VecDeque};
use std::hint::black_box;
use std::rc::Rc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use queue_playground::engine::effect::{Effect, Removal};
use queue_playground::engine::run::complete_now;
use queue_playground::engine::store::{MemoryStore, Store};
use queue_playground::engine::{Broker, Config};
use queue_playground::scenario::{Name, Op, Properties, QueueArgs, Step};
use queue_playground::trace::{Event, TraceEvent};

const QUEUE: &str = "bench";

/// Deliveries per `multiple: true` ack when prefetch is above 1: half the window, as a real
/// consumer acks before its window is full so that deliveries never wait on its acks.
const BATCH_ACK: u64 = 50;

#[derive(Clone, Copy)]
struct Shape {
    persistent: bool,
    consumers: usize,
    prefetch: u16,
    /// Whether the broker records effects (the UI's view of what happens inside), on top of
    /// the trace.
    effects: bool,
}

impl Shape {
    /// Messages in flight per round: every consumer's prefetch window, full.
    fn window(self) -> u64 {
        self.consumers as u64 * u64::from(self.prefetch)
    }

    fn ack_every(self) -> u64 {
        if self.prefetch == 1 {
            1
        } else {
            BATCH_ACK.min(u64::from(self.prefetch))
        }
    }

    fn name(self) -> String {
        let kind = if self.persistent {
            "persistent"
        } else {
            "transient"
        };
        let effects = if self.effects { "/effects" } else { "" };
        format!(
            "{kind}/consumers={}/prefetch={}{effects}",
            self.consumers, self.prefetch
        )
    }
}

/// A broker with its queue and consumers set up, and every step of a round built once.
struct Rig {
    shape: Shape,
    broker: Broker,
    store: MemoryStore,
    step: usize,
    publish: Step,
    /// One ack step per consumer; only its `delivery_tag` changes from round to round.
    acks: Vec<Step>,
    /// Deliveries each consumer has had so far: its channel's last delivery tag.
    delivered: u64,
}

impl Rig {
    fn new(shape: Shape) -> Self {
        let mut rig = Rig {
            shape,
            broker: Broker::new(Config {
                seed: 1,
                effects: shape.effects,
            }),
            store: MemoryStore::default(),
            step: 0,
            publish: Step {
                channel: Name::from("producer"),
                op: Op::BasicPublish {
                    exchange: Name::from(""),
                    routing_key: Name::from(QUEUE),
                    body: Rc::from("order #1"),
                    mandatory: false,
                    properties: Rc::new(Properties {
                        delivery_mode: Some(if shape.persistent { 2 } else { 1 }),
                        ..Properties::default()
                    }),
                },
            },
            acks: Vec::new(),
            delivered: 0,
        };
        rig.setup(&Step {
            channel: Name::from("producer"),
            op: Op::QueueDeclare {
                queue: Name::from(QUEUE),
                durable: shape.persistent,
                exclusive: false,
                auto_delete: false,
                passive: false,
                arguments: QueueArgs::default(),
            },
        });
        for i in 0..shape.consumers {
            let channel = Name::from(format!("consumer-{i}"));
            rig.setup(&Step {
                channel: channel.clone(),
                op: Op::BasicQos {
                    prefetch_count: shape.prefetch,
                    global: false,
                },
            });
            rig.setup(&Step {
                channel: channel.clone(),
                op: Op::BasicConsume {
                    queue: Name::from(QUEUE),
                    consumer_tag: Some(Name::from(format!("c{i}"))),
                    no_ack: false,
                    exclusive: false,
                },
            });
            rig.acks.push(Step {
                channel,
                op: Op::BasicAck {
                    delivery_tag: 0,
                    multiple: shape.prefetch > 1,
                },
            });
        }
        rig
    }

    fn setup(&mut self, step: &Step) {
        drive(&mut self.broker, &mut self.store, &mut self.step, step);
    }

    /// One full window of cycles: publish it, then every consumer acks its share. `seen`
    /// gets each step's events and effects, as a driver would take them.
    #[inline]
    fn round(&mut self, mut seen: impl FnMut((Vec<TraceEvent>, Vec<Effect>))) {
        for _ in 0..self.shape.window() {
            seen(drive(
                &mut self.broker,
                &mut self.store,
                &mut self.step,
                &self.publish,
            ));
        }
        // Round-robin dispatch gave each consumer exactly `prefetch` of the window, tagged
        // on from where its channel's last round stopped.
        let last = self.delivered + u64::from(self.shape.prefetch);
        let mut tag = self.delivered;
        while tag < last {
            tag = (tag + self.shape.ack_every()).min(last);
            for ack in &mut self.acks {
                if let Op::BasicAck { delivery_tag, .. } = &mut ack.op {
                    *delivery_tag = tag;
                }
                seen(drive(
                    &mut self.broker,
                    &mut self.store,
                    &mut self.step,
                    ack,
                ));
            }
        }
        self.delivered = last;
    }

    /// Runs rounds outside the measurement and checks they did what the bench claims: every
    /// message delivered once and acked (an unknown tag would close the channel with an event
    /// and leave messages behind), the store emptied again.
    fn check(shape: Shape) {
        let mut rig = Rig::new(shape);
        for _ in 0..3 {
            let (mut delivers, mut acked) = (0, 0);
            rig.round(|(events, effects)| {
                for e in events {
                    match e.event {
                        Event::Deliver { .. } => delivers += 1,
                        other => panic!("{}: unexpected {other:?}", shape.name()),
                    }
                }
                for e in effects {
                    if let Effect::Removed { reason, .. } = e {
                        assert_eq!(reason, Removal::Acked, "{}", shape.name());
                        acked += 1;
                    }
                }
            });
            assert_eq!(delivers, shape.window(), "{}", shape.name());
            if shape.effects {
                assert_eq!(acked, shape.window(), "{}", shape.name());
            }
            assert!(
                rig.broker.channels().all(|c| c.unacked.is_empty()),
                "{}: unacked messages left",
                shape.name()
            );
            assert!(
                rig.broker.queues().all(|q| q.ready.is_empty()),
                "{}: ready messages left",
                shape.name()
            );
            assert_eq!(rig.store.image().message_count(), 0, "{}", shape.name());
            assert_eq!(rig.store.commits > 0, shape.persistent, "{}", shape.name());
        }
    }
}

/// One step as `engine::run::Driver::step` takes it: the step, every commit made durable and
/// confirmed, then the step's events and effects taken out.
#[inline]
fn drive(
    broker: &mut Broker,
    store: &mut MemoryStore,
    index: &mut usize,
    step: &Step,
) -> (Vec<TraceEvent>, Vec<Effect>) {
    broker.handle(*index, 0, step);
    while let Some(commit) = broker.poll_commit() {
        match complete_now(store.commit(&commit)) {
            Some(Ok(())) => broker.committed(commit.id),
            other => panic!("step {index}: the in-memory store answered {other:?}"),
        }
    }
    *index += 1;
    (
        broker.drain_events().collect(),
        broker.drain_effects().collect(),
    )
}

const fn shape(persistent: bool, consumers: usize, prefetch: u16) -> Shape {
    Shape {
        persistent,
        consumers,
        prefetch,
        effects: false,
    }
}

/// Headless, as `qp run` drives the engine (trace only); then two with effects recorded, as the
/// UI does, to show what they cost.
const SHAPES: [Shape; 10] = [
    shape(false, 1, 1),
    shape(false, 1, 100),
    shape(false, 10, 1),
    shape(false, 10, 100),
    shape(true, 1, 1),
    shape(true, 1, 100),
    shape(true, 10, 1),
    shape(true, 10, 100),
    with_effects(shape(false, 1, 100)),
    with_effects(shape(true, 1, 100)),
];

const fn with_effects(shape: Shape) -> Shape {
    Shape {
        effects: true,
        ..shape
    }
}

fn cycles(c: &mut Criterion) {
    let mut group = c.benchmark_group("cycles");
    for shape in SHAPES {
        Rig::check(shape);
        let mut rig = Rig::new(shape);
        group.throughput(Throughput::Elements(shape.window()));
        group.bench_function(shape.name(), |b| {
            b.iter(|| rig.round(|record| drop(black_box(record))))
        });
    }
    group.finish();
}

/// Messages per baseline iteration: enough to make the loop, not criterion, the cost.
const BASELINE_BATCH: u64 = 1000;

/// The baseline, measured before and after the engine: on a shared machine the two show how
/// much the load drifted during the run.
fn baseline(c: &mut Criterion, when: &str) {
    let mut group = c.benchmark_group("baseline");
    group.throughput(Throughput::Elements(BASELINE_BATCH));
    let mut ready: VecDeque<u64> = VecDeque::new();
    let mut unacked: HashMap<u64, u64> = HashMap::new();
    let mut next: u64 = 0;
    group.bench_function(format!("vecdeque+hashmap/{when}"), |b| {
        b.iter(|| {
            for _ in 0..BASELINE_BATCH {
                next += 1;
                // Publish: the message joins the queue; deliver: it leaves the queue and is
                // tracked under its delivery tag; ack: it is forgotten.
                ready.push_back(black_box(next));
                let message = ready.pop_front().expect("just pushed");
                unacked.insert(black_box(next), message);
                black_box(unacked.remove(&black_box(next)));
            }
        })
    });
    group.finish();
}

fn baseline_before(c: &mut Criterion) {
    baseline(c, "before");
}

fn baseline_after(c: &mut Criterion) {
    baseline(c, "after");
}

criterion_group! {
    name = benches;
    // Short runs: the whole bench should take a few minutes on two shared cores.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = baseline_before, cycles, baseline_after
}
criterion_main!(benches);
