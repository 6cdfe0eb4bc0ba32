//! Small SVG charts over the steps: ready messages and unacked deliveries per queue, and the
//! messages published, delivered and acked at each step. The cursor is a vertical line; a
//! click (or the arrow keys) on a chart seeks there.

use std::rc::Rc;

use yew::prelude::*;

use crate::view::series::{decimate, Series};

#[derive(Debug, Clone, PartialEq, Properties)]
pub struct PlotsProps {
    pub series: Rc<Series>,
    /// Steps applied: where the cursor line is drawn.
    pub position: usize,
    /// A click on a chart jumps to that step.
    pub on_seek: Callback<usize>,
}

/// The drawing's coordinate box; CSS sizes the SVG and the lines keep their width.
const WIDTH: f64 = 300.0;
const HEIGHT: f64 = 60.0;
/// Points per line at most: a long timeline is sampled, keeping peaks.
pub const MAX_POINTS: usize = 300;
/// Queues drawn at most (those with the highest peaks); the legend says how many are left out.
pub const MAX_QUEUES: usize = 8;

const COLORS: [&str; MAX_QUEUES] = [
    "#ff6600", "#1f77b4", "#2ca02c", "#9467bd", "#d62728", "#8c564b", "#e377c2", "#17becf",
];

/// One line of a chart: its values at positions `0..=len`.
struct Line {
    label: String,
    color: &'static str,
    values: Vec<u32>,
}

#[function_component(Plots)]
pub fn plots(props: &PlotsProps) -> Html {
    let series = &props.series;
    let shown = use_memo(props.series.clone(), |s| {
        let mut order: Vec<usize> = (0..s.queues.len()).collect();
        let peak = |i: &usize| {
            let q = &s.queues[*i];
            q.ready.iter().chain(&q.unacked).copied().max().unwrap_or(0)
        };
        order.sort_by_key(|i| std::cmp::Reverse(peak(i)));
        order.truncate(MAX_QUEUES);
        order.sort_unstable();
        order
    });
    if series.len == 0 {
        return html! { <div class="plots"><p class="empty">{ "No steps to plot yet." }</p></div> };
    }
    let hidden = series.queues.len() - shown.len();
    let queue_lines = |pick: fn(&crate::view::series::QueueSeries) -> &Vec<u32>| -> Vec<Line> {
        shown
            .iter()
            .enumerate()
            .map(|(k, &i)| Line {
                label: series.queues[i].name.to_string(),
                color: COLORS[k % COLORS.len()],
                values: pick(&series.queues[i]).clone(),
            })
            .collect()
    };
    // A step's rate is drawn at the position after it.
    let rate = |per_step: &[u32]| -> Vec<u32> {
        std::iter::once(0).chain(per_step.iter().copied()).collect()
    };
    let rates = vec![
        Line {
            label: "published".into(),
            color: COLORS[0],
            values: rate(&series.published),
        },
        Line {
            label: "delivered".into(),
            color: COLORS[1],
            values: rate(&series.delivered),
        },
        Line {
            label: "acked".into(),
            color: COLORS[2],
            values: rate(&series.acked),
        },
    ];
    html! {
        <div class="plots">
            { chart("Ready messages", queue_lines(|q| &q.ready), hidden, props) }
            { chart("Unacked deliveries", queue_lines(|q| &q.unacked), hidden, props) }
            { chart("Messages per step", rates, 0, props) }
        </div>
    }
}

fn chart(title: &str, lines: Vec<Line>, hidden: usize, props: &PlotsProps) -> Html {
    let len = props.series.len;
    let position = props.position.min(len);
    let max = lines
        .iter()
        .flat_map(|l| l.values.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let x = |i: usize| i as f64 * WIDTH / len as f64;
    let y = |v: u32| HEIGHT - 1.0 - f64::from(v) * (HEIGHT - 2.0) / f64::from(max);
    let paths: Html = lines
        .iter()
        .map(|line| {
            let points = decimate(line.values.len(), MAX_POINTS, |i| line.values[i]);
            html! {
                <path
                    class="line"
                    d={step_path(&points, &line.values, x, y)}
                    stroke={line.color}
                    fill="none"
                    vector-effect="non-scaling-stroke"
                >
                    <title>{ line.label.clone() }</title>
                </path>
            }
        })
        .collect();
    let legend: Html = lines
        .iter()
        .map(|line| {
            html! {
                <li>
                    <span class="swatch" style={format!("background:{}", line.color)} />
                    <span class="label">{ line.label.clone() }</span>
                    <span class="value">{ line.values.get(position).copied().unwrap_or(0) }</span>
                </li>
            }
        })
        .collect();

    let onclick = {
        let on_seek = props.on_seek.clone();
        Callback::from(move |e: MouseEvent| {
            let Some(target) = e.current_target() else {
                return;
            };
            let Ok(element) = wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(target) else {
                return;
            };
            let rect = element.get_bounding_client_rect();
            if rect.width() <= 0.0 {
                return;
            }
            let fraction = ((f64::from(e.client_x()) - rect.left()) / rect.width()).clamp(0.0, 1.0);
            on_seek.emit((fraction * len as f64).round() as usize);
        })
    };
    let onkeydown = {
        let on_seek = props.on_seek.clone();
        Callback::from(move |e: KeyboardEvent| {
            let to = match e.key().as_str() {
                "ArrowLeft" => position.saturating_sub(1),
                "ArrowRight" => (position + 1).min(len),
                "Home" => 0,
                "End" => len,
                _ => return,
            };
            e.prevent_default();
            on_seek.emit(to);
        })
    };
    html! {
        <figure class="plot">
            <figcaption>{ title.to_owned() }</figcaption>
            <svg
                viewBox={format!("0 0 {WIDTH} {HEIGHT}")}
                preserveAspectRatio="none"
                role="slider"
                tabindex="0"
                aria-label={format!("{title}: click to go to a step")}
                aria-valuemin="0"
                aria-valuemax={len.to_string()}
                aria-valuenow={position.to_string()}
                {onclick}
                {onkeydown}
            >
                <line class="axis" x1="0" x2={WIDTH.to_string()} y1={(HEIGHT - 0.5).to_string()}
                    y2={(HEIGHT - 0.5).to_string()} vector-effect="non-scaling-stroke" />
                { paths }
                <line class="cursor" x1={x(position).to_string()} x2={x(position).to_string()}
                    y1="0" y2={HEIGHT.to_string()} vector-effect="non-scaling-stroke" />
            </svg>
            <ul class="legend">
                <li class="scale">{ format!("max {max}") }</li>
                { legend }
                if hidden > 0 {
                    <li class="more">{ format!("+{hidden} more queues") }</li>
                }
            </ul>
        </figure>
    }
}

/// A step line through the sampled points: each value holds until the next sample.
fn step_path(
    points: &[usize],
    values: &[u32],
    x: impl Fn(usize) -> f64,
    y: impl Fn(u32) -> f64,
) -> String {
    let mut d = String::new();
    for (k, &i) in points.iter().enumerate() {
        let (px, py) = (x(i), y(values[i]));
        if k == 0 {
            d.push_str(&format!("M{px:.2} {py:.2}"));
        } else {
            d.push_str(&format!("H{px:.2}V{py:.2}"));
        }
    }
    d
}
