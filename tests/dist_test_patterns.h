// What the distributed tests send: shared by the worker processes (tests/dist_worker.cpp) and the
// test that checks their results (tests/test_dist.cpp), so both agree on every expected value.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace vrwkv::test::dist {

struct TensorSpec {
  torch::ScalarType dtype;
  std::vector<int64_t> shape;
  bool transposed = false;  // a non-contiguous view (shape is the view's shape)
};

// Several dtypes and shapes, a 0-dim tensor, a non-contiguous view and one larger tensor.
inline std::vector<TensorSpec> collective_specs() {
  return {{torch::kFloat32, {3, 4}},  {torch::kBFloat16, {2, 3}},      {torch::kInt64, {5}},
          {torch::kFloat32, {}},      {torch::kFloat32, {4, 3}, true}, {torch::kFloat32, {1000}},
          {torch::kInt64, {2, 2, 2}}, {torch::kBFloat16, {7}},         {torch::kFloat64, {3}}};
}

// Element i (row-major over the logical shape) of tensor k on `rank` before any collective.
// Small integers, so sums over three ranks are exact even in bfloat16.
inline double pattern(size_t k, int rank, int64_t i) {
  return static_cast<double>(((static_cast<int64_t>(k) * 7 + rank * 3 + i) % 11) - 5 + rank);
}

inline int64_t numel_of(const TensorSpec& spec) {
  int64_t n = 1;
  for (int64_t d : spec.shape) n *= d;
  return n;
}

inline torch::Tensor make_tensor(const TensorSpec& spec, size_t k, int rank) {
  std::vector<double> values(numel_of(spec));
  for (int64_t i = 0; i < static_cast<int64_t>(values.size()); ++i) values[i] = pattern(k, rank, i);
  auto logical = torch::tensor(values, torch::kFloat64).view(spec.shape).to(spec.dtype);
  if (!spec.transposed) return logical.clone();
  // Same logical values, stored transposed.
  auto storage = torch::empty({spec.shape[1], spec.shape[0]}, torch::TensorOptions().dtype(spec.dtype));
  auto view = storage.t();
  view.copy_(logical);
  return view;
}

// The string each rank contributes to all_gather_strings on call `call`: one empty, some with NUL
// bytes, different lengths.
inline std::string gathered_string(int rank, int call) {
  if (rank == 0 && call == 0) return "";
  std::string s = "cursor:" + std::to_string(rank * 17 + call);
  s.push_back('\0');
  s += std::string(static_cast<size_t>(rank) * 1000 + call, static_cast<char>('a' + rank));
  return s;
}

// Sizes of the tensors the ZeRO test partitions.
inline std::vector<std::vector<int64_t>> zero_shapes() {
  return {{1000}, {10, 10}, {7}, {300}, {50, 3}, {1}, {64}, {2, 2, 2}, {129}};
}

// What owner `owner` writes into tensor i after "its update".
inline double zero_value(size_t i, int owner) { return static_cast<double>(i + 1) + 0.25 * owner; }

}  // namespace vrwkv::test::dist
