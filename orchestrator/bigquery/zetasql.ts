import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { AnalyzeRequest, ZetaSQLClient as ZetaSQLClientType } from '@fivetrandevelopers/zetasql';
import type { LanguageOptionsProto } from '@fivetrandevelopers/zetasql/lib/types/zetasql/LanguageOptionsProto.js';
import type { EvaluateQueryRequest } from '@fivetrandevelopers/zetasql/lib/types/zetasql/local_service/EvaluateQueryRequest.js';
import type { EvaluateQueryResponse__Output } from '@fivetrandevelopers/zetasql/lib/types/zetasql/local_service/EvaluateQueryResponse.js';
import { PACKAGE_ROOT } from '../config.js';
import { UserError } from '../errors.js';
import { freePort } from '../net.js';

type ZetaSqlModule = typeof import('@fivetrandevelopers/zetasql');
export type AnalyzeResponse = NonNullable<Awaited<ReturnType<ZetaSQLClientType['analyze']>>>;

const PACKAGE = '@fivetrandevelopers/zetasql';
const INSTALL_HINT = `install it with 'npm install --save-dev ${PACKAGE}' (it is a devDependency of this project: 'npm ci' installs it)`;

function serverBinary(): string {
  let packageDir: string;
  try {
    packageDir = path.dirname(createRequire(path.join(PACKAGE_ROOT, 'package.json')).resolve(`${PACKAGE}/package.json`));
  } catch {
    throw new UserError(`the ZetaSQL analyzer (${PACKAGE}) is not installed: ${INSTALL_HINT}`);
  }
  const supported = (process.platform === 'linux' || process.platform === 'darwin') && (process.arch === 'x64' || process.arch === 'arm64');
  if (!supported) throw new UserError(`${PACKAGE} ships its server for Linux and macOS on x64 and arm64 only, not ${process.platform}-${process.arch}`);
  const binary = path.join(packageDir, 'lib', 'zetasql', `remote_server${process.arch === 'arm64' ? '_arm' : ''}${process.platform === 'linux' ? '.so' : ''}`);
  if (!existsSync(binary)) throw new UserError(`the ZetaSQL server binary is missing at ${binary}: reinstall ${PACKAGE}`);
  return binary;
}

/** BigQuery's statement kinds that a Dataform run uses; ZetaSQL rejects any kind not listed. */
export const DATAFORM_STATEMENT_KINDS = [
  'RESOLVED_QUERY_STMT', 'RESOLVED_CREATE_TABLE_AS_SELECT_STMT', 'RESOLVED_CREATE_VIEW_STMT', 'RESOLVED_CREATE_MATERIALIZED_VIEW_STMT',
  'RESOLVED_MERGE_STMT', 'RESOLVED_INSERT_STMT', 'RESOLVED_UPDATE_STMT', 'RESOLVED_DELETE_STMT', 'RESOLVED_CREATE_TABLE_STMT',
  'RESOLVED_DROP_STMT', 'RESOLVED_ASSERT_STMT', 'RESOLVED_TRUNCATE_STMT', 'RESOLVED_ALTER_TABLE_STMT',
] as const;

/**
 * Google's SQL front end as a local gRPC server, started on a free port and always killed with this
 * process (on exit, on SIGINT/SIGTERM, or by `stop`), since the server outlives a crashed client.
 * It never ends the process itself: on a signal it kills the server and leaves the signal's meaning
 * to whoever else listens for it, or, when nobody does, to the signal's default action.
 */

export class ZetaSqlServer {
  private constructor(
    private readonly module: ZetaSqlModule,
    private readonly client: ZetaSQLClientType,
    private readonly cleanup: () => void,
  ) {}

  static async start(): Promise<ZetaSqlServer> {
    const binary = serverBinary();
    const module = (await import(PACKAGE).catch(() => {
      throw new UserError(`cannot load ${PACKAGE}: ${INSTALL_HINT}`);
    })) as ZetaSqlModule;
    const port = await freePort();
    const child = spawn(binary, ['127.0.0.1', String(port)], { stdio: 'ignore' });
    // Widened: the 'exit' listener sets it, which TypeScript's narrowing does not see.
    let exited = false as boolean;
    child.on('exit', () => { exited = true; });
    const kill = () => { if (!exited) child.kill('SIGKILL'); };
    const cleanup = () => {
      kill();
      process.off('exit', kill);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
    // A signal ends a process without its 'exit' handlers, so the server is killed here first. With
    // no other listener left the signal is raised again: Node then restores its default action, and
    // the process ends as it would have without this listener (killed by the signal: the shell's 130
    // or 143).
    function onSignal(signal: NodeJS.Signals) {
      cleanup();
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    }
    process.on('exit', kill);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    module.ZetaSQLClient.init(port);
    const client = module.ZetaSQLClient.getInstance();
    const deadline = Date.now() + 20_000;
    while (!(await client.testConnection().catch(() => false))) {
      if (exited || Date.now() > deadline) {
        cleanup();
        throw new UserError(`the ZetaSQL server did not start (${binary})`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return new ZetaSqlServer(module, client, cleanup);
  }

  analyze(request: AnalyzeRequest): Promise<AnalyzeResponse | undefined> {
    return this.client.analyze(request);
  }

  /** Runs a query on in-memory tables with ZetaSQL's reference evaluator (requests up to ~4 MB). */
  evaluateQuery(request: EvaluateQueryRequest): Promise<EvaluateQueryResponse__Output> {
    return new Promise((resolve, reject) =>
      this.module.ZetaSQLClient.API.evaluateQuery(request, (error, response) => (error || !response ? reject(error ?? new Error('no response')) : resolve(response))),
    );
  }

  /** BigQuery's dialect: external product mode (INT64, no INT32), every language feature ZetaSQL has. */
  async bigQueryLanguageOptions(statementKinds: LanguageOptionsProto['supportedStatementKinds']): Promise<LanguageOptionsProto> {
    const options = (await new this.module.LanguageOptions().enableMaximumLanguageFeatures()).serialize();
    options.productMode = 'PRODUCT_EXTERNAL';
    options.supportedStatementKinds = statementKinds;
    return options;
  }

  stop(): void {
    this.cleanup();
  }
}
