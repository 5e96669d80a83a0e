/**
 * Markdown → HTML for model answers, safe by construction: markdown-it with `html: false` escapes
 * every tag the model writes, its link validator refuses `javascript:`, `vbscript:`, `file:` and
 * `data:` URLs, and images are off (no request leaves the page; the CSP would block them anyway).
 * Table alignment becomes classes, not `style` attributes (the page's CSP forbids inline styles).
 */
import MarkdownIt from 'markdown-it';

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
  const langClass = /^[\w#+.-]{1,32}$/.test(lang) ? ` class="language-${lang}"` : '';
  return (
    '<div class="code-block">' +
    `<div class="code-head"><span class="code-lang">${escapeHtml(lang) || 'code'}</span>` +
    '<button type="button" class="copy-code" data-copy-code>Copy code</button></div>' +
    `<pre tabindex="0"><code${langClass}>${escapeHtml(token.content)}</code></pre>` +
    '</div>\n'
  );
};

render.table_open = () => '<div class="table-wrap" tabindex="0" role="region" aria-label="Table"><table>\n';
render.table_close = () => '</table></div>\n';

/** Renders a (possibly unfinished, still streaming) Markdown answer to HTML that is safe to insert. */
export function renderMarkdown(source: string): string {
  return md.render(source);
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}
