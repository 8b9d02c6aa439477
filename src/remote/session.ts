import type { NodeConfig } from '../config/schema.js';

/**
 * Remote execution: the only way the bot touches a node. A session runs one playbook step at a time:
 * `[sudo -n] timeout -k 2 <seconds> sh -s -- <args…>` with the playbook script on stdin, locally or
 * over SSH. Arguments are validated tokens (step names, integers, a hex nonce), never free text.
 */
export interface StepRequest {
  /** The playbook script text, written to the step's stdin. */
  script: string;
  /** Playbook arguments: each matches SAFE_ARG (playbook/steps.ts). */
  args: readonly string[];
  /** The node-side `timeout` for this step. */
  timeoutSeconds: number;
  /** stdout beyond this is dropped and `truncated` set; the step keeps running to its end. */
  maxOutputBytes: number;
  /** Aborting closes the channel/kills the child; the node-side timeout still bounds the step. */
  signal?: AbortSignal;
}

export interface StepOutput {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  exitSignal: string | null;
  truncated: boolean;
  ms: number;
}

export interface NodeSession {
  readonly address: string;
  run(req: StepRequest): Promise<StepOutput>;
  close(): Promise<void>;
}

export interface Connector {
  /** Opens a session (for SSH: connect, verify the host key, authenticate). Throws TriageError. */
  open(node: NodeConfig, options: { signal?: AbortSignal }): Promise<NodeSession>;
}
