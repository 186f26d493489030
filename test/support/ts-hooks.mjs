// Node module hooks that run TypeScript sources directly (type-stripping through the TypeScript
// compiler's transpileModule): for worker threads started by code under test, which vitest's own
// transform does not reach. `.js` imports from a `.ts` module resolve to the `.ts` file.
//
// The output is cached by the source's content hash: loading the compiler takes seconds on a busy
// machine, and a test that starts a worker per case (a journal's checkpoint thread) would pay it
// every time. A changed source has another hash, so the cache is never stale.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CACHE_DIR = join(tmpdir(), 'sitecall-ts-hooks-cache');
let compiler;

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    if (specifier.endsWith('.js') && context.parentURL?.endsWith('.ts')) {
      return nextResolve(specifier.slice(0, -3) + '.ts', context);
    }
    throw err;
  }
}

async function transpile(fileName, source) {
  compiler ??= (await import('typescript')).default;
  return compiler.transpileModule(source, {
    fileName,
    compilerOptions: {
      module: compiler.ModuleKind.ESNext,
      target: compiler.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
      inlineSourceMap: true,
    },
  }).outputText;
}

export async function load(url, context, nextLoad) {
  if (!url.endsWith('.ts')) return nextLoad(url, context);
  const fileName = fileURLToPath(url);
  const source = await readFile(fileName, 'utf8');
  const cached = join(CACHE_DIR, `${createHash('sha256').update(fileName).update('\0').update(source).digest('hex')}.js`);
  try {
    return { format: 'module', source: await readFile(cached, 'utf8'), shortCircuit: true };
  } catch {
    // not cached yet
  }
  const output = await transpile(fileName, source);
  try {
    await mkdir(CACHE_DIR, { recursive: true });
    // written aside and renamed: a worker starting meanwhile never reads half a file
    const partial = `${cached}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    await writeFile(partial, output);
    await rename(partial, cached);
  } catch {
    // no cache this time; the output is still good
  }
  return { format: 'module', source: output, shortCircuit: true };
}
