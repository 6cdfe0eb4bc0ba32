//! The inspector: everything about what the reader selected, at the cursor, including what the
//! durable image (IndexedDB, when persistence is on) holds and what lives only in memory.

use yew::prelude::*;

use crate::engine::state::{BrokerState, ChannelState, MessageState};
use crate::engine::store::DurableImage;
use crate::scenario::Name;
use crate::view::layout::{exchange_label, Layout, Place, Target};

/// A `(field, value)` row.
fn row(field: &str, value: impl Into<String>) -> Html {
    html! { <><dt>{ field.to_owned() }</dt><dd>{ value.into() }</dd></> }
}

fn yes_no(v: bool) -> &'static str {
    if v {
        "yes"
    } else {
        "no"
    }
}

/// Where the durable image would be kept, as the reader sees it.
fn storage_place(persistence: bool) -> &'static str {
    if persistence {
        "stored in IndexedDB (survives a restart and a reload)"
    } else {
        "in the durable image (survives broker.restart; persistence to IndexedDB is off)"
    }
}

/// The inspector for `selection` after `state`; a hint when nothing is selected.
pub fn inspector(
    selection: Option<&Target>,
    state: &BrokerState,
    layout: &Layout,
    image: &DurableImage,
    persistence: bool,
    on_close: Callback<MouseEvent>,
) -> Html {
    let Some(target) = selection else {
        return html! {
            <section class="inspector" aria-label="Inspector">
                <h2>{ "Inspector" }</h2>
                <p class="hint">{ "Click (or Tab to and press Enter on) a queue, message, channel, consumer or exchange to see its state." }</p>
            </section>
        };
    };
    let (title, body) = match target {
        Target::Exchange(name) => (
            format!("Exchange {}", exchange_label(name)),
            exchange(name, state, image, persistence),
        ),
        Target::Queue(name) => (
            format!("Queue {name}"),
            queue(name, state, image, persistence),
        ),
        Target::Channel(name) => (format!("Channel {name}"), channel(name, state)),
        Target::Consumer { channel, tag } => {
            (format!("Consumer {tag}"), consumer(channel, tag, state))
        }
        Target::Message(seq) => (
            format!("Message #{seq}"),
            message(*seq, state, layout, persistence),
        ),
    };
    html! {
        <section class="inspector" aria-label="Inspector">
            <div class="inspector-head">
                <h2>{ title }</h2>
                <button class="close" onclick={on_close} aria-label="Close the inspector">{ "×" }</button>
            </div>
            { body }
        </section>
    }
}

fn gone(what: &str) -> Html {
    html! { <p class="hint">{ format!("No {what} by that name at this step.") }</p> }
}

fn exchange(name: &Name, state: &BrokerState, image: &DurableImage, persistence: bool) -> Html {
    let Some(x) = state.exchanges.iter().find(|x| x.name == *name) else {
        return gone("exchange");
    };
    let stored =
        image.exchanges.contains_key(name) || x.name.is_empty() || x.name.starts_with("amq.");
    let bindings = x.bindings.iter().map(|b| {
        html! {
            <li>{ format!("→ {} key {:?}{}", b.destination, b.routing_key,
                if b.arguments.is_empty() { String::new() } else { format!(" args {}", serde_json::Value::Object(b.arguments.clone())) }) }</li>
        }
    });
    html! {
        <>
            <dl>
                { row("type", x.kind.as_str()) }
                { row("durable", yes_no(x.durable)) }
                { row("auto-delete", yes_no(x.auto_delete)) }
                { row("internal", yes_no(x.internal)) }
                { row("alternate exchange", x.alternate_exchange.as_deref().unwrap_or("none")) }
                { row("storage", if x.durable && stored { storage_place(persistence) } else { "memory only (lost on restart)" }) }
            </dl>
            <h3>{ format!("Bindings ({})", x.bindings.len()) }</h3>
            if x.name.is_empty() { <p class="hint">{ "The default exchange routes to the queue named by the routing key." }</p> }
            <ul class="plain">{ for bindings }</ul>
        </>
    }
}

fn queue(name: &Name, state: &BrokerState, image: &DurableImage, persistence: bool) -> Html {
    let Some(q) = state.queues.iter().find(|q| q.name == *name) else {
        return gone("queue");
    };
    let a = &q.arguments;
    let ms = |v: Option<i64>| v.map_or("none".to_owned(), |v| format!("{v} ms"));
    let stored_messages = image.messages.get(name).map_or(0, |m| m.len());
    let storage = if image.queues.contains_key(name) {
        format!(
            "{}; {stored_messages} persistent message(s) stored, {} only in memory",
            storage_place(persistence),
            (q.ready.len() + q.unacked).saturating_sub(stored_messages)
        )
    } else {
        "memory only: the queue and its messages are lost on restart".to_owned()
    };
    let consumers = q.consumers.iter().map(|c| {
        html! { <li>{ format!("{} on {}{}", c.consumer_tag, c.channel, if c.blocked { " (prefetch full)" } else { "" }) }</li> }
    });
    let ready = q.ready.iter().take(50).map(|m| {
        html! { <li>{ format!("#{} {:?}{}", m.seq, m.body, if m.redelivered { " (redelivered)" } else { "" }) }</li> }
    });
    html! {
        <>
            <dl>
                { row("ready", format!("{} ({} bytes)", q.ready.len(), q.ready_bytes)) }
                { row("unacked", q.unacked.to_string()) }
                { row("durable", yes_no(q.durable)) }
                { row("exclusive to", q.exclusive_owner.as_deref().unwrap_or("nobody")) }
                { row("auto-delete", yes_no(q.auto_delete)) }
                { row("message TTL", ms(a.message_ttl)) }
                { row("expires", match (a.expires, q.expires_at) {
                    (Some(e), Some(at)) => format!("{e} ms idle (in {} ms)", at.saturating_sub(state.now)),
                    (Some(e), None) => format!("{e} ms idle (in use)"),
                    _ => "never".to_owned(),
                }) }
                { row("max length", a.max_length.map_or("none".to_owned(), |v| v.to_string())) }
                { row("max length bytes", a.max_length_bytes.map_or("none".to_owned(), |v| v.to_string())) }
                { row("overflow", a.overflow.map_or("drop-head", |o| o.as_str())) }
                { row("dead-letter exchange", a.dead_letter_exchange.as_deref().map_or("none".to_owned(), |x| exchange_label(x).to_owned())) }
                { row("dead-letter key", a.dead_letter_routing_key.as_deref().unwrap_or("the message's own")) }
                { row("max priority", a.max_priority.map_or("none".to_owned(), |v| v.to_string())) }
                { row("storage", storage) }
            </dl>
            <h3>{ format!("Consumers ({})", q.consumers.len()) }</h3>
            <ul class="plain">{ for consumers }</ul>
            <h3>{ "Ready, head first" }</h3>
            <ol class="plain">{ for ready }</ol>
            if q.ready.len() > 50 { <p class="hint">{ format!("and {} more", q.ready.len() - 50) }</p> }
        </>
    }
}

fn find_channel<'a>(name: &Name, state: &'a BrokerState) -> Option<&'a ChannelState> {
    state.channels.iter().find(|c| c.name == *name)
}

fn channel(name: &Name, state: &BrokerState) -> Html {
    let Some(c) = find_channel(name, state) else {
        return gone("channel");
    };
    let tx = c.tx.as_ref().map(|tx| {
        let publishes = tx.publishes.iter().map(|p| {
            html! { <li>{ format!("publish {:?} to {} key {:?} → {}", p.body, exchange_label(&p.exchange), p.routing_key,
                if p.queues.is_empty() { "unroutable".to_owned() } else { p.queues.join(", ") }) }</li> }
        });
        let settles = tx.settles.iter().map(|s| {
            html! { <li>{ format!("{} tags {:?}", s.kind, s.delivery_tags) }</li> }
        });
        html! {
            <>
                <h3>{ "Transaction buffer (until commit)" }</h3>
                if tx.publishes.is_empty() && tx.settles.is_empty() { <p class="hint">{ "empty" }</p> }
                <ul class="plain">{ for publishes }{ for settles }</ul>
            </>
        }
    });
    let unacked = c.unacked.iter().map(|u| {
        html! { <li>{ format!("tag {} from {} {:?}{}", u.delivery_tag, u.queue, u.message.body,
            u.consumer_tag.as_ref().map(|t| format!(" ({t})")).unwrap_or_else(|| " (get)".to_owned())) }</li> }
    });
    html! {
        <>
            <dl>
                { row("connection", c.connection.to_string()) }
                { row("open", yes_no(c.open)) }
                { row("mode", c.mode) }
                { row("next delivery tag", c.next_delivery_tag.to_string()) }
                if let Some(t) = c.next_publish_tag { { row("next publish tag (confirms)", t.to_string()) } }
                { row("prefetch (per consumer)", c.consumer_prefetch.to_string()) }
                { row("prefetch (channel)", c.channel_prefetch.to_string()) }
                { row("consumers", c.consumers.iter().map(|k| k.consumer_tag.to_string()).collect::<Vec<_>>().join(", ")) }
                { row("storage", "memory only: channels do not survive a restart") }
            </dl>
            { for tx }
            <h3>{ format!("Unacked ({})", c.unacked.len()) }</h3>
            <ul class="plain">{ for unacked }</ul>
        </>
    }
}

fn consumer(channel: &Name, tag: &Name, state: &BrokerState) -> Html {
    let Some(k) = find_channel(channel, state)
        .and_then(|c| c.consumers.iter().find(|k| k.consumer_tag == *tag))
    else {
        return gone("consumer");
    };
    let tags: Vec<String> = find_channel(channel, state)
        .into_iter()
        .flat_map(|c| &c.unacked)
        .filter(|u| u.consumer_tag.as_ref() == Some(tag))
        .map(|u| u.delivery_tag.to_string())
        .collect();
    html! {
        <dl>
            { row("channel", channel.to_string()) }
            { row("queue", k.queue.to_string()) }
            { row("acks", if k.no_ack { "automatic (no-ack)" } else { "manual" }) }
            { row("prefetch window", if k.prefetch == 0 { "unlimited".to_owned() } else { k.prefetch.to_string() }) }
            { row("unacked", format!("{} (tags {})", k.unacked, if tags.is_empty() { "none".to_owned() } else { tags.join(", ") })) }
        </dl>
    }
}

/// Where a message is now: ready in a queue, or unacked on a channel.
fn find_message(seq: u64, state: &BrokerState) -> Option<(&MessageState, String, Option<u64>)> {
    for q in &state.queues {
        if let Some((i, m)) = q.ready.iter().enumerate().find(|(_, m)| m.seq == seq) {
            return Some((m, format!("ready in {}, position {}", q.name, i + 1), None));
        }
    }
    for c in &state.channels {
        if let Some(u) = c.unacked.iter().find(|u| u.message.seq == seq) {
            return Some((
                &u.message,
                format!("unacked on channel {} (from {})", c.name, u.queue),
                Some(u.delivery_tag),
            ));
        }
    }
    None
}

fn message(seq: u64, state: &BrokerState, layout: &Layout, persistence: bool) -> Html {
    let Some((m, place, tag)) = find_message(seq, state) else {
        // A transaction's settle takes the message off the channel's unacked list; the
        // drawing still knows where it is.
        let held = layout.messages.iter().find_map(|slot| match &slot.place {
            Place::Settling {
                channel,
                delivery_tag,
            } if slot.seq == seq => Some(format!(
                "Delivered on channel {channel} with delivery tag {delivery_tag}; its {} is held \
                 by the channel's transaction: it takes effect at tx.commit and is discarded \
                 (the message is unacked again) at tx.rollback.",
                slot.pending.unwrap_or("settle")
            )),
            _ => None,
        });
        return html! {
            <p class="hint">{ held.unwrap_or_else(|| "Not in a queue at this step: acked, expired, dead-lettered or dropped.".to_owned()) }</p>
        };
    };
    let p = &m.properties;
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".to_owned());
    let headers = p
        .headers
        .as_ref()
        .map(|h| serde_json::to_string_pretty(h).unwrap_or_default());
    let ttl = m.expires_at.map_or("no TTL".to_owned(), |at| {
        format!("{} ms left", at.saturating_sub(state.now))
    });
    html! {
        <>
            <h3>{ "Body" }</h3>
            <pre class="body">{ m.body.to_string() }</pre>
            <dl>
                { row("where", place) }
                if let Some(tag) = tag { { row("delivery tag", tag.to_string()) } }
                { row("redelivered", yes_no(m.redelivered)) }
                { row("exchange", exchange_label(&m.exchange).to_owned()) }
                { row("routing key", m.routing_key.to_string()) }
                { row("remaining TTL", ttl) }
                { row("priority", m.priority.to_string()) }
                { row("delivery mode", match p.delivery_mode { Some(2) => "2 (persistent)".to_owned(), Some(v) => v.to_string(), None => "1 (transient)".to_owned() }) }
                { row("expiration", opt(&p.expiration)) }
                { row("message id", opt(&p.message_id)) }
                { row("correlation id", opt(&p.correlation_id)) }
                { row("reply to", opt(&p.reply_to)) }
                { row("content type", opt(&p.content_type)) }
                { row("storage", if m.persisted { storage_place(persistence) } else { "memory only (transient, or in a transient queue): lost on restart" }) }
            </dl>
            <h3>{ "Headers" }</h3>
            if let Some(h) = headers { <pre class="headers">{ h }</pre> } else { <p class="hint">{ "none" }</p> }
        </>
    }
}
