// The model-side witness against the planted Node agent (node:http + ws), its bugs and its twin.
import { witnessSuite } from './helpers/witness-suite.js';
import { NODE_AGENT } from './helpers/witness-cli.js';

witnessSuite({ name: 'Node', command: NODE_AGENT, urlBugs: ['drop-early-audio', 'late-session-update', 'no-model-close', 'stale-truncate', 'double-response'] });
