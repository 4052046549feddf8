// Hive Gateway configuration: each subgraph is called with its credential (VCV_PEERS_HEADERS names a JSON
// file {subgraph: "Bearer ..."}), logs at warnings only. `--hive-router-runtime` switches the planner.
import { readFileSync } from 'node:fs';

const credentials = JSON.parse(readFileSync(process.env.VCV_PEERS_HEADERS, 'utf8'));

export const gatewayConfig = {
  logging: 'warn',
  transportEntries: Object.fromEntries(Object.entries(credentials).map(
    ([name, value]) => [name, { headers: [['authorization', value]] }])),
};
