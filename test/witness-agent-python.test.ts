// The model-side witness against the planted Python agent (aiohttp), its bugs and its twin.
import { witnessSuite } from './helpers/witness-suite.js';
import { PYTHON_AGENT } from './helpers/witness-cli.js';

witnessSuite({ name: 'Python', command: PYTHON_AGENT, urlBugs: ['no-model-close', 'stale-truncate'] });
