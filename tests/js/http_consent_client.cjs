// A third-party client in the consent case: the TypeScript MCP SDK (a 2025-era client) over
// streamable HTTP declares elicitation and declines every question, then plans and tries a
// real run. The server must either ask it (and submit nothing on decline) or refuse the run.
// Usage: node http_consent_client.cjs <mcp-url> <bearer-token>  (NODE_PATH at the node_modules)
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js");
const { ElicitRequestSchema } = require("@modelcontextprotocol/sdk/types.js");

async function main() {
  const [url, token] = process.argv.slice(2);
  const client = new Client({ name: "ts-sdk-consent-check", version: "1.0.0" }, { capabilities: { elicitation: {} } });
  const questions = [];
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    questions.push(request.params.message);
    return { action: "decline" };
  });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  const call = (name, args) => client.callTool({ name, arguments: args });
  const listing = await call("list-accelerators", { name: "queue" });
  const id = listing.structuredContent.accelerators[0].id;
  const described = await call("describe-accelerator", { accelerator_id: id });
  const props = described.structuredContent.parameters_schema.properties;
  const parameters = {};
  for (const name of described.structuredContent.parameters_schema.required) {
    parameters[name] = props[name].enum ? props[name].enum[0] : "ts-sdk-" + name;
  }
  const planned = await call("submit-job", { accelerator_id: id, parameters });
  await call("get-job", { job_id: planned.structuredContent.job.id, wait_seconds: 10 });
  const real = await call("submit-job", {
    accelerator_id: id, parameters, dry_run: false, plan_token: planned.structuredContent.plan_token,
  });
  console.log(JSON.stringify({ questions, real: { isError: !!real.isError, text: real.content[0].text, structured: real.structuredContent ?? null } }));
  await client.close();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
