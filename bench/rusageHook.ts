// Preloaded by `npm run bench -- up` into the `orchestrator up` it times (node --import): at exit,
// writes the process's own resource usage (CPU, peak RSS; children not included) to BENCH_RUSAGE_FILE.
import { writeFileSync } from 'node:fs';

const file = process.env.BENCH_RUSAGE_FILE;
if (file) process.on('exit', () => writeFileSync(file, JSON.stringify(process.resourceUsage())));
