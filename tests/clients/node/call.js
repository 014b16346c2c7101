// A field client: node's soap package builds a client from the served WSDL and makes one call.
//
//   node call.js WSDL_URL < instruction.json
//
// The instruction: {"operation": "AuthenticateUser", "parameters": {...}} where parameters is
// the operation's wrapper element as the soap package takes it (attributes under the key
// "attributes"), and optionally "http_headers": {"Name": "value"}, HTTP headers the client
// adds to the call (client.addHttpHeader). Printed on stdout as JSON: {"result": ...} or {"fault": {...}} with the
// Fault element as the client surfaces it (err.root.Envelope.Body.Fault), and beside either
// the raw request the client sent (client.lastRequest, Password="..." redacted), its HTTP
// headers, the URL it went to and the raw answer.
'use strict';

const soap = require('soap');

function redacted(text) {
  return text == null ? null : text.replace(/\bPassword="[^"]*"/g, 'Password="(redacted)"');
}

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (chunk) => chunks.push(chunk));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

async function main() {
  if (process.argv.length !== 3) {
    process.stderr.write('usage: node call.js WSDL_URL < instruction.json\n');
    process.exit(2);
  }
  const instruction = JSON.parse(await readStdin());
  const client = await soap.createClientAsync(process.argv[2]);
  for (const [name, value] of Object.entries(instruction.http_headers || {})) {
    client.addHttpHeader(name, value);
  }
  const method = client[`${instruction.operation}Async`];
  if (typeof method !== 'function') {
    throw new Error(`the WSDL gives the client no operation ${instruction.operation}`);
  }
  let output;
  try {
    const [result, response] = await method.call(client, instruction.parameters || {});
    output = { result, response };
  } catch (err) {
    const fault = err && err.root && err.root.Envelope && err.root.Envelope.Body
      && err.root.Envelope.Body.Fault;
    if (!fault) {
      process.stderr.write(`request: ${redacted(client.lastRequest)}\nresponse: ${err && err.body}\n`);
      throw err;
    }
    output = { fault, response: err.body };
  }
  output.request = redacted(client.lastRequest);
  output.request_headers = client.lastRequestHeaders || null;
  output.endpoint = client.lastEndpoint || null;
  process.stdout.write(`${JSON.stringify(output)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err && err.stack) || err}\n`);
  process.exit(1);
});
