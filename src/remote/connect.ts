import type { NodeConfig } from '../config/schema.js';
import { LocalConnector } from './local.js';
import type { Connector } from './session.js';
import { SshConnector } from './ssh.js';
import type { RunnerOptions } from './step.js';

/** The runner for a node: this machine for `local: true`, SSH otherwise. */
export function connectorFor(node: NodeConfig, options: RunnerOptions = {}): Connector {
  return node.local ? new LocalConnector(options) : new SshConnector(options);
}
