// Apollo Gateway on Apollo Server (standalone, node:http) over the composed supergraph; each subgraph is
// called with its credential.   node apollo.mjs <supergraph.graphql> <port> <headers.json: {subgraph: "Bearer ..."}>
import { readFileSync } from 'node:fs';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';

const [supergraphPath, port, headersPath] = process.argv.slice(2);
const credentials = JSON.parse(readFileSync(headersPath, 'utf8'));

class Authorized extends RemoteGraphQLDataSource {
  willSendRequest({ request }) {
    request.http.headers.set('authorization', credentials[this.name]);
  }
}

const gateway = new ApolloGateway({
  supergraphSdl: readFileSync(supergraphPath, 'utf8'),
  buildService: ({ name, url }) => Object.assign(new Authorized({ url }), { name }),
});
const server = new ApolloServer({ gateway, introspection: false });
const { url } = await startStandaloneServer(server, { listen: { port: Number(port), host: '127.0.0.1' } });
console.log(`apollo gateway at ${url}`);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.stop().then(() => process.exit(0)));
