// Starts GraphiQL against this gateway's /graphql. Every request, the schema's introspection included, carries
// the headers set in the editor's "Headers" tab: a token (Authorization: Bearer …) and a purpose (X-Purpose).
(function () {
  "use strict";
  var HEADERS = '{\n  "Authorization": "Bearer <paste a token>",\n  "X-Purpose": "advisory"\n}';
  var QUERY = [
    "# Set your token and purpose in the Headers tab below, then run:",
    "{",
    "  partners { id name productTypes }",
    "}",
    ""
  ].join("\n");
  var fetcher = GraphiQL.createFetcher({ url: new URL("/graphql", window.location.href).toString() });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultQuery: QUERY,
    defaultHeaders: HEADERS,
    defaultEditorToolsVisibility: "headers",
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: false  // a token is a credential: never written to the browser's storage
  }));
})();
