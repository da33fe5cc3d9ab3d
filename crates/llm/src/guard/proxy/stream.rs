//! A streamed reply through the guard: each event is read into the reply's fields
//! ([`ResponseFields`]) and every choice is checked again; events are held back until the
//! choices they touched have grown [`HOLD_BACK`] characters past them, so a secret is caught
//! before its last characters leave. A block ends the stream with one event that withholds
//! every choice, naming the detectors and nothing they found.

use std::io::BufRead;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde_json::{json, Value};

use crate::sse::EventWriter;

use super::{
    check_fields, logged, now_s, public, Mode, Placed, Protected, ResponseFields, Shared, HOLD_BACK,
};

/// Where a held event reaches: for each field group it touched (a choice, or `None` for the
/// rest of the event), the group's length once the event was in.
struct Held {
    event: String,
    ends: Vec<(Option<u64>, usize)>,
}

fn length(fields: &ResponseFields, group: Option<u64>) -> usize {
    match group {
        Some(i) => fields.choices.get(&i).map_or(0, |f| f.chars()),
        None => fields.rest.chars(),
    }
}

pub(super) fn reply(
    request: tiny_http::Request,
    s: &Shared,
    resp: ureq::http::Response<ureq::Body>,
    protect: &Protected,
    id: u64,
    input_verdict: &str,
) {
    let mut client = EventWriter::start(
        request,
        &[("x-aisec-guard", &format!("input-{input_verdict}"))],
    );
    let mut fields = ResponseFields::default();
    let mut held: Vec<Held> = Vec::new();
    let mut blocked: Vec<Placed> = Vec::new();
    let mut flagged: Vec<Placed> = Vec::new();
    let mut micros = 0.0;
    let mut data = String::new();
    let mut done = false;
    let mut body = resp.into_body();
    let reader = std::io::BufReader::new(body.as_reader());
    for line in reader.lines() {
        let Ok(line) = line else { break };
        if let Some(d) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(d.strip_prefix(' ').unwrap_or(d));
            continue;
        }
        if !line.is_empty() || data.is_empty() {
            continue;
        }
        let event = std::mem::take(&mut data);
        if event.trim() == "[DONE]" {
            done = true;
            break;
        }
        // The groups this event added text to; an event that added none (a role, a finish
        // reason) holds nothing back by itself.
        let before: Vec<(Option<u64>, usize)> = fields
            .choices
            .keys()
            .map(|i| (Some(*i), length(&fields, Some(*i))))
            .chain(std::iter::once((None, fields.rest.chars())))
            .collect();
        fields.absorb_text(&event);
        let touched: Vec<Option<u64>> = fields
            .choices
            .keys()
            .map(|i| Some(*i))
            .chain(std::iter::once(None))
            .filter(|g| {
                let was = before.iter().find(|(b, _)| b == g).map_or(0, |(_, n)| *n);
                length(&fields, *g) > was
            })
            .collect();
        let started = Instant::now();
        let findings = check_fields(&fields, protect);
        micros += started.elapsed().as_secs_f64() * 1e6;
        if !findings.is_empty() && s.config.mode == Mode::Block {
            blocked = findings;
            break;
        }
        if !findings.is_empty() && flagged.is_empty() {
            flagged = findings;
        }
        let ends = touched
            .into_iter()
            .map(|g| (g, length(&fields, g)))
            .collect();
        held.push(Held { event, ends });
        if s.config.mode == Mode::Flag {
            for h in held.drain(..) {
                client.event(&h.event);
            }
            continue;
        }
        let release = held
            .iter()
            .take_while(|h| {
                h.ends
                    .iter()
                    .all(|(g, end)| length(&fields, *g) >= end + HOLD_BACK)
            })
            .count();
        for h in held.drain(..release) {
            client.event(&h.event);
        }
    }
    s.time(micros);
    let decision = if !blocked.is_empty() {
        s.stats.blocked_replies.fetch_add(1, Ordering::Relaxed);
        s.stats.flagged.fetch_add(1, Ordering::Relaxed);
        let mut indices: Vec<u64> = fields.choices.keys().copied().collect();
        if indices.is_empty() {
            indices.push(0);
        }
        let choices: Vec<Value> = indices
            .into_iter()
            .map(|i| json!({"index": i, "delta": {}, "finish_reason": "content_filter"}))
            .collect();
        let stop = json!({"id": format!("aisec-guard-{id}"), "object": "chat.completion.chunk",
            "choices": choices,
            "aisec_guard": {"blocked": true, "request": id, "findings": public(&blocked)}});
        client.event(&stop.to_string());
        client.event("[DONE]");
        "block"
    } else {
        for h in held.drain(..) {
            client.event(&h.event);
        }
        let verdict = if flagged.is_empty() {
            "pass".to_string()
        } else {
            s.stats.flagged.fetch_add(1, Ordering::Relaxed);
            let detectors: Vec<&str> = flagged.iter().map(|(_, f)| f.detector).collect();
            format!("flagged {}", detectors.join(","))
        };
        client.raw(&format!(": aisec-guard {verdict}\n\n"));
        if done {
            client.event("[DONE]");
        }
        if flagged.is_empty() {
            "pass"
        } else {
            "flag"
        }
    };
    s.log(
        json!({"time": now_s(), "id": id, "direction": "reply", "decision": decision,
        "streamed": true, "complete": done || decision == "block", "guard_us": micros,
        "findings": logged(if blocked.is_empty() { &flagged } else { &blocked })}),
    );
    client.finish();
}
