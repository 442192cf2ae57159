import { UserError } from '../errors.js';
import { type Target, targetKey, validateTarget } from '../identifiers.js';
import type { CompiledAssertion, CompiledGraph, CompiledOperation, CompiledTable } from './compile.js';

export type Action =
  | { kind: 'declaration'; name: string; target: Target; dependencies: string[]; tags: string[] }
  | { kind: 'table'; name: string; target: Target; dependencies: string[]; tags: string[]; table: CompiledTable }
  | { kind: 'assertion'; name: string; target: Target; dependencies: string[]; tags: string[]; assertion: CompiledAssertion }
  | { kind: 'operation'; name: string; target: Target; dependencies: string[]; tags: string[]; operation: CompiledOperation };

export interface Selection {
  actions?: string[];
  tags?: string[];
  includeDependencies?: boolean;
  includeDependents?: boolean;
  /** Keep only assertions (used by `orchestrator assert`). */
  assertionsOnly?: boolean;
}

function common(target: Target, dependencyTargets: Target[] | undefined, tags: string[] | undefined, fileName: string) {
  validateTarget(target, fileName);
  return { name: targetKey(target), target, dependencies: (dependencyTargets ?? []).map(targetKey), tags: tags ?? [] };
}

/** Every enabled action of a compiled graph, in an order where each comes after its dependencies. */
export function actionsInDependencyOrder(graph: CompiledGraph): Action[] {
  const actions: Action[] = [
    ...(graph.declarations ?? []).map((d): Action => ({ kind: 'declaration', ...common(d.target, [], [], d.fileName) })),
    ...(graph.tables ?? []).filter((t) => !t.disabled).map((t): Action => ({ kind: 'table', ...common(t.target, t.dependencyTargets, t.tags, t.fileName), table: t })),
    ...(graph.operations ?? []).filter((o) => !o.disabled).map((o): Action => ({ kind: 'operation', ...common(o.target, o.dependencyTargets, o.tags, o.fileName), operation: o })),
    ...(graph.assertions ?? []).filter((a) => !a.disabled).map((a): Action => ({ kind: 'assertion', ...common(a.target, a.dependencyTargets, a.tags, a.fileName), assertion: a })),
  ];
  const byName = new Map(actions.map((a) => [a.name, a]));
  const ordered: Action[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (action: Action, path: string[]) => {
    const seen = state.get(action.name);
    if (seen === 'done') return;
    if (seen === 'visiting') throw new UserError(`dependency cycle: ${[...path, action.name].join(' -> ')}`);
    state.set(action.name, 'visiting');
    for (const dependency of action.dependencies) {
      const upstream = byName.get(dependency);
      if (!upstream) throw new UserError(`${action.name} depends on ${dependency}, which is not in the project`);
      visit(upstream, [...path, action.name]);
    }
    state.set(action.name, 'done');
    ordered.push(action);
  };
  for (const action of [...actions].sort((a, b) => a.name.localeCompare(b.name))) visit(action, []);
  return ordered;
}

/**
 * The orchestrator's `--actions` accept a bare name, `dataset.name` or `project.dataset.name`.
 * `dataform run --actions` itself takes a bare name or the exact `project.dataset.name` (an action's
 * `name` here): a `dataset.name` selects nothing there, so names are handed to it in full.
 */
function matchesName(action: Action, requested: string): boolean {
  const { database, schema, name } = action.target;
  return requested === name || requested === `${schema}.${name}` || requested === `${database}.${schema}.${name}`;
}

/** Full-table audits: run when asked for by tag or name (or by `assert`), not with every run. */
export const AUDIT_TAG = 'audit';
/**
 * Every action of the incremental run carries it: what a run without selection runs (everything but
 * the audits), as a tag Dataform's scheduler can select. `schedule --target gcp` checks the two agree.
 */
export const PIPELINE_TAG = 'pipeline';

/**
 * The operation that marks the raw partitions a run read as processed. It must run in the same run
 * as every action it depends on: alone (`--actions commit_raw_partitions`, `--tags state`), it would
 * mark as read the rows that an earlier, partial run parsed into stg_pending_deliveries but never
 * merged into the event log, and no later run would read them again.
 */
export const COMMIT_ACTION = 'commit_raw_partitions';

/** `names` and every action they depend on, directly or not. */
function withDependencies(names: Iterable<string>, byName: Map<string, Action>): Set<string> {
  const closure = new Set(names);
  const stack = [...closure];
  while (stack.length > 0) {
    for (const dependency of byName.get(stack.pop()!)?.dependencies ?? []) {
      if (!closure.has(dependency)) { closure.add(dependency); stack.push(dependency); }
    }
  }
  return closure;
}

/** Refuses a run that selects the commit without every action it depends on (see COMMIT_ACTION). */
export function requireCommitDependencies(ordered: Action[], selected: Action[]): void {
  const commit = selected.find((a) => a.target.name === COMMIT_ACTION);
  if (!commit) return;
  const chosen = new Set(selected.map((a) => a.name));
  const needed = withDependencies([commit.name], new Map(ordered.map((a) => [a.name, a])));
  const missing = ordered.filter((a) => needed.has(a.name) && !chosen.has(a.name) && a.kind !== 'declaration');
  if (missing.length > 0) {
    throw new UserError(`${COMMIT_ACTION} marks the raw rows a run read as processed, so it runs only with every action it depends on ` +
      `(missing: ${missing.map((a) => a.target.name).join(', ')}): add --include-deps, or leave it out of the selection`);
  }
}

function describeSelection(selection: Selection): string {
  const parts = [
    selection.actions?.length ? `--actions ${selection.actions.join(' ')}` : '',
    selection.tags?.length ? `--tags ${selection.tags.join(' ')}` : '',
    selection.includeDependencies ? '--include-deps' : '',
    selection.includeDependents ? '--include-dependents' : '',
  ].filter(Boolean);
  return parts.join(' ') || 'the whole project';
}

/**
 * Selects actions like `dataform run`: by name and/or tag, optionally widened to dependencies or
 * dependents. A selection that matches nothing is an error: a run that does nothing must not look
 * like a run that succeeded.
 */
export function selectActions(ordered: Action[], selection: Selection): Action[] {
  const filtered = Boolean(selection.actions?.length || selection.tags?.length);
  let chosen = new Set(
    ordered
      .filter((a) => (!filtered && (selection.assertionsOnly || !a.tags.includes(AUDIT_TAG))) ||
        (selection.actions ?? []).some((requested) => matchesName(a, requested)) ||
        (selection.tags ?? []).some((tag) => a.tags.includes(tag)))
      .map((a) => a.name),
  );
  for (const requested of selection.actions ?? []) {
    if (!ordered.some((a) => matchesName(a, requested))) throw new UserError(`no action named ${requested}`);
  }
  for (const tag of selection.tags ?? []) {
    if (!ordered.some((a) => a.tags.includes(tag))) {
      throw new UserError(`no action has the tag ${tag} (tags: ${[...new Set(ordered.flatMap((a) => a.tags))].sort().join(', ')})`);
    }
  }
  const byName = new Map(ordered.map((a) => [a.name, a]));
  if (selection.includeDependencies) chosen = withDependencies(chosen, byName);
  if (selection.includeDependents) {
    for (const action of ordered) {
      if (action.dependencies.some((d) => chosen.has(d))) chosen.add(action.name);
    }
  }
  if (selection.assertionsOnly) {
    chosen = new Set([...chosen].filter((name) => byName.get(name)?.kind === 'assertion'));
  }
  const selected = ordered.filter((a) => chosen.has(a.name) && a.kind !== 'declaration');
  if (selected.length === 0) {
    throw new UserError(`nothing to run: ${describeSelection(selection)} selects no ${selection.assertionsOnly ? 'assertion' : 'action'}`);
  }
  return selected;
}
