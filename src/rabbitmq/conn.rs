//! One AMQP connection: handshake, a writer, and a reader thread that forwards every frame, in
//! arrival order, to the runner's single inbox. One inbox for all connections keeps the order in
//! which the broker's frames reached us, which is what a trace records.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::mpsc::Sender;
use std::thread;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::wire::{self, Enc, Frame, Method};

/// What a reader thread reports: a frame, or that the socket is gone. `serial` tells a current
/// connection from an older one of the same name.
#[derive(Debug)]
pub enum Inbound {
    Frame { serial: u64, frame: Frame },
    Closed { serial: u64 },
}

/// Where and as whom to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub vhost: String,
}

impl Endpoint {
    /// Parses `amqp://user:pass@host:port/vhost` (vhost percent-encoded, `%2f` is `/`; an empty
    /// path is `/`).
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let rest = url
            .strip_prefix("amqp://")
            .ok_or_else(|| format!("`{url}`: only amqp:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.find(':') {
                Some(i) => (decode(&u[..i])?, decode(&u[i + 1..])?),
                None => (decode(u)?, String::new()),
            },
            None => ("guest".to_owned(), "guest".to_owned()),
        };
        let (host, port) = match hostport.rfind(':') {
            Some(i) if !hostport[i + 1..].contains(']') => (
                &hostport[..i],
                hostport[i + 1..]
                    .parse::<u16>()
                    .map_err(|_| format!("`{url}`: bad port `{}`", &hostport[i + 1..]))?,
            ),
            _ => (hostport, 5672),
        };
        if host.is_empty() {
            return Err(format!("`{url}`: no host"));
        }
        let vhost = match path {
            None | Some("") => "/".to_owned(),
            Some(p) => decode(p)?,
        };
        Ok(Endpoint {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            user,
            password,
            vhost,
        })
    }
}

fn decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-encoding in `{s}`"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("`{s}` is not UTF-8"))
}

pub struct Conn {
    pub serial: u64,
    stream: TcpStream,
    pub frame_max: usize,
    pub channel_max: u16,
}

impl Conn {
    /// Connects, authenticates (PLAIN), opens the vhost, then hands the socket's read side to a
    /// reader thread. Heartbeats are off: runs are short and the reader never blocks the writer.
    pub fn open(
        ep: &Endpoint,
        vhost: &str,
        serial: u64,
        inbox: Sender<Inbound>,
        timeout: Duration,
    ) -> Result<Conn, String> {
        let addr = (ep.host.as_str(), ep.port)
            .to_socket_addrs()
            .map_err(|e| format!("resolving {}:{}: {e}", ep.host, ep.port))?
            .next()
            .ok_or_else(|| format!("{} resolves to no address", ep.host))?;
        let mut stream = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        stream
            .set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        let io = |e: std::io::Error| format!("AMQP handshake with {addr}: {e}");
        stream.write_all(wire::PROTOCOL_HEADER).map_err(io)?;

        let start = expect_method(&mut stream, 10, 10)?;
        let _ = start;
        let mut caps = Map::new();
        // Without these capabilities RabbitMQ would not send server-side basic.cancel, nacks
        // or the reason for a refused login.
        for cap in [
            "publisher_confirms",
            "consumer_cancel_notify",
            "basic.nack",
            "exchange_exchange_bindings",
            "connection.blocked",
            "authentication_failure_close",
            "per_consumer_qos",
        ] {
            caps.insert(cap.into(), Value::Bool(true));
        }
        let Value::Object(client_props) = json!({
            "product": "queue-playground",
            "version": env!("CARGO_PKG_VERSION"),
            "capabilities": caps,
        }) else {
            unreachable!("a json! object literal is an object")
        };
        let mut response = vec![0u8];
        response.extend_from_slice(ep.user.as_bytes());
        response.push(0);
        response.extend_from_slice(ep.password.as_bytes());
        let start_ok = Enc::method(10, 11)
            .table(&client_props)
            .shortstr("PLAIN")
            .longstr(&response)
            .shortstr("en_US")
            .finish();
        wire::write_frame(&mut stream, wire::FRAME_METHOD, 0, &start_ok).map_err(io)?;

        let tune = expect_method(&mut stream, 10, 30)?;
        let Method::ConnectionTune {
            channel_max,
            frame_max,
        } = tune
        else {
            return Err("connection.tune: unexpected arguments".into());
        };
        let frame_max = if frame_max == 0 { 131_072 } else { frame_max };
        let channel_max = if channel_max == 0 { 2047 } else { channel_max };
        let tune_ok = Enc::method(10, 31)
            .u16(channel_max)
            .u32(frame_max)
            .u16(0)
            .finish();
        wire::write_frame(&mut stream, wire::FRAME_METHOD, 0, &tune_ok).map_err(io)?;
        let open = Enc::method(10, 40)
            .shortstr(vhost)
            .shortstr("")
            .bit(false)
            .finish();
        wire::write_frame(&mut stream, wire::FRAME_METHOD, 0, &open).map_err(io)?;
        expect_method(&mut stream, 10, 41)?;

        stream.set_read_timeout(None).map_err(|e| e.to_string())?;
        let mut reader = stream.try_clone().map_err(|e| e.to_string())?;
        thread::Builder::new()
            .name(format!("amqp-reader-{serial}"))
            .spawn(move || loop {
                match wire::read_frame(&mut reader) {
                    Ok(frame) => {
                        if inbox.send(Inbound::Frame { serial, frame }).is_err() {
                            return;
                        }
                    }
                    Err(_) => {
                        let _ = inbox.send(Inbound::Closed { serial });
                        return;
                    }
                }
            })
            .map_err(|e| format!("spawning reader thread: {e}"))?;
        Ok(Conn {
            serial,
            stream,
            frame_max: frame_max as usize,
            channel_max,
        })
    }

    pub fn send_method(&mut self, channel: u16, payload: &[u8]) -> Result<(), String> {
        wire::write_frame(&mut self.stream, wire::FRAME_METHOD, channel, payload)
            .map_err(|e| format!("sending on channel {channel}: {e}"))
    }

    /// Method, header and body frames in one write, so they are never interleaved with
    /// another method on the socket. Bodies are cut to the negotiated frame size.
    pub fn send_content(
        &mut self,
        channel: u16,
        method: &[u8],
        header: &[u8],
        body: &[u8],
    ) -> Result<(), String> {
        let mut out = Vec::with_capacity(method.len() + header.len() + body.len() + 64);
        wire::encode_frame(&mut out, wire::FRAME_METHOD, channel, method);
        wire::encode_frame(&mut out, wire::FRAME_HEADER, channel, header);
        let chunk = self.frame_max.saturating_sub(8).max(1);
        for part in body.chunks(chunk) {
            wire::encode_frame(&mut out, wire::FRAME_BODY, channel, part);
        }
        self.stream
            .write_all(&out)
            .map_err(|e| format!("publishing on channel {channel}: {e}"))
    }

    /// Drops the socket; the reader thread then reports `Closed` and ends.
    pub fn shutdown(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Reads frames during the handshake until the expected method; a `connection.close` (bad
/// credentials, unknown vhost) becomes an error with the broker's reason.
fn expect_method(stream: &mut impl Read, class: u16, method: u16) -> Result<Method, String> {
    loop {
        let frame = wire::read_frame(stream).map_err(|e| {
            format!("AMQP handshake: {e} (is this an AMQP 0-9-1 broker, and are the credentials right?)")
        })?;
        if frame.kind != wire::FRAME_METHOD {
            continue;
        }
        let m = wire::decode_method(&frame.payload).map_err(|e| e.to_string())?;
        if let Method::ConnectionClose { code, text } = &m.args {
            return Err(format!("the broker refused the connection: {code} {text}"));
        }
        if (m.class, m.method) == (class, method) {
            return Ok(m.args);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_defaults_and_percent_encoding() {
        let ep = Endpoint::parse("amqp://guest:guest@127.0.0.1:5673/%2f").unwrap();
        assert_eq!(
            ep,
            Endpoint {
                host: "127.0.0.1".into(),
                port: 5673,
                user: "guest".into(),
                password: "guest".into(),
                vhost: "/".into()
            }
        );
        let ep = Endpoint::parse("amqp://localhost").unwrap();
        assert_eq!(
            (ep.port, ep.vhost.as_str(), ep.user.as_str()),
            (5672, "/", "guest")
        );
        let ep = Endpoint::parse("amqp://u:p%40ss@h:1/v1").unwrap();
        assert_eq!((ep.password.as_str(), ep.vhost.as_str()), ("p@ss", "v1"));
        assert!(Endpoint::parse("http://x").is_err());
        assert!(Endpoint::parse("amqp://h:notaport/").is_err());
        assert!(Endpoint::parse("amqp://h/%zz").is_err());
    }
}
