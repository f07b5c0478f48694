/** Running jobs of the window's service by id (model loads, score computations, batches): one AbortController each. */
export class JobRegistry {
  private readonly jobs = new Map<string, AbortController>();

  /** Registers a job. @throws when a job of that id is already running (`what` names the operation). */
  start(id: string, what: string): AbortController {
    if (this.jobs.has(id)) throw new Error(`${what}: job ${id} is already running`);
    const c = new AbortController();
    this.jobs.set(id, c);
    return c;
  }

  end(id: string): void {
    this.jobs.delete(id);
  }

  has(id: string): boolean {
    return this.jobs.has(id);
  }

  cancel(id: string): void {
    this.jobs.get(id)?.abort(new Error(`job ${id} cancelled`));
  }

  abortAll(reason: string): void {
    for (const c of this.jobs.values()) c.abort(new Error(reason));
  }
}
