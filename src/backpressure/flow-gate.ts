/** Something whose reading can be paused: an upstream HTTP response body. */
export interface Pausable {
  pause(): void;
  resume(): void;
}

/**
 * Backpressure switch shared by one socket and the upstream bodies that feed it. When the socket's
 * send buffer is full the gate closes and every attached body stops being read, so TCP pushes back
 * on the upstream instead of chunks piling up in the gateway's memory (pull, don't buffer).
 */
export class FlowGate {
  private readonly targets = new Set<Pausable>();
  private paused = false;

  get isPaused(): boolean {
    return this.paused;
  }

  /** Registers a body; it is paused at once if the gate is closed. Returns the detach function. */
  attach(target: Pausable): () => void {
    this.targets.add(target);
    if (this.paused) target.pause();
    return () => this.targets.delete(target);
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    for (const target of this.targets) target.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    for (const target of this.targets) target.resume();
  }
}
