//! Every preset parses, runs, and shows what its description claims, checked on the engine's
//! trace and state (not on wording). Faithfulness to RabbitMQ itself is checked by
//! `qp diff www/presets/NAME.json` against a live broker.

use std::collections::HashSet;

use queue_playground::engine::effect::Effect;
use queue_playground::presets::{find, PRESETS};
use queue_playground::scenario::{parse, Limits, Scenario};
use queue_playground::timeline::{Timeline, TimelineConfig};
use queue_playground::trace::{Event, TraceEvent};

fn scenario(id: &str) -> Scenario {
    let preset = find(id).unwrap_or_else(|| panic!("no preset {id}"));
    parse(preset.text, &Limits::default()).unwrap_or_else(|e| panic!("{id}: {e}"))
}

fn trace(id: &str) -> Vec<TraceEvent> {
    queue_playground::engine::run(&scenario(id))
}

/// Timeline at the end of the preset.
fn at_end(id: &str) -> Timeline {
    let s = scenario(id);
    let steps = s.steps.len();
    let mut t = Timeline::new(s, TimelineConfig::default());
    t.seek(steps);
    t
}

/// `(channel, body, redelivered)` of every delivery and get, in order.
fn received(events: &[TraceEvent]) -> Vec<(String, String, bool)> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            Event::Deliver {
                channel,
                body,
                redelivered,
                ..
            }
            | Event::GetOk {
                channel,
                body,
                redelivered,
                ..
            } => Some((channel.to_string(), body.to_string(), *redelivered)),
            _ => None,
        })
        .collect()
}

fn bodies_on(events: &[TraceEvent], channel: &str) -> Vec<String> {
    received(events)
        .into_iter()
        .filter(|(c, _, _)| c == channel)
        .map(|(_, b, _)| b)
        .collect()
}

fn errors(events: &[TraceEvent]) -> Vec<&Event> {
    events
        .iter()
        .map(|e| &e.event)
        .filter(|e| {
            matches!(
                e,
                Event::ChannelClose { .. } | Event::ConnectionClose { .. }
            )
        })
        .collect()
}

#[test]
fn registry_is_consistent() {
    let mut ids = HashSet::new();
    for p in PRESETS {
        assert!(ids.insert(p.id), "duplicate id {}", p.id);
        assert!(
            p.id.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{}: ids go in URLs and options",
            p.id
        );
        let s = parse(p.text, &Limits::default()).unwrap_or_else(|e| panic!("{}: {e}", p.id));
        assert_eq!(
            s.name, p.title,
            "{}: the title is the scenario's name",
            p.id
        );
        assert!(
            s.description.as_deref().is_some_and(|d| !d.is_empty()),
            "{}: the scenario explains itself",
            p.id
        );
        assert!(
            p.description.ends_with('.') && p.description.matches(". ").count() == 0,
            "{}: one sentence",
            p.id
        );
        assert_eq!(find(p.id), Some(p));
    }
    assert_eq!(find("no-such-preset"), None);
}

#[test]
fn every_file_in_www_presets_is_registered() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("www/presets");
    let files = queue_playground::scenario::files_in(&dir).unwrap();
    let mut on_disk: Vec<String> = files
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut registered: Vec<String> = PRESETS.iter().map(|p| p.id.to_owned()).collect();
    on_disk.sort();
    registered.sort();
    assert_eq!(on_disk, registered);
    for p in PRESETS {
        let text = std::fs::read_to_string(dir.join(format!("{}.json", p.id))).unwrap();
        assert_eq!(text, p.text, "{}", p.id);
    }
}

#[test]
fn every_preset_runs_without_errors_and_round_trips() {
    for p in PRESETS {
        let s = parse(p.text, &Limits::default()).unwrap();
        let events = queue_playground::engine::run(&s);
        // The restart preset shows a transient queue is gone by asking for it (a 404).
        let expected_errors = usize::from(p.id == "broker-restart");
        assert!(
            errors(&events).len() == expected_errors,
            "{}: a preset shows behaviour, not a broken scenario: {:?}",
            p.id,
            errors(&events)
        );
        assert!(!received(&events).is_empty(), "{}: nothing delivered", p.id);
        let again = parse(&s.to_pretty_json(), &Limits::default())
            .unwrap_or_else(|e| panic!("{}: {e}", p.id));
        assert_eq!(again, s, "{}", p.id);
    }
}

#[test]
fn work_queue_holds_one_unacked_at_a_time() {
    let s = scenario("work-queue");
    let mut t = Timeline::new(s.clone(), TimelineConfig::default());
    let mut most_unacked = 0;
    for i in 0..=s.steps.len() {
        t.seek(i);
        let unacked: usize = t.state().queues.iter().map(|q| q.unacked).sum();
        most_unacked = most_unacked.max(unacked);
    }
    assert_eq!(most_unacked, 1);
    let events = trace("work-queue");
    assert_eq!(
        bodies_on(&events, "worker"),
        ["order #1", "order #2", "order #3"]
    );
    // Each delivery after the first comes with the ack of the one before.
    let steps_of_deliveries: Vec<usize> = events
        .iter()
        .filter(|e| matches!(e.event, Event::Deliver { .. }))
        .map(|e| e.step)
        .collect();
    let ack_steps: Vec<usize> = s
        .steps
        .iter()
        .enumerate()
        .filter(|(_, st)| st.op.name() == "basic.ack")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(steps_of_deliveries[1..], ack_steps[..2]);
    let end = at_end("work-queue");
    assert!(end
        .state()
        .queues
        .iter()
        .all(|q| q.ready.is_empty() && q.unacked == 0));
}

#[test]
fn reject_requeue_redelivers_first() {
    let events = trace("reject-requeue");
    assert_eq!(
        received(&events),
        [
            ("worker".into(), "task 1".into(), false),
            ("worker".into(), "task 1".into(), true),
            ("worker".into(), "task 2".into(), false),
        ]
    );
}

#[test]
fn order_chain_never_delivers_the_rolled_back_notification() {
    let s = scenario("order-chain-rollback");
    let events = trace("order-chain-rollback");
    let rollback = s
        .steps
        .iter()
        .position(|st| st.op.name() == "tx.rollback")
        .expect("a rollback");
    // The publish inside the rolled-back transaction: the last publish before the rollback.
    let rolled_back_body = s.steps[..rollback]
        .iter()
        .rev()
        .find_map(|st| match &st.op {
            queue_playground::scenario::Op::BasicPublish { body, .. } => Some(body.to_string()),
            _ => None,
        })
        .unwrap();
    let all = received(&events);
    assert!(
        all.iter().all(|(_, b, _)| *b != rolled_back_body),
        "{rolled_back_body} was delivered: {all:?}"
    );
    // The merchant's first look finds nothing; the retry's notification arrives.
    let merchant: Vec<&Event> = events
        .iter()
        .map(|e| &e.event)
        .filter(|e| e.channel().is_some_and(|c| &**c == "merchant"))
        .collect();
    assert!(matches!(merchant[0], Event::GetEmpty { .. }));
    assert_eq!(bodies_on(&events, "merchant").len(), 1);
    // The payment was redelivered after the rollback and reject.
    assert!(all
        .iter()
        .any(|(c, b, r)| c == "payment-service" && b == "pay order #42" && *r));
    // Every stage's queue is empty at the end: each message was taken exactly once.
    let end = at_end("order-chain-rollback");
    for q in end.state().queues {
        assert!(q.ready.is_empty() && q.unacked == 0, "{}", q.name);
    }
    // The rollback step discarded one publish and one ack.
    let record = end.record(rollback).unwrap();
    assert!(record.effects.iter().any(|e| matches!(
        e,
        Effect::TxRolledBack {
            publishes: 1,
            settles: 1,
            ..
        }
    )));
}

#[test]
fn next_after_confirm_publishes_only_after_the_answer() {
    let s = scenario("next-after-confirm");
    let events = trace("next-after-confirm");
    let publishes: Vec<usize> = s
        .steps
        .iter()
        .enumerate()
        .filter(|(_, st)| st.channel.as_ref() == "producer" && st.op.name() == "basic.publish")
        .map(|(i, _)| i)
        .collect();
    let answers: Vec<usize> = events
        .iter()
        .filter(|e| matches!(&e.event, Event::Deliver { channel, .. } if &**channel == "producer"))
        .map(|e| e.step)
        .collect();
    assert_eq!(publishes.len(), 2);
    assert_eq!(answers.len(), 2);
    assert!(answers[0] < publishes[1]);
    assert_eq!(
        bodies_on(&events, "producer"),
        ["step 1 done", "step 2 done"]
    );
}

#[test]
fn hello_world_delivers_the_message() {
    assert_eq!(
        bodies_on(&trace("hello-world"), "receive"),
        ["Hello World!"]
    );
}

#[test]
fn work_queues_dispatch_fairly_and_requeue_on_close() {
    let events = trace("work-queues");
    assert_eq!(bodies_on(&events, "worker-1"), ["slow task....."]);
    let w2 = received(&events)
        .into_iter()
        .filter(|(c, _, _)| c == "worker-2")
        .map(|(_, b, r)| (b, r))
        .collect::<Vec<_>>();
    assert_eq!(
        w2,
        [
            ("quick task.".into(), false),
            ("another quick task.".into(), false),
            ("slow task.....".into(), true),
            ("last task.".into(), false),
        ]
    );
}

#[test]
fn publish_subscribe_copies_to_every_subscriber() {
    let events = trace("publish-subscribe");
    let one = bodies_on(&events, "receive-1");
    let two = bodies_on(&events, "receive-2");
    assert_eq!(
        one,
        [
            "info: Hello World!",
            "warning: disk 90% full",
            "info: receiver-2 left"
        ]
    );
    assert_eq!(one[..2], two[..]);
    assert!(received(&events)
        .iter()
        .all(|(_, b, _)| b != "nobody is listening yet"));
    // The second subscriber's exclusive queue went with its connection.
    assert_eq!(at_end("publish-subscribe").state().queues.len(), 1);
}

#[test]
fn routing_by_severity() {
    let events = trace("routing");
    assert_eq!(bodies_on(&events, "disk"), ["payment gateway down"]);
    assert_eq!(
        bodies_on(&events, "screen"),
        ["service started", "payment gateway down", "slow response"]
    );
}

#[test]
fn topics_match_word_by_word() {
    let events = trace("topics");
    assert_eq!(
        bodies_on(&events, "orange"),
        [
            "quick.orange.rabbit",
            "lazy.orange.elephant",
            "quick.orange.fox"
        ]
    );
    assert_eq!(
        bodies_on(&events, "rabbits"),
        [
            "quick.orange.rabbit",
            "lazy.orange.elephant",
            "lazy.pink.rabbit",
            "lazy"
        ]
    );
}

#[test]
fn rpc_answers_carry_the_request_correlation_id() {
    let events = trace("rpc");
    let mut requests = Vec::new();
    let mut answers = Vec::new();
    for e in &events {
        if let Event::Deliver {
            channel,
            properties,
            ..
        } = &e.event
        {
            let id = properties.correlation_id.clone().unwrap();
            match &**channel {
                "server" => {
                    assert_eq!(properties.reply_to.as_deref(), Some("rpc_client_replies"));
                    requests.push(id)
                }
                "client" => answers.push(id),
                other => panic!("delivery on {other}"),
            }
        }
    }
    assert_eq!(requests, ["req-1", "req-2"]);
    assert_eq!(answers, requests);
}

fn x_death(properties: &queue_playground::scenario::Properties) -> &serde_json::Value {
    properties
        .headers
        .as_ref()
        .and_then(|h| h.get("x-death"))
        .expect("x-death header")
}

#[test]
fn dead_lettering_only_without_requeue() {
    let events = trace("dead-lettering");
    let gets: Vec<&Event> = events
        .iter()
        .map(|e| &e.event)
        .filter(|e| matches!(e, Event::GetOk { .. }))
        .collect();
    let [Event::GetOk {
        body, properties, ..
    }] = gets[..]
    else {
        panic!("one dead letter expected: {gets:?}")
    };
    assert_eq!(&**body, "malformed job");
    let death = &x_death(properties)[0];
    assert_eq!(death["reason"], "rejected");
    assert_eq!(death["queue"], "work");
    assert_eq!(death["count"], 1);
    // The requeued one came back instead.
    assert!(received(&events)
        .iter()
        .any(|(c, b, r)| c == "worker" && b == "valid job" && *r));
}

#[test]
fn ttl_lower_wins_and_expired_are_dead_lettered() {
    let events = trace("ttl");
    let shopper: Vec<&Event> = events
        .iter()
        .map(|e| &e.event)
        .filter(|e| e.channel().is_some_and(|c| &**c == "shopper"))
        .collect();
    assert!(
        matches!(shopper[0], Event::GetOk { body, .. } if &**body == "weekly offer: queue TTL 5 s")
    );
    assert!(matches!(shopper[1], Event::GetEmpty { .. }));
    let expired: Vec<(String, String)> = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::GetOk {
                channel,
                body,
                properties,
                ..
            } if &**channel == "auditor" => Some((
                body.to_string(),
                x_death(properties)[0]["reason"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        expired,
        [
            ("flash sale: 1 s".into(), "expired".into()),
            ("daily offer: queue TTL 5 s".into(), "expired".into())
        ]
    );
}

#[test]
fn max_length_drops_head_or_refuses() {
    let events = trace("max-length");
    assert_eq!(bodies_on(&events, "reader"), ["price 2", "price 3"]);
    let confirms: Vec<(u64, bool)> = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::ConfirmAck { delivery_tag, .. } => Some((*delivery_tag, true)),
            Event::ConfirmNack { delivery_tag, .. } => Some((*delivery_tag, false)),
            _ => None,
        })
        .collect();
    // Job 3 found the queue full; job 4 came after a get made room.
    assert_eq!(confirms, [(1, true), (2, true), (3, false), (4, true)]);
    let s = scenario("max-length");
    let t = at_end("max-length");
    assert!((0..s.steps.len()).any(|i| t
        .record(i)
        .unwrap()
        .effects
        .iter()
        .any(|e| matches!(e, Effect::Refused { .. }))));
}

#[test]
fn publisher_confirms_ack_every_publish() {
    let events = trace("publisher-confirms");
    let acks: Vec<u64> = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::ConfirmAck { delivery_tag, .. } => Some(*delivery_tag),
            _ => None,
        })
        .collect();
    assert_eq!(acks, [1, 2, 3, 4]);
    let returned = events
        .iter()
        .position(|e| matches!(e.event, Event::Return { .. }))
        .expect("a return");
    let third = events
        .iter()
        .position(|e| {
            matches!(
                e.event,
                Event::ConfirmAck {
                    delivery_tag: 3,
                    ..
                }
            )
        })
        .unwrap();
    assert!(returned < third);
}

#[test]
fn broker_restart_keeps_durable_persistent_only() {
    let s = scenario("broker-restart");
    let restart = s
        .steps
        .iter()
        .position(|st| st.op.name() == "broker.restart")
        .unwrap();
    let mut t = Timeline::new(s, TimelineConfig::default());
    t.seek(restart);
    let before = t.state();
    assert_eq!(before.queues.len(), 2);
    t.seek(restart + 1);
    let after = t.state();
    let names: Vec<&str> = after.queues.iter().map(|q| &*q.name).collect();
    assert_eq!(names, ["durable_orders"]);
    let durable = &after.queues[0];
    let ready: Vec<(&str, bool)> = durable
        .ready
        .iter()
        .map(|m| (&*m.body, m.redelivered))
        .collect();
    // The unacked persistent message is back at its place, marked redelivered.
    assert_eq!(
        ready,
        [
            ("persistent order #1", true),
            ("persistent order #3", false)
        ]
    );
    assert!(after.exchanges.iter().any(|x| &*x.name == "orders"));
    // Asking for the transient queue after the restart: 404, it is gone.
    let events = trace("broker-restart");
    let codes: Vec<(usize, u16)> = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::ChannelClose { reply_code, .. } => Some((e.step, *reply_code)),
            _ => None,
        })
        .collect();
    assert_eq!(codes, [(restart + 1, 404)]);
}
