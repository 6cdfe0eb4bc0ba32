//! Exports without a broker: the generated pika and lapin programs (expect tests), untrusted
//! text reaching them only as literals and comments, definitions export and import, and the
//! definitions round trip over every scenario of `tests/scenarios`.

use std::path::Path;
use std::process::{Command, Stdio};

use expect_test::{expect, Expect};
use queue_playground::export::{self, DefinitionsError};
use queue_playground::scenario::{self, parse, Limits, Op, Scenario};

fn scenario(text: &str) -> Scenario {
    parse(text, &Limits::default()).unwrap_or_else(|e| panic!("test scenario: {e}"))
}

/// The work queue of `docs/SCENARIO-FORMAT.md`, with a topic exchange, a binding and a get.
const WORK_QUEUE: &str = r#"{
  "format": "queue-playground/v1",
  "name": "Work queue with manual acks",
  "description": "Two lines\nof description.",
  "steps": [
    {"op": "exchange.declare", "exchange": "logs", "type": "topic", "durable": true},
    {"op": "queue.declare", "queue": "task_queue", "durable": true,
     "arguments": {"x-message-ttl": 60000, "x-dead-letter-exchange": "dlx"}},
    {"op": "queue.bind", "queue": "task_queue", "exchange": "logs", "routing_key": "task.#"},
    {"op": "basic.qos", "channel": "worker", "prefetch_count": 1},
    {"op": "basic.consume", "channel": "worker", "queue": "task_queue", "consumer_tag": "w1"},
    {"op": "confirm.select", "channel": "producer"},
    {"op": "basic.publish", "channel": "producer", "exchange": "", "routing_key": "task_queue",
     "body": "order #1", "properties": {"delivery_mode": 2, "headers": {"n": 1, "tags": ["a", true]}}},
    {"op": "basic.ack", "channel": "worker", "delivery_tag": 1},
    {"op": "basic.get", "queue": "task_queue", "no_ack": true},
    {"op": "clock.advance", "ms": 1500},
    {"op": "broker.restart"}
  ]
}"#;

/// Text that tries to break out of every kind of literal and comment (quotes, backslashes,
/// newlines, `"""`, controls, bidirectional overrides, ...) in the name, the description, and
/// the body, a header and the message id of each publish.
fn nasty_scenario() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/export/nasty-text.json");
    scenario(&std::fs::read_to_string(path).expect("tests/export/nasty-text.json"))
}

/// The nasty scenario's publishes: `[body, headers, message id]` each.
fn nasty_publishes() -> serde_json::Value {
    let publishes: Vec<serde_json::Value> = nasty_scenario()
        .steps
        .iter()
        .filter_map(|st| match &st.op {
            Op::BasicPublish {
                body, properties, ..
            } => Some(serde_json::json!([
                body.as_ref(),
                properties.headers,
                properties.message_id
            ])),
            _ => None,
        })
        .collect();
    assert!(publishes.len() >= 10);
    serde_json::Value::from(publishes)
}

fn check(actual: &str, expect: Expect) {
    expect.assert_eq(actual);
}

/// The part of a program after `marker` (the fixed prelude is left out of expect tests).
fn after<'a>(program: &'a str, marker: &str) -> &'a str {
    let at = program
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in:\n{program}"));
    &program[at..]
}

fn before<'a>(program: &'a str, marker: &str) -> &'a str {
    &program[..program.find(marker).expect("marker")]
}

#[test]
fn pika_program_steps() {
    let p = export::to_pika(&scenario(WORK_QUEUE));
    check(
        before(&p, "import json"),
        expect![[r#"
            #!/usr/bin/env python3
            # Work queue with manual acks
            #
            # Two lines
            # of description.
            #
            # Exported from queue-playground: the scenario's steps, in order, on a real RabbitMQ.
            # Prints what the broker sends back, one JSON object a line (the playground's trace
            # format: basic.deliver, basic.get-ok, basic.return, confirms, channel.close, ...).
            # Needs pika 1.3 or later (`pip install pika`). AMQP_URL picks the broker; set
            # RABBITMQ_NODE to let broker.restart run `rabbitmqctl -n NODE stop_app/start_app`.
            # What pika cannot do is reported on stderr when it comes up: opening a channel that
            # is open, a consumer tag already in use on its channel; consumers without a tag get
            # pika's own names (ctag1.…) instead of the broker's (amq.ctag-…).

        "#]],
    );
    check(
        after(&p, "# The scenario."),
        expect![[r##"
            # The scenario.

            # 0: exchange.declare
            with step(0, "main"):
                channel("main").exchange_declare(exchange="logs", exchange_type="topic", durable=True)

            # 1: queue.declare
            with step(1, "main"):
                declare_ok("main", channel("main").queue_declare(queue="task_queue", durable=True, arguments={"x-dead-letter-exchange": "dlx", "x-message-ttl": 60000}))

            # 2: queue.bind
            with step(2, "main"):
                channel("main").queue_bind(queue="task_queue", exchange="logs", routing_key="task.#")

            # 3: basic.qos
            with step(3, "worker"):
                channel("worker").basic_qos(prefetch_count=1)

            # 4: basic.consume
            with step(4, "worker"):
                consume("worker", queue="task_queue", consumer_tag="w1")

            # 5: confirm.select
            with step(5, "producer"):
                confirm_select("producer")

            # 6: basic.publish
            with step(6, "producer"):
                publish("producer", exchange="", routing_key="task_queue", body="order #1", properties=pika.BasicProperties(delivery_mode=2, headers={"n": 1, "tags": ["a", True]}))

            # 7: basic.ack
            with step(7, "worker"):
                ch = channel("worker")
                ch.basic_ack(delivery_tag=1)
                sync(ch)

            # 8: basic.get
            with step(8, "main"):
                get("main", queue="task_queue", auto_ack=True)

            # 9: clock.advance
            with step(9):
                # Real time stands in for the scenario's virtual clock (TTLs, x-expires).
                time.sleep(1500 / 1000)

            # 10: broker.restart
            with step(10):
                # A clean restart of the node: durable exchanges, queues, bindings and persistent
                # messages survive; every connection is closed.
                restart_broker()

            # Done: hang up (unacked messages go back to their queues; not part of the output).
            for c in connections.values():
                if c.is_open:
                    c.close()
        "##]],
    );
}

#[test]
fn lapin_program_steps() {
    let p = export::to_lapin(&scenario(WORK_QUEUE));
    check(
        before(&p, "use std::collections::HashMap;"),
        expect![[r#"
            // Work queue with manual acks
            //
            // Two lines
            // of description.
            //
            // Exported from queue-playground: the scenario's steps, in order, on a real RabbitMQ,
            // printing what the broker sends back (deliveries, gets, confirms, errors) a line each.
            // AMQP_URL picks the broker (default amqp://guest:guest@127.0.0.1:5672/%2f).
            // Not printed: basic.return outside confirm mode. Not sent: channel.open on an open
            // channel (lapin numbers channels itself). Cargo.toml:
            //
            // [dependencies]
            // lapin = "4"
            // tokio = { version = "1", features = ["rt-multi-thread", "macros", "time"] }

        "#]],
    );
    check(
        after(&p, "#[tokio::main]"),
        expect![[r##"
            #[tokio::main]
            async fn main() {
                let mut w = World {
                    url: std::env::var("AMQP_URL")
                        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into()),
                    ..World::default()
                };

                // 0: exchange.declare
                STEP.store(0, Ordering::SeqCst);
                let result: lapin::Result<()> = async {
                    let ch = w.channel("main").await?;
                    ch.exchange_declare("logs".into(), lapin::ExchangeKind::Topic, ExchangeDeclareOptions { durable: true, ..Default::default() }, FieldTable::default())
                        .await?;
                    Ok(())
                }
                .await;
                done(result).await;

                // 1: queue.declare
                STEP.store(1, Ordering::SeqCst);
                let result: lapin::Result<()> = async {
                    let ch = w.channel("main").await?;
                    let q = ch
                        .queue_declare("task_queue".into(), QueueDeclareOptions { durable: true, ..Default::default() }, table(vec![("x-dead-letter-exchange", AMQPValue::LongString("dlx".into())), ("x-message-ttl", AMQPValue::LongLongInt(60000))]))
                        .await?;
                    println!("1: queue.declare-ok queue={:?} message_count={} consumer_count={}", q.name().as_str(), q.message_count(), q.consumer_count());
                    Ok(())
                }
                .await;
                done(result).await;

                // 2: queue.bind
                STEP.store(2, Ordering::SeqCst);
                let result: lapin::Result<()> = async {
                    let ch = w.channel("main").await?;
                    ch.queue_bind("task_queue".into(), "logs".into(), "task.#".into(), QueueBindOptions::default(), FieldTable::default())
                        .await?;
                    Ok(())
                }
                .await;
                done(result).await;

                // 3: basic.qos
                STEP.store(3, Ordering::SeqCst);
                let result: lapin::Result<()> = async {
                    let ch = w.channel("worker").await?;
                    ch.basic_qos(1, BasicQosOptions::default()).await?;
                    Ok(())
                }
                .await;
                done(result).await;

                // 4: basic.consume
                STEP.store(4, Ordering::SeqCst);
                let result: lapin::Result<()> = async {
                    let ch = w.channel("worker").await?;
                    let consumer = ch
                        .basic_consume("task_queue".into(), "w1".into(), BasicConsumeOptions::default(), FieldTable::default())
                        .await?;
                    println!("4: basic.consume-ok channel={:?} consumer_tag={:?}", "worker", consumer.tag().as_str());
                    consumer.set_delegate(print_deliveries("worker"));
                    Ok(())
                }
                .await;
                done(result).await;

                // 5: confirm.select
                STEP.store(5, Ordering::SeqCst);
                let result: lapin::Result<()> = async {
                    let ch = w.channel("producer").await?;
                    ch.confirm_select(ConfirmSelectOptions::default()).await?;
                    w.confirms.insert("producer", 0);
                    Ok(())
                }
                .await;
                done(result).await;

                // 6: basic.publish
                STEP.store(6, Ordering::SeqCst);
                let result: lapin::Result<()> = async {
                    let ch = w.channel("producer").await?;
                    let confirm = ch
                        .basic_publish(
                            "".into(),
                            "task_queue".into(),
                            BasicPublishOptions::default(),
                            "order #1".as_bytes(),
                            lapin::BasicProperties::default().with_delivery_mode(2).with_headers(table(vec![("n", AMQPValue::LongLongInt(1)), ("tags", AMQPValue::FieldArray(vec![AMQPValue::LongString("a".into()), AMQPValue::Boolean(true)].into()))])),
                        )
                        .await?;
                    if let Some(tag) = w.confirms.get_mut("producer") {
                        *tag += 1;
                        let tag = *tag;
                        print_confirm("producer", tag, confirm.await?);
                    }
                    Ok(())
                }
                .await;
                done(result).await;

                // 7: basic.ack
                STEP.store(7, Ordering::SeqCst);
                let result: lapin::Result<()> = async {
                    let ch = w.channel("worker").await?;
                    ch.basic_ack(1, BasicAckOptions::default()).await?;
                    Ok(())
                }
                .await;
                done(result).await;

                // 8: basic.get
                STEP.store(8, Ordering::SeqCst);
                let result: lapin::Result<()> = async {
                    let ch = w.channel("main").await?;
                    match ch.basic_get("task_queue".into(), BasicGetOptions { no_ack: true, ..Default::default() }).await? {
                        Some(m) => println!(
                            "8: basic.get-ok channel={:?} delivery_tag={} redelivered={} routing_key={:?} body={:?} message_count={}",
                            "main", m.delivery.delivery_tag, m.delivery.redelivered, m.delivery.routing_key.as_str(), text(&m.delivery.data), m.message_count
                        ),
                        None => println!("8: basic.get-empty channel={:?}", "main"),
                    }
                    Ok(())
                }
                .await;
                done(result).await;

                // 9: clock.advance
                STEP.store(9, Ordering::SeqCst);
                let result: lapin::Result<()> = async {
                    // Real time stands in for the scenario's virtual clock (TTLs, x-expires).
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                    Ok(())
                }
                .await;
                done(result).await;

                // 10: broker.restart
                STEP.store(10, Ordering::SeqCst);
                let result: lapin::Result<()> = async {
                    // broker.restart: a clean restart of the node (durable things survive, every
                    // connection is closed). Done with rabbitmqctl when RABBITMQ_NODE names the node.
                    match std::env::var("RABBITMQ_NODE") {
                        Ok(node) => {
                            for action in ["stop_app", "start_app"] {
                                let status = std::process::Command::new("rabbitmqctl").args(["-n", &node, action]).status();
                                if !status.is_ok_and(|s| s.success()) {
                                    eprintln!("10: rabbitmqctl {action} failed");
                                }
                            }
                            w.connections.clear();
                            w.channels.clear();
                        }
                        Err(_) => eprintln!("10: broker.restart skipped: set RABBITMQ_NODE to restart the node"),
                    }
                    Ok(())
                }
                .await;
                done(result).await;

                // Done: hang up (unacked messages go back to their queues).
                for c in w.connections.values() {
                    if c.status().connected() {
                        let _ = c.close(200, "OK".into()).await;
                    }
                }
            }
        "##]],
    );
}

#[test]
fn untrusted_text_is_escaped_in_rust_literals_and_comments() {
    let p = export::to_lapin(&nasty_scenario());
    let header = p.lines().take(6);
    let bodies = p.lines().filter(|l| l.contains(".as_bytes()"));
    let lines: Vec<&str> = header.chain(bodies).collect();
    check(
        &lines.join("\n"),
        expect![[r##"
        // nasty
        // import os; pwned()\u{d}
        // # and \u{202e}
        //
        // line\u{2028}pwned()
        // """
                        "plain".as_bytes(),
                        "quote \" and ' and \\ backslash".as_bytes(),
                        "triple \"\"\" and '''".as_bytes(),
                        "new\nline\r\nand\ttab".as_bytes(),
                        "ends with a backslash \\".as_bytes(),
                        "\u{0} nul \u{7f} del \u{1b}[31m escape".as_bytes(),
                        "unicode é 中文 \u{1f600}".as_bytes(),
                        "bidi \u{202e}override\u{202c} zero\u{200b}width \u{2028}separator \u{85}next".as_bytes(),
                        "{braces} %s %(x)s \\N{BULLET} \\u0041 \\x41".as_bytes(),
                        "\"); import os; os.system(\"pwned\"); (\"".as_bytes(),
                        "r#\"raw\"# \"#; pwned(); r#\"".as_bytes(),
                        "".as_bytes(),"##]],
    );
    // Every line of the header is a comment: nothing of the name or description became code.
    for line in before(&p, "use std::collections::HashMap;").lines() {
        assert!(
            line.is_empty() || line.starts_with("//"),
            "not a comment: {line:?}"
        );
    }
}

fn python3() -> Option<String> {
    let ok = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("\n*** SKIPPED: no python3 to parse the generated program ***\n");
        assert!(std::env::var_os("CI").is_none(), "CI must have python3");
        return None;
    }
    Some("python3".into())
}

/// Python reads the program back: it must parse, hold exactly the scenario's texts as literals
/// (the body, headers and message id of each publish), and call nothing the scenario's text
/// names. (`tests/export_pika.rs` runs it, too.)
#[test]
fn untrusted_text_is_escaped_in_python_literals_and_comments() {
    let Some(python) = python3() else { return };
    let program = export::to_pika(&nasty_scenario());
    let dir = std::env::temp_dir().join(format!("qp-export-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("nasty.py");
    std::fs::write(&file, &program).unwrap();
    let reader = r#"
import ast, json, sys
tree = ast.parse(open(sys.argv[1], encoding="utf-8").read())
out = {"publishes": [], "names": sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)})}
for node in ast.walk(tree):
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "publish":
        kw = {k.arg: k.value for k in node.keywords}
        props = {k.arg: ast.literal_eval(k.value) for k in kw["properties"].keywords}
        out["publishes"].append([ast.literal_eval(kw["body"]), props["headers"],
                                 props["message_id"]])
print(json.dumps(out))
"#;
    let out = Command::new(python)
        .arg("-c")
        .arg(reader)
        .arg(&file)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python3 cannot read the program ({}):\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON from python");
    assert_eq!(seen["publishes"], nasty_publishes());
    let names = seen["names"].as_array().unwrap();
    assert!(
        !names.iter().any(|n| n == "pwned"),
        "the scenario's text became code: {names:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn definitions_of_a_scenario() {
    let text = export::to_definitions(&scenario(
        r#"{"format": "queue-playground/v1", "steps": [
        {"op": "exchange.declare", "exchange": "logs", "type": "topic", "durable": true,
         "arguments": {"alternate-exchange": "ae"}},
        {"op": "exchange.declare", "exchange": "ae", "type": "fanout"},
        {"op": "exchange.bind", "destination": "ae", "source": "logs", "routing_key": "x.*"},
        {"op": "queue.declare", "queue": "q", "durable": true,
         "arguments": {"x-max-length": 10, "x-overflow": "reject-publish"}},
        {"op": "queue.declare", "queue": "mine", "exclusive": true},
        {"op": "queue.declare", "queue": ""},
        {"op": "queue.declare", "queue": "gone"},
        {"op": "queue.delete", "queue": "gone"},
        {"op": "queue.bind", "queue": "q", "exchange": "logs", "routing_key": "a.#"},
        {"op": "queue.bind", "queue": "q", "exchange": "amq.headers",
         "arguments": {"x-match": "any", "k": "v"}},
        {"op": "queue.bind", "queue": "mine", "exchange": "logs", "routing_key": "m"}
    ]}"#,
    ));
    check(
        &text,
        expect![[r#"
        {
          "bindings": [
            {
              "arguments": {
                "k": "v",
                "x-match": "any"
              },
              "destination": "q",
              "destination_type": "queue",
              "routing_key": "",
              "source": "amq.headers",
              "vhost": "/"
            },
            {
              "arguments": {},
              "destination": "ae",
              "destination_type": "exchange",
              "routing_key": "x.*",
              "source": "logs",
              "vhost": "/"
            },
            {
              "arguments": {},
              "destination": "q",
              "destination_type": "queue",
              "routing_key": "a.#",
              "source": "logs",
              "vhost": "/"
            }
          ],
          "exchanges": [
            {
              "arguments": {
                "alternate-exchange": "ae"
              },
              "auto_delete": false,
              "durable": true,
              "internal": false,
              "name": "logs",
              "type": "topic",
              "vhost": "/"
            },
            {
              "arguments": {},
              "auto_delete": false,
              "durable": false,
              "internal": false,
              "name": "ae",
              "type": "fanout",
              "vhost": "/"
            }
          ],
          "queues": [
            {
              "arguments": {
                "x-max-length": 10,
                "x-overflow": "reject-publish"
              },
              "auto_delete": false,
              "durable": true,
              "name": "q",
              "vhost": "/"
            }
          ],
          "rabbit_version": "3.10.8",
          "rabbitmq_version": "3.10.8",
          "vhosts": [
            {
              "name": "/"
            }
          ]
        }
    "#]],
    );
}

#[test]
fn definitions_notes_name_what_is_left_out() {
    let (_, notes) = export::to_definitions_with_notes(&scenario(
        r#"{"format": "queue-playground/v1", "steps": [
        {"op": "queue.declare", "queue": "mine", "exclusive": true},
        {"op": "queue.declare", "queue": ""},
        {"op": "queue.bind", "queue": "mine", "exchange": "amq.topic", "routing_key": "m"}
    ]}"#,
    ));
    check(
        &notes.join("\n"),
        expect![[r#"
        queue `mine` is not exported: it is exclusive (it belongs to a connection)
        queue `amq.gen-0XWuhqmn452rN3xe5gKIiD` is not exported: its name is generated by the broker on every declare
        binding `amq.topic` -> `mine` (key `m`) is not exported: its queue is not"#]],
    );
}

/// What `rabbitmqctl export_definitions` writes (3.10), users and policies included.
const RABBITMQ_EXPORT: &str = r#"{
  "rabbit_version": "3.10.8", "rabbitmq_version": "3.10.8", "product_name": "RabbitMQ",
  "product_version": "3.10.8",
  "users": [{"name": "guest", "password_hash": "x", "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ["administrator"], "limits": {}}],
  "vhosts": [{"name": "/"}],
  "permissions": [{"user": "guest", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}],
  "topic_permissions": [], "parameters": [],
  "global_parameters": [{"name": "internal_cluster_id", "value": "rabbitmq-cluster-id-x"}],
  "policies": [{"vhost": "/", "name": "ttl", "pattern": "^t", "apply-to": "queues", "definition": {"message-ttl": 1000}, "priority": 0}],
  "queues": [
    {"name": "orders", "vhost": "/", "durable": true, "auto_delete": false,
     "arguments": {"x-queue-type": "classic", "x-max-priority": 5, "x-dead-letter-exchange": "dlx"}},
    {"name": "tmp", "vhost": "/", "durable": false, "auto_delete": true, "arguments": {}}
  ],
  "exchanges": [
    {"name": "dlx", "vhost": "/", "type": "fanout", "durable": true, "auto_delete": false, "internal": false, "arguments": {}},
    {"name": "events", "vhost": "/", "type": "headers", "durable": true, "auto_delete": false, "internal": true, "arguments": {"alternate-exchange": "dlx"}}
  ],
  "bindings": [
    {"source": "dlx", "vhost": "/", "destination": "orders", "destination_type": "queue", "routing_key": "", "arguments": {}},
    {"source": "events", "vhost": "/", "destination": "dlx", "destination_type": "exchange", "routing_key": "", "arguments": {"x-match": "all", "kind": "order"}}
  ]
}"#;

#[test]
fn import_of_a_rabbitmq_export() {
    let s = export::from_definitions(RABBITMQ_EXPORT).expect("imports");
    check(
        &s.to_pretty_json(),
        expect![[r#"
            {
              "format": "queue-playground/v1",
              "name": "RabbitMQ definitions (vhost /)",
              "description": "Imported from RabbitMQ definitions of RabbitMQ 3.10.8 (vhost `/`).\n\n- ignored (not topology): users (1), permissions (1), global_parameters (1), policies (1)",
              "seed": 0,
              "steps": [
                {"op": "exchange.declare", "durable": true, "exchange": "dlx", "type": "fanout"},
                {"op": "exchange.declare", "arguments": {"alternate-exchange":"dlx"}, "durable": true, "exchange": "events", "internal": true, "type": "headers"},
                {"op": "queue.declare", "arguments": {"x-dead-letter-exchange":"dlx","x-max-priority":5}, "durable": true, "queue": "orders"},
                {"op": "queue.declare", "auto_delete": true, "queue": "tmp"},
                {"op": "queue.bind", "exchange": "dlx", "queue": "orders", "routing_key": ""},
                {"op": "exchange.bind", "arguments": {"kind":"order","x-match":"all"}, "destination": "dlx", "routing_key": "", "source": "events"}
              ]
            }
        "#]],
    );
}

#[test]
fn import_errors_name_the_field() {
    let cases = [
        "not json",
        "[]",
        r#"{"queues": {}}"#,
        r#"{"queues": [{"vhost": "/"}]}"#,
        r#"{"queues": [{"name": "a"}, {"name": "b"}, {"name": "c", "arguments": {"x-message-ttl": "soon"}}]}"#,
        r#"{"queues": [{"name": "q", "arguments": {"x-queue-type": "quorum"}}]}"#,
        r#"{"queues": [{"name": "q", "arguments": {"x-single-active-consumer": true}}]}"#,
        r#"{"queues": [{"name": "q", "durable": "yes"}]}"#,
        r#"{"queues": [{"name": "q", "arguments": {"x-overflow": "drop-tail"}}]}"#,
        r#"{"exchanges": [{"name": "x", "type": "x-delayed-message"}]}"#,
        r#"{"exchanges": [{"name": "x", "type": "direct", "arguments": {"alternate-exchange": 3}}]}"#,
        r#"{"bindings": [{"source": "x", "destination": "q", "destination_type": "stream"}]}"#,
        r#"{"queues": [{"name": "a", "vhost": "/"}, {"name": "b", "vhost": "other"}]}"#,
    ];
    let out: Vec<String> = cases
        .iter()
        .map(|c| match export::from_definitions(c) {
            Ok(s) => format!("{c}\n  => ok: {} steps", s.steps.len()),
            Err(DefinitionsError { field, message }) => {
                format!("{c}\n  => `{field}`: {message}")
            }
        })
        .collect();
    check(
        &out.join("\n"),
        expect![[r#"
            not json
              => ``: not JSON: expected ident at line 1 column 2
            []
              => ``: expected an object
            {"queues": {}}
              => `queues`: expected an array
            {"queues": [{"vhost": "/"}]}
              => `queues[0].name`: missing (expected a string)
            {"queues": [{"name": "a"}, {"name": "b"}, {"name": "c", "arguments": {"x-message-ttl": "soon"}}]}
              => `queues[2].arguments.x-message-ttl`: expected an integer
            {"queues": [{"name": "q", "arguments": {"x-queue-type": "quorum"}}]}
              => `queues[0].arguments.x-queue-type`: only classic queues are modelled, not `quorum`
            {"queues": [{"name": "q", "arguments": {"x-single-active-consumer": true}}]}
              => `queues[0].arguments.x-single-active-consumer`: unsupported queue argument (supported: x-message-ttl, x-expires, x-max-length, x-max-length-bytes, x-overflow, x-dead-letter-exchange, x-dead-letter-routing-key, x-max-priority, x-queue-type classic)
            {"queues": [{"name": "q", "durable": "yes"}]}
              => `queues[0].durable`: expected true or false
            {"queues": [{"name": "q", "arguments": {"x-overflow": "drop-tail"}}]}
              => `queues[0].arguments.x-overflow`: expected drop-head, reject-publish or reject-publish-dlx, not `drop-tail`
            {"exchanges": [{"name": "x", "type": "x-delayed-message"}]}
              => `exchanges[0].type`: expected direct, fanout, topic or headers, not `x-delayed-message`
            {"exchanges": [{"name": "x", "type": "direct", "arguments": {"alternate-exchange": 3}}]}
              => `exchanges[0].arguments.alternate-exchange`: expected a string
            {"bindings": [{"source": "x", "destination": "q", "destination_type": "stream"}]}
              => `bindings[0].destination_type`: expected queue or exchange, not `stream`
            {"queues": [{"name": "a", "vhost": "/"}, {"name": "b", "vhost": "other"}]}
              => `vhosts`: the definitions hold several vhosts (`/`, `other`); a scenario is one: pick it (`--vhost NAME`)"#]],
    );
}

#[test]
fn import_picks_a_vhost() {
    let text = r#"{"queues": [{"name": "a", "vhost": "/"}, {"name": "b", "vhost": "other"}]}"#;
    let s = export::from_definitions_in(text, "other").expect("imports");
    assert_eq!(s.steps.len(), 1);
    assert_eq!(s.steps[0].op.name(), "queue.declare");
    assert!(s.to_json().to_string().contains(r#""queue":"b""#));
}

/// Export then import gives the same topology, for every scenario under `tests/scenarios`, and
/// the imported scenario is valid scenario JSON.
#[test]
fn definitions_round_trip_every_scenario() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let files = scenario::files_in(&dir).expect("tests/scenarios");
    let mut with_topology = 0;
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy();
        let s = scenario(&std::fs::read_to_string(path).unwrap());
        let defs = export::to_definitions(&s);
        let back = export::from_definitions(&defs)
            .unwrap_or_else(|e| panic!("{name}: its definitions do not import: {e}\n{defs}"));
        let reparsed = scenario(&back.to_json().to_string());
        let (want, got) = (export::topology(&s), export::topology(&reparsed));
        assert_eq!(
            want, got,
            "{name}: the round trip changed the topology\n{defs}"
        );
        if want["queues"].as_array().is_some_and(|q| !q.is_empty()) {
            with_topology += 1;
        }
    }
    assert!(
        with_topology > 100,
        "only {with_topology} of {} scenarios leave a queue behind",
        files.len()
    );
}

fn qp(args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_qp"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qp runs");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin.as_bytes())
        .expect("qp reads stdin");
    let out = child.wait_with_output().expect("qp exits");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn qp_export_and_import_definitions() {
    let (code, out, _) = qp(&["export", "--to", "pika", "-"], WORK_QUEUE);
    assert_eq!((code, out), (0, export::to_pika(&scenario(WORK_QUEUE))));
    let (code, out, _) = qp(&["export", "--to", "lapin", "-"], WORK_QUEUE);
    assert_eq!((code, out), (0, export::to_lapin(&scenario(WORK_QUEUE))));
    let exclusive = r#"{"format": "queue-playground/v1", "steps": [
        {"op": "queue.declare", "queue": "mine", "exclusive": true}]}"#;
    let (code, out, err) = qp(&["export", "--to", "definitions", "-"], exclusive);
    assert_eq!(code, 0);
    assert_eq!(out, export::to_definitions(&scenario(exclusive)));
    assert!(err.contains("queue `mine` is not exported"), "{err}");
    let (code, out, _) = qp(&["import-definitions", "-"], RABBITMQ_EXPORT);
    assert_eq!(code, 0);
    let imported = scenario(&out);
    assert_eq!(imported, export::from_definitions(RABBITMQ_EXPORT).unwrap());
    let two = r#"{"queues": [{"name": "a", "vhost": "/"}, {"name": "b", "vhost": "v"}]}"#;
    let (code, out, _) = qp(&["import-definitions", "-", "--vhost", "v"], two);
    assert_eq!(code, 0);
    assert_eq!(scenario(&out).steps.len(), 1);
}

#[test]
fn qp_export_errors() {
    let cases: [(&[&str], &str); 5] = [
        (&["export", "-"], WORK_QUEUE),
        (&["export", "--to", "java", "-"], WORK_QUEUE),
        (&["export", "--to", "pika", "-"], "{}"),
        (&["import-definitions", "-"], r#"{"queues": [{"name": 1}]}"#),
        (&["import-definitions"], ""),
    ];
    let out: Vec<String> = cases
        .iter()
        .map(|(args, input)| {
            let (code, _, err) = qp(args, input);
            format!(
                "{} => {code}: {}",
                args.join(" "),
                err.lines().next().unwrap_or("")
            )
        })
        .collect();
    check(
        &out.join("\n"),
        expect![[r#"
        export - => 2: qp: `qp export` needs --to pika|lapin|definitions
        export --to java - => 2: qp: --to: `java` is not pika, lapin or definitions
        export --to pika - => 2: <stdin>: field `format`: is required but missing
        import-definitions - => 2: <stdin>: queues[0].name: expected a string
        import-definitions => 2: qp: `qp import-definitions` takes one definitions file (or - for stdin)"#]],
    );
}

/// The generated lapin programs compile against the current lapin 4 (a temporary Cargo project
/// fetching lapin and tokio from crates.io; about a minute with a warm registry cache, several
/// cold). Run with `cargo test --test export -- --ignored lapin`.
#[test]
#[ignore = "builds lapin from crates.io"]
fn lapin_programs_compile() {
    let dir = std::env::temp_dir().join("qp-export-lapin-check");
    let bin = dir.join("src/bin");
    let _ = std::fs::remove_dir_all(&bin);
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"qp-export-lapin-check\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n\n[dependencies]\n{}",
            export::LAPIN_DEPENDENCIES
        ),
    )
    .unwrap();
    let scenarios_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut programs = vec![
        ("work_queue".to_owned(), scenario(WORK_QUEUE)),
        ("nasty".to_owned(), nasty_scenario()),
    ];
    // Enough scenarios to use every op: each one added brings an op the others do not.
    let mut ops: std::collections::BTreeSet<&str> = programs
        .iter()
        .flat_map(|(_, s)| s.steps.iter().map(|st| st.op.name()))
        .collect();
    for path in scenario::files_in(&scenarios_dir).expect("tests/scenarios") {
        let s = scenario(&std::fs::read_to_string(&path).unwrap());
        if s.steps.iter().any(|st| !ops.contains(st.op.name())) {
            ops.extend(s.steps.iter().map(|st| st.op.name()));
            let name = path
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .replace('-', "_");
            programs.push((name, s));
        }
    }
    for (name, s) in &programs {
        std::fs::write(bin.join(format!("{name}.rs")), export::to_lapin(s)).unwrap();
    }
    let missing: Vec<&&str> = scenario::OPS
        .iter()
        .filter(|op| !ops.contains(**op))
        .collect();
    assert!(missing.is_empty(), "no program uses {missing:?}");
    let out = Command::new(env!("CARGO"))
        .args(["build", "--bins", "--quiet"])
        .current_dir(&dir)
        .env("RUSTFLAGS", "-D warnings")
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "the lapin programs in {} do not compile:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
