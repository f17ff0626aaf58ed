// Writes model-script.schema.json and scenario.schema.json from their zod schemas
// (src/model/simulator/script.ts, src/scenario/schema.ts). Run after `npm run build`: node schemas/generate.mjs
import { writeFileSync } from 'node:fs';
import { modelScriptJsonSchema } from '../dist/src/model/simulator/script.js';
import { scenarioJsonSchema } from '../dist/src/scenario/schema.js';

writeFileSync(new URL('./model-script.schema.json', import.meta.url), `${JSON.stringify(modelScriptJsonSchema(), null, 2)}\n`);
writeFileSync(new URL('./scenario.schema.json', import.meta.url), `${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`);
