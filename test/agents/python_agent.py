#!/usr/bin/python3
"""A planted voice agent written the way the public Python Twilio + OpenAI Realtime samples are.

aiohttp serves the voice webhook and the Media Streams socket and dials the model, one asyncio
task per direction, per-call state in a small class; the GA Realtime protocol (audio/pcmu both
ways, server VAD). It knows nothing of callsim: the model URL comes from CALLSIM_REALTIME_WSS_URL
(else OpenAI's), the key from OPENAI_API_KEY, TLS trust from SSL_CERT_FILE (OpenSSL's own
variable), and signatures are checked with the official twilio package when TWILIO_AUTH_TOKEN is
set. Only Debian packages: python3-aiohttp, python3-twilio.

Healthy by default, and careful about interruptions as node-agent.mjs is: server VAD with
interrupt_response off, an answer cut only after half a second of voiced caller audio over it (a
backchannel does not stop it), a cut is clear + truncate + response.cancel, and the cut answer's
late deltas are dropped. --bug NAME (repeatable, or AGENT_BUGS=a,b) plants one real-world fault;
the names and faults are those of node-agent.mjs beside this file.

    /usr/bin/python3 test/agents/python_agent.py --port 0   -> "listening on http://127.0.0.1:PORT"
"""
import argparse
import asyncio
import base64
import json
import os
import signal
import sys

from aiohttp import WSMsgType, ClientSession, web
from twilio.request_validator import RequestValidator

KNOWN_BUGS = {
    'outbound-counter', 'drop-early-audio', 'late-session-update', 'no-model-close', 'stale-truncate',
    'double-response', 'slow-answer', 'burst-deaf', 'stops-on-any-sound', 'ignores-dtmf',
}
REALTIME_URL = os.environ.get('CALLSIM_REALTIME_WSS_URL', 'wss://api.openai.com/v1/realtime')
MODEL = os.environ.get('OPENAI_REALTIME_MODEL', 'gpt-realtime')
AUTH_TOKEN = os.environ.get('TWILIO_AUTH_TOKEN', '')
INSTRUCTIONS = 'You are a friendly phone assistant. Keep answers short.'
MULAW_BYTES_PER_MS = 8
# Voiced caller audio over an answer before it is cut: less is a backchannel.
MIN_INTERRUPTION_MS = 500
FRAME_MS = 20

BUGS = set()
CALLS_BY_SID = {}


def log(*parts):
    print(*parts, flush=True)


def twiml_for(host):
    return f'''<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Connect>
    <Stream url="wss://{host}/media-stream">
      <Parameter name="agent" value="python-sample"/>
    </Stream>
  </Connect>
</Response>'''


async def incoming_call(request):
    if request.method == 'POST':
        params = dict(await request.post())
    else:
        params = dict(request.query)
    if AUTH_TOKEN:
        signed_url = f'http://{request.host}{request.path_qs}'
        signature = request.headers.get('X-Twilio-Signature', '')
        if not RequestValidator(AUTH_TOKEN).validate(signed_url, params if request.method == 'POST' else {}, signature):
            log(f'webhook refused: bad signature for {signed_url}')
            return web.Response(status=403)
    call_sid = params.get('CallSid')
    CALLS_BY_SID[call_sid] = {'direction': params.get('Direction', 'inbound')}
    log(f"incoming call {call_sid} ({params.get('Direction', 'inbound')})")
    return web.Response(text=twiml_for(request.host), content_type='text/xml')


class Call:
    """One call: the Twilio socket, the model socket, and what the answer being played has done."""

    def __init__(self, twilio_ws, model_ws):
        self.twilio_ws = twilio_ws
        self.model_ws = model_ws
        self.stream_sid = None
        self.call_sid = None
        self.stats = None
        self.session_configured = False
        self.pending_audio = []
        self.pending_keys = []
        self.current_item = None
        self.sent_ms = 0.0
        self.heard_ms = 0.0
        self.speaking = False
        # The caller started talking over the answer: voiced ms so far (None: not now).
        self.interrupting_ms = None
        self.cut_item = None
        self.responding = False
        self.answer_after_response = False
        self.marks = []
        self.mark_seq = 0
        self.held_audio = []
        self.hold_until = None
        self.greet_pending = False
        self.greeted = False

    async def send_model(self, event):
        await self.model_ws.send_str(json.dumps(event))

    async def send_twilio(self, message):
        if not self.twilio_ws.closed:
            await self.twilio_ws.send_str(json.dumps(message))

    async def configure_session(self):
        await self.send_model({
            'type': 'session.update',
            'session': {
                'type': 'realtime',
                'instructions': INSTRUCTIONS,
                'output_modalities': ['audio'],
                'audio': {
                    'input': {'format': {'type': 'audio/pcmu'}, 'turn_detection': {'type': 'server_vad', 'interrupt_response': False}},
                    'output': {'format': {'type': 'audio/pcmu'}, 'voice': 'alloy'},
                },
            },
        })
        self.session_configured = True
        # On a call it placed the agent speaks first: right after session.update, before any
        # caller audio goes in (a greeting asked for later races the caller's first turn).
        if self.greet_pending:
            await self.greet()
        pending, self.pending_audio = self.pending_audio, []
        for payload in pending:
            await self.send_model({'type': 'input_audio_buffer.append', 'audio': payload})
        keys, self.pending_keys = self.pending_keys, []
        for digit in keys:
            await self.tell_key(digit)

    async def start_session(self):
        if 'late-session-update' in BUGS:
            self.session_configured = True
            pending, self.pending_audio = self.pending_audio, []
            for payload in pending:
                await self.send_model({'type': 'input_audio_buffer.append', 'audio': payload})
            await asyncio.sleep(0.3)
        await self.configure_session()

    async def greet(self):
        # The agent speaks first on calls it placed.
        if self.greeted:
            return
        self.greeted = True
        await self.send_model({'type': 'conversation.item.create', 'item': {'type': 'message', 'role': 'user', 'content': [{'type': 'input_text', 'text': 'Greet the person you called.'}]}})
        await self.create_response()

    async def create_response(self):
        # One response at a time: a second response.create while one is active is an error.
        if self.responding:
            self.answer_after_response = True
            return
        self.responding = True
        await self.send_model({'type': 'response.create'})

    async def forward_audio(self, delta):
        await self.send_twilio({'event': 'media', 'streamSid': self.stream_sid, 'media': {'payload': delta}})
        self.sent_ms += len(base64.b64decode(delta)) / MULAW_BYTES_PER_MS
        self.mark_seq += 1
        name = f'a{self.mark_seq}'
        self.marks.append((name, self.sent_ms))
        await self.send_twilio({'event': 'mark', 'streamSid': self.stream_sid, 'mark': {'name': name}})

    async def interrupt(self):
        self.interrupting_ms = None
        if self.current_item is None:
            return
        audio_end_ms = self.sent_ms if 'stale-truncate' in BUGS else self.heard_ms
        # Cancel first: truncating the item still being made ends its response too.
        if self.responding:
            await self.send_model({'type': 'response.cancel'})
        await self.send_model({'type': 'conversation.item.truncate', 'item_id': self.current_item, 'content_index': 0, 'audio_end_ms': round(audio_end_ms)})
        await self.send_twilio({'event': 'clear', 'streamSid': self.stream_sid})
        self.marks.clear()
        self.held_audio.clear()
        self.cut_item = self.current_item
        self.current_item = None
        self.speaking = False

    async def release_held(self, item):
        await asyncio.sleep(2.5)
        if self.current_item == item:
            held, self.held_audio = self.held_audio, []
            for delta in held:
                await self.forward_audio(delta)

    async def on_model_event(self, event):
        kind = event.get('type')
        if kind == 'response.created':
            self.responding = True
        elif kind == 'response.output_audio.delta':
            # The answer the caller cut off may still send a few deltas: they must not play.
            if event.get('item_id') == self.cut_item:
                return
            if event.get('item_id') != self.current_item:
                self.current_item = event.get('item_id')
                self.sent_ms = 0.0
                self.heard_ms = 0.0
                self.hold_until = None
            self.speaking = True
            loop = asyncio.get_running_loop()
            if 'slow-answer' in BUGS and self.hold_until is None:
                self.hold_until = loop.time() + 2.5
                asyncio.ensure_future(self.release_held(self.current_item))
            if self.hold_until is not None and loop.time() < self.hold_until:
                self.held_audio.append(event['delta'])
            else:
                await self.forward_audio(event['delta'])
        elif kind == 'response.done':
            self.responding = False
            if 'burst-deaf' in BUGS:
                self.speaking = False
            if self.answer_after_response:
                self.answer_after_response = False
                await self.create_response()
        elif kind == 'input_audio_buffer.speech_started':
            # Maybe an interruption: it is one once the caller has kept talking (on_media counts).
            if self.speaking:
                self.interrupting_ms = 0
        elif kind == 'input_audio_buffer.speech_stopped':
            # The caller stopped before it was an interruption: a backchannel, the answer goes on.
            self.interrupting_ms = None
            if 'double-response' in BUGS:
                await self.send_model({'type': 'response.create'})
        elif kind == 'error':
            error = event.get('error') or {}
            log(f"model error for {self.call_sid}: {error.get('code')}: {error.get('message')}")

    async def on_start(self, start):
        self.stream_sid = start['streamSid']
        self.call_sid = start['callSid']
        call = CALLS_BY_SID.get(self.call_sid) or {}
        # What the voice webhook said of this CallSid; Twilio's start carries only our own <Parameter>s.
        direction = call.get('direction') or 'inbound'
        log(f'stream {self.stream_sid} started for call {self.call_sid} ({direction})')
        if direction == 'inbound' or 'outbound-counter' not in BUGS:
            self.stats = {'frames_in': 0, 'marks_heard': 0, 'digits': ''}
        if direction.startswith('outbound'):
            if self.session_configured and self.model_ws is not None:
                await self.greet()
            else:
                self.greet_pending = True

    async def on_media(self, media):
        self.stats['frames_in'] += 1
        if 'stops-on-any-sound' in BUGS and self.speaking and is_sound(media['payload']):
            await self.interrupt()
        # An answer that has finished playing meanwhile has nothing left to cut.
        if not self.speaking:
            self.interrupting_ms = None
        if self.interrupting_ms is not None and is_sound(media['payload']):
            self.interrupting_ms += FRAME_MS
            if self.interrupting_ms >= MIN_INTERRUPTION_MS:
                await self.interrupt()
        if self.session_configured:
            await self.send_model({'type': 'input_audio_buffer.append', 'audio': media['payload']})
        elif 'drop-early-audio' not in BUGS:
            self.pending_audio.append(media['payload'])

    def on_mark(self, name):
        self.stats['marks_heard'] += 1
        for index, (mark, ms) in enumerate(self.marks):
            if mark == name:
                self.heard_ms = ms
                del self.marks[:index + 1]
                if not self.marks and 'burst-deaf' not in BUGS:
                    self.speaking = False
                return

    async def tell_key(self, digit):
        await self.send_model({'type': 'conversation.item.create', 'item': {'type': 'message', 'role': 'user', 'content': [{'type': 'input_text', 'text': f'The caller pressed {digit}.'}]}})
        await self.create_response()

    async def on_dtmf(self, digit):
        self.stats['digits'] += digit
        if 'ignores-dtmf' in BUGS:
            return
        # A key pressed before the session is set up waits for it, as early audio does.
        if self.session_configured:
            await self.tell_key(digit)
        else:
            self.pending_keys.append(digit)


def is_sound(payload_base64):
    audio = base64.b64decode(payload_base64)
    loud = sum(1 for byte in audio if (byte & 0x7F) < 0x60)
    return loud > len(audio) / 8


async def media_stream(request):
    if AUTH_TOKEN:
        signed_url = f'wss://{request.host}{request.path_qs}'
        if not RequestValidator(AUTH_TOKEN).validate(signed_url, {}, request.headers.get('X-Twilio-Signature', '')):
            log('media stream refused: bad signature')
            return web.Response(status=403)
    twilio_ws = web.WebSocketResponse()
    await twilio_ws.prepare(request)
    session = request.app['client']
    headers = {'Authorization': f"Bearer {os.environ.get('OPENAI_API_KEY', '')}"}
    # Dialling the model first, while Twilio's frames wait in the socket: what the samples do.
    model_connect = asyncio.ensure_future(session.ws_connect(f'{REALTIME_URL}?model={MODEL}', headers=headers))
    call = Call(twilio_ws, None)

    async def from_model():
        call.model_ws = await asyncio.shield(model_connect)
        log(f'model connected for {call.call_sid or "a new call"}')
        await call.start_session()
        async for msg in call.model_ws:
            if msg.type == WSMsgType.TEXT:
                await call.on_model_event(json.loads(msg.data))
        log(f'model socket closed for {call.call_sid} ({call.model_ws.close_code})')

    async def from_twilio():
        async for msg in twilio_ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            event = data.get('event')
            try:
                if event == 'start':
                    if call.model_ws is None and 'drop-early-audio' not in BUGS:
                        call.model_ws = await asyncio.shield(model_connect)
                    await call.on_start(data['start'])
                elif event == 'media':
                    if call.model_ws is None and 'drop-early-audio' in BUGS:
                        call.stats['frames_in'] += 1
                        continue
                    await call.on_media(data['media'])
                elif event == 'mark':
                    call.on_mark(data['mark']['name'])
                elif event == 'dtmf':
                    await call.on_dtmf(data['dtmf']['digit'])
                elif event == 'stop':
                    log(f"call {call.call_sid} stopped after {call.stats['frames_in']} frames")
            except Exception:
                import traceback
                # As logging.exception does: the message and its traceback in one write to stderr,
                # so no line of another stream can come between them.
                sys.stderr.write(f'call {call.call_sid} failed\n' + traceback.format_exc())
                sys.stderr.flush()
                await twilio_ws.close(code=1011, message=b'internal error')
                return

    model_task = asyncio.ensure_future(from_model())
    await from_twilio()
    log(f'call {call.call_sid} disconnected')
    if 'no-model-close' not in BUGS:
        if call.model_ws is not None:
            await call.model_ws.close()
        model_task.cancel()
    else:
        request.app['leaked'].append(model_task)
    return twilio_ws


async def on_startup(app):
    app['client'] = ClientSession()


async def on_cleanup(app):
    await app['client'].close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--port', type=int, default=int(os.environ.get('PORT', '0')))
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--bug', action='append', default=[])
    args = parser.parse_args()
    BUGS.update(b for b in os.environ.get('AGENT_BUGS', '').split(',') if b)
    BUGS.update(args.bug)
    unknown = BUGS - KNOWN_BUGS
    if unknown:
        print(f"unknown bug(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        sys.exit(2)
    app = web.Application()
    app['leaked'] = []
    app.router.add_route('*', '/incoming-call', incoming_call)
    app.router.add_get('/media-stream', media_stream)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)

    async def serve():
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, args.host, args.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        log(f"listening on http://{args.host}:{port} (bugs: {', '.join(sorted(BUGS)) or 'none'})")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(serve())


if __name__ == '__main__':
    main()
