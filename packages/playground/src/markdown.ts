/**
 * Markdown → HTML for model answers, safe by construction: markdown-it with `html: false` escapes
 * every tag the model writes, its link validator refuses `javascript:`, `vbscript:`, `file:` and
 * `data:` URLs, and images are off (no request leaves the page; the CSP would block them anyway).
 * Table alignment becomes classes, not `style` attributes (the page's CSP forbids inline styles);
 * code is highlighted by class (highlight.ts) once its language's grammar is loaded.
 */
import MarkdownIt from 'markdown-it';
import type { Token } from 'markdown-it';
import { grammarFor, highlight, isLoaded } from './highlight';

const md = new MarkdownIt({ html: false, linkify: true, typographer: false, breaks: false });
md.disable(['image']);

const ALIGN = /^text-align:(left|right|center)$/;

md.core.ruler.push('align_classes', (state) => {
  for (const token of state.tokens) {
    if (token.type !== 'th_open' && token.type !== 'td_open') continue;
    const style = token.attrGet('style');
    if (style === null) continue;
    token.attrs = (token.attrs ?? []).filter(([name]) => name !== 'style');
    const align = ALIGN.exec(String(style))?.[1];
    if (align) token.attrJoin('class', `align-${align}`);
  }
  return true;
});

const render = md.renderer.rules;

render.link_open = (tokens, idx, options, _env, self) => {
  tokens[idx]!.attrSet('target', '_blank');
  tokens[idx]!.attrSet('rel', 'noopener noreferrer nofollow');
  return self.renderToken(tokens, idx, options);
};

render.fence = (tokens, idx) => {
  const token = tokens[idx]!;
  const lang = token.info.trim().split(/\s+/)[0] ?? '';
  const safeLang = /^[\w#+.-]{1,32}$/.test(lang);
  const highlighted = safeLang ? highlight(token.content, lang) : undefined;
  const classes = [highlighted !== undefined ? 'hljs' : '', safeLang ? `language-${lang}` : ''].filter(Boolean).join(' ');
  return (
    '<div class="code-block">' +
    `<div class="code-head"><span class="code-lang">${escapeHtml(lang) || 'code'}</span>` +
    '<button type="button" class="copy-code" data-copy-code>Copy code</button></div>' +
    `<pre tabindex="0"><code${classes ? ` class="${classes}"` : ''}>${highlighted ?? escapeHtml(token.content)}</code></pre>` +
    '</div>\n'
  );
};

render.table_open = () => '<div class="table-wrap" tabindex="0" role="region" aria-label="Table"><table>\n';
render.table_close = () => '</table></div>\n';

/** Renders a (possibly unfinished, still streaming) Markdown answer to HTML that is safe to insert. */
export function renderMarkdown(source: string): string {
  return md.render(source);
}

/** One top-level block of an answer (a paragraph, a list, a code block, a table…) as HTML. */
export interface Block {
  /** Equal keys, equal HTML: the block's source lines, and what else changes its output. */
  key: string;
  html: string;
}

/**
 * Renders an answer block by block, reusing the HTML of every block whose key is in `previous`:
 * while an answer streams, only its last block or two change, so only they are rendered again
 * (and the page replaces only their nodes). Parsing the whole text again is cheap; rendering and
 * highlighting it again are what this saves.
 */
export function renderBlocks(source: string, previous: readonly Block[] = []): Block[] {
  const env: Parameters<typeof md.parse>[1] = {};
  const tokens = md.parse(source, env);
  // A link reference defined further down changes how an earlier paragraph renders.
  const references = env.references ? JSON.stringify(env.references) : '';
  const lines = source.split('\n');
  const known = new Map(previous.map((block) => [block.key, block.html]));
  const groups = topLevelGroups(tokens);
  return groups.map((group, index) => {
    const [start, end] = group[0]!.map ?? [0, 0];
    // The last block's source runs to the end of the text: a newline typed after an open code
    // block's last line is in its content, not in its lines.
    const text = (index === groups.length - 1 ? lines.slice(start) : lines.slice(start, end)).join('\n');
    const key = `${text}\u0000${references}\u0000${grammarsReady(group)}`;
    return { key, html: known.get(key) ?? md.renderer.render(group, md.options, env) };
  });
}

/** Splits markdown-it's flat token stream at level 0: each group opens and closes one block. */
function topLevelGroups(tokens: Token[]): Token[][] {
  const groups: Token[][] = [];
  let current: Token[] = [];
  for (const token of tokens) {
    current.push(token);
    if (token.level === 0 && token.nesting <= 0) {
      groups.push(current);
      current = [];
    }
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/** Which of a block's code languages are highlighted yet: a grammar arriving changes its HTML. */
function grammarsReady(group: Token[]): string {
  return group
    .filter((token) => token.type === 'fence')
    .map((token) => {
      const grammar = grammarFor(token.info.trim().split(/\s+/)[0] ?? '');
      return grammar && isLoaded(grammar) ? grammar : '-';
    })
    .join(',');
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}
