// An independent client: the TypeScript MCP SDK launches our server over stdio, lists the tools
// and drives a dry run. It also validates every structuredContent against the tool's outputSchema.
// Usage: node stdio_client.cjs <command> [args...]  (NODE_PATH must point at the node_modules)
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StdioClientTransport } = require("@modelcontextprotocol/sdk/client/stdio.js");

async function main() {
  const [command, ...args] = process.argv.slice(2);
  const client = new Client({ name: "ts-sdk-stdio-check", version: "1.0.0" });
  await client.connect(new StdioClientTransport({ command, args, stderr: "ignore" }));
  const tools = await client.listTools();
  const call = (name, args) => client.callTool({ name, arguments: args });
  const listing = await call("list-accelerators", { name: "queue" });
  const id = listing.structuredContent.accelerators[0].id;
  const described = await call("describe-accelerator", { accelerator_id: id });
  const props = described.structuredContent.parameters_schema.properties;
  const parameters = {};
  for (const name of described.structuredContent.parameters_schema.required) {
    parameters[name] = props[name].enum ? props[name].enum[0] : "ts-sdk-" + name;
  }
  const rejected = await call("submit-job", { accelerator_id: id, parameters: { no_such_parameter: 1 } });
  const planned = await call("submit-job", { accelerator_id: id, parameters });
  const job = await call("get-job", { job_id: planned.structuredContent.job.id, wait_seconds: 10 });
  console.log(JSON.stringify({
    protocol: client.getServerVersion(),
    tools: tools.tools.map((t) => t.name),
    rejected: { isError: rejected.isError, text: rejected.content[0].text },
    job: job.structuredContent,
  }));
  await client.close();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
