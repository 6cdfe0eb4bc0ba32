//! Steps and events in a line of text each, as the timeline lists them.

use crate::scenario::{Op, Step};
use crate::trace::Event;

use super::layout::{exchange_label, short};

/// A step as a reader would say it: `app: publish "order #1" to (default) key task_queue`.
pub fn step_summary(step: &Step) -> String {
    let what = match &step.op {
        Op::ExchangeDeclare { exchange, kind, .. } => {
            format!("declare exchange {exchange} ({})", kind.as_str())
        }
        Op::ExchangeDelete { exchange, .. } => format!("delete exchange {exchange}"),
        Op::ExchangeBind {
            destination,
            source,
            routing_key,
            ..
        } => format!("bind exchange {destination} to {source} key {routing_key:?}"),
        Op::ExchangeUnbind {
            destination,
            source,
            routing_key,
            ..
        } => format!("unbind exchange {destination} from {source} key {routing_key:?}"),
        Op::QueueDeclare { queue, .. } if queue.is_empty() => "declare a server-named queue".into(),
        Op::QueueDeclare { queue, .. } => format!("declare queue {queue}"),
        Op::QueueBind {
            queue,
            exchange,
            routing_key,
            ..
        } => format!(
            "bind queue {queue} to {} key {routing_key:?}",
            exchange_label(exchange)
        ),
        Op::QueueUnbind {
            queue,
            exchange,
            routing_key,
            ..
        } => format!(
            "unbind queue {queue} from {} key {routing_key:?}",
            exchange_label(exchange)
        ),
        Op::QueuePurge { queue } => format!("purge {queue}"),
        Op::QueueDelete { queue, .. } => format!("delete queue {queue}"),
        Op::BasicQos {
            prefetch_count,
            global,
        } => format!(
            "prefetch {prefetch_count}{}",
            if *global { " (channel)" } else { "" }
        ),
        Op::BasicConsume {
            queue,
            consumer_tag,
            no_ack,
            ..
        } => format!(
            "consume {queue}{}{}",
            consumer_tag
                .as_ref()
                .map(|t| format!(" as {t}"))
                .unwrap_or_default(),
            if *no_ack { " (no-ack)" } else { "" }
        ),
        Op::BasicCancel { consumer_tag } => format!("cancel {consumer_tag}"),
        Op::BasicPublish {
            exchange,
            routing_key,
            body,
            mandatory,
            ..
        } => format!(
            "publish {:?} to {} key {routing_key:?}{}",
            short(body, 24),
            exchange_label(exchange),
            if *mandatory { " (mandatory)" } else { "" }
        ),
        Op::BasicGet { queue, no_ack } => {
            format!("get from {queue}{}", if *no_ack { " (no-ack)" } else { "" })
        }
        Op::BasicAck {
            delivery_tag,
            multiple,
        } => format!("ack {delivery_tag}{}", multiple_text(*multiple)),
        Op::BasicNack {
            delivery_tag,
            multiple,
            requeue,
        } => format!(
            "nack {delivery_tag}{}{}",
            multiple_text(*multiple),
            requeue_text(*requeue)
        ),
        Op::BasicReject {
            delivery_tag,
            requeue,
        } => format!("reject {delivery_tag}{}", requeue_text(*requeue)),
        Op::BasicRecover { requeue } => format!("recover{}", requeue_text(*requeue)),
        Op::TxSelect => "start a transaction".into(),
        Op::TxCommit => "commit".into(),
        Op::TxRollback => "roll back".into(),
        Op::ConfirmSelect => "turn on publisher confirms".into(),
        Op::ChannelOpen { connection } => format!("open on connection {connection}"),
        Op::ChannelClose => "close the channel".into(),
        Op::ConnectionClose { connection } => return format!("close connection {connection}"),
        Op::BrokerRestart => return "restart the broker".into(),
        Op::ClockAdvance { ms } => return format!("advance the clock {ms} ms"),
    };
    format!("{}: {what}", step.channel)
}

fn multiple_text(multiple: bool) -> &'static str {
    if multiple {
        " and all before it"
    } else {
        ""
    }
}

fn requeue_text(requeue: bool) -> &'static str {
    if requeue {
        ", requeue"
    } else {
        ", no requeue"
    }
}

/// The fields of an event worth seeing at a glance, as `key=value` pairs.
pub fn key_fields(event: &Event) -> String {
    match event {
        Event::QueueDeclareOk {
            queue,
            message_count,
            consumer_count,
        } => format!("queue={queue} messages={message_count} consumers={consumer_count}"),
        Event::ConsumeOk {
            channel,
            consumer_tag,
        }
        | Event::Cancel {
            channel,
            consumer_tag,
        } => format!("channel={channel} consumer_tag={consumer_tag}"),
        Event::Deliver {
            channel,
            consumer_tag,
            delivery_tag,
            redelivered,
            routing_key,
            body,
            ..
        } => format!(
            "channel={channel} consumer_tag={consumer_tag} delivery_tag={delivery_tag} \
             redelivered={redelivered} routing_key={routing_key} body={body:?}"
        ),
        Event::GetOk {
            channel,
            delivery_tag,
            redelivered,
            routing_key,
            body,
            message_count,
            ..
        } => format!(
            "channel={channel} delivery_tag={delivery_tag} redelivered={redelivered} \
             routing_key={routing_key} body={body:?} messages={message_count}"
        ),
        Event::GetEmpty { channel } => format!("channel={channel}"),
        Event::Return {
            channel,
            reply_code,
            reply_text,
            routing_key,
            body,
            ..
        } => format!(
            "channel={channel} {reply_code} {reply_text} routing_key={routing_key} body={body:?}"
        ),
        Event::ConfirmAck {
            channel,
            delivery_tag,
            multiple,
        }
        | Event::ConfirmNack {
            channel,
            delivery_tag,
            multiple,
        } => format!("channel={channel} delivery_tag={delivery_tag} multiple={multiple}"),
        Event::PurgeOk {
            queue,
            message_count,
        }
        | Event::DeleteOk {
            queue,
            message_count,
        } => format!("queue={queue} messages={message_count}"),
        Event::ChannelClose {
            channel,
            reply_code,
            reply_text,
        } => format!("channel={channel} {reply_code} {reply_text}"),
        Event::ConnectionClose {
            connection,
            reply_code,
            reply_text,
        } => format!("connection={connection} {reply_code} {reply_text}"),
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::scenario::{parse, Limits};

    #[test]
    fn every_step_reads_as_a_sentence() {
        let scenario = parse(
            r#"{"format":"queue-playground/v1","name":"d","steps":[
                {"op":"exchange.declare","exchange":"logs","type":"fanout"},
                {"op":"queue.declare","queue":""},
                {"op":"queue.bind","queue":"q","exchange":"logs","routing_key":"k"},
                {"op":"basic.qos","channel":"w","prefetch_count":2},
                {"op":"basic.consume","channel":"w","queue":"q","consumer_tag":"c1"},
                {"op":"basic.publish","channel":"p","routing_key":"q","body":"a rather long body that goes on","mandatory":true},
                {"op":"basic.nack","channel":"w","delivery_tag":3,"multiple":true,"requeue":true},
                {"op":"basic.reject","channel":"w","delivery_tag":1,"requeue":false},
                {"op":"tx.select","channel":"p"},
                {"op":"clock.advance","ms":1500},
                {"op":"broker.restart"}
            ]}"#,
            &Limits::default(),
        )
        .unwrap();
        let lines: Vec<String> = scenario.steps.iter().map(step_summary).collect();
        expect![[r#"
            main: declare exchange logs (fanout)
            main: declare a server-named queue
            main: bind queue q to logs key "k"
            w: prefetch 2
            w: consume q as c1
            p: publish "a rather long body that …" to (default) key "q" (mandatory)
            w: nack 3 and all before it, requeue
            w: reject 1, no requeue
            p: start a transaction
            advance the clock 1500 ms
            restart the broker"#]]
        .assert_eq(&lines.join("\n"));
    }
}
