//! A timeline drawn as an SVG bar chart, small enough to embed in a README or a
//! dashboard: axes, a label at each end, a `<title>` per bar, light and dark.
//!
//! Written by hand: the chart is a handful of fixed elements whose text is numbers and
//! dates, and an SVG crate would add a dependency for string formatting.

use std::fmt::Write;

use chrono::NaiveDate;

use crate::model::timeline::{Interval, Timeline};

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 22.0;
const BOTTOM: f64 = 26.0;

/// The chart of `timeline` (of buckets `interval` wide), captioned `what` (e.g.
/// "Events tagged ai").
pub fn svg(timeline: &Timeline, interval: Interval, what: &str) -> String {
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let max = timeline.buckets.iter().map(|b| b.count).max().unwrap_or(0);
    let unit = interval.as_str();
    let caption = match (timeline.from, timeline.to) {
        (Some(from), Some(to)) => format!(
            "{what} per {unit}, {from} to {to}: {} in all",
            timeline.total
        ),
        _ => format!("{what} per {unit}: none"),
    };
    let mut out = String::with_capacity(512 + timeline.buckets.len() * 120);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" aria-label=\"{caption}\">\
         <title>{caption}</title>\
         <style>rect{{fill:#2563eb}}text{{fill:#1f2937;font:11px system-ui,sans-serif}}\
         line{{stroke:#9ca3af;stroke-width:1}}.bg{{fill:#fff}}\
         @media (prefers-color-scheme:dark){{rect{{fill:#60a5fa}}text{{fill:#e5e7eb}}\
         line{{stroke:#6b7280}}.bg{{fill:#111827}}}}</style>\
         <rect class=\"bg\" x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{HEIGHT}\"/>\
         <text x=\"{LEFT}\" y=\"14\">{heading}</text>",
        caption = escape(&caption),
        heading = escape(&format!("{what} per {unit}")),
    );
    // Axes: the baseline and the count scale.
    let base = TOP + plot_height;
    let _ = write!(
        out,
        "<line x1=\"{LEFT}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\"/>\
         <line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{base}\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{max}</text>\
         <text x=\"{}\" y=\"{base}\" text-anchor=\"end\">0</text>",
        WIDTH - RIGHT,
        LEFT - 4.0,
        TOP + 8.0,
        LEFT - 4.0,
    );
    let n = timeline.buckets.len().max(1) as f64;
    let step = plot_width / n;
    let gap = if step > 4.0 { 1.0 } else { 0.0 };
    for (i, bucket) in timeline.buckets.iter().enumerate() {
        let height = if max > 0 {
            plot_height * bucket.count as f64 / max as f64
        } else {
            0.0
        };
        let x = LEFT + step * i as f64;
        let _ = write!(
            out,
            "<rect x=\"{x:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{height:.2}\">\
             <title>{}: {} {}</title></rect>",
            base - height,
            (step - gap).max(0.5),
            label(interval, bucket.start),
            bucket.count,
            if bucket.count == 1 { "event" } else { "events" },
        );
    }
    // The first and last bucket's dates under the axis.
    if let (Some(first), Some(last)) = (timeline.buckets.first(), timeline.buckets.last()) {
        let y = base + 16.0;
        let _ = write!(
            out,
            "<text x=\"{LEFT}\" y=\"{y}\">{}</text>",
            label(interval, first.start)
        );
        if timeline.buckets.len() > 1 {
            let _ = write!(
                out,
                "<text x=\"{}\" y=\"{y}\" text-anchor=\"end\">{}</text>",
                WIDTH - RIGHT,
                label(interval, last.start)
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// A bucket's label: its first day, or the year and month, or the year.
fn label(interval: Interval, start: NaiveDate) -> String {
    match interval {
        Interval::Day | Interval::Week => start.to_string(),
        Interval::Month | Interval::Quarter => start.format("%Y-%m").to_string(),
        Interval::Year => start.format("%Y").to_string(),
    }
}

/// Escapes text for XML content and attributes.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
