import json
import os
import subprocess
import sys
import time

import pika

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F")
# The broker has been quiet this long: what a step caused has arrived (deliveries included).
SETTLE = float(os.environ.get("SETTLE_MS", "40")) / 1000

connections = {}  # scenario connection name -> pika.BlockingConnection
channels = {}  # scenario channel name -> pika channel
home = {}  # scenario channel name -> the connection it opens on (default "main")
confirmed = {}  # channel name -> publishes so far, for channels in confirm mode
last_queue = {}  # channel name -> its last declared queue ("" names it, as in AMQP)
current_step = 0
printed = 0


def emit(event, **fields):
    """One line of output: what the broker sent, as a queue-playground trace event."""
    global printed
    printed += 1
    print(json.dumps({"step": current_step, "event": event, **fields}), flush=True)


def note(text):
    print("step %d: %s" % (current_step, text), file=sys.stderr, flush=True)


def text(body):
    return body.decode("utf-8", "replace") if isinstance(body, bytes) else body


def plain(value):
    """An AMQP field value as JSON: bytes as text, timestamps as seconds."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "timestamp"):
        return int(value.timestamp())
    if type(value).__name__ == "Decimal":
        return float(value)
    return value


def props(p):
    out = {}
    for key in ("delivery_mode", "expiration", "priority", "headers", "message_id",
                "correlation_id", "reply_to", "content_type"):
        value = getattr(p, key, None)
        if value is not None:
            out[key] = plain(value)
    return out


def on_message(name):
    def callback(ch, method, properties, body):
        emit("basic.deliver", channel=name, consumer_tag=method.consumer_tag,
             delivery_tag=method.delivery_tag, redelivered=method.redelivered,
             exchange=method.exchange, routing_key=method.routing_key, body=text(body),
             properties=props(properties))
    return callback


def on_return(name):
    def callback(ch, method, properties, body):
        if name not in confirmed:  # in confirm mode, publish() reports it
            emit("basic.return", channel=name, reply_code=method.reply_code,
                 reply_text=method.reply_text, exchange=method.exchange,
                 routing_key=method.routing_key, body=text(body))
    return callback


def on_cancel(name):
    def callback(frame):
        emit("basic.cancel", channel=name, consumer_tag=frame.method.consumer_tag)
    return callback


def connection(name):
    c = connections.get(name)
    if c is None or not c.is_open:
        c = connections[name] = pika.BlockingConnection(pika.URLParameters(URL))
    return c


def channel(name):
    """The scenario's channel `name`, opened on first use (again after an error closed it)."""
    ch = channels.get(name)
    if ch is None or not ch.is_open:
        ch = connection(home.get(name, "main")).channel()
        ch.add_on_return_callback(on_return(name))
        ch.add_on_cancel_callback(on_cancel(name))
        channels[name] = ch
        confirmed.pop(name, None)
        last_queue.pop(name, None)
    return ch


def open_channel(name, conn):
    if name in channels and channels[name].is_open:
        note("channel.open: channel %r is already open; RabbitMQ would close the connection "
             "(504), which pika cannot be made to provoke: skipped" % name)
        return
    home[name] = conn
    channel(name)


def close_channel(name):
    ch = channels.pop(name, None)
    if ch is not None and ch.is_open:
        ch.close()


def close_connection(name):
    c = connections.pop(name, None)
    for ch in [n for n in channels if home.get(n, "main") == name]:
        channels.pop(ch, None)
    if c is not None and c.is_open:
        c.close()


def flush():
    """Dispatch what already arrived, so that it is printed before a reply that came after."""
    for c in list(connections.values()):
        if c.is_open:
            c.process_data_events(time_limit=0)


def sync(ch):
    """A round trip after an asynchronous method: the broker's answer to it (a return, a
    channel error) is in before the next step. A passive declare of a predeclared exchange."""
    ch.exchange_declare(exchange="amq.direct", exchange_type="direct", passive=True)


def declare_ok(name, ok):
    last_queue[name] = ok.method.queue
    emit("queue.declare-ok", queue=ok.method.queue, message_count=ok.method.message_count,
         consumer_count=ok.method.consumer_count)


def queue_name(name, queue):
    return queue or last_queue.get(name, "")


def consume(name, **kwargs):
    ch = channel(name)
    try:
        tag = ch.basic_consume(on_message_callback=on_message(name), **kwargs)
    except pika.exceptions.DuplicateConsumerTag:
        note("basic.consume: consumer tag %r is in use on this channel; pika refuses it "
             "itself, RabbitMQ would close the connection (530)" % kwargs.get("consumer_tag"))
        return
    emit("basic.consume-ok", channel=name, consumer_tag=tag)


def get(name, **kwargs):
    method, properties, body = channel(name).basic_get(**kwargs)
    flush()
    if method is None:
        emit("basic.get-empty", channel=name)
    else:
        emit("basic.get-ok", channel=name, delivery_tag=method.delivery_tag,
             redelivered=method.redelivered, exchange=method.exchange,
             routing_key=method.routing_key, body=text(body), properties=props(properties),
             message_count=method.message_count)


def confirm_select(name):
    channel(name).confirm_delivery()
    confirmed[name] = 0


def publish(name, **kwargs):
    ch = channel(name)
    if name not in confirmed:
        ch.basic_publish(**kwargs)
        sync(ch)
        return
    # In confirm mode pika's basic_publish waits for the broker's ack or nack.
    confirmed[name] += 1
    tag = confirmed[name]
    try:
        ch.basic_publish(**kwargs)
        flush()
        emit("basic.ack", channel=name, delivery_tag=tag, multiple=False)
    except pika.exceptions.UnroutableError as e:
        flush()
        for m in e.messages:
            emit("basic.return", channel=name, reply_code=m.method.reply_code,
                 reply_text=m.method.reply_text, exchange=m.method.exchange,
                 routing_key=m.method.routing_key, body=text(m.body))
        emit("basic.ack", channel=name, delivery_tag=tag, multiple=False)
    except pika.exceptions.NackError:
        flush()
        emit("basic.nack", channel=name, delivery_tag=tag, multiple=False)


def restart_broker():
    node = os.environ.get("RABBITMQ_NODE")
    if not node:
        note("broker.restart skipped: set RABBITMQ_NODE to the node's name to restart it "
             "with `rabbitmqctl -n NODE stop_app` and `start_app`")
        return
    for args in (["stop_app"], ["start_app"]):
        subprocess.run(["rabbitmqctl", "-n", node] + args, check=True,
                       stdout=subprocess.DEVNULL)
    # The restart closed every connection; the next step reconnects.
    for c in connections.values():
        try:
            c.close()
        except Exception:
            pass
    connections.clear()
    channels.clear()


def settle():
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        before = printed
        for c in list(connections.values()):
            if c.is_open:
                c.process_data_events(time_limit=SETTLE)
        if printed == before:
            return


class step:
    """Runs one step: a broker error becomes an event, then what the step caused is printed."""

    def __init__(self, index, channel=None, connection=None):
        self.index, self.channel, self.connection = index, channel, connection

    def __enter__(self):
        global current_step
        current_step = self.index

    def __exit__(self, kind, error, traceback):
        if isinstance(error, pika.exceptions.ChannelClosedByBroker):
            emit("channel.close", channel=self.channel, reply_code=error.reply_code,
                 reply_text=error.reply_text)
            channels.pop(self.channel, None)
        elif isinstance(error, pika.exceptions.ConnectionClosedByBroker):
            conn = self.connection or home.get(self.channel, "main")
            emit("connection.close", connection=conn, reply_code=error.reply_code,
                 reply_text=error.reply_text)
            close_connection(conn)
        elif error is not None:
            return False
        settle()
        return True
