//! RabbitMQ's persistent publish→deliver→ack rate with a concurrent publisher and consumer,
//! and its persistent publish rate with confirms: the baseline for the playground's IndexedDB
//! streams.
//!
//! ```text
//! cd benches/rabbitmq-stream && cargo run --release -- [N]
//! ```
//!
//! `QP_AMQP_URL` picks the broker (default `amqp://guest:guest@127.0.0.1:5674/%2f`). The queue
//! `qp-bench-stream` is declared durable and deleted afterwards. Messages are persistent, with
//! a body the size of the browser benchmark's; the publisher keeps `WINDOW` unconfirmed
//! publishes in flight, the consumer (prefetch `PREFETCH`) acks each delivery on its own.

use std::collections::VecDeque;
use std::time::Instant;

use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions, QueuePurgeOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};

const QUEUE: &str = "qp-bench-stream";
const WINDOW: usize = 1_000;
const PREFETCH: u16 = 1_000;

async fn connect(url: &str) -> Connection {
    Connection::connect(url, ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"))
}

/// Publishes `n` persistent messages with confirms, `WINDOW` in flight; returns when all are
/// confirmed.
async fn publish(conn: &Connection, n: usize) {
    let channel = conn.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let properties = BasicProperties::default().with_delivery_mode(2);
    let mut pending: VecDeque<lapin::PublisherConfirm> = VecDeque::with_capacity(WINDOW);
    for i in 0..n {
        if pending.len() == WINDOW {
            if let Some(confirm) = pending.pop_front() {
                confirm.await.unwrap();
            }
        }
        let body = format!("message {i:08}");
        let confirm = channel
            .basic_publish(
                "".into(),
                QUEUE.into(),
                BasicPublishOptions::default(),
                body.as_bytes(),
                properties.clone(),
            )
            .await
            .unwrap();
        pending.push_back(confirm);
    }
    for confirm in pending {
        confirm.await.unwrap();
    }
}

/// Consumes and acks `n` messages one by one.
async fn consume(conn: &Connection, n: usize) {
    let channel = conn.create_channel().await.unwrap();
    channel
        .basic_qos(PREFETCH, BasicQosOptions::default())
        .await
        .unwrap();
    let mut consumer = channel
        .basic_consume(
            QUEUE.into(),
            "bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    for _ in 0..n {
        let delivery = consumer.next().await.unwrap().unwrap();
        delivery.ack(BasicAckOptions::default()).await.unwrap();
    }
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("N is a number"))
        .unwrap_or(100_000);
    let url = std::env::var("QP_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5674/%2f".into());
    let publisher = connect(&url).await;
    let consumer = connect(&url).await;
    let setup = publisher.create_channel().await.unwrap();
    setup
        .queue_declare(
            QUEUE.into(),
            QueueDeclareOptions::durable(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    setup
        .queue_purge(QUEUE.into(), QueuePurgeOptions::default())
        .await
        .unwrap();

    let start = Instant::now();
    publish(&publisher, n).await;
    let publish_rate = n as f64 / start.elapsed().as_secs_f64();
    setup
        .queue_purge(QUEUE.into(), QueuePurgeOptions::default())
        .await
        .unwrap();

    let start = Instant::now();
    tokio::join!(publish(&publisher, n), consume(&consumer, n));
    let stream_rate = n as f64 / start.elapsed().as_secs_f64();

    setup
        .queue_delete(QUEUE.into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    println!("RabbitMQ at {url}, N = {n}, persistent, durable queue");
    println!("{:<52} {:>12}", "what", "per second");
    println!(
        "{:<52} {:>12.0}",
        format!("publish with confirms ({WINDOW} in flight)"),
        publish_rate
    );
    println!(
        "{:<52} {:>12.0}",
        format!("publish→deliver→ack (prefetch {PREFETCH}, ack each)"),
        stream_rate
    );
}
