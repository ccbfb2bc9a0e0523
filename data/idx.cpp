#include "data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "engine/error.h"

namespace taper {

namespace {

// A file read through zlib: gzip'd files are inflated, plain ones read as they are.
class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path) {
    file_ = gzopen(path.c_str(), "rb");
    check(file_ != nullptr, path, ": cannot open (", std::strerror(errno), ")");
    gzbuffer(file_, 1 << 20);
  }
  ~GzReader() { gzclose(file_); }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  // Reads up to n bytes into dst; returns how many it got (fewer only at the
  // end of the data). A corrupt gzip stream throws.
  int64_t read(uint8_t* dst, int64_t n) {
    int64_t got = 0;
    while (got < n) {
      unsigned chunk = static_cast<unsigned>(std::min<int64_t>(n - got, 1 << 30));
      int r = gzread(file_, dst + got, chunk);
      if (r < 0) {
        int code = 0;
        const char* msg = gzerror(file_, &code);
        fail(path_, ": read error (", msg, ")");
      }
      if (r == 0) break;
      got += r;
    }
    return got;
  }

  // True when the file is not gzip'd (zlib reads it as it is).
  bool plain() { return gzdirect(file_) == 1; }

  // Why the data ended early, if zlib knows ("unexpected end of file" for a
  // cut-off .gz), else "".
  std::string why() {
    int code = Z_OK;
    const char* msg = gzerror(file_, &code);
    return code == Z_OK ? std::string() : std::string(" (") + msg + ")";
  }

 private:
  std::string path_;
  gzFile file_ = nullptr;
};

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// Reads the header words (magic, then the dims) of an idx file. The magic is
// checked first, so a label file passed as images says "wrong magic", not
// "truncated".
std::vector<uint32_t> read_header(GzReader& in, const std::string& path, uint32_t magic, int words,
                                  const char* kind) {
  std::vector<uint8_t> bytes(4 * words);
  int64_t got = in.read(bytes.data(), 4);
  check(got == 4, path, ": truncated: ", got, " bytes, shorter than the 4-byte idx magic",
        in.why());
  const uint32_t found = big_endian_u32(bytes.data());
  if (found != magic) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "wrong magic 0x%08x, expected 0x%08x", found, magic);
    fail(path, ": ", buf, " (", kind, ")");
  }
  got += in.read(bytes.data() + 4, 4 * (words - 1));
  check(got == 4 * words, path, ": truncated: ", got, " bytes, shorter than the ", 4 * words,
        "-byte idx header", in.why());
  std::vector<uint32_t> header(words);
  for (int i = 0; i < words; ++i) header[i] = big_endian_u32(bytes.data() + 4 * i);
  return header;
}

// Refuses, before anything is allocated, a header that promises more payload
// bytes than the file can hold: a plain file holds exactly its size minus the
// header; a gzip'd one at most kMaxDeflateRatio times its size (deflate's
// largest expansion, 258-byte matches coded in 2 bits, is about 1032:1).
constexpr uint64_t kMaxDeflateRatio = 1032;

void check_payload_fits(GzReader& in, const std::string& path, uint64_t count, int64_t header_bytes,
                        const char* what) {
  std::error_code ec;
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) return;  // not a regular file (a pipe): the read itself finds a short file
  if (in.plain()) {
    const uint64_t holds = file_size > uint64_t(header_bytes) ? file_size - header_bytes : 0;
    check(count <= holds, path, ": truncated: the header promises ", count, " bytes of ", what,
          ", the file holds ", holds);
  } else {
    check(count <= file_size * kMaxDeflateRatio, path, ": the header promises ", count,
          " bytes of ", what, ", more than a gzip file of ", file_size,
          " bytes can hold (corrupt header?)");
  }
}

// Reads exactly `count` payload bytes into out, then checks the file ends.
// The buffer grows in 64 MB steps, so a corrupt header claiming billions of
// images fails as "truncated" instead of allocating terabytes.
void read_payload(GzReader& in, const std::string& path, int64_t count, const char* what,
                  std::vector<uint8_t>& out) {
  const int64_t kStep = int64_t(64) << 20;
  out.clear();
  int64_t got = 0;
  while (got < count) {
    int64_t want = std::min(kStep, count - got);
    out.resize(got + want);
    int64_t r = in.read(out.data() + got, want);
    got += r;
    check(r == want, path, ": truncated: the header promises ", count, " bytes of ", what,
          ", the file holds ", got, in.why());
  }
  uint8_t extra;
  check(in.read(&extra, 1) == 0, path, ": ", count, " bytes of ", what,
        " expected after the header, but the file is longer");
}

}  // namespace

Dataset load_idx(const std::string& images_path, const std::string& labels_path,
                 const std::string& name, int64_t classes) {
  check(classes > 0 && classes <= 256, "load_idx: classes = ", classes, ", expected 1..256");
  Dataset d;
  d.name = name;
  d.classes = classes;
  {
    GzReader in(images_path);
    // magic, n, rows, cols
    std::vector<uint32_t> h = read_header(in, images_path, kIdxImagesMagic, 4, "idx3 ubyte images");
    check(h[1] <= 0x7fffffffu && h[2] >= 1 && h[3] >= 1 && h[2] <= 65535 && h[3] <= 65535,
          images_path, ": implausible dimensions ", h[1], " x ", h[2], " x ", h[3]);
    d.n = h[1];
    d.channels = 1;
    d.height = h[2];
    d.width = h[3];
    // n < 2^31 and rows * cols < 2^32, so the product fits in 63 bits.
    const uint64_t count = uint64_t(h[1]) * (uint64_t(h[2]) * uint64_t(h[3]));
    check_payload_fits(in, images_path, count, 16, "pixels");
    read_payload(in, images_path, int64_t(count), "pixels", d.pixels);
  }
  std::vector<uint8_t> raw;  // (n) label bytes
  {
    GzReader in(labels_path);
    std::vector<uint32_t> h = read_header(in, labels_path, kIdxLabelsMagic, 2, "idx1 ubyte labels");
    check(h[1] == d.n, labels_path, ": ", h[1], " labels, but ", images_path, " has ", d.n,
          " images");
    check_payload_fits(in, labels_path, uint64_t(d.n), 8, "labels");
    read_payload(in, labels_path, d.n, "labels", raw);
  }
  d.labels.resize(d.n);
  for (int64_t i = 0; i < d.n; ++i) {
    check(raw[i] < classes, labels_path, ": label ", int(raw[i]), " of item ", i,
          " is outside [0, ", classes, ")");
    d.labels[i] = raw[i];
  }
  return d;
}

}  // namespace taper
