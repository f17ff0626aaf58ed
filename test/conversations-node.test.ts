// Scripted callers against the planted Node voice agent (node:http + ws).
import { conversationSuite } from './helpers/conversation-suite.js';

conversationSuite({ name: 'Node', command: 'node test/agents/node-agent.mjs', crash: /TypeError/ });
