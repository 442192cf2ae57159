#!/usr/bin/env node
// Entry point of the `orchestrator` bin: the TypeScript is compiled to dist/ by `npm ci` (prepare).
import '../dist/orchestrator/cli.js';
