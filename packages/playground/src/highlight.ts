/**
 * Syntax highlighting for the answers' code blocks: highlight.js's core, with each language loaded
 * the first time an answer uses it (a dynamic import, which build.mjs splits into a chunk of its
 * own), so the page does not ship a grammar nobody asked for. highlight.js escapes the code and
 * styles by class only (`hljs-keyword`…): the page's CSP forbids `style` attributes.
 */
import hljs from 'highlight.js/lib/core';
import type { LanguageFn } from 'highlight.js';

type Loader = () => Promise<{ default: LanguageFn }>;

/** The grammars on offer, by highlight.js name. Each `import()` names its file for the bundler. */
const LOADERS: Readonly<Record<string, Loader>> = {
  bash: () => import('highlight.js/lib/languages/bash'),
  c: () => import('highlight.js/lib/languages/c'),
  cpp: () => import('highlight.js/lib/languages/cpp'),
  csharp: () => import('highlight.js/lib/languages/csharp'),
  css: () => import('highlight.js/lib/languages/css'),
  diff: () => import('highlight.js/lib/languages/diff'),
  go: () => import('highlight.js/lib/languages/go'),
  java: () => import('highlight.js/lib/languages/java'),
  javascript: () => import('highlight.js/lib/languages/javascript'),
  json: () => import('highlight.js/lib/languages/json'),
  markdown: () => import('highlight.js/lib/languages/markdown'),
  python: () => import('highlight.js/lib/languages/python'),
  rust: () => import('highlight.js/lib/languages/rust'),
  sql: () => import('highlight.js/lib/languages/sql'),
  typescript: () => import('highlight.js/lib/languages/typescript'),
  xml: () => import('highlight.js/lib/languages/xml'),
  yaml: () => import('highlight.js/lib/languages/yaml'),
};

/** What models write after the fence, mapped to a grammar (a grammar's own aliases are known only once loaded). */
const ALIASES: Readonly<Record<string, string>> = {
  ts: 'typescript', tsx: 'typescript', mts: 'typescript', cts: 'typescript',
  js: 'javascript', jsx: 'javascript', mjs: 'javascript', cjs: 'javascript', node: 'javascript',
  jsonc: 'json', json5: 'json',
  sh: 'bash', shell: 'bash', zsh: 'bash', console: 'bash', shellsession: 'bash',
  py: 'python', python3: 'python',
  html: 'xml', svg: 'xml', xhtml: 'xml',
  yml: 'yaml', golang: 'go', rs: 'rust', 'c++': 'cpp', cc: 'cpp', h: 'c', cs: 'csharp', 'c#': 'csharp',
  md: 'markdown', patch: 'diff', postgres: 'sql', postgresql: 'sql', mysql: 'sql', sqlite: 'sql',
};

const loading = new Map<string, Promise<boolean>>();
const listeners = new Set<(language: string) => void>();

/** The grammar for a fence's language word, if the page has one (`ts` → `typescript`). */
export function grammarFor(lang: string): string | undefined {
  const name = lang.toLowerCase();
  const grammar = ALIASES[name] ?? name;
  return Object.prototype.hasOwnProperty.call(LOADERS, grammar) ? grammar : undefined;
}

export function isLoaded(grammar: string): boolean {
  return hljs.getLanguage(grammar) !== undefined;
}

/**
 * Loads a grammar once (later calls share the first one's promise) and tells the listeners, so
 * the answers that use it are drawn again. Resolves false when it could not be loaded.
 */
export function loadGrammar(grammar: string): Promise<boolean> {
  let pending = loading.get(grammar);
  if (!pending) {
    const loader = LOADERS[grammar];
    pending = loader
      ? loader().then(
          (module) => {
            hljs.registerLanguage(grammar, module.default);
            for (const listener of listeners) listener(grammar);
            return true;
          },
          // A chunk that failed to load leaves that language plain; it is not asked for again.
          () => false,
        )
      : Promise.resolve(false);
    loading.set(grammar, pending);
  }
  return pending;
}

/** Called with a grammar's name once it is registered. @returns the unsubscribe function. */
export function onGrammarLoaded(listener: (grammar: string) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/**
 * The code as highlighted HTML (`<span class="hljs-…">` around escaped text), or undefined when
 * the language is unknown or its grammar is not loaded yet — then loading starts, and the
 * listeners hear when it is there.
 */
export function highlight(code: string, lang: string): string | undefined {
  const grammar = grammarFor(lang);
  if (!grammar) return undefined;
  if (!isLoaded(grammar)) {
    void loadGrammar(grammar);
    return undefined;
  }
  try {
    // ignoreIllegals: half-written code (mid-stream) is highlighted as well as it can be, not refused.
    return hljs.highlight(code, { language: grammar, ignoreIllegals: true }).value;
  } catch {
    // A grammar that trips on some input costs that block its colours, not the answer its text.
    return undefined;
  }
}
