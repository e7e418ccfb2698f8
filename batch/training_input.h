#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/records.h"
#include "core/status.h"

namespace streamrec::batch {

// The training input of the batch model, handed from `streamrec batch` (torch-free) to
// `streamrec-model batch-model` (LibTorch) in a file: the training examples of every
// event in the order the batch layer applied them (operators/training_example.h, the user
// stage's examples), then each item's statistics (p̂ from the batch estimator, for the
// logQ correction). Layout: the line "streamrec-training-input 1\n", then records of
// one tag byte ('E' example, 'S' item stats), a little-endian u32 length and the
// core/records.h encoding. Thread-compatible.

class TrainingInputWriter {
 public:
  static Result<std::unique_ptr<TrainingInputWriter>> Create(const std::string& path);
  ~TrainingInputWriter();
  Status AddExample(const TrainingExample& example);
  Status AddItemStats(const ItemStats& stats);
  // Flushes and closes; an I/O error of any earlier write is reported here too.
  Status Close();
  int64_t examples() const { return examples_; }

 private:
  TrainingInputWriter(std::FILE* f, std::string path) : f_(f), path_(std::move(path)) {}
  Status Write(char tag, const std::string& bytes);
  std::FILE* f_;
  std::string path_;
  int64_t examples_ = 0;
};

struct TrainingInput {
  std::vector<TrainingExample> examples;
  std::vector<ItemStats> item_stats;
};

// Reads a whole training-input file; Corruption naming the offset of a bad record.
Result<TrainingInput> ReadTrainingInput(const std::string& path);

}  // namespace streamrec::batch
