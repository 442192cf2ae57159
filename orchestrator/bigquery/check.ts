import type { AnalyzeRequest } from '@fivetrandevelopers/zetasql';
import type { TypeKind } from '@fivetrandevelopers/zetasql/lib/types/zetasql/TypeKind.js';
import type { TypeProto } from '@fivetrandevelopers/zetasql/lib/types/zetasql/TypeProto.js';
import type { CompiledGraph } from '../dataform/compile.js';
import { actionsInDependencyOrder, type Action } from '../dataform/graph.js';
import { errorMessage } from '../errors.js';
import { RAW_COLUMNS } from '../warehouse/warehouse.js';
import { statementsFor, type BigQueryStatement } from './statements.js';
import type { AnalyzeResponse, ZetaSqlServer } from './zetasql.js';

/** BigQuery's statement kinds that a Dataform run uses; ZetaSQL rejects any kind not listed. */
const STATEMENT_KINDS = [
  'RESOLVED_QUERY_STMT', 'RESOLVED_CREATE_TABLE_AS_SELECT_STMT', 'RESOLVED_CREATE_VIEW_STMT', 'RESOLVED_MERGE_STMT',
  'RESOLVED_INSERT_STMT', 'RESOLVED_UPDATE_STMT', 'RESOLVED_DELETE_STMT', 'RESOLVED_CREATE_TABLE_STMT', 'RESOLVED_DROP_STMT',
] as const;

/** ZetaSQL's TypeKind numbers for the BigQuery types that declarations and DECLARE use. */
const TYPE_KINDS: Record<string, TypeKind & number> = { STRING: 8, BYTES: 9, INT64: 2, BOOL: 5, FLOAT64: 7, NUMERIC: 23, DATE: 10, TIMESTAMP: 19, JSON: 26 };

interface Column { name: string; type: TypeProto }

export interface StatementResult {
  purpose: string;
  ok: boolean;
  message?: string;
  /** Line and column in the statement, as ZetaSQL reports them. */
  position?: string;
}

export interface ActionCheck {
  name: string;
  file: string;
  ok: boolean;
  /** Not analysed because an upstream action has errors. */
  skipped?: boolean;
  statements: StatementResult[];
}

/** A declared script variable (`DECLARE name TYPE DEFAULT (expr)`), as Dataform pre-operations use them. */
const DECLARE = /^\s*DECLARE\s+([A-Za-z_][A-Za-z0-9_]*)\s+([A-Za-z0-9_]+)\s+DEFAULT\s+([\s\S]*?);?\s*$/i;

function describe(error: unknown): { message: string; position?: string } {
  const text = (error as { details?: string }).details ?? errorMessage(error);
  const match = /\[at (\d+:\d+)\]\s*$/.exec(text);
  return { message: text.replace(/\s*\[at \d+:\d+\]\s*$/, ''), position: match?.[1] };
}

function outputColumns(response: AnalyzeResponse | undefined): Column[] {
  const statement = response?.resolvedStatement as unknown as Record<string, { outputColumnList?: { name: string; column?: { type?: TypeProto } }[] } | undefined> | undefined;
  const query = statement?.resolvedQueryStmtNode;
  return (query?.outputColumnList ?? []).map((c) => ({ name: c.name, type: c.column?.type ?? { typeKind: 0 } }));
}

/**
 * Analyses, with ZetaSQL in BigQuery's product mode, every statement a `dataform run` would send to
 * BigQuery, in dependency order. The catalog starts with the declared raw table and grows with each
 * model's output columns as the analyzer reports them, so a model reading a column its upstream does
 * not produce fails. Script variables declared by pre-operations are checked, then stand in as typed
 * NULLs in the statements after them (the analyzer takes single statements, not scripts).
 */
export async function checkGraph(server: ZetaSqlServer, graph: CompiledGraph, raw: { key: string }): Promise<ActionCheck[]> {
  const languageOptions = await server.bigQueryLanguageOptions([...STATEMENT_KINDS]);
  const tables = new Map<string, Column[]>([[raw.key, RAW_COLUMNS.map((c) => ({ name: c.name, type: { typeKind: TYPE_KINDS[c.type] } }))]]);

  const analyze = (sql: string) => {
    const request: AnalyzeRequest = {
      options: { languageOptions, errorMessageMode: 'ERROR_MESSAGE_ONE_LINE', defaultTimezone: 'UTC' },
      simpleCatalog: {
        name: 'bigquery',
        table: [...tables].map(([name, columns]) => ({ name, column: columns.map((c) => ({ name: c.name, type: c.type })) })),
        builtinFunctionOptions: { languageOptions },
      },
      sqlStatement: sql,
    };
    return server.analyze(request as AnalyzeRequest);
  };

  const results: ActionCheck[] = [];
  for (const action of actionsInDependencyOrder(graph)) {
    if (action.kind === 'declaration') {
      if (!tables.has(action.name)) {
        results.push({ name: action.name, file: action.target.name, ok: false, statements: [{ purpose: 'declaration', ok: false, message: 'no schema known for this declared table' }] });
      }
      continue;
    }
    const failedUpstream = action.dependencies.find((d) => results.some((r) => r.name === d && !r.ok));
    if (failedUpstream) {
      results.push({ name: action.name, file: fileOf(action), ok: false, skipped: true, statements: [{ purpose: 'skipped', ok: false, message: `upstream ${failedUpstream} has errors` }] });
      continue;
    }
    results.push(await checkAction(action, analyze, tables));
  }
  return results;
}

function fileOf(action: Exclude<Action, { kind: 'declaration' }>): string {
  return action.kind === 'table' ? action.table.fileName : action.kind === 'assertion' ? action.assertion.fileName : action.operation.fileName;
}

async function checkAction(
  action: Exclude<Action, { kind: 'declaration' }>,
  analyze: (sql: string) => Promise<AnalyzeResponse | undefined>,
  tables: Map<string, Column[]>,
): Promise<ActionCheck> {
  const file = fileOf(action);
  const statements: StatementResult[] = [];
  const record = async (statement: BigQueryStatement, run: () => Promise<AnalyzeResponse | undefined>) => {
    try {
      const response = await run();
      statements.push({ purpose: statement.purpose, ok: true });
      return response;
    } catch (error) {
      statements.push({ purpose: statement.purpose, ok: false, ...describe(error) });
      return undefined;
    }
  };

  // The action's query alone gives its output columns: the catalog entry downstream models resolve against.
  const query = action.kind === 'table' ? action.table.query : action.kind === 'assertion' ? action.assertion.query : undefined;
  let columns: Column[] = [];
  if (query !== undefined) {
    columns = outputColumns(await record({ purpose: 'query', sql: query }, () => analyze(query)));
    if (columns.length > 0) tables.set(action.name, columns);
  }
  if (statements.some((s) => !s.ok)) return { name: action.name, file, ok: false, statements };

  const variables = new Map<string, string>();
  for (const statement of statementsFor(action, columns.map((c) => c.name))) {
    const declared = DECLARE.exec(statement.sql);
    if (declared) {
      const [, name, type, expression] = declared;
      const response = await record({ ...statement, purpose: `${statement.purpose} (DECLARE ${name})` }, () => analyze(`SELECT ${expression} AS ${name}`));
      const kind = outputColumns(response)[0]?.type.typeKind;
      const expected = TYPE_KINDS[type!.toUpperCase()];
      if (response && expected !== undefined && kind !== expected) {
        statements.push({ purpose: `DECLARE ${name}`, ok: false, message: `DEFAULT has type ${String(kind)}, declared ${type}` });
      }
      variables.set(name!, type!);
      continue;
    }
    let sql = statement.sql;
    for (const [name, type] of variables) sql = sql.replace(new RegExp(`\\b${name}\\b`, 'g'), `CAST(NULL AS ${type})`);
    await record(statement, () => analyze(sql));
  }
  return { name: action.name, file, ok: statements.every((s) => s.ok), statements };
}
