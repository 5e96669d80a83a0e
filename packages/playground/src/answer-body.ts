/**
 * The body of one answer in the page: its Markdown drawn block by block (markdown.ts
 * renderBlocks), so a streaming answer replaces the nodes of its last block or two per frame, not
 * the whole answer; and, while it streams, the cursor right after its last character — inside the
 * code block, list item or table cell the text ends in, never a bar detached below it.
 */
import { renderBlocks, type Block } from './markdown';

interface DrawnBlock extends Block {
  nodes: ChildNode[];
}

export class AnswerBody {
  private blocks: DrawnBlock[] = [];
  private readonly cursor = document.createElement('span');

  constructor(readonly element: HTMLElement) {
    this.cursor.className = 'cursor';
    // A caret is decoration: screen readers hear the text (and aria-busy on the answer).
    this.cursor.setAttribute('aria-hidden', 'true');
  }

  /** Draws `source` as Markdown, with the cursor at its end when `streaming`. */
  show(source: string, streaming: boolean): void {
    this.removeCursor();
    // Nothing drawn yet: whatever is there is a placeholder ("Thinking…").
    if (this.blocks.length === 0) this.element.replaceChildren();
    const next = renderBlocks(source, this.blocks);
    let same = 0;
    while (same < next.length && same < this.blocks.length && next[same]!.key === this.blocks[same]!.key) same++;
    for (const block of this.blocks.slice(same)) for (const node of block.nodes) node.remove();
    const drawn = this.blocks.slice(0, same);
    for (const block of next.slice(same)) {
      const template = document.createElement('template');
      // Safe: renderBlocks escapes every tag of the model's text (markdown-it, html: false).
      template.innerHTML = block.html;
      const nodes = [...template.content.childNodes];
      this.element.append(template.content);
      drawn.push({ ...block, nodes });
    }
    this.blocks = drawn;
    if (streaming) this.placeCursor();
  }

  /** Replaces the Markdown with a placeholder (or nothing): the next `show` draws from scratch. */
  showPlaceholder(node: Node | undefined): void {
    this.removeCursor();
    this.blocks = [];
    this.element.replaceChildren(...(node ? [node] : []));
  }

  private placeCursor(): void {
    const last = this.element.lastElementChild;
    // An answer ending in a code block: the caret goes into the code, even before its first line.
    const code = last?.classList.contains('code-block') ? last.querySelector('code') : null;
    // Only the last block is searched: the text ends there (a block without text — a rule — has the caret after it).
    const text = lastVisibleText(code ?? last ?? this.element);
    if (!text) {
      if (code) code.append(this.cursor);
      else this.element.append(this.cursor);
      return;
    }
    // After the last visible character: a code block's trailing newline would put it a line below.
    const end = text.data.trimEnd().length;
    const after = end < text.data.length ? text.splitText(end) : text.nextSibling;
    text.parentNode!.insertBefore(this.cursor, after);
  }

  private removeCursor(): void {
    const parent = this.cursor.parentNode;
    if (!parent) return;
    this.cursor.remove();
    // Joins a text node split for the caret, so the next placement finds it whole.
    if (parent !== this.element) parent.normalize();
  }
}

/** The last text node under `root` with something visible, skipping code blocks' headers (their "Copy code"). */
function lastVisibleText(root: Node): Text | undefined {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) =>
      node.parentElement?.closest('.code-head') || !/\S/.test((node as Text).data) ? NodeFilter.FILTER_SKIP : NodeFilter.FILTER_ACCEPT,
  });
  let last: Text | undefined;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) last = node as Text;
  return last;
}
