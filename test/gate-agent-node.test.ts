// The gate against the planted Node voice agent (node:http + ws, the official twilio package).
import { agentSuite } from './helpers/agent-suite.js';

agentSuite({ name: 'Node', command: 'node test/agents/node-agent.mjs', crash: /TypeError: Cannot read properties of null \(reading '(framesIn|marksHeard)'\)/ });
