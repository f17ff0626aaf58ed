#!/usr/bin/env python3
"""Planted fault, in another language: a tiny Twilio Media Streams server in pure Python (stdlib
only: asyncio and a minimal RFC 6455 implementation). Per-call state lives on a Call object whose
`greeting_marks` list is created only for inbound calls; the outbound path appends to it and
raises AttributeError. The connection handler prints the traceback and closes with 1011, as a
typical asyncio server would. Inbound calls work: every 4th of the first 100 caller frames is
echoed back (a short "answer"; echoing forever would keep a caller waiting for quiet). The
direction comes from its voice webhook (POST /twiml): Twilio's Direction, handed to the stream
as a <Parameter name="direction">.

    python3 test/servers/attribute_error_server.py --port 0   -> "listening on ws://127.0.0.1:PORT/media"
"""
import argparse
import asyncio
import base64
import hashlib
import json
import os
import signal
import struct
import sys
import traceback
from urllib.parse import parse_qs, urlsplit

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Call:
    def __init__(self):
        self.stream_sid = None
        self.direction = "inbound"
        self.audio_in_chunks = 0
        self.audio_out_chunks = 0

    def on_start(self, start):
        self.stream_sid = start["streamSid"]
        self.direction = start.get("customParameters", {}).get("direction", "inbound")
        if self.direction == "inbound":
            self.greeting_marks = []
        else:
            # Bug: greeting_marks only exists on the inbound path.
            self.greeting_marks.append("greeting")


async def read_frame(reader):
    head = await reader.readexactly(2)
    opcode = head[0] & 0x0F
    length = head[1] & 0x7F
    if length == 126:
        length = struct.unpack("!H", await reader.readexactly(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", await reader.readexactly(8))[0]
    mask = await reader.readexactly(4) if head[1] & 0x80 else b"\x00\x00\x00\x00"
    data = bytearray(await reader.readexactly(length))
    for i in range(length):
        data[i] ^= mask[i % 4]
    return opcode, bytes(data)


def frame(opcode, payload):
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    return header + payload


TWIML = """<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Connect>
    <Stream url="wss://{host}/media">
      <Parameter name="direction" value="{direction}"/>
    </Stream>
  </Connect>
</Response>"""


async def serve_twiml(reader, writer, method, target, headers):
    """The voice webhook: Twilio's Direction (form body or query string) as a stream <Parameter>."""
    query = urlsplit(target).query
    if method == "POST":
        length = int(headers.get("content-length", "0") or "0")
        query = (await reader.readexactly(length)).decode("utf-8") if length > 0 else ""
    direction = parse_qs(query).get("Direction", ["inbound"])[0]
    body = TWIML.format(host=headers.get("host", "localhost"), direction="outbound" if direction.startswith("outbound") else "inbound").encode()
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\nconnection: close\r\n" + f"content-length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
    writer.close()


async def handle(reader, writer):
    request = await reader.readuntil(b"\r\n\r\n")
    lines = request.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:] if l)}
    parts = lines[0].split(" ")
    method = parts[0]
    path = parts[1] if len(parts) > 1 else "/"
    if urlsplit(path).path == "/twiml" and method in ("POST", "GET"):
        await serve_twiml(reader, writer, method, path, headers)
        return
    if headers.get("upgrade", "").lower() != "websocket" or not path.startswith("/media"):
        writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()
        return
    accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + GUID).encode()).digest()).decode()
    writer.write(
        ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode()
    )
    call = Call()
    try:
        while True:
            opcode, data = await read_frame(reader)
            if opcode == 0x8:
                writer.write(frame(0x8, data[:2] or struct.pack("!H", 1000)))
                break
            if opcode == 0x9:
                writer.write(frame(0xA, data))
                continue
            if opcode != 0x1:
                continue
            msg = json.loads(data)
            event = msg.get("event")
            if event == "start":
                call.on_start(msg["start"])
            elif event == "media":
                call.audio_in_chunks += 1
                if call.audio_in_chunks % 4 == 0 and call.audio_in_chunks <= 100:
                    out = {"event": "media", "streamSid": call.stream_sid, "media": {"payload": msg["media"]["payload"]}}
                    writer.write(frame(0x1, json.dumps(out).encode()))
                    call.audio_out_chunks += 1
            elif event == "stop":
                writer.write(frame(0x8, struct.pack("!H", 1000) + b"stream stopped"))
                break
            await writer.drain()
    except asyncio.IncompleteReadError:
        pass
    except Exception:
        print(f"error in call {call.stream_sid}:", file=sys.stderr)
        traceback.print_exc()
        sys.stderr.flush()
        writer.write(frame(0x8, struct.pack("!H", 1011) + b"internal error"))
    try:
        await writer.drain()
        writer.close()
    except ConnectionError:
        pass


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "0")))
    args = parser.parse_args()
    server = await asyncio.start_server(handle, "127.0.0.1", args.port)
    port = server.sockets[0].getsockname()[1]
    print(f"listening on ws://127.0.0.1:{port}/media", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
