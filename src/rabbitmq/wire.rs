//! AMQP 0-9-1 wire format: frames, field tables, content properties and the methods a scenario
//! needs, as RabbitMQ speaks them (its field-table type letters, not the spec's errata).

use std::io::{self, Read, Write};

use serde_json::{Map, Number, Value};

use crate::scenario::{Properties, Table};

pub const FRAME_METHOD: u8 = 1;
pub const FRAME_HEADER: u8 = 2;
pub const FRAME_BODY: u8 = 3;
pub const FRAME_HEARTBEAT: u8 = 8;
const FRAME_END: u8 = 0xCE;
/// Protocol header a client opens with.
pub const PROTOCOL_HEADER: &[u8; 8] = b"AMQP\x00\x00\x09\x01";
/// Largest frame we accept before the broker tells us its own maximum.
const MAX_FRAME: usize = 16 << 20;

#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: u8,
    pub channel: u16,
    pub payload: Vec<u8>,
}

pub fn read_frame(r: &mut impl Read) -> io::Result<Frame> {
    let mut head = [0u8; 7];
    r.read_exact(&mut head)?;
    let kind = head[0];
    let channel = u16::from_be_bytes([head[1], head[2]]);
    let size = u32::from_be_bytes([head[3], head[4], head[5], head[6]]) as usize;
    if size > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {size} bytes"),
        ));
    }
    let mut payload = vec![0u8; size + 1];
    r.read_exact(&mut payload)?;
    if payload.pop() != Some(FRAME_END) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame does not end with 0xCE",
        ));
    }
    Ok(Frame {
        kind,
        channel,
        payload,
    })
}

pub fn encode_frame(out: &mut Vec<u8>, kind: u8, channel: u16, payload: &[u8]) {
    out.push(kind);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out.push(FRAME_END);
}

pub fn write_frame(w: &mut impl Write, kind: u8, channel: u16, payload: &[u8]) -> io::Result<()> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    encode_frame(&mut out, kind, channel, payload);
    w.write_all(&out)
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// Builds a method or header payload.
#[derive(Default)]
pub struct Enc {
    pub buf: Vec<u8>,
    bits: Option<(usize, u8)>,
}

impl Enc {
    pub fn method(class: u16, method: u16) -> Enc {
        let mut e = Enc::default();
        e.u16(class).u16(method);
        e
    }

    fn end_bits(&mut self) {
        self.bits = None;
    }

    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.end_bits();
        self.buf.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.end_bits();
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.end_bits();
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.end_bits();
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Short strings are at most 255 bytes; the scenario parser already enforces it, so a longer
    /// one is cut rather than sent malformed.
    pub fn shortstr(&mut self, s: &str) -> &mut Self {
        self.end_bits();
        let bytes = &s.as_bytes()[..s.len().min(255)];
        self.buf.push(bytes.len() as u8);
        self.buf.extend_from_slice(bytes);
        self
    }
    pub fn longstr(&mut self, s: &[u8]) -> &mut Self {
        self.end_bits();
        self.buf.extend_from_slice(&(s.len() as u32).to_be_bytes());
        self.buf.extend_from_slice(s);
        self
    }
    /// Consecutive bit fields share octets, low bit first.
    pub fn bit(&mut self, v: bool) -> &mut Self {
        match self.bits {
            Some((at, n)) if n < 8 => {
                if v {
                    self.buf[at] |= 1 << n;
                }
                self.bits = Some((at, n + 1));
            }
            _ => {
                self.buf.push(u8::from(v));
                self.bits = Some((self.buf.len() - 1, 1));
            }
        }
        self
    }
    pub fn table(&mut self, t: &Table) -> &mut Self {
        self.end_bits();
        let mut inner = Vec::new();
        for (k, v) in t {
            let key = &k.as_bytes()[..k.len().min(255)];
            inner.push(key.len() as u8);
            inner.extend_from_slice(key);
            encode_value(&mut inner, v);
        }
        self.buf
            .extend_from_slice(&(inner.len() as u32).to_be_bytes());
        self.buf.extend_from_slice(&inner);
        self
    }
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

/// JSON to a field value: integers become signed 64-bit (`l`), which RabbitMQ accepts for every
/// numeric argument; strings long strings (`S`), objects tables, arrays arrays.
fn encode_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(b'V'),
        Value::Bool(b) => {
            out.push(b't');
            out.push(u8::from(*b));
        }
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push(b'l');
                out.extend_from_slice(&i.to_be_bytes());
            } else {
                out.push(b'd');
                out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_be_bytes());
            }
        }
        Value::String(s) => {
            out.push(b'S');
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Array(items) => {
            out.push(b'A');
            let mut inner = Vec::new();
            for item in items {
                encode_value(&mut inner, item);
            }
            out.extend_from_slice(&(inner.len() as u32).to_be_bytes());
            out.extend_from_slice(&inner);
        }
        Value::Object(map) => {
            out.push(b'F');
            let mut e = Enc::default();
            e.table(map);
            out.extend_from_slice(&e.buf);
        }
    }
}

/// A content header frame payload for `basic.publish`.
pub fn encode_header(body_size: u64, p: &Properties) -> Vec<u8> {
    let mut flags: u16 = 0;
    let mut props = Enc::default();
    // Property order and flag bits as in the spec's basic class (bit 15 first).
    if let Some(v) = &p.content_type {
        flags |= 1 << 15;
        props.shortstr(v);
    }
    if let Some(v) = &p.headers {
        flags |= 1 << 13;
        props.table(v);
    }
    if let Some(v) = p.delivery_mode {
        flags |= 1 << 12;
        props.u8(v);
    }
    if let Some(v) = p.priority {
        flags |= 1 << 11;
        props.u8(v);
    }
    if let Some(v) = &p.correlation_id {
        flags |= 1 << 10;
        props.shortstr(v);
    }
    if let Some(v) = &p.reply_to {
        flags |= 1 << 9;
        props.shortstr(v);
    }
    if let Some(v) = &p.expiration {
        flags |= 1 << 8;
        props.shortstr(v);
    }
    if let Some(v) = &p.message_id {
        flags |= 1 << 7;
        props.shortstr(v);
    }
    let mut e = Enc::default();
    e.u16(60).u16(0).u64(body_size).u16(flags);
    e.buf.extend_from_slice(&props.buf);
    e.buf
}

// ---------------------------------------------------------------------------------------------
// Decoding

#[derive(Debug)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed AMQP frame: {}", self.0)
    }
}

type DResult<T> = Result<T, DecodeError>;

pub struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
    bits: Option<(u8, u8)>,
}

impl<'a> Dec<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Dec {
            buf,
            pos: 0,
            bits: None,
        }
    }

    fn take(&mut self, n: usize) -> DResult<&'a [u8]> {
        self.bits = None;
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| DecodeError(format!("needed {n} bytes at offset {}", self.pos)))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    pub fn u8(&mut self) -> DResult<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> DResult<u16> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    pub fn u32(&mut self) -> DResult<u32> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn u64(&mut self) -> DResult<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    pub fn shortstr(&mut self) -> DResult<String> {
        let n = self.u8()? as usize;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
    pub fn longstr(&mut self) -> DResult<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    pub fn bit(&mut self) -> DResult<bool> {
        let (octet, n) = match self.bits {
            Some((octet, n)) if n < 8 => (octet, n),
            _ => {
                let octet = self.u8()?;
                (octet, 0)
            }
        };
        self.bits = Some((octet, n + 1));
        Ok(octet & (1 << n) != 0)
    }
    pub fn table(&mut self) -> DResult<Table> {
        let bytes = self.longstr()?;
        let mut d = Dec::new(bytes);
        let mut map = Map::new();
        while d.pos < d.buf.len() {
            let key = d.shortstr()?;
            let value = d.value()?;
            map.insert(key, value);
        }
        Ok(map)
    }
    /// A field value as JSON. Integers of every width become JSON numbers, timestamps seconds,
    /// byte strings text (lossy), so that headers compare by value, not by wire type.
    fn value(&mut self) -> DResult<Value> {
        let tag = self.u8()?;
        Ok(match tag {
            b't' => Value::Bool(self.u8()? != 0),
            b'b' => Value::from(self.u8()? as i8),
            b'B' => Value::from(self.u8()?),
            b's' => Value::from(self.u16()? as i16),
            b'u' => Value::from(self.u16()?),
            b'I' => Value::from(self.u32()? as i32),
            b'i' => Value::from(self.u32()?),
            b'l' => Value::from(self.u64()? as i64),
            b'T' => Value::from(self.u64()?),
            b'f' => float(f32::from_bits(self.u32()?) as f64),
            b'd' => float(f64::from_bits(self.u64()?)),
            b'D' => {
                let scale = self.u8()? as i32;
                let raw = self.u32()? as i32;
                float(raw as f64 / 10f64.powi(scale))
            }
            b'S' | b'x' => Value::String(String::from_utf8_lossy(self.longstr()?).into_owned()),
            b'A' => {
                let bytes = self.longstr()?;
                let mut d = Dec::new(bytes);
                let mut items = Vec::new();
                while d.pos < d.buf.len() {
                    items.push(d.value()?);
                }
                Value::Array(items)
            }
            b'F' => Value::Object(self.table()?),
            b'V' => Value::Null,
            other => {
                return Err(DecodeError(format!(
                    "unknown field type {:?}",
                    other as char
                )))
            }
        })
    }
}

fn float(f: f64) -> Value {
    Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Decodes a content header: body size and the properties our format has. The others
/// (`timestamp`, `type`, `user_id`, `app_id`, `content_encoding`, `cluster_id`) are read and
/// dropped.
pub fn decode_header(payload: &[u8]) -> DResult<(u64, Properties)> {
    let mut d = Dec::new(payload);
    let _class = d.u16()?;
    let _weight = d.u16()?;
    let size = d.u64()?;
    let flags = d.u16()?;
    let has = |bit: u16| flags & (1 << bit) != 0;
    let mut p = Properties::default();
    if has(15) {
        p.content_type = Some(d.shortstr()?);
    }
    if has(14) {
        d.shortstr()?; // content-encoding
    }
    if has(13) {
        p.headers = Some(d.table()?);
    }
    if has(12) {
        p.delivery_mode = Some(d.u8()?);
    }
    if has(11) {
        p.priority = Some(d.u8()?);
    }
    if has(10) {
        p.correlation_id = Some(d.shortstr()?);
    }
    if has(9) {
        p.reply_to = Some(d.shortstr()?);
    }
    if has(8) {
        p.expiration = Some(d.shortstr()?);
    }
    if has(7) {
        p.message_id = Some(d.shortstr()?);
    }
    // Bits 6..2 (timestamp, type, user-id, app-id, cluster-id) follow; nothing we keep.
    Ok((size, p))
}

/// The methods the broker sends us, decoded as far as a trace needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    ConnectionStart,
    ConnectionTune {
        channel_max: u16,
        frame_max: u32,
    },
    ConnectionClose {
        code: u16,
        text: String,
    },
    ChannelFlow {
        active: bool,
    },
    ChannelClose {
        code: u16,
        text: String,
    },
    QueueDeclareOk {
        queue: String,
        message_count: u32,
        consumer_count: u32,
    },
    QueuePurgeOk {
        message_count: u32,
    },
    QueueDeleteOk {
        message_count: u32,
    },
    ConsumeOk {
        consumer_tag: String,
    },
    Cancel {
        consumer_tag: String,
    },
    Return {
        reply_code: u16,
        reply_text: String,
        exchange: String,
        routing_key: String,
    },
    Deliver {
        consumer_tag: String,
        delivery_tag: u64,
        redelivered: bool,
        exchange: String,
        routing_key: String,
    },
    GetOk {
        delivery_tag: u64,
        redelivered: bool,
        exchange: String,
        routing_key: String,
        message_count: u32,
    },
    GetEmpty,
    Ack {
        delivery_tag: u64,
        multiple: bool,
    },
    Nack {
        delivery_tag: u64,
        multiple: bool,
    },
    /// A reply that carries nothing we record (`exchange.declare-ok`, `tx.commit-ok`, ...).
    Other,
}

/// A decoded method frame: its ids (to match replies) and its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodFrame {
    pub class: u16,
    pub method: u16,
    pub args: Method,
}

pub fn decode_method(payload: &[u8]) -> DResult<MethodFrame> {
    let mut d = Dec::new(payload);
    let class = d.u16()?;
    let method = d.u16()?;
    let args = match (class, method) {
        (10, 10) => Method::ConnectionStart,
        (10, 30) => Method::ConnectionTune {
            channel_max: d.u16()?,
            frame_max: d.u32()?,
        },
        (10, 50) | (20, 40) => {
            let code = d.u16()?;
            let text = d.shortstr()?;
            if class == 10 {
                Method::ConnectionClose { code, text }
            } else {
                Method::ChannelClose { code, text }
            }
        }
        (20, 20) => Method::ChannelFlow { active: d.bit()? },
        (50, 11) => Method::QueueDeclareOk {
            queue: d.shortstr()?,
            message_count: d.u32()?,
            consumer_count: d.u32()?,
        },
        (50, 31) => Method::QueuePurgeOk {
            message_count: d.u32()?,
        },
        (50, 41) => Method::QueueDeleteOk {
            message_count: d.u32()?,
        },
        (60, 21) => Method::ConsumeOk {
            consumer_tag: d.shortstr()?,
        },
        (60, 30) => Method::Cancel {
            consumer_tag: d.shortstr()?,
        },
        (60, 50) => Method::Return {
            reply_code: d.u16()?,
            reply_text: d.shortstr()?,
            exchange: d.shortstr()?,
            routing_key: d.shortstr()?,
        },
        (60, 60) => Method::Deliver {
            consumer_tag: d.shortstr()?,
            delivery_tag: d.u64()?,
            redelivered: d.bit()?,
            exchange: d.shortstr()?,
            routing_key: d.shortstr()?,
        },
        (60, 71) => Method::GetOk {
            delivery_tag: d.u64()?,
            redelivered: d.bit()?,
            exchange: d.shortstr()?,
            routing_key: d.shortstr()?,
            message_count: d.u32()?,
        },
        (60, 72) => Method::GetEmpty,
        (60, 80) => Method::Ack {
            delivery_tag: d.u64()?,
            multiple: d.bit()?,
        },
        (60, 120) => Method::Nack {
            delivery_tag: d.u64()?,
            multiple: d.bit()?,
        },
        _ => Method::Other,
    };
    Ok(MethodFrame {
        class,
        method,
        args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_round_trip_as_json() {
        let t = json!({"a": 1, "b": "x", "c": [1, "y", {"d": true}], "e": null, "f": -5, "g": 1.5});
        let Value::Object(map) = t.clone() else {
            unreachable!()
        };
        let mut e = Enc::default();
        e.table(&map);
        let back = Dec::new(&e.buf).table().unwrap();
        assert_eq!(Value::Object(back), t);
    }

    #[test]
    fn bits_pack_low_bit_first_and_reset_after_other_fields() {
        let mut e = Enc::default();
        e.bit(true).bit(false).bit(true).u8(7).bit(true);
        assert_eq!(e.buf, vec![0b101, 7, 1]);
        let mut d = Dec::new(&e.buf);
        assert_eq!(
            (d.bit().unwrap(), d.bit().unwrap(), d.bit().unwrap()),
            (true, false, true)
        );
        assert_eq!(d.u8().unwrap(), 7);
        assert!(d.bit().unwrap());
    }

    #[test]
    fn header_round_trips_our_properties() {
        let mut headers = Map::new();
        headers.insert("k".into(), json!("v"));
        let p = Properties {
            delivery_mode: Some(2),
            expiration: Some("60000".into()),
            priority: Some(3),
            headers: Some(headers),
            message_id: Some("m".into()),
            correlation_id: Some("c".into()),
            reply_to: Some("r".into()),
            content_type: Some("text/plain".into()),
        };
        let (size, back) = decode_header(&encode_header(42, &p)).unwrap();
        assert_eq!(size, 42);
        assert_eq!(back, p);
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        assert!(decode_method(&[0, 60]).is_err());
        assert!(decode_method(&[0, 60, 0, 60, 5, b'a']).is_err());
        assert!(Dec::new(&[0, 0, 0, 9, 1]).table().is_err());
        let frame = [1u8, 0, 0, 0, 0, 0, 2, 9, 9, 0];
        assert!(read_frame(&mut &frame[..]).is_err());
    }
}
