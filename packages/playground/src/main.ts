/**
 * The playground page (GET /): a chat on the client SDK. Bundled by this package's build.mjs; the
 * service's build copies it to dist/playground/assets/playground.js and served by PlaygroundController under a CSP that allows
 * only same-origin scripts and styles.
 */
import { Conversation, createClient, type ConnectionState, type ConversationMessage, type FrameRecord } from '@holysheep/stream-client';
import { AnswerBody } from './answer-body';
import { describeConnection, describeError, describeOutage, type Friendly } from './friendly-errors';
import { onGrammarLoaded } from './highlight';
import { OutageNotice } from './outage-notice';

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return el as T;
};

const ui = {
  app: $<HTMLElement>('app'),
  menu: $<HTMLButtonElement>('menu'),
  status: $<HTMLElement>('status'),
  statusText: $<HTMLElement>('status-text'),
  retry: $<HTMLButtonElement>('retry-now'),
  drop: $<HTMLButtonElement>('drop'),
  clear: $<HTMLButtonElement>('clear'),
  settings: $<HTMLDetailsElement>('settings'),
  model: $<HTMLSelectElement>('model'),
  modelCustom: $<HTMLInputElement>('model-custom'),
  modelCustomField: $<HTMLElement>('model-custom-field'),
  temperature: $<HTMLInputElement>('temperature'),
  temperatureValue: $<HTMLOutputElement>('temperature-value'),
  maxTokens: $<HTMLInputElement>('max-tokens'),
  system: $<HTMLTextAreaElement>('system'),
  token: $<HTMLInputElement>('token'),
  conversation: $<HTMLElement>('conversation'),
  output: $<HTMLElement>('output'),
  empty: $<HTMLElement>('empty'),
  composer: $<HTMLFormElement>('composer'),
  prompt: $<HTMLTextAreaElement>('prompt'),
  send: $<HTMLButtonElement>('send'),
  stop: $<HTMLButtonElement>('stop'),
  announcer: $<HTMLElement>('announcer'),
  devtools: $<HTMLDetailsElement>('devtools'),
  log: $<HTMLOListElement>('log'),
  clearLog: $<HTMLButtonElement>('clear-log'),
};

const CUSTOM_MODEL = '__custom__';
const MAX_LOG_ENTRIES = 500;

// ------------------------------------------------------------------------------------ client

/** The token the server last refused: asked again for a fresh one, the same one is not retried. */
let refusedToken: string | undefined;
let usedToken: string | undefined;

const client = createClient({
  // Compact content deltas (issue 23): the events are the same, a token costs a sixth of the bytes.
  format: 'text',
  url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws`,
  // Without a token the SDK sends its anonymous key (kept in sessionStorage): a reload finds this
  // tab's streams again on a gateway without auth.
  getToken: ({ refresh, reason }) => {
    const token = ui.token.value.trim() || undefined;
    // Ahead of expiry: a token pasted since the socket opened refreshes it (auth.refresh); the same
    // one again would not help, so nothing is sent and the socket closes when it expires.
    if (reason === 'expiring') return token !== usedToken ? (usedToken = token) : null;
    if (refresh) {
      refusedToken = usedToken;
      if (token === refusedToken) throw new Error('token refused');
    }
    usedToken = token;
    return token;
  },
});
// Kept in sessionStorage (persistKey): a reload shows the conversation again and the answer in
// flight goes on from where it was, without a second upstream request (issue 24).
const conversation = new Conversation(client, { persistKey: 'playground', settings: { temperature: Number(ui.temperature.value) } });

// ------------------------------------------------------------------------------------ connection badge

let badgeTimer: ReturnType<typeof setInterval> | undefined;

function renderConnection(state: ConnectionState): void {
  const badge = describeConnection(state, Date.now());
  ui.status.dataset.tone = badge.tone;
  ui.status.dataset.state = state.status;
  if (ui.statusText.textContent !== badge.text) ui.statusText.textContent = badge.text;
  ui.retry.hidden = !badge.retry;
  ui.retry.textContent = state.status === 'closed' ? 'Reconnect' : 'Retry now';
  ui.drop.disabled = state.status !== 'open';
  // The answer being written says it too (its outage notice), countdown included.
  scheduleRender();
  // The countdown ticks while a reconnect is scheduled.
  if (state.status === 'reconnecting' && badgeTimer === undefined) badgeTimer = setInterval(() => renderConnection(client.state), 500);
  if (state.status !== 'reconnecting' && badgeTimer !== undefined) {
    clearInterval(badgeTimer);
    badgeTimer = undefined;
  }
}

let lastSessionId: string | undefined;
client.on('state', (state) => {
  renderConnection(state);
  if (state.session && state.session.session_id !== lastSessionId) {
    lastSessionId = state.session.session_id;
    fillModels(state.session.models);
  }
  logNote(`${state.status}${state.lastClose && state.status !== 'open' ? ` (last close ${state.lastClose.code}${state.lastClose.reason ? ` ${state.lastClose.reason}` : ''})` : ''}`);
});

ui.retry.addEventListener('click', () => client.reconnectNow());
ui.drop.addEventListener('click', () => {
  logNote('connection dropped on purpose: the answer should resume on a new socket');
  client.dropConnection();
});

// ------------------------------------------------------------------------------------ settings

function fillModels(models: { default: string; allowed: string[] } | undefined): void {
  const previous = ui.model.value;
  const options: Array<[string, string]> = [['', models ? `Default (${models.default})` : 'Server default']];
  for (const model of models?.allowed ?? []) options.push([model, model]);
  options.push([CUSTOM_MODEL, 'Other…']);
  ui.model.replaceChildren(
    ...options.map(([value, label]) => {
      const option = document.createElement('option');
      option.value = value;
      option.textContent = label;
      return option;
    }),
  );
  ui.model.value = options.some(([value]) => value === previous) ? previous : '';
  syncCustomModel();
}

function syncCustomModel(): void {
  ui.modelCustomField.hidden = ui.model.value !== CUSTOM_MODEL;
}

ui.model.addEventListener('change', () => {
  syncCustomModel();
  if (!ui.modelCustomField.hidden) ui.modelCustom.focus();
});
ui.temperature.addEventListener('input', () => {
  ui.temperatureValue.value = Number(ui.temperature.value).toFixed(1);
});
ui.token.addEventListener('change', () => {
  // A new credential needs a new socket; a running answer is not cut for it.
  if (conversation.getSnapshot().busy) return logNote('the new token is used on the next connection');
  if (client.state.status === 'open') client.dropConnection();
  client.reconnectNow();
});

function applySettings(): void {
  const model = ui.model.value === CUSTOM_MODEL ? ui.modelCustom.value.trim() : ui.model.value;
  const maxTokens = ui.maxTokens.value.trim() === '' ? undefined : Number(ui.maxTokens.value);
  conversation.setSettings({
    model: model || undefined,
    temperature: Number(ui.temperature.value),
    max_tokens: maxTokens !== undefined && Number.isFinite(maxTokens) && maxTokens > 0 ? maxTokens : undefined,
    system: ui.system.value,
  });
}

// ------------------------------------------------------------------------------------ conversation

interface Rendered {
  root: HTMLElement;
  body: HTMLElement;
  /** An assistant's Markdown, drawn incrementally. */
  markdown?: AnswerBody;
  /** An assistant's notice while its connection is down. */
  outage?: OutageNotice;
  meta?: HTMLElement;
  stats?: HTMLElement;
  problem?: HTMLElement;
  actions?: HTMLElement;
  message?: ConversationMessage;
  /** What the body shows, to re-render only on change. */
  bodyKey?: string;
}

const rendered = new Map<string, Rendered>();
let renderScheduled = false;
let forceScroll = false;

conversation.subscribe(() => scheduleRender());
// A code language's grammar arrived: the answers that use it are drawn again (their other blocks are kept).
onGrammarLoaded(() => {
  for (const view of rendered.values()) view.bodyKey = undefined;
  scheduleRender();
});

function scheduleRender(): void {
  if (renderScheduled) return;
  renderScheduled = true;
  requestAnimationFrame(() => {
    renderScheduled = false;
    render();
  });
}

function render(): void {
  const { messages, busy } = conversation.getSnapshot();
  const pinned = forceScroll || isAtBottom();
  forceScroll = false;

  const ids = new Set(messages.map((m) => m.id));
  for (const [id, view] of rendered) {
    if (!ids.has(id)) {
      view.root.remove();
      rendered.delete(id);
    }
  }
  const lastAssistant = [...messages].reverse().find((m) => m.role === 'assistant');
  for (const message of messages) {
    let view = rendered.get(message.id);
    if (!view) {
      view = message.role === 'user' ? userView(message) : assistantView();
      rendered.set(message.id, view);
      ui.output.append(view.root);
    }
    if (message.role === 'assistant') updateAssistant(view, message, !busy && message === lastAssistant);
  }
  ui.empty.hidden = messages.length > 0;
  ui.send.hidden = busy;
  ui.stop.hidden = !busy;
  ui.clear.disabled = messages.length === 0;
  if (pinned) ui.conversation.scrollTop = ui.conversation.scrollHeight;
}

function isAtBottom(): boolean {
  const el = ui.conversation;
  return el.scrollHeight - el.scrollTop - el.clientHeight < 48;
}

function userView(message: ConversationMessage): Rendered {
  const root = document.createElement('article');
  root.className = 'msg msg-user';
  root.setAttribute('aria-label', 'You');
  const body = document.createElement('div');
  body.className = 'bubble';
  body.textContent = message.content;
  root.append(body);
  return { root, body, message };
}

function assistantView(): Rendered {
  const root = document.createElement('article');
  root.className = 'msg msg-assistant';
  root.setAttribute('aria-label', 'Assistant');
  const body = document.createElement('div');
  body.className = 'markdown';
  const outage = new OutageNotice(button('Retry now', 'reconnect'));
  const problem = document.createElement('div');
  problem.className = 'problem';
  problem.hidden = true;
  const meta = document.createElement('div');
  meta.className = 'msg-meta';
  const stats = document.createElement('span');
  stats.className = 'stats';
  const actions = document.createElement('span');
  actions.className = 'msg-actions';
  meta.append(stats, actions);
  root.append(body, outage.root, problem, meta);
  return { root, body, markdown: new AnswerBody(body), outage, meta, stats, problem, actions };
}


function updateAssistant(view: Rendered, message: ConversationMessage, isLast: boolean): void {
  const previous = view.message;
  view.message = message;
  view.root.dataset.status = message.status;
  view.root.setAttribute('aria-busy', String(message.status === 'pending' || message.status === 'streaming'));

  const waiting = message.status === 'pending' || message.status === 'streaming';
  // The cursor is drawn while the answer streams: the key changes when it stops, too.
  const bodyKey = message.content ? `${waiting ? 's' : 'e'}${message.content}` : waiting ? 'waiting' : 'empty';
  if (view.bodyKey !== bodyKey) {
    view.bodyKey = bodyKey;
    if (message.content) view.markdown!.show(message.content, waiting);
    else view.markdown!.showPlaceholder(waiting ? thinking() : undefined);
  }
  // Only an answer still being written is waiting for the connection.
  view.outage!.show(waiting ? describeOutage(client.state, Date.now()) : undefined);

  view.stats!.textContent = statsText(message);

  updateProblem(view, message, isLast);

  const ended = message.status !== 'pending' && message.status !== 'streaming';

  const actionsKey = `${ended}|${isLast}|${message.content.length > 0}|${message.status}`;
  if (view.actions!.dataset.key !== actionsKey) {
    view.actions!.dataset.key = actionsKey;
    const buttons: HTMLButtonElement[] = [];
    if (ended && message.content) buttons.push(button('Copy', 'copy-answer', 'Copy answer'));
    // A failed answer offers "Try again" with its message instead: one button for one action.
    if (ended && isLast && message.status !== 'error') buttons.push(button('Regenerate', 'regenerate', 'Regenerate answer'));
    view.actions!.replaceChildren(...buttons);
  }

  if (previous && (previous.status === 'pending' || previous.status === 'streaming') && ended) announce(message, view);
}

/**
 * The problem line: plain language and a next step. Drawn again only when it changes: the page
 * renders on every countdown tick, and a rebuilt button would lose the keyboard focus.
 */
function updateProblem(view: Rendered, message: ConversationMessage, isLast: boolean): void {
  const key = `${message.status}|${message.error?.code}|${message.error?.retryAfterMs}|${isLast}|${message.content.length > 0}`;
  if (view.problem!.dataset.key === key) return;
  view.problem!.dataset.key = key;
  if (message.status === 'error' && message.error) {
    const friendly = describeError(message.error);
    view.problem!.hidden = false;
    view.problem!.replaceChildren(textSpan(friendly.text), ...nextStepButtons(friendly, isLast));
  } else if (message.status === 'cancelled') {
    view.problem!.hidden = false;
    view.problem!.replaceChildren(textSpan(message.content ? 'Stopped — the answer above is incomplete.' : 'Stopped before the answer began.'));
  } else {
    view.problem!.hidden = true;
  }
}

function statsText(message: ConversationMessage): string {
  const stats = message.stats;
  const parts: string[] = [];
  if (message.model) parts.push(message.model);
  if (stats?.ttftMs !== undefined) parts.push(`first token ${Math.round(stats.ttftMs)} ms`);
  if (stats?.tokensPerSecond !== undefined) parts.push(`${stats.tokensPerSecond.toFixed(1)} tokens/s`);
  const tokens = stats?.completionTokens ?? (stats && stats.chunks > 0 ? stats.chunks : undefined);
  if (tokens !== undefined && message.status !== 'streaming') parts.push(`${tokens} tokens`);
  if (message.status === 'pending') parts.push('waiting for the first token…');
  return parts.join(' · ');
}

function announce(message: ConversationMessage, view: Rendered): void {
  let text: string;
  if (message.status === 'done') text = `Answer complete. ${spokenText(view.body)}`;
  else if (message.status === 'cancelled') text = 'Stopped.';
  else text = message.error ? describeError(message.error).text : 'The answer failed.';
  // Re-setting the same text would not be announced again.
  ui.announcer.textContent = '';
  setTimeout(() => (ui.announcer.textContent = text.slice(0, 4000)), 50);
}

/** An answer's text as read out: without its code blocks' headers (the language, "Copy code"). */
function spokenText(body: HTMLElement): string {
  const copy = body.cloneNode(true) as HTMLElement;
  for (const head of copy.querySelectorAll('.code-head')) head.remove();
  return copy.textContent?.trim() ?? '';
}

function textSpan(text: string): HTMLSpanElement {
  const span = document.createElement('span');
  span.textContent = text;
  return span;
}

function button(label: string, action: string, ariaLabel?: string): HTMLButtonElement {
  const el = document.createElement('button');
  el.type = 'button';
  el.className = 'small';
  el.textContent = label;
  el.dataset.action = action;
  if (ariaLabel && ariaLabel !== label) el.setAttribute('aria-label', ariaLabel);
  return el;
}

function thinking(): HTMLElement {
  const p = document.createElement('p');
  p.className = 'thinking';
  p.textContent = 'Thinking…';
  return p;
}

/** The step to take first, if any, then "Try again" (only the last answer can be asked again). */
function nextStepButtons(friendly: Friendly, isLast: boolean): HTMLButtonElement[] {
  const buttons: HTMLButtonElement[] = [];
  if (friendly.step === 'settings') buttons.push(button('Open settings', 'open-settings'));
  if (friendly.step === 'reconnect') buttons.push(button('Reconnect', 'reconnect'));
  if (friendly.retry && isLast) buttons.push(button('Try again', 'regenerate'));
  return buttons;
}

// Buttons inside messages, by delegation (no inline handlers: the CSP forbids them).
ui.output.addEventListener('click', (event) => {
  const target = event.target as HTMLElement;
  const codeCopy = target.closest<HTMLButtonElement>('[data-copy-code]');
  if (codeCopy) {
    const code = codeCopy.closest('.code-block')?.querySelector('code')?.textContent ?? '';
    void copyText(code, codeCopy, 'Copy code');
    return;
  }
  const action = target.closest<HTMLButtonElement>('button[data-action]');
  if (!action) return;
  const id = [...rendered.entries()].find(([, view]) => view.root.contains(action))?.[0];
  const message = id ? rendered.get(id)?.message : undefined;
  switch (action.dataset.action) {
    case 'copy-answer':
      if (message) void copyText(message.content, action, 'Copy');
      return;
    case 'regenerate':
      applySettings();
      forceScroll = true;
      conversation.regenerate();
      ui.prompt.focus();
      return;
    case 'open-settings':
      setMenu(true);
      ui.settings.open = true;
      ui.settings.querySelector<HTMLElement>('summary')?.focus();
      return;
    case 'reconnect':
      client.reconnectNow();
      return;
  }
});

async function copyText(text: string, trigger: HTMLButtonElement, label: string): Promise<void> {
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch {
    // Clipboard API unavailable (insecure context, denied): fall back to a selection copy.
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'offscreen';
    document.body.append(area);
    area.select();
    ok = document.execCommand('copy');
    area.remove();
  }
  trigger.textContent = ok ? 'Copied' : 'Copy failed';
  setTimeout(() => (trigger.textContent = label), 1500);
}

// ------------------------------------------------------------------------------------ phone menu

/** On a narrow screen the actions and panels fold behind "Menu" (CSS hides them; this opens them). */
function setMenu(open: boolean): void {
  ui.app.dataset.menu = open ? 'open' : 'closed';
  ui.menu.setAttribute('aria-expanded', String(open));
}
ui.menu.addEventListener('click', () => setMenu(ui.menu.getAttribute('aria-expanded') !== 'true'));

// ------------------------------------------------------------------------------------ composer

function submit(): void {
  const text = ui.prompt.value;
  if (!text.trim() || conversation.getSnapshot().busy) return;
  applySettings();
  forceScroll = true;
  if (conversation.send(text)) {
    ui.prompt.value = '';
    autosize();
  }
}

ui.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  submit();
});

ui.prompt.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submit();
  }
});

document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && conversation.getSnapshot().busy) {
    event.preventDefault();
    conversation.stop();
  }
});

ui.stop.addEventListener('click', () => {
  conversation.stop();
  ui.prompt.focus();
});

ui.clear.addEventListener('click', () => {
  conversation.clear();
  ui.announcer.textContent = 'Conversation cleared.';
  ui.prompt.focus();
});

for (const suggestion of document.querySelectorAll<HTMLButtonElement>('[data-suggestion]')) {
  suggestion.addEventListener('click', () => {
    ui.prompt.value = suggestion.dataset.suggestion ?? suggestion.textContent ?? '';
    autosize();
    ui.prompt.focus();
  });
}

function autosize(): void {
  ui.prompt.style.height = 'auto';
  ui.prompt.style.height = `${Math.min(ui.prompt.scrollHeight + 2, 240)}px`;
}
ui.prompt.addEventListener('input', autosize);

// ------------------------------------------------------------------------------------ developer panel

/** One line per run of chunks of a stream, counting them, so the log stays readable. */
const chunkRuns = new Map<string, { count: number; text: HTMLElement }>();

client.on('frame', (record: FrameRecord) => logFrame(record));

function logFrame({ direction, frame }: FrameRecord): void {
  if (direction === 'in' && frame.type === 'chat.chunk') {
    const run = chunkRuns.get(frame.id);
    if (run && run.text.isConnected) {
      run.count += 1;
      run.text.textContent = `chat.chunk ${frame.id} ×${run.count} (last seq ${frame.seq})`;
      return;
    }
    chunkRuns.set(frame.id, { count: 1, text: addLogEntry('in', `chat.chunk ${frame.id} ×1 (seq ${frame.seq})`) });
    return;
  }
  if ('id' in frame && typeof frame.id === 'string') chunkRuns.delete(frame.id);
  addLogEntry(direction, JSON.stringify(frame));
}

function logNote(text: string): void {
  chunkRuns.clear();
  addLogEntry('note', text);
}

function addLogEntry(kind: 'in' | 'out' | 'note', text: string): HTMLElement {
  const pinned = ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 24;
  const li = document.createElement('li');
  li.className = kind;
  const time = document.createElement('time');
  const now = new Date();
  time.dateTime = now.toISOString();
  time.textContent = `${now.toTimeString().slice(0, 8)}.${String(now.getMilliseconds()).padStart(3, '0')}`;
  const dir = document.createElement('span');
  dir.className = 'dir';
  dir.textContent = kind === 'in' ? '←' : kind === 'out' ? '→' : '·';
  dir.title = kind === 'in' ? 'received' : kind === 'out' ? 'sent' : 'note';
  const body = document.createElement('span');
  body.textContent = text.length > 800 ? `${text.slice(0, 800)}…` : text;
  li.append(time, ' ', dir, ' ', body);
  ui.log.append(li);
  while (ui.log.childElementCount > MAX_LOG_ENTRIES) ui.log.firstElementChild?.remove();
  if (pinned) ui.log.scrollTop = ui.log.scrollHeight;
  return body;
}

ui.clearLog.addEventListener('click', () => {
  ui.log.replaceChildren();
  chunkRuns.clear();
});

// ------------------------------------------------------------------------------------ start

document.documentElement.dataset.ready = 'true';
renderConnection(client.state);
render();
fillModels(undefined);
client.connect().catch(() => undefined); // the badge shows what happened
ui.prompt.focus();
