import { renderMarkdown } from './markdown';

/** The only markup the renderer may produce; anything else from the model must arrive as text. */
const ALLOWED_TAGS = new Set([
  'p', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'strong', 'em', 's', 'code', 'pre', 'ul', 'ol', 'li', 'blockquote', 'a', 'br', 'hr',
  'table', 'thead', 'tbody', 'tr', 'th', 'td', 'div', 'span', 'button',
]);
const ALLOWED_ATTRIBUTES = new Set(['class', 'href', 'target', 'rel', 'tabindex', 'role', 'aria-label', 'type', 'data-copy-code', 'start']);

/** Every real tag (escaped text `&lt;…` is not one) with its attribute names and href. */
function markup(html: string): Array<{ tag: string; attributes: string[]; href?: string }> {
  return [...html.matchAll(/<\/?([a-zA-Z][\w-]*)((?:\s+[^\s=>]+(?:="[^"]*")?)*)\s*\/?>/g)].map(([, tag, attrs]) => ({
    tag: tag!.toLowerCase(),
    attributes: [...attrs!.matchAll(/\s+([^\s=>]+)(?:="[^"]*")?/g)].map(([, name]) => name!.toLowerCase()),
    href: /\shref="([^"]*)"/.exec(attrs!)?.[1],
  }));
}

function expectOnlySafeMarkup(html: string): void {
  // Nothing that looks like a tag may be left unparsed by the pattern above.
  expect(html.replace(/<\/?[a-zA-Z][\w-]*(?:\s+[^\s=>]+(?:="[^"]*")?)*\s*\/?>/g, '')).not.toMatch(/</);
  for (const { tag, attributes, href } of markup(html)) {
    expect(ALLOWED_TAGS).toContain(tag);
    for (const name of attributes) expect(ALLOWED_ATTRIBUTES).toContain(name);
    if (href !== undefined) expect(href).toMatch(/^(https?:|mailto:|#|\/(?!\/))/i);
  }
}

describe('renderMarkdown (model output → HTML)', () => {
  it('renders what answers use: headings, emphasis, lists, tables, code', () => {
    const html = renderMarkdown('# Title\n\nSome **bold** and `code`.\n\n- a\n- b\n\n1. one\n\n| x | y |\n|:-:|--:|\n| 1 | 2 |\n\n> quoted\n');
    expect(html).toContain('<h1>Title</h1>');
    expect(html).toContain('<strong>bold</strong>');
    expect(html).toContain('<code>code</code>');
    expect(html).toContain('<ul>\n<li>a</li>');
    expect(html).toContain('<ol>\n<li>one</li>');
    expect(html).toContain('<th class="align-center">x</th>');
    expect(html).toContain('<td class="align-right">2</td>');
    expect(html).toContain('<div class="table-wrap" tabindex="0" role="region" aria-label="Table"><table>');
    expect(html).toContain('<blockquote>');
    expectOnlySafeMarkup(html);
  });

  it('renders fenced code escaped, with its language and a copy button', () => {
    const html = renderMarkdown('```ts\nconst a = "<b>" && 1 < 2;\n```\n');
    expect(html).toContain('<span class="code-lang">ts</span>');
    expect(html).toContain('<button type="button" class="copy-code" data-copy-code>Copy code</button>');
    expect(html).toContain('<pre tabindex="0"><code class="language-ts">const a = &quot;&lt;b&gt;&quot; &amp;&amp; 1 &lt; 2;\n</code></pre>');
  });

  it('keeps an unfinished answer (an open code fence mid-stream) well-formed', () => {
    const html = renderMarkdown('Intro\n\n```py\nprint("hi")');
    expect(html).toContain('<code class="language-py">print(&quot;hi&quot;)</code></pre></div>');
  });

  it.each([
    ['a script tag', '<script>alert(1)</script>'],
    ['an img with onerror', '<img src=x onerror="alert(1)">'],
    ['an iframe', '<iframe src="https://evil.example"></iframe>'],
    ['an svg with onload', '<svg onload="alert(1)"></svg>'],
    ['inline HTML with style and handlers', '<b style="color:red" onclick="alert(1)">x</b>'],
    ['a style block', '<style>body{display:none}</style>'],
    ['a javascript: link', '[click](javascript:alert(1))'],
    ['an obfuscated javascript: link', '[click](JaVaScRiPt:alert(1))'],
    ['an entity-encoded javascript: link', '[click](&#106;avascript:alert(1))'],
    ['a vbscript: link', '[click](vbscript:msgbox(1))'],
    ['a data: link', '[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)'],
    ['an image (tracking pixel)', '![x](https://tracker.example/p.png)'],
    ['an image with a javascript: source', '![x](javascript:alert(1))'],
    ['raw HTML inside a table cell', '| a |\n|---|\n| <img src=x onerror=alert(1)> |'],
    ['a code fence whose info string tries to break out', '```"><script>alert(1)</script>\ncode\n```'],
    ['an autolink with javascript:', '<javascript:alert(1)>'],
    ['HTML comments and CDATA', '<!-- x --><![CDATA[<script>alert(1)</script>]]>'],
  ])('never lets %s through as markup', (_name, source) => {
    expectOnlySafeMarkup(renderMarkdown(source));
  });

  it('shows the model’s HTML as text instead', () => {
    expect(renderMarkdown('<script>alert(1)</script>')).toBe('<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n');
  });

  it('opens links in a new tab without handing over the page', () => {
    expect(renderMarkdown('[docs](https://example.com/a?b=1)')).toBe(
      '<p><a href="https://example.com/a?b=1" target="_blank" rel="noopener noreferrer nofollow">docs</a></p>\n',
    );
  });
});
