#include "image_source.h"

#include <cstdint>

namespace vrwkv::data {
namespace {

// FNV-1a: a path's seed, independent of the standard library's hash.
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// splitmix64 in [0, 1): no torch generator is touched, so loader threads never disturb the
// run's random state.
double next_unit(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return double(z >> 11) * (1.0 / 9007199254740992.0);
}

}  // namespace

torch::Tensor synthetic_image(const std::string& path, const ImageConfig& config) {
  const int64_t S = config.size;
  uint64_t state = fnv1a(path);
  auto image = torch::empty({3, S, S}, torch::kFloat32);
  float* out = image.data_ptr<float>();
  for (int64_t c = 0; c < 3; ++c) {
    // Per picture and channel: a base level and a ramp direction, so pictures differ in content.
    const double base = next_unit(state), dx = next_unit(state) - 0.5, dy = next_unit(state) - 0.5;
    for (int64_t y = 0; y < S; ++y)
      for (int64_t x = 0; x < S; ++x) {
        double v = base + dx * x / double(S) + dy * y / double(S) + 0.1 * (next_unit(state) - 0.5);
        v = v < 0 ? 0 : (v > 1 ? 1 : v);
        out[(c * S + y) * S + x] = static_cast<float>((v - config.mean[c]) / config.std[c]);
      }
  }
  return image;
}

ImageLoader make_image_loader(const ImageConfig& config) {
  if (config.synthetic) return [config](const std::string& path) { return synthetic_image(path, config); };
  return make_image_decoder(config);
}

ImageBytesLoader make_image_bytes_loader(const ImageConfig& config) {
  if (config.synthetic)
    return [config](const std::string&, const std::string& name) { return synthetic_image(name, config); };
  return make_image_bytes_decoder(config);
}

}  // namespace vrwkv::data
