#include <cstdio>

namespace taper::app {

int cmd_version(int, char**) {
  std::printf("taper 0.1.0\n");
#if defined(__AVX512F__)
  std::printf("built with AVX-512\n");
#elif defined(__AVX2__)
  std::printf("built with AVX2\n");
#else
  std::printf("built without AVX2/AVX-512 (portable build)\n");
#endif
  return 0;
}

}  // namespace taper::app
