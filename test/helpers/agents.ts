// Gating the planted voice agents (test/agents/): each run gets a realtime simulator for the
// agent's model leg, whose URL goes into the server command's environment, as a user would set it.
import { LoadedModelScript, startRealtimeSimulator, type RunningSimulator } from '../../src/model/simulator/simulator.js';
import type { LoadedScenario } from '../../src/scenario/load.js';
import { runGate, type GateCallResult, type GateOptions, type GatePlacement, type GateResult } from '../../src/gate/gate.js';
import type { GateTiming } from '../../src/gate/gate.js';

export const FIXTURE = 'fixtures/hello-8k-mulaw.wav';

export interface AgentRun {
  /** The agent's command without the environment (node test/agents/node-agent.mjs ...). */
  command: string;
  bug?: string;
  /** TWILIO_AUTH_TOKEN for the agent: it then checks every signature with the official twilio package. */
  agentToken?: string;
  timings?: GateTiming[];
  placement?: GatePlacement;
  wsPath?: string;
}

/** `script`: what the model says (a model script object, as in a --script file); default: the simulator's own answers. */
export async function withSimulator<T>(run: (simulator: RunningSimulator) => Promise<T>, script?: unknown): Promise<T> {
  const simulator = await startRealtimeSimulator({ port: 0, ...(script !== undefined ? { script: LoadedModelScript.fromObject(script) } : {}) });
  try {
    return await run(simulator);
  } finally {
    await simulator.close();
  }
}

function agentCommand(simulator: RunningSimulator, agent: AgentRun): string {
  const env = [`OPENAI_API_KEY=sk-callsim-dummy`, `CALLSIM_REALTIME_WSS_URL=ws://127.0.0.1:${simulator.port}/v1/realtime`, ...(agent.agentToken ? [`TWILIO_AUTH_TOKEN=${agent.agentToken}`] : [])].join(' ');
  return `${env} ${agent.command} --port {port}${agent.bug ? ` --bug ${agent.bug}` : ''}`;
}

export function gateAgent(simulator: RunningSimulator, agent: AgentRun): Promise<GateResult> {
  const options: GateOptions = {
    fixtures: [FIXTURE],
    directions: ['inbound', 'outbound'],
    timings: agent.timings ?? ['realtime', 'burst', 'early-media'],
    speed: 4,
    concurrency: 3,
    target: { kind: 'command', command: agentCommand(simulator, agent), wsPath: agent.wsPath ?? '/media-stream', readyTimeoutMs: 15_000 },
    expectAudio: true,
    placement: agent.placement ?? { webhook: { path: '/incoming-call' } },
  };
  return runGate(options);
}

/** The agent through its webhook, each scenario on one inbound real-time call at `speed`. */
export function gateAgentScenarios(simulator: RunningSimulator, agent: AgentRun, scenarios: readonly LoadedScenario[], speed = 2): Promise<GateResult> {
  return runGate({
    fixtures: [],
    scenarios,
    directions: ['inbound'],
    timings: ['realtime'],
    speed,
    concurrency: 2,
    target: { kind: 'command', command: agentCommand(simulator, agent), wsPath: agent.wsPath ?? '/media-stream', readyTimeoutMs: 15_000 },
    expectAudio: true,
    placement: agent.placement ?? { webhook: { path: '/incoming-call' } },
  });
}

export function describeFindings(call: GateCallResult): string {
  return call.findings.map((f) => `${f.kind}: ${f.message}\n${f.lines.join('\n')}`).join('\n');
}

export interface AgentSuite {
  /** How the agent is named in test titles. */
  name: string;
  command: string;
  /** The line the outbound-counter bug prints. */
  crash: RegExp;
}
