// Throughput of decode + CLIP preprocess on one thread (what one loader worker can deliver).
// Usage: bench_images [image_dir] [seconds]   (default /work/shared/data/images, 3 s)
#include "clip_preprocess.h"
#include "image_decode.h"

#include "base/error.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  using clock = std::chrono::steady_clock;
  const std::string dir = argc > 1 ? argv[1] : "/work/shared/data/images";
  const double seconds = argc > 2 ? std::atof(argv[2]) : 3.0;
  torch::set_num_threads(1);  // one worker: keep libtorch from spreading out
  try {
    std::vector<std::string> paths;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file()) paths.push_back(e.path().string());
    std::sort(paths.begin(), paths.end());
    if (paths.empty()) {
      std::fprintf(stderr, "bench_images: no files in %s\n", dir.c_str());
      return 1;
    }
    const vrwkv::data::ImageTransform transform;
    // Warm-up pass; also skips files that do not decode.
    std::vector<std::string> good;
    for (const auto& p : paths) {
      try {
        vrwkv::data::load_and_preprocess(p, transform);
        good.push_back(p);
      } catch (const vrwkv::Error& e) {
        std::fprintf(stderr, "skipping: %s\n", e.what());
      }
    }
    if (good.empty()) return 1;

    long images = 0;
    double decode_s = 0, preprocess_s = 0;
    const auto start = clock::now();
    double checksum = 0;
    while (std::chrono::duration<double>(clock::now() - start).count() < seconds) {
      for (const auto& p : good) {
        const auto t0 = clock::now();
        const auto img = vrwkv::data::decode_image(p);
        const auto t1 = clock::now();
        const auto out = vrwkv::data::preprocess(img, transform);
        const auto t2 = clock::now();
        checksum += out.data_ptr<float>()[0];
        decode_s += std::chrono::duration<double>(t1 - t0).count();
        preprocess_s += std::chrono::duration<double>(t2 - t1).count();
        ++images;
      }
    }
    const double total = std::chrono::duration<double>(clock::now() - start).count();
    std::printf("bench_images: %zu photos from %s, %ld images in %.2f s on 1 thread\n",
                good.size(), dir.c_str(), images, total);
    std::printf("  %.1f images/s per worker (decode %.2f ms + preprocess %.2f ms per image)\n",
                images / total, 1e3 * decode_s / images, 1e3 * preprocess_s / images);
    std::printf("  (checksum %.3f)\n", checksum);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_images: %s\n", e.what());
    return 1;
  }
  return 0;
}
