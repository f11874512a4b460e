//! JSON ↔ MessagePack for the frame-level commands, and the argument keys of every operation.

use joint_wire::Op;
use rmpv::Value;
use serde_json::{Map, Number, Value as Json};

/// A JSON value as MessagePack: integers stay integers, objects become maps with string keys.
pub fn to_msgpack(json: &Json) -> Value {
    match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                Value::F64(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => Value::Array(items.iter().map(to_msgpack).collect()),
        Json::Object(map) => Value::Map(map.iter().map(|(k, v)| (Value::from(k.as_str()), to_msgpack(v))).collect()),
    }
}

/// A MessagePack value as JSON. What JSON cannot hold is spelled out: binary as
/// `{"$bin": hex}`, extensions as `{"$ext": type, "$bin": hex}`, non-string keys as their
/// JSON text, invalid UTF-8 strings as `{"$bin": hex}`, non-finite floats as null.
pub fn to_json(value: &Value) -> Json {
    fn hex(bytes: &[u8]) -> Json {
        Json::String(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }
    match value {
        Value::Nil => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(i) => match (i.as_u64(), i.as_i64()) {
            (Some(u), _) => Json::from(u),
            (None, Some(s)) => Json::from(s),
            _ => Json::Null,
        },
        Value::F32(f) => Number::from_f64(f64::from(*f)).map_or(Json::Null, Json::Number),
        Value::F64(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::String(s) => match s.as_str() {
            Some(text) => Json::String(text.to_owned()),
            None => serde_json::json!({ "$bin": hex(s.as_bytes()) }),
        },
        Value::Binary(bytes) => serde_json::json!({ "$bin": hex(bytes) }),
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(pairs) => {
            let mut map = Map::new();
            for (k, v) in pairs {
                let key = match k.as_str() {
                    Some(text) => text.to_owned(),
                    None => to_json(k).to_string(),
                };
                map.insert(key, to_json(v));
            }
            Json::Object(map)
        }
        Value::Ext(kind, bytes) => serde_json::json!({ "$ext": kind, "$bin": hex(bytes) }),
    }
}

/// A MessagePack value as one line of JSON text, keeping the map keys in wire order
/// (otherwise as [`to_json`]).
pub fn to_json_text(value: &Value) -> String {
    match value {
        Value::Map(pairs) if pairs.iter().all(|(k, _)| k.as_str().is_some()) => {
            let entries: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}:{}", Json::from(k.as_str().unwrap_or_default()), to_json_text(v)))
                .collect();
            format!("{{{}}}", entries.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(to_json_text).collect::<Vec<_>>().join(",")),
        other => to_json(other).to_string(),
    }
}

/// The argument keys an operation reads (besides `id` and `op`), as CONTRACT.md §8 and §12 list them.
pub fn argument_keys(op: Op) -> &'static [&'static str] {
    match op {
        Op::Hello => &["version", "client", "client_ip"],
        Op::Register | Op::UserCreate => &["login", "name", "password"],
        Op::Login => &["login", "password"],
        Op::Auth => &["token"],
        Op::Logout | Op::Me | Op::Groups | Op::Ping => &[],
        Op::SetName => &["name"],
        Op::Passwd => &["old", "new"],
        Op::DeleteAccount => &["password"],
        Op::Users => &["after", "limit"],
        Op::User | Op::UserDisable | Op::UserEnable => &["login"],
        Op::GroupCreate => &["group", "members"],
        Op::GroupDelete | Op::Leave | Op::Unsubscribe => &["group"],
        Op::GroupAdmin => &["group", "login"],
        Op::Members => &["group", "after", "limit"],
        Op::MemberAdd | Op::MemberRemove => &["group", "logins"],
        Op::Subscribe => &["group", "gid", "after"],
        Op::Publish => &["group", "body", "cid"],
        Op::History => &["group", "gid", "before", "after", "limit"],
        Op::MarkRead | Op::MessageDelete => &["group", "seq"],
    }
}

/// The keys of a request object that its operation does not know; `None` for an unknown op.
pub fn unknown_keys(request: &Map<String, Json>) -> Option<Vec<String>> {
    let op = Op::from_name(request.get("op")?.as_str()?)?;
    let known = argument_keys(op);
    Some(request.keys().filter(|k| *k != "id" && *k != "op" && !known.contains(&k.as_str())).cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use joint_wire::codec::{encode_value, Payload};
    use joint_wire::Request;

    #[test]
    fn json_round_trips_through_msgpack() {
        let json: Json = serde_json::from_str(
            r#"{"id":7,"op":"publish","group":"Café","body":"hi\n","neg":-3,"f":1.5,"list":[1,null,true],"m":{"a":{}}}"#,
        )
        .unwrap();
        assert_eq!(to_json(&to_msgpack(&json)), json);
        let text = to_json_text(&to_msgpack(&json));
        assert_eq!(serde_json::from_str::<Json>(&text).unwrap(), json);
    }

    #[test]
    fn json_text_keeps_the_wire_order_of_keys() {
        let value = Value::Map(vec![
            (Value::from("re"), Value::from(2)),
            (
                Value::from("ok"),
                Value::Map(vec![(Value::from("b"), Value::Nil), (Value::from("a"), Value::from("\"x"))]),
            ),
        ]);
        assert_eq!(to_json_text(&value), r#"{"re":2,"ok":{"b":null,"a":"\"x"}}"#);
    }

    #[test]
    fn every_typed_request_uses_only_known_keys() {
        // The wire crate's own encoder is the reference: what it sends, the table must know.
        let requests = [
            Request::Hello { version: 1, client: Some("c".into()), client_ip: Some("1.2.3.4".into()) },
            Request::Register { login: "a".into(), name: "A".into(), password: "p".into() },
            Request::Publish { group: "g".into(), body: "b".into(), cid: Some("c".into()) },
            Request::History { group: "g".into(), gid: Some(1), before: Some(2), after: Some(3), limit: Some(4) },
            Request::Subscribe { group: "g".into(), gid: Some(1), after: Some(2) },
            Request::MemberAdd { group: "g".into(), logins: vec!["x".into()] },
            Request::Users { after: Some("a".into()), limit: Some(1) },
            Request::Passwd { old: "o".into(), new: "n".into() },
        ];
        for request in requests {
            let payload = Payload::parse(&encode_value(&request.to_payload(1).to_value())).unwrap();
            let json = to_json(&payload.to_value());
            assert_eq!(unknown_keys(json.as_object().unwrap()), Some(vec![]), "{request:?}");
        }
        let odd: Json = serde_json::from_str(r#"{"id":1,"op":"ping","grup":"x"}"#).unwrap();
        assert_eq!(unknown_keys(odd.as_object().unwrap()), Some(vec!["grup".to_string()]));
        let unknown: Json = serde_json::from_str(r#"{"id":1,"op":"nope"}"#).unwrap();
        assert_eq!(unknown_keys(unknown.as_object().unwrap()), None);
    }
}
