import path from 'node:path';
import type { CommandModule } from 'yargs';
import { resolveGcpSettings } from '../gcp/settings.js';
import type { BuiltReport } from '../report/report.js';
import { formatCount } from '../output/numbers.js';
import { type CommonArgs, type TargetArgs, contextOf, log, print, printJson, withCommonOptions, withTargetOptions } from './common.js';

interface ReportArgs extends CommonArgs, TargetArgs {
  output?: string;
}

export const reportCommand: CommandModule<object, ReportArgs> = {
  command: 'report',
  describe: 'Write an HTML report of response times (headline numbers, per-city charts, daily trend, distribution) from the analytics models: one self-contained file, readable offline',
  builder: (yargs) =>
    withTargetOptions(withCommonOptions(yargs))
      .option('output', { alias: 'o', type: 'string', describe: 'HTML file to write (default: report.html in the work directory)' }),
  handler: async (args) => {
    const { project, workdir, json } = contextOf(args);
    // Loaded here: the charting libraries take a noticeable share of a second to import, which no
    // other command should pay.
    const { buildGcpReport, defaultReportFile, writeLocalReport, writeReport } = await import('../report/report.js');
    const output = path.resolve(args.output ?? defaultReportFile(workdir));
    let report: BuiltReport;
    if (args.target === 'gcp') {
      report = await buildGcpReport(project, resolveGcpSettings(project, args));
      writeReport(output, report);
    } else {
      ({ report } = await writeLocalReport(project, workdir, output));
    }
    const { summary } = report.data;
    if (json) {
      printJson({ output, bytes: Buffer.byteLength(report.html), summary });
    } else {
      log(`${formatCount(summary.conversations)} conversations, ${report.data.byCity.length} city and role groups, ${report.data.daily.length} days`);
      print(output);
    }
  },
};
