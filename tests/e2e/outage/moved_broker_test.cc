// A broker that comes back on another address under the same name (issue 14 item 10):
// a real Kafka broker (scripts/kafka.sh's classpath, KRaft, one node) advertised as
// "streamrec-moved-broker:PORT", which a private /etc/hosts maps to 127.0.0.1, serves
// `streamrec stage user`; the broker is stopped, the name is mapped to 127.0.0.2, the
// broker is started again listening on 127.0.0.2 only (127.0.0.1:PORT refuses), and new
// clicks are produced: the stage, never restarted, processes them. librdkafka 2.0.2
// resolves a broker's name again on every connection attempt (its cache lives
// broker.address.ttl, 1 s), bootstrap brokers included, so a stage follows a broker whose
// name (a Kubernetes Service or StatefulSet DNS name) now resolves to another address.
//
// The /etc/hosts is bind-mounted in a user and mount namespace (`unshare -rm`, as
// disk_full_test.cc does for its tmpfs); the namespace lives as long as one shell script
// that runs Kafka, the stage and the clients. Skips where the namespace cannot be made or
// Kafka cannot be resolved (no Java or Maven: scripts/kafka.sh exits 77).
#include <chrono>
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/subprocess.h"

namespace streamrec {
namespace {

using testing::ReadFile;
using testing::ScratchDir;
using testing::Subprocess;

const std::string kBinary = STREAMREC_BINARY;
const std::string kSource = STREAMREC_SOURCE_DIR;

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The value of "key=" on its own line of `text` (-1 when absent).
long Value(const std::string& text, const std::string& key) {
  const auto at = text.find("\n" + key + "=");
  if (at == std::string::npos) return -1;
  return std::atol(text.c_str() + at + key.size() + 2);
}

TEST(MovedBroker, AStageFollowsItsBrokerToANewAddressUnderTheSameName) {
  ScratchDir dir;
  if (!testing::HaveProgram("unshare")) GTEST_SKIP() << "no unshare(1)";
  if (!testing::HaveProgram("kcat")) GTEST_SKIP() << "no kcat";
  const std::string probe = dir.File("probe");
  const std::string probe_cmd = "echo x >" + probe + " && unshare -rm sh -c 'mount --bind " + probe + " " + probe +
                                "' >" + dir.File("probe.err") + " 2>&1";
  if (std::system(probe_cmd.c_str()) != 0) {
    GTEST_SKIP() << "no user+mount namespace (unshare -rm): " << Trimmed(ReadFile(dir.File("probe.err")));
  }
  std::string cp, err;
  const int resolved = testing::RunToEnd(dir, {"/usr/bin/env", "bash", kSource + "/scripts/kafka.sh", "classpath"}, &cp, &err);
  if (resolved == 77) GTEST_SKIP() << Trimmed(err);
  ASSERT_EQ(resolved, 0) << err;
  testing::WriteFile(dir.File("kafka.cp"), Trimmed(cp));
  testing::WriteFile(dir.File("hosts"), "127.0.0.1 localhost\n127.0.0.1 streamrec-moved-broker\n");
  const std::string script = R"SH(set -u
D="$1"; B="$2"; NAME=streamrec-moved-broker
CP="$(cat "$D/kafka.cp")"
mount --bind "$D/hosts" /etc/hosts || exit 90
read -r P C <<EOP
$(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
EOP
conf() { cat > "$D/server.properties" <<EOC
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$C
listeners=PLAINTEXT://$1:$P,CONTROLLER://127.0.0.1:$C
advertised.listeners=PLAINTEXT://$NAME:$P
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$D/data
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=2
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=2
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
log.retention.ms=-1
num.network.threads=2
num.io.threads=2
background.threads=2
EOC
}
KPID=""
stop_kafka() { [ -n "$KPID" ] && kill -TERM "$KPID" 2>/dev/null && while kill -0 "$KPID" 2>/dev/null; do sleep 0.5; done; KPID=""; }
start_kafka() {
  setsid java -cp "$CP" -Xmx384m -XX:+UseSerialGC -Dlog4j2.configurationFile=/dev/null kafka.Kafka "$D/server.properties" >"$D/kafka-$1.log" 2>&1 </dev/null &
  KPID=$!
  for i in $(seq 1 240); do timeout 5 kcat -L -b "$NAME:$P" -m 3 2>/dev/null | grep -q '1 brokers' && return 0; sleep 0.5; done
  return 1
}
deltas() { timeout 30 kcat -C -b "$NAME:$P" -t streamrec.cooc-deltas -e -q -o beginning 2>/dev/null | wc -l; }
U=""
trap 'stop_kafka; [ -n "$U" ] && kill -KILL "$U" 2>/dev/null' EXIT  # an early exit leaves no stage behind
conf 127.0.0.1
java -cp "$CP" kafka.tools.StorageTool format --standalone --cluster-id=c3RyZWFtcmVjLW1vdmVkAA -c "$D/server.properties" >"$D/format.log" 2>&1 || exit 91
start_kafka first || exit 92
"$B" topics create --partitions 2 --replication 1 --brokers "$NAME:$P" >"$D/topics.log" 2>&1 || exit 93
"$B" --set kafka.session.timeout.ms=6000 --log-level info stage user --brokers "$NAME:$P" --metrics off \
  --state-dir "$D/state" >"$D/user.out" 2>"$D/user.err" &
U=$!
"$B" produce --synthetic 2000 --brokers "$NAME:$P" >"$D/produce1.log" 2>&1 || exit 94
for i in $(seq 1 60); do sleep 1; n=$(deltas); [ "$n" -gt 0 ] && [ "$n" = "$(deltas)" ] && break; done
echo "before=$(deltas)"
stop_kafka
sleep 5
echo "127.0.0.1 localhost" > "$D/hosts"; echo "127.0.0.2 $NAME" >> "$D/hosts"  # the same file: the mount follows
echo "resolved=$(getent hosts $NAME | cut -d' ' -f1)"
conf 127.0.0.2
start_kafka second || exit 95
timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$P" 2>/dev/null && echo "old_address_open=1" || echo "old_address_open=0"
"$B" produce --synthetic 2000 --seed 7 --brokers "$NAME:$P" >"$D/produce2.log" 2>&1 || exit 96
before=$(deltas)
for i in $(seq 1 90); do sleep 1; n=$(deltas); [ "$n" -gt "$before" ] && [ "$n" = "$(deltas)" ] && break; done
echo "after=$(deltas)"
kill -0 $U 2>/dev/null && echo "stage_alive=1" || echo "stage_alive=0"
kill -TERM $U; wait $U; echo "stage_rc=$?"
U=""
)SH";
  testing::WriteFile(dir.File("moved.sh"), script);
  Subprocess ns({"/usr/bin/env", "unshare", "-rm", "bash", dir.File("moved.sh"), dir.path(), kBinary},
                dir.File("ns.out"), dir.File("ns.err"));
  const int code = ns.Wait(std::chrono::seconds(280));
  const std::string out = "\n" + ReadFile(dir.File("ns.out"));
  const std::string why = out + ReadFile(dir.File("ns.err")) + "\n--- user stage:\n" + ReadFile(dir.File("user.err"));
  ASSERT_EQ(code, 0) << why;
  EXPECT_GT(Value(out, "before"), 0) << why;
  EXPECT_NE(out.find("\nresolved=127.0.0.2\n"), std::string::npos) << why;
  EXPECT_EQ(Value(out, "old_address_open"), 0) << "the old address still answers: " << why;
  EXPECT_GT(Value(out, "after"), Value(out, "before")) << "the stage did not process the clicks produced after the move: "
                                                      << why;
  EXPECT_EQ(Value(out, "stage_alive"), 1) << why;
  EXPECT_EQ(Value(out, "stage_rc"), 0) << why;
  // It reached the new address by the old name (librdkafka logs its connection attempts).
  EXPECT_NE(ReadFile(dir.File("user.err")).find("127.0.0.2:"), std::string::npos) << why;
  std::printf("[ measured ] cooc-deltas before the move %ld, after %ld\n", Value(out, "before"), Value(out, "after"));
}

}  // namespace
}  // namespace streamrec
