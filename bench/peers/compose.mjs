// The supergraph, composed with @apollo/composition's composeServices from each subgraph's SDL.
//   node compose.mjs <subgraphs.json: [{"name", "url", "sdl"}]> <supergraph.graphql to write>
import { readFileSync, writeFileSync } from 'node:fs';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';

const [input, output] = process.argv.slice(2);
const services = JSON.parse(readFileSync(input, 'utf8'))
  .map(({ name, url, sdl }) => ({ name, url, typeDefs: parse(sdl) }));
const result = composeServices(services);
if (result.errors) {
  for (const error of result.errors) console.error(error.message);
  process.exit(1);
}
writeFileSync(output, result.supergraphSdl);
