//! The topology drawing: hand-written SVG from a [`Layout`].
//!
//! Messages are one keyed `<g>` each, in `seq` order, whose CSS `transform` is their slot: when
//! a step moves a message (delivered, requeued) the same element gets a new transform and the
//! stylesheet's transition animates it. What left in the step is drawn once as a fading ghost.

use std::rc::Rc;

use yew::prelude::*;

use crate::view::layout::{EdgeKind, Layout, NodeKind, Place, Target, MSG_H, MSG_W};

#[derive(Debug, Clone, PartialEq, Properties)]
pub struct TopologyProps {
    pub layout: Rc<Layout>,
    /// Steps applied: keys ghosts, so that each step's ghosts animate afresh.
    pub position: usize,
    pub selection: Option<Target>,
    pub on_select: Callback<Target>,
}

/// A stable DOM key and `data-target` value for what a node or message stands for.
pub fn target_key(target: &Target) -> String {
    match target {
        Target::Exchange(name) => format!("exchange:{name}"),
        Target::Queue(name) => format!("queue:{name}"),
        Target::Channel(name) => format!("channel:{name}"),
        Target::Consumer { channel, tag } => format!("consumer:{channel}/{tag}"),
        Target::Message(seq) => format!("message:{seq}"),
    }
}

/// Click, Enter or Space selects; the key does not reach the app's own shortcuts.
fn selectable(
    target: &Target,
    on_select: &Callback<Target>,
) -> (Callback<MouseEvent>, Callback<KeyboardEvent>) {
    let click = {
        let (target, on_select) = (target.clone(), on_select.clone());
        Callback::from(move |_: MouseEvent| on_select.emit(target.clone()))
    };
    let key = {
        let (target, on_select) = (target.clone(), on_select.clone());
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Enter" || e.key() == " " {
                e.prevent_default();
                e.stop_propagation();
                on_select.emit(target.clone());
            }
        })
    };
    (click, key)
}

#[function_component(Topology)]
pub fn topology(props: &TopologyProps) -> Html {
    let layout = &props.layout;
    let height = layout.height;
    let width = layout.geometry.width;
    let headings = layout.geometry.columns.iter().map(|(x, _, name)| {
        html! { <text class="heading" x={x.to_string()} y="16">{ *name }</text> }
    });

    let edges =
        layout.edges.iter().map(|e| {
            let class = classes!(
                "edge",
                match e.kind {
                    EdgeKind::Publish => "publish",
                    EdgeKind::Binding => "binding",
                    EdgeKind::Implicit => "implicit",
                    EdgeKind::DeadLetter => "dead-letter",
                    EdgeKind::Alternate => "alternate",
                    EdgeKind::Consume => "consume",
                },
                e.hot.then_some("hot")
            );
            // Exchange-to-exchange and alternate edges start and end in one column: bow them out.
            let d = if e.x1 == e.x2 {
                let bow = if matches!(e.kind, EdgeKind::Alternate) {
                    -40
                } else {
                    40
                };
                format!(
                    "M{} {} C{} {} {} {} {} {}",
                    e.x1,
                    e.y1,
                    e.x1 + bow,
                    e.y1,
                    e.x2 + bow,
                    e.y2,
                    e.x2,
                    e.y2
                )
            } else {
                let mid = (e.x1 + e.x2) / 2;
                format!(
                    "M{} {} C{mid} {} {mid} {} {} {}",
                    e.x1, e.y1, e.y1, e.y2, e.x2, e.y2
                )
            };
            // Labels sit at the end where they cannot collide: a binding's at its queue (one row
            // each), a dead-letter edge's at its exchange.
            let label = e.label.as_ref().map(|l| {
            let (lx, ly, anchor) = match e.kind {
                _ if e.x1 == e.x2 => (
                    e.x1 + if matches!(e.kind, EdgeKind::Alternate) { -36 } else { 34 },
                    (e.y1 + e.y2) / 2,
                    "middle",
                ),
                EdgeKind::DeadLetter => (e.x2 + 4, e.y2 + 11, "start"),
                _ => (e.x2 - 4, e.y2 - 4, "end"),
            };
            html! {
                <text class="edge-label" x={lx.to_string()} y={ly.to_string()} text-anchor={anchor}>
                    { l.clone() }
                </text>
            }
        });
            html! {
                <g key={e.key.clone()} class={class}>
                    <path d={d} />
                    { for label }
                </g>
            }
        });

    let nodes = layout.nodes.iter().map(|n| {
        let key = target_key(&n.target);
        let kind = match n.kind {
            NodeKind::Producer => "producer",
            NodeKind::Exchange => "exchange",
            NodeKind::Queue => "queue",
            NodeKind::Consumer => "consumer",
            NodeKind::Getter => "getter",
            NodeKind::Settling => "settling",
        };
        // A channel can be a producer, a getter and a transaction's settles at once: the
        // kind keeps its elements apart.
        let dom_key = format!("{kind}/{key}");
        let selected = props.selection.as_ref() == Some(&n.target);
        let class = classes!(
            "node",
            kind,
            n.hot.then_some("hot"),
            n.dim.then_some("dim"),
            n.durable.then_some("durable"),
            selected.then_some("selected")
        );
        let (onclick, onkeydown) = selectable(&n.target, &props.on_select);
        let label = format!(
            "{kind} {}: {}{}",
            n.title,
            n.detail,
            if n.durable { ", durable" } else { "" }
        );
        let more = n.more.as_ref().map(|(x, y, t)| {
            html! { <text class="more" x={x.to_string()} y={y.to_string()}>{ t.clone() }</text> }
        });
        let rx = if n.kind == NodeKind::Exchange { "18" } else { "6" };
        let two_lines = matches!(n.kind, NodeKind::Producer | NodeKind::Exchange);
        html! {
            <g key={dom_key} class={class} data-target={key} tabindex="0" role="button"
               aria-label={label.clone()} aria-pressed={selected.to_string()} {onclick} {onkeydown}>
                <title>{ label }</title>
                <rect x={n.x.to_string()} y={n.y.to_string()} width={n.w.to_string()}
                      height={n.h.to_string()} rx={rx} />
                <text class="title" x={(n.x + 8).to_string()} y={(n.y + 15).to_string()}>{ n.title.clone() }</text>
                // Producers and exchanges are narrow: their detail goes on a second line.
                if two_lines {
                    <text class="detail" x={(n.x + 8).to_string()} y={(n.y + 29).to_string()}>{ n.detail.clone() }</text>
                } else {
                    <text class="detail" x={(n.x + n.w - 8).to_string()} y={(n.y + 15).to_string()}
                          text-anchor="end">{ n.detail.clone() }</text>
                }
                { for more }
            </g>
        }
    });

    let held = layout.held.iter().map(|h| {
        html! {
            <g key={h.key.clone()} class="held" style={format!("transform: translate({}px, {}px)", h.x, h.y)}>
                <title>{ format!("held by the transaction on {} until commit", h.channel) }</title>
                <rect width={MSG_W.to_string()} height={MSG_H.to_string()} rx="3" />
                <text x={(MSG_W / 2).to_string()} y="13" text-anchor="middle">{ h.label.clone() }</text>
            </g>
        }
    });

    let messages = layout.messages.iter().map(|m| {
        let target = Target::Message(m.seq);
        let selected = props.selection.as_ref() == Some(&target);
        let class = classes!(
            "msg",
            matches!(m.place, Place::Unacked { .. } | Place::Settling { .. }).then_some("unacked"),
            m.redelivered.then_some("redelivered"),
            m.persisted.then_some("persisted"),
            m.pending.map(|p| format!("pending-{p}")),
            m.hot.then_some("hot"),
            selected.then_some("selected")
        );
        let (onclick, onkeydown) = selectable(&target, &props.on_select);
        let where_ = match &m.place {
            Place::Ready { queue, index } => format!("ready in {queue}, position {}", index + 1),
            Place::Unacked { channel, delivery_tag } => {
                format!("unacked on {channel}, delivery tag {delivery_tag}")
            }
            Place::Settling {
                channel,
                delivery_tag,
            } => format!("delivery tag {delivery_tag} on {channel}"),
        };
        let label = format!(
            "message {}: {where_}{}{}",
            m.label,
            if m.redelivered { ", redelivered" } else { "" },
            m.pending.map(|p| format!(", {p} held until commit")).unwrap_or_default()
        );
        html! {
            <g key={m.seq.to_string()} class={class} data-target={target_key(&target)}
               style={format!("transform: translate({}px, {}px)", m.x, m.y)}
               tabindex="0" role="button" aria-label={label.clone()} aria-pressed={selected.to_string()}
               {onclick} {onkeydown}>
                <title>{ label }</title>
                // Animated once, when the element is made: the message arrives.
                <g class="msg-in">
                    <rect width={MSG_W.to_string()} height={MSG_H.to_string()} rx="3" />
                    <text x={(MSG_W / 2).to_string()} y="13" text-anchor="middle">{ m.label.clone() }</text>
                    if m.redelivered { <circle class="redelivered-mark" cx={MSG_W.to_string()} cy="0" r="4" /> }
                </g>
            </g>
        }
    });

    let ghosts = layout.ghosts.iter().enumerate().map(|(i, g)| {
        // One caption for a row of ghosts that left for the same reason.
        let captioned = !layout.ghosts[..i]
            .iter()
            .any(|o| o.reason == g.reason && o.y == g.y);
        // Below the ghost, where the box's title line is not; a publish bounced at an
        // exchange is outside any box, and reads better captioned above.
        let caption_y = if matches!(g.reason, "returned" | "unroutable") {
            "-3".to_owned()
        } else {
            (MSG_H + 10).to_string()
        };
        html! {
            <g key={format!("{}@{}", g.key, props.position)} class={classes!("ghost", g.reason)}
               style={format!("transform: translate({}px, {}px)", g.x, g.y)} aria-hidden="true">
                <g class="ghost-in">
                    <rect width={MSG_W.to_string()} height={MSG_H.to_string()} rx="3" />
                    <text x={(MSG_W / 2).to_string()} y="13" text-anchor="middle">{ g.label.clone() }</text>
                    if captioned { <text class="reason" x="0" y={caption_y}>{ g.reason }</text> }
                </g>
            </g>
        }
    });

    let badges = layout.badges.iter().map(|b| {
        html! {
            <text key={format!("{},{}@{}", b.x, b.y, props.position)} class={classes!("badge", b.kind)}
                  x={b.x.to_string()} y={b.y.to_string()}>{ b.text.clone() }</text>
        }
    });

    html! {
        <svg class="topology" viewBox={format!("0 0 {width} {height}")} role="group"
             aria-label={format!("Topology after step {}", props.position)}
             preserveAspectRatio="xMinYMin meet">
            <g class="headings">{ for headings }</g>
            <g class="edges">{ for edges }</g>
            <g class="nodes">{ for nodes }</g>
            <g class="held-publishes">{ for held }</g>
            <g class="messages">
                { for messages }
                // Yew 0.21 diffs a keyed list whose last keys match as if it were unkeyed,
                // which hands a message's element to its neighbour when one before it leaves
                // (and its move would not animate). A last key that changes with the step keeps
                // the keyed diff.
                <g key={format!("end@{}", props.position)} />
            </g>
            <g class="ghosts">{ for ghosts }</g>
            <g class="badges" aria-live="polite">{ for badges }</g>
        </svg>
    }
}
