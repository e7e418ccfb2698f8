#include "training/offline_examples.h"

#include <cerrno>
#include <cstring>
#include <memory>

#include "training/trainer.h"

namespace streamrec::training {
namespace {

constexpr char kHeader[] = "streamrec-examples 1\n";
// One encoded example is far below this; a larger length means a corrupt file, not an
// allocation to attempt.
constexpr uint32_t kMaxRecordBytes = 64u << 20;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

void PutLe(uint64_t v, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetLe(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

}  // namespace

Status TrainEpochs(Trainer* trainer, const std::vector<OfflineExample>& examples, int epochs,
                   std::FILE* curve, const std::function<bool(int64_t done, int64_t total)>& keep_going) {
  if (trainer == nullptr) return Status::InvalidArgument("TrainEpochs: no trainer");
  if (curve != nullptr) std::fprintf(curve, "step,epoch,examples,loss\n");
  const int64_t total = static_cast<int64_t>(examples.size()) * epochs;
  int64_t done = 0;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    for (const OfflineExample& e : examples) {
      if (keep_going && (done++ & 1023) == 0 && !keep_going(done - 1, total)) {
        return Status::Unavailable("stopped");
      }
      ItemStats stats;
      stats.item_key = e.example.item_key;
      stats.item_id = e.example.item_id;
      stats.sampling_prob = e.sampling_prob;
      trainer->UpdateItemStats(stats);
      const int64_t before = trainer->step();
      STREAMREC_RETURN_IF_ERROR(trainer->AddExample(e.example));
      if (curve != nullptr && trainer->step() != before) {
        std::fprintf(curve, "%lld,%d,%lld,%g\n", static_cast<long long>(trainer->step()),
                     epoch + 1, static_cast<long long>(trainer->examples()),
                     trainer->last_loss());
      }
    }
  }
  if (keep_going && !keep_going(total, total)) return Status::Unavailable("stopped");
  return trainer->Flush();
}

Status WriteExampleFile(const std::string& path, const std::vector<OfflineExample>& examples) {
  const std::string tmp = path + ".tmp";
  File f(std::fopen(tmp.c_str(), "wb"));
  if (!f) return Status::IoError("cannot create " + tmp + ": " + std::strerror(errno));
  std::string buf = kHeader;
  bool ok = true;
  for (const OfflineExample& e : examples) {
    const std::string bytes = EncodeTrainingExample(e.example);
    PutLe(bytes.size(), 4, &buf);
    buf += bytes;
    uint64_t bits = 0;
    static_assert(sizeof(bits) == sizeof(e.sampling_prob));
    std::memcpy(&bits, &e.sampling_prob, sizeof(bits));
    PutLe(bits, 8, &buf);
    if (buf.size() > (1u << 20)) {
      ok = ok && std::fwrite(buf.data(), 1, buf.size(), f.get()) == buf.size();
      buf.clear();
    }
  }
  ok = ok && std::fwrite(buf.data(), 1, buf.size(), f.get()) == buf.size();
  ok = std::fclose(f.release()) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    return Status::IoError("cannot write " + path + ": " + why);
  }
  return Status::Ok();
}

Result<std::vector<OfflineExample>> ReadExampleFile(const std::string& path) {
  File f(std::fopen(path.c_str(), "rb"));
  if (!f) return Status::IoError("cannot open " + path + ": " + std::strerror(errno));
  char header[sizeof(kHeader) - 1];
  if (std::fread(header, 1, sizeof(header), f.get()) != sizeof(header) ||
      std::memcmp(header, kHeader, sizeof(header)) != 0) {
    return Status::Corruption(path + ": not a streamrec examples file");
  }
  std::vector<OfflineExample> out;
  std::string bytes;
  for (;;) {
    unsigned char len_le[4];
    const size_t got = std::fread(len_le, 1, 4, f.get());
    if (got == 0 && std::feof(f.get())) break;
    const std::string where = path + ": example " + std::to_string(out.size());
    if (got != 4) return Status::Corruption(where + " is truncated");
    const uint64_t len = GetLe(len_le, 4);
    if (len > kMaxRecordBytes) return Status::Corruption(where + " has a bad length");
    bytes.resize(len);
    unsigned char prob_le[8];
    if (std::fread(bytes.data(), 1, len, f.get()) != len ||
        std::fread(prob_le, 1, 8, f.get()) != 8) {
      return Status::Corruption(where + " is truncated");
    }
    auto example = DecodeTrainingExample(bytes);
    if (!example.ok()) return example.status().WithContext(where);
    OfflineExample e;
    e.example = std::move(example).value();
    const uint64_t bits = GetLe(prob_le, 8);
    std::memcpy(&e.sampling_prob, &bits, sizeof(bits));
    out.push_back(std::move(e));
  }
  if (std::ferror(f.get())) return Status::IoError("cannot read " + path);
  return out;
}

}  // namespace streamrec::training
