// The shape every planted server module shares, so TypeScript tests can start one in-process.
export interface PlantedServer {
  port: number;
  close(): Promise<void>;
}

export interface PlantedServerOptions {
  port?: number;
  host?: string;
  /** Do not print what a real server would (its crash logs). */
  quiet?: boolean;
}

export type StartPlantedServer = (options?: PlantedServerOptions) => Promise<PlantedServer>;
