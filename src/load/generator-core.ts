// One generator: its share of the load's calls, their send wheel and the window accumulators.
// It runs in a worker thread (worker.ts; one event loop per core the generator may use) or, with
// --workers 0, in the calling thread. It measures itself as it measures the server: its thread's
// CPU, its event loop, and how late its own wheel ran.
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';
import { AgentAudioWindow } from './answer-meter.js';
import { LoadCall, type CallerWindow } from './load-call.js';
import { threadCpuMs } from './proc.js';
import type { CallOutcome, GeneratorConfig, OpenRequest, OpenResult, WorkerRequest, WorkerWindow } from './protocol.js';
import { SendWheel } from './send-wheel.js';

const ELD_RESOLUTION_MS = 10;
/** How often the launcher looks for calls that are due. */
const LAUNCH_EVERY_MS = 5;
/** The caller waits this long after `stop` for the server to close, before closing itself. */
const HANG_UP_GRACE_MS = 500;

export class GeneratorCore {
  private config: GeneratorConfig | null = null;
  private calls: LoadCall[] = [];
  private readonly wheel = new SendWheel<LoadCall>();
  private readonly callerWindow: CallerWindow = { open: false, framesSent: 0, framesDropped: 0 };
  private readonly agentWindow = new AgentAudioWindow();
  private readonly eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  private windowFrom = { wall: 0, cpuMs: null as number | null, elu: null as EventLoopUtilization | null };

  constructor() {
    this.eld.enable();
  }

  handle(request: WorkerRequest): Promise<unknown> | unknown {
    switch (request.cmd) {
      case 'configure':
        this.config = request.config;
        return null;
      case 'open':
        return this.open(request.request);
      case 'window-start':
        return this.windowStart();
      case 'window-end':
        return this.windowEnd();
      case 'hang-up':
        return this.hangUp(request.timeoutMs);
      case 'close':
        return this.close();
    }
  }

  private open(request: OpenRequest): Promise<OpenResult> {
    const config = this.config;
    if (config === null) throw new Error('generator not configured');
    this.wheel.start();
    const began = performance.now();
    const batch = request.indexes.map((index, i) => ({
      call: new LoadCall(index, request.directions[i]!, config, this.callerWindow, this.agentWindow),
      at: began + request.launchAtMs[i]!,
    }));
    this.calls.push(...batch.map((b) => b.call));
    const notes = new Set<string>();
    let fellBack = 0;
    const started: Array<Promise<void>> = [];
    return new Promise<OpenResult>((resolve) => {
      let next = 0;
      const launch = (): void => {
        const now = performance.now();
        while (next < batch.length && batch[next]!.at <= now) {
          const { call } = batch[next++]!;
          started.push(
            call.start().then((result) => {
              if (result.fellBack) fellBack += 1;
              if (result.note !== null) notes.add(result.note);
              if (result.ok) this.wheel.add(call);
            }),
          );
        }
        if (next < batch.length) setTimeout(launch, LAUNCH_EVERY_MS);
        else void settle();
      };
      const settle = async (): Promise<void> => {
        // Each start() ends by itself (webhook and handshake timeouts); this bound is for a peer that stalls past them.
        const giveUp = setTimeout(() => {
          for (const { call } of batch) call.abandon(`not streaming ${config.connectTimeoutMs} ms after it was placed`);
        }, config.connectTimeoutMs + 1000);
        await Promise.all(started);
        clearTimeout(giveUp);
        const failed = batch.filter((b) => b.call.state !== 'streaming');
        resolve({
          opened: batch.length - failed.length,
          failed: failed.length,
          fellBackToDirect: fellBack,
          firstError: failed[0]?.call.outcome().error ?? null,
          notes: [...notes],
        });
      };
      launch();
    });
  }

  private windowStart(): null {
    this.agentWindow.start();
    this.callerWindow.framesSent = 0;
    this.callerWindow.framesDropped = 0;
    this.callerWindow.open = true;
    this.wheel.slip.reset();
    this.wheel.measuring = true;
    this.eld.reset();
    this.windowFrom = { wall: performance.now(), cpuMs: threadCpuMs(), elu: performance.eventLoopUtilization() };
    return null;
  }

  private windowEnd(): WorkerWindow {
    const from = this.windowFrom;
    const cpuNow = threadCpuMs();
    const elu = performance.eventLoopUtilization(from.elu ?? undefined);
    this.agentWindow.stop();
    this.callerWindow.open = false;
    this.wheel.measuring = false;
    const agent = this.agentWindow;
    const eldP99 = this.eld.count > 0 ? Math.max(0, this.eld.percentile(99) / 1e6 - ELD_RESOLUTION_MS) : null;
    return {
      wallMs: performance.now() - from.wall,
      cpuMs: cpuNow !== null && from.cpuMs !== null ? cpuNow - from.cpuMs : null,
      utilization: elu.utilization,
      eventLoopDelayP99Ms: eldP99,
      framesSent: this.callerWindow.framesSent,
      framesDropped: this.callerWindow.framesDropped,
      agentFrames: agent.frames,
      gaps: agent.gaps,
      gapMs: agent.gapMs,
      turns: agent.turns,
      answered: agent.answered,
      jitter: agent.jitter.data(),
      latency: agent.latency.data(),
      slip: this.wheel.slip.data(),
      streamingCalls: this.calls.filter((c) => c.state === 'streaming').length,
    };
  }

  private async hangUp(timeoutMs: number): Promise<CallOutcome[]> {
    const calls = this.calls;
    await Promise.all(calls.map((call) => call.hangUp(Math.min(HANG_UP_GRACE_MS, timeoutMs), timeoutMs)));
    this.wheel.clear();
    this.wheel.stop();
    this.calls = [];
    return calls.map((call) => call.outcome());
  }

  private close(): null {
    this.wheel.stop();
    this.eld.disable();
    return null;
  }
}
