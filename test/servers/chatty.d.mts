import type { StartPlantedServer } from './planted.js';

export declare const start: StartPlantedServer;
