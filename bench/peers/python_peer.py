#!/usr/bin/python3
"""A peer for the benchmark, written the way a plain Python agent server is: asyncio and the
`websockets` package (Debian's python3-websockets), one handler per Twilio stream, one model
connection per call, json.loads and json.dumps for every message, one task per direction. The
voice webhook is a GET on /incoming-call (websockets answers plain HTTP GETs, not POSTs), so the
benchmark places its calls with --webhook-method GET. Honest: the model connection is open before
the first caller frame is read (Twilio's frames wait in the socket, none is lost), every frame is
forwarded and every answer played, with a mark after each delta. The GA Realtime protocol
(audio/pcmu both ways); the model URL from CALLSIM_REALTIME_URL, as `callsim load --server-cmd`
gives it.

    CALLSIM_REALTIME_URL=ws://... /usr/bin/python3 bench/peers/python_peer.py --port 0
"""
import argparse
import asyncio
import json
import os
import signal
from http import HTTPStatus

import websockets

MODEL_URL = os.environ.get('CALLSIM_REALTIME_URL', 'wss://api.openai.com/v1/realtime')
API_KEY = os.environ.get('OPENAI_API_KEY', '')
SYSTEM_MESSAGE = 'You are a helpful phone assistant. Keep answers short.'

TWIML = '''<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Connect>
    <Stream url="wss://{host}/media-stream" />
  </Connect>
</Response>'''


async def process_request(path, headers):
    """Plain HTTP: the voice webhook; anything else but the stream is 404."""
    if path.split('?')[0] == '/incoming-call':
        body = TWIML.format(host=headers.get('Host', 'localhost')).encode()
        return HTTPStatus.OK, [('Content-Type', 'text/xml'), ('Content-Length', str(len(body)))], body
    if path.split('?')[0] != '/media-stream':
        return HTTPStatus.NOT_FOUND, [('Content-Length', '0')], b''
    return None


async def handle(twilio_ws, path=None):
    headers = {'Authorization': f'Bearer {API_KEY}'}
    async with websockets.connect(f'{MODEL_URL}?model=gpt-realtime', extra_headers=headers, max_size=None) as model_ws:
        await model_ws.send(json.dumps({
            'type': 'session.update',
            'session': {
                'type': 'realtime',
                'model': 'gpt-realtime',
                'output_modalities': ['audio'],
                'audio': {
                    'input': {'format': {'type': 'audio/pcmu'}, 'turn_detection': {'type': 'server_vad'}},
                    'output': {'format': {'type': 'audio/pcmu'}, 'voice': 'alloy'},
                },
                'instructions': SYSTEM_MESSAGE,
            },
        }))
        state = {'stream_sid': None, 'latest_ms': 0, 'last_item': None, 'marks': [], 'response_start_ms': None}

        async def from_twilio():
            async for message in twilio_ws:
                data = json.loads(message)
                event = data.get('event')
                if event == 'media':
                    state['latest_ms'] = int(data['media']['timestamp'])
                    await model_ws.send(json.dumps({'type': 'input_audio_buffer.append', 'audio': data['media']['payload']}))
                elif event == 'start':
                    state['stream_sid'] = data['start']['streamSid']
                elif event == 'mark':
                    if state['marks']:
                        state['marks'].pop(0)
                elif event == 'stop':
                    await twilio_ws.close(code=1000, reason='stream stopped')
                    return

        async def from_model():
            async for message in model_ws:
                response = json.loads(message)
                kind = response.get('type')
                if kind == 'response.output_audio.delta' and response.get('delta'):
                    await twilio_ws.send(json.dumps({'event': 'media', 'streamSid': state['stream_sid'], 'media': {'payload': response['delta']}}))
                    if state['response_start_ms'] is None:
                        state['response_start_ms'] = state['latest_ms']
                    state['last_item'] = response.get('item_id') or state['last_item']
                    await twilio_ws.send(json.dumps({'event': 'mark', 'streamSid': state['stream_sid'], 'mark': {'name': 'responsePart'}}))
                    state['marks'].append('responsePart')
                elif kind == 'input_audio_buffer.speech_started' and state['marks'] and state['response_start_ms'] is not None:
                    if state['last_item']:
                        await model_ws.send(json.dumps({'type': 'conversation.item.truncate', 'item_id': state['last_item'], 'content_index': 0,
                                                        'audio_end_ms': state['latest_ms'] - state['response_start_ms']}))
                    await twilio_ws.send(json.dumps({'event': 'clear', 'streamSid': state['stream_sid']}))
                    state.update(marks=[], last_item=None, response_start_ms=None)
                elif kind == 'error':
                    print(f"model error: {response.get('error', {}).get('message')}", flush=True)

        model_task = asyncio.ensure_future(from_model())
        try:
            await from_twilio()
        except websockets.ConnectionClosed:
            pass
        finally:
            model_task.cancel()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--port', type=int, default=int(os.environ.get('PORT', '0')))
    args = parser.parse_args()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with websockets.serve(handle, '127.0.0.1', args.port, process_request=process_request, max_size=64 * 1024, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f'listening on ws://127.0.0.1:{port}/media-stream', flush=True)
        await stop.wait()


if __name__ == '__main__':
    asyncio.run(main())
