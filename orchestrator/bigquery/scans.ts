// What a BigQuery statement reads, from ZetaSQL's resolved AST: each table scan, the columns it
// reads, and the conditions on it that BigQuery can use to prune partitions and clustered blocks.
// The estimator (cost.ts) and the require_partition_filter rule (check.ts) both start from here.

/** A value a pruning condition compares with: INT64 and TIMESTAMP (µs since the epoch) as bigint. */
export type Scalar = bigint | string | boolean;
export type Constant = Scalar | null | Constant[];

/** A condition on one scan's columns, kept as the AST node it came from (evaluated in prune()). */
export interface TableScan {
  /** The table's full name as the catalog knows it (`project.dataset.table`). */
  table: string;
  /** Columns the statement reads from it (ZetaSQL prunes unused columns). */
  columns: string[];
  /** Conjuncts over this scan's columns (the WHERE right above it, or a MERGE's ON condition). */
  conditions: AstNode[];
  /** Column id -> column name, for the column references in the conditions. */
  columnNames: Map<number, string>;
  /** The target of a MERGE, INSERT, UPDATE or DELETE. */
  dmlTarget?: 'merge-update' | 'merge-insert' | 'insert' | 'delete';
  /** For a scan through a view: the view's own conditions on the table, over the view's column ids. */
  viewConditions?: { conditions: AstNode[]; columnNames: Map<number, string> };
}

export type AstNode = { [key: string]: unknown };

const isNode = (value: unknown): value is AstNode => typeof value === 'object' && value !== null && !Array.isArray(value);
const idOf = (value: unknown): number => (isNode(value) && 'low' in value ? Number(value.low) : Number(value));

interface ColumnProto { columnId: unknown; name: string }

function scanColumns(scanNode: AstNode): { columns: string[]; columnNames: Map<number, string> } {
  const parent = scanNode.parent as { columnList?: ColumnProto[] } | undefined;
  const list = parent?.columnList ?? [];
  return { columns: list.map((c) => c.name), columnNames: new Map(list.map((c) => [idOf(c.columnId), c.name])) };
}

/** The function name of a resolved function call node (`$and`, `$in_array`, `timestamp_trunc`, ...), if it is one. */
export function functionCall(node: unknown): { name: string; args: AstNode[] } | undefined {
  if (!isNode(node)) return undefined;
  const base = node.resolvedFunctionCallBaseNode as AstNode | undefined;
  const call = base?.resolvedFunctionCallNode as AstNode | undefined;
  if (!call) return undefined;
  const parent = call.parent as { argumentList?: AstNode[]; function?: { name?: string } } | undefined;
  const name = (parent?.function?.name ?? '').replace(/^ZetaSQL:/, '');
  return { name, args: parent?.argumentList ?? [] };
}

/** The conjuncts of a boolean expression (`a AND b AND c` -> [a, b, c]). */
export function conjuncts(node: AstNode): AstNode[] {
  const call = functionCall(node);
  return call?.name === '$and' ? call.args.flatMap(conjuncts) : [node];
}

/** Column ids a condition refers to. */
export function referencedColumns(node: unknown, ids = new Set<number>()): Set<number> {
  if (Array.isArray(node)) node.forEach((child) => referencedColumns(child, ids));
  else if (isNode(node)) {
    const ref = node.resolvedColumnRefNode as { column?: ColumnProto } | undefined;
    if (ref?.column) ids.add(idOf(ref.column.columnId));
    for (const value of Object.values(node)) if (typeof value === 'object') referencedColumns(value, ids);
  }
  return ids;
}

/** Every table scan in a resolved statement, with the conditions BigQuery may prune it with. */
export function tableScans(statement: unknown): TableScan[] {
  const scans: TableScan[] = [];
  const visit = (node: unknown, conditions: AstNode[]) => {
    if (Array.isArray(node)) {
      node.forEach((child) => visit(child, []));
      return;
    }
    if (!isNode(node)) return;
    const tableScan = node.resolvedTableScanNode as AstNode | undefined;
    if (tableScan) {
      const table = (tableScan.table as { fullName?: string; name?: string } | undefined);
      const { columns, columnNames } = scanColumns(tableScan);
      const own = conditions.filter((c) => [...referencedColumns(c)].every((id) => columnNames.has(id)) && referencedColumns(c).size > 0);
      scans.push({ table: table?.fullName ?? table?.name ?? '?', columns, conditions: own, columnNames });
      return;
    }
    const filter = node.resolvedFilterScanNode as AstNode | undefined;
    if (filter) {
      // A WHERE directly over a scan (possibly through other filters) is what BigQuery prunes with.
      visit(filter.inputScan, [...conditions, ...conjuncts(filter.filterExpr as AstNode)]);
      visit(filter.filterExpr, []);
      return;
    }
    const join = node.resolvedJoinScanNode as AstNode | undefined;
    if (join) {
      // A WHERE over a join filters the sides it cannot NULL-extend, and a join's ON condition the
      // sides it restricts (ZetaSQL's JoinType: 0 INNER, 1 LEFT, 2 RIGHT, 3 FULL).
      const type = Number(join.joinType ?? 0);
      const on = isNode(join.joinExpr) ? conjuncts(join.joinExpr) : [];
      visit(join.leftScan, type === 0 ? [...conditions, ...on] : type === 1 ? conditions : type === 2 ? on : []);
      visit(join.rightScan, type === 0 ? [...conditions, ...on] : type === 2 ? conditions : type === 1 ? on : []);
      for (const [key, value] of Object.entries(join)) {
        if (key === 'leftScan' || key === 'rightScan' || (key === 'parent' && isNode(value) && 'columnList' in value)) continue;
        if (typeof value === 'object') visit(value, []);
      }
      return;
    }
    const merge = node.resolvedMergeStmtNode as AstNode | undefined;
    if (merge) {
      const target = merge.tableScan as AstNode;
      const { columns, columnNames } = scanColumns(target);
      const on = conjuncts(merge.mergeExpr as AstNode);
      const own = on.filter((c) => { const ids = referencedColumns(c); return ids.size > 0 && [...ids].every((id) => columnNames.has(id)); });
      const clauses = (merge.whenClauseList as { actionType?: number }[] | undefined) ?? [];
      // ZetaSQL's ActionType: 0 INSERT, 1 UPDATE, 2 DELETE.
      const updates = clauses.some((c) => c.actionType === 1 || c.actionType === 2);
      scans.push({ table: tableNameOf(target), columns, conditions: own, columnNames, dmlTarget: updates ? 'merge-update' : 'merge-insert' });
      visit(merge.fromScan, []);
      visit(merge.mergeExpr, []);
      visit(merge.whenClauseList, []);
      return;
    }
    const deletion = node.resolvedDeleteStmtNode as AstNode | undefined;
    if (deletion) {
      // A DELETE reads its target through its WHERE, and changes the partitions that WHERE keeps.
      const target = deletion.tableScan as AstNode;
      const { columns, columnNames } = scanColumns(target);
      const where = isNode(deletion.whereExpr) ? conjuncts(deletion.whereExpr) : [];
      const own = where.filter((c) => { const ids = referencedColumns(c); return ids.size > 0 && [...ids].every((id) => columnNames.has(id)); });
      scans.push({ table: tableNameOf(target), columns, conditions: own, columnNames, dmlTarget: 'delete' });
      visit(deletion.whereExpr, []);
      return;
    }
    for (const [key, value] of Object.entries(node)) {
      if (key === 'parent' && isNode(value) && 'columnList' in value) continue;
      if (typeof value === 'object') visit(value, key === 'inputScan' ? conditions : []);
    }
  };
  visit(statement, []);
  return scans;
}

/** The output columns of a query statement: each name, and the id of the column it outputs. */
export function queryOutputs(statement: unknown): { name: string; columnId: number }[] {
  const query = isNode(statement) ? (statement.resolvedQueryStmtNode as { outputColumnList?: { name: string; column?: ColumnProto }[] } | undefined) : undefined;
  return (query?.outputColumnList ?? []).map((c) => ({ name: c.name, columnId: idOf(c.column?.columnId) }));
}

/** The ids of the columns a scan outputs, in order; `scan` wraps the scan node (`{ resolvedProjectScanNode: … }`). */
function scanOutputIds(scan: unknown): number[] {
  if (!isNode(scan)) return [];
  const node = Object.values(scan).find((v): v is AstNode => isNode(v) && isNode(v.parent) && Array.isArray(v.parent.columnList));
  return node ? [...scanColumns(node).columnNames.keys()] : [];
}

/**
 * For each column that copies another unchanged, the column it copies: a computed column that is
 * a plain column reference (`SELECT a AS b` through an expression), and each column of a WITH
 * reference, which stands for the column of the WITH query at the same position. A rename in a
 * SELECT keeps the column's id, so it needs no entry. WITH queries are matched by name: ZetaSQL
 * names them uniquely within a statement (a second `c` in an inner scope becomes `c_1`).
 */
export function columnCopies(statement: unknown): Map<number, number> {
  const copies = new Map<number, number>();
  const withQueries = new Map<string, number[]>();
  const references: { name: string; ids: number[] }[] = [];
  const visit = (node: unknown) => {
    if (Array.isArray(node)) {
      node.forEach(visit);
      return;
    }
    if (!isNode(node)) return;
    if (typeof node.withQueryName === 'string' && 'withSubquery' in node) withQueries.set(node.withQueryName, scanOutputIds(node.withSubquery));
    const reference = node.resolvedWithRefScanNode as AstNode | undefined;
    if (reference && typeof reference.withQueryName === 'string') references.push({ name: reference.withQueryName, ids: scanOutputIds(node) });
    const column = node.column as ColumnProto | undefined;
    const ref = isNode(node.expr) ? (node.expr.resolvedColumnRefNode as { column?: ColumnProto } | undefined) : undefined;
    if (column && ref?.column) copies.set(idOf(column.columnId), idOf(ref.column.columnId));
    for (const value of Object.values(node)) if (typeof value === 'object') visit(value);
  };
  visit(statement);
  for (const { name, ids } of references) {
    const source = withQueries.get(name) ?? [];
    ids.forEach((id, i) => { if (i < source.length) copies.set(id, source[i]); });
  }
  return copies;
}

/** The column that `id` copies, followed back through every copy; `id` itself when it copies none. */
export function originalColumn(copies: Map<number, number>, id: number): number {
  let current = id;
  // Bounded, though ids only point back to columns made before them.
  for (let hops = 0; hops < 1000; hops++) {
    const source = copies.get(current);
    if (source === undefined) break;
    current = source;
  }
  return current;
}

function tableNameOf(scan: AstNode): string {
  const table = scan.table as { fullName?: string; name?: string } | undefined;
  return table?.fullName ?? table?.name ?? '?';
}
