#include "batch/training_input.h"

#include <cerrno>
#include <cstring>

namespace streamrec::batch {
namespace {
constexpr char kMagic[] = "streamrec-training-input 1\n";
constexpr size_t kMagicSize = sizeof(kMagic) - 1;
constexpr uint32_t kMaxRecordBytes = 64u << 20;
}  // namespace

Result<std::unique_ptr<TrainingInputWriter>> TrainingInputWriter::Create(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "wbx");
  if (f == nullptr) return Status::IoError("cannot create " + path + ": " + std::strerror(errno));
  std::unique_ptr<TrainingInputWriter> w(new TrainingInputWriter(f, path));
  if (std::fwrite(kMagic, 1, kMagicSize, f) != kMagicSize) return Status::IoError("cannot write " + path);
  return w;
}

TrainingInputWriter::~TrainingInputWriter() {
  if (f_ != nullptr) std::fclose(f_);
}

Status TrainingInputWriter::Write(char tag, const std::string& bytes) {
  if (f_ == nullptr) return Status::FailedPrecondition(path_ + " is closed");
  const uint32_t n = static_cast<uint32_t>(bytes.size());
  char head[5] = {tag};
  std::memcpy(head + 1, &n, 4);
  if (std::fwrite(head, 1, 5, f_) != 5 || std::fwrite(bytes.data(), 1, bytes.size(), f_) != bytes.size()) {
    return Status::IoError("cannot write " + path_ + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

Status TrainingInputWriter::AddExample(const TrainingExample& example) {
  ++examples_;
  return Write('E', EncodeTrainingExample(example));
}

Status TrainingInputWriter::AddItemStats(const ItemStats& stats) { return Write('S', EncodeItemStats(stats)); }

Status TrainingInputWriter::Close() {
  if (f_ == nullptr) return Status::Ok();
  const bool ok = std::fflush(f_) == 0 && std::ferror(f_) == 0;
  const bool closed = std::fclose(f_) == 0;
  f_ = nullptr;
  if (!ok || !closed) return Status::IoError("cannot write " + path_);
  return Status::Ok();
}

Result<TrainingInput> ReadTrainingInput(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return Status::NotFound("cannot open " + path + ": " + std::strerror(errno));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(f, &std::fclose);
  char magic[kMagicSize];
  if (std::fread(magic, 1, kMagicSize, f) != kMagicSize || std::memcmp(magic, kMagic, kMagicSize) != 0) {
    return Status::Corruption(path + " is not a training-input file");
  }
  TrainingInput in;
  std::string bytes;
  int64_t offset = kMagicSize;
  while (true) {
    char head[5];
    const size_t got = std::fread(head, 1, 5, f);
    if (got == 0 && std::feof(f)) break;
    uint32_t n = 0;
    if (got == 5) std::memcpy(&n, head + 1, 4);
    if (got != 5 || n > kMaxRecordBytes) {
      return Status::Corruption(path + ": bad record header at offset " + std::to_string(offset));
    }
    bytes.resize(n);
    if (std::fread(bytes.data(), 1, n, f) != n) {
      return Status::Corruption(path + ": truncated record at offset " + std::to_string(offset));
    }
    if (head[0] == 'E') {
      auto ex = DecodeTrainingExample(bytes);
      if (!ex.ok()) return ex.status().WithContext(path + " at offset " + std::to_string(offset));
      in.examples.push_back(std::move(ex).value());
    } else if (head[0] == 'S') {
      auto st = DecodeItemStats(bytes);
      if (!st.ok()) return st.status().WithContext(path + " at offset " + std::to_string(offset));
      in.item_stats.push_back(std::move(st).value());
    } else {
      return Status::Corruption(path + ": unknown record tag at offset " + std::to_string(offset));
    }
    offset += 5 + n;
  }
  if (std::ferror(f)) return Status::IoError("cannot read " + path);
  return in;
}

}  // namespace streamrec::batch
