"""A plain Python realtime client on Debian's python3-websockets, over TLS.

The openai Python SDK is not installable here (no Debian package, no PyPI), so this is what a
Python agent without the SDK does: wss:// to the URL in CALLSIM_REALTIME_WSS_URL with a Bearer
key, and the simulator's CA trusted through SSL_CERT_FILE (read by OpenSSL's default verify
paths, which ssl.create_default_context() loads). Prints one JSON line: every server event.
"""
import asyncio
import base64
import json
import os
import ssl

import websockets


def frame(loud):
    return base64.b64encode(bytes((0x1F if i % 16 < 8 else 0x9F) if loud else 0xFF for i in range(160))).decode()


async def main():
    url = os.environ["CALLSIM_REALTIME_WSS_URL"] + "?model=gpt-realtime"
    events = []
    context = ssl.create_default_context()
    async with websockets.connect(url, ssl=context, extra_headers={"Authorization": "Bearer sk-python"}) as ws:
        async def next_event(kind):
            while True:
                event = json.loads(await asyncio.wait_for(ws.recv(), 10))
                events.append(event)
                if event["type"] == kind:
                    return event

        await next_event("session.created")
        await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "audio": {
            "input": {"format": {"type": "audio/pcmu"}, "turn_detection": {"type": "server_vad", "silence_duration_ms": 300}},
            "output": {"format": {"type": "audio/pcmu"}}}}}))
        await next_event("session.updated")
        for loud in [True] * 15 + [False] * 25:
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": frame(loud)}))
        await next_event("response.done")
    print(json.dumps({"events": events}))


asyncio.run(main())
