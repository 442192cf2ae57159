// Builds the report: reads the analytics models (locally or on BigQuery), renders the charts and
// writes one self-contained HTML file.
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ProjectConfig, Workdir } from '../config.js';
import { UserError } from '../errors.js';
import { gcpClients } from '../gcp/clients.js';
import { jobLabels } from '../gcp/labels.js';
import type { GcpSettings } from '../gcp/settings.js';
import { openLocalWarehouse } from '../warehouse/local.js';
import { renderCharts } from './charts.js';
import { type ReportData, type ReportSource, bigQuerySource, localSource, readReportData } from './data.js';
import { renderHtml } from './html.js';

export interface BuiltReport {
  html: string;
  data: ReportData;
}

export async function buildReport(source: ReportSource, builtAt = new Date()): Promise<BuiltReport> {
  const data = await readReportData(source);
  const charts = data.summary.conversations > 0 ? await renderCharts(data) : undefined;
  return { html: renderHtml(data, charts, { source: source.description, builtAt }), data };
}

/** The default place of the local report: next to the warehouse. */
export const defaultReportFile = (workdir: Workdir) => path.join(workdir.dir, 'report.html');

export async function buildLocalReport(project: ProjectConfig, workdir: Workdir): Promise<BuiltReport> {
  if (!existsSync(workdir.warehouseFile)) {
    throw new UserError(`no local warehouse at ${workdir.warehouseFile}: land some data and run 'orchestrator transform' first`);
  }
  const warehouse = await openLocalWarehouse(project, workdir, true);
  try {
    const summary = { database: project.database, schema: project.modelsDataset, name: 'response_times_summary' };
    if (!(await warehouse.relationKind(summary))) {
      throw new UserError(`the analytics models are not in ${workdir.warehouseFile} yet: run 'orchestrator transform' first`);
    }
    return await buildReport(localSource(warehouse, project, workdir.warehouseFile));
  } finally {
    await warehouse.close();
  }
}

export async function buildGcpReport(project: ProjectConfig, settings: GcpSettings): Promise<BuiltReport> {
  const clients = gcpClients(settings);
  try {
    return await buildReport(bigQuerySource(clients.bigquery, settings.projectId, project.modelsDataset, settings.location, jobLabels(project, 'report')));
  } finally {
    await clients.close();
  }
}

export function writeReport(file: string, report: BuiltReport): void {
  writeFileSync(file, report.html);
}

/** Builds the local report into `file` (default: next to the warehouse) and returns its path. */
export async function writeLocalReport(project: ProjectConfig, workdir: Workdir, file = defaultReportFile(workdir)): Promise<{ file: string; report: BuiltReport }> {
  const report = await buildLocalReport(project, workdir);
  writeReport(file, report);
  return { file, report };
}
