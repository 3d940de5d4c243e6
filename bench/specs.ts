/** The demo deployments the status delivery benchmark runs (the customer agent's demo deployer obeys them). */

/** Throughput and unloaded latency: short deployments (Accepted, InProgress, Succeeded in about 0.3 s). */
export const SPEC = { demo: { outcome: "succeed", steps: 2, stepMs: 100 } };

/**
 * The loaded latency phase runs deployments of a few seconds, as real ones are (minutes, in fact): with
 * 0.3 s deployments, 50 kept in flight would ask ~160 deployments/s of a stack that completes ~36/s, and
 * the figure would measure the queue in front of a saturated machine, not status detection.
 */
export const LOADED_SPEC = { demo: { outcome: "succeed", steps: 2, stepMs: 2500 } };
