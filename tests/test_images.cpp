// Image decoding, PIL-equivalent bicubic resize, CLIP preprocessing and v7's per-tower pixels.
#include "catch_compat.h"
#include "clip_preprocess.h"
#include "image_decode.h"
#include "io/safetensors.h"
#include "pil_resize.h"
#include "test_paths.h"
#include "tower_image_source7.h"
#include "tower_preprocess7.h"

#include "base/error.h"
#include "model/visual_rwkv7.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using vrwkv::data::ImageTransform;
using vrwkv::data::RgbImage;

namespace {

std::string images_dir() {
  return vrwkv::test::env_or("VRWKV_IMAGES_DIR", vrwkv::test::shared_dir() + "/data/images");
}

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& p, const uint8_t* data, size_t n) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data), std::streamsize(n));
}

RgbImage random_image(int w, int h, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(0, 255);
  RgbImage img;
  img.width = w;
  img.height = h;
  img.pixels.resize(size_t(w) * h * 3);
  for (auto& v : img.pixels) v = uint8_t(dist(rng));
  return img;
}

RgbImage solid_image(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  RgbImage img;
  img.width = w;
  img.height = h;
  img.pixels.resize(size_t(w) * h * 3);
  for (size_t i = 0; i < img.pixels.size(); i += 3) {
    img.pixels[i] = r;
    img.pixels[i + 1] = g;
    img.pixels[i + 2] = b;
  }
  return img;
}

// ---- Independent float64 reference of PIL's separable bicubic resize --------------------------

// Keys' cubic with a = -0.5, written out as polynomials.
double keys_cubic(double x) {
  x = std::fabs(x);
  if (x < 1.0) return 1.5 * x * x * x - 2.5 * x * x + 1.0;
  if (x < 2.0) return -0.5 * x * x * x + 2.5 * x * x - 4.0 * x + 2.0;
  return 0.0;
}

// One pass along an axis: out[j] = sum_i in[i] * w_i(j), with PIL's window and normalisation,
// rounded to the nearest uint8.
std::vector<uint8_t> ref_pass(const std::vector<uint8_t>& in, int n_in, int n_out, int other,
                              bool along_x) {
  const double scale = double(n_in) / n_out;
  const double stretch = scale > 1.0 ? scale : 1.0;
  const double support = 2.0 * stretch;
  std::vector<uint8_t> out(size_t(n_out) * other * 3);
  for (int j = 0; j < n_out; ++j) {
    const double center = (j + 0.5) * scale;
    const int lo = std::max(int(center - support + 0.5), 0);
    const int hi = std::min(int(center + support + 0.5), n_in);
    std::vector<double> w;
    double total = 0;
    for (int i = lo; i < hi; ++i) {
      w.push_back(keys_cubic((i + 0.5 - center) / stretch));
      total += w.back();
    }
    for (int o = 0; o < other; ++o)
      for (int c = 0; c < 3; ++c) {
        double acc = 0;
        for (int i = lo; i < hi; ++i) {
          const size_t idx = along_x ? (size_t(o) * n_in + i) * 3 + c : (size_t(i) * other + o) * 3 + c;
          acc += in[idx] * (w[i - lo] / total);
        }
        const double r = std::floor(acc + 0.5);
        const size_t oidx = along_x ? (size_t(o) * n_out + j) * 3 + c : (size_t(j) * other + o) * 3 + c;
        out[oidx] = uint8_t(std::min(255.0, std::max(0.0, r)));
      }
  }
  return out;
}

RgbImage ref_resize(const RgbImage& in, int ow, int oh) {
  RgbImage cur = in;
  if (ow != cur.width) {
    cur.pixels = ref_pass(cur.pixels, cur.width, ow, cur.height, true);
    cur.width = ow;
  }
  if (oh != cur.height) {
    cur.pixels = ref_pass(cur.pixels, cur.height, oh, cur.width, false);
    cur.height = oh;
  }
  return cur;
}

float normalised(int v, int c, const ImageTransform& t) {
  return (float(v) * (1.0f / 255.0f) - t.mean[c]) / t.std[c];
}

}  // namespace

TEST_CASE("preprocess matches CLIPImageProcessor on the shared photos", "[images]") {
  const std::string fixture = vrwkv::test::env_or(
      "VRWKV_PIXELS_FIXTURE", vrwkv::test::shared_dir() + "/fixtures/clip_pixels_dev.safetensors");
  const auto expected = vrwkv::io::read_safetensors(fixture);
  std::vector<fs::path> photos;
  for (const auto& e : fs::directory_iterator(images_dir()))
    if (e.is_regular_file()) photos.push_back(e.path());
  std::sort(photos.begin(), photos.end());

  const ImageTransform transform;
  int compared = 0;
  for (const auto& photo : photos) {
    const torch::Tensor ref = vrwkv::io::find_tensor(expected, photo.filename().string());
    if (!ref.defined()) continue;
    const torch::Tensor got = vrwkv::data::load_and_preprocess(photo.string(), transform);
    REQUIRE(got.scalar_type() == torch::kFloat32);
    REQUIRE(got.sizes() == ref.sizes());
    const torch::Tensor diff = (got - ref.to(torch::kFloat32)).abs();
    const double mae = diff.mean().item<double>();
    const double max_err = diff.max().item<double>();
    // Half a uint8 level after normalisation is > 0.007; float16 rounding alone stays < 0.001.
    const long off_level = diff.gt(0.005).sum().item<long>();
    std::printf("[images] %-24s MAE %.6f  max %.6f  values off by a level: %ld of %ld\n",
                photo.filename().string().c_str(), mae, max_err, off_level, long(diff.numel()));
    INFO(photo.filename().string() << ": MAE " << mae << ", max " << max_err);
    CHECK(mae <= 0.002);
    CHECK(max_err <= 0.05);
    ++compared;
  }
  REQUIRE(compared >= 1);
}

TEST_CASE("PIL bicubic resize agrees with a float64 evaluation of the formula", "[images]") {
  const RgbImage img = random_image(37, 29, 1234);
  const std::vector<std::pair<int, int>> sizes = {
      {13, 11},  // shrink both (antialiased kernel)
      {80, 61},  // enlarge both
      {20, 50},  // shrink width, enlarge height
      {37, 12},  // height only: horizontal pass skipped
      {60, 29},  // width only: vertical pass skipped
      {5, 4},    // strong shrink, wide kernel
      {1, 1},
  };
  for (const auto& [ow, oh] : sizes) {
    const RgbImage got = vrwkv::data::resize_bicubic_pil(img, ow, oh);
    const RgbImage ref = ref_resize(img, ow, oh);
    REQUIRE(got.width == ow);
    REQUIRE(got.height == oh);
    REQUIRE(got.pixels.size() == ref.pixels.size());
    int max_diff = 0;
    size_t exact = 0;
    for (size_t i = 0; i < got.pixels.size(); ++i) {
      const int d = std::abs(int(got.pixels[i]) - int(ref.pixels[i]));
      max_diff = std::max(max_diff, d);
      exact += d == 0;
    }
    INFO(ow << "x" << oh << ": max diff " << max_diff << ", exact " << exact << "/"
            << got.pixels.size());
    CHECK(max_diff <= 1);
    CHECK(double(exact) >= 0.97 * double(got.pixels.size()));
  }

  // Unchanged size: both passes skipped, an exact copy.
  CHECK(vrwkv::data::resize_bicubic_pil(img, 37, 29).pixels == img.pixels);
  // A solid colour stays exactly that colour.
  const RgbImage solid = solid_image(31, 17, 250, 3, 128);
  CHECK(vrwkv::data::resize_bicubic_pil(solid, 9, 40).pixels == solid_image(9, 40, 250, 3, 128).pixels);
}

TEST_CASE("PIL resize of a crop window equals resize then crop", "[images]") {
  const RgbImage img = random_image(53, 41, 99);
  for (const auto& [ow, oh] : std::vector<std::pair<int, int>>{{30, 20}, {90, 70}, {53, 20}, {30, 41}}) {
    const RgbImage full = vrwkv::data::resize_bicubic_pil(img, ow, oh);
    const int left = ow / 4, top = oh / 3, cw = ow / 2, ch = oh / 2;
    const RgbImage part = vrwkv::data::resize_bicubic_pil_crop(img, ow, oh, left, top, cw, ch);
    REQUIRE(part.width == cw);
    REQUIRE(part.height == ch);
    bool same = true;
    for (int y = 0; y < ch; ++y)
      same = same && std::equal(part.row(y), part.row(y) + cw * 3, full.row(top + y) + left * 3);
    INFO(ow << "x" << oh);
    CHECK(same);
  }
  CHECK_THROWS_AS(vrwkv::data::resize_bicubic_pil(img, 0, 5), vrwkv::Error);
  CHECK_THROWS_AS(vrwkv::data::resize_bicubic_pil_crop(img, 10, 10, 5, 5, 6, 5), vrwkv::Error);
}

TEST_CASE("decode converts PNG and JPEG variants to RGB like PIL", "[images]") {
  const fs::path dir = vrwkv::test::scratch_dir("images_decode");

  SECTION("8-bit grayscale is replicated") {
    cv::Mat m(3, 4, CV_8UC1);
    for (int i = 0; i < 12; ++i) m.data[i] = uint8_t(i * 20 + 1);
    const auto p = (dir / "gray.png").string();
    REQUIRE(cv::imwrite(p, m));
    const RgbImage img = vrwkv::data::decode_image(p);
    REQUIRE(img.width == 4);
    REQUIRE(img.height == 3);
    for (int i = 0; i < 12; ++i)
      for (int c = 0; c < 3; ++c) CHECK(img.pixels[i * 3 + c] == uint8_t(i * 20 + 1));
  }

  SECTION("RGBA drops alpha without compositing") {
    cv::Mat m(2, 3, CV_8UC4);
    for (int i = 0; i < 6; ++i) {
      auto& px = m.at<cv::Vec4b>(i / 3, i % 3);
      px = cv::Vec4b(uint8_t(10 + i), uint8_t(100 + i), uint8_t(200 + i), uint8_t(i * 50));  // B G R A
    }
    const auto p = (dir / "rgba.png").string();
    REQUIRE(cv::imwrite(p, m));
    const RgbImage img = vrwkv::data::decode_image(p);
    REQUIRE(img.width == 3);
    REQUIRE(img.height == 2);
    for (int i = 0; i < 6; ++i) {
      CHECK(img.pixels[i * 3] == 200 + i);  // even where alpha is 0
      CHECK(img.pixels[i * 3 + 1] == 100 + i);
      CHECK(img.pixels[i * 3 + 2] == 10 + i);
    }
  }

  SECTION("16-bit grayscale is clamped to 0..255, not scaled") {
    const std::vector<uint16_t> values = {0, 7, 255, 256, 1000, 65535};
    cv::Mat m(2, 3, CV_16UC1);
    for (int i = 0; i < 6; ++i) m.at<uint16_t>(i / 3, i % 3) = values[i];
    const auto p = (dir / "gray16.png").string();
    REQUIRE(cv::imwrite(p, m));
    const RgbImage img = vrwkv::data::decode_image(p);
    const std::vector<int> expect = {0, 7, 255, 255, 255, 255};
    for (int i = 0; i < 6; ++i)
      for (int c = 0; c < 3; ++c) CHECK(int(img.pixels[i * 3 + c]) == expect[i]);
  }

  SECTION("16-bit RGB and RGBA keep the high byte") {
    cv::Mat rgb(1, 2, CV_16UC3), rgba(1, 2, CV_16UC4);
    rgb.at<cv::Vec3w>(0, 0) = cv::Vec3w(0x1234, 0xABCD, 0xFF01);  // B G R
    rgb.at<cv::Vec3w>(0, 1) = cv::Vec3w(0x00FF, 0x0100, 0x8080);
    rgba.at<cv::Vec4w>(0, 0) = cv::Vec4w(0x1234, 0xABCD, 0xFF01, 0);
    rgba.at<cv::Vec4w>(0, 1) = cv::Vec4w(0x00FF, 0x0100, 0x8080, 0xFFFF);
    for (const auto& [m, name] : {std::make_pair(rgb, "rgb16.png"), std::make_pair(rgba, "rgba16.png")}) {
      const auto p = (dir / name).string();
      REQUIRE(cv::imwrite(p, m));
      const RgbImage img = vrwkv::data::decode_image(p);
      INFO(name);
      REQUIRE(img.pixels.size() == 6);
      const std::vector<uint8_t> expect = {0xFF, 0xAB, 0x12, 0x80, 0x01, 0x00};
      CHECK(img.pixels == expect);
    }
  }

  SECTION("progressive JPEG") {
    cv::Mat m(48, 64, CV_8UC3);
    for (int y = 0; y < 48; ++y)
      for (int x = 0; x < 64; ++x) m.at<cv::Vec3b>(y, x) = cv::Vec3b(uint8_t(x), uint8_t(2 * y + 60), 220);
    const auto p = (dir / "progressive.jpg").string();
    REQUIRE(cv::imwrite(p, m, {cv::IMWRITE_JPEG_PROGRESSIVE, 1, cv::IMWRITE_JPEG_QUALITY, 95}));
    const auto bytes = read_bytes(p);
    bool sof2 = false;  // progressive frame marker
    for (size_t i = 0; i + 1 < bytes.size(); ++i) sof2 = sof2 || (bytes[i] == 0xFF && bytes[i + 1] == 0xC2);
    REQUIRE(sof2);

    const RgbImage img = vrwkv::data::decode_image(p);
    REQUIRE(img.width == 64);
    REQUIRE(img.height == 48);
    cv::Mat bgr = cv::imread(p, cv::IMREAD_COLOR);
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    CHECK(std::equal(img.pixels.begin(), img.pixels.end(), rgb.data));
    double err = 0;
    for (int y = 0; y < 48; ++y)
      for (int x = 0; x < 64; ++x) {
        const uint8_t* px = img.row(y) + 3 * x;
        err += std::abs(px[0] - 220) + std::abs(px[1] - (2 * y + 60)) + std::abs(px[2] - x);
      }
    CHECK(err / (48 * 64 * 3) < 3.0);
  }

  SECTION("a JPEG with bytes after its end marker still decodes") {
    auto bytes = read_bytes(fs::path(images_dir()) / "bluejay.jpg");
    REQUIRE(!bytes.empty());
    const RgbImage plain = vrwkv::data::decode_image_bytes(bytes, "bluejay.jpg");
    bytes.insert(bytes.end(), {'t', 'r', 'a', 'i', 'l', 'e', 'r'});
    const RgbImage padded = vrwkv::data::decode_image_bytes(bytes, "bluejay+trailer.jpg");
    CHECK(padded.width == 500);
    CHECK(padded.height == 333);
    CHECK(padded.pixels == plain.pixels);
  }
}

TEST_CASE("pad mode expands to a square of the mean colour", "[images]") {
  ImageTransform t;
  t.aspect = ImageTransform::Aspect::kPad;
  const auto fill = vrwkv::data::mean_colour_u8(t);
  const std::array<uint8_t, 3> expect_fill{122, 116, 104};
  CHECK(fill == expect_fill);

  // expand_to_square on a tall image: pasted at x = (side - w) / 2.
  const RgbImage tall = solid_image(3, 8, 1, 2, 3);
  const RgbImage sq = vrwkv::data::expand_to_square(tall, fill);
  REQUIRE(sq.width == 8);
  REQUIRE(sq.height == 8);
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) {
      const uint8_t* px = sq.row(y) + 3 * x;
      const bool inside = x >= 2 && x < 5;
      INFO("x " << x << " y " << y);
      CHECK(px[0] == (inside ? 1 : 122));
      CHECK(px[2] == (inside ? 3 : 104));
    }

  // A wide 200x100 image: canvas 200x200 with the image on rows 50..149, scaled by 1.68.
  const RgbImage wide = solid_image(200, 100, 10, 200, 30);
  const torch::Tensor out = vrwkv::data::preprocess(wide, t);
  REQUIRE(out.sizes() == torch::IntArrayRef{3, 336, 336});
  const auto a = out.accessor<float, 3>();
  const std::array<int, 3> colour{10, 200, 30};
  for (int c = 0; c < 3; ++c) {
    const float border = normalised(fill[c], c, t), inside = normalised(colour[c], c, t);
    bool ok_border = true, ok_inside = true;
    for (int x = 0; x < 336; ++x) {
      for (int y = 0; y < 76; ++y) ok_border = ok_border && a[c][y][x] == border;  // above
      for (int y = 260; y < 336; ++y) ok_border = ok_border && a[c][y][x] == border;  // below
      for (int y = 100; y < 236; ++y) ok_inside = ok_inside && a[c][y][x] == inside;
    }
    INFO("channel " << c);
    CHECK(ok_border);
    CHECK(ok_inside);
  }

  // Crop mode on the same image: no border at all.
  const torch::Tensor cropped = vrwkv::data::preprocess(wide, ImageTransform{});
  REQUIRE(cropped.sizes() == torch::IntArrayRef{3, 336, 336});
  for (int c = 0; c < 3; ++c)
    CHECK(cropped[c].eq(normalised(colour[c], c, t)).all().item<bool>());
}

TEST_CASE("preprocess sizes: shorter side to size, centre crop", "[images]") {
  // With a small output size the whole pipeline can be checked against resize + crop by hand.
  const RgbImage img = random_image(50, 23, 7);
  ImageTransform t;
  t.size = 10;
  const torch::Tensor out = vrwkv::data::preprocess(img, t);
  REQUIRE(out.sizes() == torch::IntArrayRef{3, 10, 10});
  // 50x23 -> int(10 * 50 / 23) = 21 x 10, crop left = (21 - 10) / 2 = 5.
  const RgbImage resized = vrwkv::data::resize_bicubic_pil(img, 21, 10);
  const auto a = out.accessor<float, 3>();
  bool same = true;
  for (int y = 0; y < 10; ++y)
    for (int x = 0; x < 10; ++x)
      for (int c = 0; c < 3; ++c)
        same = same && a[c][y][x] == normalised(resized.row(y)[(x + 5) * 3 + c], c, t);
  CHECK(same);
}

TEST_CASE("bad image files throw errors naming the file", "[images]") {
  const fs::path dir = vrwkv::test::scratch_dir("images_bad");
  std::vector<std::string> bad;

  bad.push_back((dir / "missing.jpg").string());

  const auto empty = dir / "empty.jpg";
  write_bytes(empty, nullptr, 0);
  bad.push_back(empty.string());

  for (const char* name : {"bluejay.jpg", "waterview.jpg", "woman_and_dog.png"}) {
    const auto src = fs::path(images_dir()) / name;
    if (!fs::exists(src)) continue;
    const auto bytes = read_bytes(src);
    const auto half = dir / (std::string("half_") + name);
    write_bytes(half, bytes.data(), bytes.size() / 2);
    bad.push_back(half.string());
  }
  REQUIRE(bad.size() >= 3);  // at least one truncated real photo

  const auto text = dir / "notes.jpg";
  const std::string words = "this is plain text, not a JPEG\n";
  write_bytes(text, reinterpret_cast<const uint8_t*>(words.data()), words.size());
  bad.push_back(text.string());

  const auto junk = dir / "junk.png";  // a PNG signature followed by garbage
  const std::vector<uint8_t> junk_bytes = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 1, 2, 3, 4};
  write_bytes(junk, junk_bytes.data(), junk_bytes.size());
  bad.push_back(junk.string());

  bad.push_back(dir.string());  // a directory

  for (const auto& path : bad) {
    INFO(path);
    CHECK_THROWS_AS(vrwkv::data::decode_image(path), vrwkv::Error);
    CHECK_THROWS_WITH(vrwkv::data::decode_image(path), vrwkv::test::contains(path));
    CHECK_THROWS_WITH(vrwkv::data::load_and_preprocess(path, ImageTransform{}),
                      vrwkv::test::contains(path));
  }
  CHECK_THROWS_WITH(vrwkv::data::decode_image_bytes({}, "in-memory.jpg"),
                    vrwkv::test::contains("in-memory.jpg"));
}

// v7's per-tower pixels (SPEC-v7 section 5). No v7 pixels fixture of the original's exists yet: the
// reference is PIL's resize (tested above against PIL's own output) followed by torchvision's
// ToTensor and Normalize written as tensor ops, which the result must equal exactly.
TEST_CASE("v7 towers get exact-square bicubic pixels with their own size and statistics", "[images]") {
  const RgbImage photo = vrwkv::data::decode_image(images_dir() + "/bluejay.jpg");
  REQUIRE(photo.width != photo.height);  // the aspect ratio is not kept, nothing is cropped
  const auto reference = [](const RgbImage& img, const vrwkv::data::SquareTransform& t) {
    const RgbImage sq = vrwkv::data::resize_bicubic_pil(img, t.size, t.size);
    auto x = torch::from_blob(const_cast<uint8_t*>(sq.pixels.data()), {t.size, t.size, 3}, torch::kUInt8)
                 .permute({2, 0, 1})
                 .to(torch::kFloat32)
                 .div(255);
    const auto mean = torch::tensor(std::vector<float>(t.mean.begin(), t.mean.end())).view({3, 1, 1});
    const auto std = torch::tensor(std::vector<float>(t.std.begin(), t.std.end())).view({3, 1, 1});
    return x.sub(mean).div(std);
  };
  const auto dino = vrwkv::data::dino_transform7(), siglip = vrwkv::data::siglip_transform7(),
             sam = vrwkv::data::sam_transform7();
  CHECK(dino.size == 448);
  CHECK(siglip.size == 448);
  CHECK(sam.size == 1024);
  CHECK(sam.mean == dino.mean);
  CHECK(sam.std == dino.std);
  const auto pixels = vrwkv::data::preprocess_towers7(photo);
  REQUIRE(pixels.dino.sizes() == torch::IntArrayRef({1, 3, 448, 448}));
  REQUIRE(pixels.siglip.sizes() == torch::IntArrayRef({1, 3, 448, 448}));
  REQUIRE(pixels.sam.sizes() == torch::IntArrayRef({1, 3, 1024, 1024}));
  CHECK(torch::equal(pixels.dino[0], reference(photo, dino)));
  CHECK(torch::equal(pixels.siglip[0], reference(photo, siglip)));
  CHECK(torch::equal(pixels.sam[0], reference(photo, sam)));
  // SigLIP's statistics map 0..255 onto -1..1 exactly.
  const RgbImage black = solid_image(5, 3, 0, 0, 0), white = solid_image(3, 5, 255, 255, 255);
  CHECK(vrwkv::data::preprocess_square(black, siglip).eq(-1.0f).all().item<bool>());
  CHECK(vrwkv::data::preprocess_square(white, siglip).eq(1.0f).all().item<bool>());

  const auto dark = vrwkv::data::preprocess_towers7(solid_image(4, 4, 0, 0, 0));
  const auto batch = vrwkv::concat_tower_pixels({pixels, dark, pixels});
  CHECK(batch.sam.sizes() == torch::IntArrayRef({3, 3, 1024, 1024}));
  CHECK(torch::equal(batch.dino[1], dark.dino[0]));
  CHECK(torch::equal(batch.siglip[2], pixels.siglip[0]));
  CHECK_FALSE(vrwkv::concat_tower_pixels({}).dino.defined());  // a text-only batch has no pixels
  CHECK_FALSE(vrwkv::concat_tower_pixels({vrwkv::TowerPixels{}}).sam.defined());
  CHECK(torch::equal(vrwkv::concat_tower_pixels({vrwkv::TowerPixels{}, dark}).dino, dark.dino));  // passed over
}

TEST_CASE("v7 towers read an image held in memory as they read its file", "[images]") {
  // MMBench carries its images in the question file: the bytes loader must give the file's pixels.
  const std::string path = vrwkv::test::shared_dir() + "/data/images/pizza.jpg";
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  REQUIRE(bytes.size() > 1000);
  vrwkv::VisionTowers7Config towers;
  towers.dino.image_size = 56;  // small squares: the same code path at a test's cost
  towers.siglip.image_size = 42;
  towers.sam.image_size = 64;
  const auto transforms = vrwkv::data::tower_transforms7(towers);
  const auto from_file = vrwkv::data::make_tower_image_decoder7(transforms)(path);
  vrwkv::ImageConfig image;
  const auto from_bytes = vrwkv::data::make_tower_image_bytes_loader7(image, transforms)(bytes, "q.tsv:3");
  CHECK(from_bytes.siglip.sizes() == torch::IntArrayRef({1, 3, 42, 42}));
  CHECK(torch::equal(from_bytes.dino, from_file.dino));
  CHECK(torch::equal(from_bytes.siglip, from_file.siglip));
  CHECK(torch::equal(from_bytes.sam, from_file.sam));
  CHECK_THROWS_WITH(vrwkv::data::make_tower_image_bytes_loader7(image, transforms)("not an image", "q.tsv:4"),
                    vrwkv::test::contains("q.tsv:4"));
  image.synthetic = true;  // synthetic pictures are drawn from the name, as for files
  CHECK(torch::equal(vrwkv::data::make_tower_image_bytes_loader7(image, transforms)(bytes, "q.tsv:3").sam,
                     vrwkv::data::synthetic_tower_pixels7("q.tsv:3", transforms).sam));
}
