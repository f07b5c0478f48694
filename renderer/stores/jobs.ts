/** Long-running work in main: progress per job (from onProgress) and cancelling. */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { ProgressEvent } from '../../core/api';
import { useApi } from '../api';

export interface JobState {
  jobId: string;
  /** What the job is, for display: 'Scores for digit-scene.png', 'Loading model.json'. */
  title: string;
  stage: string;
  done: number;
  total: number;
  cancelling: boolean;
}

let jobCounter = 0;

/** 'scales 0.5, 0.6666666666666666' → 'scales 0.5, 0.667'. */
function tidyStage(stage: string): string {
  return stage.replace(/\d+\.\d{4,}/g, (n) => String(Number(Number(n).toFixed(3))));
}

/** A fresh job id for a request the renderer starts (loadModel, computeScores). */
export function newJobId(kind: string): string {
  jobCounter += 1;
  return `${kind}:${Date.now().toString(36)}:${jobCounter}`;
}

export const useJobsStore = defineStore('jobs', () => {
  const api = useApi();
  const jobs = ref<JobState[]>([]);
  // Progress can arrive after the call that started the job has returned: late events are dropped.
  const ended = new Set<string>();

  const find = (jobId: string): JobState | undefined => jobs.value.find((j) => j.jobId === jobId);

  /** Registers a job the renderer started, before its first progress event. */
  function start(jobId: string, title: string): void {
    if (!find(jobId)) jobs.value.push({ jobId, title, stage: 'starting', done: 0, total: 1, cancelling: false });
  }

  function onProgress(e: ProgressEvent): void {
    if (ended.has(e.jobId)) return;
    let job = find(e.jobId);
    if (!job) {
      if (e.total > 0 && e.done >= e.total) return;
      // Jobs main starts itself (model conversion: 'load-model:N') show up with their first event.
      jobs.value.push({ jobId: e.jobId, title: e.jobId.startsWith('load-model:') ? 'Loading model' : e.jobId, stage: tidyStage(e.stage), done: e.done, total: e.total, cancelling: false });
      job = find(e.jobId);
    }
    if (!job) return;
    job.stage = tidyStage(e.stage);
    job.done = e.done;
    job.total = e.total;
  }

  function finish(jobId: string): void {
    ended.add(jobId);
    jobs.value = jobs.value.filter((j) => j.jobId !== jobId);
  }

  async function cancel(jobId: string): Promise<void> {
    const job = find(jobId);
    if (job) job.cancelling = true;
    await api.cancel(jobId);
  }

  const unsubscribe = api.onProgress(onProgress);
  const active = computed(() => jobs.value);
  /** Fraction done of all jobs together, 0–1. */
  const fraction = computed(() => {
    if (jobs.value.length === 0) return 1;
    const sum = jobs.value.reduce((acc, j) => acc + (j.total > 0 ? Math.min(j.done / j.total, 1) : 0), 0);
    return sum / jobs.value.length;
  });

  return { jobs, active, fraction, start, finish, cancel, onProgress, unsubscribe };
});
