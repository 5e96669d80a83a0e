import { composeAnswer, tokenize } from './simulated-answer';

const SUGGESTION = 'Write a short Markdown cheat sheet with a heading, a list, a table and a code block.';

/** The Markdown blocks a text holds, by the line shapes CommonMark and GFM give them. */
function blockTypes(text: string): string[] {
  const types: string[] = [];
  if (/^#{1,6} \S/m.test(text)) types.push('heading');
  if (/^- \S/m.test(text)) types.push('list');
  // A fence opened with a language and closed further down.
  for (const [, lang] of text.matchAll(/^```(\w+)\n[\s\S]*?\n```$/gm)) types.push(`fence:${lang}`);
  // A header row, then its delimiter row.
  if (/^\|.+\|\n\|(?: *:?-+:? *\|)+$/m.test(text)) types.push('table');
  return types;
}

describe('the simulator’s Markdown answer', () => {
  it.each([SUGGESTION, 'Show me some code', 'Can you make a table of the options?', 'markdown please'])(
    'answers %j in real Markdown: a heading, a list, fenced code with a language, a table',
    (prompt) => {
      const types = blockTypes(composeAnswer(prompt));
      expect(types).toContain('heading');
      expect(types).toContain('list');
      expect(types).toContain('fence:ts');
      expect(types).toContain('fence:json');
      expect(types).toContain('table');
    },
  );

  it('keeps the plain answers for other prompts', () => {
    for (const prompt of ['What is a WebSocket?', 'hello there', 'Tell me about caching', 'Explain why streaming makes chat feel faster.']) {
      const types = blockTypes(composeAnswer(prompt));
      expect(types).not.toContain('table');
      expect(types.some((type) => type.startsWith('fence'))).toBe(false);
    }
  });

  it('quotes the prompt back and carries multi-byte characters, like every answer', () => {
    // The suggestion is too long to quote back; a short prompt is quoted.
    expect(composeAnswer('Show me a table').startsWith('You asked: “Show me a table”. Here’s a small cheat sheet')).toBe(true);
    const text = composeAnswer(SUGGESTION);
    expect(text.startsWith('Thanks for the detailed question. Here’s a small cheat sheet')).toBe(true);
    expect(text).toMatch(/“.+”/u);
    expect(text).toMatch(/[éï]/u);
    expect(text).toContain('🙂');
    expect(text).toMatch(/\p{Script=Han}/u);
  });

  it('streams in pieces that cut fence markers and table rows, so a renderer sees them half-written', () => {
    const text = composeAnswer(SUGGESTION);
    const pieces = tokenize(text);
    expect(pieces.join('')).toBe(text);
    // The offsets where one piece ends and the next begins.
    const cuts = new Set<number>();
    pieces.reduce((offset, piece) => (cuts.add(offset + piece.length), offset + piece.length), 0);
    const cutInside = (needle: string) => {
      const at = text.indexOf(needle);
      expect(at).toBeGreaterThanOrEqual(0);
      return [...Array(needle.length - 1).keys()].some((i) => cuts.has(at + i + 1));
    };
    expect(cutInside('```ts')).toBe(true);
    expect(cutInside('\n```\n')).toBe(true);
    expect(cutInside('| `**text**` | bold | **42** |')).toBe(true);
    for (const piece of pieces) expect(piece).not.toMatch(/\p{Cs}/u); // never half an emoji
  });
});
