// Gating the planted voice agents (test/agents/): the gate hands each its own realtime simulator
// (CALLSIM_REALTIME_WSS_URL, OPENAI_API_KEY and the CA, in the server command's environment), so
// every run judges the agent's model leg too.
import { LoadedModelScript } from '../../src/model/simulator/simulator.js';
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

function agentCommand(agent: AgentRun): string {
  const env = agent.agentToken ? `TWILIO_AUTH_TOKEN=${agent.agentToken} ` : '';
  return `${env}${agent.command} --port {port}${agent.bug ? ` --bug ${agent.bug}` : ''}`;
}

export function gateAgent(agent: AgentRun): Promise<GateResult> {
  const options: GateOptions = {
    fixtures: [FIXTURE],
    directions: ['inbound', 'outbound'],
    timings: agent.timings ?? ['realtime', 'burst', 'early-media'],
    speed: 4,
    concurrency: 3,
    target: { kind: 'command', command: agentCommand(agent), wsPath: agent.wsPath ?? '/media-stream', readyTimeoutMs: 15_000 },
    expectAudio: true,
    placement: agent.placement ?? { webhook: { path: '/incoming-call' } },
  };
  return runGate(options);
}

/**
 * The agent through its webhook, each scenario on one inbound real-time call at `speed`; `script`:
 * what the gate's simulator says (a model script object, as in a --script file), default its own answers.
 */
export function gateAgentScenarios(agent: AgentRun, scenarios: readonly LoadedScenario[], script?: unknown, speed = 2): Promise<GateResult> {
  return runGate({
    fixtures: [],
    scenarios,
    directions: ['inbound'],
    timings: ['realtime'],
    speed,
    concurrency: 2,
    target: { kind: 'command', command: agentCommand(agent), wsPath: agent.wsPath ?? '/media-stream', readyTimeoutMs: 15_000 },
    expectAudio: true,
    placement: agent.placement ?? { webhook: { path: '/incoming-call' } },
    ...(script !== undefined ? { witness: { script: LoadedModelScript.fromObject(script) } } : {}),
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
