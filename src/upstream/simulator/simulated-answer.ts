/** The simulator's text: a canned answer about the user's prompt, cut into tokens the way a tokenizer would. */

/** Prompts up to this length are quoted back in the answer; longer ones would drown it. */
const MAX_QUOTED_PROMPT_CHARS = 80;
/** Words longer than this (in code points, leading whitespace included) are cut into pieces... */
const MAX_WHOLE_WORD_CODE_POINTS = 10;
/** ...of this many code points, the way a BPE tokenizer splits uncommon words. */
const WORD_PIECE_CODE_POINTS = 6;

/**
 * Canned answers. Each one carries multi-byte UTF-8 (curly quotes, accents, an emoji, Chinese)
 * so any prompt exercises the relay's handling of characters split across network reads.
 * `{topic}` is replaced by a sentence about the user's prompt.
 */
const ANSWERS: readonly string[] = [
  '{topic}Here’s the honest version: this reply comes from the gateway’s built-in simulated upstream, ' +
    'so it can’t actually research the question. What it can do is stream a believable answer one token ' +
    'at a time, at roughly the pace a person reads, which is exactly what you need to see the whole ' +
    'pipeline working 🙂 Set HOLYSHEEP_API_KEY and restart the gateway to talk to a real model.\n\n' +
    'Until then, treat this text as a fixture: it always contains “curly quotes”, an accented café, ' +
    'an emoji and a little Chinese (你好，世界) so that multi-byte characters split across network reads ' +
    'get exercised on every run.',
  '{topic}A useful way to think about it is in three steps.\n\n' +
    '1. Start from what you already know works, and write it down in one sentence.\n' +
    '2. Change one thing at a time, and keep a note of what each change did — “it felt faster” is not a measurement.\n' +
    '3. Stop when the result is good enough for the people who will use it, not when it is perfect.\n\n' +
    'It sounds naïve, but most problems that look hard are several easy problems wearing a trench coat. ' +
    'As the saying goes, 千里之行，始于足下: a journey of a thousand miles begins with a single step 🙂',
  '{topic}Streaming is what makes a chat interface feel alive. Instead of waiting several seconds for ' +
    'the complete answer, the client receives small pieces — usually a word or part of a word — as soon ' +
    'as the model produces them, and the reader starts on the first sentence while the rest is still being ' +
    'written.\n\nThe catch is that every layer in between has to cooperate: the upstream sends Server-Sent ' +
    'Events, the gateway turns each “data:” line into a WebSocket frame, and the browser appends the text. ' +
    'If any layer buffers, the magic disappears. Même en français, c’est la même idée: 流式输出 means the ' +
    'answer flows 🙂',
  '{topic}Short answer: it depends, but not as much as people fear.\n\n' +
    'The longer answer is that most of the difference comes from a few decisions made early — what you ' +
    'measure, who you ask, and how quickly you admit a mistake. Teams that write down their assumptions ' +
    '(“we expect ten users, not ten thousand”) tend to revisit them at the right moment; teams that don’t ' +
    'find out the hard way. Pick the simplest option you can explain to a colleague over a café crème, ' +
    'try it for a week, then decide. 一步一步来 — one step at a time 🙂',
];

/**
 * The answer to a prompt that asks for Markdown, code or a table (the playground's "Show me some
 * Markdown" suggestion among them): real Markdown, so a first-time user sees the renderer at work
 * (a heading, a list, fenced code with a language, a table). Tokenized like the others, its fence
 * markers and table rows arrive cut across chunks (`\n\``, `\``, `\`ts`; `|`, ` cell`, ` |`), which
 * exercises a renderer that draws the answer while it streams. Multi-byte characters included.
 */
const MARKDOWN_ANSWER =
  '{topic}Here’s a small cheat sheet, written in Markdown and drawn by the page as it streams in.\n\n' +
  '## Markdown at a glance\n\n' +
  '- **Bold**, *italic* and `inline code`\n' +
  '- Lists like this one, numbered ones too\n' +
  '- Accents, emoji and Chinese survive the stream: café, naïve, 你好 🙂\n\n' +
  '### A code block\n\n' +
  '```ts\n' +
  'interface Greeting {\n' +
  '  name: string;\n' +
  '  times: number;\n' +
  '}\n\n' +
  'function greet({ name, times }: Greeting): string {\n' +
  '  // A template literal: backticks inside a fence\n' +
  '  return `Hello, ${name}! `.repeat(times).trim();\n' +
  '}\n\n' +
  "console.log(greet({ name: 'Zoë', times: 2 }));\n" +
  '```\n\n' +
  '### A table\n\n' +
  '| Syntax | Gives | Example |\n' +
  '| :--- | :---: | ---: |\n' +
  '| `**text**` | bold | **42** |\n' +
  '| `# Title` | a heading | 1 per line |\n' +
  '| `- item` | a list | 3 items |\n\n' +
  'And the request that asked for this answer, as JSON:\n\n' +
  '```json\n' +
  '{ "model": "gpt-4.1", "stream": true, "greeting": "你好，世界" }\n' +
  '```\n\n' +
  'That’s all — “curly quotes” included 🙂';

/** Prompts that ask for formatted output get {@link MARKDOWN_ANSWER}. */
const WANTS_MARKDOWN = /\b(markdown|code|table)s?\b/i;

/** The text of a message's `content`, whether a string or an array of content parts. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => (part && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string' ? (part as { text: string }).text : ''))
      .join(' ');
  }
  return '';
}

export function lastUserText(messages: unknown[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i] as { role?: unknown; content?: unknown } | null;
    if (m && m.role === 'user') return contentText(m.content);
  }
  return '';
}

/**
 * Picks an answer deterministically from the prompt, so the same prompt always streams the same text:
 * the Markdown one when the prompt asks for Markdown, code or a table.
 */
export function composeAnswer(prompt: string): string {
  const topic = prompt.replace(/\s+/g, ' ').trim();
  const answer = WANTS_MARKDOWN.test(topic) ? MARKDOWN_ANSWER : ANSWERS[fnv1a(topic) % ANSWERS.length];
  const intro =
    topic === ''
      ? ''
      : [...topic].length <= MAX_QUOTED_PROMPT_CHARS
        ? `You asked: “${topic}”${/[.!?…]$/u.test(topic) ? '' : '.'} `
        : 'Thanks for the detailed question. ';
  return answer.replace('{topic}', intro);
}

/** 32-bit FNV-1a over UTF-16 code units: tiny, stable across runs and platforms. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * Splits text into token-like pieces whose concatenation is the text: a word with its leading
 * whitespace, a single Han character, a punctuation mark, or trailing whitespace. Long words are
 * cut into word-pieces. Pieces never split a code point, so each is valid UTF-8 on its own.
 */
export function tokenize(text: string): string[] {
  const pieces = text.match(/\s*\p{Script=Han}|\s*[\p{L}\p{M}\p{N}'’]+|\s*[^\s]|\s+/gu) ?? [];
  return pieces.flatMap((piece) => {
    const codePoints = [...piece];
    if (codePoints.length <= MAX_WHOLE_WORD_CODE_POINTS) return [piece];
    const parts: string[] = [];
    for (let i = 0; i < codePoints.length; i += WORD_PIECE_CODE_POINTS) {
      parts.push(codePoints.slice(i, i + WORD_PIECE_CODE_POINTS).join(''));
    }
    return parts;
  });
}

/** Roughly four characters per token, plus a few per message for the chat template. */
export function estimatePromptTokens(messages: unknown[]): number {
  let chars = 0;
  for (const m of messages) chars += contentText((m as { content?: unknown } | null)?.content).length;
  return Math.max(1, Math.ceil(chars / 4) + 3 * messages.length);
}
