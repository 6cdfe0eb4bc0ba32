//! Plot series agree with the broker's own state at every step, for every recorded scenario
//! and every preset.

use std::collections::HashMap;

use queue_playground::engine::effect::Effect;
use queue_playground::presets::PRESETS;
use queue_playground::scenario::{files_in, parse, Limits, Scenario};
use queue_playground::timeline::{Timeline, TimelineConfig};
use queue_playground::trace::Event;
use queue_playground::view::series::Series;

fn scenarios() -> Vec<(String, Scenario)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut all: Vec<(String, Scenario)> = files_in(&dir)
        .unwrap()
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let s = parse(&text, &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, s)
        })
        .collect();
    for p in PRESETS {
        all.push((
            format!("preset {}", p.id),
            parse(p.text, &Limits::default()).unwrap(),
        ));
    }
    all
}

fn check(name: &str, scenario: Scenario) {
    let steps = scenario.steps.len();
    // Small snapshot spacing so that the replay inside `Series::new` is exercised too.
    let mut timeline = Timeline::new(scenario, TimelineConfig { snapshot_every: 4 });
    let series = Series::new(&timeline);
    assert_eq!(series.len, steps);
    for q in &series.queues {
        assert_eq!(q.ready.len(), steps + 1, "{name} {}", q.name);
        assert_eq!(q.unacked.len(), steps + 1, "{name} {}", q.name);
    }
    // Which queue each (channel, delivery tag) came from, as of the position reached.
    let mut delivered_from: HashMap<(String, u64), String> = HashMap::new();
    for position in 0..=steps {
        timeline.seek(position);
        if position > 0 {
            for effect in &timeline.record(position - 1).unwrap().effects {
                if let Effect::Delivered {
                    queue,
                    channel,
                    delivery_tag,
                    ..
                } = effect
                {
                    delivered_from.insert((channel.to_string(), *delivery_tag), queue.to_string());
                }
            }
        }
        let state = timeline.state();
        for q in &state.queues {
            let drawn = series.queues.iter().find(|s| s.name == q.name);
            let (ready, unacked) =
                drawn.map_or((0, 0), |s| (s.ready[position], s.unacked[position]));
            // An ack held by a transaction leaves the channel's unacked list, but the message
            // is unacked until the commit: the plot counts it, as RabbitMQ would.
            let held_settles = state
                .channels
                .iter()
                .filter_map(|c| c.tx.as_ref().map(|tx| (c, tx)))
                .flat_map(|(c, tx)| {
                    tx.settles
                        .iter()
                        .flat_map(|s| &s.delivery_tags)
                        .map(move |tag| (c.name.to_string(), *tag))
                })
                .filter(|key| {
                    delivered_from
                        .get(key)
                        .is_some_and(|from| **from == *q.name)
                })
                .count();
            assert_eq!(
                (ready as usize, unacked as usize),
                (q.ready.len(), q.unacked + held_settles),
                "{name}: queue {} after {position} steps",
                q.name
            );
        }
        // A queue the broker no longer has holds nothing ready. (Its unacked deliveries stay
        // on their channels until settled, and `BrokerState` counts them by queue name.)
        for s in &series.queues {
            if !state.queues.iter().any(|q| q.name == s.name) {
                assert_eq!(
                    s.ready[position], 0,
                    "{name}: deleted queue {} after {position} steps",
                    s.name
                );
            }
        }
    }
    for step in 0..steps {
        let deliveries = timeline
            .record(step)
            .unwrap()
            .events
            .iter()
            .filter(|e| matches!(e.event, Event::Deliver { .. } | Event::GetOk { .. }))
            .count();
        assert_eq!(
            series.delivered[step] as usize, deliveries,
            "{name}: step {step}"
        );
    }
}

#[test]
fn depths_match_the_broker_state_at_every_step() {
    let all = scenarios();
    assert!(all.len() > 150);
    // These cover requeues, TTL, dead-lettering, transactions and restarts.
    for must in [
        "nack-requeue-original-position",
        "ttl-expired-dead-lettered",
        "dlx-dead-lettered-to-consumer",
        "tx-ack-rollback-then-ack-again",
        "restart-unacked-redelivered",
        "requeue-on-connection-close",
        "queue-delete-cancels-consumers",
    ] {
        assert!(all.iter().any(|(n, _)| n == must), "{must} is gone");
    }
    for (name, scenario) in all {
        check(&name, scenario);
    }
}

#[test]
fn rates_count_each_step() {
    let text = r#"{"format":"queue-playground/v1","steps":[
        {"op":"queue.declare","queue":"q"},
        {"op":"basic.publish","routing_key":"q","body":"a"},
        {"op":"basic.publish","routing_key":"q","body":"b"},
        {"op":"basic.consume","channel":"c","queue":"q","consumer_tag":"t"},
        {"op":"basic.ack","channel":"c","delivery_tag":2,"multiple":true},
        {"op":"tx.select","channel":"p"},
        {"op":"basic.publish","channel":"p","routing_key":"q","body":"c"},
        {"op":"tx.commit","channel":"p"},
        {"op":"basic.get","channel":"g","queue":"q","no_ack":true}
    ]}"#;
    let timeline = Timeline::new(
        parse(text, &Limits::default()).unwrap(),
        TimelineConfig::default(),
    );
    let s = Series::new(&timeline);
    assert_eq!(s.published, [0, 1, 1, 0, 0, 0, 0, 1, 0]);
    assert_eq!(s.delivered, [0, 0, 0, 2, 0, 0, 0, 1, 0]);
    assert_eq!(s.acked, [0, 0, 0, 0, 2, 0, 0, 0, 0]);
    assert_eq!(s.queues.len(), 1);
    assert_eq!(s.queues[0].ready, [0, 0, 1, 2, 0, 0, 0, 0, 0, 0]);
    assert_eq!(s.queues[0].unacked, [0, 0, 0, 0, 2, 0, 0, 0, 1, 1]);
    assert_eq!(s.max_count(), 2);
    assert_eq!(s.max_rate(), 2);
}
