/**
 * Just enough Markdown reading for tests that hold docs and code to each other: sections by
 * heading, GitHub's heading anchors, and the rows of a pipe table. (Fenced code blocks are not
 * special-cased: the docs read this way keep `#` lines out of them.)
 */

const HEADING = /^(#{1,6})\s+(.*)$/;

/** The lines under the heading at `index`, up to the next heading of the same or a higher level. */
function body(lines: string[], index: number): string {
  const level = HEADING.exec(lines[index]!)![1]!.length;
  const rest = lines.slice(index + 1);
  const end = rest.findIndex((line) => {
    const m = HEADING.exec(line);
    return m !== null && m[1]!.length <= level;
  });
  return (end < 0 ? rest : rest.slice(0, end)).join('\n');
}

/** The text under `heading` (the whole heading line, e.g. `### Close codes`); throws when absent. */
export function section(markdown: string, heading: string, file: string): string {
  const lines = markdown.split(/\r?\n/);
  const index = lines.findIndex((line) => line.trim() === heading);
  if (index < 0) throw new Error(`${file}: heading "${heading}" not found (did its structure change?)`);
  return body(lines, index);
}

/** GitHub's anchor for a heading's text: lower case, punctuation dropped, spaces as hyphens. */
export function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\w\- ]/g, '')
    .replace(/ /g, '-');
}

/** Every section of a document by its heading's anchor. */
export function sectionsByAnchor(markdown: string): Map<string, string> {
  const lines = markdown.split(/\r?\n/);
  const out = new Map<string, string>();
  lines.forEach((line, index) => {
    const heading = HEADING.exec(line);
    if (heading) out.set(anchor(heading[2]!), body(lines, index));
  });
  return out;
}

/** The lines of the pipe table in `text`, header and separator included, trimmed. */
export function tableLines(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('|'));
}

const cells = (line: string) =>
  line
    .replace(/^\||\|$/g, '')
    .split('|')
    .map((cell) => cell.trim());

/** The header cells of the pipe table in `text`. */
export function tableHeader(text: string): string[] {
  const [header] = tableLines(text);
  return header === undefined ? [] : cells(header);
}

/** The body rows of the pipe table in `text` (header and separator skipped), as trimmed cells. */
export function tableRows(text: string): string[][] {
  return tableLines(text).slice(2).map(cells);
}
