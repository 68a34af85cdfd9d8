// Drives the official JS SDK's message-thread helper and tool runner against the gateway.
// Usage: node threads.cjs <gateway URL> <SDK package folder> <thread|stream|runner>
// Prints one JSON line: the replies' texts and ids, and the tool calls the runner ran.
'use strict';

const path = require('node:path');

async function main() {
  const [baseURL, sdkDir, scenario] = process.argv.slice(2);
  const Anthropic = require(sdkDir).default;
  const { betaTool } = require(path.join(sdkDir, 'helpers', 'beta', 'json-schema.js'));
  const client = new Anthropic({ baseURL, apiKey: 'x', maxRetries: 0 });
  const out = { replies: [], ran: [] };
  const text = (message) => message.content.filter((b) => b.type === 'text').map((b) => b.text).join('');

  if (scenario === 'thread' || scenario === 'stream') {
    const thread = client.beta.messages.thread({
      model: 'claude-sonnet-4-6',
      max_tokens: 64,
      system: 'You answer in one word.',
      tools: [{ name: 'weather', description: 'The weather in a city.', input_schema: { type: 'object' } }],
    });
    for (const question of ['Weather in Paris?', 'And the temperature?', 'Go outside?']) {
      const message = { role: 'user', content: question };
      const reply =
        scenario === 'stream' ? await thread.stream(message).finalMessage() : await thread.send(message);
      out.replies.push({ id: reply.id, text: text(reply) });
    }
  } else if (scenario === 'runner') {
    const weather = betaTool({
      name: 'weather',
      description: 'The weather in a city.',
      inputSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      run: async ({ city }) => {
        out.ran.push(city);
        return `sunny in ${city}`;
      },
    });
    const final = await client.beta.messages
      .toolRunner({
        model: 'claude-sonnet-4-6',
        max_tokens: 64,
        tools: [weather],
        messages: [{ role: 'user', content: 'Weather in Paris and Rome?' }],
      })
      .runUntilDone();
    out.replies.push({ id: final.id, text: text(final) });
  } else {
    throw new Error(`unknown scenario ${scenario}`);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((error) => {
  process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
