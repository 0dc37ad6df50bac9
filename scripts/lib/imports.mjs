// Import graph of the workspace's sources, for the layering and cycle checks
// (test/layers.test.ts, scripts/check-layers.mjs).
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, dirname, resolve, relative } from 'node:path';

export const root = resolve(dirname(new URL(import.meta.url).pathname), '../..');

/** What each package may import, by the layering of the design (common, a leaf of shared pieces, below tun and ip). */
export const allowed = {
  common: [],
  tun: ['common'],
  // Host sockets Node has not (the ICMP echo socket): koffi and nothing of the stack.
  host: [],
  ip: ['common'],
  ethernet: ['common'],
  icmp: ['ip', 'common'],
  udp: ['ip', 'common'],
  tcp: ['ip', 'common'],
  netstack: ['common', 'tun', 'host', 'ip', 'ethernet', 'icmp', 'udp', 'tcp', 'wireguard'],
  // The WireGuard protocol knows no device and no stack: at most the shared leaf.
  wireguard: ['common'],
};

function walk(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.(ts|mts|js|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

// Runtime imports (importRe) and type-only ones (`import type` / `export type`, typeImportRe)
// are kept apart for the error messages, but both are edges: the layering and the cycle
// check count them alike (a type-only cycle is still two files that must be read together).
const importRe = /(?:^|\n)\s*(?:import|export)\s(?!type\s)[^;]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
const typeImportRe = /(?:^|\n)\s*(?:import|export)\s+type\s[^;]*?from\s+['"]([^'"]+)['"]/g;

/** Files of every package's src with the specifiers they import. */
export function sourceGraph() {
  const files = [];
  for (const pkg of Object.keys(allowed)) {
    for (const file of walk(join(root, 'packages', pkg, 'src'))) {
      const text = readFileSync(file, 'utf8');
      const specs = [];
      const typeSpecs = [];
      for (const m of text.matchAll(importRe)) specs.push(m[1] ?? m[2]);
      for (const m of text.matchAll(typeImportRe)) typeSpecs.push(m[1]);
      files.push({ pkg, file: relative(root, file), specs, typeSpecs });
    }
  }
  return files;
}

/** Layering violations: a package importing a @netstack package it may not, or koffi outside tun and host (the two that talk to the kernel directly). */
export function layeringViolations(graph = sourceGraph()) {
  const bad = [];
  for (const { pkg, file, specs, typeSpecs = [] } of graph) {
    for (const s of [...specs, ...typeSpecs]) {
      const m = /^@netstack\/([^/]+)/.exec(s);
      if (m && m[1] !== pkg && !allowed[pkg].includes(m[1])) bad.push(`${file} imports ${s}`);
      if (s === 'koffi' && pkg !== 'tun' && pkg !== 'host') bad.push(`${file} imports koffi (only packages/tun and packages/host may)`);
      if (s.startsWith('../') && !resolve(dirname(join(root, file)), s).startsWith(join(root, 'packages', pkg))) {
        bad.push(`${file} reaches into another package by path: ${s}`);
      }
    }
  }
  return bad;
}

/** Import cycles between source files (relative imports) and between packages, type-only imports included. */
export function cycles(graph = sourceGraph()) {
  const edges = new Map();
  for (const { pkg, file, specs, typeSpecs = [] } of graph) {
    const out = [];
    for (const s of [...specs, ...typeSpecs]) {
      if (s.startsWith('.')) out.push(relative(root, resolve(dirname(join(root, file)), s.replace(/\.js$/, '.ts'))));
      const m = /^@netstack\/([^/]+)/.exec(s);
      if (m && m[1] !== pkg) out.push(`pkg:${m[1]}`);
    }
    edges.set(file, out);
    const pk = `pkg:${pkg}`;
    edges.set(pk, [...(edges.get(pk) ?? []), ...out.filter((o) => o.startsWith('pkg:'))]);
  }
  const found = [];
  const state = new Map();
  const stack = [];
  const visit = (n) => {
    state.set(n, 1);
    stack.push(n);
    for (const m of edges.get(n) ?? []) {
      if (state.get(m) === 1) found.push([...stack.slice(stack.indexOf(m)), m].join(' -> '));
      else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, 2);
  };
  for (const n of edges.keys()) if (!state.has(n)) visit(n);
  return [...new Set(found)];
}
