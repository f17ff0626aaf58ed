// Writes model-script.schema.json from the zod schema in src/model/simulator/script.ts.
// Run after `npm run build`: node schemas/generate.mjs
import { writeFileSync } from 'node:fs';
import { modelScriptJsonSchema } from '../dist/src/model/simulator/script.js';

writeFileSync(new URL('./model-script.schema.json', import.meta.url), `${JSON.stringify(modelScriptJsonSchema(), null, 2)}\n`);
