//! Frame-level debugging, the netcat of Joint: raw, encode, decode.

use super::Context;
use crate::args::Decode;
use crate::error::{CliError, CliResult};
use crate::frames::{to_json, to_json_text, to_msgpack, unknown_keys};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use joint_wire::codec::{encode_value, frame};
use joint_wire::{FrameCodec, Payload};
use rust_i18n::t;
use serde_json::{Map, Value as Json};
use std::collections::HashSet;
use std::io::{BufRead, Read, Write};
use tokio::io::AsyncBufReadExt;
use tokio_util::codec::Framed;

/// The largest frame `raw` sends or reads: above the broker's limit, so that oversized
/// frames can be sent on purpose to see the broker refuse them.
const RAW_MAX_FRAME: usize = 16 * 1024 * 1024;

/// One input line as a request object, with warnings about what its operation does not know.
fn request_line(number: usize, line: &str) -> Result<Map<String, Json>, String> {
    let object = match serde_json::from_str::<Json>(line) {
        Ok(Json::Object(object)) => object,
        Ok(_) => return Err(t!("cli.err.not_an_object", line = number).into_owned()),
        Err(err) => return Err(t!("cli.err.bad_json", line = number, detail = err.to_string()).into_owned()),
    };
    match unknown_keys(&object) {
        None => eprintln!("{}", t!("cli.warn.unknown_op", line = number)),
        Some(keys) if !keys.is_empty() => {
            eprintln!("{}", t!("cli.warn.unknown_keys", line = number, keys = keys.join(", ")))
        }
        Some(_) => {}
    }
    Ok(object)
}

/// `joint raw`: JSON objects on stdin, one per line, are sent as frames (an object without
/// `id` gets the next free one); every frame received is printed as one JSON line. After
/// stdin ends, waits for the replies to every request sent.
pub async fn raw(ctx: &mut Context) -> CliResult {
    let mut failures = Vec::new();
    let mut connected = None;
    for addr in &ctx.brokers {
        match joint_wire::tls::connect(addr, ctx.tls.as_ref()).await {
            Ok(stream) => {
                connected = Some(stream);
                break;
            }
            Err(err) => failures.push(format!("{addr}: {err}")),
        }
    }
    let Some(stream) = connected else { return Err(CliError::Connect(failures.join("; "))) };
    let (mut sink, mut frames) = Framed::new(stream, FrameCodec::new(RAW_MAX_FRAME)).split();
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut pending: HashSet<u64> = HashSet::new();
    let mut next_id = 1;
    let mut number = 0;
    let mut input_open = true;
    let mut bad_input = false;
    while input_open || !pending.is_empty() {
        tokio::select! {
            line = lines.next_line(), if input_open => {
                let Some(line) = line? else { input_open = false; continue };
                number += 1;
                if line.trim().is_empty() {
                    continue;
                }
                let mut object = match request_line(number, &line) {
                    Ok(object) => object,
                    Err(sentence) => { eprintln!("joint: {sentence}"); bad_input = true; continue; }
                };
                let id = match object.get("id").and_then(Json::as_u64) {
                    Some(id) => id,
                    None if !object.contains_key("id") => { object.insert("id".into(), Json::from(next_id)); next_id }
                    None => 0,
                };
                next_id = next_id.max(id.saturating_add(1));
                if object.get("id").and_then(Json::as_u64).is_some() {
                    pending.insert(id);
                }
                let payload = encode_value(&to_msgpack(&Json::Object(object)));
                if sink.send(Bytes::from(payload)).await.is_err() {
                    return Err(CliError::Lost);
                }
            }
            received = frames.next() => {
                let Some(Ok(bytes)) = received else {
                    // The broker closed: what it sent is printed; requests still open are lost.
                    if pending.is_empty() { break } else { return Err(CliError::Lost) }
                };
                let line = match rmpv::decode::read_value(&mut bytes.as_ref()) {
                    Ok(value) => {
                        if let Some(re) = to_json(&value).get("re").and_then(Json::as_u64) {
                            pending.remove(&re);
                        }
                        to_json_text(&value)
                    }
                    Err(err) => Json::String(t!("cli.out.undecodable", detail = err.to_string()).into_owned()).to_string(),
                };
                ctx.out.raw_line(&line)?;
            }
        }
    }
    if bad_input {
        return Err(CliError::Usage(t!("cli.err.bad_input").into_owned()));
    }
    Ok(())
}

/// `joint encode`: JSON objects on stdin, one per line, as length-prefixed frames on stdout
/// (exactly as given: no `id` is added), e.g. to pipe into `nc -N`.
pub fn encode() -> CliResult {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (index, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let object = request_line(index + 1, &line).map_err(CliError::Usage)?;
        out.write_all(&frame(&encode_value(&to_msgpack(&Json::Object(object)))))?;
    }
    out.flush()?;
    Ok(())
}

/// `joint decode`: frame bytes on stdin (captured from `nc`, tshark, ...) as JSON lines.
/// A truncated or oversized frame is reported with its byte offset; a payload that is not
/// one map is reported and skipped (its length keeps the framing intact).
pub fn decode(ctx: &mut Context, args: Decode) -> CliResult {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| CliError::Usage(t!("cli.err.stdin", detail = e.to_string()).into_owned()))?;
    let mut offset = 0;
    let mut bad_payload = false;
    while offset < input.len() {
        let rest = &input[offset..];
        let Some(prefix) = rest.get(..4) else {
            return Err(CliError::Usage(t!("cli.err.truncated_prefix", offset = offset).into_owned()));
        };
        let length = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        if length > args.max_frame {
            let sentence = t!("cli.err.oversized", offset = offset, length = length, max = args.max_frame);
            return Err(CliError::Usage(sentence.into_owned()));
        }
        let Some(payload) = rest.get(4..4 + length) else {
            let sentence = t!("cli.err.truncated", offset = offset, length = length, have = rest.len() - 4);
            return Err(CliError::Usage(sentence.into_owned()));
        };
        match Payload::parse(payload) {
            Ok(payload) => ctx.out.raw_line(&to_json_text(&payload.to_value()))?,
            Err(err) => {
                eprintln!("joint: {}", t!("cli.err.bad_payload", offset = offset, detail = err.reason));
                bad_payload = true;
            }
        }
        offset += 4 + length;
    }
    if bad_payload {
        return Err(CliError::Usage(t!("cli.err.bad_input").into_owned()));
    }
    Ok(())
}
