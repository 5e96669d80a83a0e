import { grammarFor, highlight, loadGrammar, onGrammarLoaded } from './highlight';
import { renderBlocks, renderMarkdown, type Block } from './markdown';

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
    // A language without a grammar here (highlighting is tested below).
    const html = renderMarkdown('```elixir\nconst a = "<b>" && 1 < 2;\n```\n');
    expect(html).toContain('<span class="code-lang">elixir</span>');
    expect(html).toContain('<button type="button" class="copy-code" data-copy-code>Copy code</button>');
    expect(html).toContain('<pre tabindex="0"><code class="language-elixir">const a = &quot;&lt;b&gt;&quot; &amp;&amp; 1 &lt; 2;\n</code></pre>');
  });

  it('keeps an unfinished answer (an open code fence mid-stream) well-formed', () => {
    // A language the page has no grammar for: the escaped text, whatever else loaded.
    const html = renderMarkdown('Intro\n\n```elixir\nIO.puts("hi")');
    expect(html).toContain('<code class="language-elixir">IO.puts(&quot;hi&quot;)</code></pre></div>');
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

/** An answer with every kind of block, written the way models write them. */
const ANSWER = [
  '# Title\n\nSome **bold** and `code`, a [link][docs].\n\n',
  '- one\n- two\n\n  still two\n- three\n\n',
  'A setext heading\n---\n\n',
  '```ts\nconst a: string = "<b>";\nfunction f() { return `x${a}`; }\n```\n\n',
  '| x | y |\n|:-:|--:|\n| 1 | <img src=x onerror=alert(1)> |\n\n',
  '> quoted\n> more\n\n1. first\n2. second\n\n***\n\n',
  '[docs]: https://example.com/docs\n\nThe end.',
].join('');

describe('renderBlocks (drawing a streaming answer block by block)', () => {
  beforeAll(() => loadGrammar('typescript'));

  it('gives the same HTML as rendering the whole text, at every point of the stream', () => {
    let previous: Block[] = [];
    for (let end = 1; end <= ANSWER.length; end++) {
      const source = ANSWER.slice(0, end);
      previous = renderBlocks(source, previous);
      expect(previous.map((block) => block.html).join('')).toBe(renderMarkdown(source));
    }
  });

  it('reuses the HTML of a block whose source has not changed, and only that', () => {
    const first = renderBlocks('Para one.\n\nPara two');
    expect(first).toHaveLength(2);
    const reused = renderBlocks('Para one.\n\nPara two grows', [{ key: first[0]!.key, html: '<p>kept</p>' }, first[1]!]);
    expect(reused.map((block) => block.html)).toEqual(['<p>kept</p>', '<p>Para two grows</p>\n']);
    // A line that turns the paragraph above into a heading changes that block's key.
    const setext = renderBlocks('Para one.\n---', first);
    expect(setext[0]!.html).toBe('<h2>Para one.</h2>\n');
  });
});

describe('code highlighting (highlight.js, by class)', () => {
  beforeAll(() => loadGrammar('typescript'));

  it('highlights a known language with hljs classes only, the code still escaped', () => {
    const html = renderMarkdown('```ts\nconst a = "<b>" && 1 < 2; // </code><script>\n```\n');
    expect(html).toContain('<code class="hljs language-ts">');
    expect(html).toContain('<span class="hljs-keyword">const</span>');
    expect(html).toContain('&quot;&lt;b&gt;&quot;');
    expect(html).toContain('<span class="hljs-comment">// &lt;/code&gt;&lt;script&gt;</span>');
    // Spans with a class, never a style attribute: the page's CSP forbids them.
    expect(html).not.toMatch(/style=/);
    const code = /<code[^>]*>([\s\S]*)<\/code>/.exec(html)![1]!;
    for (const [, attrs] of code.matchAll(/<span([^>]*)>/g)) expect(attrs).toMatch(/^ class="hljs-[\w. -]+"$/);
    expectOnlySafeMarkup(html);
  });

  it('highlights a code block still being written (no closing fence yet)', () => {
    expect(renderMarkdown('```typescript\nlet x = 1')).toContain('<span class="hljs-keyword">let</span>');
  });

  it('leaves unknown languages as escaped text', () => {
    expect(grammarFor('brainfuck')).toBeUndefined();
    expect(renderMarkdown('```brainfuck\n+[<>]\n```')).toContain('<code class="language-brainfuck">+[&lt;&gt;]\n</code>');
  });

  it('loads a grammar the first time it is seen, then tells the page so the block is drawn again', async () => {
    // No other test of this file uses YAML: its grammar is not loaded yet.
    expect(grammarFor('yml')).toBe('yaml');
    const loaded = new Promise((resolve) => onGrammarLoaded(resolve));
    const source = '```yml\nenabled: true\n```';
    const before = renderBlocks(source);
    expect(before[0]!.html).toContain('<code class="language-yml">enabled: true');
    expect(await loaded).toBe('yaml');
    const after = renderBlocks(source, before);
    expect(after[0]!.key).not.toBe(before[0]!.key);
    expect(after[0]!.html).toContain('<span class="hljs-attr">enabled:</span> <span class="hljs-literal">true</span>');
    expect(highlight('x: 1', 'yaml')).toContain('<span class="hljs-number">1</span>');
  });
});
