/**
 * What an answer says while its connection is down (issue 24: the answer froze silently, with only
 * the badge up top saying "Reconnecting in 5 s"): a line at the end of the answer itself,
 * "Connection lost — reconnecting in 5 s…", with "Retry now", gone as soon as the answer goes on.
 */
import type { Outage } from './friendly-errors';

export class OutageNotice {
  readonly root = document.createElement('div');
  private readonly text = document.createElement('span');
  private readonly countdown = document.createElement('span');

  /** @param retry the "Retry now" button, handled by the page's delegated click listener. */
  constructor(private readonly retry: HTMLButtonElement) {
    this.root.className = 'outage';
    // The live region stays in the page, empty, while all is well: one that appears with its text
    // already in it may not be announced. The countdown is for the eyes: a screen reader would
    // hear every tick.
    const live = document.createElement('p');
    live.setAttribute('role', 'status');
    this.countdown.setAttribute('aria-hidden', 'true');
    live.append(this.text, this.countdown);
    retry.hidden = true;
    this.root.append(live, retry);
  }

  /** Shows `outage`, or nothing when undefined; text is touched only when it changes. */
  show(outage: Outage | undefined): void {
    this.root.dataset.active = String(outage !== undefined);
    setText(this.text, outage?.text ?? '');
    setText(this.countdown, outage?.countdown ?? '');
    this.retry.hidden = !outage?.retry;
  }
}

function setText(element: HTMLElement, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}
