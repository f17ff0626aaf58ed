// Scripted callers against the planted Python voice agent (Debian's python3-aiohttp).
import { conversationSuite } from './helpers/conversation-suite.js';

conversationSuite({ name: 'Python', command: '/usr/bin/python3 test/agents/python_agent.py', crash: /Traceback/ });
