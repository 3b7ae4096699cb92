/** A place in the upload queue: `granted` resolves when it holds a slot. */
export interface UploadSlot {
  readonly granted: Promise<void>;
  /** Frees the slot, or leaves the queue if it was still waiting; once is enough. */
  release(): void;
}

/**
 * A fixed number of concurrent update pulls, the rest queued in order. A pull that is given up
 * while it waits leaves the queue, so a cancelled pull never holds or blocks a slot.
 */
export class UploadSlots {
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(private readonly size: number) {}

  take(): UploadSlot {
    let held = false;
    let released = false;
    let grant!: () => void;
    const granted = new Promise<void>((resolve) => {
      grant = () => {
        held = true;
        resolve();
      };
    });
    if (this.active < this.size) {
      this.active++;
      grant();
    } else {
      this.queue.push(grant);
    }
    return {
      granted,
      release: () => {
        if (released) return;
        released = true;
        if (held) this.handOn();
        else this.queue.splice(this.queue.indexOf(grant), 1);
      },
    };
  }

  private handOn(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.active--;
  }
}
