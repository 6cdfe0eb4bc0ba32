//! Ready-made scenarios the app offers: the examples of the article this project grew from,
//! RabbitMQ's tutorials, and one scenario for each feature worth seeing. The files live in
//! `www/presets/`; every one must parse and run (`tests/presets.rs`).

/// A scenario offered by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// Stable: used in `preset:` options and share links.
    pub id: &'static str,
    pub title: &'static str,
    /// One sentence on what it shows.
    pub description: &'static str,
    /// Scenario JSON (format v1).
    pub text: &'static str,
}

/// In the order the app lists them; the first is what a new playground opens with.
pub const PRESETS: &[Preset] = &[
    Preset {
        id: "work-queue",
        title: "Work queue with manual acks",
        description: "prefetch_count 1 and manual acks: one unacked task at a time, the next waits for the ack.",
        text: include_str!("../www/presets/work-queue.json"),
    },
    Preset {
        id: "reject-requeue",
        title: "Reject with requeue, then ack",
        description: "A rejected task goes back to the head of the queue and returns with redelivered true.",
        text: include_str!("../www/presets/reject-requeue.json"),
    },
    Preset {
        id: "order-chain-rollback",
        title: "Cart, order, payment, notify merchant: a failed step rolls back",
        description: "Each stage publishes the next in a transaction; the failed payment's rollback sends nothing on.",
        text: include_str!("../www/presets/order-chain-rollback.json"),
    },
    Preset {
        id: "next-after-confirm",
        title: "Send the next message only after the last one is confirmed",
        description: "The producer waits for the worker's answer on a reply queue before sending the next task.",
        text: include_str!("../www/presets/next-after-confirm.json"),
    },
    Preset {
        id: "hello-world",
        title: "Tutorial 1: Hello World",
        description: "One message through the default exchange to the queue its routing key names.",
        text: include_str!("../www/presets/hello-world.json"),
    },
    Preset {
        id: "work-queues",
        title: "Tutorial 2: Work Queues",
        description: "Two workers with prefetch 1 share the tasks fairly; a closed worker's task is redelivered.",
        text: include_str!("../www/presets/work-queues.json"),
    },
    Preset {
        id: "publish-subscribe",
        title: "Tutorial 3: Publish/Subscribe",
        description: "A fanout exchange copies each message to every subscriber's own queue.",
        text: include_str!("../www/presets/publish-subscribe.json"),
    },
    Preset {
        id: "routing",
        title: "Tutorial 4: Routing",
        description: "A direct exchange routes each log by severity to the queues bound for it.",
        text: include_str!("../www/presets/routing.json"),
    },
    Preset {
        id: "topics",
        title: "Tutorial 5: Topics",
        description: "`*` matches one word, `#` any number, and a queue gets one copy however many bindings match.",
        text: include_str!("../www/presets/topics.json"),
    },
    Preset {
        id: "rpc",
        title: "Tutorial 6: RPC",
        description: "Requests carry reply_to and correlation_id; answers come back on the client's exclusive queue.",
        text: include_str!("../www/presets/rpc.json"),
    },
    Preset {
        id: "dead-lettering",
        title: "Dead-lettering a rejected message",
        description: "A message rejected without requeue goes to the dead-letter exchange with an x-death header.",
        text: include_str!("../www/presets/dead-lettering.json"),
    },
    Preset {
        id: "ttl",
        title: "Message TTL: per queue and per message",
        description: "Expired messages are dead-lettered; per-message and per-queue TTL, the lower wins.",
        text: include_str!("../www/presets/ttl.json"),
    },
    Preset {
        id: "max-length",
        title: "Max length: drop the oldest or refuse the newest",
        description: "drop-head drops the oldest; reject-publish refuses the newest and nacks it to a confirming publisher.",
        text: include_str!("../www/presets/max-length.json"),
    },
    Preset {
        id: "publisher-confirms",
        title: "Publisher confirms",
        description: "The broker acks each publish by sequence number, a mandatory unroutable one after its return.",
        text: include_str!("../www/presets/publisher-confirms.json"),
    },
    Preset {
        id: "broker-restart",
        title: "Broker restart: durable and transient",
        description: "Durable queues keep persistent messages across a restart; transient queues and messages are lost.",
        text: include_str!("../www/presets/broker-restart.json"),
    },
];

/// The preset with this id.
pub fn find(id: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.id == id)
}
