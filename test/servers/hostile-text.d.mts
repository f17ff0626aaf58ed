import type { StartPlantedServer } from './planted.js';

export declare const start: StartPlantedServer;
export declare const FORGERY: string;
