// The gate against the planted Python voice agent (Debian's python3-aiohttp and python3-twilio).
import { agentSuite } from './helpers/agent-suite.js';

agentSuite({ name: 'Python', command: '/usr/bin/python3 test/agents/python_agent.py', crash: /Traceback \(most recent call last\)[\s\S]*TypeError: 'NoneType' object is not subscriptable/ });
