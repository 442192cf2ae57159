import type { CommandModule } from 'yargs';
import { start, status, stop } from '../pubsub/emulator.js';
import { withWorkdirLock } from '../workdir/lock.js';
import { type CommonArgs, contextOf, print, printJson, withCommonOptions } from './common.js';

interface EmulatorArgs extends CommonArgs {
  action: 'start' | 'stop' | 'status';
}

export const emulatorCommand: CommandModule<object, EmulatorArgs> = {
  command: 'emulator <action>',
  describe: 'Start, stop or check the Pub/Sub emulator owned by the work directory',
  builder: (yargs) =>
    withCommonOptions(yargs, { warehouse: false, project: false }).positional('action', { choices: ['start', 'stop', 'status'] as const, demandOption: true }),
  handler: async (args) => {
    const { workdir, json } = contextOf(args);
    if (args.action === 'start') {
      const { state, started } = await withWorkdirLock(workdir, 'emulator start', () => start(workdir));
      if (json) printJson({ running: true, started, ...state });
      else print(`${started ? 'started' : 'already running:'} Pub/Sub emulator pid ${state.pid} on ${state.host}:${state.port} (export PUBSUB_EMULATOR_HOST=${state.host}:${state.port} for other tools)`);
    } else if (args.action === 'stop') {
      // No lock: stopping is how a user ends an emulator whatever else runs on the work directory.
      const stopped = await stop(workdir);
      if (json) printJson({ stopped: stopped > 0 });
      else print(stopped ? `stopped the Pub/Sub emulator${stopped > 1 ? ` (${stopped} processes)` : ''}` : 'no Pub/Sub emulator was running for this work directory');
    } else {
      const current = await status(workdir);
      if (json) printJson({ running: current.running, ...current.state });
      else print(current.running && current.state ? `running: pid ${current.state.pid} on ${current.state.host}:${current.state.port} since ${current.state.startedAt}` : 'not running');
      if (!current.running) process.exitCode = 3;
    }
  },
};
