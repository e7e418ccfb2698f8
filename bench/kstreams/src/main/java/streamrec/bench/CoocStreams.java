package streamrec.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * The co-occurrence counting of streamrec's user and item stages (DESIGN §2–§4,
 * operators/README.md) as a Kafka Streams application: the throughput baseline of
 * bench/kstreams/run.sh.
 *
 * <p>User side (source topic, key user id): per click, evict the user's window by EVENT
 * time (entries older than ts - horizon), pair the clicked item with every other item of
 * the window before the event in both directions with the event's weight (view 1, click 1,
 * add_to_cart 3, purchase 5, no decay: operators/cooccurrence.cc GeneratePairs), then add
 * the item to the window (a repeat moves to the newest position; at most N distinct items).
 * Windows live in a RocksDB store. Deltas go, keyed by item a, through a repartition topic
 * (our cooc-deltas) to the item side, which adds them to RocksDB stores: pairs (a|b ->
 * weight) and counts (item -> weight, events). exactly_once_v2, like our stages.
 *
 * <p>Unlike our user stage, which pre-aggregates deltas in memory between commits, this
 * forwards per event (one record for the clicked item with all its neighbours, one per
 * window item with the new neighbour): Kafka Streams has no hook before a commit to flush
 * an in-memory aggregate exactly once, so per-record forwarding is its exact idiom.
 *
 * <p>Usage: CoocStreams --brokers B --topic T --events N [--window 20] [--horizon-s 3600]
 * [--partitions P (repartition topic; default: the source's)] [--threads 2]
 * [--commit-ms 200] [--app-id ID] [--state-dir DIR] [--timeout-s 900]. It runs until
 * every one of the N input events and every delta it forwarded has been processed, then
 * prints one line "kstreams key=value ..." with the rate and the stores' totals, and exits
 * 0 (1 on timeout or error).
 *
 * <p>With --freshness-s S (and --events 0) it measures freshness instead, like
 * operators_stages_bench's: on an empty topic, every 100 ms it produces --freshness-rate / 10
 * (default 200) background clicks (500 users, 1000 items) and one probe (a fresh user clicks probe-b-K then
 * probe-a-K); a probe's latency is its second click's produce time to the item side adding
 * the pair. After a warm-up (until a probe made it through), S seconds of probes; prints
 * "kstreams-freshness probes=... p50_ms=... p99_ms=... max_ms=..." (an unseen probe counts
 * as slower than every seen one).
 */
public final class CoocStreams {
  static final AtomicLong userEvents = new AtomicLong();
  static final AtomicLong badEvents = new AtomicLong();
  static final AtomicLong forwarded = new AtomicLong();
  static final AtomicLong itemRecords = new AtomicLong();
  static volatile long firstRecordNanos = 0;
  // --freshness-s: probe item "probe-a-K" -> wall ms from its click's produce time (the
  // record timestamp, CreateTime) to the item side applying the pair (probe-a-K, probe-b-K).
  static final java.util.concurrent.ConcurrentHashMap<String, Long> probeLatency =
      new java.util.concurrent.ConcurrentHashMap<>();

  static int window = 20;
  static long horizonMs = 3600L * 1000;

  // ---- a click: canonical JSON of EncodeClickEvent (streams/click_event.cc) ----
  record Click(String user, String item, String event, long ts) {}

  /** Parses a flat JSON object of string and integer values; null when malformed. */
  static Click parseClick(String s) {
    Map<String, String> m = new HashMap<>();
    int i = s.indexOf('{');
    if (i < 0) return null;
    i++;
    final int n = s.length();
    while (i < n) {
      while (i < n && (s.charAt(i) == ' ' || s.charAt(i) == ',')) i++;
      if (i < n && s.charAt(i) == '}') break;
      if (i >= n || s.charAt(i) != '"') return null;
      StringBuilder key = new StringBuilder();
      i = readString(s, i, key);
      if (i < 0) return null;
      while (i < n && (s.charAt(i) == ' ' || s.charAt(i) == ':')) i++;
      if (i >= n) return null;
      if (s.charAt(i) == '"') {
        StringBuilder v = new StringBuilder();
        i = readString(s, i, v);
        if (i < 0) return null;
        m.put(key.toString(), v.toString());
      } else {
        int j = i;
        while (j < n && s.charAt(j) != ',' && s.charAt(j) != '}') j++;
        m.put(key.toString(), s.substring(i, j).trim());
        i = j;
      }
    }
    String user = m.get("user_id"), item = m.get("item_id"), ev = m.get("event"), ts = m.get("ts");
    if (user == null || item == null || ev == null || ts == null) return null;
    try {
      return new Click(user, item, ev, Long.parseLong(ts));
    } catch (NumberFormatException e) {
      return null;
    }
  }

  /** Reads the JSON string starting at s[i] == '"' into out; the index after it, or -1. */
  static int readString(String s, int i, StringBuilder out) {
    for (i = i + 1; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '"') return i + 1;
      if (c == '\\' && i + 1 < s.length()) {
        char e = s.charAt(++i);
        switch (e) {
          case 'n' -> out.append('\n');
          case 't' -> out.append('\t');
          case 'r' -> out.append('\r');
          case 'b' -> out.append('\b');
          case 'f' -> out.append('\f');
          case 'u' -> {
            if (i + 4 >= s.length()) return -1;
            out.append((char) Integer.parseInt(s.substring(i + 1, i + 5), 16));
            i += 4;
          }
          default -> out.append(e);
        }
      } else {
        out.append(c);
      }
    }
    return -1;
  }

  /** EventWeights defaults (operators/cooccurrence.h); -1 for an unknown type. */
  static long weight(String event) {
    return switch (event) {
      case "view", "click" -> 1;
      case "add_to_cart" -> 3;
      case "purchase" -> 5;
      default -> -1;
    };
  }

  // ---- the user side ----
  record Entry(String item, long ts) {}

  // Window encoding in the store: "ts\titem\n" per entry, oldest first.
  static List<Entry> decodeWindow(String s) {
    List<Entry> w = new ArrayList<>();
    if (s == null) return w;
    int i = 0;
    while (i < s.length()) {
      int tab = s.indexOf('\t', i), nl = s.indexOf('\n', tab);
      w.add(new Entry(s.substring(tab + 1, nl), Long.parseLong(s, i, tab, 10)));
      i = nl + 1;
    }
    return w;
  }

  static String encodeWindow(List<Entry> w) {
    StringBuilder b = new StringBuilder();
    for (Entry e : w) b.append(e.ts).append('\t').append(e.item).append('\n');
    return b.toString();
  }

  // A delta for item a: "occurrences weight\n" then "neighbour\tweight\n" per pair (a, b).
  static final class UserProcessor implements Processor<String, String, String, String> {
    private ProcessorContext<String, String> ctx;
    private KeyValueStore<String, String> windows;

    @Override
    public void init(ProcessorContext<String, String> context) {
      ctx = context;
      windows = context.getStateStore("windows");
    }

    @Override
    public void process(Record<String, String> r) {
      if (firstRecordNanos == 0) firstRecordNanos = System.nanoTime();
      Click c = r.value() == null ? null : parseClick(r.value());
      long w = c == null ? -1 : weight(c.event);
      if (w < 0) {
        badEvents.incrementAndGet();
        userEvents.incrementAndGet();
        return;
      }
      List<Entry> win = decodeWindow(windows.get(c.user));
      if (horizonMs > 0) {
        final long cutoff = c.ts - horizonMs;
        win.removeIf(e -> e.ts < cutoff);
      }
      StringBuilder own = new StringBuilder().append("1 ").append(w).append('\n');
      long n = 1;
      for (Entry e : win) {
        if (e.item.equals(c.item)) continue;
        if (w != 0) {
          own.append(e.item).append('\t').append(w).append('\n');
          ctx.forward(new Record<>(e.item, "0 0\n" + c.item + '\t' + w + '\n', r.timestamp()));
          n++;
        }
      }
      ctx.forward(new Record<>(c.item, own.toString(), r.timestamp()));
      win.removeIf(e -> e.item.equals(c.item));
      win.add(new Entry(c.item, c.ts));
      while (win.size() > window) win.remove(0);
      windows.put(c.user, encodeWindow(win));
      forwarded.addAndGet(n);
      userEvents.incrementAndGet();
    }
  }

  // ---- the item side ----
  static final class ItemProcessor implements Processor<String, String, Void, Void> {
    private KeyValueStore<String, Long> pairs;
    private KeyValueStore<String, String> counts;

    @Override
    public void init(ProcessorContext<Void, Void> context) {
      pairs = context.getStateStore("pairs");
      counts = context.getStateStore("counts");
    }

    @Override
    public void process(Record<String, String> r) {
      final String a = r.key(), v = r.value();
      int nl = v.indexOf('\n');
      int sp = v.indexOf(' ');
      long occ = Long.parseLong(v, 0, sp, 10);
      long w = Long.parseLong(v, sp + 1, nl, 10);
      if (occ > 0) {
        String old = counts.get(a);
        long ow = 0, oo = 0;
        if (old != null) {
          int s = old.indexOf(' ');
          ow = Long.parseLong(old, 0, s, 10);
          oo = Long.parseLong(old, s + 1, old.length(), 10);
        }
        counts.put(a, (ow + w) + " " + (oo + occ));
      }
      int i = nl + 1;
      while (i < v.length()) {
        int tab = v.indexOf('\t', i), end = v.indexOf('\n', tab);
        String key = a + '|' + v.substring(i, tab);
        long pw = Long.parseLong(v, tab + 1, end, 10);
        Long old = pairs.get(key);
        pairs.put(key, old == null ? pw : old + pw);
        if (a.startsWith("probe-a-") && key.endsWith("|probe-b-" + a.substring(8))) {
          probeLatency.putIfAbsent(a, System.currentTimeMillis() - r.timestamp());
        }
        i = end + 1;
      }
      itemRecords.incrementAndGet();
    }
  }

  static String arg(Map<String, String> a, String k, String def) {
    String v = a.get(k);
    if (v == null && def == null) {
      System.err.println("CoocStreams: " + k + " is required");
      System.exit(2);
    }
    return v == null ? def : v;
  }

  public static void main(String[] argv) throws Exception {
    Map<String, String> a = new HashMap<>();
    for (int i = 0; i + 1 < argv.length; i += 2) a.put(argv[i], argv[i + 1]);
    final String brokers = arg(a, "--brokers", null), topic = arg(a, "--topic", null);
    final long events = Long.parseLong(arg(a, "--events", null));
    window = Integer.parseInt(arg(a, "--window", "20"));
    horizonMs = Long.parseLong(arg(a, "--horizon-s", "3600")) * 1000;
    final int threads = Integer.parseInt(arg(a, "--threads", "2"));
    final String appId = arg(a, "--app-id", "streamrec-kstreams-peer-" + ProcessHandle.current().pid());
    final String stateDir = arg(a, "--state-dir", Files.createTempDirectory("kstreams-peer").toString());
    final long timeoutS = Long.parseLong(arg(a, "--timeout-s", "900"));

    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, threads);
    // Our stages commit every operators.flush_interval_ms = 200 ms (Kafka Streams' EOS
    // default is 100 ms).
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, Integer.parseInt(arg(a, "--commit-ms", "200")));
    p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
    p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    // The same compression as our stages' producers (bench/operators/stages_bench.cc).
    p.put(StreamsConfig.producerPrefix(ProducerConfig.COMPRESSION_TYPE_CONFIG), "lz4");

    if (a.containsKey("--freshness-s")) {
      // A fresh topic with the stages' partition count (theirs is made by the bench too).
      Properties ap = new Properties();
      ap.put("bootstrap.servers", brokers);
      try (var admin = org.apache.kafka.clients.admin.Admin.create(ap)) {
        admin.createTopics(List.of(new org.apache.kafka.clients.admin.NewTopic(topic,
            Integer.parseInt(arg(a, "--partitions", "16")), (short) 1))).all().get();
      }
    }
    StreamsBuilder b = new StreamsBuilder();
    b.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore("windows"),
        Serdes.String(), Serdes.String()));
    b.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore("pairs"),
        Serdes.String(), Serdes.Long()));
    b.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore("counts"),
        Serdes.String(), Serdes.String()));
    var deltas = b.stream(topic, Consumed.with(Serdes.String(), Serdes.String()))
        .process(UserProcessor::new, "windows");
    var repart = Repartitioned.<String, String>as("cooc-deltas")
        .withKeySerde(Serdes.String()).withValueSerde(Serdes.String());
    if (a.containsKey("--partitions")) repart = repart.withNumberOfPartitions(Integer.parseInt(a.get("--partitions")));
    deltas.repartition(repart).process(ItemProcessor::new, "pairs", "counts");

    KafkaStreams streams = new KafkaStreams(b.build(), p);
    final Throwable[] failure = new Throwable[1];
    streams.setUncaughtExceptionHandler(e -> {
      failure[0] = e;
      return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    });
    final long t0 = System.nanoTime();
    streams.start();
    if (a.containsKey("--freshness-s")) {
      freshness(streams, brokers, topic, Long.parseLong(a.get("--freshness-s")),
          Integer.parseInt(arg(a, "--freshness-rate", "2000")));
      return;
    }
    final long deadline = t0 + timeoutS * 1_000_000_000L;
    while (!(userEvents.get() >= events && itemRecords.get() >= forwarded.get())) {
      if (failure[0] != null || streams.state() == KafkaStreams.State.ERROR
          || streams.state() == KafkaStreams.State.NOT_RUNNING) {
        System.err.println("CoocStreams: stopped: " + streams.state() + " " + failure[0]);
        streams.close(Duration.ofSeconds(30));
        System.exit(1);
      }
      if (System.nanoTime() > deadline) {
        System.err.printf("CoocStreams: timeout after %d s: %d of %d events, %d of %d deltas%n",
            timeoutS, userEvents.get(), events, itemRecords.get(), forwarded.get());
        streams.close(Duration.ofSeconds(30));
        System.exit(1);
      }
      Thread.sleep(5);
    }
    final long t1 = System.nanoTime();
    final double seconds = (t1 - t0) / 1e9;

    // Totals of the stores (interactive queries over every local task).
    long pairsN = 0, pairWeight = 0, itemWeight = 0, itemEvents = 0, items = 0;
    ReadOnlyKeyValueStore<String, Long> ps = streams.store(
        StoreQueryParameters.fromNameAndType("pairs", QueryableStoreTypes.<String, Long>keyValueStore()));
    try (KeyValueIterator<String, Long> it = ps.all()) {
      while (it.hasNext()) {
        KeyValue<String, Long> kv = it.next();
        pairsN++;
        pairWeight += kv.value;
      }
    }
    ReadOnlyKeyValueStore<String, String> cs = streams.store(
        StoreQueryParameters.fromNameAndType("counts", QueryableStoreTypes.<String, String>keyValueStore()));
    try (KeyValueIterator<String, String> it = cs.all()) {
      while (it.hasNext()) {
        KeyValue<String, String> kv = it.next();
        int s = kv.value.indexOf(' ');
        items++;
        itemWeight += Long.parseLong(kv.value.substring(0, s));
        itemEvents += Long.parseLong(kv.value.substring(s + 1));
      }
    }
    final long tClose = System.nanoTime();
    streams.close(Duration.ofSeconds(60));
    final double closeS = (System.nanoTime() - tClose) / 1e9;
    streams.cleanUp();
    System.out.printf(
        "kstreams events=%d seconds=%.3f eps=%.1f first_record_s=%.3f eps_after_first=%.1f close_s=%.3f bad_events=%d "
            + "delta_records=%d item_events=%d items=%d item_weight=%d pairs=%d pair_weight=%d%n",
        userEvents.get(), seconds, userEvents.get() / seconds,
        firstRecordNanos == 0 ? -1.0 : (firstRecordNanos - t0) / 1e9,
        firstRecordNanos == 0 ? 0.0 : userEvents.get() / ((t1 - firstRecordNanos) / 1e9), closeS, badEvents.get(),
        itemRecords.get(), itemEvents, items, itemWeight, pairsN, pairWeight);
    System.exit(0);
  }

  static void freshness(KafkaStreams streams, String brokers, String topic, long seconds, int rate)
      throws Exception {
    Properties pp = new Properties();
    pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    pp.put(ProducerConfig.LINGER_MS_CONFIG, 1);
    var ser = new org.apache.kafka.common.serialization.StringSerializer();
    var random = new java.util.Random(42);
    List<String> sent = new ArrayList<>();
    int k = 0;
    try (var producer = new org.apache.kafka.clients.producer.KafkaProducer<>(pp, ser, ser)) {
      final long warmEnd = System.currentTimeMillis() + 60_000;
      long measureEnd = Long.MAX_VALUE;
      while (System.currentTimeMillis() < measureEnd) {
        if (measureEnd == Long.MAX_VALUE && (!probeLatency.isEmpty() || System.currentTimeMillis() > warmEnd)) {
          probeLatency.clear();
          sent.clear();
          measureEnd = System.currentTimeMillis() + seconds * 1000;
        }
        final long stepEnd = System.currentTimeMillis() + 100;
        for (int i = 0; i < rate / 10; i++) {
          String u = "u" + random.nextInt(500);
          producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>(topic, u, click(u,
              "i" + random.nextInt(1000), "click", System.currentTimeMillis())));
        }
        String u = "probe-user-" + k, pa = "probe-a-" + k, pb = "probe-b-" + k;
        k++;
        long now = System.currentTimeMillis();
        producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>(topic, u, click(u, pb, "click", now)));
        producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>(topic, u, click(u, pa, "click", now + 1)));
        sent.add(pa);
        long left = stepEnd - System.currentTimeMillis();
        if (left > 0) Thread.sleep(left);
      }
      final long grace = System.currentTimeMillis() + 5000;
      while (System.currentTimeMillis() < grace && !probeLatency.keySet().containsAll(sent)) Thread.sleep(10);
    }
    List<Double> v = new ArrayList<>();
    int seen = 0;
    for (String pa : sent) {
      Long ms = probeLatency.get(pa);
      v.add(ms == null ? Double.POSITIVE_INFINITY : ms.doubleValue());
      if (ms != null) seen++;
    }
    java.util.Collections.sort(v);
    streams.close(Duration.ofSeconds(60));
    streams.cleanUp();
    if (v.isEmpty()) {
      System.out.println("kstreams-freshness probes=0");
      System.exit(1);
    }
    System.out.printf("kstreams-freshness probes=%d sent=%d p50_ms=%.0f p99_ms=%.0f max_ms=%.0f%n", seen,
        sent.size(), v.get(v.size() / 2), v.get(Math.min(v.size() - 1, (int) (v.size() * 0.99))),
        v.get(v.size() - 1));
    System.exit(0);
  }

  static String click(String user, String item, String event, long ts) {
    return "{\"user_id\":\"" + user + "\",\"item_id\":\"" + item + "\",\"event\":\"" + event
        + "\",\"ts\":" + ts + "}";
  }

  private CoocStreams() {}
}
