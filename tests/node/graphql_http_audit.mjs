// The GraphQL over HTTP specification's own audit suite (graphql-http's auditServer), run against a gateway.
// Every request carries the caller's token and purpose, as any client of the gateway must send them.
// Usage: node graphql_http_audit.mjs URL TOKEN PURPOSE  -> one JSON line per audit: {id, name, status, reason}
import { auditServer } from 'graphql-http';

const [url, token, purpose] = process.argv.slice(2);
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers || {});
  headers.set('Authorization', `Bearer ${token}`);
  headers.set('X-Purpose', purpose);
  return fetch(input, { ...init, headers });
};
const results = await auditServer({ url, fetchFn });
for (const r of results) {
  console.log(JSON.stringify({ id: r.id, name: r.name, status: r.status, reason: r.reason || null }));
}
