#include "training/ranker.h"

#include <algorithm>
#include <cmath>

#include "core/byte_codec.h"
#include "core/file_system.h"
#include "training/snapshot_format.h"

namespace streamrec::training {
namespace {
constexpr char kRankerMagic[] = "SRRANKR1";
}  // namespace

size_t RankerModel::NumParams(const RankerShape& s) {
  const auto f = static_cast<size_t>(s.num_features);
  const auto h1 = static_cast<size_t>(s.hidden1);
  const auto h2 = static_cast<size_t>(s.hidden2);
  return h1 * f + h1 + h2 * h1 + h2 + h2 + 1;
}

Result<std::shared_ptr<const RankerModel>> RankerModel::Create(RankerShape shape,
                                                               std::vector<float> params) {
  if (shape.num_features <= 0 || shape.num_features > 4096 || shape.hidden1 <= 0 ||
      shape.hidden1 > 4096 || shape.hidden2 <= 0 || shape.hidden2 > 4096 ||
      shape.residual_feature < -1 || shape.residual_feature >= shape.num_features) {
    return Status::InvalidArgument("ranker: bad shape");
  }
  if (params.size() != NumParams(shape)) {
    return Status::InvalidArgument("ranker: " + std::to_string(params.size()) +
                                   " parameters for a shape that has " +
                                   std::to_string(NumParams(shape)));
  }
  for (float v : params) {
    if (!std::isfinite(v)) return Status::InvalidArgument("ranker: a parameter is not finite");
  }
  return std::shared_ptr<const RankerModel>(new RankerModel(shape, std::move(params)));
}

std::string RankerModel::Encode() const {
  ByteWriter w;
  w.PutBytes(kRankerMagic, 8);
  w.Put<int64_t>(shape_.num_features);
  w.Put<int64_t>(shape_.hidden1);
  w.Put<int64_t>(shape_.hidden2);
  w.Put<int64_t>(shape_.residual_feature);
  w.Put<uint64_t>(params_.size());
  w.PutBytes(params_.data(), params_.size() * sizeof(float));
  return w.Take();
}

Result<std::shared_ptr<const RankerModel>> RankerModel::Decode(std::string_view bytes) {
  ByteReader r(bytes);
  char magic[8];
  if (!r.GetBytes(magic, 8) || std::string_view(magic, 8) != std::string_view(kRankerMagic, 8)) {
    return Status::Corruption("ranker: not a ranker file");
  }
  RankerShape shape;
  uint64_t n = 0;
  if (!r.Get(&shape.num_features) || !r.Get(&shape.hidden1) || !r.Get(&shape.hidden2) ||
      !r.Get(&shape.residual_feature) || !r.Get(&n) || n > r.remaining() / sizeof(float)) {
    return Status::Corruption("ranker: truncated");
  }
  std::vector<float> params(n);
  if (!r.GetBytes(params.data(), n * sizeof(float)) || r.remaining() != 0) {
    return Status::Corruption("ranker: truncated or trailing bytes");
  }
  auto model = Create(shape, std::move(params));
  if (!model.ok()) return Status::Corruption(model.status().message());
  return model;
}

Result<std::shared_ptr<const RankerModel>> RankerModel::Load(const std::string& dir,
                                                             const std::string& expected_checksum) {
  auto bytes = snapshot_format::ReadFile(file_system::JoinPath(dir, kRankerFile));
  if (!bytes.ok()) return bytes.status();
  if (!expected_checksum.empty() && snapshot_format::Checksum(*bytes) != expected_checksum) {
    return Status::Corruption("ranker: checksum of " + std::string(kRankerFile) +
                              " differs from the manifest's");
  }
  return Decode(*bytes);
}

void RankerModel::Score(const float* x, size_t n, float* out) const {
  const auto f = static_cast<size_t>(shape_.num_features);
  const auto h1 = static_cast<size_t>(shape_.hidden1);
  const auto h2 = static_cast<size_t>(shape_.hidden2);
  const float* w1 = params_.data();
  const float* b1 = w1 + h1 * f;
  const float* w2 = b1 + h1;
  const float* b2 = w2 + h2 * h1;
  const float* w3 = b2 + h2;
  const float b3 = w3[h2];
  std::vector<float> a(h1), b(h2);
  for (size_t i = 0; i < n; ++i) {
    const float* xi = x + i * f;
    for (size_t j = 0; j < h1; ++j) {
      float s = b1[j];
      const float* row = w1 + j * f;
      for (size_t c = 0; c < f; ++c) s += row[c] * xi[c];
      a[j] = std::max(0.0f, s);
    }
    float y = b3 + (shape_.residual_feature >= 0 ? xi[shape_.residual_feature] : 0.0f);
    for (size_t j = 0; j < h2; ++j) {
      float s = b2[j];
      const float* row = w2 + j * h1;
      for (size_t c = 0; c < h1; ++c) s += row[c] * a[c];
      y += w3[j] * std::max(0.0f, s);
    }
    out[i] = y;
  }
}

}  // namespace streamrec::training
