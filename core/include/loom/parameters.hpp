#pragma once
// Named, ordered model parameters whose values and gradients each live in one contiguous
// arena, so clipping, optimizer steps and checkpoints each touch one buffer.
//
// Two phases: a model declares its parameters (name, shape, initialiser) in its constructor,
// keeping the returned Parameter*; finalize(seed) then allocates both arenas and initialises
// every value from a stream keyed by the seed and the parameter's name, so the values do not
// depend on declaration order or thread count. Declaring after finalize is an error.
#include <cstdint>
#include <deque>
#include <filesystem>
#include <string>
#include <vector>

#include "loom/files.hpp"  // write_file_atomically, for the callers that found it here
#include "loom/tensor.hpp"

namespace loom {

struct Init {
  enum class Kind { kUniform, kNormal, kConstant };
  Kind kind = Kind::kUniform;
  float a = 0.0f;  // uniform: values in [-a, a]; normal: standard deviation; constant: value

  static Init uniform(float bound) { return {Kind::kUniform, bound}; }
  static Init normal(float stddev) { return {Kind::kNormal, stddev}; }
  static Init constant(float value) { return {Kind::kConstant, value}; }
  static Init zeros() { return constant(0.0f); }
};

struct Parameter {
  std::string name;  // "rnn.l0.w_ih"
  Shape shape;
  Init init;
  bool trainable = true;
  Tensor value;  // a view into the value arena (after finalize)
  Tensor grad;   // a view into the gradient arena (after finalize)
};

class Parameters {
 public:
  Parameters() = default;
  Parameters(const Parameters&) = delete;
  Parameters& operator=(const Parameters&) = delete;

  // Declares a parameter; names are unique. The pointer stays valid for the object's life.
  Parameter* add(const std::string& name, const Shape& shape, Init init);
  // Allocates the arenas and initialises every value.
  void finalize(std::uint64_t seed);
  bool finalized() const { return finalized_; }

  std::size_t size() const { return params_.size(); }
  Parameter& operator[](std::size_t i) { return params_[i]; }
  const Parameter& operator[](std::size_t i) const { return params_[i]; }
  // nullptr when absent.
  Parameter* find(const std::string& name);
  auto begin() { return params_.begin(); }
  auto end() { return params_.end(); }
  auto begin() const { return params_.begin(); }
  auto end() const { return params_.end(); }

  // Total number of scalar values.
  std::int64_t count() const;
  // Values of every parameter but those named (a model's embedding tables, say).
  std::int64_t count_except(const std::vector<std::string>& names) const;
  // Every value / gradient as one flat tensor (views of the arenas).
  Tensor& values() { return values_; }
  Tensor& grads() { return grads_; }
  const Tensor& values() const { return values_; }
  const Tensor& grads() const { return grads_; }

  // Marks parameters whose name matches a glob ('*' and '?') as not trainable; returns how
  // many matched.
  int freeze(const std::string& glob);

  void zero_grad();
  // Euclidean norm of all gradients together.
  double grad_norm() const;
  // Scales all gradients so that their global norm is at most max_norm; returns the norm
  // before scaling (as torch.nn.utils.clip_grad_norm_ does).
  double clip_grad_norm(double max_norm);

  // Versioned binary file of names, shapes and values, written to a temporary file and
  // renamed, so an interrupted save leaves the previous file intact. Throws RuntimeError.
  void save(const std::filesystem::path& path) const;
  // Loads values by name; every parameter must be present with the same shape. Throws
  // InputError naming the file and the first mismatch.
  void load(const std::filesystem::path& path);

 private:
  std::deque<Parameter> params_;
  Tensor values_;
  Tensor grads_;
  bool finalized_ = false;
};

// True when `name` matches `glob` ('*' any run of characters, '?' one character).
bool glob_match(const std::string& glob, const std::string& name);


}  // namespace loom
