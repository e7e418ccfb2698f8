// kafkajs interop with a running streamrec (clients_e2e_test.cc runs it; by hand:
//   NODE_PATH=build/js-tools/node_modules node tests/e2e/clients/kafkajs_interop.js BROKERS USER N
// ). Produces clicks for USER and a rec-request, reads the answer to that request from
// `recommendations`, and fails (exit 1) unless it arrives and is for that request and
// user. Then times N more requests with kafkajs's default maxWaitTimeInMs (5000) and N
// with 100, and prints one line {"report":{...}} with the answer, the partition
// kafkajs chose for USER and for 8 more keys, and the latencies in ms (measured, not judged here).
'use strict';
const crypto = require('crypto');
const { Kafka, Partitioners, logLevel } = require('kafkajs');

const [brokers, user, samplesArg] = process.argv.slice(2);
if (!brokers || !user) {
  console.error('usage: kafkajs_interop.js BROKERS USER [SAMPLES]');
  process.exit(2);
}
const samples = Number(samplesArg || 3);
const kafka = new Kafka({ clientId: 'streamrec-interop', brokers: brokers.split(','), logLevel: logLevel.WARN });

function check(condition, message) {
  if (!condition) throw new Error(message);
}

// A consumer of `recommendations` positioned at its current end, with answers matched
// to requests by request_id.
async function answerReader(options) {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets('recommendations');
  await admin.disconnect();
  const consumer = kafka.consumer({ groupId: 'streamrec-interop-' + crypto.randomUUID(), ...options });
  const waiting = new Map();
  await consumer.connect();
  await consumer.subscribe({ topic: 'recommendations' });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const answer = JSON.parse(message.value.toString());
      const w = waiting.get(answer.request_id);
      if (w) {
        waiting.delete(answer.request_id);
        w({ answer, key: message.key && message.key.toString() });
      }
    },
  });
  for (const { partition, offset } of ends) consumer.seek({ topic: 'recommendations', partition, offset });
  return {
    wait(requestId, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(requestId);
          reject(new Error(`no answer to ${requestId} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(requestId, (got) => {
          clearTimeout(timer);
          resolve(got);
        });
      });
    },
    close: () => consumer.disconnect(),
  };
}

async function ask(producer, reader, requestUser, k) {
  const requestId = crypto.randomUUID();
  const answered = reader.wait(requestId, 30000);
  const started = Date.now();
  const [meta] = await producer.send({
    topic: 'rec-requests',
    messages: [{ key: requestUser, value: JSON.stringify({ request_id: requestId, user_id: requestUser, k }) }],
  });
  const got = await answered;
  return { requestId, partition: meta.partition, ms: Date.now() - started, ...got };
}

async function timeRequests(producer, options) {
  const reader = await answerReader(options);
  const ms = [];
  for (let i = 0; i < samples; i++) {
    // A pause of random length, so a request lands anywhere within a held fetch.
    await new Promise((r) => setTimeout(r, 100 + Math.floor(Math.random() * 900)));
    ms.push((await ask(producer, reader, `user-0000${i + 1}`, 5)).ms);
  }
  await reader.close();
  return ms;
}

async function main() {
  // DefaultPartitioner is the Java client's murmur2, as librdkafka's murmur2_random.
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const reader = await answerReader({ maxWaitTimeInMs: 100 });

  const now = Date.now();
  const sent = await producer.send({
    topic: 'clicks',
    messages: ['item-00003', 'item-00011', 'item-00042'].map((item, i) => ({
      key: user,
      value: JSON.stringify({ user_id: user, item_id: item, event: i === 2 ? 'add_to_cart' : 'click', ts: now + i }),
    })),
  });
  const clickPartitions = new Set(sent.map((m) => m.partition));
  check(clickPartitions.size === 1, `one user's clicks on several partitions: ${[...clickPartitions]}`);
  const clickPartition = sent[0].partition;

  // A few more keys, for comparison with librdkafka's partitioner by the caller.
  const probePartitions = {};
  for (let i = 0; i < 8; i++) {
    const probeUser = `${user}-probe-${i}`;
    const value = JSON.stringify({ user_id: probeUser, item_id: 'item-00001', event: 'view', ts: now });
    const [meta] = await producer.send({ topic: 'clicks', messages: [{ key: probeUser, value }] });
    probePartitions[probeUser] = meta.partition;
  }

  const got = await ask(producer, reader, user, 5);
  await reader.close();
  const { answer } = got;
  check(!answer.error, `error answer: ${JSON.stringify(answer)}`);
  check(answer.request_id === got.requestId, `answer for another request: ${JSON.stringify(answer)}`);
  check(answer.user_id === user, `answer for another user: ${JSON.stringify(answer)}`);
  check(got.key === user, `answer keyed ${got.key}, not by the user id`);
  check(Array.isArray(answer.items) && answer.items.length >= 1 && answer.items.length <= 5,
    `expected 1..5 items: ${JSON.stringify(answer)}`);
  for (const item of answer.items) {
    check(typeof item.item_id === 'string' && Array.isArray(item.sources) && item.sources.length > 0,
      `bad item ${JSON.stringify(item)}`);
  }
  check(got.partition === clickPartition,
    `request on partition ${got.partition}, the user's clicks on ${clickPartition}`);
  console.log(`answer to ${got.requestId} in ${got.ms} ms: ${JSON.stringify(answer)}`);

  const tuned = await timeRequests(producer, { maxWaitTimeInMs: 100 });
  console.log(`maxWaitTimeInMs=100: ${tuned.join(' ')} ms`);
  const byDefault = await timeRequests(producer, {});
  console.log(`maxWaitTimeInMs default (5000): ${byDefault.join(' ')} ms`);
  await producer.disconnect();
  console.log(JSON.stringify({
    report: {
      answer,
      click_partition: clickPartition,
      probe_partitions: probePartitions,
      tuned_wait_ms: tuned,
      default_wait_ms: byDefault,
    },
  }));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
