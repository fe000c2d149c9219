export { startServer, type RunningServer } from './server.js';
export { loadConfig, type ServerConfig } from './config.js';
export { openTessera, type Tessera } from './runtime/tessera.js';
export { ManualClock, systemClock, type Clock } from './domain/clock.js';
