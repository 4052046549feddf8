// The alliance as Apollo Federation 2 subgraphs in JavaScript: the customer master, the bank (two entity types
// behind one entity interface), life and invest, each on its own loopback port, all in this one process.
// They serve the export bench/peers/__main__.py writes from the same seed as the simulators and vcv's master,
// so every gateway sees identical data. Kept cheap on purpose (node:http, no server framework, parse and
// validation cached per query text, clean answers kept per request body as the data never changes): the
// benchmark measures the gateways, not these.
//
//   node subgraphs.cjs <export.json> <credentials.json> master=PORT bank=PORT life=PORT invest=PORT
//
// Every subgraph needs `Authorization: Bearer <credential>` on /graphql; /_latency (POST {"latency_ms": n})
// and /_stats need the admin credential; /healthz is open. CommonJS so a test can run it with NODE_PATH
// pointing at tests/node/node_modules (ES modules ignore NODE_PATH).
'use strict';

const http = require('node:http');
const fs = require('node:fs');
const { parse, validate, execute, specifiedRules } = require('graphql');
const { buildSubgraphSchema } = require('@apollo/subgraph');

const LINK = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])';
const MONEY = 'type Money @shareable { amount: String! currency: String! }';

const TYPE_DEFS = {
  master: `${LINK}
    type Query { customer(id: ID!): Customer }
    type Customer @key(fields: "id") {
      id: ID! givenName: String familyName: String birthDate: String email: String phone: String
      address: Address segment: String consultant: Consultant contracts: [Contract!]!
    }
    type Address { street: String postalCode: String city: String country: String }
    type Consultant { id: ID! name: String }
    type Partner { id: ID! name: String! }
    enum ProductType { CURRENT_ACCOUNT SAVINGS LOAN MORTGAGE LIFE DISABILITY ANNUITY CAR HOUSEHOLD LIABILITY DEPOT }
    interface Contract { contractId: ID! partner: Partner! productType: ProductType! status: String startDate: String }
    ${['BankAccount', 'Loan', 'LifePolicy', 'Depot'].map((t) => `type ${t} implements Contract @key(fields: "contractId") {
      contractId: ID! partner: Partner! productType: ProductType! status: String startDate: String }`).join('\n')}
    type PropertyPolicy implements Contract @key(fields: "contractId") {
      contractId: ID! partner: Partner! productType: ProductType! status: String @shareable startDate: String @shareable
    }`,
  bank: `${LINK}
    ${MONEY}
    interface BankContract @key(fields: "contractId") { contractId: ID! productCode: String! }
    type BankAccount implements BankContract @key(fields: "contractId") {
      contractId: ID! productCode: String! iban: String balance: Money overdraftLimit: Money interestRate: Float
      recentTransactions(first: Int = 5): [Transaction!]
    }
    type Transaction { bookingDate: String amount: Money counterparty: String reference: String }
    type Loan implements BankContract @key(fields: "contractId") {
      contractId: ID! productCode: String! principal: Money outstanding: Money interestRate: Float maturityDate: String
    }`,
  // premium is non-null as the property simulator's is: one query selects both (overlapping fields must agree)
  life: `${LINK}
    ${MONEY}
    type LifePolicy @key(fields: "contractId") {
      contractId: ID! productCode: String! sumInsured: Money premium: Money! paymentFrequency: String
      beneficiaries: [String!] surrenderValue: Money healthClass: String
    }`,
  invest: `${LINK}
    ${MONEY}
    type Depot @key(fields: "contractId") {
      contractId: ID! productCode: String! marketValue: Money riskProfile: String positions: [Position!]
    }
    type Position { isin: String name: String quantity: String value: Money }`,
};

function entity(records, typename) {
  // A representation of the wrong type (a loan's ID asked for as BankAccount) is not that entity: null.
  return (ref) => {
    const record = records[ref.contractId];
    return record && (typename === undefined || record.__typename === typename) ? record : null;
  };
}

function resolvers(name, data) {
  if (name === 'master') {
    const typed = {};
    for (const t of ['BankAccount', 'Loan', 'LifePolicy', 'PropertyPolicy', 'Depot']) {
      typed[t] = { __resolveReference: entity(data.contracts, t) };
    }
    return {
      Query: { customer: (_, { id }) => data.customers[id] ?? null },
      Customer: { __resolveReference: (ref) => data.customers[ref.id] ?? null },
      Contract: { __resolveType: (c) => c.__typename },
      ...typed,
    };
  }
  const records = data[name];
  if (name === 'bank') {
    const first = (list, { first: n }) => (list == null ? null : list.slice(0, Math.max(0, n)));
    return {
      BankContract: { __resolveReference: entity(records), __resolveType: (r) => r.__typename },
      BankAccount: {
        __resolveReference: entity(records, 'BankAccount'),
        recentTransactions: (account, args) => first(account.recentTransactions, args),
      },
      Loan: { __resolveReference: entity(records, 'Loan') },
    };
  }
  const typename = name === 'life' ? 'LifePolicy' : 'Depot';
  return { [typename]: { __resolveReference: entity(records, typename) } };
}

function serve(name, port, data, credentials) {
  const schema = buildSubgraphSchema({ typeDefs: parse(TYPE_DEFS[name]), resolvers: resolvers(name, data) });
  const documents = new Map(); // query text -> {document} or {errors}: parse and validate once per text
  // request body -> answer text: the data never changes, and gateways repeat the same few requests
  const answers = new Map();
  const stats = { requests: 0, batch_calls: 0 };
  let latencyMs = 0;

  function prepared(query) {
    let entry = documents.get(query);
    if (entry === undefined) {
      try {
        const document = parse(query);
        const errors = validate(schema, document, specifiedRules);
        entry = errors.length ? { errors } : { document };
      } catch (error) {
        entry = { errors: [error] };
      }
      if (documents.size >= 500) documents.delete(documents.keys().next().value);
      documents.set(query, entry);
    }
    return entry;
  }

  function reply(res, status, body) {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const token = (req.headers.authorization || '').replace(/^Bearer /, '');
      const path = req.url.split('?')[0];
      if (path === '/healthz') return reply(res, 200, { status: 'ok' });
      if (path === '/_latency' || path === '/_stats') {
        if (token !== credentials.admin_credential) return reply(res, token ? 403 : 401, { error: 'admin credential required' });
        if (path === '/_stats') return reply(res, 200, { partner: name, ...stats, latency_ms: latencyMs });
        latencyMs = Math.max(0, Number(JSON.parse(Buffer.concat(chunks).toString() || '{}').latency_ms) || 0);
        return reply(res, 200, { latency_ms: latencyMs });
      }
      if (path !== '/graphql' || req.method !== 'POST') return reply(res, 404, { error: 'not found' });
      if (token !== credentials.credential) return reply(res, 401, { error: 'missing or wrong credential' });
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString());
      } catch {
        return reply(res, 400, { errors: [{ message: 'body is not JSON' }] });
      }
      const raw = Buffer.concat(chunks).toString();
      const cached = answers.get(raw);
      stats.requests += 1;
      if (body.variables && Array.isArray(body.variables.representations)) stats.batch_calls += 1;
      if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
      if (cached !== undefined) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(cached) });
        return res.end(cached);
      }
      const entry = prepared(String(body.query ?? ''));
      if (entry.errors) return reply(res, 400, { errors: entry.errors.map((e) => ({ message: e.message })) });
      const result = await execute({ schema, document: entry.document, variableValues: body.variables,
                                     operationName: body.operationName });
      if (!result.errors) {
        if (answers.size >= 1000) answers.delete(answers.keys().next().value);
        answers.set(raw, JSON.stringify(result));
      }
      reply(res, 200, result);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(port, '127.0.0.1');
  return server;
}

function main() {
  const [exportPath, credentialsPath, ...ports] = process.argv.slice(2);
  const data = JSON.parse(fs.readFileSync(exportPath, 'utf8'));
  const credentials = JSON.parse(fs.readFileSync(credentialsPath, 'utf8'));
  for (const spec of ports) {
    const [name, port] = spec.split('=');
    if (!TYPE_DEFS[name]) throw new Error(`unknown subgraph ${name}`);
    serve(name, Number(port), data, credentials[name]);
  }
  process.on('SIGINT', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}

if (require.main === module) main();
module.exports = { TYPE_DEFS };
