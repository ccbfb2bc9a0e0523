#include "data/image_folder.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <memory>

#include "data/image_decode.h"
#include "engine/error.h"
#include "engine/parallel.h"

namespace taper {

namespace fs = std::filesystem;

namespace {

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char ch) { return std::tolower(ch); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

std::vector<std::string> sorted_images(const fs::path& dir) {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file() && is_image_file(entry.path()))
      files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

// Source coordinate of output pixel i when a side of length `in` is resized
// to `out` with pixel centres aligned: (i + 0.5) * in / out - 0.5, clamped to
// the image. Returns the lower neighbour and the weight of the upper one.
void source_coord(int64_t i, int64_t in, int64_t out, int64_t& lo, float& frac) {
  double s = (i + 0.5) * static_cast<double>(in) / static_cast<double>(out) - 0.5;
  s = std::clamp(s, 0.0, static_cast<double>(in - 1));
  lo = static_cast<int64_t>(std::floor(s));
  frac = static_cast<float>(s - lo);
}

// Images larger than this are refused before decoding (stb_image would
// allocate width * height * 3 bytes for them): 2^26 pixels, e.g. 8192 x 8192,
// far above any photo a classifier is trained on.
constexpr int64_t kMaxImagePixels = int64_t(1) << 26;

}  // namespace

void resize_center_crop(const uint8_t* src, int64_t H, int64_t W, int64_t C, int64_t size,
                        uint8_t* dst) {
  check(H > 0 && W > 0 && C > 0 && size > 0, "resize_center_crop: bad sizes H=", H, " W=", W,
        " C=", C, " size=", size);
  // Resized image (RH, RW): shorter side = size.
  const int64_t RH = H <= W ? size : H * size / W;
  const int64_t RW = H <= W ? W * size / H : size;
  const int64_t top = (RH - size) / 2, left = (RW - size) / 2;
  for (int64_t oy = 0; oy < size; ++oy) {
    int64_t y0;
    float fy;
    source_coord(oy + top, H, RH, y0, fy);
    const int64_t y1 = std::min(y0 + 1, H - 1);
    for (int64_t ox = 0; ox < size; ++ox) {
      int64_t x0;
      float fx;
      source_coord(ox + left, W, RW, x0, fx);
      const int64_t x1 = std::min(x0 + 1, W - 1);
      for (int64_t c = 0; c < C; ++c) {
        float a = src[(y0 * W + x0) * C + c], b = src[(y0 * W + x1) * C + c];
        float p = src[(y1 * W + x0) * C + c], q = src[(y1 * W + x1) * C + c];
        float top_row = a + fx * (b - a), bottom_row = p + fx * (q - p);
        float v = top_row + fy * (bottom_row - top_row);
        dst[(c * size + oy) * size + ox] = static_cast<uint8_t>(std::clamp(v + 0.5f, 0.0f, 255.0f));
      }
    }
  }
}

std::vector<std::string> list_classes(const std::string& root) {
  check(fs::is_directory(root), root,
        ": not a directory (expected an image folder root/<class>/*.jpg)");
  std::vector<std::string> classes;
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory()) classes.push_back(entry.path().filename().string());
  std::sort(classes.begin(), classes.end());
  check(!classes.empty(), root, ": no class folders (expected root/<class>/*.jpg|jpeg|png)");
  return classes;
}

Dataset load_image_folder(const std::string& root, int64_t size) {
  check(size > 0, root, ": image size ", size, ", expected > 0");
  const std::vector<std::string> classes = list_classes(root);
  std::vector<std::string> files;  // (n) paths
  std::vector<int64_t> labels;     // (n)
  for (size_t k = 0; k < classes.size(); ++k) {
    const fs::path dir = fs::path(root) / classes[k];
    std::vector<std::string> images = sorted_images(dir);
    check(!images.empty(), dir.string(), ": class folder holds no .jpg, .jpeg or .png image");
    files.insert(files.end(), images.begin(), images.end());
    labels.insert(labels.end(), images.size(), static_cast<int64_t>(k));
  }

  Dataset d;
  d.name = "folder:" + root;
  d.n = static_cast<int64_t>(files.size());
  d.channels = 3;
  d.height = d.width = size;
  d.classes = static_cast<int64_t>(classes.size());
  d.labels = labels;
  d.pixels.resize(d.n * d.sample_size());

  // Decoding is the slow part: one image per iteration, each written to its
  // own slot, so the result does not depend on the schedule (dynamic, as
  // files differ in size). Errors are kept per image and the first one in
  // file order is thrown.
  std::vector<std::string> errors(d.n);
  parallel_for_dynamic(d.n, 4, [&](int64_t i) {
    std::string bytes;
    DecodedImage img;  // (h, w, 3)
    errors[i] = read_file_bytes(files[i], bytes);
    if (errors[i].empty()) errors[i] = decode_image(bytes, files[i], 3, kMaxImagePixels, img);
    if (!errors[i].empty()) return;
    resize_center_crop(img.pixels.get(), img.height, img.width, 3, size,
                       d.pixels.data() + i * d.sample_size());
  });
  for (const std::string& e : errors)
    if (!e.empty()) throw Error(e);
  return d;
}

}  // namespace taper
