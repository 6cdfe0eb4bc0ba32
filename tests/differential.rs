//! Differential fuzzing: random valid scenarios run on the engine and on a live RabbitMQ, and
//! every difference fails, shrunk to a small scenario file under `tests/scenarios/` (with the
//! broker's trace recorded beside it) so that it becomes a permanent test.
//!
//! Scenarios are generated with proptest from a seed (printed; set `QP_FUZZ_SEED` to replay;
//! CI uses a fixed one), `QP_FUZZ_CASES` of them (default 500), bounded by `QP_FUZZ_SECONDS`
//! (default 900) of broker time. The generator keeps to behaviour that does not depend on
//! timing: no TTLs or clock, no restarts, each consumer's channel consumes one queue only, and
//! each queue dead-letters into its own (deliveries from two queues to one channel race on a
//! real broker; see docs/deviations.md).
//!
//! Needs `QP_AMQP_URL` and `QP_RABBITMQ_NODE` (fresh vhosts let cases run in parallel); skipped
//! loudly without them, except under CI.

use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use queue_playground::compare::{compare, report};
use queue_playground::rabbitmq::{self, Isolation, Options};
use queue_playground::scenario::{
    ExchangeType, Name, Op, Overflow, Properties, QueueArgs, Scenario, Step,
};
use queue_playground::{engine, trace};

const PARALLEL: usize = 8;
/// The seed CI uses unless `QP_FUZZ_SEED` says otherwise.
const CI_SEED: u64 = 31;
const CONSUMERS: usize = 3;

/// One queue of the generated world.
#[derive(Debug, Clone)]
struct QueueSpec {
    max_length: Option<i64>,
    overflow: Option<Overflow>,
    dead_letter: bool,
    max_priority: Option<i64>,
    on_fanout: bool,
}

/// One consumer: its own channel, one queue.
#[derive(Debug, Clone)]
struct ConsumerSpec {
    queue: usize,
    prefetch: u16,
    global: bool,
    no_ack: bool,
}

#[derive(Debug, Clone, Copy)]
enum PublisherMode {
    Plain,
    Confirm,
    Tx,
}

/// A body step, before names are filled in.
#[derive(Debug, Clone)]
enum Action {
    Publish {
        exchange: u8,
        key: u8,
        mandatory: bool,
        persistent: bool,
        priority: Option<u8>,
    },
    Get {
        queue: u8,
        no_ack: bool,
    },
    Ack {
        channel: u8,
        tag: u64,
        multiple: bool,
    },
    Nack {
        channel: u8,
        tag: u64,
        multiple: bool,
        requeue: bool,
    },
    Reject {
        channel: u8,
        tag: u64,
        requeue: bool,
    },
    Recover {
        channel: u8,
    },
    Cancel {
        consumer: u8,
    },
    Consume {
        consumer: u8,
    },
    CloseChannel {
        channel: u8,
    },
    Commit,
    Rollback,
    Purge {
        queue: u8,
    },
    Qos {
        consumer: u8,
        prefetch: u16,
    },
}

fn queue_spec() -> impl Strategy<Value = QueueSpec> {
    (
        prop_oneof![Just(None), (0i64..4).prop_map(Some)],
        prop_oneof![
            Just(None),
            Just(Some(Overflow::DropHead)),
            Just(Some(Overflow::RejectPublish)),
            Just(Some(Overflow::RejectPublishDlx)),
        ],
        any::<bool>(),
        prop_oneof![3 => Just(None), 1 => Just(Some(3i64))],
        any::<bool>(),
    )
        .prop_map(
            |(max_length, overflow, dead_letter, max_priority, on_fanout)| QueueSpec {
                max_length,
                overflow,
                dead_letter,
                max_priority,
                on_fanout,
            },
        )
}

fn consumer_spec(queues: usize) -> impl Strategy<Value = ConsumerSpec> {
    (
        0..queues,
        0u16..3,
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(queue, prefetch, global, no_ack)| ConsumerSpec {
            queue,
            prefetch,
            global,
            no_ack,
        })
}

fn action() -> impl Strategy<Value = Action> {
    // Channels 0..CONSUMERS are the consumers'; CONSUMERS is the getter's.
    let channel = 0u8..=CONSUMERS as u8;
    let consumer = 0u8..CONSUMERS as u8;
    prop_oneof![
        8 => (0u8..4, 0u8..7, prop::bool::weighted(0.3), any::<bool>(), prop::option::of(0u8..6))
            .prop_map(|(exchange, key, mandatory, persistent, priority)| Action::Publish {
                exchange, key, mandatory, persistent, priority
            }),
        2 => (0u8..6, any::<bool>()).prop_map(|(queue, no_ack)| Action::Get { queue, no_ack }),
        4 => (channel.clone(), 1u64..6, prop::bool::weighted(0.3))
            .prop_map(|(channel, tag, multiple)| Action::Ack { channel, tag, multiple }),
        2 => (channel.clone(), 1u64..6, any::<bool>(), any::<bool>())
            .prop_map(|(channel, tag, multiple, requeue)| Action::Nack { channel, tag, multiple, requeue }),
        2 => (channel.clone(), 1u64..6, any::<bool>())
            .prop_map(|(channel, tag, requeue)| Action::Reject { channel, tag, requeue }),
        1 => channel.clone().prop_map(|channel| Action::Recover { channel }),
        1 => consumer.clone().prop_map(|consumer| Action::Cancel { consumer }),
        1 => consumer.clone().prop_map(|consumer| Action::Consume { consumer }),
        1 => channel.prop_map(|channel| Action::CloseChannel { channel }),
        1 => Just(Action::Commit),
        1 => Just(Action::Rollback),
        1 => (0u8..6).prop_map(|queue| Action::Purge { queue }),
        1 => (consumer, 0u16..3).prop_map(|(consumer, prefetch)| Action::Qos { consumer, prefetch }),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (2usize..=3)
        .prop_flat_map(|queues| {
            (
                prop::collection::vec(queue_spec(), queues),
                prop::collection::vec(consumer_spec(queues), 0..=CONSUMERS),
                prop_oneof![
                    Just(PublisherMode::Plain),
                    Just(PublisherMode::Confirm),
                    Just(PublisherMode::Tx)
                ],
                prop::collection::vec(action(), 4..30),
            )
        })
        .prop_map(|(queues, consumers, mode, actions)| build(&queues, &consumers, mode, &actions))
}

fn name(s: impl Into<String>) -> Name {
    Name::from(s.into())
}

fn step(channel: &str, op: Op) -> Step {
    Step {
        channel: name(channel),
        op,
    }
}

fn consumer_channel(c: u8) -> String {
    if usize::from(c) < CONSUMERS {
        format!("c{c}")
    } else {
        "g".to_owned()
    }
}

/// Names every queue the generated world can refer to: the queues, then their dead-letter
/// queues. Each queue dead-letters into its own: dead letters from two queues into one would
/// arrive in an order RabbitMQ leaves to chance.
fn queue_name(queues: usize, i: u8) -> String {
    let i = usize::from(i) % (2 * queues);
    if i < queues {
        format!("q{i}")
    } else {
        format!("dead{}", i - queues)
    }
}

fn declare_exchange(exchange: &str, kind: ExchangeType) -> Step {
    step(
        "p",
        Op::ExchangeDeclare {
            exchange: name(exchange),
            kind,
            durable: false,
            auto_delete: false,
            internal: false,
            passive: false,
            alternate_exchange: None,
        },
    )
}

fn declare_queue(queue: &str, arguments: QueueArgs) -> Step {
    step(
        "p",
        Op::QueueDeclare {
            queue: name(queue),
            durable: false,
            exclusive: false,
            auto_delete: false,
            passive: false,
            arguments,
        },
    )
}

fn build(
    queues: &[QueueSpec],
    consumers: &[ConsumerSpec],
    mode: PublisherMode,
    actions: &[Action],
) -> Scenario {
    let mut steps = vec![
        declare_exchange("dx", ExchangeType::Direct),
        declare_exchange("fx", ExchangeType::Fanout),
        declare_exchange("dlx", ExchangeType::Direct),
    ];
    for (i, q) in queues.iter().enumerate() {
        let queue = format!("q{i}");
        let dead = format!("dead{i}");
        steps.push(declare_queue(&dead, QueueArgs::default()));
        steps.push(bind(&dead, "dlx", &queue));
        steps.push(declare_queue(
            &queue,
            QueueArgs {
                max_length: q.max_length,
                overflow: q.overflow,
                dead_letter_exchange: q.dead_letter.then(|| name("dlx")),
                dead_letter_routing_key: q.dead_letter.then(|| name(queue.as_str())),
                max_priority: q.max_priority,
                ..QueueArgs::default()
            },
        ));
        steps.push(bind(&queue, "dx", &format!("k{i}")));
        if q.on_fanout {
            steps.push(bind(&queue, "fx", ""));
        }
    }
    for (j, c) in consumers.iter().enumerate() {
        let channel = format!("c{j}");
        steps.push(step(
            &channel,
            Op::BasicQos {
                prefetch_count: c.prefetch,
                global: c.global,
            },
        ));
        steps.push(consume(
            &channel,
            &format!("q{}", c.queue),
            &format!("t{j}"),
            c.no_ack,
        ));
    }
    match mode {
        PublisherMode::Plain => {}
        PublisherMode::Confirm => steps.push(step("p", Op::ConfirmSelect)),
        PublisherMode::Tx => steps.push(step("p", Op::TxSelect)),
    }
    let exchanges = ["", "dx", "fx", "nowhere"];
    for (n, a) in actions.iter().enumerate() {
        let s = match a {
            Action::Publish {
                exchange,
                key,
                mandatory,
                persistent,
                priority,
            } => {
                let exchange = exchanges[usize::from(*exchange)];
                // Keys: queue names (for ""), binding keys (for "dx"), and one that matches nothing.
                let key = match key {
                    0..=2 => format!("q{key}"),
                    3..=5 => format!("k{}", key - 3),
                    _ => "none".to_owned(),
                };
                step(
                    "p",
                    Op::BasicPublish {
                        exchange: name(exchange),
                        routing_key: name(key),
                        body: Rc::from(format!("m{n}")),
                        mandatory: *mandatory,
                        properties: Rc::new(Properties {
                            delivery_mode: persistent.then_some(2),
                            priority: *priority,
                            ..Properties::default()
                        }),
                    },
                )
            }
            Action::Get { queue, no_ack } => step(
                "g",
                Op::BasicGet {
                    queue: name(queue_name(queues.len(), *queue)),
                    no_ack: *no_ack,
                },
            ),
            Action::Ack {
                channel,
                tag,
                multiple,
            } => step(
                &consumer_channel(*channel),
                Op::BasicAck {
                    delivery_tag: *tag,
                    multiple: *multiple,
                },
            ),
            Action::Nack {
                channel,
                tag,
                multiple,
                requeue,
            } => step(
                &consumer_channel(*channel),
                Op::BasicNack {
                    delivery_tag: *tag,
                    multiple: *multiple,
                    requeue: *requeue,
                },
            ),
            Action::Reject {
                channel,
                tag,
                requeue,
            } => step(
                &consumer_channel(*channel),
                Op::BasicReject {
                    delivery_tag: *tag,
                    requeue: *requeue,
                },
            ),
            Action::Recover { channel } => step(
                &consumer_channel(*channel),
                Op::BasicRecover { requeue: true },
            ),
            Action::Cancel { consumer } => step(
                &format!("c{consumer}"),
                Op::BasicCancel {
                    consumer_tag: name(format!("t{consumer}")),
                },
            ),
            Action::Consume { consumer } => {
                // Only a consumer the world has, on its own queue: a second queue on one
                // channel would make delivery order a race.
                let Some(spec) = consumers.get(usize::from(*consumer)) else {
                    continue;
                };
                consume(
                    &format!("c{consumer}"),
                    &format!("q{}", spec.queue),
                    &format!("t{consumer}-{n}"),
                    spec.no_ack,
                )
            }
            Action::CloseChannel { channel } => step(&consumer_channel(*channel), Op::ChannelClose),
            Action::Commit => step("p", Op::TxCommit),
            Action::Rollback => step("p", Op::TxRollback),
            Action::Purge { queue } => step(
                "g",
                Op::QueuePurge {
                    queue: name(queue_name(queues.len(), *queue)),
                },
            ),
            Action::Qos { consumer, prefetch } => step(
                &format!("c{consumer}"),
                Op::BasicQos {
                    prefetch_count: *prefetch,
                    global: false,
                },
            ),
        };
        steps.push(s);
    }
    Scenario {
        name: "generated".into(),
        description: None,
        seed: 0,
        steps,
    }
}

fn bind(queue: &str, exchange: &str, key: &str) -> Step {
    step(
        "p",
        Op::QueueBind {
            queue: name(queue),
            exchange: name(exchange),
            routing_key: name(key),
            arguments: Default::default(),
        },
    )
}

fn consume(channel: &str, queue: &str, tag: &str, no_ack: bool) -> Step {
    step(
        channel,
        Op::BasicConsume {
            queue: name(queue),
            consumer_tag: Some(name(tag)),
            no_ack,
            exclusive: false,
        },
    )
}

fn env_u64(key: &str) -> Option<u64> {
    std::env::var(key).ok().and_then(|v| v.parse().ok())
}

/// The difference between engine and broker for one scenario, if any (or why it could not run).
fn differs(
    scenario: &Scenario,
    broker: Result<Vec<trace::TraceEvent>, rabbitmq::Error>,
) -> Option<String> {
    match broker {
        Err(e) => Some(format!("could not run on RabbitMQ: {e}")),
        Ok(t) => compare(&t, &engine::run(scenario))
            .err()
            .map(|d| report(&d, 5)),
    }
}

/// Greedy shrinking: drop one generated step at a time while the difference remains. Each try
/// costs a broker run, so the number of tries is bounded.
fn shrink(mut scenario: Scenario, opts: &Options, deadline: Instant) -> Scenario {
    let mut i = scenario.steps.len();
    let mut tries = 0;
    while i > 0 && tries < 80 && Instant::now() < deadline {
        i -= 1;
        let mut smaller = scenario.clone();
        smaller.steps.remove(i);
        tries += 1;
        let broker = rabbitmq::run(&smaller, opts);
        if broker.is_ok() && differs(&smaller, broker).is_some() {
            scenario = smaller;
        }
    }
    scenario
}

#[test]
fn engine_matches_rabbitmq_on_generated_scenarios() {
    if std::env::var_os("QP_AMQP_URL").is_none_or(|v| v.is_empty()) {
        eprintln!("\n********************************************************");
        eprintln!("SKIPPED: differential fuzzing needs RabbitMQ (set QP_AMQP_URL)");
        eprintln!("********************************************************\n");
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run differential fuzzing: set QP_AMQP_URL (and QP_RABBITMQ_NODE)"
        );
        return;
    }
    let cases = env_u64("QP_FUZZ_CASES").unwrap_or(500) as usize;
    let budget = Duration::from_secs(env_u64("QP_FUZZ_SECONDS").unwrap_or(900));
    // CI replays the same cases every run, so that its verdict is about the change under test;
    // elsewhere each run explores new ones.
    let seed = env_u64("QP_FUZZ_SEED").unwrap_or_else(|| {
        if std::env::var_os("CI").is_some() {
            return CI_SEED;
        }
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    });
    eprintln!("differential fuzzing: {cases} cases, seed {seed} (QP_FUZZ_SEED={seed} replays)");
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let strategy = scenario();
    let opts = Options {
        isolation: Isolation::FreshVhost,
        ..Options::from_env()
    };
    let started = Instant::now();
    let deadline = started + budget;
    let mut ran = 0;
    let mut failures = Vec::new();
    while ran < cases && Instant::now() < deadline && failures.is_empty() {
        let batch: Vec<(String, Scenario)> = (ran..cases.min(ran + 4 * PARALLEL))
            .map(|i| {
                let tree = strategy
                    .new_tree(&mut runner)
                    .expect("the generator never rejects");
                (format!("case {i}"), tree.current())
            })
            .collect();
        let results = rabbitmq::run_many(&batch, &opts, PARALLEL);
        ran += batch.len();
        for ((label, s), result) in batch.into_iter().zip(results) {
            if let Some(why) = differs(&s, result) {
                failures.push((label, s, why));
            }
        }
    }
    eprintln!(
        "differential fuzzing: {ran} cases in {:.0?}, {} different",
        started.elapsed(),
        failures.len()
    );
    assert!(ran > 0, "no case ran within the time budget");
    let Some((label, scenario, why)) = failures.into_iter().next() else {
        return;
    };
    let shrink_deadline = Instant::now() + Duration::from_secs(180);
    let mut small = shrink(scenario, &opts, shrink_deadline);
    small.name = format!("Found by differential fuzzing (seed {seed}, {label})");
    small.description = Some(
        "Generated; shrunk by removing steps while engine and RabbitMQ still differed.".into(),
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let file = dir.join(format!("fuzz-{seed}.json"));
    let mut written = String::new();
    if std::fs::write(&file, small.to_pretty_json()).is_ok() {
        written = format!("\nwritten to {}", file.display());
        if let Ok(t) = rabbitmq::run(&small, &opts) {
            let _ = std::fs::write(
                dir.join(format!("fuzz-{seed}.trace.json")),
                trace::to_json(&t),
            );
        }
    }
    let now = differs(&small, rabbitmq::run(&small, &opts)).unwrap_or(why);
    panic!(
        "{label} (seed {seed}): the engine differs from RabbitMQ{written}\n\n{}\n\n{now}",
        small.to_pretty_json()
    );
}
