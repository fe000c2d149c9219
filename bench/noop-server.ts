import Fastify from 'fastify';

/** The denominator: a bare Fastify server that parses the JSON body and answers 200. */
const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
app.post('/noop/:id', async () => ({ ok: true }));
app.get('/noop/:id', async () => ({ ok: true }));
const url = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`listening on ${url}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
