// callsim's public API: what a user needs to drive callsim from their own test runner. Replay a
// call and judge it, run the gate, start the media server (the reference agent) or the realtime
// model simulator, and the Twilio wire codec and audio helpers those are built from. Everything
// here is typed and stable; anything not exported here is internal and may change.
//
//   import { replay, startMediaServer } from 'callsim';
//   const server = await startMediaServer({ port: 0, quiet: true });
//   const report = await replay({ file: 'hello.wav', url: server.wsUrl, webhook: { path: '/twiml' }, direction: 'outbound' });
//   await server.close();

// ---- replaying calls (the fake Twilio) ------------------------------------------------------
export { runReplay as replay, defaultTimeoutMs, statsUrlFor, DEFAULT_WEBHOOK_PATH } from './caller/replay.js';
export type { ReplayOptions, ReplayReport, ReplayCheck, CheckStatus, CallSummary, ServerStats, WebhookTarget } from './caller/replay.js';
export { runCallFlow, directParams } from './caller/call-flow.js';
export type { CallFlowOptions, CallFlowReport, CallFlowResult, CallSetup, SetupFailure, StreamReport, TwimlReport, WebhookReport } from './caller/call-flow.js';
export { webhookParams, DEFAULT_PARTIES } from './caller/webhook.js';
export type { CallParties, WebhookMethod } from './caller/webhook.js';
export { DEFAULT_NETWORK_DELAY } from './caller/network.js';
export type { NetworkDelay } from './caller/network.js';
export { placeCall } from './caller/call.js';
export type { PlaceCallOptions, CallRecord, CallEnding, CallProgress, DtmfPlan, StreamShape, WireErrorSummary } from './caller/call.js';
export type { PlaybackLog, PlaybackRun } from './caller/playback.js';
export type { CallTiming } from './caller/clock.js';

// ---- scripted conversations (scenario files), the bad line, recordings ----------------------
export { runScenario, scenarioTimeoutMs } from './scenario/run.js';
export type { ScenarioRunOptions } from './scenario/run.js';
export { loadScenario, parseScenario, ScenarioError } from './scenario/load.js';
export type { LoadedScenario, ScenarioStep, Clip } from './scenario/load.js';
export { scenarioSchema, scenarioJsonSchema } from './scenario/schema.js';
export type { ScenarioFile, StepExpectations } from './scenario/schema.js';
export type { ConversationReport, StepReport } from './scenario/report.js';
export type { TurnReport, TurnKind, AnswerReport, SendReport, ConversationFigures, ResponseSplit } from './scenario/measure.js';
export { CLEAN_LINE } from './caller/network.js';
export type { BadLine } from './caller/network.js';
export type { CallerVoice, VoiceFrame, VoiceFactory } from './caller/voice.js';
export type { CallerEar, HeardChunk, HeardClear } from './caller/heard.js';
export { renderRecording } from './caller/recording.js';
export { renderTrace } from './caller/trace.js';
export type { CallTape, WireMessage, SaidFrame } from './caller/tape.js';

// ---- the pre-deploy gate --------------------------------------------------------------------
export { runGate as gate, buildMatrix, GATE_TIMINGS } from './gate/gate.js';
export type { GateOptions, GatePlacement, GateResult, GateCallResult, GateCell, GateTiming, Finding, FindingKind } from './gate/gate.js';
export type { TargetSpec } from './gate/target.js';
export { CRASH_SIGNATURES, LogCollector, scanLine } from './gate/crash-scan.js';
export type { CrashSignature, CrashHit, LogLine } from './gate/crash-scan.js';
export { summarizeFigures as summarizeRunFigures, FIGURE_NAMES, FIGURE_LABELS } from './gate/figures.js';
export type { FigureName, FigureSummary as RunFigureSummary, Thresholds, TurnFigures } from './gate/figures.js';
export { baselineOf, compareToBaseline, loadBaseline, saveBaseline, BaselineError } from './gate/baseline.js';
export type { Baseline, BaselineComparison, Regression, RegressionRules } from './gate/baseline.js';

// ---- the model side as a witness: give replay() a witness, or the gate its options ---------
export { ModelWitness, MODEL_CHECKS, DEFAULT_MODEL_CLOSE_MS } from './gate/witness/witness.js';
export type { ModelWitnessOptions } from './gate/witness/witness.js';
export type { GateWitnessOptions } from './gate/witness/run.js';
export type { FirstSpeakerExpectation, Speaker } from './gate/witness/session-checks.js';
export { localSource, remoteSource, sessionsUrlOf, SessionSourceError } from './gate/witness/source.js';
export type { SessionSource, SessionRead } from './gate/witness/source.js';
export { startGateModel, modelHandover, fillPlaceholders, GATE_API_KEY } from './gate/witness/model.js';
export type { GateModel, ModelHandover } from './gate/witness/model.js';
export type { CallWitness, WitnessTicket, WitnessedCall, ModelLegVerdict, ModelLegReport, ModelSessionSummary, ModelAnswer, CorrelationMethod } from './caller/witness.js';
export { watermarkFrame, readWatermarks, findWatermarks, isCarrier, WATERMARK_BITS, MAX_WATERMARK_TAG } from './audio/watermark.js';
export type { WatermarkHit } from './audio/watermark.js';

// ---- capacity: callsim load -------------------------------------------------------------------
export { runLoad as load, loadOptions, LOAD_DEFAULTS, DEFAULT_CALL_AUDIO } from './load/ramp.js';
export { formatLoadReport, formatLoadTable, describeCapacity } from './load/table.js';
export type { LoadOptions, LoadResult, LoadStep, LoadCapacity, LoadThresholds, LoadPlacementOptions, LoadProgress, StepVerdict } from './load/types.js';
export type { LoadTargetSpec } from './load/target.js';
export type { Summary as LoadSummary } from './load/histogram.js';

// ---- the media server and the model simulator -----------------------------------------------
export { startMediaServer, MEDIA_PATH } from './server/media-server.js';
export type { MediaServerOptions, RunningMediaServer, MediaServerStats, ModelOptions } from './server/media-server.js';
export { formatPlayoutMark, parsePlayoutMark } from './server/playout-mark.js';
export type { PlayoutMark } from './server/playout-mark.js';
export type { CallSnapshot, CallCounters, CallErrorRecord, CallState } from './server/call-snapshot.js';
export { startRealtimeSimulator, loadModelScript, parseModelScript, modelScriptJsonSchema, ModelScriptError, LoadedModelScript, TranscriptIndex, UNRECOGNISED_TRANSCRIPT, REALTIME_PATH, SESSIONS_PATH } from './model/simulator/simulator.js';
export type { RealtimeSimulatorOptions, RunningSimulator, SimulatorFaults, SimulatorSessionStats, SimulatorSessionRecord, ConfigRecord, AudioInRecord, CommitRecord, ResponseRecord, TruncationRecord, ItemRecord, ErrorRecord, ClosedBy, SessionTransport, ModelScript, ScriptTurn, ScriptFault } from './model/simulator/simulator.js';

// ---- the Twilio wire format -----------------------------------------------------------------
export { parseTwilioMessage, parseServerMessage, isBase64, base64DecodedLength, OutboundFrameBuilder, CALL_DIRECTIONS, MAX_MESSAGE_BYTES } from './twilio/codec.js';
export { InboundFrameBuilder, TwilioCarrierSerializer, startMessage, CONNECTED_MESSAGE, newSid, newStreamIds } from './twilio/codec.js';
export { STREAM_PROTOCOL, STREAM_PROTOCOL_VERSION, MULAW_ENCODING, TWILIO_MEDIA_FORMAT, DTMF_TRACK } from './twilio/codec.js';
export type * from './twilio/codec.js';
export { computeTwilioSignature, validateTwilioSignature, signTwilioRequest, withBodySha256, TWILIO_SIGNATURE_HEADER } from './twilio/signature.js';
export type { SignedRequest, SignatureParams } from './twilio/signature.js';
export { readTwiml, connectStreamTwiml, TWIML_MAX_BYTES } from './twilio/twiml.js';
export type { TwimlCallPlan, TwimlStream, TwimlVerb, TwimlError, StreamTrack, StreamVerb } from './twilio/twiml.js';

// ---- audio ----------------------------------------------------------------------------------
export { FRAME_BYTES, FRAME_MS, MULAW_SILENCE, SAMPLE_RATE } from './audio/format.js';
export { WavInputError, loadWavAsMulawFrames, decodeWavToMono8k, mulawFramesToWav } from './audio/wav.js';
export type { MulawAudio, DecodedAudio, SourceFormat } from './audio/wav.js';

// ---- reports, and the gate's config file ----------------------------------------------------
export { REPORTERS, REPORTER_NAMES, ReporterGroup, parseReporterSpec, reporterConflict, replayCell, replayCallResult, replayRun, formatGateTable, formatReplayReport, formatJunit } from './report/index.js';
export type { Reporter, ReporterContext, ReporterSpec, ReporterName, ReporterIo, ReporterError, RunCommand, RunStart, CallStart, CallEnd, RunEnd, RunFailure, TextSink } from './report/index.js';
export { formatJunitFailure, formatHtml, formatHtmlFailure, githubAnnotations, githubSummary, FIGURE_KINDS, summarizeFigures, percentile, groupFindings } from './report/index.js';
export type { FigureKind, FigureSummary, FindingGroup } from './report/index.js';
export type { CallFigures } from './gate/gate.js';
export type { ServerLogSlice } from './gate/server-log.js';
export { MAX_TIMELINE_FRAMES, MAX_EVENTS_PER_KIND } from './caller/timeline.js';
export type { CallTimelineData, TimelineEvent, TimelineLane, FrameColumns, CallerEventKind } from './caller/timeline.js';
export { PLAIN, COLOUR, styleFor, colourEnabled } from './text/style.js';
export type { Style } from './text/style.js';
export { CONFIG_FILE, GATE_CONFIG_SCHEMA, GateConfigError, loadGateConfig, validateGateConfig } from './gate/config.js';
export type { GateConfig } from './gate/config.js';
